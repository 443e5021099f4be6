#include "share/donor_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>

#include "base/status.h"

namespace kvs::share {

struct DonorIndex::Namespace {
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
  size_t live = 0;
};

DonorIndex::DonorIndex(int dim) : dim_(dim), space_(std::make_unique<hnswlib::InnerProductSpace>(dim)) {
  KVS_CHECK(dim > 0);
}

DonorIndex::~DonorIndex() = default;

void DonorIndex::add(uint64_t domain, uint64_t donor_id, std::span<const float> embedding) {
  KVS_CHECK(static_cast<int>(embedding.size()) == dim_);
  if (auto it = domain_of_.find(donor_id); it != domain_of_.end()) remove(donor_id);
  auto& ns = spaces_[domain];
  if (!ns) {
    ns = std::make_unique<Namespace>();
    ns->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), 256, /*M=*/16, /*ef_construction=*/100);
    ns->index->setEf(64);
  }
  auto& idx = *ns->index;
  if (idx.cur_element_count + 1 > idx.max_elements_) idx.resizeIndex(idx.max_elements_ * 2);
  idx.addPoint(embedding.data(), static_cast<hnswlib::labeltype>(donor_id));
  ++ns->live;
  domain_of_[donor_id] = domain;
}

void DonorIndex::remove(uint64_t donor_id) {
  auto it = domain_of_.find(donor_id);
  if (it == domain_of_.end()) return;
  auto& ns = spaces_.at(it->second);
  ns->index->markDelete(static_cast<hnswlib::labeltype>(donor_id));
  --ns->live;
  domain_of_.erase(it);
}

std::vector<DonorCandidate> DonorIndex::search(uint64_t domain, std::span<const float> query, int k,
                                               float min_similarity) const {
  std::vector<DonorCandidate> out;
  KVS_CHECK(static_cast<int>(query.size()) == dim_);
  auto it = spaces_.find(domain);
  if (it == spaces_.end() || it->second->live == 0 || k <= 0) return out;
  const size_t kk = std::min<size_t>(k, it->second->live);
  auto res = it->second->index->searchKnn(query.data(), kk);
  while (!res.empty()) {
    const auto [dist, label] = res.top();
    res.pop();
    const float sim = 1.0f - dist;
    // Defence in depth: the label must still belong to this domain.
    auto d = domain_of_.find(label);
    if (d == domain_of_.end() || d->second != domain) continue;
    if (sim >= min_similarity) out.push_back({static_cast<uint64_t>(label), sim});
  }
  std::sort(out.begin(), out.end(), [](const DonorCandidate& a, const DonorCandidate& b) {
    return a.similarity > b.similarity || (a.similarity == b.similarity && a.donor_id < b.donor_id);
  });
  return out;
}

size_t DonorIndex::size(uint64_t domain) const {
  auto it = spaces_.find(domain);
  return it == spaces_.end() ? 0 : it->second->live;
}

}  // namespace kvs::share
