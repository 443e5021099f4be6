#include "share/fragment_index.h"

#include <xxhash.h>

#include <algorithm>

namespace kvs::share {

FragmentIndex::FragmentIndex(int32_t block_size, int32_t window) : block_size_(block_size), window_(window) {
  KVS_CHECK(block_size >= 1 && window >= 1);
}

uint64_t FragmentIndex::key(uint64_t domain, std::span<const int32_t> window_tokens) const {
  KVS_CHECK(static_cast<int64_t>(window_tokens.size()) == window_);
  return XXH3_64bits_withSeed(window_tokens.data(), window_tokens.size_bytes(), domain);
}

int64_t FragmentIndex::windows_of(int64_t usable) const {
  if (usable < window_) return 0;
  return (usable - window_) / block_size_ + 1;
}

void FragmentIndex::add(uint64_t domain, uint64_t donor_id, std::span<const int32_t> tokens, int64_t usable) {
  KVS_CHECK(usable >= 0 && usable <= static_cast<int64_t>(tokens.size()));
  for (int64_t o = 0; o + window_ <= usable; o += block_size_) {
    by_key_[key(domain, tokens.subspan(static_cast<size_t>(o), static_cast<size_t>(window_)))].push_back(
        {domain, donor_id, static_cast<int32_t>(o)});
    ++entries_;
  }
}

void FragmentIndex::truncate(uint64_t domain, uint64_t donor_id, std::span<const int32_t> tokens, int64_t old_usable,
                             int64_t new_usable) {
  KVS_CHECK(new_usable >= 0 && new_usable <= old_usable && old_usable <= static_cast<int64_t>(tokens.size()));
  // First window past the new length: the smallest block start o with o + window > new_usable.
  const int64_t keep = windows_of(new_usable);
  for (int64_t o = keep * block_size_; o + window_ <= old_usable; o += block_size_) {
    auto it = by_key_.find(key(domain, tokens.subspan(static_cast<size_t>(o), static_cast<size_t>(window_))));
    KVS_CHECK_MSG(it != by_key_.end(), "an indexed donor window is missing from the fragment index");
    const size_t before = it->second.size();
    std::erase_if(it->second, [&](const Entry& e) { return e.donor_id == donor_id && e.offset == o; });
    KVS_CHECK_MSG(it->second.size() + 1 == before, "a donor window indexed twice or not at all");
    --entries_;
    if (it->second.empty()) by_key_.erase(it);
  }
}

std::vector<FragmentHit> FragmentIndex::lookup(uint64_t domain, std::span<const int32_t> window_tokens) const {
  std::vector<FragmentHit> out;
  auto it = by_key_.find(key(domain, window_tokens));
  if (it == by_key_.end()) return out;
  for (const Entry& e : it->second)
    if (e.domain == domain) out.push_back({e.donor_id, e.offset});
  return out;
}

FragmentIndexStats FragmentIndex::stats() const { return {by_key_.size(), entries_}; }

}  // namespace kvs::share
