// Fuzz target: the GGUF reader (src/gguf). Input: the bytes of a .gguf image.
//
// Oracle (gguf_file.h's promises): from_bytes never crashes, leaks or reads out of bounds; a rejected image
// has a message; an accepted one keeps every invariant open() states: tensor data inside the image (its first
// and last byte are read, so ASan sees any overrun of the heap copy), offsets aligned, n_bytes equal to the
// size the type and shape imply, names unique and found, metadata found by key with the value stored.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "gguf/gguf_file.h"

namespace {

using kvs::gguf::GgufFile;
using kvs::gguf::ValueType;

// The size a tensor of this type and shape occupies, recomputed here (nullopt: overflow or bad shape).
std::optional<uint64_t> expected_bytes(const kvs::gguf::TensorInfo& t) {
  auto tr = kvs::dtype_traits(static_cast<uint32_t>(t.type));
  if (!tr || t.ne.empty() || t.ne[0] % tr->block_size != 0) return std::nullopt;
  unsigned __int128 n = static_cast<unsigned __int128>(t.ne[0] / tr->block_size) * tr->type_size;
  for (size_t d = 1; d < t.ne.size(); ++d) n *= static_cast<unsigned __int128>(t.ne[d]);
  if (n > UINT64_MAX) return std::nullopt;
  return static_cast<uint64_t>(n);
}

void check_tensors(const GgufFile& f, size_t image_size) {
  std::set<std::string> names;
  const auto& ts = f.tensors();
  volatile uint8_t sink = 0;
  for (const auto& t : ts) {
    FUZZ_CHECK(names.insert(t.name).second, "duplicate tensor name accepted: " + t.name);
    FUZZ_CHECK(f.find_tensor(t.name) == &t, "find_tensor does not return the tensor: " + t.name);
    FUZZ_CHECK(!t.ne.empty() && t.ne.size() <= 4, "tensor with " + std::to_string(t.ne.size()) + " dims");
    for (int64_t x : t.ne) FUZZ_CHECK(x >= 0, "negative dimension in " + t.name);
    FUZZ_CHECK(t.offset % f.alignment() == 0, "unaligned offset accepted");
    auto want = expected_bytes(t);
    FUZZ_CHECK(want && *want == t.n_bytes, "n_bytes does not match type and shape for " + t.name);
    FUZZ_CHECK(t.offset <= image_size && t.n_bytes <= image_size - t.offset, "tensor past the end: " + t.name);
    // Every tensor's data pointer is data_start + offset for one data_start, inside the image.
    const uint8_t* data_start = ts.front().data - ts.front().offset;
    FUZZ_CHECK(t.data == data_start + t.offset, "tensor data not at data_start + offset: " + t.name);
    if (t.n_bytes > 0) sink = sink + t.data[0] + t.data[t.n_bytes - 1];
  }
}

void check_metadata(const GgufFile& f) {
  std::set<std::string> keys;
  for (const auto& [key, v] : f.metadata()) {
    FUZZ_CHECK(keys.insert(key).second, "duplicate key accepted: " + key);
    FUZZ_CHECK(f.find(key) == &v, "find does not return the stored value: " + key);
    // Typed getters must answer (value or Status) for any stored type.
    (void)f.get_string(key);
    (void)f.get_int(key);
    (void)f.get_float(key);
    (void)f.get_bool(key);
    (void)f.get_string_array(key);
    (void)f.get_int_array(key);
    (void)f.get_float_array(key);
    if (v.type == ValueType::kString) {
      auto s = f.get_string(key);
      FUZZ_CHECK(s.is_ok() && s.value() == v.s, "get_string differs from the stored string: " + key);
    }
    if (v.type == ValueType::kBool) FUZZ_CHECK(v.u <= 1, "bool value not 0 or 1: " + key);
  }
  FUZZ_CHECK(f.alignment() != 0 && (f.alignment() & (f.alignment() - 1)) == 0, "alignment not a power of two");
  FUZZ_CHECK(f.version() == 2 || f.version() == 3, "version " + std::to_string(f.version()) + " accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = GgufFile::from_bytes(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!r.is_ok()) {
    FUZZ_CHECK(!r.status().message().empty(), "rejected without a message");
    return 0;
  }
  const GgufFile& f = *r.value();
  check_metadata(f);
  check_tensors(f, size);
  return 0;
}
