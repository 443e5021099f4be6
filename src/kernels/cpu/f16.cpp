// f16 row conversions: the scalar reference and the run-time choice (F16C under the AVX2 / AVX-512 ISAs).
#include "kernels/cpu/f16.h"

#include "kernels/cpu/ops.h"

namespace kvs::kernels {

namespace avx2 {
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n);
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n);
}  // namespace avx2

namespace ref {
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}
}  // namespace ref

// The AVX2 ISA requires F16C (ops_dispatch.cpp), and AVX-512 requires AVX2.
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
  if (current_isa() == Isa::kScalar) return ref::fp32_to_fp16_row(x, y, n);
  avx2::fp32_to_fp16_row(x, y, n);
}
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
  if (current_isa() == Isa::kScalar) return ref::fp16_to_fp32_row(x, y, n);
  avx2::fp16_to_fp32_row(x, y, n);
}

}  // namespace kvs::kernels
