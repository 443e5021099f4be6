// Rows of IEEE half <-> float32: the KV cache's f16 storage (kv/kv_storage.h) and every reader of it.
//
// Invariants:
//  - float -> half rounds to nearest even (overflow to inf, NaN stays NaN); half -> float is exact.
//  - Every path gives the same bits: the scalar one (fp32_to_fp16 / fp16_to_fp32 of ops.h, also the tests'
//    reference) and F16C (vcvtps2ph / vcvtph2ps, present on every CPU the AVX2 and AVX-512 ISAs run on), picked at
//    run time with the op table's ISA (ops.h: current_isa()).
#pragma once
#include <cstdint>

namespace kvs::kernels {

// y (n) = half(x (n)), round to nearest even.
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n);
// y (n) = float(x (n)), exact.
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n);

namespace ref {
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n);
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n);
}  // namespace ref

}  // namespace kvs::kernels
