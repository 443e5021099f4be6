#include "eval/report.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "eval/length_view.h"

namespace kvs::eval {

namespace {

namespace fs = std::filesystem;

nlohmann::json summary_json(const ModeSummary& s) {
  nlohmann::json j = {{"n", s.n},
                      {"hit_rate", s.hit_rate},
                      {"semantic_rate", s.semantic_rate},
                      {"fallbacks", s.fallbacks},
                      {"reuse_rate", s.reuse_rate},
                      {"prefill_saved", s.prefill_saved},
                      {"prompt_tokens", s.prompt_tokens},
                      {"reused_tokens", s.reused_tokens},
                      {"computed_prompt_tokens", s.computed_tokens},
                      {"ttft_p50_ms", s.ttft_p50},
                      {"ttft_p90_ms", s.ttft_p90},
                      {"ttft_mean_ms", s.ttft_mean},
                      {"rouge_l_vs_full", s.rouge_vs_full},
                      {"bleu_vs_full", s.bleu_vs_full},
                      {"first_token_agreement", s.first_token_agreement},
                      {"exact_match_rate", s.exact_match_rate},
                      {"rouge_l_vs_reference", s.rouge_vs_ref},
                      {"wall_s", s.wall_s}};
  if (s.miss_agreement >= 0) j["miss_agreement"] = s.miss_agreement;
  j["answer_tokens"] = s.answer_tokens;
  j["mean_logprob"] = s.mean_logprob;
  j["ppl_ratio_vs_full"] = s.ppl_ratio;  // NaN (n/a) is written as null
  j["n_first_dist"] = s.n_first_dist;
  j["first_token_kl"] = s.first_kl;
  j["first_token_top1"] = s.first_top1;
  j["lead_mean"] = s.lead_mean;
  nlohmann::json agree = nlohmann::json::object();
  for (const auto& [k, v] : s.agree_at) agree[std::to_string(k)] = v;
  j["agree_at"] = std::move(agree);
  return j;
}

// Every donor a request's KV came from, with the runs it lent ([src, dst, n] each).
nlohmann::json share_donors_json(const engine::ShareReport& s) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : s.donors) {
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& r : d.runs) runs.push_back({r.src, r.dst, r.n});
    out.push_back({{"donor_id", d.donor_id}, {"tokens", d.tokens}, {"runs", std::move(runs)}});
  }
  return out;
}

nlohmann::json row_json(const RequestOutcome& r) {
  const auto& u = r.usage;
  nlohmann::json j = {{"index", r.index},
                      {"text", r.text},
                      {"first_token", r.first_token},
                      {"completion_tokens", u.completion_tokens},
                      {"finish_reason", r.finish_reason},
                      {"prompt_tokens", u.prompt_tokens},
                      {"cached_tokens", u.cached_tokens},
                      {"computed_prompt_tokens", u.computed_prompt_tokens},
                      {"ttft_ms", r.ttft_ms},
                      {"embed_ms", u.embed_ms},
                      {"hit", r.hit},
                      {"share",
                       {{"mode", u.share.mode},
                        {"fell_back", u.share.fell_back},
                        {"donor_id", u.share.donor_id},
                        {"similarity", u.share.similarity},
                        {"retrieval", u.share.retrieval},
                        {"edit_script", u.share.edit_script},
                        {"reused_tokens", u.share.reused_tokens},
                        {"recomputed_tokens", u.share.recomputed_tokens},
                        {"deviation_median", u.share.deviation_median},
                        {"deviation_left", u.share.deviation_left},
                        {"deviation", u.share.deviation},
                        {"donors", share_donors_json(u.share)}}},
                      {"rouge_l_vs_full", r.rouge_vs_full},
                      {"bleu_vs_full", r.bleu_vs_full},
                      {"first_token_agrees", r.first_token_agrees},
                      {"exact_match", r.exact_match},
                      {"rouge_l_vs_reference", r.rouge_vs_ref},
                      {"tokens", r.tokens},
                      {"token_logprobs", r.token_logprobs},
                      {"answer_logprob", r.answer_logprob},
                      {"lead", r.lead}};
  if (r.first_compared) {
    j["first_token_kl"] = r.first_kl;
    j["first_token_top1"] = r.first_top1_agrees;
  }
  if (r.cache_hit || r.cache_similarity != 0) {
    j["cache_hit"] = r.cache_hit;
    j["cache_source"] = r.cache_source;
    j["cache_similarity"] = r.cache_similarity;
  }
  return j;
}

nlohmann::json mode_json(const ModeResult& m) {
  nlohmann::json j = summary_json(m.summary);
  j["name"] = m.spec.name;
  if (m.spec.recompute_ratio >= 0) j["recompute_ratio"] = m.spec.recompute_ratio;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : m.rows) rows.push_back(row_json(r));
  j["rows"] = std::move(rows);
  return j;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pct(double v) { return fmt("%.0f%%", 100.0 * v); }

// The settings of the -gradual / -adaptive modes, when the run has any.
std::string mode_settings(const EvalResult& r) {
  bool gradual = false, adaptive = false, fragments = false, runs = false;
  for (const auto& m : r.modes) {
    runs |= m.spec.runs;
    gradual |= m.spec.gradual;
    adaptive |= m.spec.adaptive;
    fragments |= m.spec.fragments;
  }
  std::string s;
  if (runs) s += " (run retrieval: a donor keeping >= " + fmt("%.2f", r.run_retrieval) + " of the prompt, no embedding)";
  if (gradual) s += " (gradual: refined at layer " + std::to_string(r.refine_layer) + " from " + fmt("%g", r.refine_widen) + "x)";
  if (adaptive)
    s += " (adaptive: deviation left <= " + fmt("%.3f", r.adaptive_residual) + ", at most " +
         fmt("%.2f", r.planner.adaptive_max_ratio) + " recomputed)";
  if (fragments) {
    s += " (fragments: ";
    s += r.planner.fragment_ratio < 0 ? std::string("r") : fmt("%.2f", r.planner.fragment_ratio);
    s += " of their candidates recomputed, none in the final gap within the last " + std::to_string(r.fragment_tail) +
         " tokens)";
  }
  return s;
}

// The fidelity table: one row per mode, then the sweep's.
void fidelity_table(std::ostringstream& s, const EvalResult& r) {
  s << "\n### Fidelity to full (answers teacher-forced under the exact model, f32)\n\n"
    << "| mode | answer tokens | mean log-lik. (nats/token) | PPL ratio vs full | first-token KL | top-1 agr. | "
       "lead tokens";
  const std::vector<std::pair<int32_t, double>>& ks = r.modes.front().summary.agree_at;
  for (const auto& [k, v] : ks) s << " | agree@" << k;
  s << " |\n|---|---:|---:|---:|---:|---:|---:";
  for (size_t i = 0; i < ks.size(); ++i) s << "|---:";
  s << "|\n";
  const auto row = [&](const ModeResult& m) {
    const auto& x = m.summary;
    s << "| " << m.spec.name << " | " << x.answer_tokens << " | " << fmt("%.4f", x.mean_logprob) << " | "
      << (std::isnan(x.ppl_ratio) ? std::string("n/a") : fmt("%.3f", x.ppl_ratio)) << " | ";
    if (x.n_first_dist == 0) {
      s << "n/a | n/a";
    } else {
      s << fmt("%.4f", x.first_kl) << " | " << pct(x.first_top1);
      if (x.n_first_dist < x.n) s << " (" << x.n_first_dist << " computed)";
    }
    s << " | " << fmt("%.1f", x.lead_mean);
    for (const auto& [k, v] : x.agree_at) s << " | " << pct(v);
    s << " |\n";
  };
  for (const auto& m : r.modes) row(m);
  for (const auto& m : r.sweep) row(m);
  s << "\nmean log-lik.: sum of the answers' token log-probabilities under the exact model / answer tokens. "
       "PPL ratio: exp(mean NLL of the mode - mean NLL of full), 1.000 = as likely as full's answers. "
       "first-token KL: KL(p_full || p_mode) of the first generated token, mean over requests; top-1: same argmax. "
       "response-cache: over its computed requests only (a hit has no distribution of its own). lead tokens: "
       "leading answer tokens equal to full's (identical answers count max_tokens); agree@k: share of requests "
       "whose first k tokens all match full's.\n";
}

std::string quote_gnuplot(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Runs `script` through gnuplot; false when it fails.
bool run_gnuplot(const std::string& gnuplot, const std::string& script, std::string* err) {
  // The script goes to gnuplot's stdin; its stdout is dropped, its warnings reach our stderr.
  std::FILE* p = popen(("'" + gnuplot + "' >/dev/null").c_str(), "w");
  if (!p) {
    *err = "cannot start gnuplot";
    return false;
  }
  std::fwrite(script.data(), 1, script.size(), p);
  const int rc = pclose(p);
  if (rc != 0) {
    *err = "gnuplot exited with status " + std::to_string(rc);
    return false;
  }
  return true;
}

std::string terminal_line(const std::string& gnuplot) {
  // pngcairo when this gnuplot has it (Debian's gnuplot-nox does), else the gd png terminal.
  std::FILE* p = popen(("'" + gnuplot + "' -e \"set terminal\" 2>&1").c_str(), "r");
  std::string text;
  if (p) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) text += buf;
    pclose(p);
  }
  return text.find("pngcairo") != std::string::npos ? "set terminal pngcairo size 960,540 font \",11\"\n"
                                                     : "set terminal png size 960,540\n";
}

// The Pareto plot (fidelity vs TTFT and vs reuse: one point per mode and swept r) and, when prompts span several
// length buckets, speedup and ROUGE-L against prompt length. False (err set) when gnuplot fails.
bool draw_extra(const std::string& gnuplot, const std::string& term, const EvalResult& r, const fs::path& dir,
                const std::string& base, ReportFiles& files, std::string* err) {
  {
    const fs::path png = dir / (base + "_pareto.png");
    std::ostringstream s;
    s << term << "set output " << quote_gnuplot(png.string()) << "\n$d << EOD\n";
    auto point = [&](const ModeResult& m) {
      s << quote_gnuplot(m.spec.name) << " " << m.summary.ttft_p50 << " " << m.summary.reuse_rate << " "
        << m.summary.rouge_vs_full << " " << m.summary.first_token_agreement << "\n";
    };
    for (const auto& m : r.modes) point(m);
    for (const auto& m : r.sweep) point(m);
    s << "EOD\nset multiplot layout 1,2 title "
      << quote_gnuplot("kvshare eval (" + r.workload + "): fidelity vs cost, one point per mode / r") << "\n"
      << "set grid\nset ylabel 'ROUGE-L vs full'\nset yrange [0:1.08]\nunset key\n"
      << "set xlabel 'TTFT p50 (ms)'\nset xrange [0:*]\n"
      << "plot $d using 2:4 with points pt 7 ps 1.3 lc rgb '#3b7dd8', '' using 2:4:1 with labels offset 0,0.8 "
         "font ',8'\n"
      << "set xlabel 'reuse rate'\nset xrange [0:1]\n"
      << "plot $d using 3:4 with points pt 7 ps 1.3 lc rgb '#59a14f', '' using 3:4:1 with labels offset 0,0.8 "
         "font ',8'\nunset multiplot\n";
    if (!run_gnuplot(gnuplot, s.str(), err)) return false;
    files.plots.push_back(png.string());
  }
  const std::vector<LengthBucket> v = length_view(r);
  if (v.size() < 2) return true;
  const fs::path png = dir / (base + "_length.png");
  std::ostringstream s;
  s << term << "set output " << quote_gnuplot(png.string()) << "\n";
  std::string plot_speed, plot_rouge;
  for (size_t m = 1; m < r.modes.size(); ++m) {
    s << "$m" << m << " << EOD\n";
    for (const LengthBucket& b : v)
      s << b.nominal << " " << b.cells[m].speedup << " " << b.cells[m].rouge_vs_full << "\n";
    s << "EOD\n";
    const std::string sep = plot_speed.empty() ? "" : ", ";
    plot_speed += sep + "$m" + std::to_string(m) + " using 1:2 with linespoints pt 7 title " +
                  quote_gnuplot(r.modes[m].spec.name);
    plot_rouge += sep + "$m" + std::to_string(m) + " using 1:3 with linespoints pt 7 title " +
                  quote_gnuplot(r.modes[m].spec.name);
  }
  if (plot_speed.empty()) return true;
  s << "set multiplot layout 1,2 title " << quote_gnuplot("kvshare eval (" + r.workload + "): by prompt length")
    << "\nset grid\nset logscale x 2\nset xlabel 'prompt tokens (bucket)'\nset xrange [280:4600]\n"
    << "set key top left\nset ylabel 'TTFT speedup vs full (x)'\nset yrange [0:*]\nplot " << plot_speed << "\n"
    << "set key bottom left\nset ylabel 'ROUGE-L vs full'\nset yrange [0:1.05]\nplot " << plot_rouge
    << "\nunset multiplot\n";
  if (!run_gnuplot(gnuplot, s.str(), err)) return false;
  files.plots.push_back(png.string());
  return true;
}

Status draw_plots(const EvalResult& r, const fs::path& dir, ReportFiles& files) {
  const std::string gnuplot = find_on_path("gnuplot");
  if (gnuplot.empty()) {
    files.plot_warning = "gnuplot not found on PATH: plots skipped (apt-get install gnuplot-nox)";
    return Status::ok();
  }
  const std::string term = terminal_line(gnuplot);
  const std::string base = "eval_" + r.workload;
  std::string err;
  {
    const fs::path png = dir / (base + "_ttft.png");
    std::ostringstream s;
    s << term << "set output " << quote_gnuplot(png.string()) << "\n$d << EOD\n";
    for (const auto& m : r.modes)
      s << quote_gnuplot(m.spec.name) << " " << m.summary.ttft_p50 << " " << m.summary.ttft_p90 << "\n";
    s << "EOD\n"
      << "set title " << quote_gnuplot("kvshare eval (" + r.workload + "): time to first token per mode") << "\n"
      << "set ylabel 'TTFT (ms)'\nset yrange [0:*]\nset grid ytics\nset key outside right top\n"
      << "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
      << "set boxwidth 0.9\n"
      << "plot $d using 2:xtic(1) title 'p50' lc rgb '#3b7dd8', '' using 3 title 'p90' lc rgb '#f28e2b'\n";
    if (!run_gnuplot(gnuplot, s.str(), &err)) {
      files.plot_warning = err;
      return Status::ok();
    }
    files.plots.push_back(png.string());
  }
  if (!r.sweep.empty()) {
    const fs::path png = dir / (base + "_sweep.png");
    std::ostringstream s;
    s << term << "set output " << quote_gnuplot(png.string()) << "\n$d << EOD\n";
    for (const auto& m : r.sweep)
      s << 100.0 * m.spec.recompute_ratio << " " << m.summary.rouge_vs_full << " " << m.summary.first_token_agreement
        << " " << m.summary.ttft_p50 << "\n";
    s << "EOD\n"
      << "set multiplot layout 1,2 title "
      << quote_gnuplot("kvshare eval (" + r.workload + "): forced semantic reuse, recompute ratio r") << "\n"
      << "set grid\nset xlabel 'r (% of reused tokens recomputed)'\nset xrange [-2:102]\n"
      << "set ylabel 'agreement with full'\nset yrange [0:1.05]\nset key bottom right\n"
      << "plot $d using 1:2 with linespoints pt 7 lc rgb '#3b7dd8' title 'ROUGE-L vs full', "
         "'' using 1:3 with linespoints pt 5 lc rgb '#59a14f' title 'first-token agreement'\n"
      << "set ylabel 'TTFT p50 (ms)'\nset yrange [0:*]\nset key top left\n"
      << "plot $d using 1:4 with linespoints pt 7 lc rgb '#f28e2b' title 'TTFT p50'\n"
      << "unset multiplot\n";
    if (!run_gnuplot(gnuplot, s.str(), &err)) {
      files.plot_warning = err;
      return Status::ok();
    }
    files.plots.push_back(png.string());
  }
  if (!draw_extra(gnuplot, term, r, dir, base, files, &err)) files.plot_warning = err;
  return Status::ok();
}

}  // namespace

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / name;
    if (access(p.c_str(), X_OK) == 0 && fs::is_regular_file(p)) return p.string();
  }
  return "";
}

nlohmann::json result_json(const EvalResult& r, const nlohmann::json& meta) {
  nlohmann::json j;
  j["workload"] = r.workload;
  j["split"] = r.split;
  j["n"] = r.requests.size();
  j["max_tokens"] = r.max_tokens;
  j["threads"] = r.n_threads;
  j["kv_cache_mib"] = r.kv_cache_mib;
  j["meta"] = meta;
  j["planner"] = {{"recompute_ratio", r.planner.recompute_ratio},
                  {"similarity_threshold", r.planner.similarity_threshold},
                  {"min_saving", r.planner.min_saving},
                  {"guard_threshold", r.planner.guard_threshold},
                  {"guard_quantile", r.planner.guard_quantile},
                  {"adaptive_residual", r.adaptive_residual},
                  {"adaptive_max_ratio", r.planner.adaptive_max_ratio},
                  {"refine_layer", r.refine_layer},
                  {"refine_widen", r.refine_widen},
                  {"fragment_ratio", r.planner.fragment_ratio},
                  {"fragment_tail", r.fragment_tail},
                  {"run_retrieval", r.run_retrieval}};
  j["common_prefix_tokens"] = r.common_prefix_tokens;
  j["definitions"] = {
      {"ttft", "ms from just before Engine::submit (embedding included) to the first token; response-cache hit: "
               "embedding + lookup"},
      {"hit", "reused more prompt tokens than common_prefix_tokens (template + system prompt shared by every "
              "request); response-cache: answered from the cache"},
      {"reuse_rate", "sum(reused prompt tokens) / sum(prompt tokens)"},
      {"prefill_saved", "1 - sum(prompt tokens computed through every layer) / sum(prompt tokens)"},
      {"rouge_l_vs_full", "mean ROUGE-L F1 (rouge-score, no stemming) of each answer against full's"},
      {"bleu_vs_full", "corpus BLEU (sacrebleu, 13a, smooth exp) against full's answers; per row: sentence BLEU"},
      {"first_token_agreement", "share of requests whose first sampled token id equals full's (EOS included)"},
      {"rouge_l_vs_reference", "mean ROUGE-L F1 against the MedQuAD answer (requests that have one)"},
      {"miss_agreement", "response-cache: share of computed (miss) answers identical to full's"},
      {"token_logprobs", "per row: log p(token_j | prompt_ids, tokens[0..j)) under the exact model (f32, "
                         "teacher-forced prefill of prompt + answer), nats; answer_logprob = their sum"},
      {"mean_logprob", "sum of answer_logprob over requests / answer_tokens (corpus mean, nats per token)"},
      {"ppl_ratio_vs_full", "exp(mean NLL of the mode - mean NLL of full); full: 1; null when n/a"},
      {"first_token_kl", "KL(p_full || p_mode) of the first generated token's distributions (softmax of the raw "
                         "logits, double), mean over the n_first_dist requests compared (response-cache: its "
                         "computed requests only)"},
      {"first_token_top1", "share of those requests whose first-token argmax equals full's"},
      {"lead_mean", "mean leading answer positions (< max_tokens) equal to full's, ended answers padded"},
      {"agree_at", "k -> share of requests whose first k answer positions all equal full's (k <= max_tokens)"},
      {"split", "the workload's part of the data by MedQuAD focus: all, tune or test (disjoint by focus)"}};
  nlohmann::json modes = nlohmann::json::object();
  nlohmann::json order = nlohmann::json::array();
  for (const auto& m : r.modes) {
    modes[m.spec.name] = mode_json(m);
    order.push_back(m.spec.name);
  }
  j["mode_order"] = std::move(order);
  j["modes"] = std::move(modes);
  nlohmann::json sweep = nlohmann::json::array();
  for (const auto& m : r.sweep) sweep.push_back(mode_json(m));
  j["sweep"] = std::move(sweep);
  nlohmann::json reqs = nlohmann::json::array();
  for (size_t i = 0; i < r.requests.size(); ++i) {
    const auto& q = r.requests[i];
    reqs.push_back({{"index", q.index},
                    {"key", q.key},
                    {"use", q.use},
                    {"question", q.question},
                    {"prompt_tokens", i < r.prompt_tokens.size() ? r.prompt_tokens[i] : 0},
                    {"prompt_ids", i < r.prompt_ids.size() ? r.prompt_ids[i] : std::vector<int32_t>{}},
                    {"has_reference", !q.reference.empty()}});
  }
  j["requests"] = std::move(reqs);
  return j;
}

std::string markdown_report(const EvalResult& r, const nlohmann::json& meta) {
  std::ostringstream s;
  int64_t total_prompt = 0;
  for (int64_t p : r.prompt_tokens) total_prompt += p;
  s << "## kvshare eval: " << r.workload << "\n\n"
    << r.requests.size() << " requests (mean prompt "
    << fmt("%.0f", r.requests.empty() ? 0.0 : static_cast<double>(total_prompt) / r.requests.size())
    << " tokens, shared template prefix " << r.common_prefix_tokens << " tokens), greedy, max_tokens "
    << r.max_tokens << ", sequential; planner r = " << fmt("%.2f", r.planner.recompute_ratio)
    << mode_settings(r)
    << ", similarity threshold " << fmt("%.2f", r.planner.similarity_threshold) << "; split " << r.split
    << (r.split == "all" ? "" : " (MedQuAD focus: tune and test are disjoint)");
  if (meta.contains("model")) s << "; model `" << meta["model"].get<std::string>() << "`";
  s << ".\n\n";
  s << "| mode | hit rate | semantic | reuse rate | prefill saved | TTFT p50 (ms) | TTFT p90 (ms) | ROUGE-L vs full "
       "| BLEU vs full | first-token agr. | exact match | ROUGE-L vs ref |\n"
    << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& m : r.modes) {
    const auto& x = m.summary;
    s << "| " << m.spec.name << " | " << pct(x.hit_rate) << " | " << pct(x.semantic_rate)
      << (x.fallbacks ? " (" + std::to_string(x.fallbacks) + " fell back)" : "") << " | " << pct(x.reuse_rate)
      << " | " << pct(x.prefill_saved) << " | " << fmt("%.1f", x.ttft_p50) << " | " << fmt("%.1f", x.ttft_p90)
      << " | " << fmt("%.3f", x.rouge_vs_full) << " | " << fmt("%.1f", x.bleu_vs_full) << " | "
      << pct(x.first_token_agreement) << " | " << pct(x.exact_match_rate) << " | " << fmt("%.3f", x.rouge_vs_ref)
      << " |\n";
  }
  if (!r.sweep.empty()) {
    s << "\n### Recompute-ratio sweep (semantic reuse forced: ShareMode::kSemantic)\n\n"
      << "| r | semantic | reuse rate | prefill saved | TTFT p50 (ms) | ROUGE-L vs full | BLEU vs full | "
         "first-token agr. | exact match |\n"
      << "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& m : r.sweep) {
      const auto& x = m.summary;
      s << "| " << fmt("%g%%", 100.0 * m.spec.recompute_ratio) << " | " << pct(x.semantic_rate) << " | "
        << pct(x.reuse_rate) << " | " << pct(x.prefill_saved) << " | " << fmt("%.1f", x.ttft_p50) << " | "
        << fmt("%.3f", x.rouge_vs_full) << " | " << fmt("%.1f", x.bleu_vs_full) << " | "
        << pct(x.first_token_agreement) << " | " << pct(x.exact_match_rate) << " |\n";
    }
  }
  s << "\nhit: reused more than the shared template prefix (response-cache: answered from the cache). "
       "semantic: share of requests served by semantic KV reuse. reuse rate: reused / all prompt tokens. "
       "prefill saved: 1 - prompt tokens computed through every layer / all prompt tokens. TTFT includes the "
       "embedding. Quality is measured against the `full` run's answers (ROUGE-L F1 mean, corpus BLEU 13a), "
       "ROUGE-L vs ref against the MedQuAD answer.\n";
  if (!r.modes.empty()) fidelity_table(s, r);
  s << length_table(r);
  return s.str();
}

Result<ReportFiles> write_report(const EvalResult& r, const nlohmann::json& meta, const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return io_error("cannot create " + out_dir + ": " + ec.message());
  ReportFiles files;
  const fs::path dir(out_dir);
  files.json = (dir / ("eval_" + r.workload + ".json")).string();
  files.markdown = (dir / ("eval_" + r.workload + ".md")).string();
  {
    std::ofstream f(files.json, std::ios::binary);
    f << result_json(r, meta).dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!f) return io_error("cannot write " + files.json);
  }
  {
    std::ofstream f(files.markdown, std::ios::binary);
    f << markdown_report(r, meta);
    if (!f) return io_error("cannot write " + files.markdown);
  }
  KVS_RETURN_IF_ERROR(draw_plots(r, dir, files));
  return files;
}

}  // namespace kvs::eval
