// CPU op table: the numeric kernels the model's forward uses.
// Every op has a scalar reference (ops_ref.cpp, namespace kvs::kernels::ref) and optimised variants
// (*_avx2.cpp, *_avx512.cpp) chosen once at run time by CPU features; tests compare each against the reference.
//
// Conventions: row-major; a weight matrix W has n rows of k elements (ggml ne[0] = k), each row stored in
// W's dtype (k % block_size == 0). Activations are float32.
//
// Files: ops_ref.cpp (references, fp16), ops_dispatch.cpp (ISA choice, elementwise entry points),
// matmul.cpp (matmul driver: paths, threads, scratch, OpenBLAS), ops_scalar.cpp / ops_avx2.cpp /
// ops_avx512.cpp (per-ISA kernel tables; 256-bit kernels shared through kernels_256.inc),
// rows_avx512.cpp (512-bit decode row kernels), gemm_avx2.cpp / gemm_avx512.cpp (packed prefill GEMMs), gemm_amx.cpp
// (the int8 GEMM's panel product on AMX tiles), gemv_avx512.cpp (decode straight from pre-packed records),
// ops_internal.h (the kernel table). Benchmarks: bench/bench_matmul.cpp; tests: tests/kernels/test_ops.cpp.
#pragma once
#include <cstdint>
#include <span>

#include "base/dtype.h"
#include "base/thread_pool.h"

namespace kvs::kernels {

// ---- ISA selection ------------------------------------------------------------------------------------------
enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };  // kAvx512 = F/BW/VL/DQ + VNNI

// Which implementation the dispatcher picked ("avx512", "avx2", "scalar"); KVS_ISA=scalar|avx2|avx512 overrides
// (an override the CPU cannot run falls back to the best supported one, with a warning on stderr).
const char* active_isa();
Isa current_isa();
const char* isa_name(Isa isa);
bool isa_supported(Isa isa);  // the CPU can run it
// Runs every kernel with `isa` while alive (tests, benchmarks), then restores the previous choice.
// REQUIRES: isa_supported(isa); no kernel call in flight on another thread while constructing/destroying.
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa);
  ~ScopedIsa();
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;

 private:
  Isa prev_;
};

// Intel AMX (AMX-TILE + AMX-INT8) for the int8-activation GEMM's panel products (prefill rows in groups of 16).
// Supported when the CPU has it and the kernel grants this process the tile state (arch_prctl
// ARCH_REQ_XCOMP_PERM); active by default where supported, KVS_AMX=0 turns it off. It only ever runs under the
// AVX-512 table and gives the same bits as the VNNI kernel (gemm_amx.h), so it is a speed choice, never a numeric one.
bool amx_supported();
bool amx_active();  // supported, enabled, and the current ISA is AVX-512
// Enables (REQUIRES: amx_supported()) or disables AMX while alive (tests, benchmarks), then restores it.
class ScopedAmx {
 public:
  explicit ScopedAmx(bool on);
  ~ScopedAmx();
  ScopedAmx(const ScopedAmx&) = delete;
  ScopedAmx& operator=(const ScopedAmx&) = delete;

 private:
  bool prev_;
};

// True when matmul/dequantize support this weight type.
bool supports_weight_type(DType t);
// True when matmul's int8-activation path handles this weight type (block-32 types and Q4_K:
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K); others (F32, F16, BF16, Q6_K) always take the float path.
bool supports_int8_activations(DType t);

// dst (k) = dequantised row. REQUIRES: k % block_size(t) == 0.
void dequantize_row(DType t, const void* src, float* dst, int64_t k);

// ---- matmul -------------------------------------------------------------------------------------------------
struct MatmulOptions {
  // true (default, llama.cpp's scheme): X is quantised once per call to Q8A (see below: int8 blocks of 32 with
  //   a float scale and the block sum), then W·X runs as integer dot products (AVX-512 VNNI dpbusd / AVX2
  //   maddubs) with one float scale (and the min term) per 32-element block. Relative error vs float ~1e-3..1e-2
  //   (bounded by sum_b |w_b|·|x_b - deq(q(x_b))|, which is <= 0.5·d_x per element).
  //   Types without int8 support silently take the float path.
  // false: float path, no activation quantisation: W's exact values (as dequantize_row gives them) times fp32 X
  //   with fp32 FMA; differs from a double-precision reference only by fp32 rounding (~1e-6 relative).
  //   AVX-512 cost: decode ~1.2-1.5x the int8 path on cold weights, prefill ~2.5x. (AVX2: decode ~3-4x: its float
  //   GEMM packs fp32 panels.)
  bool int8_activations = true;
  // Backend of the float path for large m (prefill): own packed AVX2/AVX-512 GEMM or OpenBLAS sgemm over a
  // dequantised copy of W (one single-threaded sgemm per pool thread on a slice of n). kAuto = own.
  enum class F32Gemm : uint8_t { kAuto = 0, kOwn = 1, kBlas = 2 };
  F32Gemm f32_gemm = F32Gemm::kAuto;
  // true (default): every m runs the same per-output arithmetic (the packed GEMM kernels, whose k chunking and row
  //   tiling never change a result), so a row's output is bit-identical whatever else is in the batch: batched
  //   decode == sequential decode, chunked prefill == whole prefill. Costs ~20% on decode matmuls (m < 4) against
  //   the row kernels. false: row kernels for small m (fastest decode); results then differ in the last bits
  //   between m < 4 and m >= 4 (int8) or m < 12 and m >= 12 (float). OpenBLAS (kBlas) is never batch-invariant.
  bool batch_invariant = true;
  // Forces the row kernels or the packed GEMM regardless of m (tests and benchmarks; kAuto in production).
  enum class Kernel : uint8_t { kAuto = 0, kRows = 1, kGemm = 2 };
  Kernel kernel = Kernel::kAuto;
};

// Y (m, n) = X (m, k) · W^T, W: (n, k) in dtype wt. X rows are contiguous with stride k; Y rows stride ldy (>= n).
// Decode (m small) and prefill (m large) both go through here; the implementation picks the path:
//   default (batch_invariant): the packed GEMM for every m (W panels of 32 rows repacked to u8 + per-block
//     scale/min with gathers, next panel prefetched; int8: VNNI register-blocked 6 rows x 32 columns; float: the
//     weights rebuilt exactly in registers, or for m >= 32 a dequantised fp32 panel, 12 rows x 32 columns).
//   batch_invariant = false: row kernels for m < 4 (int8) / m < 12 (float): W streamed once with prefetch, each
//     block unpacked once and dotted with every X row (fused dequantise-dot on the float path).
//   The scalar ISA has no GEMM: its row kernels are used for every m (also batch-invariant).
// Work is split over n (and over m when n has too few panels) across the pool (nullptr = calling thread only).
// REQUIRES: k % block_size(wt) == 0; called from the pool's owner thread (scratch is thread-local).
void matmul(const void* w, DType wt, int64_t n, int64_t k, const float* x, int64_t m, float* y, int64_t ldy,
            ThreadPool* pool, const MatmulOptions& opt = MatmulOptions{});

// Weights packed once. A range declared immutable (the model's mapped tensors) lets matmul keep a repacked copy of
// every int8-capable weight matrix inside it (made on first use, for the ISA in use) and read that instead of
// repacking W from its GGUF blocks on every call (decode repacked all weights once per token). Results are
// bit-identical with and without the copy. Without a declared range nothing is cached (W may change or be freed).
// REQUIRES: the bytes stay unchanged and mapped until released; release only while no matmul is in flight.
void register_immutable_weights(const void* begin, size_t bytes);
void release_immutable_weights(const void* begin);  // frees the copies made from that range
size_t prepacked_bytes();                            // bytes of all copies (tests, logs)

// Several matmuls that share X (q/k/v projections; gate/up): X is quantised once and all of them run in one
// parallel region (one thread hand-off instead of one per matmul: ~1-3 us each on 2 threads, x7 per layer).
// Same results as separate matmul() calls.
struct MatmulOut {
  const void* w;  // (n, k) in dtype wt
  DType wt;
  int64_t n;
  float* y;      // (m, n), row stride ldy
  int64_t ldy;
};
void matmul_many(std::span<const MatmulOut> outs, int64_t k, const float* x, int64_t m, ThreadPool* pool,
                 const MatmulOptions& opt = MatmulOptions{});

// ---- Q8A: the 8-bit activation format of the int8 path --------------------------------------------------------
// A row of k floats (k % 32 == 0) becomes, per block b of 32:  d[b] = max|x| / 127,  q[32b+i] = round_even(x * (1/d))
// in [-127, 127] (0 when d == 0),  s[b] = d[b] * sum_i q[32b+i]  (for the min/offset term of Q4_1-like types).
// Unlike ggml's Q8_1 the scales stay fp32 (no f16 rounding). Stored as three arrays: q (k), d (k/32), s (k/32).
void quantize_row_q8a(const float* x, int64_t k, int8_t* q, float* d, float* s);

// ---- elementwise ----------------------------------------------------------------------------------------------
// out (n) = x (n) / rms(x) * w (n)
void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps);

// In place: x (m) = softmax(x)
void softmax(float* x, int64_t m);

// In place: gate (n) = silu(gate) * up
void silu_mul(float* gate, const float* up, int64_t n);
// In place: gate (n) = gelu(gate) * up, gelu's tanh approximation 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))
// (Gemma's GeGLU, Hugging Face's gelu_pytorch_tanh).
void gelu_tanh_mul(float* gate, const float* up, int64_t n);

// y (n) += a * x (n)
void axpy(float* y, const float* x, float a, int64_t n);
// dot (n)
float dot_f32(const float* a, const float* b, int64_t n);

// Small fp32 matrix-vector products for attention over a KV block (one call per block instead of one dot/axpy
// per key: the per-call overhead dominates at head_dim 64).
// y (rows) = A (rows, cols; row stride lda) · x (cols)            e.g. scores of q against a block of keys
void gemv_f32(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* x, float* y);
// y (cols) += A^T · w = sum_j w[j] * A[j, :]  (A: rows x cols, stride lda)   e.g. out += sum_j p_j V_j
void gemv_t_f32(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* w, float* y);

// fp16 <-> fp32 (IEEE half; round to nearest even; bit-identical to F16C).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
// bf16 -> fp32 (exact).
float bf16_to_fp32(uint16_t h);

namespace ref {
// Scalar references for the tests (and the "scalar" ISA).
void dequantize_row(DType t, const void* src, float* dst, int64_t k);
// Accumulates in double.
void matmul(const void* w, DType wt, int64_t n, int64_t k, const float* x, int64_t m, float* y, int64_t ldy);
void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps);
void softmax(float* x, int64_t m);
void silu_mul(float* gate, const float* up, int64_t n);
void gelu_tanh_mul(float* gate, const float* up, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
void axpy(float* y, const float* x, float a, int64_t n);
void gemv_f32(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* x, float* y);
void gemv_t_f32(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* w, float* y);
// Q8A quantisation (bit-identical to every ISA's).
void quantize_row_q8a(const float* x, int64_t k, int8_t* q, float* d, float* s);
// Reference of the int8 path: X quantised with quantize_row_q8a, exact integer block dots, combined in double.
// REQUIRES: supports_int8_activations(wt).
void matmul_q8a(const void* w, DType wt, int64_t n, int64_t k, const float* x, int64_t m, float* y, int64_t ldy);
// A block-32 view of a row of an int8-capable type: value[i] = q[i] * d[i/32] + mn[i/32], q in [0, 255].
// (Q4_0: q = nibble, mn = -8d; Q8_0: q = w + 128, mn = -128d; Q5_*: 5-bit q; Q4_K: sub-block scale/min.)
// This is the form the packed int8 GEMM consumes; dequantize_row equals it up to float rounding.
void unpack_row_u8(DType t, const void* src, int64_t k, uint8_t* q, float* d, float* mn);
}  // namespace ref

}  // namespace kvs::kernels
