#include "align/myers.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace kvs::align {
namespace detail {
namespace {

constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();

// Myers' diff in linear space. diff() appends a minimal script for a (n) -> b (m) when the edit distance D
// is <= cap and returns true; otherwise it appends nothing and returns false.
class Myers {
 public:
  explicit Myers(RawScript* out) : out_(out) {}

  bool diff(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t cap) {
    const int64_t p = prefix_len(a, n, b, m);
    a += p, b += p, n -= p, m -= p;
    const int64_t s = suffix_len(a, n, b, m);
    n -= s, m -= s;
    if (n == 0 || m == 0) {
      if (n + m > cap) return false;
      out_->keep(p);
      out_->del(n);
      out_->ins(m);
      out_->keep(s);
      return true;
    }
    int64_t x = 0, y = 0;
    if (!bisect(a, n, b, m, cap, &x, &y)) return false;
    out_->keep(p);
    // The two halves' distances sum to D <= cap, so they cannot fail.
    KVS_CHECK(diff(a, x, b, y, kUnbounded));
    KVS_CHECK(diff(a + x, n - x, b + y, m - y, kUnbounded));
    out_->keep(s);
    return true;
  }

 private:
  // Finds a point (x, y) on a minimal path through the middle snake (Myers 1986, section 4b; the layout of
  // Neil Fraser's diff-match-patch bisect). REQUIRES: n, m > 0, a[0] != b[0] and a[n-1] != b[m-1], so D >= 2
  // and the point splits the box into two strictly smaller ones. Returns false when D > cap.
  bool bisect(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t cap, int64_t* sx, int64_t* sy) {
    const int64_t max_d = (n + m + 1) / 2;
    // Iteration d finds paths of D = 2d - 1 (forward) or 2d (reverse): d <= (cap + 1) / 2 suffices.
    const int64_t d_end = cap >= 2 * max_d ? max_d : std::min<int64_t>(max_d, (cap + 1) / 2 + 1);
    const int64_t off = d_end + 1;
    const int64_t len = 2 * off + 1;
    vf_.assign(len, -1);  // (2 * off + 1) furthest x on forward diagonal k = x - y, at index off + k
    vr_.assign(len, -1);  // same for the reversed sequences
    vf_[off + 1] = 0;
    vr_[off + 1] = 0;
    const int64_t delta = n - m;
    const bool front = (delta % 2) != 0;  // odd delta: overlap is detected on the forward pass
    int64_t k1start = 0, k1end = 0, k2start = 0, k2end = 0;
    for (int64_t d = 0; d < d_end; ++d) {
      for (int64_t k1 = -d + k1start; k1 <= d - k1end; k1 += 2) {
        const int64_t i1 = off + k1;
        int64_t x1 = (k1 == -d || (k1 != d && vf_[i1 - 1] < vf_[i1 + 1])) ? vf_[i1 + 1] : vf_[i1 - 1] + 1;
        int64_t y1 = x1 - k1;
        while (x1 < n && y1 < m && a[x1] == b[y1]) ++x1, ++y1;
        vf_[i1] = x1;
        if (x1 > n) {
          k1end += 2;  // ran off the right of the box
        } else if (y1 > m) {
          k1start += 2;  // ran off the bottom
        } else if (front) {
          const int64_t i2 = off + delta - k1;
          if (i2 >= 0 && i2 < len && vr_[i2] != -1 && x1 >= n - vr_[i2]) {
            if (2 * d - 1 > cap) return false;
            *sx = x1, *sy = y1;
            return true;
          }
        }
      }
      for (int64_t k2 = -d + k2start; k2 <= d - k2end; k2 += 2) {
        const int64_t i2 = off + k2;
        int64_t x2 = (k2 == -d || (k2 != d && vr_[i2 - 1] < vr_[i2 + 1])) ? vr_[i2 + 1] : vr_[i2 - 1] + 1;
        int64_t y2 = x2 - k2;
        while (x2 < n && y2 < m && a[n - 1 - x2] == b[m - 1 - y2]) ++x2, ++y2;
        vr_[i2] = x2;
        if (x2 > n) {
          k2end += 2;
        } else if (y2 > m) {
          k2start += 2;
        } else if (!front) {
          const int64_t i1 = off + delta - k2;
          if (i1 >= 0 && i1 < len && vf_[i1] != -1) {
            const int64_t x1 = vf_[i1];
            const int64_t y1 = x1 - (delta - k2);
            if (x1 >= n - x2) {
              if (2 * d > cap) return false;
              *sx = x1, *sy = y1;
              return true;
            }
          }
        }
      }
    }
    if (d_end < max_d) return false;  // stopped by the cap
    // No overlap in max_d rounds: nothing in common, D = n + m.
    if (n + m > cap) return false;
    *sx = n, *sy = 0;  // split into "delete all" | "insert all"
    return true;
  }

  RawScript* out_;
  std::vector<int64_t> vf_, vr_;
};

}  // namespace

bool myers_diff(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t cap, RawScript* out) {
  Myers myers(out);
  return myers.diff(a, n, b, m, cap);
}

int64_t distance_lower_bound(const int32_t* a, int64_t n, const int32_t* b, int64_t m) {
  std::unordered_map<int32_t, int64_t> count;  // count_a(t) - count_b(t) so far
  count.reserve(static_cast<size_t>(std::min(n, m) + 1));
  for (int64_t i = 0; i < n; ++i) ++count[a[i]];
  int64_t common = 0;
  for (int64_t j = 0; j < m; ++j) {
    auto it = count.find(b[j]);
    if (it != count.end() && it->second > 0) {
      --it->second;
      ++common;
    }
  }
  return n + m - 2 * common;
}

}  // namespace detail

std::optional<EditScript> myers_align(std::span<const int32_t> donor, std::span<const int32_t> target,
                                      int32_t max_edit_distance) {
  KVS_CHECK(donor.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  KVS_CHECK(target.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  KVS_CHECK(max_edit_distance >= 0);
  detail::RawScript raw;
  if (!detail::myers_diff(donor.data(), static_cast<int64_t>(donor.size()), target.data(),
                          static_cast<int64_t>(target.size()), max_edit_distance, &raw))
    return std::nullopt;
  return detail::to_script(donor.size(), target.size(), raw);
}

}  // namespace kvs::align
