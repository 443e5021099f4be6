// The int8 GEMM's inner panel product on AMX tiles (Intel AMX-TILE + AMX-INT8), used by gemm_avx512.cpp's
// gemm_q8a when the CPU and the OS allow it (kernels::amx_active()).
// Invariant: bit-identical to gemm_avx512.cpp's VNNI micro-kernel for every row range, column count and block
// range: the integer dot product of each 32-element block is exact on either unit, and the float epilogue
// ((int - offset * qsum) -> float, times d_w * d_x, plus mn * s_x) is the same instructions in the same order per
// output. Rows come in groups of 16 (one tile); the caller hands any remainder to the VNNI kernel.
#pragma once
#include <cstdint>

#include "kernels/cpu/ops_internal.h"

namespace kvs::kernels::amx {

constexpr int kTileRows = 16;

// One panel (32 weight columns) in the VNNI u8 layout of gemm_avx512.cpp, k-chunk of nbc blocks from block b0:
//   q: (nbc, 8 groups, 2 halves, 16 columns, 4 bytes) u8   d, mn: (nbc, 32) float (mn unused when off >= 0)
// Y[r][0..ncols) for r in [r0, r1), (r1 - r0) % 16 == 0: first ? = : += the chunk's contribution.
void q8a_panel(const uint8_t* q, const float* d, const float* mn, int64_t b0, int64_t nbc, int64_t nb,
               const detail::QActs& x, int64_t r0, int64_t r1, int off, float* y, int64_t ldy, int ncols,
               bool first);

}  // namespace kvs::kernels::amx
