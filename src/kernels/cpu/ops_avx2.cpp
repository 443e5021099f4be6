// The AVX2 kernel table (AVX2 + FMA + F16C): 256-bit kernels from kernels_256.inc (u8*s8 dots via maddubs) and
// the AVX2 GEMMs of gemm_avx2.cpp.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/ops_internal.h"

#define KVS_VNNI 0
namespace kvs::kernels::avx2 {
#include "kernels/cpu/kernels_256.inc"
void rows_q8a(const detail::WView& w, int64_t j0, int64_t j1, const detail::QActs& x, int64_t m, float* y,
              int64_t ldy, void* scratch) {
  rows_q8a_256(w, j0, j1, x, m, y, ldy, scratch);
}
void rows_f32(const detail::WView& w, int64_t j0, int64_t j1, const float* x, int64_t m, float* y, int64_t ldy,
              void* scratch) {
  rows_f32_256(w, j0, j1, x, m, y, ldy, scratch);
}
}  // namespace kvs::kernels::avx2
#undef KVS_VNNI

namespace kvs::kernels::detail {

namespace {
const KernelTable kAvx2Table = {
    "avx2",
    avx2::rmsnorm,
    avx2::softmax,
    avx2::silu_mul,
    avx2::gelu_tanh_mul,
    avx2::axpy,
    avx2::dot_f32,
    avx2::gemv_f32,
    avx2::gemv_t_f32,
    avx2::dequantize_row,
    avx2::quantize_row_q8a,
    avx2::rows_q8a,
    avx2::rows_f32,
    avx2::gemm_q8a,
    avx2::gemm_f32,
    16,
    nullptr,
    nullptr,
};
}  // namespace

const KernelTable* avx2_table() { return &kAvx2Table; }

}  // namespace kvs::kernels::detail
