// Helpers shared by the CLI subcommands: loading the model and tokenizer with clear errors.
#pragma once
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "base/dtype.h"
#include "commands.h"
#include "model/model.h"
#include "gguf/gguf_file.h"
#include "tokenizer/chat_template.h"
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

// The chat template to render with: the file `override_path` (--chat-template) when given, else the GGUF's
// tokenizer.chat_template, compiled for the tokenizer's BOS/EOS texts. `*ok` false (error printed) when the
// file is unreadable or the template is not supported; null with *ok true when the model has none.
inline std::shared_ptr<const tok::ChatTemplate> load_chat_template_or_report(const gguf::GgufFile& file,
                                                                             const tok::Tokenizer& tokenizer,
                                                                             const std::string& override_path,
                                                                             bool* ok) {
  *ok = true;
  std::string source, origin;
  if (!override_path.empty()) {
    std::ifstream in(override_path, std::ios::binary);
    std::stringstream ss;
    if (!in || !(ss << in.rdbuf())) {
      std::fprintf(stderr, "error: cannot read the chat template %s\n", override_path.c_str());
      *ok = false;
      return nullptr;
    }
    source = ss.str();
    origin = override_path;
  } else {
    auto t = file.get_string("tokenizer.chat_template");
    if (!t.is_ok()) return nullptr;
    source = std::move(t).value();
    origin = "the model's tokenizer.chat_template";
  }
  auto compiled = tok::ChatTemplate::create(std::move(source), tok::chat_specials(tokenizer));
  if (!compiled.is_ok()) {
    std::fprintf(stderr, "error: %s: %s%s\n", origin.c_str(), compiled.status().message().c_str(),
                 override_path.empty() ? " (pass --chat-template FILE to use another template)" : "");
    *ok = false;
    return nullptr;
  }
  return std::make_shared<const tok::ChatTemplate>(std::move(compiled).value());
}

// `--kv-dtype f16|f32` (the KV cache's element type, default f16) on a subcommand; the value lands in *out.
inline CLI::Option* add_kv_dtype_option(CLI::App* sub, std::string* out) {
  return sub->add_option("--kv-dtype", *out, "KV cache element type: f16 (default, half the memory) | f32")
      ->check(CLI::IsMember({"f16", "f32"}));
}
inline DType kv_dtype_of(const std::string& s) { return s == "f32" ? DType::kF32 : DType::kF16; }

}  // namespace kvs::cli
