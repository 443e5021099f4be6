// The "scalar" kernel table: portable C++ used when neither AVX2 nor AVX-512 is available (or KVS_ISA=scalar).
// Same algorithms as the SIMD tables (int8 path: Q8A activations, integer block dots; float path: dequantise then
// dot), so KVS_ISA=scalar reproduces their numerics up to summation order.
#include <cmath>
#include <cstring>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/ops_internal.h"

namespace kvs::kernels::detail {

int u8_offset(DType t) {
  switch (t) {
    case DType::kQ4_0: return 8;
    case DType::kQ5_0: return 16;
    case DType::kQ8_0: return 128;
    case DType::kQ4_1:
    case DType::kQ5_1:
    case DType::kQ4_K: return -1;
    default: return 0;
  }
}

bool int8_capable(DType t) { return u8_offset(t) != 0; }

void scalar_quantize_row_q8a(const float* x, int64_t k, int8_t* q, float* d, float* s, int32_t* qsum) {
  ref::quantize_row_q8a(x, k, q, d, s);
  for (int64_t b = 0; b < k / 32; ++b) {
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) sum += q[32 * b + i];
    qsum[b] = sum;
  }
}

void unpack_row_u8_generic(DType t, const void* src, int64_t k, uint8_t* q, float* d, float* mn) {
  ref::unpack_row_u8(t, src, k, q, d, mn);
}

namespace {

bool scalar_dequantize(DType t, const void* src, float* dst, int64_t k) {
  ref::dequantize_row(t, src, dst, k);
  return true;
}

float scalar_dot(const float* a, const float* b, int64_t n) {
  float acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) acc[l] += a[i + l] * b[i + l];
  for (; i < n; ++i) acc[0] += a[i] * b[i];
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

void scalar_gemv(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* x, float* y) {
  for (int64_t j = 0; j < rows; ++j) y[j] = scalar_dot(a + j * lda, x, cols);
}

void scalar_gemv_t(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* w, float* y) {
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t c = 0; c < cols; ++c) y[c] += w[j] * a[j * lda + c];
}

void scalar_rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps) {
  float ss = scalar_dot(x, x, n);
  const float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * w[i];
}

void rows_f32(const WView& w, int64_t j0, int64_t j1, const float* x, int64_t m, float* y, int64_t ldy,
              void* scratch) {
  float* row = static_cast<float*>(scratch);
  for (int64_t j = j0; j < j1; ++j) {
    ref::dequantize_row(w.type, w.row(j), row, w.k);
    for (int64_t r = 0; r < m; ++r) y[r * ldy + j] = scalar_dot(row, x + r * w.k, w.k);
  }
}

void rows_q8a(const WView& w, int64_t j0, int64_t j1, const QActs& x, int64_t m, float* y, int64_t ldy,
              void* scratch) {
  const int64_t k = w.k, nb = k / 32;
  uint8_t* q = static_cast<uint8_t*>(scratch);
  float* d = reinterpret_cast<float*>(q + k);
  float* mn = d + nb;
  const int off = u8_offset(w.type);
  for (int64_t j = j0; j < j1; ++j) {
    ref::unpack_row_u8(w.type, w.row(j), k, q, d, mn);
    for (int64_t r = 0; r < m; ++r) {
      const int8_t* xq = x.q + r * k;
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t isum = 0;
        for (int i = 0; i < 32; ++i) isum += static_cast<int32_t>(q[32 * b + i]) * xq[32 * b + i];
        const float dx = x.d[r * nb + b];
        if (off > 0) {
          acc += static_cast<float>(isum - off * x.qsum[r * nb + b]) * (d[b] * dx);
        } else {
          acc += static_cast<float>(isum) * (d[b] * dx) + mn[b] * x.s[r * nb + b];
        }
      }
      y[r * ldy + j] = acc;
    }
  }
}

const KernelTable kScalarTable = {
    "scalar",
    scalar_rmsnorm,
    ref::softmax,
    ref::silu_mul,
    ref::gelu_tanh_mul,
    ref::axpy,
    scalar_dot,
    scalar_gemv,
    scalar_gemv_t,
    scalar_dequantize,
    scalar_quantize_row_q8a,
    rows_q8a,
    rows_f32,
    nullptr,
    nullptr,
    32,
    nullptr,
    nullptr,
};

}  // namespace

const KernelTable& scalar_table() { return kScalarTable; }

}  // namespace kvs::kernels::detail
