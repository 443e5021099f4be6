#include "eval/likelihood.h"

#include <algorithm>

#include "eval/fidelity.h"

namespace kvs::eval {

namespace {

constexpr int32_t kBlockSize = 16;

kv::KvGeometry geometry(const model::Model& m) {
  const auto& hp = m.hparams();
  return {hp.n_layer, hp.n_head_kv, hp.head_dim, kBlockSize, DType::kF32};  // the exact model: f32 KV
}

int32_t blocks_for(int64_t capacity) {
  return static_cast<int32_t>(std::max<int64_t>(1, (capacity + kBlockSize - 1) / kBlockSize));
}

Status check_tokens(std::span<const int32_t> tokens, int64_t n_vocab) {
  for (int32_t t : tokens)
    if (t < 0 || t >= n_vocab) return invalid_argument("token id " + std::to_string(t) + " outside the vocabulary");
  return Status::ok();
}

}  // namespace

AnswerScorer::AnswerScorer(const model::Model& model, int64_t capacity, ThreadPool* pool, int64_t chunk_rows)
    : model_(model),
      capacity_(std::max<int64_t>(1, capacity)),
      chunk_rows_(std::max<int64_t>(1, chunk_rows)),
      pool_(pool),
      kv_(geometry(model), blocks_for(capacity_)) {}

// Rows tokens[i] at positions first_pos + i, in chunks of chunk_rows_. all_out: logits of every row, (n, n_vocab)
// in row order; else of the last row only, (1, n_vocab).
Status AnswerScorer::run_rows(std::span<const int32_t> tokens, int32_t first_pos, bool all_out,
                              std::vector<float>& logits) {
  const int64_t n_vocab = model_.hparams().n_vocab;
  const int64_t n = static_cast<int64_t>(tokens.size());
  logits.clear();
  model::UBatch ub;
  std::vector<float> chunk_logits;  // (rows of the chunk with out = 1, n_vocab)
  const model::SeqKvView view{table_.ids()};
  for (int64_t c = 0; c < n; c += chunk_rows_) {
    const int64_t end = std::min(n, c + chunk_rows_);
    ub.clear();
    for (int64_t i = c; i < end; ++i)
      ub.add(tokens[i], first_pos + static_cast<int32_t>(i), 0, all_out || i + 1 == n);
    KVS_RETURN_IF_ERROR(model_.forward(ub, std::span(&view, 1), kv_.storage(), chunk_logits, pool_));
    const int64_t n_out = ub.n_out();
    logits.insert(logits.end(), chunk_logits.begin(), chunk_logits.begin() + n_out * n_vocab);
  }
  return Status::ok();
}

Status AnswerScorer::set_prompt(std::span<const int32_t> prompt) {
  n_prompt_ = 0;
  if (model_.precision() != model::Precision::kF32)
    return invalid_argument("answer likelihoods need the exact model (precision f32)");
  if (prompt.empty()) return invalid_argument("empty prompt");
  if (static_cast<int64_t>(prompt.size()) > capacity_)
    return invalid_argument("prompt of " + std::to_string(prompt.size()) + " tokens exceeds the scorer's " +
                            std::to_string(capacity_) + " slots");
  KVS_RETURN_IF_ERROR(check_tokens(prompt, model_.hparams().n_vocab));
  KVS_RETURN_IF_ERROR(kv_.reserve(table_, capacity_));
  KVS_RETURN_IF_ERROR(run_rows(prompt, 0, /*all_out=*/false, last_logits_));
  n_prompt_ = static_cast<int32_t>(prompt.size());
  return Status::ok();
}

Result<AnswerLogprob> AnswerScorer::score(std::span<const int32_t> answer) {
  if (n_prompt_ == 0) return invalid_argument("score() before a successful set_prompt()");
  AnswerLogprob out;
  if (answer.empty()) return out;
  const int64_t n_vocab = model_.hparams().n_vocab;
  if (n_prompt_ + static_cast<int64_t>(answer.size()) > capacity_)
    return invalid_argument("prompt + answer of " + std::to_string(n_prompt_ + answer.size()) +
                            " tokens exceeds the scorer's " + std::to_string(capacity_) + " slots");
  KVS_RETURN_IF_ERROR(check_tokens(answer, n_vocab));
  std::vector<float> rows;  // (answer.size() - 1, n_vocab): the logits after each answer token but the last
  KVS_RETURN_IF_ERROR(run_rows(answer.first(answer.size() - 1), n_prompt_, /*all_out=*/true, rows));
  out.token_logprobs.reserve(answer.size());
  for (size_t j = 0; j < answer.size(); ++j) {
    const std::span<const float> row =
        j == 0 ? std::span<const float>(last_logits_)
               : std::span<const float>(rows).subspan((j - 1) * n_vocab, n_vocab);
    const double lp = static_cast<double>(row[answer[j]]) - log_sum_exp(row);
    out.token_logprobs.push_back(lp);
    out.sum += lp;
  }
  return out;
}

Result<double> answer_logprob(const model::Model& model, std::span<const int32_t> prompt,
                              std::span<const int32_t> answer, ThreadPool* pool, double* n_tokens) {
  AnswerScorer scorer(model, static_cast<int64_t>(prompt.size() + answer.size()), pool);
  KVS_RETURN_IF_ERROR(scorer.set_prompt(prompt));
  auto r = scorer.score(answer);
  if (!r.is_ok()) return r.status();
  if (n_tokens) *n_tokens = static_cast<double>(answer.size());
  return r->sum;
}

}  // namespace kvs::eval
