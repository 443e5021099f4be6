// Tokenizer: text <-> token ids for one model, built from its GGUF metadata.
//
//   encode: validate UTF-8 -> cut out special tokens (SpecialTokenMatcher) -> each plain fragment through
//           the TokenizerModel (byte-level BPE for tokenizer.ggml.model "gpt2", SentencePiece BPE for "llama")
//           -> ids.
//   decode: concatenate each id's raw bytes (token_to_piece).
//
// encode never adds BOS/EOS (add_bos() says whether the model wants one; the caller prepends it).
// All methods are const and thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/tokenizer_model.h"
#include "tokenizer/vocab.h"

namespace kvs::gguf { class GgufFile; }

namespace kvs::tok {

struct TokenizerOptions {
  // See pretokenizer.h: the default reproduces transformers' GGUF tokenizer (the project's reference).
  PreTokenizerCompat compat = PreTokenizerCompat::kTransformers;
};

class Tokenizer {
 public:
  // Unsupported for a tokenizer.ggml.model or tokenizer.ggml.pre not implemented; NotFound/Corrupt for
  // missing or malformed tokenizer keys.
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const gguf::GgufFile& file, const TokenizerOptions& opts = {});
  static Result<std::unique_ptr<Tokenizer>> from_vocab(Vocab vocab, const TokenizerOptions& opts = {});
  Tokenizer(const Tokenizer&) = delete;  // members point into vocab_
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Ids of `text`. With parse_special, control tokens written in the text ("<|im_start|>") become their ids;
  // user-defined tokens always do. InvalidArgument naming the byte offset when text is not valid UTF-8.
  Result<std::vector<int32_t>> encode(std::string_view text, bool parse_special = true) const;

  // Concatenated raw bytes of the tokens; control tokens render as their text. Invalid ids are skipped.
  std::string decode(std::span<const int32_t> ids) const;
  // Raw bytes of one token: may be an incomplete UTF-8 character (stream by buffering, see utf8.h).
  // Empty for an invalid id.
  std::string token_to_piece(int32_t id) const;

  int32_t n_vocab() const { return vocab_.n_tokens(); }
  int32_t bos() const { return vocab_.bos(); }
  int32_t eos() const { return vocab_.eos(); }
  bool add_bos() const { return vocab_.add_bos(); }
  // Prompt ids as the model expects them: BOS in front when the vocab asks for it (tokenizer.ggml.add_bos_token,
  // e.g. Gemma) and the ids do not start with it already (a chat template may render bos_token itself).
  void prepend_bos(std::vector<int32_t>& ids) const {
    if (add_bos() && vocab_.valid(bos()) && (ids.empty() || ids.front() != bos())) ids.insert(ids.begin(), bos());
  }
  // End of generation: eos, eot/eom when set, and the control tokens <|im_end|>, <|endoftext|>, <|eot_id|>,
  // <|end|>, <end_of_turn> when present.
  bool is_eog(int32_t id) const;
  bool is_control(int32_t id) const { return vocab_.valid(id) && vocab_.type(id) == TokenType::kControl; }
  // Id of the token whose text is exactly `piece` (as stored in the vocab, e.g. "Ġthe"), or kNoToken.
  int32_t token_id(std::string_view piece) const { return vocab_.find(piece); }
  const Vocab& vocab() const { return vocab_; }

 private:
  explicit Tokenizer(Vocab vocab) : vocab_(std::move(vocab)), specials_(vocab_) {}

  Vocab vocab_;  // declared first: specials_ and model_ point into it
  SpecialTokenMatcher specials_;
  std::unique_ptr<TokenizerModel> model_;
  std::vector<int32_t> eog_;  // sorted
};

}  // namespace kvs::tok
