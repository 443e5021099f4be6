// Helpers shared by the CLI subcommands: loading the model and tokenizer with clear errors.
#pragma once
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace kvs::cli {

struct Loaded {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tok::Tokenizer> tokenizer;
};

// Prints the error to stderr and returns nullopt-like empty Loaded (model == nullptr) on failure.
// precision: "int8", "mixed" or "f32" (default; see model::Precision).
// need_tokenizer = false (commands fed token ids: score, bench): a tokenizer this build cannot load is no error
// (Loaded::tokenizer stays null).
inline Loaded load_model_or_report(const std::string& model_flag, const std::string& precision = "f32",
                                   bool need_tokenizer = true) {
  Loaded out;
  std::string path = resolve_model_path(model_flag);
  if (path.empty()) {
    std::fprintf(stderr, "error: no model found; pass --model PATH or run scripts/fetch_model.sh\n");
    return out;
  }
  auto m = model::Model::load(path);
  if (!m.is_ok()) {
    std::fprintf(stderr, "error: cannot load model %s: %s\n", path.c_str(), m.status().to_string().c_str());
    return out;
  }
  auto t = tok::Tokenizer::from_gguf(m.value()->file());
  if (!t.is_ok() && need_tokenizer) {
    std::fprintf(stderr, "error: cannot load tokenizer from %s: %s\n", path.c_str(), t.status().to_string().c_str());
    return out;
  }
  model::Precision prec;
  if (!model::parse_precision(precision, &prec)) {
    std::fprintf(stderr, "error: --precision must be int8, mixed or f32, not '%s'\n", precision.c_str());
    return out;
  }
  m.value()->set_precision(prec);
  out.model = std::move(m).value();
  if (t.is_ok()) out.tokenizer = std::move(t).value();
  return out;
}

}  // namespace kvs::cli
