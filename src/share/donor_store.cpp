#include "share/donor_store.h"

#include <algorithm>

namespace kvs::share {

uint64_t DonorStore::add(uint64_t domain, std::span<const int32_t> prompt, std::span<const kv::BlockId> blocks,
                         std::span<const float> embedding) {
  if (blocks.empty()) return 0;
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

void DonorStore::remove(uint64_t id) {
  if (donors_.erase(id)) index_.remove(id);
}

void DonorStore::on_block_evicted(kv::BlockId block) {
  auto it = by_block_.find(block);
  if (it == by_block_.end()) return;
  auto holders = std::move(it->second);
  by_block_.erase(it);
  for (const auto& [id, idx] : holders) {
    auto d = donors_.find(id);
    if (d == donors_.end() || d->second.blocks[idx] != block) continue;
    d->second.n_valid = std::min(d->second.n_valid, idx);
    if (d->second.n_valid == 0) remove(id);
  }
}

}  // namespace kvs::share
