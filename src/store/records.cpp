#include "store/records.h"

#include <xxhash.h>

#include <cstring>

namespace kvs::store {

namespace {

class Writer {
 public:
  template <typename T>
  void put(T v) { raw(&v, sizeof(T)); }
  template <typename T>
  void put_span(std::span<const T> s) { raw(s.data(), s.size_bytes()); }
  std::vector<std::byte> take() { return std::move(buf_); }

 private:
  void raw(const void* p, size_t n) {
    const size_t at = buf_.size();
    buf_.resize(at + n);
    if (n) std::memcpy(buf_.data() + at, p, n);
  }
  std::vector<std::byte> buf_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> b) : b_(b) {}
  template <typename T>
  bool get(T* v) { return raw(v, sizeof(T)); }
  template <typename T>
  bool get_vec(std::vector<T>* v, uint64_t n) {
    if (n > (b_.size() - at_) / sizeof(T)) return false;
    v->resize(n);
    return raw(v->data(), n * sizeof(T));
  }
  size_t left() const { return b_.size() - at_; }

 private:
  bool raw(void* p, size_t n) {
    if (n > b_.size() - at_) return false;
    if (n) std::memcpy(p, b_.data() + at_, n);
    at_ += n;
    return true;
  }
  std::span<const std::byte> b_;
  size_t at_ = 0;
};

}  // namespace

uint64_t donor_content_key(uint64_t domain, std::span<const int32_t> tokens) {
  uint64_t h = XXH3_64bits_withSeed(tokens.data(), tokens.size_bytes(), domain ^ 0x646f6e6f72ULL);
  if (h == 0 || h == UINT64_MAX) h = 1;
  return h;
}

std::vector<std::byte> encode_block(const BlockRecord& r) {
  Writer w;
  w.put(r.model_fingerprint);
  w.put(r.key);
  w.put(r.parent);
  w.put(r.domain);
  w.put(static_cast<uint32_t>(r.tokens.size()));
  w.put(uint32_t{0});
  w.put_span(std::span<const int32_t>(r.tokens));
  w.put_span(std::span<const std::byte>(r.kv));
  return w.take();
}

Result<BlockRecord> decode_block(std::span<const std::byte> payload) {
  Reader rd(payload);
  BlockRecord r;
  uint32_t n = 0, pad = 0;
  if (!rd.get(&r.model_fingerprint) || !rd.get(&r.key) || !rd.get(&r.parent) || !rd.get(&r.domain) || !rd.get(&n) ||
      !rd.get(&pad) || !rd.get_vec(&r.tokens, n))
    return corrupt("block record truncated");
  if (!rd.get_vec(&r.kv, rd.left())) return corrupt("block record truncated");
  return r;
}

std::vector<std::byte> encode_donor(const DonorRecord& r) {
  Writer w;
  w.put(r.domain);
  w.put(r.content_key);
  w.put(static_cast<uint32_t>(r.tokens.size()));
  w.put(static_cast<uint32_t>(r.block_keys.size()));
  w.put(static_cast<uint32_t>(r.embedding.size()));
  w.put(uint32_t{0});
  w.put_span(std::span<const int32_t>(r.tokens));
  w.put_span(std::span<const uint64_t>(r.block_keys));
  w.put_span(std::span<const float>(r.embedding));
  return w.take();
}

Result<DonorRecord> decode_donor(std::span<const std::byte> payload) {
  Reader rd(payload);
  DonorRecord r;
  uint32_t nt = 0, nb = 0, ne = 0, pad = 0;
  if (!rd.get(&r.domain) || !rd.get(&r.content_key) || !rd.get(&nt) || !rd.get(&nb) || !rd.get(&ne) ||
      !rd.get(&pad) || !rd.get_vec(&r.tokens, nt) || !rd.get_vec(&r.block_keys, nb) || !rd.get_vec(&r.embedding, ne))
    return corrupt("donor record truncated");
  if (rd.left() != 0) return corrupt("donor record has trailing bytes");
  return r;
}

}  // namespace kvs::store
