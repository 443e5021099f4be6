// Tensor element types, numbered as ggml/GGUF number them (the GGUF tensor directory stores these ids).
// A quantised type stores `block_size` elements in `type_size` bytes; a row of n elements (n % block_size == 0)
// takes n / block_size * type_size bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kvs {

enum class DType : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15,
  kI8 = 24, kI16 = 25, kI32 = 26, kI64 = 27, kF64 = 28, kBF16 = 30,
};

struct DTypeTraits {
  const char* name;
  int64_t block_size;  // elements per block
  int64_t type_size;   // bytes per block
};

// Traits of a known type; nullopt for an id this build does not know (GGUF from the future, or corrupt).
std::optional<DTypeTraits> dtype_traits(uint32_t id);
const char* dtype_name(DType t);
// Bytes of a row of n elements. REQUIRES: n % block_size == 0 and the type is known.
int64_t dtype_row_bytes(DType t, int64_t n);

}  // namespace kvs
