#include "align/greedy.h"

#include <limits>
#include <numeric>
#include <unordered_map>
#include <vector>

namespace kvs::align {
namespace detail {

void greedy_diff(const int32_t* a, int64_t n, const int32_t* b, int64_t m, RawScript* out) {
  // Donor positions grouped by token, ascending within a group: pos[first[g], first[g + 1]).
  std::unordered_map<int32_t, int32_t> group;  // token -> group id
  group.reserve(static_cast<size_t>(n));
  std::vector<int32_t> gid(static_cast<size_t>(n));  // (n) group of each donor position
  for (int64_t i = 0; i < n; ++i) gid[i] = group.emplace(a[i], static_cast<int32_t>(group.size())).first->second;
  const size_t n_groups = group.size();
  std::vector<int64_t> first(n_groups + 1, 0);  // (n_groups + 1) start of each group in pos
  for (int64_t i = 0; i < n; ++i) ++first[gid[i] + 1];
  std::partial_sum(first.begin(), first.end(), first.begin());
  std::vector<int64_t> next(first.begin(), first.end() - 1);  // (n_groups) cursor of each group
  std::vector<int64_t> pos(static_cast<size_t>(n));           // (n) donor positions by group
  for (int64_t i = 0; i < n; ++i) pos[next[gid[i]]++] = i;
  std::copy(first.begin(), first.end() - 1, next.begin());  // next[g]: first entry of g not yet passed

  int64_t i = 0, j = 0;
  while (i < n && j < m) {
    int64_t ip = -1, jp = j;
    for (; jp < m; ++jp) {
      auto it = group.find(b[jp]);
      if (it == group.end()) continue;
      const int32_t g = it->second;
      while (next[g] < first[g + 1] && pos[next[g]] < i) ++next[g];
      if (next[g] < first[g + 1]) {
        ip = pos[next[g]];
        break;
      }
    }
    if (ip < 0) break;
    int64_t len = 0;
    while (ip + len < n && jp + len < m && a[ip + len] == b[jp + len]) ++len;
    out->del(ip - i);
    out->ins(jp - j);
    out->keep(len);
    i = ip + len;
    j = jp + len;
  }
  out->del(n - i);
  out->ins(m - j);
}

}  // namespace detail

EditScript greedy_align(std::span<const int32_t> donor, std::span<const int32_t> target) {
  KVS_CHECK(donor.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  KVS_CHECK(target.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  detail::RawScript raw;
  detail::greedy_diff(donor.data(), static_cast<int64_t>(donor.size()), target.data(),
                      static_cast<int64_t>(target.size()), &raw);
  return detail::to_script(donor.size(), target.size(), raw);
}

}  // namespace kvs::align
