// Token-run helpers for the sharing tests (fragment cover, run retrieval, semantic admission): made-up token ids
// in consecutive runs, so that each test's expected runs and counts follow from how its prompts are built.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <numeric>
#include <vector>

#include "kv/block_pool.h"
#include "share/donor_store.h"

namespace kvs::testing_tokens {

// first, first + 1, ..., first + n - 1
inline std::vector<int32_t> seq(int32_t first, int32_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

// Consecutive block ids first.. for n_tokens tokens in blocks of block_size.
inline std::vector<kv::BlockId> blocks(kv::BlockId first, size_t n_tokens, int32_t block_size) {
  std::vector<kv::BlockId> b((n_tokens + static_cast<size_t>(block_size) - 1) / static_cast<size_t>(block_size));
  std::iota(b.begin(), b.end(), first);
  return b;
}

// The unit vector along axis i of a 4-d embedding.
inline std::vector<float> axis(int i) {
  std::vector<float> v(4, 0.0f);
  v[static_cast<size_t>(i)] = 1.0f;
  return v;
}

// to += from[begin, end)
inline void append(std::vector<int32_t>& to, const std::vector<int32_t>& from, int32_t begin, int32_t end) {
  to.insert(to.end(), from.begin() + begin, from.begin() + end);
}

inline std::vector<int32_t> cat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Two donors of share domain 1 in a store that keeps a fragment index (16-token windows, blocks of 16):
// A = 1000 .. 1199 on blocks 1.., B = 2000 .. 2199 on blocks 100...
struct TwoDonors {
  static constexpr int32_t kBlock = 16;
  share::DonorStore store{4, 16};
  std::vector<int32_t> a_tokens = seq(1000, 200), b_tokens = seq(2000, 200);
  uint64_t a = 0, b = 0;
  TwoDonors() {
    store.enable_fragments(kBlock, 16);
    a = store.add(1, a_tokens, blocks(1, 200, kBlock), axis(0));
    b = store.add(1, b_tokens, blocks(100, 200, kBlock), axis(1));
  }
};

}  // namespace kvs::testing_tokens
