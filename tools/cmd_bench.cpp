// `kvshare bench`: prefill and decode throughput on one sequence, measured like llama-bench
// (pp: one forward of N prompt tokens; tg: N single-token forwards; mean of --reps runs after one warm-up).
// --depth D (llama-bench -d): D random tokens are prefilled first (untimed, once), and pp / tg run on top of them
// at positions D.. (attention over D + i keys). -p 0 or -n 0 skips that test.
#include <chrono>
#include <ctime>
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
  std::string kv_dtype = "f16";
  std::string model;
  int threads = 0, prompt_tokens = 512, gen_tokens = 128, reps = 3, depth = 0;
  bool json = false;
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// CPU seconds of the whole process (all threads; the pool's spinning counts too).
double cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

int run_bench(const BenchArgs& a) {
  Loaded L = load_model_or_report(a.model, a.precision, /*need_tokenizer=*/false);
  if (!L.model) return 1;
  const auto& hp = L.model->hparams();
  ThreadPool pool(a.threads > 0 ? a.threads : ThreadPool::default_threads());
  const int64_t n_ctx = a.depth + std::max(a.prompt_tokens, a.gen_tokens) + 16, bs = 16;
  const int64_t n_blocks = (n_ctx + bs - 1) / bs;
  kv::KvStorage kv(hp.n_layer, n_blocks, bs, hp.n_head_kv, hp.head_dim, kv_dtype_of(a.kv_dtype));
  std::vector<int32_t> blocks(n_blocks);
  std::iota(blocks.begin(), blocks.end(), 0);
  const model::SeqKvView view{blocks};
  std::mt19937 rng(1234);
  std::vector<float> logits;

  // Untimed context of `depth` tokens (positions [0, depth)); pp and tg overwrite the slots after it.
  auto forward_tokens = [&](int n, int pos0) -> double {
    model::UBatch ub;
    for (int i = 0; i < n; ++i) ub.add(static_cast<int32_t>(rng() % hp.n_vocab), pos0 + i, 0, i + 1 == n);
    double t0 = now_s();
    Status s = L.model->forward(ub, std::span(&view, 1), kv, logits, &pool);
    KVS_CHECK(s.is_ok());
    return now_s() - t0;
  };
  auto prefill = [&]() { return forward_tokens(a.prompt_tokens, a.depth); };
  auto decode = [&]() -> double {
    model::UBatch ub;
    double t0 = now_s();
    int32_t t = static_cast<int32_t>(rng() % hp.n_vocab);
    for (int i = 0; i < a.gen_tokens; ++i) {
      ub.clear();
      ub.add(t, a.depth + i, 0, true);
      Status s = L.model->forward(ub, std::span(&view, 1), kv, logits, &pool);
      KVS_CHECK(s.is_ok());
      t = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    return now_s() - t0;
  };
  double depth_s = 0;
  if (a.depth > 0) depth_s = forward_tokens(a.depth, 0);
  double pp = 0, tg = 0, pp_cpu = 0, tg_cpu = 0;  // tok/s of wall time; CPU seconds per run
  if (a.prompt_tokens > 0) {
    prefill();  // warm-up (page in the weights)
    const double c0 = cpu_s();
    for (int r = 0; r < a.reps; ++r) pp += a.prompt_tokens / prefill();
    pp /= a.reps;
    pp_cpu = (cpu_s() - c0) / a.reps;
  }
  if (a.gen_tokens > 0) {
    decode();
    const double c0 = cpu_s();
    for (int r = 0; r < a.reps; ++r) tg += a.gen_tokens / decode();
    tg /= a.reps;
    tg_cpu = (cpu_s() - c0) / a.reps;
  }
  std::printf("model: %s | threads: %d | isa: %s | kv: %s | depth: %d | weights packed once: %.1f MiB\n",
              hp.name.c_str(), pool.size(), kernels::active_isa(), a.kv_dtype.c_str(), a.depth,
              static_cast<double>(kernels::prepacked_bytes()) / (1 << 20));
  if (a.depth > 0) std::printf("context d%d:  %8.1f tok/s (one forward, untimed in pp/tg)\n", a.depth, a.depth / depth_s);
  // CPU time per token is the steadier figure on a shared machine (wall time counts time spent descheduled).
  if (a.prompt_tokens > 0)
    std::printf("prefill pp%d@d%d: %8.1f tok/s  (%.2f ms CPU/token)\n", a.prompt_tokens, a.depth, pp,
                1e3 * pp_cpu / a.prompt_tokens);
  if (a.gen_tokens > 0)
    std::printf("decode  tg%d@d%d: %8.1f tok/s  (%.2f ms CPU/token)\n", a.gen_tokens, a.depth, tg,
                1e3 * tg_cpu / a.gen_tokens);
  if (a.json)
    std::printf("{\"model\": \"%s\", \"threads\": %d, \"isa\": \"%s\", \"kv_dtype\": \"%s\", \"depth\": %d, "
                "\"prefill_tokens\": %d, \"prefill_tok_s\": %.2f, \"decode_tokens\": %d, \"decode_tok_s\": %.2f}\n",
                hp.name.c_str(), pool.size(), kernels::active_isa(), a.kv_dtype.c_str(), a.depth, a.prompt_tokens, pp,
                a.gen_tokens, tg);
  return 0;
}
}  // namespace

void add_bench(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* sub = app.add_subcommand("bench", "Prefill and decode throughput (tok/s) on the model");
  sub->add_option("--precision", a->precision, "Matmul precision: f32 (default, exact) | mixed (float q/k/v and head, int8 rest) | int8 (fastest)")
      ->check(CLI::IsMember({"int8", "mixed", "f32"}));
  add_kv_dtype_option(sub, &a->kv_dtype);
  sub->add_option("-m,--model", a->model, "GGUF model file");
  sub->add_option("-t,--threads", a->threads, "Threads (default: all cores)");
  sub->add_option("-p,--prompt-tokens", a->prompt_tokens, "Prompt tokens for the prefill test (0: skip it)")
      ->check(CLI::Range(0, 16384));
  sub->add_option("-n,--gen-tokens", a->gen_tokens, "Tokens for the decode test (0: skip it)")->check(CLI::Range(0, 16384));
  sub->add_option("-d,--depth", a->depth, "Context tokens prefilled first (untimed); pp and tg run on top of them")
      ->check(CLI::Range(0, 32768));
  sub->add_option("-r,--reps", a->reps, "Repetitions (mean reported)")->check(CLI::Range(1, 100));
  sub->add_flag("--json", a->json, "Also print a JSON line with the figures");
  sub->callback([a, &exit_code] { exit_code = run_bench(*a); });
}

}  // namespace kvs::cli
