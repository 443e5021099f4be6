// Helpers of the disk-tier tests: a temporary directory, an Env that fails a chosen write, synthetic records.
#pragma once
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "store/env.h"
#include "store/records.h"
#include "store/segment_format.h"

namespace kvs::store::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kvs_store_XXXXXX").string();
    KVS_CHECK(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Wraps the posix Env: the `fail_at`-th append (0-based, counted over every file) writes only its first
// `keep` bytes and fails, as a crash or a full disk in the middle of a record would.
class ShortWriteEnv final : public Env {
 public:
  ShortWriteEnv(int fail_at, size_t keep) : fail_at_(fail_at), keep_(keep) {}
  int appends() const { return appends_; }

  Result<std::unique_ptr<WritableFile>> create(const std::string& path) override {
    auto f = Env::posix()->create(path);
    if (!f.is_ok()) return f.status();
    return std::unique_ptr<WritableFile>(new File(this, std::move(f).value()));
  }
  Status read_at(const std::string& p, uint64_t o, std::span<std::byte> out) override { return Env::posix()->read_at(p, o, out); }
  Result<uint64_t> file_size(const std::string& p) override { return Env::posix()->file_size(p); }
  Result<std::vector<std::string>> list(const std::string& d) override { return Env::posix()->list(d); }
  Status remove(const std::string& p) override { return Env::posix()->remove(p); }
  Status make_dirs(const std::string& d) override { return Env::posix()->make_dirs(d); }

 private:
  class File final : public WritableFile {
   public:
    File(ShortWriteEnv* env, std::unique_ptr<WritableFile> f) : env_(env), f_(std::move(f)) {}
    Status append(std::span<const std::byte> data) override {
      if (env_->appends_++ == env_->fail_at_) {
        KVS_CHECK(f_->append(data.first(std::min(env_->keep_, data.size()))).is_ok());
        return io_error("injected short write");
      }
      return f_->append(data);
    }
    Status sync() override { return f_->sync(); }
    Status close() override { return f_->close(); }

   private:
    ShortWriteEnv* env_;
    std::unique_ptr<WritableFile> f_;
  };
  int fail_at_;
  size_t keep_;
  int appends_ = 0;
};

inline SegmentIdentity test_identity(uint64_t fingerprint = 0x1234) {
  SegmentIdentity id;
  id.model_fingerprint = fingerprint;
  id.kv_dtype = DType::kF32;
  id.block_size = 4;
  id.n_layer = 2;
  id.n_kv_head = 1;
  id.head_dim = 8;
  id.embed_dim = 4;
  id.block_payload_bytes = 2 * 2 * 4 * 8 * 4;  // (n_layer, K/V, block_size, head_dim) f32
  return id;
}

inline BlockRecord random_block(const SegmentIdentity& id, uint64_t key, uint64_t domain, std::mt19937& rng) {
  BlockRecord b;
  b.model_fingerprint = id.model_fingerprint;
  b.key = key;
  b.parent = key ^ 0x55;
  b.domain = domain;
  for (uint32_t i = 0; i < id.block_size; ++i) b.tokens.push_back(static_cast<int32_t>(rng() % 50000));
  b.kv.resize(id.block_payload_bytes);
  for (auto& x : b.kv) x = static_cast<std::byte>(rng());
  return b;
}

inline std::vector<float> unit(std::vector<float> v) {
  double n = 0;
  for (float x : v) n += double(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

// A donation of n_blocks random blocks (keys first_key...) and its donor record.
struct Donation {
  std::vector<BlockRecord> blocks;
  DonorRecord donor;
};

inline Donation make_donation(const SegmentIdentity& id, uint64_t domain, uint64_t first_key, int n_blocks,
                              std::vector<float> emb, std::mt19937& rng) {
  Donation d;
  for (int i = 0; i < n_blocks; ++i) {
    d.blocks.push_back(random_block(id, first_key + i, domain, rng));
    d.donor.tokens.insert(d.donor.tokens.end(), d.blocks.back().tokens.begin(), d.blocks.back().tokens.end());
    d.donor.block_keys.push_back(first_key + i);
  }
  d.donor.domain = domain;
  d.donor.content_key = donor_content_key(domain, d.donor.tokens);
  d.donor.embedding = unit(std::move(emb));
  return d;
}

}  // namespace kvs::store::testing
