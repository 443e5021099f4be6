// `kvshare score`: a test/diagnostic tool. For each line {"ids": [...]} of a JSONL file, runs the prompt,
// writes the final position's logits (float32, n_vocab per prompt) to --logits-out and prints
// {"greedy": [...]} with the greedy continuation (EOS not special: always --greedy tokens).
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "cli_util.h"
#include "commands.h"
#include "engine/sampler.h"

namespace kvs::cli {

namespace {
struct ScoreArgs {
  std::string precision = "f32";
  std::string kv_dtype = "f16";
  std::string model, jsonl, logits_out;
  int greedy = 32, threads = 0;
};

int run_score(const ScoreArgs& a) {
  Loaded L = load_model_or_report(a.model, a.precision, /*need_tokenizer=*/false);
  if (!L.model) return 1;
  const auto& hp = L.model->hparams();
  std::ifstream in(a.jsonl);
  if (!in) {
    std::fprintf(stderr, "error: cannot open %s\n", a.jsonl.c_str());
    return 1;
  }
  std::FILE* lo = a.logits_out.empty() ? nullptr : std::fopen(a.logits_out.c_str(), "wb");
  if (!a.logits_out.empty() && !lo) {
    std::fprintf(stderr, "error: cannot write %s\n", a.logits_out.c_str());
    return 1;
  }
  ThreadPool pool(a.threads > 0 ? a.threads : ThreadPool::default_threads());
  std::string line;
  int rc = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("ids") || !j["ids"].is_array() || j["ids"].empty()) {
      std::printf("{\"error\": \"bad line\"}\n");
      rc = 2;
      continue;
    }
    std::vector<int32_t> ids = j["ids"].get<std::vector<int32_t>>();
    const int64_t n_ctx = static_cast<int64_t>(ids.size()) + a.greedy + 1, bs = 16, n_blocks = (n_ctx + bs - 1) / bs;
    kv::KvStorage kv(hp.n_layer, n_blocks, bs, hp.n_head_kv, hp.head_dim, kv_dtype_of(a.kv_dtype));
    std::vector<int32_t> blocks(n_blocks);
    std::iota(blocks.begin(), blocks.end(), 0);
    const model::SeqKvView view{blocks};
    model::UBatch ub;
    for (size_t i = 0; i < ids.size(); ++i) ub.add(ids[i], static_cast<int32_t>(i), 0, i + 1 == ids.size());
    std::vector<float> logits;
    Status s = L.model->forward(ub, std::span(&view, 1), kv, logits, &pool);
    if (!s.is_ok()) {
      std::printf("%s\n", nlohmann::json({{"error", s.to_string()}}).dump().c_str());
      rc = 2;
      continue;
    }
    if (lo) std::fwrite(logits.data(), sizeof(float), hp.n_vocab, lo);
    std::vector<int32_t> out;
    int32_t pos = static_cast<int32_t>(ids.size());
    for (int i = 0; i < a.greedy; ++i) {
      int32_t t = engine::argmax(logits);
      out.push_back(t);
      if (i + 1 == a.greedy) break;
      ub.clear();
      ub.add(t, pos++, 0, true);
      s = L.model->forward(ub, std::span(&view, 1), kv, logits, &pool);
      KVS_CHECK(s.is_ok());
    }
    std::printf("%s\n", nlohmann::json({{"greedy", out}}).dump().c_str());
    std::fflush(stdout);
  }
  if (lo) std::fclose(lo);
  return rc;
}
}  // namespace

void add_score(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ScoreArgs>();
  CLI::App* sub = app.add_subcommand("score", "Final logits and greedy continuations for token-id prompts (tests)");
  sub->add_option("--jsonl", a->jsonl, "Input: one {\"ids\": [...]} per line")->required();
  sub->add_option("--logits-out", a->logits_out, "Write final-position logits (float32, n_vocab per prompt)");
  sub->add_option("--greedy", a->greedy, "Greedy tokens to generate per prompt")->check(CLI::Range(1, 4096));
  sub->add_option("--precision", a->precision, "Matmul precision: f32 (default, exact) | mixed (float q/k/v and head, int8 rest) | int8 (fastest)")
      ->check(CLI::IsMember({"int8", "mixed", "f32"}));
  add_kv_dtype_option(sub, &a->kv_dtype);
  sub->add_option("-m,--model", a->model, "GGUF model file");
  sub->add_option("-t,--threads", a->threads, "Threads");
  sub->callback([a, &exit_code] { exit_code = run_score(*a); });
}

}  // namespace kvs::cli
