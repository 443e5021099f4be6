// TokenizerModel: the algorithm that turns plain text (no special tokens in it) into ids and ids back into
// bytes. One implementation per tokenizer.ggml.model: byte-level BPE ("gpt2") now; SentencePiece ("llama")
// is the next one. Tokenizer owns one and does what is common to all: UTF-8 validation and special tokens.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvs::tok {

class TokenizerModel {
 public:
  virtual ~TokenizerModel() = default;

  // Appends the ids of `text` to `out`. `text` is a fragment between special tokens.
  // `at_text_start` is true for the fragment that begins the caller's text (SentencePiece adds its space
  // prefix only there). REQUIRES: text is valid UTF-8. Thread-safe (const, no shared mutable state).
  virtual void encode(std::string_view text, bool at_text_start, std::vector<int32_t>& out) const = 0;

  // The raw bytes a token stands for (may be part of a UTF-8 character). REQUIRES: id is a valid token.
  virtual const std::string& piece(int32_t id) const = 0;
};

}  // namespace kvs::tok
