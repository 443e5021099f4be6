// Internal: the per-ISA kernel table the dispatcher (ops_dispatch.cpp) and the matmul driver (matmul.cpp) call.
// Not part of the public API. Every table entry is a plain function over raw pointers; threading, scratch
// allocation and path choice live in matmul.cpp (baseline ISA), the arithmetic in the per-ISA files.
#pragma once
#include <cstddef>
#include <cstdint>

#include "base/dtype.h"

namespace kvs::kernels::detail {

constexpr int64_t kQ8ABlock = 32;

// X (m, k) quantised to Q8A (see ops.h): row r's q at q + r*k, its block scales/sums at d/s + r*(k/32).
struct QActs {
  const int8_t* q;  // (m, k)
  const float* d;   // (m, k/32)
  const float* s;   // (m, k/32)  d * sum(q)
  const int32_t* qsum;  // (m, k/32)  sum(q) as an integer (for the integer offset correction of Q4_0/Q5_0/Q8_0)
  int64_t k;
};

// Weight matrix view: n rows of k elements, row j at data + j * row_bytes.
// packed: null, or the matrix repacked once by the table's prepack_q8a (then the GEMM packers read it instead of
// gathering from the GGUF blocks on every call; same panel contents, same results).
struct WView {
  const uint8_t* data;
  DType type;
  int64_t k;
  int64_t row_bytes;
  const uint8_t* packed = nullptr;
  const uint8_t* row(int64_t j) const { return data + j * row_bytes; }
};

// For int8-capable types: the offset o such that value = (q - o) * d exactly (Q4_0: 8, Q5_0: 16, Q8_0: 128),
// or -1 when the type carries a real min (Q4_1, Q5_1, Q4_K: value = q * d + mn). 0 for unsupported types.
int u8_offset(DType t);
bool int8_capable(DType t);

struct KernelTable {
  const char* name;
  // Elementwise.
  void (*rmsnorm)(float* out, const float* x, const float* w, int64_t n, float eps);
  void (*softmax)(float* x, int64_t m);
  void (*silu_mul)(float* gate, const float* up, int64_t n);
  void (*gelu_tanh_mul)(float* gate, const float* up, int64_t n);
  void (*axpy)(float* y, const float* x, float a, int64_t n);
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  void (*gemv_f32)(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* x, float* y);
  void (*gemv_t_f32)(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* w, float* y);
  // Returns false when the type is not handled here (the caller then uses ref::dequantize_row).
  bool (*dequantize_row)(DType t, const void* src, float* dst, int64_t k);
  void (*quantize_row_q8a)(const float* x, int64_t k, int8_t* q, float* d, float* s, int32_t* qsum);

  // Row kernels (decode): Y[r][j] for r in [0, m), j in [j0, j1).
  // int8 path. REQUIRES: int8_capable(w.type). scratch: >= scratch_rows_bytes(k) bytes, 64-aligned.
  void (*rows_q8a)(const WView& w, int64_t j0, int64_t j1, const QActs& x, int64_t m, float* y, int64_t ldy,
                   void* scratch);
  // float path: any supported type.
  void (*rows_f32)(const WView& w, int64_t j0, int64_t j1, const float* x, int64_t m, float* y, int64_t ldy,
                   void* scratch);

  // Packed GEMM (prefill): Y[r][j] for r in [r0, r1), j in [j0, j1). j0 a multiple of the panel width.
  // nullptr when the ISA has none (the driver then uses the row kernels).
  void (*gemm_q8a)(const WView& w, int64_t j0, int64_t j1, const QActs& x, int64_t r0, int64_t r1, float* y,
                   int64_t ldy, void* scratch);
  void (*gemm_f32)(const WView& w, int64_t j0, int64_t j1, const float* x, int64_t r0, int64_t r1, float* y,
                   int64_t ldy, void* scratch);
  int gemm_panel;  // columns per packed panel (the unit of work splitting)
  // Repacks all n rows of W once into `out` (prepack_bytes(type, n, k) bytes, 64-aligned) in the form the GEMM
  // packers read through WView::packed. prepack_bytes returns 0 for the types it does not handle. nullptr: none.
  size_t (*prepack_bytes)(DType t, int64_t n, int64_t k);
  void (*prepack_q8a)(const WView& w, int64_t n, uint8_t* out);
};

// Scratch bytes any kernel of any table may ask for, for a row length k (generous; 64-aligned by the caller).
inline size_t scratch_bytes(int64_t k) {
  // fp32 panel (32 cols) + 16 dequantised rows; or u8 panel (32 cols) + block scales + 32 unpacked rows;
  // or the row kernels' expanded activation scales. Generous; 64-aligned by the caller.
  const size_t kk = static_cast<size_t>(k);
  return kk * 32 * 4 + kk * 16 * 4 + kk * 32 * 2 + (kk / 32 + 1) * 32 * 4 * 4 + 8192;
}

const KernelTable& scalar_table();
const KernelTable* avx2_table();    // nullptr when not compiled in
const KernelTable* avx512_table();  // nullptr when not compiled in
const KernelTable& active_table();

// Scalar helpers shared by the tables (ops_scalar.cpp; baseline ISA).
void scalar_quantize_row_q8a(const float* x, int64_t k, int8_t* q, float* d, float* s, int32_t* qsum);
// Generic unpack of one row to (q u8, d, mn) per block of 32 (ref::unpack_row_u8) — used for the less common
// types by the SIMD GEMM packers.
void unpack_row_u8_generic(DType t, const void* src, int64_t k, uint8_t* q, float* d, float* mn);

}  // namespace kvs::kernels::detail

// Functions each SIMD ISA namespace exports to the others of the same ISA (kernels_256.inc, ops_<isa>.cpp,
// gemm_<isa>.cpp). Same names in each namespace; never called across ISAs.
#define KVS_DECLARE_ISA_KERNELS(ns)                                                                             \
  namespace kvs::kernels::ns {                                                                                  \
  bool dequantize_row(DType t, const void* src, float* dst, int64_t k);                                         \
  void rows_q8a(const detail::WView& w, int64_t j0, int64_t j1, const detail::QActs& x, int64_t m, float* y,    \
                int64_t ldy, void* scratch);                                                                    \
  void rows_f32(const detail::WView& w, int64_t j0, int64_t j1, const float* x, int64_t m, float* y,            \
                int64_t ldy, void* scratch);                                                                    \
  void gemm_q8a(const detail::WView& w, int64_t j0, int64_t j1, const detail::QActs& x, int64_t r0, int64_t r1, \
                float* y, int64_t ldy, void* scratch);                                                          \
  void gemm_f32(const detail::WView& w, int64_t j0, int64_t j1, const float* x, int64_t r0, int64_t r1,         \
                float* y, int64_t ldy, void* scratch);                                                          \
  }
KVS_DECLARE_ISA_KERNELS(avx2)
KVS_DECLARE_ISA_KERNELS(avx512)
#undef KVS_DECLARE_ISA_KERNELS
