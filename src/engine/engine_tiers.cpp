// The engine's side of the Redis tier and of promotion from any tier (store::Tier: disk first, then Redis).
// Engine thread only. A Redis read runs on the engine thread under the client's command timeout (a fetch is
// a short GET; while Redis is down the tier answers has_block false, so nothing waits); every write, the
// announcements and the subscriber run on the tier's own threads.
//
// Cost model: before a promotion fetches blocks from Redis, share::price_fetch compares their fetch time (the
// tier's measured bandwidth) with recomputing their tokens (this engine's measured prefill speed); a remote
// fetch that loses is not made, and the request reports the decision (ShareReport::remote_decision).
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "engine/engine.h"
#include "kv/prefix_hash.h"
#include "share/fetch_cost.h"

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

void Engine::open_redis_tier() {
  if (cfg_.redis_url.empty()) return;
  if (!donors_ || !embedder_) {
    redis_status_ = invalid_argument("--redis needs semantic sharing (an embedder and the prefix cache)");
    return;
  }
  auto url = store::parse_redis_url(cfg_.redis_url);
  if (!url.is_ok()) {
    redis_status_ = url.status();
    return;
  }
  store::RedisTierConfig rc;
  rc.url = url.value();
  rc.ttl_s = static_cast<uint64_t>(cfg_.redis_ttl_s);
  rc.budget_bytes = static_cast<uint64_t>(cfg_.redis_max_mib * 1024.0 * 1024.0);
  rc.command_timeout_ms = cfg_.redis_timeout_ms;
  rc.connect_timeout_ms = std::max(1, cfg_.redis_timeout_ms / 2);
  auto t = store::RedisTier::open(rc, store_identity());
  if (!t.is_ok()) {
    redis_status_ = t.status();
    return;
  }
  redis_ = std::move(t).value();
  tiers_.push_back(redis_.get());
  std::fprintf(stderr, "kvshare redis tier: %s:%d db %d (%s, probe %.0f MiB/s, ttl %.0f s, budget %.0f MiB)\n",
               rc.url.host.c_str(), rc.url.port, rc.url.db, redis_->up() ? "up" : "DOWN, retrying",
               redis_->fetch_bytes_per_s() / (1 << 20), cfg_.redis_ttl_s, cfg_.redis_max_mib);
}

// Steps that are mostly prompt rows (blend steps excluded: they recompute a subset) time the prefill speed.
void Engine::observe_prefill(int64_t rows, double forward_ms) {
  if (rows < 8 || !(forward_ms > 0)) return;
  const double tps = static_cast<double>(rows) / (forward_ms / 1000.0);
  prefill_tps_ = prefill_tps_ == 0 ? tps : 0.7 * prefill_tps_ + 0.3 * tps;
  if (redis_) metrics_.update([&](MetricsSnapshot& m) { m.prefill_tokens_per_s = prefill_tps_; });
}

bool Engine::remote_fetch_pays(Sequence& seq, int64_t remote) {
  share::FetchCostInputs in;
  in.blocks = remote;
  in.block_bytes = kv_->storage().block_payload_bytes();
  in.block_tokens = kv_->block_size();
  in.fetch_bytes_per_s = redis_ ? redis_->fetch_bytes_per_s() : 0;
  in.prefill_tokens_per_s = prefill_tps_;
  const share::FetchDecision d = share::price_fetch(in);
  seq.remote_decision = d.fetch ? "fetch" : "recompute";
  seq.remote_fetch_s = d.fetch_s;
  seq.remote_recompute_s = d.recompute_s;
  metrics_.update([&](MetricsSnapshot& m) { ++(d.fetch ? m.redis_decisions_fetch : m.redis_decisions_recompute); });
  return d.fetch;
}

std::optional<kv::BlockId> Engine::promote_block(const kv::BlockKey& key, std::span<const int32_t> tokens,
                                                 bool remote_ok, Sequence& seq) {
  std::optional<kv::BlockId> got;
  std::vector<std::byte> buf;  // (block_payload_bytes)
  for (store::Tier* t : tiers_) {
    const bool remote = t == redis_.get();
    if ((remote && !remote_ok) || !t->has_block(key.hash)) continue;
    if (!got) {
      auto ids = kv_->pool().allocate(1);
      if (!ids.is_ok()) return std::nullopt;
      got = ids.value()[0];
      buf.resize(static_cast<size_t>(kv_->storage().block_payload_bytes()));
    }
    const auto t0 = Clock::now();
    if (!t->read_block(key.hash, key.domain, tokens, buf).is_ok()) continue;  // refused or unreachable: next tier
    kv_->storage().write_block(*got, buf);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    metrics_.update([&](MetricsSnapshot& m) { (remote ? m.redis_fetch : m.disk_fetch).observe(s); });
    if (!kv_->pool().cache_block(*got, key, tokens)) break;  // another block holds the key (cannot after a miss)
    ++seq.promoted_blocks;
    if (remote) ++seq.redis_blocks;
    return got;  // one reference, owned by the caller
  }
  if (got) kv_->pool().release(*got);
  return std::nullopt;
}

// The best stored donor of seq's domain over every tier, when it is not wholly resident, becomes a RAM donor
// again: each of its blocks is found in the pool or read back from a tier (in chain order, stopping at the
// first that is nowhere). Blocks only Redis holds are fetched when the cost model says fetching pays.
void Engine::promote_donor(Sequence& seq) {
  if (tiers_.empty() || seq.params.embedding.empty()) return;
  const int32_t bs = kv_->block_size();
  const float min_sim = static_cast<float>(cfg_.planner.similarity_threshold);
  store::Tier* from = nullptr;
  share::DonorCandidate best;
  for (store::Tier* t : tiers_) {
    const auto c = t->search(seq.params.domain, seq.params.embedding, 1, min_sim);
    if (!c.empty() && (!from || c[0].similarity > best.similarity)) from = t, best = c[0];
  }
  if (!from) return;
  const uint64_t ck = best.donor_id;
  auto rec = from->donor(ck);
  if (!rec || rec->domain != seq.params.domain) return;
  auto ram = ram_donor_of_.find(ck);
  const share::Donor* resident = ram == ram_donor_of_.end() ? nullptr : donors_->get(ram->second);
  if (resident && resident->n_valid == static_cast<int32_t>(rec->block_keys.size())) return;
  // Pass 1: how many blocks only Redis would supply (priced once, before any fetch).
  int64_t remote = 0;
  uint64_t parent = 0;
  for (size_t i = 0; i < rec->block_keys.size(); ++i) {
    const std::vector<int32_t> toks = block_tokens_of(rec->tokens, i, bs);
    const kv::BlockKey key = kv::block_key(rec->domain, parent, toks);
    if (key.hash != rec->block_keys[i]) break;
    const bool local = kv_->pool().lookup(key, toks) || (disk_ && disk_->has_block(key.hash));
    if (!local && !(redis_ && redis_->has_block(key.hash))) break;
    remote += local ? 0 : 1;
    parent = key.hash;
  }
  const bool remote_ok = remote == 0 || remote_fetch_pays(seq, remote);
  std::vector<kv::BlockRef> pins;  // (blocks) held until the donor is registered: allocation must not evict them
  std::vector<kv::BlockId> blocks;
  const int64_t read_before = seq.promoted_blocks;
  parent = 0;
  for (size_t i = 0; i < rec->block_keys.size(); ++i) {
    const std::vector<int32_t> toks = block_tokens_of(rec->tokens, i, bs);
    const kv::BlockKey key = kv::block_key(rec->domain, parent, toks);
    if (key.hash != rec->block_keys[i]) break;  // a record that does not match its own tokens: stop
    std::optional<kv::BlockId> b = kv_->pool().lookup(key, toks);
    if (b) {
      pins.push_back(kv::BlockRef::share(&kv_->pool(), *b));
    } else {
      b = promote_block(key, toks, remote_ok, seq);
      if (!b) break;
      pins.push_back(kv::BlockRef::adopt(&kv_->pool(), *b));
    }
    blocks.push_back(*b);
    parent = key.hash;
  }
  drain_evictions();  // the allocations above may have evicted other cached blocks
  // Nothing gained over the resident donor (every block it lacks is missing from the tiers too): keep it.
  if (blocks.empty() || (resident && resident->n_valid >= static_cast<int32_t>(blocks.size()))) return;
  const size_t n_tok = std::min(rec->tokens.size(), blocks.size() * static_cast<size_t>(bs));
  if (resident) donors_->retire(ram->second);
  const uint64_t id = donors_->add(rec->domain, std::span(rec->tokens).first(n_tok), blocks, rec->embedding);
  remember_ram_donor(ck, id);
  ++donor_generation_;
  if (seq.promoted_blocks > read_before) seq.promoted_donor = id;
}

// seq's leading full prompt blocks that a tier holds but the pool does not are read back and cached, so that
// the exact prefix match sees them.
void Engine::promote_prefix(Sequence& seq) {
  if (tiers_.empty()) return;
  const int32_t bs = kv_->block_size();
  const std::span<const int32_t> prompt(seq.tokens.data(), static_cast<size_t>(seq.n_prompt));
  const int64_t max_blocks = prompt.empty() ? 0 : (static_cast<int64_t>(prompt.size()) - 1) / bs;
  int64_t remote = 0;
  uint64_t parent = 0;
  for (int64_t i = 0; i < max_blocks; ++i) {
    const auto toks = prompt.subspan(static_cast<size_t>(i * bs), static_cast<size_t>(bs));
    const kv::BlockKey key = kv::block_key(seq.params.domain, parent, toks);
    const bool local = kv_->pool().lookup(key, toks) || (disk_ && disk_->has_block(key.hash));
    if (!local && !(redis_ && redis_->has_block(key.hash))) break;
    remote += local ? 0 : 1;
    parent = key.hash;
  }
  const bool remote_ok = remote == 0 || remote_fetch_pays(seq, remote);
  std::vector<kv::BlockRef> pins;
  parent = 0;
  for (int64_t i = 0; i < max_blocks; ++i) {
    const auto toks = prompt.subspan(static_cast<size_t>(i * bs), static_cast<size_t>(bs));
    const kv::BlockKey key = kv::block_key(seq.params.domain, parent, toks);
    if (auto hit = kv_->pool().lookup(key, toks)) {
      pins.push_back(kv::BlockRef::share(&kv_->pool(), *hit));
    } else if (auto b = promote_block(key, toks, remote_ok, seq)) {
      pins.push_back(kv::BlockRef::adopt(&kv_->pool(), *b));
    } else {
      break;
    }
    parent = key.hash;
  }
  drain_evictions();
}

void Engine::add_redis_metrics(MetricsSnapshot& s) const {
  if (!redis_) return;
  const store::RedisTierStats r = redis_->stats();
  s.redis_enabled = true;
  s.redis_up = r.up;
  s.redis_bytes_written = r.bytes_written;
  s.redis_bytes_read = r.bytes_read;
  s.redis_blocks_written = r.blocks_written;
  s.redis_blocks_read = r.blocks_read;
  s.redis_donors_written = r.donors_written;
  s.redis_donors_learned = r.donors_learned;
  s.redis_misses = r.misses;
  s.redis_corrupt_records = r.corrupt_records;
  s.redis_errors = r.errors;
  s.redis_dropped_donations = r.dropped_donations;
  s.redis_keys_evicted = r.keys_evicted;
  s.redis_usage_bytes = static_cast<int64_t>(r.usage_bytes);
  s.redis_blocks = static_cast<int64_t>(r.blocks);
  s.redis_donors = static_cast<int64_t>(r.donors);
  s.redis_fetch_bytes_per_s = r.fetch_bytes_per_s;
}

}  // namespace kvs::engine
