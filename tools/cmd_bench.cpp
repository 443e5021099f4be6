// `kvshare bench`: prefill and decode throughput on one sequence, measured like llama-bench
// (pp: one forward of N prompt tokens from an empty cache; tg: N single-token forwards from an empty cache;
// mean of --reps runs after one warm-up).
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "cli_util.h"
#include "commands.h"
#include "kernels/cpu/ops.h"

namespace kvs::cli {

namespace {
struct BenchArgs {
  std::string precision = "f32";
  std::string model;
  int threads = 0, prompt_tokens = 512, gen_tokens = 128, reps = 3;
  bool json = false;
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int run_bench(const BenchArgs& a) {
  Loaded L = load_model_or_report(a.model, a.precision);
  if (!L.model) return 1;
  const auto& hp = L.model->hparams();
  ThreadPool pool(a.threads > 0 ? a.threads : ThreadPool::default_threads());
  const int64_t n_ctx = std::max(a.prompt_tokens, a.gen_tokens) + 16, bs = 16, n_blocks = (n_ctx + bs - 1) / bs;
  kv::KvStorage kv(hp.n_layer, n_blocks, bs, hp.n_head_kv, hp.head_dim);
  std::vector<int32_t> blocks(n_blocks);
  std::iota(blocks.begin(), blocks.end(), 0);
  const model::SeqKvView view{blocks};
  std::mt19937 rng(1234);
  std::vector<float> logits;

  auto prefill = [&]() -> double {
    model::UBatch ub;
    for (int i = 0; i < a.prompt_tokens; ++i) ub.add(static_cast<int32_t>(rng() % hp.n_vocab), i, 0, i + 1 == a.prompt_tokens);
    double t0 = now_s();
    Status s = L.model->forward(ub, std::span(&view, 1), kv, logits, &pool);
    KVS_CHECK(s.is_ok());
    return now_s() - t0;
  };
  auto decode = [&]() -> double {
    model::UBatch ub;
    double t0 = now_s();
    int32_t t = static_cast<int32_t>(rng() % hp.n_vocab);
    for (int i = 0; i < a.gen_tokens; ++i) {
      ub.clear();
      ub.add(t, i, 0, true);
      Status s = L.model->forward(ub, std::span(&view, 1), kv, logits, &pool);
      KVS_CHECK(s.is_ok());
      t = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    return now_s() - t0;
  };
  prefill();  // warm-up (page in the weights)
  decode();
  double pp = 0, tg = 0;
  for (int r = 0; r < a.reps; ++r) pp += a.prompt_tokens / prefill();
  for (int r = 0; r < a.reps; ++r) tg += a.gen_tokens / decode();
  pp /= a.reps;
  tg /= a.reps;
  std::printf("model: %s | threads: %d | isa: %s\n", hp.name.c_str(), pool.size(), kernels::active_isa());
  std::printf("prefill pp%d: %8.1f tok/s\n", a.prompt_tokens, pp);
  std::printf("decode  tg%d: %8.1f tok/s\n", a.gen_tokens, tg);
  if (a.json)
    std::printf("{\"model\": \"%s\", \"threads\": %d, \"isa\": \"%s\", \"prefill_tokens\": %d, \"prefill_tok_s\": %.2f, "
                "\"decode_tokens\": %d, \"decode_tok_s\": %.2f}\n",
                hp.name.c_str(), pool.size(), kernels::active_isa(), a.prompt_tokens, pp, a.gen_tokens, tg);
  return 0;
}
}  // namespace

void add_bench(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* sub = app.add_subcommand("bench", "Prefill and decode throughput (tok/s) on the model");
  sub->add_option("--precision", a->precision, "Matmul precision: f32 (default, exact) | mixed (float q/k/v and head, int8 rest) | int8 (fastest)")
      ->check(CLI::IsMember({"int8", "mixed", "f32"}));
  sub->add_option("-m,--model", a->model, "GGUF model file");
  sub->add_option("-t,--threads", a->threads, "Threads (default: all cores)");
  sub->add_option("-p,--prompt-tokens", a->prompt_tokens, "Prompt tokens for the prefill test")->check(CLI::Range(1, 8192));
  sub->add_option("-n,--gen-tokens", a->gen_tokens, "Tokens for the decode test")->check(CLI::Range(1, 8192));
  sub->add_option("-r,--reps", a->reps, "Repetitions (mean reported)")->check(CLI::Range(1, 100));
  sub->add_flag("--json", a->json, "Also print a JSON line with the figures");
  sub->callback([a, &exit_code] { exit_code = run_bench(*a); });
}

}  // namespace kvs::cli
