// DiskTier: the local-disk tier behind the RAM block pool. Donations are written here (write-on-donate: the
// engine copies a new donor's blocks once, a writer thread appends them to segment files), so a block evicted
// from RAM needs no copy at eviction time and is still on disk; a lookup that needs it promotes it back
// (read_block). A restart rebuilds the index from the segments (open()).
//
//   dir/seg-<8 digits>.kvs   append-only segments (segment_format.h, records.h), oldest deleted first when the
//                            total exceeds budget_bytes
//   index (RAM)              block key -> (segment, offset) or the queued record; donor content key -> its
//                            DonorRecord; an ANN index (share::DonorIndex) over the donors' embeddings per domain
//
// Invariants: a block or donor is in the index only while its record is queued or on disk in a live segment
// (a failed write or a deleted segment removes its entries); read_block serves only bytes whose checksums,
// model fingerprint, key, domain and tokens all match (never a block of another model or domain); a record is
// written at most once per key while it is indexed (has_block / has_donor dedup); queued bytes are bounded by
// max_pending_bytes (put() drops a donation beyond it).
// Thread-safety: every public method may be called from any thread; one writer thread does the file writes.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "share/donor_index.h"
#include "store/env.h"
#include "store/records.h"
#include "store/segment_format.h"
#include "store/segment_writer.h"
#include "store/tier.h"

namespace kvs::store {

struct DiskTierConfig {
  std::string dir;
  uint64_t budget_bytes = uint64_t{4} << 30;     // total segment bytes kept (oldest segments deleted first)
  uint64_t segment_bytes = uint64_t{64} << 20;   // a segment is closed once it reaches this size
  uint64_t max_pending_bytes = uint64_t{256} << 20;  // queued, not yet written
  bool fsync = true;                             // fdatasync after each donation's records
};

struct DiskTierStats {
  uint64_t bytes_written = 0, bytes_read = 0;
  uint64_t blocks_written = 0, blocks_read = 0;  // demotions / promotions
  uint64_t donors_written = 0;
  uint64_t usage_bytes = 0;                      // bytes of the live segments
  uint64_t segments = 0, blocks = 0, donors = 0; // live
  uint64_t corrupt_records = 0;                  // skipped at scan or refused at read
  uint64_t torn_tails = 0, segments_skipped = 0; // at scan: torn tails; unreadable / foreign segments
  uint64_t write_errors = 0, dropped_donations = 0, segments_deleted = 0;
};

class DiskTier final : public Tier {
 public:
  // Creates dir if needed and scans its segments (skipping, with a log line, what fails validation).
  static Result<std::unique_ptr<DiskTier>> open(const DiskTierConfig& cfg, const SegmentIdentity& id,
                                                Env* env = Env::posix());
  ~DiskTier();  // writes what is queued, then joins the writer
  DiskTier(const DiskTier&) = delete;
  DiskTier& operator=(const DiskTier&) = delete;

  const SegmentIdentity& identity() const { return id_; }
  const char* name() const override { return "disk"; }
  bool has_block(uint64_t key) const override;
  bool has_donor(uint64_t content_key) const override;
  // Queues one donation: `blocks` (the donor's blocks not stored yet), then its record. false: dropped (queue
  // full, or the donor is stored already).
  bool put(std::vector<BlockRecord> blocks, DonorRecord donor) override;
  // Stored donors of `domain` by embedding similarity, best first.
  std::vector<share::DonorCandidate> search(uint64_t domain, std::span<const float> embedding, int k,
                                            float min_sim) const override;
  std::optional<DonorRecord> donor(uint64_t content_key) const override;
  // Copies block `key`'s K/V into out. NotFound when not stored; Corrupt when any check fails (logged).
  Status read_block(uint64_t key, uint64_t domain, std::span<const int32_t> tokens, std::span<std::byte> out) override;
  // Waits until every queued donation is written (or failed).
  void flush() override;
  DiskTierStats stats() const;

 private:
  struct BlockEntry {
    uint64_t domain = 0;
    int64_t segment = -1;  // -1: queued
    uint64_t offset = 0;
    std::shared_ptr<const BlockRecord> queued;
  };
  struct DonorEntry {
    DonorRecord rec;
    int64_t segment = -1;  // -1: queued
  };
  struct Segment {
    std::string path;
    uint64_t bytes = 0;
    std::vector<uint64_t> blocks, donors;  // keys whose records live here
  };
  struct Job {
    std::vector<std::shared_ptr<const BlockRecord>> blocks;
    DonorRecord donor;
    uint64_t bytes = 0;
  };

  DiskTier(const DiskTierConfig& cfg, const SegmentIdentity& id, Env* env);
  Status scan();
  void index_scanned(int64_t seg, RecordType type, uint64_t offset, std::span<const std::byte> payload);
  void writer_loop();
  void write_job(const Job& job);
  Result<uint64_t> append(RecordType type, std::span<const std::byte> payload, int64_t* seg);  // writer thread
  void drop_job_entries(const Job& job);                  // REQUIRES mu_
  void enforce_budget();                                  // REQUIRES mu_
  void delete_segment(int64_t seg);                       // REQUIRES mu_
  std::string segment_path(int64_t seg) const;

  DiskTierConfig cfg_;
  SegmentIdentity id_;
  Env* env_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<uint64_t, BlockEntry> blocks_;  // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, DonorEntry> donors_;  // GUARDED_BY(mu_)
  share::DonorIndex index_;                          // GUARDED_BY(mu_)
  std::map<int64_t, Segment> segments_;              // GUARDED_BY(mu_) live segments, oldest first
  std::deque<Job> queue_;                            // GUARDED_BY(mu_)
  uint64_t pending_bytes_ = 0;                       // GUARDED_BY(mu_)
  bool busy_ = false, stop_ = false;                 // GUARDED_BY(mu_)
  DiskTierStats stats_;                              // GUARDED_BY(mu_)
  int64_t next_segment_ = 1;                         // GUARDED_BY(mu_)

  std::unique_ptr<SegmentWriter> writer_;  // writer thread only
  int64_t writer_segment_ = -1;            // writer thread only
  std::thread thread_;
};

}  // namespace kvs::store
