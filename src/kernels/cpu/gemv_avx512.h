// Decode-side float GEMM over pre-packed weights (AVX-512), called by gemm_avx512.cpp's gemm_f32 for small m.
// Invariant: gives the same bits as the unpacked-panel kernel for every m, row range and column range (see
// gemv_avx512.cpp), so the forward stays batch-invariant.
#pragma once
#include <cstdint>

#include "kernels/cpu/ops_internal.h"

namespace kvs::kernels::avx512 {

// Y[r][j] for r in [r0, r1), j in [j0, j1) (j0 a multiple of 32) from w.packed; y points at column 0.
// Returns false (nothing written) when w has no pre-packed copy or its type has no record kernel here.
bool gemm_f32_prepacked(const detail::WView& w, int64_t j0, int64_t j1, const float* x, int64_t r0, int64_t r1,
                        float* y, int64_t ldy);

}  // namespace kvs::kernels::avx512
