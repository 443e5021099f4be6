// The engine's side of the disk tier (store::DiskTier): opening it, write-on-donate to every tier, and the disk
// metrics. Promotion from any tier is engine_tiers.cpp. Engine thread only (the tiers' writer threads do the I/O).
//
// Why write-on-donate: a donor's blocks are copied to the tiers' queues when the donor is registered, so an
// eviction (BlockPool::allocate, deep inside the allocation of another request) never has to copy or wait:
// the block is already on its way to disk (and Redis) or there. A crash loses at most the queued donations.
#include <algorithm>
#include <cstdio>

#include "engine/engine.h"
#include "store/model_fingerprint.h"

namespace kvs::engine {

// Computed once (the fingerprint hashes every weight byte).
const store::SegmentIdentity& Engine::store_identity() {
  if (store_id_) return *store_id_;
  const auto& hp = model_.hparams();
  store::SegmentIdentity id;
  id.model_fingerprint = store::model_fingerprint(model_.file());
  id.kv_dtype = kv_->storage().dtype();
  id.block_size = static_cast<uint32_t>(cfg_.block_size);
  id.n_layer = static_cast<uint32_t>(hp.n_layer);
  id.n_kv_head = static_cast<uint32_t>(hp.n_head_kv);
  id.head_dim = static_cast<uint32_t>(hp.head_dim);
  id.embed_dim = static_cast<uint32_t>(embedder_->dim());
  id.block_payload_bytes = static_cast<uint64_t>(kv_->storage().block_payload_bytes());
  store_id_ = id;
  return *store_id_;
}

void Engine::open_disk_tier() {
  if (cfg_.disk_cache_dir.empty()) return;
  if (!donors_ || !embedder_) {
    disk_status_ = invalid_argument("--disk-cache needs semantic sharing (an embedder and the prefix cache)");
    return;
  }
  store::DiskTierConfig dc;
  dc.dir = cfg_.disk_cache_dir;
  dc.budget_bytes = static_cast<uint64_t>(cfg_.disk_cache_gib * 1024.0 * 1024.0 * 1024.0);
  dc.segment_bytes = std::min<uint64_t>(cfg_.disk_segment_bytes, std::max<uint64_t>(dc.budget_bytes / 4, 1));
  dc.fsync = cfg_.disk_fsync;
  auto t = store::DiskTier::open(dc, store_identity());
  if (!t.is_ok()) {
    disk_status_ = t.status();
    return;
  }
  disk_ = std::move(t).value();
  tiers_.insert(tiers_.begin(), disk_.get());  // local first
  const store::DiskTierStats s = disk_->stats();
  std::fprintf(stderr, "kvshare disk tier: %s: %llu donors, %llu blocks in %llu segments (%.1f MiB)\n",
               dc.dir.c_str(), static_cast<unsigned long long>(s.donors), static_cast<unsigned long long>(s.blocks),
               static_cast<unsigned long long>(s.segments), static_cast<double>(s.usage_bytes) / (1 << 20));
}

// Bounded: entries of donors that left the RAM store are dropped once they outnumber the live ones.
void Engine::remember_ram_donor(uint64_t content_key, uint64_t ram_id) {
  ram_donor_of_[content_key] = ram_id;
  if (ram_donor_of_.size() <= 2 * donors_->size() + 64) return;
  std::erase_if(ram_donor_of_, [this](const auto& kv) { return donors_->get(kv.second) == nullptr; });
}

void Engine::flush_disk() {
  for (store::Tier* t : tiers_) t->flush();
}

// Copies a new RAM donor's blocks that some tier does not store yet and queues them, with its record, on each
// tier that lacks the donor.
void Engine::demote_donor(uint64_t ram_id, uint64_t domain, std::span<const int32_t> prompt,
                          std::span<const kv::BlockId> blocks, std::span<const float> embedding) {
  if (tiers_.empty() || ram_id == 0) return;
  store::DonorRecord rec;
  rec.domain = domain;
  rec.content_key = store::donor_content_key(domain, prompt);
  remember_ram_donor(rec.content_key, ram_id);
  std::vector<store::Tier*> want;
  for (store::Tier* t : tiers_)
    if (!t->has_donor(rec.content_key)) want.push_back(t);
  if (want.empty()) return;
  rec.tokens.assign(prompt.begin(), prompt.end());
  rec.embedding.assign(embedding.begin(), embedding.end());
  std::vector<std::vector<store::BlockRecord>> out(want.size());  // (tiers) the blocks each one lacks
  const uint64_t fp = store_identity().model_fingerprint;
  for (kv::BlockId b : blocks) {
    const kv::KvBlock& kb = kv_->pool().block(b);
    rec.block_keys.push_back(kb.key.hash);
    store::BlockRecord br;
    for (size_t t = 0; t < want.size(); ++t) {
      if (want[t]->has_block(kb.key.hash)) continue;
      if (br.kv.empty()) {
        br.model_fingerprint = fp;
        br.key = kb.key.hash;
        br.parent = kb.key.parent;
        br.domain = kb.key.domain;
        const auto toks = kv_->pool().block_tokens(b);
        br.tokens.assign(toks.begin(), toks.end());
        br.kv.resize(static_cast<size_t>(kv_->storage().block_payload_bytes()));  // (block_payload_bytes)
        kv_->storage().read_block(b, br.kv);
      }
      out[t].push_back(br);
    }
  }
  for (size_t t = 0; t < want.size(); ++t) want[t]->put(std::move(out[t]), rec);
}

void Engine::add_disk_metrics(MetricsSnapshot& s) const {
  if (!disk_) return;
  const store::DiskTierStats d = disk_->stats();
  s.disk_enabled = true;
  s.disk_bytes_written = d.bytes_written;
  s.disk_bytes_read = d.bytes_read;
  s.disk_demotions = d.blocks_written;
  s.disk_promotions = d.blocks_read;
  s.disk_corrupt_records = d.corrupt_records;
  s.disk_write_errors = d.write_errors;
  s.disk_segments_skipped = d.segments_skipped;
  s.disk_usage_bytes = static_cast<int64_t>(d.usage_bytes);
  s.disk_blocks = static_cast<int64_t>(d.blocks);
  s.disk_donors = static_cast<int64_t>(d.donors);
}

}  // namespace kvs::engine
