#include "engine/generate.h"

#include <chrono>
#include <numeric>

#include "engine/text_stream.h"

namespace kvs::engine {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Result<GenerateResult> generate(const model::Model& model, const tok::Tokenizer& tokenizer,
                                std::span<const int32_t> prompt, const GenerateOptions& opts, ThreadPool* pool,
                                const std::function<bool(std::string_view)>& on_text) {
  const auto& hp = model.hparams();
  KVS_RETURN_IF_ERROR(opts.sampling.validate());
  if (prompt.empty()) return invalid_argument("the prompt is empty");
  if (opts.max_tokens < 0) return invalid_argument("max_tokens must be >= 0");
  const int64_t n_ctx = static_cast<int64_t>(prompt.size()) + opts.max_tokens;
  if (n_ctx > hp.n_ctx_train)
    return invalid_argument("prompt (" + std::to_string(prompt.size()) + " tokens) + max_tokens (" +
                            std::to_string(opts.max_tokens) + ") exceeds the context length " +
                            std::to_string(hp.n_ctx_train));
  const int64_t bs = 16, n_blocks = (n_ctx + bs - 1) / bs;
  if (opts.kv_dtype != DType::kF16 && opts.kv_dtype != DType::kF32) return invalid_argument("kv_dtype must be f16 or f32");
  kv::KvStorage kv(hp.n_layer, n_blocks, bs, hp.n_head_kv, hp.head_dim, opts.kv_dtype);
  std::vector<int32_t> blocks(n_blocks);
  std::iota(blocks.begin(), blocks.end(), 0);
  const model::SeqKvView view{blocks};

  GenerateResult res;
  res.prompt_tokens = static_cast<int64_t>(prompt.size());
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::vector<float> logits;
  model::UBatch ub;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < prompt.size(); i += opts.ubatch) {
    ub.clear();
    const size_t end = std::min(prompt.size(), i + opts.ubatch);
    for (size_t j = i; j < end; ++j) ub.add(prompt[j], static_cast<int32_t>(j), 0, j + 1 == prompt.size());
    KVS_RETURN_IF_ERROR(model.forward(ub, std::span(&view, 1), kv, logits, pool));
  }
  res.prefill_ms = ms_since(t0);
  auto t1 = std::chrono::steady_clock::now();

  Sampler sampler(opts.sampling);
  Utf8Assembler utf8;
  StopMatcher stops(opts.stop);
  res.finish_reason = "length";
  bool stopped = false;   // the consumer asked to stop
  bool hit_stop = false;  // a stop string matched
  auto emit = [&](const std::string& s) {
    if (s.empty()) return;
    res.text += s;
    if (on_text && !on_text(s)) stopped = true;
  };
  for (int32_t n = 0; n < opts.max_tokens && !stopped; ++n) {
    const int32_t t = sampler.sample(std::span(logits.data(), hp.n_vocab), history);
    if (!opts.ignore_eos && tokenizer.is_eog(t)) {
      res.finish_reason = "stop";
      break;
    }
    res.tokens.push_back(t);
    history.push_back(t);
    auto o = stops.push(utf8.push(tokenizer.token_to_piece(t)));
    emit(o.text);
    if (o.stopped) {
      res.finish_reason = "stop";
      hit_stop = true;
      break;
    }
    if (n + 1 == opts.max_tokens) break;  // no forward for a token we will not sample from
    ub.clear();
    ub.add(t, static_cast<int32_t>(history.size() - 1), 0, true);
    KVS_RETURN_IF_ERROR(model.forward(ub, std::span(&view, 1), kv, logits, pool));
  }
  if (!hit_stop) {
    auto o = stops.push(utf8.flush());
    emit(o.text);
    if (!o.stopped) emit(stops.flush());
  }
  res.decode_ms = ms_since(t1);
  return res;
}

}  // namespace kvs::engine
