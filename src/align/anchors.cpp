#include "align/anchors.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "base/status.h"

namespace kvs::align::detail {
namespace {

constexpr uint64_t kBase = 0x9E3779B97F4A7C15ull;  // odd multiplier of the polynomial hash (mod 2^64)

uint64_t mix(uint64_t x) {  // splitmix64 finaliser: spreads the polynomial hash over the table
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// hashes[i] = hash of s[i, i + k), for i in [0, len - k]. REQUIRES: len >= k >= 1.
std::vector<uint64_t> window_hashes(const int32_t* s, int64_t len, int32_t k) {
  uint64_t top = 1;  // kBase^(k-1)
  for (int32_t t = 1; t < k; ++t) top *= kBase;
  std::vector<uint64_t> out(static_cast<size_t>(len - k + 1));  // (len - k + 1) one hash per window start
  uint64_t h = 0;
  for (int64_t i = 0; i < len; ++i) {
    if (i >= k) h -= top * (static_cast<uint64_t>(static_cast<uint32_t>(s[i - k])) + 1);
    h = h * kBase + static_cast<uint64_t>(static_cast<uint32_t>(s[i])) + 1;
    if (i >= k - 1) out[static_cast<size_t>(i - k + 1)] = mix(h);
  }
  return out;
}

struct Occ {
  int32_t count_a = 0, count_b = 0;
  int64_t pos_a = -1;
};

// Candidate windows (pos in a, pos in b), in b order: unique in both, equal tokens.
std::vector<std::pair<int64_t, int64_t>> unique_pairs(const int32_t* a, int64_t n, const int32_t* b, int64_t m,
                                                      int32_t k) {
  const std::vector<uint64_t> ha = window_hashes(a, n, k), hb = window_hashes(b, m, k);  // (n-k+1), (m-k+1)
  std::unordered_map<uint64_t, Occ> occ;  // window hash -> occurrences on each side
  occ.reserve(ha.size() + hb.size());
  for (size_t i = 0; i < ha.size(); ++i) {
    Occ& o = occ[ha[i]];
    ++o.count_a;
    o.pos_a = static_cast<int64_t>(i);
  }
  for (uint64_t h : hb) {
    auto it = occ.find(h);
    if (it != occ.end()) ++it->second.count_b;
  }
  std::vector<std::pair<int64_t, int64_t>> cand;  // (W) candidate windows, increasing b
  const size_t bytes = static_cast<size_t>(k) * sizeof(int32_t);
  for (size_t j = 0; j < hb.size(); ++j) {
    auto it = occ.find(hb[j]);
    if (it == occ.end() || it->second.count_a != 1 || it->second.count_b != 1) continue;
    const int64_t pa = it->second.pos_a;
    if (std::memcmp(a + pa, b + j, bytes) == 0) cand.emplace_back(pa, static_cast<int64_t>(j));  // not a collision
  }
  return cand;
}

// Longest chain of candidates with increasing a (they are already in increasing b): patience sorting.
std::vector<std::pair<int64_t, int64_t>> longest_chain(const std::vector<std::pair<int64_t, int64_t>>& cand) {
  std::vector<int64_t> tails;  // tails[l]: index in cand of the smallest a-tail of a chain of length l + 1
  std::vector<int64_t> prev(cand.size(), -1);  // (W) predecessor of each candidate in its best chain
  for (int64_t c = 0; c < static_cast<int64_t>(cand.size()); ++c) {
    auto it = std::lower_bound(tails.begin(), tails.end(), cand[c].first,
                               [&](int64_t t, int64_t pa) { return cand[t].first < pa; });
    const int64_t l = it - tails.begin();
    prev[c] = l > 0 ? tails[l - 1] : -1;
    if (it == tails.end()) tails.push_back(c);
    else *it = c;
  }
  std::vector<std::pair<int64_t, int64_t>> chain;
  if (tails.empty()) return chain;
  for (int64_t c = tails.back(); c >= 0; c = prev[c]) chain.push_back(cand[c]);
  std::reverse(chain.begin(), chain.end());
  return chain;
}

}  // namespace

std::vector<Segment> unique_window_chain(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int32_t k) {
  KVS_CHECK(k >= 1);
  std::vector<Segment> segs;
  if (n < k || m < k) return segs;
  int64_t ia = 0, ib = 0;  // end of the last segment in a and in b
  for (const auto& [pa, pb] : longest_chain(unique_pairs(a, n, b, m, k))) {
    const int64_t clip = std::max<int64_t>({0, ia - pa, ib - pb});  // tokens already covered
    if (clip >= k) continue;
    const Segment s{pa + clip, pb + clip, k - clip};
    if (!segs.empty() && segs.back().a + segs.back().n == s.a && segs.back().b + segs.back().n == s.b)
      segs.back().n += s.n;  // the next window of the same run
    else
      segs.push_back(s);
    ia = s.a + s.n;
    ib = s.b + s.n;
  }
  return segs;
}

}  // namespace kvs::align::detail
