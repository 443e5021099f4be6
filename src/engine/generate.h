// Single-sequence generation on a private KV (the CLI's `generate` and the benchmarks).
// The serving path (many sequences, paged shared KV) is engine::Scheduler; both call Model::forward.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "engine/sampler.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace kvs::engine {

struct GenerateOptions {
  int32_t max_tokens = 256;
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool ignore_eos = false;        // benchmarks: keep decoding past end-of-generation tokens
  int32_t ubatch = 512;           // prefill chunk (rows per forward)
  DType kv_dtype = DType::kF16;   // KV cache element type (f16 or f32)
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids
  std::string text;             // generated text (stop string removed)
  std::string finish_reason;    // "stop" (eos or stop string) or "length"
  int64_t prompt_tokens = 0;
  double prefill_ms = 0;        // prompt forward, up to the first token's logits
  double decode_ms = 0;         // the remaining tokens
};

// on_text receives text as it becomes final (UTF-8 complete, not part of a stop string); return false to stop.
Result<GenerateResult> generate(const model::Model& model, const tok::Tokenizer& tokenizer,
                                std::span<const int32_t> prompt, const GenerateOptions& opts, ThreadPool* pool,
                                const std::function<bool(std::string_view)>& on_text = nullptr);

}  // namespace kvs::engine
