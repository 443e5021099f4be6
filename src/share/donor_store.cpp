#include "share/donor_store.h"

#include <algorithm>
#include <string>

namespace kvs::share {

uint64_t DonorStore::add(uint64_t domain, std::span<const int32_t> prompt, std::span<const kv::BlockId> blocks,
                         std::span<const float> embedding) {
  if (blocks.empty() || max_donors_ == 0) return 0;
  std::vector<kv::BlockId> sorted(blocks.begin(), blocks.end());
  std::sort(sorted.begin(), sorted.end());
  KVS_CHECK_MSG(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "donor names a block twice");
  while (donors_.size() >= max_donors_ && !order_.empty()) {
    uint64_t old = order_.front();
    order_.pop_front();
    remove(old);
  }
  Donor d;
  d.id = next_id_++;
  d.domain = domain;
  d.tokens.assign(prompt.begin(), prompt.end());
  d.blocks.assign(blocks.begin(), blocks.end());
  d.n_valid = static_cast<int32_t>(blocks.size());
  for (int32_t i = 0; i < d.n_valid; ++i) by_block_[d.blocks[i]].push_back({d.id, i});
  if (fragments_) fragments_->add(domain, d.id, d.tokens, d.usable_tokens(fragments_->block_size()));
  index_.add(domain, d.id, embedding);
  order_.push_back(d.id);
  const uint64_t id = d.id;
  donors_.emplace(id, std::move(d));
  return id;
}

const Donor* DonorStore::get(uint64_t id) const {
  auto it = donors_.find(id);
  return it == donors_.end() ? nullptr : &it->second;
}

void DonorStore::unlink_blocks(const Donor& d, int32_t from) {
  for (int32_t i = from; i < d.n_valid; ++i) {
    auto it = by_block_.find(d.blocks[i]);
    KVS_CHECK_MSG(it != by_block_.end(), "a valid donor block missing from by_block_");
    auto& holders = it->second;
    std::erase(holders, std::pair<uint64_t, int32_t>{d.id, i});
    if (holders.empty()) by_block_.erase(it);
  }
}

void DonorStore::remove(uint64_t id) {
  auto it = donors_.find(id);
  if (it == donors_.end()) return;
  unlink_blocks(it->second, 0);
  const Donor& d = it->second;
  if (fragments_) fragments_->remove(d.domain, d.id, d.tokens, d.usable_tokens(fragments_->block_size()));
  donors_.erase(it);
  index_.remove(id);
  maybe_compact_order();
}

void DonorStore::maybe_compact_order() {
  if (order_.size() <= 2 * donors_.size() + kOrderSlack) return;
  std::erase_if(order_, [this](uint64_t id) { return !donors_.count(id); });
}

void DonorStore::on_block_evicted(kv::BlockId block) {
  auto it = by_block_.find(block);
  if (it == by_block_.end()) return;
  auto holders = std::move(it->second);
  by_block_.erase(it);
  for (const auto& [id, idx] : holders) {
    auto d = donors_.find(id);
    KVS_CHECK(d != donors_.end() && idx < d->second.n_valid && d->second.blocks[idx] == block);
    unlink_blocks(d->second, idx + 1);
    const int64_t old_usable = fragments_ ? d->second.usable_tokens(fragments_->block_size()) : 0;
    d->second.n_valid = idx;
    if (fragments_)
      fragments_->truncate(d->second.domain, id, d->second.tokens, old_usable,
                           d->second.usable_tokens(fragments_->block_size()));
    if (idx == 0) remove(id);
  }
}

void DonorStore::enable_fragments(int32_t block_size, int32_t window) {
  KVS_CHECK_MSG(donors_.empty(), "enable_fragments after donors were added");
  fragments_ = std::make_unique<FragmentIndex>(block_size, window);
}

void DonorStore::apply_evictions(std::span<const kv::BlockId> blocks) {
  for (kv::BlockId b : blocks) on_block_evicted(b);
}

DonorStoreStats DonorStore::bookkeeping_stats() const {
  DonorStoreStats s;
  s.donors = donors_.size();
  s.order_entries = order_.size();
  s.by_block_keys = by_block_.size();
  for (const auto& [block, holders] : by_block_) s.by_block_entries += holders.size();
  const DonorIndexStats is = index_.stats();
  s.index_namespaces = is.namespaces;
  s.index_elements = is.elements;
  s.index_capacity = is.capacity;
  s.index_deleted = is.deleted;
  if (fragments_) {
    const FragmentIndexStats fs = fragments_->stats();
    s.fragment_keys = fs.keys;
    s.fragment_entries = fs.entries;
  }
  return s;
}

Status DonorStore::check_invariants() const {
  if (max_donors_ > 0 && donors_.size() > max_donors_) return Status(Code::kInternal, "more donors than max_donors");
  if (order_.size() > 2 * donors_.size() + kOrderSlack) return Status(Code::kInternal, "order_ not compacted");
  size_t entries = 0;
  for (const auto& [block, holders] : by_block_) {
    if (holders.empty()) return Status(Code::kInternal, "empty by_block_ key " + std::to_string(block));
    for (const auto& [id, idx] : holders) {
      auto d = donors_.find(id);
      if (d == donors_.end() || idx >= d->second.n_valid || d->second.blocks[idx] != block)
        return Status(Code::kInternal, "stale by_block_ entry for block " + std::to_string(block));
    }
    entries += holders.size();
  }
  size_t valid = 0;
  for (const auto& [id, d] : donors_) {
    if (d.n_valid <= 0) return Status(Code::kInternal, "donor " + std::to_string(id) + " kept with no block");
    valid += d.n_valid;
  }
  if (entries != valid) return Status(Code::kInternal, "by_block_ entries != sum of n_valid");
  if (fragments_) {
    int64_t windows = 0;
    for (const auto& [id, d] : donors_) windows += fragments_->windows_of(d.usable_tokens(fragments_->block_size()));
    if (static_cast<size_t>(windows) != fragments_->stats().entries)
      return Status(Code::kInternal, "fragment index entries != the live donors' windows");
  }
  KVS_RETURN_IF_ERROR(index_.check_invariants());
  if (index_.stats().live != donors_.size()) return Status(Code::kInternal, "index membership != store membership");
  return Status::ok();
}

}  // namespace kvs::share
