// The AVX-512 kernel table (F/BW/VL/DQ + VNNI): 256-bit kernels from kernels_256.inc (u8*s8 dots via vpdpbusd) and
// the 512-bit GEMMs of gemm_avx512.cpp.
// GCC 12 warns (falsely) about the `__Y = __Y` idiom inside its own AVX-512 intrinsic headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/ops_internal.h"

#define KVS_VNNI 1
namespace kvs::kernels::avx512 {
#include "kernels/cpu/kernels_256.inc"
}  // namespace kvs::kernels::avx512
#undef KVS_VNNI

namespace kvs::kernels::avx512 {
size_t prepack_bytes(DType t, int64_t n, int64_t k);
void prepack_q8a(const detail::WView& w, int64_t n, uint8_t* out);
}  // namespace kvs::kernels::avx512

namespace kvs::kernels::detail {

namespace {
const KernelTable kAvx512Table = {
    "avx512",
    avx512::rmsnorm,
    avx512::softmax,
    avx512::silu_mul,
    avx512::gelu_tanh_mul,
    avx512::axpy,
    avx512::dot_f32,
    avx512::gemv_f32,
    avx512::gemv_t_f32,
    avx512::dequantize_row,
    avx512::quantize_row_q8a,
    avx512::rows_q8a,
    avx512::rows_f32,
    avx512::gemm_q8a,
    avx512::gemm_f32,
    32,
    avx512::prepack_bytes,
    avx512::prepack_q8a,
};
}  // namespace

const KernelTable* avx512_table() { return &kAvx512Table; }

}  // namespace kvs::kernels::detail
