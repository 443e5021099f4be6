// Pre-tokenizer: splits text into the words that byte-level BPE merges within (never across).
//
// kGpt2 is GPT-2's pattern, written by hand (no regex engine):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// At each position the first alternative that matches wins (not the longest). "?" takes only U+0020.
// \p{L} = Lu Ll Lt Lm Lo, \p{N} = Nd Nl No (utf8proc categories), \s = Unicode White_Space.
// Marks (Mn, Mc, Me) are neither letters nor numbers, so "नमस्ते" splits at its vowel signs.
// \s+(?!\S): a whitespace run followed by a non-space gives its last character to the next word
// ("a   b" -> "a", "  ", " b"); a lone whitespace character before a non-space is a word by itself
// unless it is U+0020 and the next word takes it (" b").
//
// kLlama3 (tokenizer.ggml.pre "llama3", "llama-v3", "llama-bpe", "falcon3") and kQwen2 ("qwen2",
// "deepseek-r1-qwen") are llama.cpp's / the models' tokenizer.json patterns, also by hand:
//   (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// (Qwen2: \p{N} instead of \p{N}{1,3}: one digit per word). A letter run takes one leading character that is
// neither a newline, a letter nor a number (" the", "\tif", "(x"); digits go in groups of up to three from the
// left; punctuation runs take one leading U+0020 and trailing newlines; a whitespace run that contains
// newlines ends at its last newline.
//
// kGpt2SplitDigits first cuts out every \p{N} character as its own chunk, then applies kGpt2 within each
// chunk (lookahead stops at the chunk end). This is llama.cpp's pre-tokenizer for "smollm", "starcoder",
// "refact", ... and the original tokenizer.json's Sequence[Digits(individual), ByteLevel]. It differs from
// kGpt2 only where a whitespace run meets a digit: "a  1" -> "a", "  ", "1" instead of "a", " ", " 1".
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kvs::tok {

enum class PreTokenizerKind { kGpt2, kGpt2SplitDigits, kLlama3, kQwen2 };

// Which implementation's behaviour to reproduce where references disagree about a pre-tokenizer name.
enum class PreTokenizerCompat {
  kTransformers,  // transformers' GGUF loader: every GPT-2-style pre-type is plain kGpt2 (the test reference)
  kLlamaCpp,      // llama.cpp: per-pre-type patterns (digit splitting for "smollm", "starcoder", ...)
};

// Maps tokenizer.ggml.pre to a kind; Unsupported (naming the pre-type) for patterns not implemented here.
Result<PreTokenizerKind> pretokenizer_for(std::string_view pre_name, PreTokenizerCompat compat);

// Appends the words of `text` to `out` (views into `text`; together they cover it exactly, in order).
// REQUIRES: text is valid UTF-8.
void pretokenize(PreTokenizerKind kind, std::string_view text, std::vector<std::string_view>& out);

// Character classes used by the patterns (exposed for tests).
enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };
CharClass char_class(char32_t cp);

}  // namespace kvs::tok
