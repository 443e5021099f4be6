// Tier: what the engine asks of a store behind the RAM block pool (the disk tier, the Redis tier), so that
// promotion (engine_disk.cpp) treats them alike.
//
// Invariants every implementation keeps: read_block serves only bytes that pass verify_block
// (store/record_check.h: checksums, model fingerprint, key, domain, tokens); search returns only donors of the
// domain asked for; put never blocks on I/O (a writer thread does it) and drops, rather than waits, when its
// queue is full. Thread-safety: every method may be called from any thread.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "share/donor_index.h"
#include "store/records.h"

namespace kvs::store {

class Tier {
 public:
  virtual ~Tier() = default;
  virtual const char* name() const = 0;  // "disk", "redis": the sharing report's `tier`
  virtual bool has_block(uint64_t key) const = 0;
  virtual bool has_donor(uint64_t content_key) const = 0;
  // Queues one donation: `blocks` (the donor's blocks not stored yet), then its record. false: dropped.
  virtual bool put(std::vector<BlockRecord> blocks, DonorRecord donor) = 0;
  // Stored donors of `domain` by embedding similarity, best first.
  virtual std::vector<share::DonorCandidate> search(uint64_t domain, std::span<const float> embedding, int k,
                                                    float min_sim) const = 0;
  virtual std::optional<DonorRecord> donor(uint64_t content_key) const = 0;
  // Copies block `key`'s K/V into out. NotFound when not stored; Corrupt when any check fails; Io when the
  // store cannot be reached.
  virtual Status read_block(uint64_t key, uint64_t domain, std::span<const int32_t> tokens,
                            std::span<std::byte> out) = 0;
  virtual void flush() = 0;  // waits until every queued donation is written (or failed)
};

}  // namespace kvs::store
