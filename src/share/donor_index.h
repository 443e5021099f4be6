// DonorIndex: approximate nearest-neighbour search over donor prompt embeddings (hnswlib, inner product on
// L2-normalised vectors = cosine), one namespace per share domain.
// Invariants: a donor id lives in at most one namespace; search() never returns a donor of another domain or a
// removed one; similarities are cosines in [-1, 1].
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

namespace hnswlib {
template <typename T> class HierarchicalNSW;
class InnerProductSpace;
}  // namespace hnswlib

namespace kvs::share {

struct DonorCandidate {
  uint64_t donor_id = 0;
  float similarity = 0;  // cosine
};

class DonorIndex {
 public:
  explicit DonorIndex(int dim);
  ~DonorIndex();
  DonorIndex(const DonorIndex&) = delete;
  DonorIndex& operator=(const DonorIndex&) = delete;

  int dim() const { return dim_; }
  // REQUIRES: embedding has dim() floats, L2-normalised.
  void add(uint64_t domain, uint64_t donor_id, std::span<const float> embedding);
  void remove(uint64_t donor_id);
  // Up to k donors of `domain` with cosine >= min_similarity, best first.
  std::vector<DonorCandidate> search(uint64_t domain, std::span<const float> query, int k, float min_similarity) const;
  size_t size(uint64_t domain) const;

 private:
  struct Namespace;
  int dim_;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;
  std::unordered_map<uint64_t, std::unique_ptr<Namespace>> spaces_;  // domain -> index
  std::unordered_map<uint64_t, uint64_t> domain_of_;                 // donor id -> domain
};

}  // namespace kvs::share
