// Byte-level BPE (GPT-2): text -> pre-tokenizer words -> bytes -> merges -> ids.
//
// Byte-level alphabet: each byte b is written as one printable code point byte_to_unicode(b) so that token
// texts are printable strings: bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other 68
// bytes map in order to U+0100, U+0101, ... (space 0x20 -> U+0120 'Ġ', '\n' -> U+010A 'Ċ').
//
// Merging within one word (HF tokenizers' and llama.cpp's order): start from one symbol per byte; repeatedly
// merge the adjacent pair with the lowest merge rank, the leftmost such pair on ties, until no adjacent pair
// has a merge. A min-heap of candidate pairs keyed (rank, left position) makes this O(n log n) per word;
// stale heap entries are recognised by their recorded ids and skipped.
//
// Bytes without a one-byte token (SmolLM2 lacks 21, e.g. 0x04 and 0xF1) are dropped before merging, so their
// neighbours become adjacent and may merge ("!\x04!" -> "!!"), as HF tokenizers' BPE without unk_token does;
// such text does not survive decode(encode(text)).
//
// Merge table: "left right" at index r has rank r; stored as (id(left), id(right)) -> (r, id(left+right)).
// Merges whose parts or result are not tokens cannot fire on id symbols and are dropped at load.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_model.h"
#include "tokenizer/vocab.h"

namespace kvs::tok {

char32_t byte_to_unicode(uint8_t b);
// The byte a byte-level code point stands for, or -1 when cp is not in the alphabet.
int unicode_to_byte(char32_t cp);

class BpeModel final : public TokenizerModel {
 public:
  // Corrupt when a merge line is not "left right".
  static Result<std::unique_ptr<BpeModel>> create(const Vocab& vocab, PreTokenizerKind pre);

  void encode(std::string_view text, bool at_text_start, std::vector<int32_t>& out) const override;
  const std::string& piece(int32_t id) const override { return pieces_[static_cast<size_t>(id)]; }

  // Merges one word (no pre-tokenization), appending its ids. Exposed for tests.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  size_t n_merges() const { return n_merges_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;  // the merged token
  };
  // Open addressing, linear probing, power-of-two capacity, load <= 1/2 (the lookup is the hot loop).
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{};
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // never a key: ids are < 2^31
  static uint64_t key(int32_t l, int32_t r) { return (uint64_t(uint32_t(l)) << 32) | uint32_t(r); }
  size_t slot_of(uint64_t k) const { return (k * 0x9E3779B97F4A7C15ull) >> shift_; }
  const Merge* find_merge(int32_t l, int32_t r) const {
    const uint64_t k = key(l, r);
    for (size_t i = slot_of(k);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == k) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }
  void insert_merge(uint64_t k, Merge m);  // keeps an existing entry (the better rank)

  BpeModel() = default;
  PreTokenizerKind pre_ = PreTokenizerKind::kGpt2;
  std::array<int32_t, 256> byte_token_{};        // id of the one-byte token for each byte, or kNoToken
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t n_merges_ = 0;
  std::vector<std::string> pieces_;             // raw bytes per token id
};

}  // namespace kvs::tok
