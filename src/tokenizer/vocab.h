// Vocab: the token table of a model, read from GGUF metadata. Knows texts and ids, not how to split text.
//
// GGUF keys (llama.cpp convention):
//   tokenizer.ggml.model         string   "gpt2" (byte-level BPE) | "llama" (SentencePiece) | ...
//   tokenizer.ggml.pre           string   pre-tokenizer name ("smollm", "gpt-2", ...); absent = "default"
//   tokenizer.ggml.tokens        [string] token texts; id = index
//   tokenizer.ggml.token_type    [int32]  TokenType per token (optional; absent = all kNormal)
//   tokenizer.ggml.scores        [f32]    SentencePiece scores (optional)
//   tokenizer.ggml.merges        [string] BPE merges "left right", rank = index (byte-level BPE only)
//   tokenizer.ggml.{bos,eos,unknown,padding,eot,eom}_token_id   u32 (optional)
//   tokenizer.ggml.add_bos_token / add_eos_token                bool (optional)
//   tokenizer.ggml.add_space_prefix                             bool (optional; absent = true, SentencePiece only)
//
// Invariants after create(): types and scores have one entry per token; every special id is -1 or a valid
// id; find() maps a text to the lowest id carrying it.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace kvs::gguf { class GgufFile; }

namespace kvs::tok {

inline constexpr int32_t kNoToken = -1;

// llama.cpp's llama_token_type numbering, as stored in tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <|im_start|>, <|endoftext|>: matched in text only when special parsing is on
  kUserDefined = 4,  // added tokens: always matched in text
  kUnused = 5,
  kByte = 6,         // SentencePiece byte fallback <0xAB>
};

struct VocabData {
  std::string model;                // tokenizer.ggml.model
  std::string pre = "default";      // tokenizer.ggml.pre
  std::vector<std::string> tokens;
  std::vector<TokenType> types;     // empty = all kNormal
  std::vector<float> scores;        // empty = all 0
  std::vector<std::string> merges;  // "left right", best (lowest rank) first
  int32_t bos = kNoToken, eos = kNoToken, unk = kNoToken, pad = kNoToken, eot = kNoToken, eom = kNoToken;
  bool add_bos = false, add_eos = false;
  bool add_space_prefix = true;
};

class Vocab {
 public:
  // Validates `data` (sizes agree, ids in range, types known) and indexes the texts.
  static Result<Vocab> create(VocabData data);
  // Reads the keys above. NotFound/Corrupt name the offending key.
  static Result<Vocab> from_gguf(const gguf::GgufFile& file);

  const std::string& model() const { return d_.model; }
  const std::string& pre() const { return d_.pre; }
  int32_t n_tokens() const { return static_cast<int32_t>(d_.tokens.size()); }
  bool valid(int32_t id) const { return id >= 0 && id < n_tokens(); }
  // REQUIRES: valid(id).
  const std::string& text(int32_t id) const { return d_.tokens[static_cast<size_t>(id)]; }
  TokenType type(int32_t id) const { return d_.types[static_cast<size_t>(id)]; }
  float score(int32_t id) const { return d_.scores[static_cast<size_t>(id)]; }
  // Id of the token whose text is exactly `text`, or kNoToken.
  int32_t find(std::string_view text) const;
  const std::vector<std::string>& merges() const { return d_.merges; }

  int32_t bos() const { return d_.bos; }
  int32_t eos() const { return d_.eos; }
  int32_t unk() const { return d_.unk; }
  int32_t pad() const { return d_.pad; }
  int32_t eot() const { return d_.eot; }
  int32_t eom() const { return d_.eom; }
  bool add_bos() const { return d_.add_bos; }
  bool add_eos() const { return d_.add_eos; }
  bool add_space_prefix() const { return d_.add_space_prefix; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  VocabData d_;
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> index_;
};

}  // namespace kvs::tok
