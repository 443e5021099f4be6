#include "engine/blend.h"

#include <algorithm>
#include <cmath>

#include "base/status.h"

namespace kvs::engine {

namespace {

// At most this many query rows weigh the attention-weighted V deviation (the last ones: nearest the answer).
constexpr size_t kMaxAttnQueries = 64;

}  // namespace

Blend::Blend(share::ReusePlan plan, int32_t first, const BlendOptions& opt, const kv::KvStorage& kv,
             const kv::BlockTable& table)
    : initial_(std::move(plan)), plan_(initial_), first_(first), opt_(opt), kv_(kv), table_(table), scored_end_(first) {
  KVS_CHECK(plan_.mode == share::ReuseMode::kSemantic);
  KVS_CHECK(first_ >= 0 && first_ < plan_.n_prompt);
  KVS_CHECK(opt_.blend_layer >= 0 && opt_.blend_layer < kv.n_layer());
  candidates_ = plan_.deviation_candidates();
  scores_.assign(candidates_.size(), 0.0f);  // candidates inside the exact prefix keep 0
  if (opt_.scorer == share::DeviationScorer::kAttnV) dv_.assign(candidates_.size() * opt_.heads.n_head_kv, 0.0f);
  KVS_CHECK(opt_.n_layer > opt_.blend_layer);
  for (int32_t p : initial_.recompute.positions()) expected_selected_ += p >= first_;
  KVS_CHECK(opt_.refine_layer == 0 || (opt_.refine_layer > opt_.blend_layer && opt_.refine_layer < opt_.n_layer));
  KVS_CHECK(opt_.refine_widen >= 1.0);
  if (opt_.naive) return;
  const int64_t n_cand = static_cast<int64_t>(candidates_.size());
  const int64_t k = share::selection_split(plan_.fragment_candidates(),
                                           opt_.recompute_ratio.value_or(opt_.planner.recompute_ratio), opt_.planner)
                        .total();
  expected_selected_ += k;
  if (opt_.refine_layer > 0)
    expected_extra_ = std::min<int64_t>(n_cand, static_cast<int64_t>(std::ceil(opt_.refine_widen * k))) - k;
}

int64_t Blend::phase_cost_layers() const {
  switch (phase_) {
    case Phase::kScore: return opt_.blend_layer + 1;
    case Phase::kRefine: return opt_.refine_layer + 1;
    default: return opt_.n_layer;
  }
}

int64_t Blend::cost(int64_t take) const {
  if (phase_ != Phase::kScore) return take * phase_cost_layers();
  const int64_t scoring = take * (opt_.blend_layer + 1);
  const bool one_chunk = scored_end_ == first_ && take == plan_.n_prompt - first_;
  if (!one_chunk) return scoring;
  return scoring + expected_selected_ * (opt_.n_layer - opt_.blend_layer - 1) +
         expected_extra_ * std::max(0, opt_.refine_layer - opt_.blend_layer);
}

int64_t Blend::rows_within(int64_t units, int64_t max_rows) const {
  const int64_t pending = std::min(pending_rows(), max_rows);
  if (pending <= 0) return 0;
  if (phase_ != Phase::kScore) return std::min<int64_t>(pending, units / phase_cost_layers());
  const int64_t take = std::min<int64_t>(pending, units / (opt_.blend_layer + 1));
  if (take == 0 || cost(take) <= units) return take;
  return take - 1;  // the whole blend as one chunk does not fit: score all but the last row now
}

int64_t Blend::pending_rows() const {
  switch (phase_) {
    case Phase::kScore: return plan_.n_prompt - scored_end_;
    case Phase::kRefine: return static_cast<int64_t>(refine_rows_.size() - refine_done_);
    case Phase::kSelected: return static_cast<int64_t>(selected_.size() - selected_done_);
    case Phase::kDone: return 0;
  }
  return 0;
}

void Blend::next_rows(int64_t take, std::vector<int32_t>& pos, std::vector<uint8_t>& out) {
  KVS_CHECK(take >= 1 && take <= pending_rows());
  const int32_t last = plan_.n_prompt - 1;
  chunk_ = take;
  if (phase_ == Phase::kScore) {
    one_chunk_ = scored_end_ == first_ && take == plan_.n_prompt - first_;
    for (int32_t p = scored_end_; p < scored_end_ + take; ++p) {
      pos.push_back(p);
      out.push_back(one_chunk_ && p == last);
    }
    return;
  }
  if (phase_ == Phase::kRefine) {  // no logits: the selected rows run again through every layer
    for (size_t i = refine_done_; i < refine_done_ + static_cast<size_t>(take); ++i) {
      pos.push_back(refine_rows_[i]);
      out.push_back(0);
    }
    return;
  }
  for (size_t i = selected_done_; i < selected_done_ + static_cast<size_t>(take); ++i) {
    pos.push_back(selected_[i]);
    out.push_back(selected_[i] == last);
  }
}

void Blend::commit() {
  if (phase_ == Phase::kScore) {
    scored_end_ += static_cast<int32_t>(chunk_);
    if (scored_end_ == plan_.n_prompt)
      phase_ = one_chunk_ ? Phase::kDone : refining() ? Phase::kRefine : Phase::kSelected;
  } else if (phase_ == Phase::kRefine) {
    refine_done_ += static_cast<size_t>(chunk_);
    if (refine_done_ == refine_rows_.size()) phase_ = Phase::kSelected;
  } else if (phase_ == Phase::kSelected) {
    selected_done_ += static_cast<size_t>(chunk_);
    if (selected_done_ == selected_.size()) phase_ = Phase::kDone;
  }
  chunk_ = 0;
}

int64_t Blend::recomputed_rows() const {
  return fell_back_ ? plan_.n_prompt - first_ : static_cast<int64_t>(selected_.size());
}

void Blend::slot_k(int layer, int32_t p, float* out) const {
  const int32_t bs = kv_.block_size();
  const int64_t hd = kv_.head_dim();
  for (int64_t g = 0; g < kv_.n_kv_head(); ++g) kv_.load_k(layer, table_.ids()[p / bs], g, p % bs, 1, out + g * hd);
}

void Blend::slot_v(int layer, int32_t p, float* out) const {
  const int32_t bs = kv_.block_size();
  const int64_t hd = kv_.head_dim();
  for (int64_t g = 0; g < kv_.n_kv_head(); ++g) kv_.load_v(layer, table_.ids()[p / bs], g, p % bs, 1, out + g * hd);
}

std::optional<std::vector<int32_t>> Blend::on_layer_kv(int layer, std::span<const int32_t> pos, const float* q,
                                                       const float* k, const float* v) {
  if (layer == opt_.refine_layer && refining() && (phase_ == Phase::kRefine || one_chunk_)) {
    // Gradual filtering at R: the one-chunk path's kept rows, or a kRefine chunk.
    score_refine(pos, k, v);
    const bool last = phase_ == Phase::kScore || pos.back() == refine_rows_.back();
    if (last) finish_refine();
    if (phase_ == Phase::kRefine) return std::vector<int32_t>{};  // every row stops; the selected run again
    return selected_;
  }
  if (layer != opt_.blend_layer || phase_ != Phase::kScore) return std::nullopt;  // keep every row
  KVS_CHECK(!pos.empty() && pos.front() == scored_end_ && static_cast<int64_t>(pos.size()) == chunk_);
  if (!opt_.naive) score_chunk(pos, q, k, v);
  if (pos.back() == plan_.n_prompt - 1) select(pos, k);
  if (!one_chunk_) return std::vector<int32_t>{};  // every row stops here; the selected ones run again later
  if (fell_back_) return std::nullopt;
  return selected_;
}

void Blend::score_chunk(std::span<const int32_t> pos, const float* q, const float* k, const float* v) {
  const share::HeadShape& hs = opt_.heads;
  const int64_t kvd = hs.kv_dim(), qd = hs.n_head * hs.head_dim;
  const int32_t begin = pos.front(), end = pos.back() + 1, L = opt_.blend_layer;
  std::vector<float> ko(kvd), vo(kvd);  // (n_kv_head, head_dim) the reused K / V of one slot
  auto c = std::lower_bound(candidates_.begin(), candidates_.end(), begin);
  for (; c != candidates_.end() && *c < end; ++c) {
    const size_t ci = static_cast<size_t>(c - candidates_.begin());
    const int32_t p = *c;
    const float* kn = k + (p - begin) * kvd;
    const float* vn = v + (p - begin) * kvd;
    slot_k(L, p, ko.data());
    slot_v(L, p, vo.data());
    scores_[ci] = share::relative_kv_deviation(hs, kn, vn, ko.data(), vo.data(), hs.head_dim);
    if (dv_.empty()) continue;
    for (int64_t g = 0; g < hs.n_head_kv; ++g) {
      const float* vg = vo.data() + g * hs.head_dim;
      double d2 = 0;
      for (int64_t t = 0; t < hs.head_dim; ++t) d2 += (vn[g * hs.head_dim + t] - vg[t]) * (vn[g * hs.head_dim + t] - vg[t]);
      dv_[ci * hs.n_head_kv + g] = static_cast<float>(std::sqrt(d2));
    }
  }
  if (dv_.empty()) return;
  while (!q_pos_.empty() && q_pos_.back() >= begin) {  // a rerun of this chunk replaces its rows
    q_pos_.pop_back();
    q_rows_.resize(q_rows_.size() - qd);
  }
  // Queries of the rows recomputed anyway (inserted + last), the last kMaxAttnQueries of them.
  for (int32_t p : plan_.recompute.positions()) {
    if (p < begin || p >= end) continue;
    q_pos_.push_back(p);
    q_rows_.insert(q_rows_.end(), q + (p - begin) * qd, q + (p - begin + 1) * qd);
  }
  if (q_pos_.size() > kMaxAttnQueries) {
    const size_t drop = q_pos_.size() - kMaxAttnQueries;
    q_pos_.erase(q_pos_.begin(), q_pos_.begin() + drop);
    q_rows_.erase(q_rows_.begin(), q_rows_.begin() + drop * qd);
  }
}

std::vector<float> Blend::attn_v_rank(std::span<const int32_t> pos, const float* k) const {
  const share::HeadShape& hs = opt_.heads;
  const int64_t kvd = hs.kv_dim(), n = plan_.n_prompt, begin = pos.front();
  // (n, kv_dim) the blend layer's K: the cache before this chunk (exact or fresh by now), this chunk's fresh K.
  std::vector<float> k_all(static_cast<size_t>(n * kvd));
  for (int32_t p = 0; p < n; ++p) {
    if (p >= begin) std::copy_n(k + (p - begin) * kvd, kvd, k_all.begin() + p * kvd);
    else slot_k(opt_.blend_layer, p, k_all.data() + p * kvd);
  }
  return share::attention_weighted_v_deviation(hs, k_all, n, q_rows_, q_pos_, dv_, candidates_);
}

void Blend::select(std::span<const int32_t> pos, const float* k) {
  bool full = false;
  pre_.clear();
  k_final_ = 0;
  if (!opt_.naive) {
    const std::vector<float> rank = dv_.empty() ? std::vector<float>{} : attn_v_rank(pos, k);
    plan_ = initial_;
    const double widen = opt_.refine_layer > 0 ? opt_.refine_widen : 1.0;
    auto r = share::refine_with_deviation(plan_, scores_, opt_.planner, opt_.recompute_ratio, rank, widen, &k_final_);
    // An error here means inconsistent inputs: computing every row is always correct.
    full = !r.is_ok() || r.value() == share::RefineOutcome::kFellBack;
  }
  fell_back_ = full;
  selected_.clear();
  if (full) {
    for (int32_t p = first_; p < plan_.n_prompt; ++p) selected_.push_back(p);
    return;
  }
  for (int32_t p : plan_.recompute.positions())
    if (p >= first_) selected_.push_back(p);
  if (opt_.refine_layer == 0) return;
  for (int32_t p : plan_.recompute.positions())  // pre-selected = added by the selection, not the initial set
    if (p >= first_ && !initial_.recompute.contains(p)) pre_.push_back(p);
  refine_scores_.assign(pre_.size(), 0.0f);
  refine_rows_ = selected_;
  refine_done_ = 0;
}

void Blend::score_refine(std::span<const int32_t> pos, const float* k, const float* v) {
  const share::HeadShape& hs = opt_.heads;
  const int64_t kvd = hs.kv_dim();
  const int R = opt_.refine_layer;
  std::vector<float> ko(kvd), vo(kvd);  // (n_kv_head, head_dim) the reused K / V of one slot at R
  for (size_t i = 0; i < pos.size(); ++i) {  // row i is pos[i] (the kept rows need not be contiguous)
    auto it = std::lower_bound(pre_.begin(), pre_.end(), pos[i]);
    if (it == pre_.end() || *it != pos[i]) continue;
    slot_k(R, pos[i], ko.data());
    slot_v(R, pos[i], vo.data());
    refine_scores_[static_cast<size_t>(it - pre_.begin())] = share::relative_kv_deviation(
        hs, k + static_cast<int64_t>(i) * kvd, v + static_cast<int64_t>(i) * kvd, ko.data(), vo.data(), hs.head_dim);
  }
}

void Blend::finish_refine() {
  const std::vector<int32_t> keep = share::select_top_k(refine_scores_, pre_, k_final_);
  plan_ = initial_;
  plan_.recompute.merge(keep);
  selected_.clear();
  for (int32_t p : plan_.recompute.positions())
    if (p >= first_) selected_.push_back(p);
}

}  // namespace kvs::engine
