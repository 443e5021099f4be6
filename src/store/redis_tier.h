// RedisTier: a tier shared by every instance that serves the same model with the same KV layout. Donations are
// written to Redis by a writer thread (write-on-donate, like DiskTier) and announced on a stream; a subscriber
// thread adds donors announced by any instance (this one included, and those from before it started) to the
// local ANN index, so a donor computed on instance A is found and fetched on instance B.
//
//   kvs:<id>:<domain>:blk:<key>   a framed BlockRecord (record_check.h), PX ttl
//   kvs:<id>:<domain>:don:<ck>    a framed DonorRecord, PX ttl
//   kvs:<id>:donors               stream, one entry per donation: v = "<domain>:<ck>" (MAXLEN ~ stream_maxlen)
//   <id> = identity_hash (model fingerprint, KV dtype and geometry, embedding width); all numbers 16 hex digits.
//
// Budget: budget_bytes caps the bytes THIS instance keeps in Redis (its own accounting: every key it wrote,
// oldest deleted first once over budget; keys older than the TTL are counted as expired). Redis's maxmemory
// is left to the operator (the tier never changes server config).
//
// Invariants: every key names the identity and the share domain, so a block is read only under the domain it
// was donated in; read_block serves only bytes passing unframe_record + verify_block (another model, domain,
// key or tokens, or a corrupt value: refused, counted, forgotten); a block or donor is in the local index only
// after Redis acknowledged its write (or its record was read back and verified); queued bytes are bounded by
// max_pending_bytes (put() drops beyond it); no call waits longer than the client timeouts, and while Redis is
// down has_block answers false (nothing is tried on the request path) until a background call reconnects.
// Thread-safety: every public method may be called from any thread; read_block calls share one connection.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "share/donor_index.h"
#include "store/records.h"
#include "store/redis_client.h"
#include "store/segment_format.h"
#include "store/tier.h"

namespace kvs::store {

struct RedisTierConfig {
  RedisUrl url;
  uint64_t ttl_s = 86400;                          // every key's TTL
  uint64_t budget_bytes = uint64_t{1} << 30;       // this instance's bytes in Redis (own accounting)
  uint64_t max_pending_bytes = uint64_t{128} << 20;  // queued, not yet written
  int connect_timeout_ms = 100, command_timeout_ms = 200;
  int poll_ms = 100;                               // the subscriber's XREAD BLOCK
  int64_t stream_maxlen = 100000;
};

struct RedisTierStats {
  uint64_t bytes_written = 0, bytes_read = 0;
  uint64_t blocks_written = 0, blocks_read = 0, donors_written = 0;
  uint64_t donors_learned = 0;                     // donors indexed from the stream (any instance)
  uint64_t misses = 0;                             // a known block gone (expired, evicted)
  uint64_t corrupt_records = 0, errors = 0, dropped_donations = 0, keys_evicted = 0;
  uint64_t usage_bytes = 0;                        // this instance's accounted bytes
  uint64_t blocks = 0, donors = 0;                 // known locally
  bool up = false;
  double fetch_bytes_per_s = 0;                    // EWMA (0: unknown)
};

class RedisTier final : public Tier {
 public:
  // Connects and probes fetch bandwidth; a Redis that is down is not an error (the tier keeps retrying).
  static Result<std::unique_ptr<RedisTier>> open(const RedisTierConfig& cfg, const SegmentIdentity& id);
  ~RedisTier() override;  // writes what is queued (bounded by the timeouts), then joins
  RedisTier(const RedisTier&) = delete;
  RedisTier& operator=(const RedisTier&) = delete;

  const char* name() const override { return "redis"; }
  bool has_block(uint64_t key) const override;
  bool has_donor(uint64_t content_key) const override;
  bool put(std::vector<BlockRecord> blocks, DonorRecord donor) override;
  std::vector<share::DonorCandidate> search(uint64_t domain, std::span<const float> embedding, int k,
                                            float min_sim) const override;
  std::optional<DonorRecord> donor(uint64_t content_key) const override;
  Status read_block(uint64_t key, uint64_t domain, std::span<const int32_t> tokens,
                    std::span<std::byte> out) override;
  void flush() override;

  bool up() const { return up_.load(); }
  double fetch_bytes_per_s() const;  // EWMA of real fetches, seeded by the probe (0: unknown)
  RedisTierStats stats() const;
  std::string block_key(uint64_t domain, uint64_t key) const;
  std::string donor_key(uint64_t domain, uint64_t content_key) const;
  std::string stream_key() const;

 private:
  struct Job {
    std::vector<BlockRecord> blocks;
    DonorRecord donor;
    uint64_t bytes = 0;
  };
  struct Written {
    std::string key;
    uint64_t bytes = 0;
    std::chrono::steady_clock::time_point at;
    uint64_t block = 0, donor = 0;  // the local entry it backs (0: none)
  };

  RedisTier(const RedisTierConfig& cfg, const SegmentIdentity& id);
  void probe();
  void writer_loop();
  void write_job(const Job& job);
  void enforce_budget();  // writer thread
  void subscriber_loop();
  void learn(std::string_view entry);  // subscriber thread
  void note(const Status& st);         // any thread: up/down transitions, error count
  void observe_fetch(uint64_t bytes, double seconds);
  void forget_block(uint64_t key);

  RedisTierConfig cfg_;
  SegmentIdentity id_;
  std::string prefix_;  // "kvs:<id>"

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<uint64_t, uint64_t> blocks_;      // GUARDED_BY(mu_) key -> domain
  std::unordered_map<uint64_t, DonorRecord> donors_;   // GUARDED_BY(mu_)
  std::unordered_set<uint64_t> queued_donors_;         // GUARDED_BY(mu_)
  share::DonorIndex index_;                            // GUARDED_BY(mu_)
  std::deque<Job> queue_;                              // GUARDED_BY(mu_)
  uint64_t pending_bytes_ = 0;                         // GUARDED_BY(mu_)
  bool busy_ = false, stop_ = false;                   // GUARDED_BY(mu_)
  RedisTierStats stats_;                               // GUARDED_BY(mu_)
  double fetch_bps_ = 0;                               // GUARDED_BY(mu_)
  std::atomic<bool> up_{false};

  std::mutex reader_mu_;
  RedisClient reader_;  // GUARDED_BY(reader_mu_)
  RedisClient writer_;  // writer thread only
  RedisClient sub_;     // subscriber thread only
  std::deque<Written> written_;  // writer thread only, oldest first
  uint64_t written_bytes_ = 0;   // writer thread only
  std::thread writer_thread_, sub_thread_;
};

}  // namespace kvs::store
