// UBatch: the rows one forward call computes, from one or more sequences.
// Invariants: all vectors have the same length; seq[i] indexes the views passed to forward();
// a sequence's rows may come in any order, but the row's K/V slot (== pos) must lie inside its view.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace kvs::model {

struct UBatch {
  std::vector<int32_t> token;  // (n_rows) token id of each row
  std::vector<int32_t> pos;    // (n_rows) absolute position (RoPE angle, KV slot)
  std::vector<int32_t> seq;    // (n_rows) which sequence (index into the views)
  std::vector<uint8_t> out;    // (n_rows) 1 = logits wanted for this row

  int64_t size() const { return static_cast<int64_t>(token.size()); }
  int64_t n_out() const;
  void clear() { token.clear(); pos.clear(); seq.clear(); out.clear(); }
  void add(int32_t t, int32_t p, int32_t s, bool want_logits) {
    token.push_back(t); pos.push_back(p); seq.push_back(s); out.push_back(want_logits ? 1 : 0);
  }
};

// One sequence's KV as the forward sees it: slot s lives in physical block blocks[s / block_size].
// A row at position p attends over slots [0, p]; all of them must have been written (earlier, by a shared or
// edited block, or by a row of this same ubatch).
struct SeqKvView {
  std::span<const int32_t> blocks;  // logical block -> physical block id in KvStorage
};

inline int64_t UBatch::n_out() const {
  int64_t n = 0;
  for (uint8_t o : out) n += o;
  return n;
}

}  // namespace kvs::model
