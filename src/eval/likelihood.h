// Likelihood of an answer under the exact model: teacher-forced prefill of prompt + answer in f32.
//
//   log p(answer | prompt) = sum_j log softmax(logits at position n_prompt - 1 + j)[answer[j]],  j < n_answer
//
// The row at position n_prompt - 1 (the last prompt token) predicts answer[0]; the row of answer[j] predicts
// answer[j + 1]; the answer's last token is never a row. Log-softmax is computed in double over the raw float
// logits. AnswerScorer prefills the prompt once (chunks of chunk_rows rows, logits only for the last one) and then
// scores any number of answers behind it: each answer's rows overwrite the slots after the prompt, and a row
// attends only over slots <= its position, so every answer sees exactly prompt + its own earlier tokens. By the
// forward contract (model.h: batch-invariant kernels) chunked prefill gives the same bits as one prefill of
// prompt + answer, so the result does not depend on chunk_rows or on the answers scored before.
//
// Invariants: the scorer's KV is its own (a KvManager sized `capacity` slots), never shared with an engine;
// the model's precision must be kF32 ("exact" means f32; set_prompt returns InvalidArgument otherwise).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "kv/block_table.h"
#include "kv/kv_manager.h"
#include "model/model.h"

namespace kvs::eval {

struct AnswerLogprob {
  std::vector<double> token_logprobs;  // (n_answer) log p(answer[j] | prompt, answer[0..j)), nats
  double sum = 0;                      // sum of token_logprobs (0 for an empty answer)
};

class AnswerScorer {
 public:
  // capacity: the most slots (prompt + answer tokens) any set_prompt + score pair will need.
  AnswerScorer(const model::Model& model, int64_t capacity, ThreadPool* pool, int64_t chunk_rows = 256);

  // Prefills `prompt` (non-empty); InvalidArgument when it is empty, too long for the capacity, or the model
  // is not f32; the forward's error otherwise.
  Status set_prompt(std::span<const int32_t> prompt);
  // REQUIRES: set_prompt succeeded. An empty answer gives {[], 0}. InvalidArgument when prompt + answer exceeds
  // the capacity or a token is outside the vocabulary.
  Result<AnswerLogprob> score(std::span<const int32_t> answer);

 private:
  Status run_rows(std::span<const int32_t> tokens, int32_t first_pos, bool all_out, std::vector<float>& logits);

  const model::Model& model_;
  int64_t capacity_, chunk_rows_;
  ThreadPool* pool_;
  kv::KvManager kv_;
  kv::BlockTable table_;
  int32_t n_prompt_ = 0;             // 0: no prompt set
  std::vector<float> last_logits_;   // (n_vocab) the last prompt row's logits (predict answer[0])
};

// One answer, with a scorer of its own sized for the sequence. n_tokens (may be null) receives answer.size().
Result<double> answer_logprob(const model::Model& model, std::span<const int32_t> prompt,
                              std::span<const int32_t> answer, ThreadPool* pool, double* n_tokens);

}  // namespace kvs::eval
