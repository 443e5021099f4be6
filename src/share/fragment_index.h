// FragmentIndex: where donors' token runs start, so a prompt made of pieces of several earlier prompts finds
// each piece's donor (issue 10: fragments from several donors). Beside the embedding index (DonorIndex), owned
// by DonorStore, which keeps it in step with its donors.
//
//   key    xxh3(window tokens, seed = share domain)      one window of `window` tokens
//   where  every block start o of a donor's usable tokens with o + window <= usable   (block-aligned)
//   entry  {donor id, o}
//
// Invariants (check() verifies them against the donors given to it):
//  - an entry {d, o} exists iff donor d is live, o % block_size == 0 and o + window <= d's usable tokens, and it
//    sits under the key of d's tokens [o, o + window) in d's domain: truncating a donor removes the entries past
//    its new usable length, removing it removes all of them;
//  - no empty key; entries == sum over donors of their indexed windows (bounded by the donors' usable blocks);
//  - lookups never return a donor of another domain: the domain seeds the hash AND each entry keeps its
//    domain, compared on lookup (a hash collision across domains is filtered); the caller still compares tokens
//    (a collision inside a domain is possible).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace kvs::share {

struct FragmentHit {
  uint64_t donor_id = 0;
  int32_t offset = 0;  // donor position of the window's first token (a block start)
};

struct FragmentIndexStats {
  size_t keys = 0;     // distinct window hashes
  size_t entries = 0;  // (donor, offset) pairs
};

class FragmentIndex {
 public:
  // REQUIRES: block_size >= 1, window >= 1.
  FragmentIndex(int32_t block_size, int32_t window);

  int32_t window() const { return window_; }
  int32_t block_size() const { return block_size_; }

  // Indexes tokens[o, o + window) for every block start o with o + window <= usable.
  // REQUIRES: donor_id not indexed yet; usable <= tokens.size().
  void add(uint64_t domain, uint64_t donor_id, std::span<const int32_t> tokens, int64_t usable);
  // Removes the windows of [new_usable, old_usable) (those with o + window > new_usable).
  // REQUIRES: tokens and old_usable as last indexed for this donor; new_usable <= old_usable.
  void truncate(uint64_t domain, uint64_t donor_id, std::span<const int32_t> tokens, int64_t old_usable,
                int64_t new_usable);
  void remove(uint64_t domain, uint64_t donor_id, std::span<const int32_t> tokens, int64_t usable) {
    truncate(domain, donor_id, tokens, usable, 0);
  }
  // Donor windows whose hash equals that of `window_tokens` (window() tokens) in `domain`.
  std::vector<FragmentHit> lookup(uint64_t domain, std::span<const int32_t> window_tokens) const;

  // Windows indexed for a donor of `usable` tokens.
  int64_t windows_of(int64_t usable) const;
  uint64_t key(uint64_t domain, std::span<const int32_t> window_tokens) const;
  FragmentIndexStats stats() const;

 private:
  struct Entry {
    uint64_t domain = 0;
    uint64_t donor_id = 0;
    int32_t offset = 0;
  };
  int32_t block_size_;
  int32_t window_;
  std::unordered_map<uint64_t, std::vector<Entry>> by_key_;
  size_t entries_ = 0;
};

}  // namespace kvs::share
