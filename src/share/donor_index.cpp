#include "share/donor_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <string>

namespace kvs::share {

// Labels are dense: a label is assigned once, as the namespace's element count at the time, and then recycled.
namespace {
constexpr uint64_t kFreeSlot = ~uint64_t{0};
}  // namespace

struct DonorIndex::Namespace {
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
  std::vector<uint64_t> donor_of;               // label -> donor id (kFreeSlot = deleted slot)
  std::vector<hnswlib::labeltype> free_labels;  // labels of deleted slots, reused before the graph grows
  size_t live = 0;
};

DonorIndex::DonorIndex(int dim) : dim_(dim), space_(std::make_unique<hnswlib::InnerProductSpace>(dim)) {
  KVS_CHECK(dim > 0);
}

DonorIndex::~DonorIndex() = default;

DonorIndex::Namespace& DonorIndex::namespace_for(uint64_t domain) {
  auto& ns = spaces_[domain];
  if (!ns) {
    ns = std::make_unique<Namespace>();
    ns->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), kInitialCapacity, /*M=*/16,
                                                                  /*ef_construction=*/100);
    ns->index->setEf(64);
  }
  return *ns;
}

void DonorIndex::add(uint64_t domain, uint64_t donor_id, std::span<const float> embedding) {
  KVS_CHECK(static_cast<int>(embedding.size()) == dim_);
  KVS_CHECK(donor_id != kFreeSlot);
  if (slot_of_.count(donor_id)) remove(donor_id);
  Namespace& ns = namespace_for(domain);
  auto& idx = *ns.index;
  hnswlib::labeltype label;
  if (!ns.free_labels.empty()) {
    label = ns.free_labels.back();  // addPoint on a deleted label unmarks it and rewires it in place
    ns.free_labels.pop_back();
  } else {
    if (idx.cur_element_count >= idx.max_elements_) idx.resizeIndex(idx.max_elements_ * 2);
    label = idx.cur_element_count;
    ns.donor_of.push_back(kFreeSlot);
  }
  idx.addPoint(embedding.data(), label);
  ns.donor_of[label] = donor_id;
  ++ns.live;
  slot_of_[donor_id] = Slot{domain, label};
}

void DonorIndex::remove(uint64_t donor_id) {
  auto it = slot_of_.find(donor_id);
  if (it == slot_of_.end()) return;
  const Slot slot = it->second;
  slot_of_.erase(it);
  auto ns_it = spaces_.find(slot.domain);
  KVS_CHECK(ns_it != spaces_.end());
  Namespace& ns = *ns_it->second;
  if (--ns.live == 0) {  // the last donor of the domain: drop the whole graph
    spaces_.erase(ns_it);
    return;
  }
  ns.index->markDelete(slot.label);
  ns.donor_of[slot.label] = kFreeSlot;
  ns.free_labels.push_back(slot.label);
}

std::vector<DonorCandidate> DonorIndex::search(uint64_t domain, std::span<const float> query, int k,
                                               float min_similarity) const {
  std::vector<DonorCandidate> out;
  KVS_CHECK(static_cast<int>(query.size()) == dim_);
  auto it = spaces_.find(domain);
  if (it == spaces_.end() || it->second->live == 0 || k <= 0) return out;
  const Namespace& ns = *it->second;
  const size_t kk = std::min<size_t>(k, ns.live);
  auto res = ns.index->searchKnn(query.data(), kk);
  while (!res.empty()) {
    const auto [dist, label] = res.top();
    res.pop();
    const float sim = 1.0f - dist;
    // Defence in depth: the slot must hold a live donor of this domain.
    const uint64_t donor = label < ns.donor_of.size() ? ns.donor_of[label] : kFreeSlot;
    auto s = slot_of_.find(donor);
    if (donor == kFreeSlot || s == slot_of_.end() || s->second.domain != domain || s->second.label != label) continue;
    if (sim >= min_similarity) out.push_back({donor, sim});
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

DonorIndexStats DonorIndex::stats() const {
  DonorIndexStats s;
  s.namespaces = spaces_.size();
  for (const auto& [domain, ns] : spaces_) {
    s.live += ns->live;
    s.elements += ns->index->cur_element_count;
    s.capacity += ns->index->max_elements_;
    s.deleted += ns->index->num_deleted_;
  }
  return s;
}

Status DonorIndex::check_namespace(const Namespace& ns) {
  const auto& idx = *ns.index;
  if (ns.live == 0) return Status(Code::kInternal, "empty namespace kept");
  if (ns.donor_of.size() != idx.cur_element_count) return Status(Code::kInternal, "label table size != elements");
  if (idx.num_deleted_ != ns.free_labels.size()) return Status(Code::kInternal, "deleted slots not all free");
  if (ns.live + idx.num_deleted_ != idx.cur_element_count) return Status(Code::kInternal, "live + deleted != elements");
  if (idx.max_elements_ > std::max(kInitialCapacity, 2 * idx.cur_element_count))
    return Status(Code::kInternal, "capacity grew while deleted slots were free");
  for (hnswlib::labeltype l : ns.free_labels)
    if (l >= ns.donor_of.size() || ns.donor_of[l] != kFreeSlot) return Status(Code::kInternal, "free label holds a donor");
  return Status::ok();
}

Status DonorIndex::check_invariants() const {
  size_t live = 0;
  for (const auto& [domain, ns] : spaces_) {
    KVS_RETURN_IF_ERROR(check_namespace(*ns));
    live += ns->live;
  }
  if (live != slot_of_.size()) return Status(Code::kInternal, "live count != donors indexed");
  for (const auto& [donor, slot] : slot_of_) {
    auto it = spaces_.find(slot.domain);
    if (it == spaces_.end() || slot.label >= it->second->donor_of.size() || it->second->donor_of[slot.label] != donor)
      return Status(Code::kInternal, "donor " + std::to_string(donor) + " not at its slot");
  }
  return Status::ok();
}

}  // namespace kvs::share
