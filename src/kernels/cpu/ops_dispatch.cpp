// ISA choice (CPU features + KVS_ISA override) and the elementwise entry points of the op table.
// Compiled for baseline x86-64: it only reads CPU features and calls through the chosen table.
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/status.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/ops_internal.h"

namespace kvs::kernels {

namespace {

// CPUID leaf 1, ECX bit 29 (clang before 15 rejects "f16c" in __builtin_cpu_supports). The OS support for the
// YMM state it needs is the one __builtin_cpu_supports("avx2") already checks.
bool cpu_has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
}

bool cpu_has(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case Isa::kAvx512:
      return cpu_has(Isa::kAvx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
  }
  return false;
}

const detail::KernelTable* table_of(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return &detail::scalar_table();
    case Isa::kAvx2: return detail::avx2_table();
    case Isa::kAvx512: return detail::avx512_table();
  }
  return nullptr;
}

Isa best_isa() {
  for (Isa i : {Isa::kAvx512, Isa::kAvx2})
    if (isa_supported(i)) return i;
  return Isa::kScalar;
}

Isa initial_isa() {
  Isa best = best_isa();
  const char* env = std::getenv("KVS_ISA");
  if (env == nullptr || *env == '\0') return best;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (std::strcmp(env, isa_name(i)) == 0) {
      if (isa_supported(i)) return i;
      std::fprintf(stderr, "kvshare: KVS_ISA=%s is not supported by this CPU; using %s\n", env, isa_name(best));
      return best;
    }
  }
  std::fprintf(stderr, "kvshare: unknown KVS_ISA=%s (scalar|avx2|avx512); using %s\n", env, isa_name(best));
  return best;
}

struct Active {
  std::atomic<Isa> isa;
  std::atomic<const detail::KernelTable*> table;
  Active() {
    Isa i = initial_isa();
    isa.store(i);
    table.store(table_of(i));
  }
};

Active& active() {
  static Active a;
  return a;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

bool isa_supported(Isa isa) { return table_of(isa) != nullptr && cpu_has(isa); }

Isa current_isa() { return active().isa.load(std::memory_order_relaxed); }
const char* active_isa() { return isa_name(current_isa()); }

ScopedIsa::ScopedIsa(Isa isa) : prev_(current_isa()) {
  KVS_CHECK(isa_supported(isa));
  active().isa.store(isa);
  active().table.store(table_of(isa));
}

ScopedIsa::~ScopedIsa() {
  active().isa.store(prev_);
  active().table.store(table_of(prev_));
}

namespace {

// CPUID leaf 7 EDX: bit 24 AMX-TILE, bit 25 AMX-INT8; then the kernel must grant the XTILEDATA state
// (ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18; Linux 5.16+), process-wide, once.
bool probe_amx() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  if ((d & (1u << 24)) == 0 || (d & (1u << 25)) == 0) return false;
  if (!cpu_has(Isa::kAvx512)) return false;
  return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
}

std::atomic<bool>& amx_enabled() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("KVS_AMX");
    return amx_supported() && !(env != nullptr && std::strcmp(env, "0") == 0);
  }()};
  return on;
}

}  // namespace

bool amx_supported() {
  static const bool ok = probe_amx();
  return ok;
}

bool amx_active() {
  return current_isa() == Isa::kAvx512 && amx_enabled().load(std::memory_order_relaxed);
}

ScopedAmx::ScopedAmx(bool on) : prev_(amx_enabled().load()) {
  KVS_CHECK(!on || amx_supported());
  amx_enabled().store(on);
}

ScopedAmx::~ScopedAmx() { amx_enabled().store(prev_); }

namespace detail {
const KernelTable& active_table() { return *active().table.load(std::memory_order_relaxed); }
}  // namespace detail

bool supports_weight_type(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ4_K:
    case DType::kQ6_K: return true;
    default: return false;
  }
}

bool supports_int8_activations(DType t) { return detail::int8_capable(t); }

void dequantize_row(DType t, const void* src, float* dst, int64_t k) {
  if (!detail::active_table().dequantize_row(t, src, dst, k)) ref::dequantize_row(t, src, dst, k);
}

void quantize_row_q8a(const float* x, int64_t k, int8_t* q, float* d, float* s) {
  KVS_CHECK(k % 32 == 0);
  int32_t qsum_stack[256];
  int32_t* qsum = k / 32 <= 256 ? qsum_stack : new int32_t[static_cast<size_t>(k / 32)];
  detail::active_table().quantize_row_q8a(x, k, q, d, s, qsum);
  if (qsum != qsum_stack) delete[] qsum;
}

void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps) {
  detail::active_table().rmsnorm(out, x, w, n, eps);
}
void softmax(float* x, int64_t m) { detail::active_table().softmax(x, m); }
void silu_mul(float* gate, const float* up, int64_t n) { detail::active_table().silu_mul(gate, up, n); }
void gelu_tanh_mul(float* gate, const float* up, int64_t n) { detail::active_table().gelu_tanh_mul(gate, up, n); }
void axpy(float* y, const float* x, float a, int64_t n) { detail::active_table().axpy(y, x, a, n); }
float dot_f32(const float* a, const float* b, int64_t n) { return detail::active_table().dot_f32(a, b, n); }
void gemv_f32(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* x, float* y) {
  detail::active_table().gemv_f32(a, rows, cols, lda, x, y);
}
void gemv_t_f32(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* w, float* y) {
  detail::active_table().gemv_t_f32(a, rows, cols, lda, w, y);
}

}  // namespace kvs::kernels
