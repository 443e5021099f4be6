// SpecialTokenMatcher: finds special tokens written literally in text, before any model sees it.
//
// Which tokens: control tokens (TokenType::kControl, e.g. "<|im_start|>") only when special parsing is on;
// user-defined tokens (kUserDefined, "added tokens") always, as llama.cpp and HF tokenizers do.
// How: scanning left to right, at the first position where some enabled token's text starts, take the
// longest such token (leftmost-longest, as HF's added-token matcher). Text between matches becomes plain
// fragments, tokenized separately, so pre-tokenizer lookahead never crosses a special token.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace kvs::tok {

struct Fragment {
  std::string_view text;  // plain text when id == kNoToken, else the special token's text
  int32_t id = kNoToken;
};

class SpecialTokenMatcher {
 public:
  explicit SpecialTokenMatcher(const Vocab& vocab);

  // Appends the fragments of `text` to `out`; plain fragments are never empty.
  void split(std::string_view text, bool parse_control, std::vector<Fragment>& out) const;

  size_t size() const { return n_; }

 private:
  struct Entry {
    std::string_view text;  // into the Vocab, which outlives the matcher
    int32_t id;
    bool control;
  };
  std::array<std::vector<Entry>, 256> by_first_byte_;  // each sorted longest first
  size_t n_ = 0;
};

}  // namespace kvs::tok
