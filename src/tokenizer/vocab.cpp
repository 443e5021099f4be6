#include "tokenizer/vocab.h"

#include "gguf/gguf_file.h"

namespace kvs::tok {

Result<Vocab> Vocab::create(VocabData data) {
  const size_t n = data.tokens.size();
  if (n == 0) return invalid_argument("vocab has no tokens");
  if (n > static_cast<size_t>(INT32_MAX)) return invalid_argument("vocab too large");
  if (data.types.empty()) data.types.assign(n, TokenType::kNormal);
  if (data.scores.empty()) data.scores.assign(n, 0.0f);
  if (data.types.size() != n) {
    return invalid_argument("token_type has " + std::to_string(data.types.size()) + " entries for " +
                            std::to_string(n) + " tokens");
  }
  if (data.scores.size() != n) {
    return invalid_argument("scores has " + std::to_string(data.scores.size()) + " entries for " +
                            std::to_string(n) + " tokens");
  }
  for (size_t i = 0; i < n; ++i) {
    const auto t = static_cast<int32_t>(data.types[i]);
    if (t < 0 || t > static_cast<int32_t>(TokenType::kByte)) {
      return invalid_argument("token " + std::to_string(i) + " has unknown token_type " + std::to_string(t));
    }
  }
  const std::pair<const char*, int32_t*> specials[] = {{"bos", &data.bos}, {"eos", &data.eos},
                                                       {"unknown", &data.unk}, {"padding", &data.pad},
                                                       {"eot", &data.eot}, {"eom", &data.eom}};
  for (const auto& [name, id] : specials) {
    if (*id != kNoToken && (*id < 0 || static_cast<size_t>(*id) >= n)) {
      return invalid_argument(std::string(name) + "_token_id " + std::to_string(*id) + " out of range [0, " +
                              std::to_string(n) + ")");
    }
  }
  Vocab v;
  v.d_ = std::move(data);
  v.index_.reserve(n);
  for (size_t i = 0; i < n; ++i) v.index_.emplace(v.d_.tokens[i], static_cast<int32_t>(i));  // first wins
  return v;
}

int32_t Vocab::find(std::string_view text) const {
  auto it = index_.find(text);
  return it == index_.end() ? kNoToken : it->second;
}

namespace {

// Reads an optional integer token id: absent -> kNoToken.
Status read_id(const gguf::GgufFile& f, const char* key, int32_t* out) {
  if (!f.find(key)) return Status::ok();
  auto r = f.get_int(key);
  if (!r.is_ok()) return corrupt(std::string(key) + ": " + r.status().message());
  if (*r < 0 || *r > INT32_MAX) return corrupt(std::string(key) + " = " + std::to_string(*r) + " out of range");
  *out = static_cast<int32_t>(*r);
  return Status::ok();
}

Status read_bool(const gguf::GgufFile& f, const char* key, bool* out) {
  if (!f.find(key)) return Status::ok();
  auto r = f.get_bool(key);
  if (!r.is_ok()) return corrupt(std::string(key) + ": " + r.status().message());
  *out = *r;
  return Status::ok();
}

}  // namespace

Result<Vocab> Vocab::from_gguf(const gguf::GgufFile& f) {
  VocabData d;
  {
    auto r = f.get_string("tokenizer.ggml.model");
    if (!r.is_ok()) return Status(r.status().code(), "tokenizer.ggml.model: " + r.status().message());
    d.model = std::move(r).value();
  }
  if (f.find("tokenizer.ggml.pre")) {
    auto r = f.get_string("tokenizer.ggml.pre");
    if (!r.is_ok()) return corrupt("tokenizer.ggml.pre: " + r.status().message());
    d.pre = std::move(r).value();
  }
  {
    auto r = f.get_string_array("tokenizer.ggml.tokens");
    if (!r.is_ok()) return Status(r.status().code(), "tokenizer.ggml.tokens: " + r.status().message());
    d.tokens = std::move(r).value();
  }
  if (f.find("tokenizer.ggml.token_type")) {
    auto r = f.get_int_array("tokenizer.ggml.token_type");
    if (!r.is_ok()) return corrupt("tokenizer.ggml.token_type: " + r.status().message());
    d.types.reserve(r->size());
    for (int64_t t : *r) {
      if (t < 0 || t > static_cast<int64_t>(TokenType::kByte)) {
        return corrupt("tokenizer.ggml.token_type: unknown type " + std::to_string(t));
      }
      d.types.push_back(static_cast<TokenType>(t));
    }
  }
  if (f.find("tokenizer.ggml.scores")) {
    auto r = f.get_float_array("tokenizer.ggml.scores");
    if (!r.is_ok()) return corrupt("tokenizer.ggml.scores: " + r.status().message());
    d.scores.assign(r->begin(), r->end());
  }
  if (f.find("tokenizer.ggml.merges")) {
    auto r = f.get_string_array("tokenizer.ggml.merges");
    if (!r.is_ok()) return corrupt("tokenizer.ggml.merges: " + r.status().message());
    d.merges = std::move(r).value();
  }
  KVS_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.bos_token_id", &d.bos));
  KVS_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.eos_token_id", &d.eos));
  KVS_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.unknown_token_id", &d.unk));
  KVS_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.padding_token_id", &d.pad));
  KVS_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.eot_token_id", &d.eot));
  KVS_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.eom_token_id", &d.eom));
  KVS_RETURN_IF_ERROR(read_bool(f, "tokenizer.ggml.add_bos_token", &d.add_bos));
  KVS_RETURN_IF_ERROR(read_bool(f, "tokenizer.ggml.add_eos_token", &d.add_eos));
  KVS_RETURN_IF_ERROR(read_bool(f, "tokenizer.ggml.add_space_prefix", &d.add_space_prefix));
  auto v = create(std::move(d));
  if (!v.is_ok()) return corrupt("GGUF tokenizer: " + v.status().message());
  return v;
}

}  // namespace kvs::tok
