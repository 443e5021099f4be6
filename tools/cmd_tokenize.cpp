// `kvshare tokenize`: text -> token ids with the model's tokenizer.
//   kvshare tokenize -p TEXT [--model PATH] [--no-special]   prints the ids as a JSON array on one line
//   kvshare tokenize --jsonl FILE [--model PATH] [--no-special]
//       FILE holds one JSON string per line; prints one line per input line:
//       {"ids": [...], "decoded": "..."} or {"error": "..."}  (used by tests/python/test_tokenizer_ref.py)
//   kvshare tokenize --split PRE --jsonl FILE
//       no model: prints {"words": [...]} per line, the pre-tokenizer tokenizer.ggml.pre = PRE's split (as llama.cpp
//       names them; used by tests/python/test_pretokenizer_ref.py against Python's `regex`)
// Exit codes: 0 ok, 1 model missing or unreadable, 2 bad input (invalid UTF-8 in -p, unreadable FILE, unknown PRE).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "gguf/gguf_file.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace kvs::cli {

namespace {

struct TokenizeArgs {
  std::string prompt, jsonl, model, split;
  bool no_special = false;
  bool stats = false;
};

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

int run_split(const TokenizeArgs& a) {
  auto kind = tok::pretokenizer_for(a.split, tok::PreTokenizerCompat::kLlamaCpp);
  if (!kind.is_ok()) {
    std::fprintf(stderr, "error: %s\n", kind.status().message().c_str());
    return 2;
  }
  std::ifstream in(a.jsonl, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "error: cannot open %s\n", a.jsonl.c_str());
    return 2;
  }
  std::string line, out;
  std::vector<std::string_view> words;
  while (std::getline(in, line)) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false), result;
    if (parsed.is_discarded() || !parsed.is_string()) {
      result["error"] = "not a JSON string";
    } else if (auto v = tok::validate_utf8(parsed.get_ref<const std::string&>()); !v.is_ok()) {
      result["error"] = v.to_string();
    } else {
      words.clear();
      tok::pretokenize(kind.value(), parsed.get_ref<const std::string&>(), words);
      result["words"] = nlohmann::json::array();
      for (std::string_view w : words) result["words"].push_back(std::string(w));
    }
    out += dump(result);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int run_jsonl(const tok::Tokenizer& t, const TokenizeArgs& a) {
  std::ifstream in(a.jsonl, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "error: cannot open %s\n", a.jsonl.c_str());
    return 2;
  }
  std::string line, out;
  size_t n_lines = 0, n_tokens = 0, n_errors = 0;
  double encode_ms = 0;
  while (std::getline(in, line)) {
    ++n_lines;
    nlohmann::json result;
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_string()) {
      result["error"] = "line " + std::to_string(n_lines) + " is not a JSON string";
    } else {
      const auto& text = parsed.get_ref<const std::string&>();
      const auto t0 = std::chrono::steady_clock::now();
      auto ids = t.encode(text, !a.no_special);
      encode_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!ids.is_ok()) {
        result["error"] = ids.status().to_string();
      } else {
        n_tokens += ids->size();
        result["ids"] = ids.value();
        result["decoded"] = t.decode(ids.value());
      }
    }
    if (result.contains("error")) ++n_errors;
    out += dump(result);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (a.stats) {
    std::fprintf(stderr, "[%zu lines, %zu tokens, %zu errors, encode %.1f ms]\n", n_lines, n_tokens, n_errors,
                 encode_ms);
  }
  return 0;
}

int run_tokenize(const TokenizeArgs& a) {
  if (!a.split.empty()) return run_split(a);
  const std::string path = resolve_model_path(a.model);
  if (path.empty()) {
    std::fprintf(stderr, "error: no model found; pass --model PATH or run scripts/fetch_model.sh\n");
    return 1;
  }
  auto file = gguf::GgufFile::open(path);
  if (!file.is_ok()) {
    std::fprintf(stderr, "error: cannot read model %s: %s\n", path.c_str(), file.status().to_string().c_str());
    return 1;
  }
  auto t = tok::Tokenizer::from_gguf(*file.value());
  if (!t.is_ok()) {
    std::fprintf(stderr, "error: cannot load tokenizer from %s: %s\n", path.c_str(), t.status().to_string().c_str());
    return 1;
  }
  if (!a.jsonl.empty()) return run_jsonl(*t.value(), a);
  auto ids = t.value()->encode(a.prompt, !a.no_special);
  if (!ids.is_ok()) {
    std::fprintf(stderr, "error: bad prompt: %s\n", ids.status().to_string().c_str());
    return 2;
  }
  std::printf("%s\n", dump(ids.value()).c_str());
  return 0;
}

}  // namespace

void add_tokenize(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<TokenizeArgs>();
  CLI::App* sub = app.add_subcommand("tokenize", "Print the token ids of a text (JSON)");
  auto* p = sub->add_option("-p,--prompt", a->prompt, "Text to tokenize");
  auto* j = sub->add_option("--jsonl", a->jsonl, "File with one JSON string per line; prints one JSON object per line");
  p->excludes(j);
  j->excludes(p);
  sub->add_option("-m,--model", a->model, "GGUF model (default: $KVS_MODEL, then models/)");
  sub->add_flag("--no-special", a->no_special, "Do not turn control-token text like <|im_start|> into its id");
  sub->add_flag("--stats", a->stats, "With --jsonl: print counts and encode time to stderr");
  sub->add_option("--split", a->split, "With --jsonl, no model: print the words of pre-tokenizer PRE (tokenizer.ggml.pre name)");
  sub->callback([a, p, j, &exit_code] {
    if (p->count() == 0 && j->count() == 0) {
      std::fprintf(stderr, "error: tokenize needs -p TEXT or --jsonl FILE\n");
      exit_code = 2;
      return;
    }
    exit_code = run_tokenize(*a);
  });
}

}  // namespace kvs::cli
