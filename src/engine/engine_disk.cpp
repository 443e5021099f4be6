// The engine's side of the disk tier (store::DiskTier): write-on-donate, promotion of stored donors and prefix
// blocks back into the pool, and the tier metrics. Engine thread only (the tier's writer thread does the I/O).
//
// Why write-on-donate: a donor's blocks are copied to the tier's queue when the donor is registered, so an
// eviction (BlockPool::allocate, deep inside the allocation of another request) never has to copy or wait:
// the block is already on its way to disk or there. A crash loses at most the queued donations.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "engine/engine.h"
#include "kv/prefix_hash.h"
#include "store/model_fingerprint.h"

namespace kvs::engine {

namespace {
using Clock = std::chrono::steady_clock;

// Tokens of a donor's i-th block as its key hashes them: a full block, or the padded tail.
std::vector<int32_t> block_tokens_of(std::span<const int32_t> tokens, size_t i, int32_t bs) {
  std::vector<int32_t> out(static_cast<size_t>(bs), kv::kTailPad);
  const size_t from = i * static_cast<size_t>(bs);
  const size_t n = std::min<size_t>(static_cast<size_t>(bs), tokens.size() > from ? tokens.size() - from : 0);
  std::copy_n(tokens.begin() + static_cast<std::ptrdiff_t>(from), n, out.begin());
  return out;
}
}  // namespace

void Engine::open_disk_tier() {
  if (cfg_.disk_cache_dir.empty()) return;
  if (!donors_ || !embedder_) {
    disk_status_ = invalid_argument("--disk-cache needs semantic sharing (an embedder and the prefix cache)");
    return;
  }
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
  store::DiskTierConfig dc;
  dc.dir = cfg_.disk_cache_dir;
  dc.budget_bytes = static_cast<uint64_t>(cfg_.disk_cache_gib * 1024.0 * 1024.0 * 1024.0);
  dc.segment_bytes = std::min<uint64_t>(cfg_.disk_segment_bytes, std::max<uint64_t>(dc.budget_bytes / 4, 1));
  dc.fsync = cfg_.disk_fsync;
  auto t = store::DiskTier::open(dc, id);
  if (!t.is_ok()) {
    disk_status_ = t.status();
    return;
  }
  disk_ = std::move(t).value();
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
  if (disk_) disk_->flush();
}

// Copies a new RAM donor's blocks that are not stored yet and queues them with its record.
void Engine::demote_donor(uint64_t ram_id, uint64_t domain, std::span<const int32_t> prompt,
                          std::span<const kv::BlockId> blocks, std::span<const float> embedding) {
  if (!disk_ || ram_id == 0) return;
  store::DonorRecord rec;
  rec.domain = domain;
  rec.content_key = store::donor_content_key(domain, prompt);
  remember_ram_donor(rec.content_key, ram_id);
  if (disk_->has_donor(rec.content_key)) return;
  rec.tokens.assign(prompt.begin(), prompt.end());
  rec.embedding.assign(embedding.begin(), embedding.end());
  std::vector<store::BlockRecord> out;
  const uint64_t fp = disk_->identity().model_fingerprint;
  for (kv::BlockId b : blocks) {
    const kv::KvBlock& kb = kv_->pool().block(b);
    rec.block_keys.push_back(kb.key.hash);
    if (disk_->has_block(kb.key.hash)) continue;
    store::BlockRecord br;
    br.model_fingerprint = fp;
    br.key = kb.key.hash;
    br.parent = kb.key.parent;
    br.domain = kb.key.domain;
    const auto toks = kv_->pool().block_tokens(b);
    br.tokens.assign(toks.begin(), toks.end());
    br.kv.resize(static_cast<size_t>(kv_->storage().block_payload_bytes()));  // (block_payload_bytes)
    kv_->storage().read_block(b, br.kv);
    out.push_back(std::move(br));
  }
  disk_->put(std::move(out), std::move(rec));
}

std::optional<kv::BlockId> Engine::promote_block(const kv::BlockKey& key, std::span<const int32_t> tokens) {
  if (!disk_->has_block(key.hash)) return std::nullopt;
  auto ids = kv_->pool().allocate(1);
  if (!ids.is_ok()) return std::nullopt;
  const kv::BlockId b = ids.value()[0];
  const auto t0 = Clock::now();
  std::vector<std::byte> buf(static_cast<size_t>(kv_->storage().block_payload_bytes()));  // (block_payload_bytes)
  if (Status st = disk_->read_block(key.hash, key.domain, tokens, buf); !st.is_ok()) {
    kv_->pool().release(b);
    return std::nullopt;
  }
  kv_->storage().write_block(b, buf);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  metrics_.update([&](MetricsSnapshot& m) { m.disk_fetch.observe(s); });
  if (!kv_->pool().cache_block(b, key, tokens)) {  // another block holds the key (cannot happen after a miss)
    kv_->pool().release(b);
    return std::nullopt;
  }
  return b;  // one reference, owned by the caller
}

// The best stored donor of seq's domain, when it is not wholly resident, becomes a RAM donor again: each of its
// blocks is found in the pool or read back from disk (in chain order, stopping at the first that is neither).
void Engine::promote_donor(Sequence& seq) {
  if (!disk_ || seq.params.embedding.empty()) return;
  const int32_t bs = kv_->block_size();
  const float min_sim = static_cast<float>(cfg_.planner.similarity_threshold);
  const auto cands = disk_->search(seq.params.domain, seq.params.embedding, 1, min_sim);
  if (cands.empty()) return;
  const uint64_t ck = cands[0].donor_id;
  auto rec = disk_->donor(ck);
  if (!rec || rec->domain != seq.params.domain) return;
  auto ram = ram_donor_of_.find(ck);
  const share::Donor* resident = ram == ram_donor_of_.end() ? nullptr : donors_->get(ram->second);
  if (resident && resident->n_valid == static_cast<int32_t>(rec->block_keys.size())) return;
  std::vector<kv::BlockRef> pins;  // (blocks) held until the donor is registered: allocation must not evict them
  std::vector<kv::BlockId> blocks;
  int64_t read = 0;
  uint64_t parent = 0;
  for (size_t i = 0; i < rec->block_keys.size(); ++i) {
    const std::vector<int32_t> toks = block_tokens_of(rec->tokens, i, bs);
    const kv::BlockKey key = kv::block_key(rec->domain, parent, toks);
    if (key.hash != rec->block_keys[i]) break;  // a record that does not match its own tokens: stop
    std::optional<kv::BlockId> b = kv_->pool().lookup(key, toks);
    if (b) {
      pins.push_back(kv::BlockRef::share(&kv_->pool(), *b));
    } else {
      b = promote_block(key, toks);
      if (!b) break;
      pins.push_back(kv::BlockRef::adopt(&kv_->pool(), *b));
      ++read;
    }
    blocks.push_back(*b);
    parent = key.hash;
  }
  drain_evictions();  // the allocations above may have evicted other cached blocks
  // Nothing gained over the resident donor (every block it lacks is missing from disk too): keep it.
  if (blocks.empty() || (resident && resident->n_valid >= static_cast<int32_t>(blocks.size()))) return;
  const size_t n_tok = std::min(rec->tokens.size(), blocks.size() * static_cast<size_t>(bs));
  if (resident) donors_->retire(ram->second);
  const uint64_t id = donors_->add(rec->domain, std::span(rec->tokens).first(n_tok), blocks, rec->embedding);
  remember_ram_donor(ck, id);
  ++donor_generation_;
  seq.promoted_donor = id;
  seq.promoted_blocks += read;
}

// seq's leading full prompt blocks that are on disk but not in the pool are read back and cached, so that the
// exact prefix match below sees them.
void Engine::promote_prefix(Sequence& seq) {
  if (!disk_) return;
  const int32_t bs = kv_->block_size();
  const std::span<const int32_t> prompt(seq.tokens.data(), static_cast<size_t>(seq.n_prompt));
  const int64_t max_blocks = prompt.empty() ? 0 : (static_cast<int64_t>(prompt.size()) - 1) / bs;
  std::vector<kv::BlockRef> pins;
  uint64_t parent = 0;
  int64_t read = 0;
  for (int64_t i = 0; i < max_blocks; ++i) {
    const auto toks = prompt.subspan(static_cast<size_t>(i * bs), static_cast<size_t>(bs));
    const kv::BlockKey key = kv::block_key(seq.params.domain, parent, toks);
    if (auto hit = kv_->pool().lookup(key, toks)) {
      pins.push_back(kv::BlockRef::share(&kv_->pool(), *hit));
    } else if (auto b = promote_block(key, toks)) {
      pins.push_back(kv::BlockRef::adopt(&kv_->pool(), *b));
      ++read;
    } else {
      break;
    }
    parent = key.hash;
  }
  drain_evictions();
  seq.promoted_blocks += read;
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
