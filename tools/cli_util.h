// Helpers shared by the CLI subcommands: loading the model and tokenizer with clear errors.
#pragma once
#include <cstdio>
#include <memory>
#include <string>

#include "base/dtype.h"
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
inline Loaded load_model_or_report(const std::string& model_flag, const std::string& precision = "f32") {
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
  if (!t.is_ok()) {
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
  out.tokenizer = std::move(t).value();
  return out;
}

// `--kv-dtype f16|f32` (the KV cache's element type, default f16) on a subcommand; the value lands in *out.
inline CLI::Option* add_kv_dtype_option(CLI::App* sub, std::string* out) {
  return sub->add_option("--kv-dtype", *out, "KV cache element type: f16 (default, half the memory) | f32")
      ->check(CLI::IsMember({"f16", "f32"}));
}
inline DType kv_dtype_of(const std::string& s) { return s == "f32" ? DType::kF32 : DType::kF16; }

}  // namespace kvs::cli
