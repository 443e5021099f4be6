#include "eval/runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <set>
#include <thread>
#include <sstream>

#include "base/thread_pool.h"
#include "engine/engine.h"
#include "eval/fidelity.h"
#include "eval/likelihood.h"
#include "eval/text_metrics.h"
#include "tokenizer/chat_template.h"

namespace kvs::eval {

namespace {

using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string ratio_name(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "r=%g%%", std::round(r * 1000.0) / 10.0);
  return buf;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

double norm2(const std::vector<float>& a) { return std::sqrt(dot(a, a)); }

// Submits one request and reads its events to the end.
Result<RequestOutcome> run_request(engine::Engine& eng, engine::RequestParams params, int index) {
  RequestOutcome out;
  out.index = index;
  const auto t0 = Clock::now();
  auto h = eng.submit(std::move(params));
  if (!h.is_ok()) return h.status();
  auto& handle = h.value();
  // Bounded: a request that produces no event for kStallSeconds fails the eval instead of hanging it.
  constexpr int kStallSeconds = 300;
  for (int idle_s = 0;;) {
    auto ev = handle->next(std::chrono::milliseconds(1000));
    if (!ev) {
      if (++idle_s >= kStallSeconds)
        return internal("request " + std::to_string(index) + ": no progress for " + std::to_string(kStallSeconds) +
                        " s");
      continue;
    }
    idle_s = 0;
    if (!ev->logits.empty()) out.first_logits = std::move(ev->logits);
    out.text += ev->text;
    out.tokens.insert(out.tokens.end(), ev->tokens.begin(), ev->tokens.end());
    if (!ev->finished) continue;
    if (ev->finish_reason == "error") return ev->error;
    out.finish_reason = ev->finish_reason;
    out.usage = ev->usage;
    break;
  }
  out.first_token = out.tokens.empty() ? -1 : out.tokens.front();
  out.ttft_ms = ms_between(t0, handle->created()) + out.usage.ttft_ms;
  return out;
}

engine::EngineConfig engine_config(const RunnerConfig& cfg, bool caching, const ModeSpec* spec = nullptr) {
  engine::EngineConfig ec;
  if (spec && spec->repair) ec.repair_rows = cfg.repair_rows;
  if (spec && spec->background) ec.background_repair_rows = 32;
  if (spec && spec->gradual) {
    ec.refine_layer = cfg.refine_layer;
    ec.refine_widen = cfg.refine_widen;
  }
  ec.fragments = spec && spec->fragments;  // every other mode: one donor per request, as before issue 10
  ec.fragment_tail = cfg.fragment_tail;
  ec.run_retrieval = spec && spec->runs ? cfg.run_retrieval : 0.0;  // every other mode embeds every request
  ec.kv_cache_mib = cfg.kv_cache_mib;
  ec.kv_dtype = cfg.kv_dtype;
  ec.n_threads = cfg.n_threads;
  ec.planner = cfg.planner;
  if (spec && spec->adaptive) ec.planner.adaptive_residual = cfg.adaptive_residual;
  ec.deviation = cfg.deviation;
  ec.prefix_cache = caching;
  ec.semantic = caching;
  return ec;
}

}  // namespace

// "semantic" followed by options in this order: -runs, -frag, -attn, -edit, -gradual, -adaptive, -repair (or -bg).
static std::optional<ModeSpec> parse_semantic_mode(const std::string& name) {
  static const std::vector<std::string> kOptions = {"runs", "frag", "attn", "edit", "gradual", "adaptive", "repair", "bg"};
  if (name.rfind("semantic", 0) != 0) return std::nullopt;
  ModeSpec m{name, ModeKind::kSemantic, -1, std::nullopt};
  size_t at = 8, next = 0;  // next: the first option still allowed
  while (at < name.size()) {
    if (name[at] != '-') return std::nullopt;
    const size_t end = std::min(name.find('-', at + 1), name.size());
    const std::string opt = name.substr(at + 1, end - at - 1);
    auto it = std::find(kOptions.begin() + static_cast<std::ptrdiff_t>(next), kOptions.end(), opt);
    if (it == kOptions.end()) return std::nullopt;
    next = static_cast<size_t>(it - kOptions.begin()) + 1;
    if (opt == "attn") m.deviation = share::DeviationScorer::kAttnV;
    m.runs |= opt == "runs";
    m.fragments |= opt == "frag";
    m.edit_aware |= opt == "edit";
    m.gradual |= opt == "gradual";
    m.adaptive |= opt == "adaptive";
    m.repair |= opt == "repair";
    m.background |= opt == "bg";
    at = end;
  }
  if (m.repair && m.background) return std::nullopt;
  return m;
}

Result<std::vector<ModeSpec>> parse_modes(const std::string& list) {
  static const std::vector<std::pair<std::string, ModeKind>> kNames = {
      {"full", ModeKind::kFull}, {"prefix", ModeKind::kPrefix}, {"naive", ModeKind::kNaive},
      {"response-cache", ModeKind::kResponseCache}};
  std::vector<ModeSpec> out;
  std::set<std::string> seen;
  for (const auto& name : split_list(list)) {
    auto it = std::find_if(kNames.begin(), kNames.end(), [&](const auto& p) { return p.first == name; });
    std::optional<ModeSpec> sem = it == kNames.end() ? parse_semantic_mode(name) : std::nullopt;
    if (it == kNames.end() && !sem)
      return invalid_argument("unknown mode '" + name + "' (full, prefix, naive, response-cache, or semantic with "
                              "options in this order: -runs -frag -attn -edit -gradual -adaptive -repair|-bg, e.g. "
                              "semantic-edit-repair)");
    if (!seen.insert(name).second) return invalid_argument("mode '" + name + "' listed twice");
    out.push_back(sem ? *sem : ModeSpec{name, it->second, -1, std::nullopt});
  }
  if (!seen.count("full")) out.insert(out.begin(), {"full", ModeKind::kFull, -1, std::nullopt});
  std::stable_partition(out.begin(), out.end(), [](const ModeSpec& m) { return m.kind == ModeKind::kFull; });
  return out;
}

Result<std::vector<double>> parse_sweep(const std::string& list) {
  std::vector<double> out;
  for (const auto& item : split_list(list)) {
    char* end = nullptr;
    const double pct = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0' || !(pct >= 0 && pct <= 100))
      return invalid_argument("sweep value '" + item + "' is not a percentage in [0, 100]");
    out.push_back(pct / 100.0);
  }
  return out;
}

bool mode_needs_embedder(ModeKind k) {
  return k == ModeKind::kSemantic || k == ModeKind::kNaive || k == ModeKind::kResponseCache || k == ModeKind::kSweep;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

Runner::Runner(const model::Model& model, const tok::Tokenizer& tokenizer, const share::Embedder* embedder,
               RunnerConfig cfg, Progress* progress)
    : model_(model), tok_(tokenizer), embedder_(embedder), cfg_(std::move(cfg)), progress_(progress) {}

Result<std::vector<std::vector<int32_t>>> Runner::tokenize_prompts(const std::vector<EvalRequest>& requests) const {
  std::shared_ptr<const tok::ChatTemplate> tmpl = cfg_.chat_template;
  if (!tmpl) {
    auto src = model_.file().get_string("tokenizer.chat_template");
    if (!src.is_ok())
      return unsupported("the model has no chat template (tokenizer.chat_template); pass --chat-template FILE");
    auto t = tok::ChatTemplate::create(src.value(), tok::chat_specials(tok_));
    if (!t.is_ok()) return t.status();
    tmpl = std::make_shared<const tok::ChatTemplate>(std::move(t).value());
  }
  std::vector<std::vector<int32_t>> out;
  for (const auto& r : requests) {
    auto text = tmpl->apply(r.messages, /*add_generation_prompt=*/true);
    if (!text.is_ok()) return text.status();
    // Contents are MedQuAD text with no control tokens, so encoding the whole prompt with special parsing gives
    // the server's ids (server/prompt.h).
    auto ids = tok_.encode(text.value(), /*parse_special=*/true);
    if (!ids.is_ok()) return ids.status();
    std::vector<int32_t> p;  // BOS once: a template that renders bos_token itself (Gemma's) already has it
    if (tok_.add_bos() && tok_.bos() >= 0 && (ids->empty() || ids->front() != tok_.bos())) p.push_back(tok_.bos());
    p.insert(p.end(), ids->begin(), ids->end());
    out.push_back(std::move(p));
  }
  return out;
}

Result<ModeResult> Runner::run_mode(const ModeSpec& spec, const std::vector<EvalRequest>& requests,
                                    const std::vector<std::vector<int32_t>>& prompts) {
  ModeResult res;
  res.spec = spec;
  engine::ShareMode sm = engine::ShareMode::kFull;
  switch (spec.kind) {
    case ModeKind::kFull: sm = engine::ShareMode::kFull; break;
    case ModeKind::kPrefix: sm = engine::ShareMode::kPrefix; break;
    case ModeKind::kSemantic: sm = engine::ShareMode::kAuto; break;
    case ModeKind::kNaive: sm = engine::ShareMode::kNaive; break;
    case ModeKind::kSweep: sm = engine::ShareMode::kSemantic; break;
    case ModeKind::kResponseCache: return run_response_cache(spec, requests, prompts);
  }
  const bool caching = spec.kind != ModeKind::kFull;
  const bool embeds = mode_needs_embedder(spec.kind);
  if (embeds && !embedder_) return invalid_argument("mode " + spec.name + " needs an embedder");
  const bool gated = spec.kind == ModeKind::kNaive || spec.kind == ModeKind::kSweep;
  const auto t0 = Clock::now();
  engine::Engine eng(model_, tok_, engine_config(cfg_, caching, &spec), embeds ? embedder_ : nullptr);
  // Embeddings of the earlier requests that became donors (served by full or prefix prefill).
  std::vector<std::pair<std::vector<float>, double>> donors;
  if (progress_) progress_->start_phase(spec.name, static_cast<int64_t>(requests.size()));
  for (size_t i = 0; i < requests.size(); ++i) {
    engine::RequestParams p;
    p.prompt = prompts[i];
    p.max_tokens = cfg_.max_tokens;
    p.share_mode = sm;
    std::vector<float> emb;
    if (embeds) {
      // The engine embeds share_text itself, on its own pool, at admission: that time is part of its TTFT.
      p.share_text = requests[i].share_text;
      if (gated) {
        // The gate's own embedding (calling thread only, not timed: the engine repeats it for the request).
        auto e = embedder_->embed(requests[i].share_text, nullptr);
        if (!e.is_ok()) return e.status();
        emb = std::move(e).value();
        const double en = std::max(norm2(emb), 1e-12);
        double best = -2;
        for (const auto& [d, dn] : donors) best = std::max(best, dot(d, emb) / (en * dn));
        if (best < cfg_.planner.similarity_threshold) p.share_mode = engine::ShareMode::kAuto;
      }
    }
    if (spec.kind == ModeKind::kSweep) p.recompute_ratio = spec.recompute_ratio;
    p.deviation = spec.deviation;
    if (spec.edit_aware) {
      p.edit_window = cfg_.edit_window;
      p.edit_tail = cfg_.edit_tail;
    }
    p.want_first_logits = true;
    auto r = run_request(eng, std::move(p), static_cast<int>(i));
    if (!r.is_ok())
      return Status(r.status().code(), spec.name + ", request " + std::to_string(i) + ": " + r.status().message());
    KVS_RETURN_IF_ERROR(compare_first(r.value(), i, spec.kind == ModeKind::kFull));
    if (gated && r->usage.share.mode != "semantic") donors.emplace_back(emb, std::max(norm2(emb), 1e-12));
    res.rows.push_back(std::move(r).value());
    if (progress_) progress_->tick();
    // Idle time for background repair (semantic-bg), bounded: 120 s.
    for (int k = 0; spec.background && eng.metrics().background_pending > 0 && k < 6000; ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  eng.shutdown(/*cancel_inflight=*/false);
  res.summary.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

Result<ModeResult> Runner::run_response_cache(const ModeSpec& spec, const std::vector<EvalRequest>& requests,
                                              const std::vector<std::vector<int32_t>>& prompts) {
  if (!embedder_) return invalid_argument("mode response-cache needs an embedder");
  ModeResult res;
  res.spec = spec;
  const auto t0 = Clock::now();
  engine::Engine eng(model_, tok_, engine_config(cfg_, /*caching=*/false), nullptr);
  // The cache's embeddings run on a pool like the engine's (the engine has no embedder in this mode).
  ThreadPool pool(cfg_.n_threads > 0 ? cfg_.n_threads : ThreadPool::default_threads());
  struct Entry {
    int index;
    std::vector<float> embedding;
    double norm;
  };
  std::vector<Entry> cache;  // computed requests only (a hit is not stored again, as GPTCache)
  if (progress_) progress_->start_phase(spec.name, static_cast<int64_t>(requests.size()));
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto ts = Clock::now();
    auto e = embedder_->embed(requests[i].share_text, &pool);
    if (!e.is_ok()) return e.status();
    const double en = std::max(norm2(e.value()), 1e-12);
    int best = -1;
    double best_sim = -2;
    for (const auto& c : cache) {
      const double sim = dot(c.embedding, e.value()) / (en * c.norm);
      if (sim > best_sim) {
        best_sim = sim;
        best = c.index;
      }
    }
    const double lookup_ms = ms_between(ts, Clock::now());
    RequestOutcome out;
    if (best >= 0 && best_sim >= cfg_.planner.similarity_threshold) {
      const RequestOutcome& src = res.rows[best];
      out.index = static_cast<int>(i);
      out.text = src.text;
      out.tokens = src.tokens;
      out.first_token = src.first_token;
      out.finish_reason = src.finish_reason;
      out.usage.prompt_tokens = static_cast<int64_t>(prompts[i].size());
      out.usage.completion_tokens = src.usage.completion_tokens;
      out.usage.cached_tokens = out.usage.prompt_tokens;
      out.usage.computed_prompt_tokens = 0;
      out.usage.ttft_ms = lookup_ms;
      out.ttft_ms = lookup_ms;
      out.cache_hit = true;
      out.cache_source = best;
    } else {
      engine::RequestParams p;
      p.prompt = prompts[i];
      p.max_tokens = cfg_.max_tokens;
      p.share_mode = engine::ShareMode::kFull;
      p.want_first_logits = true;
      auto r = run_request(eng, std::move(p), static_cast<int>(i));
      if (!r.is_ok())
        return Status(r.status().code(), spec.name + ", request " + std::to_string(i) + ": " + r.status().message());
      KVS_RETURN_IF_ERROR(compare_first(r.value(), i, /*is_full=*/false));
      out = std::move(r).value();
      out.ttft_ms += lookup_ms;
      cache.push_back({static_cast<int>(i), e.value(), en});
    }
    out.cache_similarity = best >= 0 ? best_sim : 0.0;
    res.rows.push_back(std::move(out));
    if (progress_) progress_->tick();
  }
  eng.shutdown(/*cancel_inflight=*/false);
  res.summary.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

Status Runner::compare_first(RequestOutcome& r, size_t i, bool is_full) {
  std::vector<float> logits = std::move(r.first_logits);
  r.first_logits = {};
  if (logits.empty()) return Status::ok();  // no fresh distribution (engine without want_first_logits support)
  if (full_first_.size() <= i) full_first_.resize(i + 1);
  if (is_full) full_first_[i] = logits;
  if (full_first_[i].empty()) return Status::ok();
  auto c = compare_first_token(full_first_[i], logits);
  if (!c.is_ok()) return c.status();
  r.first_compared = true;
  r.first_kl = c->kl;
  r.first_top1_agrees = c->top1_agrees;
  return Status::ok();
}

Status Runner::score_likelihoods(EvalResult& out) {
  const model::Model& exact = exact_ ? *exact_ : model_;
  if (exact.precision() != model::Precision::kF32)
    return invalid_argument("the answers' likelihoods need the model in f32 (set_exact_model)");
  std::vector<ModeResult*> all;
  for (auto& m : out.modes) all.push_back(&m);
  for (auto& m : out.sweep) all.push_back(&m);
  const size_t n = out.prompt_ids.size();
  int64_t capacity = 1;
  for (size_t i = 0; i < n; ++i)
    for (const ModeResult* m : all)
      capacity = std::max<int64_t>(capacity, static_cast<int64_t>(out.prompt_ids[i].size() + m->rows[i].tokens.size()));
  ThreadPool pool(cfg_.n_threads > 0 ? cfg_.n_threads : ThreadPool::default_threads());
  AnswerScorer scorer(exact, capacity, &pool);
  if (progress_) progress_->start_phase("likelihood", static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    KVS_RETURN_IF_ERROR(scorer.set_prompt(out.prompt_ids[i]));
    std::vector<const RequestOutcome*> done;  // rows of request i scored already (equal answers: equal bits)
    for (ModeResult* m : all) {
      RequestOutcome& r = m->rows[i];
      auto same = std::find_if(done.begin(), done.end(), [&](const RequestOutcome* d) { return d->tokens == r.tokens; });
      if (same != done.end()) {
        r.token_logprobs = (*same)->token_logprobs;
        r.answer_logprob = (*same)->answer_logprob;
        continue;
      }
      auto lp = scorer.score(r.tokens);
      if (!lp.is_ok())
        return Status(lp.status().code(), m->spec.name + ", request " + std::to_string(i) + ": " + lp.status().message());
      r.token_logprobs = std::move(lp->token_logprobs);
      r.answer_logprob = lp->sum;
      done.push_back(&r);
    }
    if (progress_) progress_->tick();
  }
  return Status::ok();
}

namespace {

// The fidelity part of the summary (runner.h, "Fidelity").
void score_fidelity(ModeResult& m, const ModeResult& full, int32_t max_tokens) {
  ModeSummary& s = m.summary;
  double lp_sum = 0, full_lp_sum = 0, kl_sum = 0, lead_sum = 0;
  int64_t full_tokens = 0, top1 = 0;
  std::vector<int64_t> agree(kAgreementK.size(), 0);
  s.answer_tokens = 0;
  s.n_first_dist = 0;
  for (size_t i = 0; i < m.rows.size(); ++i) {
    RequestOutcome& r = m.rows[i];
    const RequestOutcome& f = full.rows[i];
    lp_sum += r.answer_logprob;
    s.answer_tokens += static_cast<int64_t>(r.tokens.size());
    full_lp_sum += f.answer_logprob;
    full_tokens += static_cast<int64_t>(f.tokens.size());
    if (r.first_compared) {
      ++s.n_first_dist;
      kl_sum += r.first_kl;
      top1 += r.first_top1_agrees;
    }
    r.lead = leading_agreement(r.tokens, f.tokens, max_tokens);
    lead_sum += r.lead;
    for (size_t k = 0; k < kAgreementK.size(); ++k) agree[k] += r.lead >= kAgreementK[k];
  }
  s.mean_logprob = s.answer_tokens ? lp_sum / static_cast<double>(s.answer_tokens) : 0.0;
  const double full_mean = full_tokens ? full_lp_sum / static_cast<double>(full_tokens) : 0.0;
  // mean_nll(mode) - mean_nll(full) = full_mean - mean_logprob; exactly 0 for full itself.
  s.ppl_ratio = s.answer_tokens && full_tokens ? std::exp(full_mean - s.mean_logprob) : std::nan("");
  s.first_kl = s.n_first_dist ? kl_sum / static_cast<double>(s.n_first_dist) : 0.0;
  s.first_top1 = s.n_first_dist ? static_cast<double>(top1) / static_cast<double>(s.n_first_dist) : 0.0;
  const double dn = static_cast<double>(std::max<size_t>(m.rows.size(), 1));
  s.lead_mean = lead_sum / dn;
  s.agree_at.clear();
  for (size_t k = 0; k < kAgreementK.size(); ++k)
    if (kAgreementK[k] <= max_tokens) s.agree_at.emplace_back(kAgreementK[k], static_cast<double>(agree[k]) / dn);
}

}  // namespace

void score_mode(ModeResult& m, const ModeResult& full, const std::vector<EvalRequest>& requests, int64_t common_prefix,
                int32_t max_tokens) {
  ModeSummary& s = m.summary;
  const size_t n = m.rows.size();
  s.n = static_cast<int64_t>(n);
  std::vector<double> ttft;
  std::vector<std::string> hyps, refs;
  double rouge_sum = 0, ref_sum = 0;
  int64_t n_ref = 0, hits = 0, semantic = 0, first_agree = 0, exact = 0, misses = 0, miss_equal = 0;
  for (size_t i = 0; i < n; ++i) {
    RequestOutcome& r = m.rows[i];
    const RequestOutcome& f = full.rows[i];
    r.rouge_vs_full = rouge_l(r.text, f.text).f1;
    r.bleu_vs_full = sentence_bleu(r.text, f.text).score;
    r.first_token_agrees = r.first_token == f.first_token;
    r.exact_match = r.text == f.text;
    if (!requests[i].reference.empty()) {
      r.rouge_vs_ref = rouge_l(r.text, requests[i].reference).f1;
      ref_sum += r.rouge_vs_ref;
      ++n_ref;
    }
    const bool is_cache = m.spec.kind == ModeKind::kResponseCache;
    r.hit = is_cache ? r.cache_hit : r.usage.cached_tokens > common_prefix;
    if (is_cache && !r.cache_hit) {
      ++misses;
      miss_equal += r.exact_match;
    }
    hits += r.hit;
    semantic += r.usage.share.mode == "semantic";
    s.fallbacks += r.usage.share.fell_back;
    first_agree += r.first_token_agrees;
    exact += r.exact_match;
    rouge_sum += r.rouge_vs_full;
    s.prompt_tokens += r.usage.prompt_tokens;
    s.reused_tokens += r.usage.cached_tokens;
    s.computed_tokens += r.usage.computed_prompt_tokens;
    ttft.push_back(r.ttft_ms);
    hyps.push_back(r.text);
    refs.push_back(f.text);
  }
  if (n == 0) return;
  const double dn = static_cast<double>(n);
  s.hit_rate = static_cast<double>(hits) / dn;
  s.semantic_rate = static_cast<double>(semantic) / dn;
  const double pt = static_cast<double>(std::max<int64_t>(s.prompt_tokens, 1));
  s.reuse_rate = static_cast<double>(s.reused_tokens) / pt;
  s.prefill_saved = 1.0 - static_cast<double>(s.computed_tokens) / pt;
  s.ttft_p50 = percentile(ttft, 0.5);
  s.ttft_p90 = percentile(ttft, 0.9);
  double tsum = 0;
  for (double t : ttft) tsum += t;
  s.ttft_mean = tsum / dn;
  s.rouge_vs_full = rouge_sum / dn;
  s.bleu_vs_full = corpus_bleu(hyps, refs).score;
  s.first_token_agreement = static_cast<double>(first_agree) / dn;
  s.exact_match_rate = static_cast<double>(exact) / dn;
  s.rouge_vs_ref = n_ref ? ref_sum / static_cast<double>(n_ref) : 0.0;
  if (m.spec.kind == ModeKind::kResponseCache)
    s.miss_agreement = misses ? static_cast<double>(miss_equal) / static_cast<double>(misses) : 1.0;
  score_fidelity(m, full, max_tokens);
}

Result<EvalResult> Runner::run(const std::string& workload_name, const std::vector<EvalRequest>& requests) {
  if (requests.empty()) return invalid_argument("no requests");
  if (cfg_.modes.empty() || cfg_.modes.front().kind != ModeKind::kFull)
    return invalid_argument("the modes must start with full (parse_modes does that)");
  auto prompts = tokenize_prompts(requests);
  if (!prompts.is_ok()) return prompts.status();
  const auto& P = prompts.value();

  EvalResult out;
  out.workload = workload_name;
  out.max_tokens = cfg_.max_tokens;
  out.n_threads = cfg_.n_threads;
  out.kv_cache_mib = cfg_.kv_cache_mib;
  out.planner = cfg_.planner;
  out.refine_layer = cfg_.refine_layer;
  out.refine_widen = cfg_.refine_widen;
  out.adaptive_residual = cfg_.adaptive_residual;
  out.fragment_tail = cfg_.fragment_tail;
  out.run_retrieval = cfg_.run_retrieval;
  out.requests = requests;
  size_t lcp = P.front().size();
  for (const auto& p : P) {
    size_t k = 0;
    while (k < lcp && k < p.size() && p[k] == P.front()[k]) ++k;
    lcp = k;
    out.prompt_tokens.push_back(static_cast<int64_t>(p.size()));
  }
  out.prompt_ids = P;
  full_first_.assign(P.size(), {});
  common_prefix_ = static_cast<int64_t>(P.size() > 1 ? lcp : 0);
  out.common_prefix_tokens = common_prefix_;

  for (const auto& spec : cfg_.modes) {
    auto m = run_mode(spec, requests, P);
    if (!m.is_ok()) return m.status();
    out.modes.push_back(std::move(m).value());
  }
  for (double r : cfg_.sweep) {
    auto m = run_mode({ratio_name(r), ModeKind::kSweep, r, std::nullopt}, requests, P);
    if (!m.is_ok()) return m.status();
    out.sweep.push_back(std::move(m).value());
  }
  full_first_.clear();
  KVS_RETURN_IF_ERROR(score_likelihoods(out));
  if (progress_) progress_->finish();
  const ModeResult full = out.modes.front();
  for (auto& m : out.modes) score_mode(m, full, requests, common_prefix_, cfg_.max_tokens);
  for (auto& m : out.sweep) score_mode(m, full, requests, common_prefix_, cfg_.max_tokens);
  return out;
}

}  // namespace kvs::eval
