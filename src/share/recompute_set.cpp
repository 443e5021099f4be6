#include "share/recompute_set.h"

#include <algorithm>
#include <iterator>

#include "base/status.h"

namespace kvs::share {

RecomputeSet RecomputeSet::from_positions(std::vector<int32_t> positions) {
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  KVS_CHECK(positions.empty() || positions.front() >= 0);
  RecomputeSet s;
  s.pos_ = std::move(positions);
  return s;
}

RecomputeSet RecomputeSet::range(int32_t begin, int32_t end) {
  KVS_CHECK(0 <= begin && begin <= end);
  RecomputeSet s;
  s.pos_.resize(static_cast<size_t>(end - begin));
  for (int32_t i = begin; i < end; ++i) s.pos_[i - begin] = i;
  return s;
}

void RecomputeSet::insert(int32_t pos) {
  KVS_CHECK(pos >= 0);
  auto it = std::lower_bound(pos_.begin(), pos_.end(), pos);
  if (it == pos_.end() || *it != pos) pos_.insert(it, pos);
}

void RecomputeSet::merge(std::span<const int32_t> positions) {
  if (positions.empty()) return;
  std::vector<int32_t> add(positions.begin(), positions.end());
  std::sort(add.begin(), add.end());
  KVS_CHECK(add.front() >= 0);
  std::vector<int32_t> out;
  out.reserve(pos_.size() + add.size());
  std::set_union(pos_.begin(), pos_.end(), add.begin(), add.end(), std::back_inserter(out));
  out.erase(std::unique(out.begin(), out.end()), out.end());  // duplicates inside `add`
  pos_ = std::move(out);
}

bool RecomputeSet::contains(int32_t pos) const { return std::binary_search(pos_.begin(), pos_.end(), pos); }

std::vector<std::pair<int32_t, int32_t>> RecomputeSet::runs() const {
  std::vector<std::pair<int32_t, int32_t>> r;
  for (int32_t p : pos_) {
    if (!r.empty() && r.back().second == p) ++r.back().second;
    else r.emplace_back(p, p + 1);
  }
  return r;
}

std::string RecomputeSet::to_string(size_t max_runs) const {
  const auto r = runs();
  if (r.empty()) return "{}";
  std::string s;
  for (size_t i = 0; i < r.size() && i < max_runs; ++i) {
    if (i > 0) s += ' ';
    if (r[i].second == r[i].first + 1) {
      s += std::to_string(r[i].first);
    } else {
      s += '[';
      s += std::to_string(r[i].first);
      s += ',';
      s += std::to_string(r[i].second);
      s += ')';
    }
  }
  if (r.size() > max_runs) {
    s += " ...(+";
    s += std::to_string(r.size() - max_runs);
    s += " runs)";
  }
  return s;
}

}  // namespace kvs::share
