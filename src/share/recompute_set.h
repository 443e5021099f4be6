// RecomputeSet: the prompt positions a request computes through every layer (the rows of its prefill
// ubatches); all other prompt positions take their K/V from the cache (a shared prefix or a donor copy).
//
// Invariants: positions are >= 0, sorted ascending and unique (every mutator keeps this).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kvs::share {

class RecomputeSet {
 public:
  RecomputeSet() = default;
  // Any order, duplicates allowed. REQUIRES: positions >= 0.
  static RecomputeSet from_positions(std::vector<int32_t> positions);
  // [begin, end). REQUIRES: 0 <= begin <= end.
  static RecomputeSet range(int32_t begin, int32_t end);

  void insert(int32_t pos);                      // O(size) worst case
  void merge(std::span<const int32_t> positions);  // any order, duplicates allowed; O((size + k) log)
  bool contains(int32_t pos) const;              // O(log size)

  int64_t size() const { return static_cast<int64_t>(pos_.size()); }
  bool empty() const { return pos_.empty(); }
  std::span<const int32_t> positions() const { return pos_; }
  // Maximal runs [begin, end) of consecutive positions, e.g. {0,1,2,7,9,10} -> [0,3) [7,8) [9,11).
  std::vector<std::pair<int32_t, int32_t>> runs() const;
  // e.g. "[0,3) 7 [9,11)"; at most max_runs runs.
  std::string to_string(size_t max_runs = 16) const;

  bool operator==(const RecomputeSet&) const = default;

 private:
  std::vector<int32_t> pos_;  // sorted, unique, >= 0
};

}  // namespace kvs::share
