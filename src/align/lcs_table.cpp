#include "align/lcs_table.h"

#include <vector>

namespace kvs::align::detail {

bool table_diff(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t max_cells, RawScript* out) {
  if (n < 0 || m < 0 || (n > 0 && m > max_cells / n)) return false;
  const int64_t w = m + 1;
  // lcs (n + 1, m + 1): lcs[i * w + j] = LCS(a[i, n), b[j, m)); row n and column m are 0.
  std::vector<int32_t> lcs(static_cast<size_t>((n + 1) * w), 0);
  for (int64_t i = n - 1; i >= 0; --i) {
    int32_t* row = lcs.data() + i * w;
    const int32_t* next = row + w;
    for (int64_t j = m - 1; j >= 0; --j)
      row[j] = a[i] == b[j] ? next[j + 1] + 1 : std::max(next[j], row[j + 1]);
  }
  int64_t i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] == b[j]) {  // matching equal heads is always optimal
      out->keep(1);
      ++i, ++j;
    } else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
      out->del(1);
      ++i;
    } else {
      out->ins(1);
      ++j;
    }
  }
  out->del(n - i);
  out->ins(m - j);
  return true;
}

}  // namespace kvs::align::detail
