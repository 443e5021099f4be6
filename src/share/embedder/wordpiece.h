// WordPiece: BERT's tokenizer, behaving as Hugging Face tokenizers' BertNormalizer + BertPreTokenizer +
// WordPiece model + the "[CLS] A [SEP]" template (the reference of tests/share/test_wordpiece.cpp and
// tests/python/test_embedder_ref.py).
//
// Pipeline, on Unicode code points:
//   0. special tokens ([CLS] [SEP] [UNK] [PAD] [MASK], as spelt in the vocabulary) written literally in the raw
//      text become their id (leftmost match); the text between them goes through steps 1-6 piece by piece
//   1. clean: drop U+0000, U+FFFD and "other" code points (Cc Cf Cs Co; not Cn) except \t \n \r; whitespace -> ' '
//   2. tokenize_chinese_chars: a space on each side of every CJK ideograph (is_cjk_ideograph())
//   3. strip_accents: canonical decomposition (NFD), then drop nonspacing marks (Mn)
//   4. do_lower_case: full lower-case mapping
//   5. words: split on whitespace; every punctuation character (ASCII punctuation or Unicode P*) is a word
//   6. each word: more than max_input_chars_per_word characters -> [UNK]; else greedy longest-match-first over
//      the vocabulary, the pieces after the first looked up with continuation_prefix ("##"); a word with a rest
//      that matches nothing becomes a single [UNK]
//   encode(): [CLS] + the first max_tokens - 2 pieces + [SEP]
//
// GGUF keys (written by scripts/convert_embedder.py):
//   tokenizer.ggml.model                 string   must be "wordpiece" (tokens spelt as in vocab.txt)
//   tokenizer.ggml.tokens                [string] id = index
//   tokenizer.ggml.bos_token_id          u32      [CLS]
//   tokenizer.ggml.seperator_token_id    u32      [SEP]  (llama.cpp's spelling)
//   tokenizer.ggml.unknown_token_id      u32      [UNK]
//   tokenizer.ggml.{padding,mask}_token_id        optional
//   tokenizer.wordpiece.{do_lower_case, strip_accents, tokenize_chinese_chars}  bool, optional (true)
//   tokenizer.wordpiece.max_input_chars_per_word  u32, optional (100)
//   tokenizer.wordpiece.continuation_prefix       string, optional ("##")
//
// Invariants after create(): cls, sep, unk are valid ids; pad and mask are valid or -1; every lookup of a text
// yields its lowest id. The object is immutable, so concurrent calls are safe.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace kvs::gguf { class GgufFile; }

namespace kvs::share {

struct WordPieceOptions {
  bool do_lower_case = true;
  bool strip_accents = true;         // Hugging Face's strip_accents=None means "= do_lower_case"
  bool tokenize_chinese_chars = true;
  bool match_special_tokens = true;  // step 0
  int32_t max_input_chars_per_word = 100;
  std::string continuation_prefix = "##";
};

struct WordPieceSpecials {
  int32_t cls = -1, sep = -1, unk = -1;
  int32_t pad = -1, mask = -1;  // optional
};

// True for the code points BERT pads with spaces (CJK Unified Ideographs and their extensions, compatibility
// ideographs), with tokenizers' ranges.
bool is_cjk_ideograph(char32_t cp);

class WordPiece {
 public:
  static Result<WordPiece> create(std::vector<std::string> tokens, WordPieceSpecials specials,
                                  WordPieceOptions options);
  static Result<WordPiece> from_gguf(const gguf::GgufFile& file);

  // Pieces of `text`, without [CLS]/[SEP]. InvalidArgument when `text` is not valid UTF-8.
  Result<std::vector<int32_t>> tokenize(std::string_view text) const;
  // [CLS] + the first max_tokens - 2 pieces of `text` + [SEP]. REQUIRES: max_tokens >= 2.
  Result<std::vector<int32_t>> encode(std::string_view text, int max_tokens) const;
  // Steps 1-5 on text without special tokens: the words, in UTF-8 (tests, debugging).
  Result<std::vector<std::string>> split_words(std::string_view text) const;

  int32_t n_tokens() const { return static_cast<int32_t>(tokens_.size()); }
  const std::string& token_text(int32_t id) const { return tokens_.at(static_cast<size_t>(id)); }
  int32_t find(std::string_view text) const;  // -1 when absent
  const WordPieceSpecials& specials() const { return specials_; }
  const WordPieceOptions& options() const { return options_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Index = std::unordered_map<std::string, int32_t, Hash, std::equal_to<>>;

  WordPiece() = default;
  void split_words_into(std::u32string_view segment, std::vector<std::u32string>& words) const;
  void append_pieces(std::u32string_view word, std::vector<int32_t>& out, std::string& scratch) const;
  void tokenize_segment(std::string_view segment, std::vector<int32_t>& out) const;

  std::vector<std::string> tokens_;
  Index whole_;         // token text -> lowest id (first piece of a word)
  Index continuation_;  // text after the continuation prefix -> lowest id (later pieces)
  std::vector<int32_t> matchable_specials_;  // step 0, in id order
  WordPieceSpecials specials_;
  WordPieceOptions options_;
};

}  // namespace kvs::share
