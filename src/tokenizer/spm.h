// SentencePiece BPE (tokenizer.ggml.model "llama": Llama 2, Gemma): text -> "▁"-escaped text -> score merges
// -> ids, with byte fallback. The algorithm of sentencepiece's bpe_model.cc (and llama.cpp's
// llm_tokenizer_spm):
//
//   1. Normalise: every U+0020 becomes U+2581 "▁"; with add_space_prefix (tokenizer.ggml.add_space_prefix,
//      absent = true as in llama.cpp) a "▁" is prepended to the fragment that begins the caller's text.
//   2. Start from one symbol per UTF-8 character.
//   3. Repeatedly merge the adjacent pair whose concatenation is a mergeable piece with the highest score
//      (the leftmost pair on ties), until no adjacent pair forms one. A max-heap of candidate pairs keyed
//      (score, -left position); entries made stale by an earlier merge are recognised by their byte length.
//   4. Each final symbol is its piece's id; a symbol that is no piece (only single characters can be) becomes
//      one <0xXX> byte token per UTF-8 byte (byte fallback), or the unknown token when the vocab has no byte
//      tokens.
//
// Mergeable pieces are the kNormal tokens (sentencepiece's NORMAL; its USER_DEFINED pieces are cut out
// before the model runs, by SpecialTokenMatcher, and CONTROL / BYTE / UNKNOWN pieces never come out of a
// merge: typing "<eos>" or "<0x41>" gives ordinary pieces).
//
// piece(id): normal tokens with "▁" turned back into spaces; <0xXX> tokens their byte; the others their text.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "tokenizer/tokenizer_model.h"
#include "tokenizer/vocab.h"

namespace kvs::tok {

class SpmModel final : public TokenizerModel {
 public:
  // Invalid when the vocab has neither byte tokens nor an unknown token (some characters would have no ids).
  static Result<std::unique_ptr<SpmModel>> create(const Vocab& vocab);

  void encode(std::string_view text, bool at_text_start, std::vector<int32_t>& out) const override;
  const std::string& piece(int32_t id) const override { return pieces_[static_cast<size_t>(id)]; }

 private:
  explicit SpmModel(const Vocab& vocab) : vocab_(vocab) {}
  // Id of a mergeable piece with this text, or kNoToken. Open addressing over the kNormal pieces only, each slot
  // holding the text's 64-bit FNV-1a hash, so a miss (most pair lookups) touches one slot (the hot loop: a
  // std::unordered_map over 262,144 texts was 60% of Gemma's encode time).
  int32_t find_normal(std::string_view text) const;
  struct Slot {
    uint64_t hash = 0;
    int32_t id = kNoToken;  // kNoToken: empty
  };
  std::vector<Slot> slots_;  // power-of-two size, load <= 1/2
  uint64_t mask_ = 0;
  void merge(std::string_view escaped, std::vector<int32_t>& out) const;

  const Vocab& vocab_;  // the Tokenizer owns both and keeps the vocab alive
  bool add_space_prefix_ = true;
  std::array<int32_t, 256> byte_token_{};  // <0xXX> ids, kNoToken when absent
  std::vector<std::string> pieces_;        // raw bytes per token id
};

}  // namespace kvs::tok
