#include "store/disk_tier.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "store/record_check.h"
#include "store/segment_scanner.h"

namespace kvs::store {

namespace {
constexpr char kPrefix[] = "seg-";
constexpr char kSuffix[] = ".kvs";

// The segment number of "seg-<digits>.kvs", or -1.
int64_t parse_segment_name(const std::string& name) {
  const size_t p = sizeof(kPrefix) - 1, s = sizeof(kSuffix) - 1;
  if (name.size() <= p + s || name.compare(0, p, kPrefix) != 0 || name.compare(name.size() - s, s, kSuffix) != 0)
    return -1;
  int64_t v = 0;
  for (size_t i = p; i < name.size() - s; ++i) {
    if (name[i] < '0' || name[i] > '9' || v > (int64_t{1} << 40)) return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

void log_line(const std::string& msg) { std::fprintf(stderr, "kvshare disk tier: %s\n", msg.c_str()); }
}  // namespace

DiskTier::DiskTier(const DiskTierConfig& cfg, const SegmentIdentity& id, Env* env)
    : cfg_(cfg), id_(id), env_(env), index_(static_cast<int>(std::max<uint32_t>(1, id.embed_dim))) {}

Result<std::unique_ptr<DiskTier>> DiskTier::open(const DiskTierConfig& cfg, const SegmentIdentity& id, Env* env) {
  if (cfg.dir.empty()) return invalid_argument("disk tier: no directory");
  if (cfg.budget_bytes == 0 || cfg.segment_bytes == 0) return invalid_argument("disk tier: zero budget or segment size");
  if (Status st = env->make_dirs(cfg.dir); !st.is_ok()) return st;
  std::unique_ptr<DiskTier> t(new DiskTier(cfg, id, env));
  if (Status st = t->scan(); !st.is_ok()) return st;
  t->thread_ = std::thread([p = t.get()] { p->writer_loop(); });
  return t;
}

DiskTier::~DiskTier() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (writer_) writer_->close();
}

std::string DiskTier::segment_path(int64_t seg) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%s%08lld%s", kPrefix, static_cast<long long>(seg), kSuffix);
  return cfg_.dir + "/" + name;
}

Status DiskTier::scan() {
  auto names = env_->list(cfg_.dir);
  if (!names.is_ok()) return names.status();
  std::vector<int64_t> segs;
  for (const auto& n : names.value())
    if (int64_t s = parse_segment_name(n); s >= 0) segs.push_back(s);
  std::sort(segs.begin(), segs.end());
  std::lock_guard<std::mutex> lk(mu_);
  for (int64_t seg : segs) {
    next_segment_ = std::max(next_segment_, seg + 1);
    const std::string path = segment_path(seg);
    segments_[seg].path = path;
    auto rep = scan_segment(env_, path, id_, [&](RecordType type, uint64_t off, std::span<const std::byte> payload) {
      index_scanned(seg, type, off, payload);
    });
    if (!rep.is_ok()) {  // another model's, or unreadable: skipped whole, left alone on disk
      log_line("skipping segment " + path + ": " + rep.status().message());
      segments_.erase(seg);
      ++stats_.segments_skipped;
      continue;
    }
    const ScanReport& r = rep.value();
    auto size = env_->file_size(path);
    segments_[seg].bytes = size.is_ok() ? size.value() : r.valid_bytes;
    stats_.corrupt_records += r.corrupt_records;
    if (r.torn_tail) ++stats_.torn_tails;
    if (!r.first_problem.empty())
      log_line(path + ": " + r.first_problem + " (" + std::to_string(r.corrupt_records) + " corrupt record(s) skipped" +
               (r.torn_tail ? ", torn tail ignored)" : ")"));
  }
  enforce_budget();
  return Status::ok();
}

// REQUIRES mu_. Later records of a key replace earlier ones (segments are scanned oldest first).
void DiskTier::index_scanned(int64_t seg, RecordType type, uint64_t offset, std::span<const std::byte> payload) {
  if (type == RecordType::kBlock) {
    auto r = decode_block(payload);
    if (!r.is_ok() || r.value().model_fingerprint != id_.model_fingerprint ||
        r.value().kv.size() != id_.block_payload_bytes || r.value().tokens.size() != id_.block_size) {
      ++stats_.corrupt_records;
      return;
    }
    blocks_[r.value().key] = BlockEntry{r.value().domain, seg, offset, nullptr};
    segments_[seg].blocks.push_back(r.value().key);
    return;
  }
  auto r = decode_donor(payload);
  if (!r.is_ok() || !verify_donor(r.value(), id_).is_ok()) {
    ++stats_.corrupt_records;
    return;
  }
  const uint64_t key = r.value().content_key;
  index_.add(r.value().domain, key, r.value().embedding);
  donors_[key] = DonorEntry{std::move(r).value(), seg};
  segments_[seg].donors.push_back(key);
}

bool DiskTier::has_block(uint64_t key) const {
  std::lock_guard<std::mutex> lk(mu_);
  return blocks_.count(key) > 0;
}

bool DiskTier::has_donor(uint64_t content_key) const {
  std::lock_guard<std::mutex> lk(mu_);
  return donors_.count(content_key) > 0;
}

bool DiskTier::put(std::vector<BlockRecord> blocks, DonorRecord donor) {
  Job job;
  for (auto& b : blocks) {
    job.bytes += b.kv.size() + b.tokens.size() * sizeof(int32_t) + 64;
    job.blocks.push_back(std::make_shared<const BlockRecord>(std::move(b)));
  }
  job.bytes += donor.tokens.size() * 4 + donor.block_keys.size() * 8 + donor.embedding.size() * 4 + 64;
  std::lock_guard<std::mutex> lk(mu_);
  if (stop_ || donors_.count(donor.content_key) || donor.embedding.size() != id_.embed_dim) return false;
  if (pending_bytes_ + job.bytes > cfg_.max_pending_bytes) {
    ++stats_.dropped_donations;
    return false;
  }
  for (const auto& b : job.blocks)
    if (!blocks_.count(b->key)) blocks_[b->key] = BlockEntry{b->domain, -1, 0, b};
  index_.add(donor.domain, donor.content_key, donor.embedding);
  donors_[donor.content_key] = DonorEntry{donor, -1};
  job.donor = std::move(donor);
  pending_bytes_ += job.bytes;
  queue_.push_back(std::move(job));
  cv_.notify_all();
  return true;
}

std::vector<share::DonorCandidate> DiskTier::search(uint64_t domain, std::span<const float> embedding, int k,
                                                    float min_sim) const {
  std::lock_guard<std::mutex> lk(mu_);
  if (embedding.size() != id_.embed_dim) return {};
  return index_.search(domain, embedding, k, min_sim);
}

std::optional<DonorRecord> DiskTier::donor(uint64_t content_key) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = donors_.find(content_key);
  if (it == donors_.end()) return std::nullopt;
  return it->second.rec;
}

Status DiskTier::read_block(uint64_t key, uint64_t domain, std::span<const int32_t> tokens, std::span<std::byte> out) {
  std::shared_ptr<const BlockRecord> rec;
  std::string path;
  uint64_t offset = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = blocks_.find(key);
    if (it == blocks_.end()) return not_found("block not on disk");
    if (it->second.domain != domain) return not_found("block of another share domain");
    if (it->second.queued) {
      rec = it->second.queued;
    } else {
      path = segments_.at(it->second.segment).path;
      offset = it->second.offset;
    }
  }
  if (!rec) {
    auto payload = read_record(env_, path, offset, RecordType::kBlock);
    Result<BlockRecord> r = payload.is_ok() ? decode_block(payload.value()) : Result<BlockRecord>(payload.status());
    if (!r.is_ok()) {
      log_line("refusing block from " + path + ": " + r.status().message());
      std::lock_guard<std::mutex> lk(mu_);
      ++stats_.corrupt_records;
      return corrupt(r.status().message());
    }
    rec = std::make_shared<const BlockRecord>(std::move(r).value());
    std::lock_guard<std::mutex> lk(mu_);
    stats_.bytes_read += payload.value().size() + kRecordHeaderBytes;
  }
  if (Status st = verify_block(*rec, id_, key, domain, tokens, out.size()); !st.is_ok()) {
    std::lock_guard<std::mutex> lk(mu_);
    ++stats_.corrupt_records;
    return st;
  }
  std::memcpy(out.data(), rec->kv.data(), out.size());
  std::lock_guard<std::mutex> lk(mu_);
  ++stats_.blocks_read;
  return Status::ok();
}

void DiskTier::flush() {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return queue_.empty() && !busy_; });
}

DiskTierStats DiskTier::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  DiskTierStats s = stats_;
  s.segments = segments_.size();
  s.blocks = blocks_.size();
  s.donors = donors_.size();
  s.usage_bytes = 0;
  for (const auto& [id, seg] : segments_) s.usage_bytes += seg.bytes;
  return s;
}

void DiskTier::writer_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lk.unlock();
    write_job(job);
    lk.lock();
    pending_bytes_ -= job.bytes;
    busy_ = false;
    enforce_budget();
    cv_.notify_all();
  }
}

// Writer thread: the job's blocks, then its donor record (a donor is only indexed from disk after its blocks).
void DiskTier::write_job(const Job& job) {
  std::vector<std::pair<uint64_t, std::pair<int64_t, uint64_t>>> placed;  // block key -> (segment, offset)
  uint64_t written = 0;
  Status failed = Status::ok();
  for (const auto& b : job.blocks) {
    const auto payload = encode_block(*b);
    int64_t seg = -1;
    auto off = append(RecordType::kBlock, payload, &seg);
    if (!off.is_ok()) {
      failed = off.status();
      break;
    }
    placed.push_back({b->key, {seg, off.value()}});
    written += payload.size() + kRecordHeaderBytes;
  }
  int64_t donor_seg = -1;
  if (failed.is_ok()) {
    const auto payload = encode_donor(job.donor);
    auto off = append(RecordType::kDonor, payload, &donor_seg);
    if (off.is_ok()) {
      written += payload.size() + kRecordHeaderBytes;
      if (cfg_.fsync) failed = writer_->sync();
    } else {
      failed = off.status();
    }
  }
  std::lock_guard<std::mutex> lk(mu_);
  stats_.bytes_written += written;
  for (const auto& [key, where] : placed) {
    auto it = blocks_.find(key);
    if (it == blocks_.end() || !it->second.queued) continue;
    it->second = BlockEntry{it->second.domain, where.first, where.second, nullptr};
    segments_[where.first].blocks.push_back(key);
    ++stats_.blocks_written;
  }
  if (!failed.is_ok()) {
    log_line("write failed: " + failed.message() + " (the donation stays in RAM only)");
    ++stats_.write_errors;
    drop_job_entries(job);
    return;
  }
  if (auto it = donors_.find(job.donor.content_key); it != donors_.end()) {
    it->second.segment = donor_seg;
    segments_[donor_seg].donors.push_back(job.donor.content_key);
    ++stats_.donors_written;
  }
}

Result<uint64_t> DiskTier::append(RecordType type, std::span<const std::byte> payload, int64_t* seg) {
  if (writer_ && (writer_->broken() || writer_->size() >= cfg_.segment_bytes)) {
    if (!writer_->broken() && cfg_.fsync) writer_->sync();
    writer_->close();
    writer_.reset();
  }
  if (!writer_) {
    int64_t n;
    {
      std::lock_guard<std::mutex> lk(mu_);
      n = next_segment_++;
      segments_[n].path = segment_path(n);
    }
    auto w = SegmentWriter::create(env_, segment_path(n), id_);
    if (!w.is_ok()) {
      std::lock_guard<std::mutex> lk(mu_);
      segments_.erase(n);
      return w.status();
    }
    writer_ = std::move(w).value();
    writer_segment_ = n;
  }
  auto off = writer_->append(type, payload);
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (auto it = segments_.find(writer_segment_); it != segments_.end()) it->second.bytes = writer_->size();
  }
  *seg = writer_segment_;
  return off;
}

// REQUIRES mu_. The job's queued entries leave the index (what was written stays, pointing at disk).
void DiskTier::drop_job_entries(const Job& job) {
  for (const auto& b : job.blocks) {
    auto it = blocks_.find(b->key);
    if (it != blocks_.end() && it->second.queued == b) blocks_.erase(it);
  }
  auto d = donors_.find(job.donor.content_key);
  if (d != donors_.end() && d->second.segment < 0) {
    index_.remove(job.donor.content_key);
    donors_.erase(d);
  }
}

// REQUIRES mu_. Oldest segments first; never the one being written.
void DiskTier::enforce_budget() {
  for (;;) {
    uint64_t total = 0;
    for (const auto& [id, s] : segments_) total += s.bytes;
    if (total <= cfg_.budget_bytes || segments_.empty()) return;
    const int64_t oldest = segments_.begin()->first;
    if (oldest == writer_segment_ && writer_) return;
    delete_segment(oldest);
  }
}

void DiskTier::delete_segment(int64_t seg) {
  auto it = segments_.find(seg);
  if (it == segments_.end()) return;
  for (uint64_t key : it->second.blocks) {
    auto b = blocks_.find(key);
    if (b != blocks_.end() && b->second.segment == seg) blocks_.erase(b);
  }
  for (uint64_t key : it->second.donors) {
    auto d = donors_.find(key);
    if (d != donors_.end() && d->second.segment == seg) {
      index_.remove(key);
      donors_.erase(d);
    }
  }
  if (Status st = env_->remove(it->second.path); !st.is_ok()) log_line(st.message());
  segments_.erase(it);
  ++stats_.segments_deleted;
}

}  // namespace kvs::store
