#include "store/redis_tier.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "store/record_check.h"

namespace kvs::store {

namespace {
using Clock = std::chrono::steady_clock;

std::string hex16(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof(b), "%016" PRIx64, v);
  return b;
}

bool parse_hex16(std::string_view s, uint64_t* out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

std::string_view as_view(const std::vector<std::byte>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

void log_line(const std::string& msg) { std::fprintf(stderr, "kvshare redis tier: %s\n", msg.c_str()); }
}  // namespace

RedisTier::RedisTier(const RedisTierConfig& cfg, const SegmentIdentity& id)
    : cfg_(cfg),
      id_(id),
      prefix_("kvs:" + hex16(identity_hash(id))),
      index_(static_cast<int>(std::max<uint32_t>(1, id.embed_dim))),
      reader_(cfg.url, cfg.connect_timeout_ms, cfg.command_timeout_ms),
      writer_(cfg.url, cfg.connect_timeout_ms, cfg.command_timeout_ms),
      sub_(cfg.url, cfg.connect_timeout_ms, cfg.command_timeout_ms + cfg.poll_ms) {}

Result<std::unique_ptr<RedisTier>> RedisTier::open(const RedisTierConfig& cfg, const SegmentIdentity& id) {
  if (cfg.url.host.empty()) return invalid_argument("redis tier: no host");
  if (cfg.ttl_s == 0 || cfg.budget_bytes == 0) return invalid_argument("redis tier: zero TTL or budget");
  if (cfg.connect_timeout_ms <= 0 || cfg.command_timeout_ms <= 0 || cfg.poll_ms <= 0)
    return invalid_argument("redis tier: timeouts must be positive");
  std::unique_ptr<RedisTier> t(new RedisTier(cfg, id));
  t->probe();
  t->writer_thread_ = std::thread([p = t.get()] { p->writer_loop(); });
  t->sub_thread_ = std::thread([p = t.get()] { p->subscriber_loop(); });
  return t;
}

RedisTier::~RedisTier() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  if (sub_thread_.joinable()) sub_thread_.join();
}

std::string RedisTier::block_key(uint64_t domain, uint64_t key) const {
  return prefix_ + ":" + hex16(domain) + ":blk:" + hex16(key);
}
std::string RedisTier::donor_key(uint64_t domain, uint64_t content_key) const {
  return prefix_ + ":" + hex16(domain) + ":don:" + hex16(content_key);
}
std::string RedisTier::stream_key() const { return prefix_ + ":donors"; }

void RedisTier::note(const Status& st) {
  if (st.is_ok()) {
    if (!up_.exchange(true)) log_line("connected to " + cfg_.url.host + ":" + std::to_string(cfg_.url.port));
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++stats_.errors;
  }
  if (up_.exchange(false))
    log_line("warning: redis unavailable, serving from local tiers (" + st.message() + ")");
}

// One block-sized SET + GET: the first bandwidth estimate (a GET's bytes over its round trip).
void RedisTier::probe() {
  const std::string key = prefix_ + ":probe";
  const std::string value(static_cast<size_t>(std::max<uint64_t>(id_.block_payload_bytes, 1)), 'p');
  std::lock_guard<std::mutex> lk(reader_mu_);
  auto set = reader_.command({"SET", key, value, "PX", "60000"});
  if (!set.is_ok()) {
    note(set.status());
    return;
  }
  const auto t0 = Clock::now();
  auto get = reader_.command({"GET", key});
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  note(get.is_ok() ? Status::ok() : get.status());
  if (get.is_ok() && get.value().str.size() == value.size()) observe_fetch(value.size(), s);
}

void RedisTier::observe_fetch(uint64_t bytes, double seconds) {
  const double bps = static_cast<double>(bytes) / std::max(seconds, 1e-7);
  std::lock_guard<std::mutex> lk(mu_);
  fetch_bps_ = fetch_bps_ == 0 ? bps : 0.7 * fetch_bps_ + 0.3 * bps;
}

double RedisTier::fetch_bytes_per_s() const {
  std::lock_guard<std::mutex> lk(mu_);
  return fetch_bps_;
}

bool RedisTier::has_block(uint64_t key) const {
  if (!up_.load()) return false;
  std::lock_guard<std::mutex> lk(mu_);
  return blocks_.count(key) > 0;
}

bool RedisTier::has_donor(uint64_t content_key) const {
  std::lock_guard<std::mutex> lk(mu_);
  return donors_.count(content_key) > 0 || queued_donors_.count(content_key) > 0;
}

bool RedisTier::put(std::vector<BlockRecord> blocks, DonorRecord donor) {
  Job job;
  for (const auto& b : blocks) job.bytes += b.kv.size() + b.tokens.size() * sizeof(int32_t) + 64;
  job.bytes += donor.tokens.size() * 4 + donor.block_keys.size() * 8 + donor.embedding.size() * 4 + 64;
  std::lock_guard<std::mutex> lk(mu_);
  if (stop_ || donors_.count(donor.content_key) || queued_donors_.count(donor.content_key) ||
      donor.embedding.size() != id_.embed_dim)
    return false;
  if (pending_bytes_ + job.bytes > cfg_.max_pending_bytes) {
    ++stats_.dropped_donations;
    return false;
  }
  queued_donors_.insert(donor.content_key);
  job.blocks = std::move(blocks);
  job.donor = std::move(donor);
  pending_bytes_ += job.bytes;
  queue_.push_back(std::move(job));
  cv_.notify_all();
  return true;
}

std::vector<share::DonorCandidate> RedisTier::search(uint64_t domain, std::span<const float> embedding, int k,
                                                     float min_sim) const {
  if (!up_.load()) return {};
  std::lock_guard<std::mutex> lk(mu_);
  if (embedding.size() != id_.embed_dim) return {};
  return index_.search(domain, embedding, k, min_sim);
}

std::optional<DonorRecord> RedisTier::donor(uint64_t content_key) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = donors_.find(content_key);
  if (it == donors_.end()) return std::nullopt;
  return it->second;
}

void RedisTier::forget_block(uint64_t key) {
  std::lock_guard<std::mutex> lk(mu_);
  blocks_.erase(key);
}

Status RedisTier::read_block(uint64_t key, uint64_t domain, std::span<const int32_t> tokens,
                             std::span<std::byte> out) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = blocks_.find(key);
    if (it == blocks_.end()) return not_found("block not in redis");
    if (it->second != domain) return not_found("block of another share domain");
  }
  const auto t0 = Clock::now();
  Result<RedisReply> r = io_error("unset");
  {
    std::lock_guard<std::mutex> lk(reader_mu_);
    r = reader_.command({"GET", block_key(domain, key)});
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  note(r.is_ok() ? Status::ok() : r.status());
  if (!r.is_ok()) {
    observe_fetch(out.size(), std::max(s, cfg_.command_timeout_ms / 1000.0));  // a failed fetch prices as slow
    return r.status();
  }
  if (r.value().kind != RedisReply::Kind::kString) {
    forget_block(key);
    std::lock_guard<std::mutex> lk(mu_);
    ++stats_.misses;
    return not_found("block expired or evicted from redis");
  }
  const std::string& v = r.value().str;
  auto payload = unframe_record(as_bytes(v), RecordType::kBlock);
  Result<BlockRecord> rec = payload.is_ok() ? decode_block(payload.value()) : Result<BlockRecord>(payload.status());
  Status st = rec.is_ok() ? verify_block(rec.value(), id_, key, domain, tokens, out.size()) : rec.status();
  if (!st.is_ok()) {
    log_line("refusing block " + block_key(domain, key) + ": " + st.message());
    forget_block(key);
    std::lock_guard<std::mutex> lk(mu_);
    ++stats_.corrupt_records;
    return corrupt(st.message());
  }
  std::memcpy(out.data(), rec.value().kv.data(), out.size());
  observe_fetch(v.size(), s);
  std::lock_guard<std::mutex> lk(mu_);
  ++stats_.blocks_read;
  stats_.bytes_read += v.size();
  return Status::ok();
}

void RedisTier::flush() {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return queue_.empty() && !busy_; });
}

RedisTierStats RedisTier::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  RedisTierStats s = stats_;
  s.blocks = blocks_.size();
  s.donors = donors_.size();
  s.up = up_.load();
  s.fetch_bytes_per_s = fetch_bps_;
  return s;
}

void RedisTier::writer_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lk.unlock();
    write_job(job);
    enforce_budget();
    lk.lock();
    pending_bytes_ -= job.bytes;
    queued_donors_.erase(job.donor.content_key);
    busy_ = false;
    cv_.notify_all();
  }
}

// Writer thread: the blocks, the donor record and its announcement in one pipeline; indexed once acknowledged.
void RedisTier::write_job(const Job& job) {
  const std::string px = std::to_string(cfg_.ttl_s * 1000);
  std::vector<std::vector<std::byte>> values;  // framed records, kept alive for the pipeline
  std::vector<std::string> keys;
  std::vector<RedisArgs> cmds;
  for (const auto& b : job.blocks) {
    values.push_back(frame_record(RecordType::kBlock, encode_block(b)));
    keys.push_back(block_key(b.domain, b.key));
  }
  values.push_back(frame_record(RecordType::kDonor, encode_donor(job.donor)));
  keys.push_back(donor_key(job.donor.domain, job.donor.content_key));
  for (size_t i = 0; i < keys.size(); ++i) cmds.push_back({"SET", keys[i], as_view(values[i]), "PX", px});
  const std::string stream = stream_key(), maxlen = std::to_string(cfg_.stream_maxlen);
  const std::string entry = hex16(job.donor.domain) + ":" + hex16(job.donor.content_key);
  cmds.push_back({"XADD", stream, "MAXLEN", "~", maxlen, "*", "v", entry});
  auto r = writer_.pipeline(cmds);
  note(r.is_ok() ? Status::ok() : r.status());
  if (!r.is_ok()) {
    std::lock_guard<std::mutex> lk(mu_);
    ++stats_.dropped_donations;
    return;
  }
  uint64_t bytes = 0;
  const auto now = Clock::now();
  std::lock_guard<std::mutex> lk(mu_);
  for (size_t i = 0; i < job.blocks.size(); ++i) {
    blocks_[job.blocks[i].key] = job.blocks[i].domain;
    written_.push_back({keys[i], values[i].size(), now, job.blocks[i].key, 0});
    bytes += values[i].size();
  }
  for (uint64_t k : job.donor.block_keys) blocks_.emplace(k, job.donor.domain);  // stored before (dedup)
  written_.push_back({keys.back(), values.back().size(), now, 0, job.donor.content_key});
  bytes += values.back().size();
  index_.add(job.donor.domain, job.donor.content_key, job.donor.embedding);
  donors_[job.donor.content_key] = job.donor;
  written_bytes_ += bytes;
  stats_.bytes_written += bytes;
  stats_.blocks_written += job.blocks.size();
  ++stats_.donors_written;
}

// Writer thread. Keys past their TTL are gone from Redis already; then the oldest are deleted while over budget.
void RedisTier::enforce_budget() {
  const auto ttl = std::chrono::seconds(cfg_.ttl_s);
  const auto now = Clock::now();
  std::vector<Written> evict;
  while (!written_.empty() && (now - written_.front().at >= ttl || written_bytes_ > cfg_.budget_bytes)) {
    if (now - written_.front().at < ttl) evict.push_back(written_.front());
    written_bytes_ -= written_.front().bytes;
    written_.pop_front();
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.usage_bytes = written_bytes_;
    for (const Written& w : evict) {
      if (w.block) blocks_.erase(w.block);
      if (w.donor && donors_.erase(w.donor)) index_.remove(w.donor);
    }
    stats_.keys_evicted += evict.size();
  }
  if (evict.empty()) return;
  RedisArgs del{"DEL"};
  for (const Written& w : evict) del.push_back(w.key);
  auto r = writer_.command(del);
  note(r.is_ok() ? Status::ok() : r.status());
}

void RedisTier::subscriber_loop() {
  std::string last_id = "0-0";  // from the start: donors announced before this instance started
  const std::string stream = stream_key(), block_ms = std::to_string(cfg_.poll_ms);
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) return;
    }
    auto r = sub_.command({"XREAD", "COUNT", "256", "BLOCK", block_ms, "STREAMS", stream, last_id});
    note(r.is_ok() ? Status::ok() : r.status());
    if (!r.is_ok()) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait_for(lk, std::chrono::milliseconds(cfg_.poll_ms), [&] { return stop_; });
      continue;
    }
    // [[stream, [[id, [field, value, ...]], ...]]] or nil on timeout
    for (const RedisReply& s : r.value().elements) {
      if (s.elements.size() != 2) continue;
      for (const RedisReply& e : s.elements[1].elements) {
        if (e.elements.size() != 2) continue;
        last_id = e.elements[0].str;
        const auto& f = e.elements[1].elements;
        for (size_t i = 0; i + 1 < f.size(); i += 2)
          if (f[i].str == "v") learn(f[i + 1].str);
      }
    }
  }
}

// Subscriber thread: one announced donor, read back and verified, joins the local index.
void RedisTier::learn(std::string_view entry) {
  uint64_t domain = 0, ck = 0;
  if (entry.size() != 33 || entry[16] != ':' || !parse_hex16(entry.substr(0, 16), &domain) ||
      !parse_hex16(entry.substr(17), &ck))
    return;
  if (has_donor(ck)) return;
  auto r = sub_.command({"GET", donor_key(domain, ck)});
  note(r.is_ok() ? Status::ok() : r.status());
  if (!r.is_ok() || r.value().kind != RedisReply::Kind::kString) return;  // expired or unreachable
  auto payload = unframe_record(as_bytes(r.value().str), RecordType::kDonor);
  Result<DonorRecord> rec = payload.is_ok() ? decode_donor(payload.value()) : Result<DonorRecord>(payload.status());
  Status st = rec.is_ok() ? verify_donor(rec.value(), id_) : rec.status();
  if (st.is_ok() && (rec.value().domain != domain || rec.value().content_key != ck))
    st = corrupt("donor record under another domain or key");
  std::lock_guard<std::mutex> lk(mu_);
  if (!st.is_ok()) {
    ++stats_.corrupt_records;
    return;
  }
  for (uint64_t k : rec.value().block_keys) blocks_.emplace(k, domain);
  index_.add(domain, ck, rec.value().embedding);
  donors_[ck] = std::move(rec).value();
  ++stats_.donors_learned;
}

}  // namespace kvs::store
