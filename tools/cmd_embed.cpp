// `kvshare embed`: sentence embeddings with the BERT-family embedder (src/share/embedder).
//   kvshare embed -p TEXT [--embedder PATH]       prints the embedding as a JSON array of floats on one line
//   kvshare embed --jsonl FILE [--embedder PATH]  FILE holds one JSON string per line; prints one line per input
//       line: the embedding (JSON array), or {"error": "..."} for a line that is not a JSON string / not UTF-8
//   --ids        print the WordPiece ids ([CLS] ... [SEP], JSON array of ints) instead of embeddings
//   --one-by-one with --jsonl: one forward per line instead of packed batches (per-text latency in --stats)
//   --repeat N   with -p: embed N times (timing; prints the embedding once)
//   --stats      counts and timings to stderr
// Exit codes: 0 ok, 1 embedder missing or unreadable, 2 bad input (-p not UTF-8, unreadable FILE).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "share/embedder/embedder.h"


namespace kvs::cli {

namespace {

struct EmbedArgs {
  std::string prompt, jsonl, embedder;
  int threads = 0, repeat = 1;
  bool ids = false, one_by_one = false, stats = false;
};

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int run_jsonl(const share::Embedder& e, const EmbedArgs& a) {
  std::ifstream in(a.jsonl, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "error: cannot open %s\n", a.jsonl.c_str());
    return 2;
  }
  // Each line: a text to embed, or the error to print in its place.
  std::vector<std::string> texts;     // (texts) the lines that parsed
  std::vector<size_t> text_line;      // (texts) index of the line each text came from
  std::vector<nlohmann::json> lines;  // (lines) result per line
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_string()) {
      lines.push_back({{"error", "line " + std::to_string(lines.size() + 1) + " is not a JSON string"}});
      continue;
    }
    text_line.push_back(lines.size());
    texts.push_back(parsed.get<std::string>());
    lines.emplace_back();
  }
  size_t n_tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < texts.size(); ++i) {  // validates every text (and gives the ids for --ids)
    auto ids = e.tokenize(texts[i]);
    if (!ids.is_ok()) {
      lines[text_line[i]] = {{"error", ids.status().to_string()}};
      continue;
    }
    n_tokens += ids->size();
    if (a.ids) lines[text_line[i]] = ids.value();
  }
  if (!a.ids) {
    std::vector<std::string> ok_texts;  // (valid texts)
    std::vector<size_t> ok_line;        // (valid texts) their line
    for (size_t i = 0; i < texts.size(); ++i) {
      if (lines[text_line[i]].is_null()) {
        ok_texts.push_back(std::move(texts[i]));
        ok_line.push_back(text_line[i]);
      }
    }
    if (a.one_by_one) {
      for (size_t i = 0; i < ok_texts.size(); ++i) {
        auto v = e.embed(ok_texts[i]);
        lines[ok_line[i]] = v.is_ok() ? nlohmann::json(v.value()) : nlohmann::json{{"error", v.status().to_string()}};
      }
    } else {
      auto vs = e.embed_batch(ok_texts);
      for (size_t i = 0; i < ok_texts.size(); ++i)
        lines[ok_line[i]] = vs.is_ok() ? nlohmann::json(vs.value()[i]) : nlohmann::json{{"error", vs.status().to_string()}};
    }
  }
  const double ms = ms_since(t0);
  std::string out;
  size_t n_errors = 0;
  for (const auto& r : lines) {
    if (r.is_object() && r.contains("error")) ++n_errors;
    out += dump(r);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (a.stats) {
    const double per = texts.empty() ? 0.0 : ms / static_cast<double>(texts.size());
    std::fprintf(stderr, "[%zu lines, %zu tokens, %zu errors, %s %.1f ms, %.3f ms/text]\n", lines.size(), n_tokens,
                 n_errors, a.ids ? "tokenize" : (a.one_by_one ? "embed one by one" : "embed batched"), ms, per);
  }
  return 0;
}

int run_embed(const EmbedArgs& a) {
  const std::string path = resolve_embedder_path(a.embedder);
  if (path.empty()) {
    std::fprintf(stderr, "error: no embedder found; pass --embedder PATH or run scripts/fetch_embedder.sh\n");
    return 1;
  }
  share::EmbedderOptions opt;
  opt.n_threads = a.threads;
  auto e = share::Embedder::load(path, opt);
  if (!e.is_ok()) {
    std::fprintf(stderr, "error: cannot load embedder %s: %s\n", path.c_str(), e.status().to_string().c_str());
    return 1;
  }
  const share::Embedder& emb = *e.value();
  if (!a.jsonl.empty()) return run_jsonl(emb, a);

  auto ids = emb.tokenize(a.prompt);
  if (!ids.is_ok()) {
    std::fprintf(stderr, "error: bad text: %s\n", ids.status().to_string().c_str());
    return 2;
  }
  if (a.ids) {
    std::printf("%s\n", dump(ids.value()).c_str());
    return 0;
  }
  std::vector<float> v;       // (dim)
  std::vector<double> times;  // (repeat) ms per call
  for (int r = 0; r < std::max(1, a.repeat); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto got = emb.embed(a.prompt);
    times.push_back(ms_since(t0));
    if (!got.is_ok()) {
      std::fprintf(stderr, "error: %s\n", got.status().to_string().c_str());
      return 1;
    }
    v = std::move(got).value();
  }
  std::printf("%s\n", dump(v).c_str());
  if (a.stats) {
    std::sort(times.begin(), times.end());
    std::fprintf(stderr, "[%s: %zu tokens, dim %d, %zu runs: min %.3f ms, median %.3f ms]\n", emb.name().c_str(),
                 ids->size(), emb.dim(), times.size(), times.front(), times[times.size() / 2]);
  }
  return 0;
}

}  // namespace

void add_embed(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<EmbedArgs>();
  CLI::App* sub = app.add_subcommand("embed", "Print sentence embeddings (JSON arrays of floats)");
  auto* p = sub->add_option("-p,--prompt", a->prompt, "Text to embed");
  auto* j = sub->add_option("--jsonl", a->jsonl, "File with one JSON string per line; prints one JSON line per line");
  p->excludes(j);
  j->excludes(p);
  sub->add_option("--embedder", a->embedder, "Embedder GGUF (default: $KVS_EMBEDDER, then models/all-MiniLM-L6-v2.gguf)");
  sub->add_option("-t,--threads", a->threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  sub->add_flag("--ids", a->ids, "Print the WordPiece token ids instead of embeddings");
  sub->add_flag("--one-by-one", a->one_by_one, "With --jsonl: one forward per text instead of packed batches");
  sub->add_option("--repeat", a->repeat, "With -p: embed N times (timing)")->check(CLI::PositiveNumber);
  sub->add_flag("--stats", a->stats, "Print counts and timings to stderr");
  sub->callback([a, p, j, &exit_code] {
    if (p->count() == 0 && j->count() == 0) {
      std::fprintf(stderr, "error: embed needs -p TEXT or --jsonl FILE\n");
      exit_code = 2;
      return;
    }
    exit_code = run_embed(*a);
  });
}

}  // namespace kvs::cli
