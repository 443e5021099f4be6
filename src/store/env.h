// Env: the file-system seam of the disk tier. Production uses Env::posix(); tests wrap it to inject short
// writes, failed syncs or crashes at a chosen byte.
//
// Invariants: paths are plain strings (no globbing); append() either writes every byte or returns an error
// (a short write is reported, never silently accepted); read_at() fills the whole span or fails.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace kvs::store {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends every byte of `data`; an error leaves an unknown prefix of it written (a torn record).
  virtual Status append(std::span<const std::byte> data) = 0;
  virtual Status sync() = 0;  // fsync
  virtual Status close() = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // Creates the file (truncating an existing one) for appending.
  virtual Result<std::unique_ptr<WritableFile>> create(const std::string& path) = 0;
  virtual Status read_at(const std::string& path, uint64_t offset, std::span<std::byte> out) = 0;
  virtual Result<uint64_t> file_size(const std::string& path) = 0;
  // Names (not paths) of the regular files in `dir`.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;
  virtual Status remove(const std::string& path) = 0;
  virtual Status make_dirs(const std::string& dir) = 0;

  static Env* posix();  // process-wide, thread-safe
};

}  // namespace kvs::store
