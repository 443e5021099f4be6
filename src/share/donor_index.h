// DonorIndex: approximate nearest-neighbour search over donor prompt embeddings (hnswlib, inner product on
// L2-normalised vectors = cosine), one namespace (one HierarchicalNSW graph) per share domain.
//
// Invariants: a donor id lives in at most one namespace; search() never returns a donor of another domain or a
// removed one; similarities are cosines in [-1, 1].
// Bounded memory (checked by check_invariants()): hnswlib labels are slots, not donor ids. remove() marks the
// slot deleted and puts its label on the namespace's free list; add() reuses a free label first (hnswlib
// addPoint on an existing, deleted label unmarks it and rewires the element in place -- hnswlib 0.6.2's form of
// 0.7's replace_deleted), and grows the graph (capacity x2) only when no deleted slot is free. So per
// namespace: elements == live + deleted, deleted == free labels, elements <= max(kInitialCapacity,
// 2 * peak live). A namespace whose last donor leaves is dropped.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace hnswlib {
template <typename T> class HierarchicalNSW;
class InnerProductSpace;
}  // namespace hnswlib

namespace kvs::share {

struct DonorCandidate {
  uint64_t donor_id = 0;
  float similarity = 0;  // cosine
};

// Sizes summed over all namespaces.
struct DonorIndexStats {
  size_t namespaces = 0;
  size_t live = 0;      // donors searchable
  size_t elements = 0;  // hnswlib slots in use (live + deleted): cur_element_count
  size_t capacity = 0;  // hnswlib slots allocated: max_elements_
  size_t deleted = 0;   // slots marked deleted, each waiting on the free list for reuse: num_deleted_
};

class DonorIndex {
 public:
  static constexpr size_t kInitialCapacity = 16;  // slots of a new namespace

  explicit DonorIndex(int dim);
  ~DonorIndex();
  DonorIndex(const DonorIndex&) = delete;
  DonorIndex& operator=(const DonorIndex&) = delete;

  int dim() const { return dim_; }
  // Re-adding a present donor id replaces its entry. REQUIRES: embedding has dim() floats, L2-normalised;
  // donor_id != UINT64_MAX (marks a free slot).
  void add(uint64_t domain, uint64_t donor_id, std::span<const float> embedding);
  void remove(uint64_t donor_id);
  // Up to k donors of `domain` with cosine >= min_similarity, best first.
  std::vector<DonorCandidate> search(uint64_t domain, std::span<const float> query, int k, float min_similarity) const;
  size_t size(uint64_t domain) const;

  DonorIndexStats stats() const;
  // Verifies the invariants above; returns a message naming the first violation.
  Status check_invariants() const;

 private:
  struct Namespace;
  struct Slot {
    uint64_t domain = 0;
    uint64_t label = 0;  // hnswlib label within the domain's namespace
  };
  Namespace& namespace_for(uint64_t domain);
  static Status check_namespace(const Namespace& ns);

  int dim_;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;
  std::unordered_map<uint64_t, std::unique_ptr<Namespace>> spaces_;  // domain -> index
  std::unordered_map<uint64_t, Slot> slot_of_;                       // donor id -> where it lives
};

}  // namespace kvs::share
