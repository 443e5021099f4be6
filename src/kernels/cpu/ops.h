// CPU op table: the numeric kernels the model's forward uses.
// Every op has a scalar reference (ops_ref.cpp, namespace kvs::kernels::ref) and optimised variants
// (*_avx2.cpp, *_avx512.cpp) chosen once at run time by CPU features; tests compare each against the reference.
//
// Conventions: row-major; a weight matrix W has n rows of k elements (ggml ne[0] = k), each row stored in
// W's dtype (k % block_size == 0). Activations are float32.
#pragma once
#include <cstdint>

#include "base/dtype.h"
#include "base/thread_pool.h"

namespace kvs::kernels {

// Which implementation the dispatcher picked ("avx512", "avx2", "scalar"); KVS_ISA=scalar|avx2|avx512 overrides.
const char* active_isa();

// True when matmul/dequantize support this weight type.
bool supports_weight_type(DType t);

// dst (k) = dequantised row. REQUIRES: k % block_size(t) == 0.
void dequantize_row(DType t, const void* src, float* dst, int64_t k);

// Y (m, n) = X (m, k) · W^T, W: (n, k) in dtype wt. X rows are contiguous with stride k; Y rows stride ldy (>= n).
// Decode (m small) and prefill (m large) both go through here; the implementation picks the path.
void matmul(const void* w, DType wt, int64_t n, int64_t k, const float* x, int64_t m, float* y, int64_t ldy,
            ThreadPool* pool);

// out (n) = x (n) / rms(x) * w (n)
void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps);

// In place: x (m) = softmax(x)
void softmax(float* x, int64_t m);

// In place: gate (n) = silu(gate) * up
void silu_mul(float* gate, const float* up, int64_t n);

// y (n) += a * x (n)
void axpy(float* y, const float* x, float a, int64_t n);
// dot (n)
float dot_f32(const float* a, const float* b, int64_t n);

// fp16 <-> fp32 (IEEE half).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);

namespace ref {
// Scalar references for the tests (and the "scalar" ISA).
void dequantize_row(DType t, const void* src, float* dst, int64_t k);
void matmul(const void* w, DType wt, int64_t n, int64_t k, const float* x, int64_t m, float* y, int64_t ldy);
void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps);
void softmax(float* x, int64_t m);
void silu_mul(float* gate, const float* up, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
}  // namespace ref

}  // namespace kvs::kernels
