// `kvshare eval`: the evaluation of semantic KV sharing (src/eval/): one request stream played in several sharing
// modes on the real engine, scored against the full-prefill run.
//   kvshare eval --workload rag|paraphrase|growing [--split all|tune|test] [--n 200] [--max-tokens 48]
//                [--modes full,prefix,semantic,naive,response-cache] [--sweep|--no-sweep] [--sweep-r 0,5,...]
//                [--deviation kv|attn-v]   (modes may also name semantic-attn: semantic with attn-v)
//                [--out DIR] [--model PATH] [--chat-template FILE] [--embedder PATH] [--data PATH] [--threads N]
//                [--kv-mib MiB]
//       writes DIR/eval_<workload>.{json,md} and PNG plots, prints the Markdown tables to stdout; progress on
//       stderr. After the modes ran, every answer is teacher-forced under the exact model (f32; a second f32
//       copy of the model is loaded when --precision is not f32) for the fidelity table (src/eval/runner.h).
//       --split tune|test draws the stream from one part of the data, disjoint by MedQuAD focus (workload.h):
//       choose settings on tune, report on test.
//   kvshare eval --metrics-only FILE
//       FILE: JSON Lines of {"hyp": "...", "ref": "..."}; prints one JSON object with our ROUGE-L (per pair) and
//       BLEU (sentence BLEU per pair, corpus BLEU over all) — the hook tests/python/test_text_metrics.py uses to
//       cross-check src/eval/text_metrics against rouge-score and sacrebleu.
// Exit codes: 0 ok, 1 runtime error (model, embedder, engine), 2 bad input (flags, data file).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.h"
#include "commands.h"
#include "eval/eval_data.h"
#include "eval/progress.h"
#include "eval/report.h"
#include "eval/runner.h"
#include "eval/text_metrics.h"
#include "eval/workload.h"
#include "share/embedder/embedder.h"

#ifndef KVS_SOURCE_DIR
#define KVS_SOURCE_DIR ""
#endif

namespace kvs::cli {

namespace {

constexpr const char* kDefaultData = "data/medquad_eval.jsonl.gz";

struct EvalArgs {
  std::string precision = "f32", deviation = "kv", kv_dtype = "f16";
  int edit_window = engine::SharingDefaults::kEditWindow, edit_tail = engine::SharingDefaults::kEditTail;
  int repair_rows = engine::SharingDefaults::kRepairRows;
  std::string split = "all";
  std::string workload, modes = "full,prefix,semantic,semantic-runs-attn-edit-repair,naive,response-cache";
  std::string sweep_r = "0,5,10,15,20,30,50,100";
  std::string out = "eval_out", model, embedder, data, metrics_only, chat_template;
  int n = 200, max_tokens = 48, threads = 0, window = 4;
  std::string rag_passages = "1";  // rag: passages per prompt, "K" or "MIN-MAX"
  int64_t kv_mib = 1024;
  uint64_t seed = 20250214;
  bool sweep = true;
  double recompute_ratio = -1, similarity_threshold = -2;  // < 0 / < -1: the planner default
  double adaptive_residual = 0.02, adaptive_max_ratio = -1;  // -adaptive modes; < 0: the planner default
  double fragment_ratio = -1;                                 // -frag modes; < 0: r (the planner default)
  int fragment_tail = engine::SharingDefaults::kFragmentTail;  // -frag modes: FragmentCoverOptions::tail_guard
  double run_retrieval = engine::SharingDefaults::kRunRetrieval;  // -runs modes: EngineConfig::run_retrieval
  int refine_layer = 4;
  double refine_widen = 2.0;
};

// "K" or "MIN-MAX" (1 <= MIN <= MAX <= 8).
bool parse_passages(const std::string& s, int* lo, int* hi) {
  int a = 0, b = 0;
  char dash = 0, extra = 0;
  const int got = std::sscanf(s.c_str(), "%d%c%d%c", &a, &dash, &b, &extra);
  if (got == 1) b = a;
  else if (got != 3 || dash != '-') return false;
  if (a < 1 || b < a || b > 8) return false;
  *lo = a;
  *hi = b;
  return true;
}

// --data flag, else the committed file under the source tree this binary was built from, else ./data/.
std::string resolve_data_path(const std::string& flag) {
  namespace fs = std::filesystem;
  if (!flag.empty()) return flag;
  std::error_code ec;
  for (const fs::path& c : {fs::path(KVS_SOURCE_DIR) / kDefaultData, fs::path(kDefaultData)})
    if (!c.empty() && fs::is_regular_file(c, ec)) return c.string();
  return "";
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

int run_metrics_only(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "error: cannot open %s\n", path.c_str());
    return 2;
  }
  std::vector<std::string> hyps, refs;
  nlohmann::json pairs = nlohmann::json::array();
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("hyp") || !j.contains("ref") || !j["hyp"].is_string() ||
        !j["ref"].is_string()) {
      std::fprintf(stderr, "error: %s:%zu: expected {\"hyp\": string, \"ref\": string}\n", path.c_str(), line_no);
      return 2;
    }
    const std::string hyp = j["hyp"], ref = j["ref"];
    const auto rl = eval::rouge_l(hyp, ref);
    const auto sb = eval::sentence_bleu(hyp, ref);
    pairs.push_back({{"rouge_l", {{"precision", rl.precision}, {"recall", rl.recall}, {"f1", rl.f1}}},
                     {"sentence_bleu", sb.score},
                     {"hyp_13a", eval::tokenize_13a(hyp)},
                     {"ref_13a", eval::tokenize_13a(ref)}});
    hyps.push_back(hyp);
    refs.push_back(ref);
  }
  const auto cb = eval::corpus_bleu(hyps, refs);
  nlohmann::json out = {{"pairs", pairs},
                        {"corpus_bleu",
                         {{"score", cb.score},
                          {"precisions", cb.precisions},
                          {"bp", cb.bp},
                          {"hyp_len", cb.hyp_len},
                          {"ref_len", cb.ref_len}}}};
  std::printf("%s\n", dump(out).c_str());
  return 0;
}

// The workload's requests from the data file; 0, or the exit code after printing the error.
int make_requests(const EvalArgs& a, eval::WorkloadKind kind, std::string* data_path,
                  std::vector<eval::EvalRequest>* out) {
  *data_path = resolve_data_path(a.data);
  if (data_path->empty()) {
    std::fprintf(stderr, "error: no evaluation data; pass --data PATH (the project commits %s)\n", kDefaultData);
    return 2;
  }
  auto data = eval::load_eval_data(*data_path);
  if (!data.is_ok()) {
    std::fprintf(stderr, "error: %s\n", data.status().to_string().c_str());
    return 2;
  }
  eval::WorkloadOptions wo;
  eval::parse_split(a.split, &wo.split);  // checked by CLI11 (IsMember)
  wo.n = a.n;
  wo.seed = a.seed;
  wo.window = a.window;
  if (!parse_passages(a.rag_passages, &wo.rag_passages_min, &wo.rag_passages_max)) {
    std::fprintf(stderr, "error: --rag-passages must be K or MIN-MAX within 1-8, got '%s'\n", a.rag_passages.c_str());
    return 2;
  }
  auto requests = eval::make_workload(kind, data.value(), wo);
  if (!requests.is_ok()) {
    std::fprintf(stderr, "error: %s\n", requests.status().message().c_str());
    return 2;
  }
  *out = std::move(requests).value();
  return 0;
}

// The embedder (no pool of its own: the engine embeds on its pool, the response cache on one it owns); false
// after printing the error.
bool load_embedder(const std::string& flag, std::string* path, std::unique_ptr<share::Embedder>* out) {
  *path = resolve_embedder_path(flag);
  if (path->empty()) {
    std::fprintf(stderr, "error: modes semantic/naive/response-cache and the sweep need an embedder; pass "
                         "--embedder PATH or run scripts/fetch_embedder.sh\n");
    return false;
  }
  share::EmbedderOptions eo;
  eo.n_threads = 1;
  auto e = share::Embedder::load(*path, eo);
  if (!e.is_ok()) {
    std::fprintf(stderr, "error: cannot load embedder %s: %s\n", path->c_str(), e.status().to_string().c_str());
    return false;
  }
  *out = std::move(e).value();
  return true;
}

int run_eval(const EvalArgs& a) {
  eval::WorkloadKind kind;
  if (!eval::parse_workload(a.workload, &kind)) {
    std::fprintf(stderr, "error: --workload must be rag, paraphrase or growing\n");
    return 2;
  }
  auto modes = eval::parse_modes(a.modes);
  if (!modes.is_ok()) {
    std::fprintf(stderr, "error: --modes: %s\n", modes.status().message().c_str());
    return 2;
  }
  std::vector<double> sweep;
  if (a.sweep) {
    auto s = eval::parse_sweep(a.sweep_r);
    if (!s.is_ok()) {
      std::fprintf(stderr, "error: --sweep-r: %s\n", s.status().message().c_str());
      return 2;
    }
    sweep = std::move(s).value();
  }
  std::string data_path;
  std::vector<eval::EvalRequest> requests;
  if (int rc = make_requests(a, kind, &data_path, &requests); rc != 0) return rc;

  Loaded L = load_model_or_report(a.model, a.precision);
  if (!L.model) return 1;
  Loaded exact;  // the f32 model the answers are teacher-forced under, when the engine's is not f32
  if (a.precision != "f32") {
    exact = load_model_or_report(a.model, "f32");
    if (!exact.model) return 1;
  }
  bool need_embedder = !sweep.empty();
  for (const auto& m : modes.value()) need_embedder |= eval::mode_needs_embedder(m.kind);
  std::unique_ptr<share::Embedder> embedder;
  std::string embedder_path;
  if (need_embedder && !load_embedder(a.embedder, &embedder_path, &embedder)) return 1;

  eval::RunnerConfig rc;
  bool template_ok = true;
  rc.chat_template = load_chat_template_or_report(L.model->file(), *L.tokenizer, a.chat_template, &template_ok);
  if (!template_ok) return 2;
  if (!rc.chat_template) {
    std::fprintf(stderr, "error: the model has no chat template (tokenizer.chat_template); pass --chat-template FILE\n");
    return 2;
  }
  rc.max_tokens = a.max_tokens;
  rc.n_threads = a.threads;
  rc.kv_cache_mib = a.kv_mib;
  rc.kv_dtype = kv_dtype_of(a.kv_dtype);
  if (a.recompute_ratio >= 0) rc.planner.recompute_ratio = a.recompute_ratio;
  if (a.similarity_threshold >= -1) rc.planner.similarity_threshold = a.similarity_threshold;
  rc.adaptive_residual = a.adaptive_residual;
  rc.refine_layer = a.refine_layer;
  rc.refine_widen = a.refine_widen;
  if (a.adaptive_max_ratio >= 0) rc.planner.adaptive_max_ratio = a.adaptive_max_ratio;
  rc.planner.fragment_ratio = a.fragment_ratio;
  rc.fragment_tail = a.fragment_tail;
  rc.run_retrieval = a.run_retrieval;
  if (Status st = rc.planner.validate(); !st.is_ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 2;
  }
  share::parse_deviation_scorer(a.deviation, &rc.deviation);  // checked by CLI11 (IsMember)
  rc.edit_window = a.edit_window;
  rc.edit_tail = a.edit_tail;
  rc.repair_rows = a.repair_rows;
  rc.modes = modes.value();
  rc.sweep = sweep;
  const int64_t runs = static_cast<int64_t>(rc.modes.size() + rc.sweep.size());
  eval::Progress progress((runs + 1) * static_cast<int64_t>(requests.size()));  // + the likelihood phase
  eval::Runner runner(*L.model, *L.tokenizer, embedder.get(), rc, &progress);
  runner.set_exact_model(exact.model.get());
  auto result = runner.run(a.workload, requests);
  progress.finish();
  if (!result.is_ok()) {
    std::fprintf(stderr, "error: %s\n", result.status().to_string().c_str());
    return result.status().code() == Code::kInvalidArgument ? 2 : 1;
  }
  result->split = a.split;
  nlohmann::json meta = {{"model", resolve_model_path(a.model)},
                         {"embedder", embedder_path},
                         {"data", data_path},
                         {"seed", a.seed},
                         {"window", a.window},
                         {"rag_passages", a.rag_passages}};
  auto files = eval::write_report(result.value(), meta, a.out);
  if (!files.is_ok()) {
    std::fprintf(stderr, "error: %s\n", files.status().to_string().c_str());
    return 1;
  }
  if (!files->plot_warning.empty()) std::fprintf(stderr, "warning: %s\n", files->plot_warning.c_str());
  std::fprintf(stderr, "wrote %s, %s", files->json.c_str(), files->markdown.c_str());
  for (const auto& p : files->plots) std::fprintf(stderr, ", %s", p.c_str());
  std::fprintf(stderr, "\n");
  const std::string md = eval::markdown_report(result.value(), meta);
  std::fwrite(md.data(), 1, md.size(), stdout);
  return 0;
}

}  // namespace

void add_eval(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* sub = app.add_subcommand("eval", "Evaluate semantic KV sharing against full / prefix / naive / response cache");
  auto* w = sub->add_option("--workload", a->workload, "rag, paraphrase or growing (passages that extend and recombine)");
  sub->add_option("--split", a->split,
                  "Part of the data the stream is drawn from: all (default), tune or test (disjoint by MedQuAD focus, "
                  "about half each: tune settings on tune, report on test)")
      ->check(CLI::IsMember({"all", "tune", "test"}));
  sub->footer(
      "Fidelity (every mode, in the report's second table and the JSON): answers teacher-forced under the exact "
      "model (f32): mean token log-likelihood and perplexity ratio vs full = exp(mean NLL(mode) - mean NLL(full)); "
      "first-token KL(p_full || p_mode) and top-1 agreement (response-cache: computed requests only); leading "
      "tokens equal to full's and agree@k for k in 1,4,16,32,64 (k <= --max-tokens).");
  auto* mo = sub->add_option("--metrics-only", a->metrics_only,
                             "Only score {\"hyp\",\"ref\"} JSON lines from FILE (ROUGE-L, BLEU) and print JSON");
  w->excludes(mo);
  mo->excludes(w);
  sub->add_option("--n", a->n, "Requests in the stream")->check(CLI::Range(1, 100000));
  sub->add_option("--max-tokens", a->max_tokens, "Tokens generated per request")->check(CLI::Range(1, 4096));
  sub->add_option("--modes", a->modes,
                  "Comma-separated: full, prefix, naive, response-cache, semantic[-runs][-frag][-attn][-edit][-gradual]"
                  "[-adaptive][-repair|-bg] (e.g. semantic-edit-repair, semantic-frag-bg; full always runs; "
                  "semantic-runs-attn-edit-repair is what kvshare serve runs by default)");
  sub->add_flag("--sweep,!--no-sweep", a->sweep, "Run the recompute-ratio sweep (default on)");
  sub->add_option("--sweep-r", a->sweep_r, "Sweep values of r in percent, comma-separated");
  sub->add_option("--out", a->out, "Output folder (default eval_out/)");
  sub->add_option("--precision", a->precision, "Matmul precision: f32 (default, exact) | mixed (float q/k/v and head, int8 rest) | int8 (fastest)")
      ->check(CLI::IsMember({"int8", "mixed", "f32"}));
  sub->add_option("-m,--model", a->model, "GGUF model file (default: the SmolLM2 model under models/)");
  sub->add_option("--chat-template", a->chat_template,
                  "Jinja chat template file the prompts are rendered with (default: the model's tokenizer.chat_template)");
  sub->add_option("--embedder", a->embedder, "Embedder GGUF (default: $KVS_EMBEDDER, then models/)");
  sub->add_option("--data", a->data, std::string("Evaluation data (default: ") + kDefaultData + ")");
  sub->add_option("-t,--threads", a->threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  sub->add_option("--kv-mib", a->kv_mib, "KV cache per engine in MiB")->check(CLI::Range(16, 1 << 20));
  add_kv_dtype_option(sub, &a->kv_dtype);
  sub->add_option("--seed", a->seed, "Workload seed");
  sub->add_option("--rag-passages", a->rag_passages,
                  "rag: passages per prompt, K or MIN-MAX (default 1; 2-4 gives 800-2,000-token prompts, 1-4 spans "
                  "every length for the by-length table)");
  sub->add_option("--window", a->window, "Groups / passages in flight in the stream")->check(CLI::Range(1, 1000));
  sub->add_option("--recompute-ratio", a->recompute_ratio, "Planner r for the semantic mode (default 0.15)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--deviation", a->deviation,
                  "Deviation scorer of semantic and the sweep: kv (CacheBlend, default) or attn-v (the mode "
                  "semantic-attn always uses attn-v)")
      ->check(CLI::IsMember({"kv", "attn-v"}));
  sub->add_option("--edit-window", a->edit_window, "semantic-edit*: reused tokens recomputed after each edit (default 2)")
      ->check(CLI::Range(0, 4096));
  sub->add_option("--edit-tail", a->edit_tail, "semantic-edit*: last prompt tokens recomputed (default 6)")
      ->check(CLI::Range(0, 4096));
  sub->add_option("--repair-rows", a->repair_rows, "semantic-*repair: decode-stage repair rows per step (default 64)")
      ->check(CLI::Range(1, 1 << 16));
  sub->add_option("--adaptive-residual", a->adaptive_residual,
                  "semantic-*adaptive* modes: recompute until the mean relative deviation left is <= this, else fall "
                  "back to full (default 0.02)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--refine-layer", a->refine_layer,
                  "semantic-*gradual* modes: the later layer that filters the first selection (default 4)")
      ->check(CLI::Range(2, 1024));
  sub->add_option("--refine-widen", a->refine_widen,
                  "semantic-*gradual* modes: candidates kept at the blend layer, as a multiple of k (default 2)")
      ->check(CLI::Range(1.0, 64.0));
  sub->add_option("--adaptive-max-ratio", a->adaptive_max_ratio, "Adaptive budget: the most candidates recomputed "
                  "before falling back (default 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--fragment-ratio", a->fragment_ratio, "semantic-frag* modes: share of the reused tokens inside "
                  "fragment runs recomputed by deviation, ranked apart from the own donor's (default: r, one ranking)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--fragment-tail", a->fragment_tail, "semantic-frag* modes: fragments never fill the prompt's final "
                  "gap (after the best donor's last run) within this many last tokens (default 512, as serve)")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("--run-retrieval", a->run_retrieval, "semantic-runs* modes: a donor found by the token runs it "
                  "shares with the prompt is taken without embedding when it keeps this share of the prompt "
                  "(default 0.7, as serve)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--similarity-threshold", a->similarity_threshold,
                  "Donor similarity threshold for semantic and response-cache (default 0.80)")
      ->check(CLI::Range(-1.0, 1.0));
  sub->callback([a, w, mo, &exit_code] {
    if (mo->count() > 0) {
      exit_code = run_metrics_only(a->metrics_only);
      return;
    }
    if (w->count() == 0) {
      std::fprintf(stderr, "error: eval needs --workload rag|paraphrase (or --metrics-only FILE)\n");
      exit_code = 2;
      return;
    }
    exit_code = run_eval(*a);
  });
}

}  // namespace kvs::cli
