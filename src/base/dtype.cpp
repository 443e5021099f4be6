#include "base/dtype.h"

#include "base/status.h"

namespace kvs {

std::optional<DTypeTraits> dtype_traits(uint32_t id) {
  switch (static_cast<DType>(id)) {
    case DType::kF32: return DTypeTraits{"F32", 1, 4};
    case DType::kF16: return DTypeTraits{"F16", 1, 2};
    case DType::kBF16: return DTypeTraits{"BF16", 1, 2};
    case DType::kQ4_0: return DTypeTraits{"Q4_0", 32, 18};
    case DType::kQ4_1: return DTypeTraits{"Q4_1", 32, 20};
    case DType::kQ5_0: return DTypeTraits{"Q5_0", 32, 22};
    case DType::kQ5_1: return DTypeTraits{"Q5_1", 32, 24};
    case DType::kQ8_0: return DTypeTraits{"Q8_0", 32, 34};
    case DType::kQ8_1: return DTypeTraits{"Q8_1", 32, 36};
    case DType::kQ2_K: return DTypeTraits{"Q2_K", 256, 84};
    case DType::kQ3_K: return DTypeTraits{"Q3_K", 256, 110};
    case DType::kQ4_K: return DTypeTraits{"Q4_K", 256, 144};
    case DType::kQ5_K: return DTypeTraits{"Q5_K", 256, 176};
    case DType::kQ6_K: return DTypeTraits{"Q6_K", 256, 210};
    case DType::kQ8_K: return DTypeTraits{"Q8_K", 256, 292};
    case DType::kI8: return DTypeTraits{"I8", 1, 1};
    case DType::kI16: return DTypeTraits{"I16", 1, 2};
    case DType::kI32: return DTypeTraits{"I32", 1, 4};
    case DType::kI64: return DTypeTraits{"I64", 1, 8};
    case DType::kF64: return DTypeTraits{"F64", 1, 8};
  }
  return std::nullopt;
}

const char* dtype_name(DType t) {
  auto tr = dtype_traits(static_cast<uint32_t>(t));
  return tr ? tr->name : "unknown";
}

int64_t dtype_row_bytes(DType t, int64_t n) {
  auto tr = dtype_traits(static_cast<uint32_t>(t));
  KVS_CHECK(tr.has_value());
  KVS_CHECK(n % tr->block_size == 0);
  return n / tr->block_size * tr->type_size;
}

}  // namespace kvs
