// matmul driver: picks the path (int8 activations or float; row kernels or packed GEMM or OpenBLAS), quantises X,
// splits the work over the thread pool and hands each thread its scratch. The arithmetic is in the ISA tables.
//
// Path: the packed GEMM for every m by default (MatmulOptions::batch_invariant: a row's result never depends on
// the batch); the row kernels for small m otherwise, or when the ISA has no GEMM (scalar).
// Work split (nth threads):
//   row kernels: n is cut into nth contiguous ranges (multiples of 4 rows); every thread does
//     all m rows of its range, so each W row is read from memory exactly once.
//   GEMM: n is cut into panels of `gemm_panel` columns; threads form a grid tp x tr
//     (tp = min(nth, panels)) over panel ranges and row ranges; each thread packs each of its panels once and
//     runs it over its rows.
//   OpenBLAS (float path, MatmulOptions::F32Gemm::kBlas): each thread dequantises its slice of W rows to fp32 and
//     calls a single-threaded cblas_sgemm on it (OpenBLAS's own threads are set to 1 so it cannot fight the pool).
#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <cstring>
#include <mutex>
#include <vector>

#include <cblas.h>

#include "base/status.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/ops_internal.h"

namespace kvs::kernels {

namespace {

using detail::KernelTable;
using detail::QActs;
using detail::WView;

// Only with MatmulOptions::batch_invariant = false (else the GEMM runs for every m): below this many rows the row
// kernels win (they stream W once with prefetch; the GEMM packs it first). Measured with bench_matmul
// (int8rows/int8gemm, f32rows/f32gemm on cold weights, AVX-512, one core): int8 GEMM wins from m = 4
// (1536x576: rows 104 us vs GEMM 94 us at m = 4), float GEMM from m ~ 12-16.
constexpr int64_t kGemmMinRowsQ8 = 4;
constexpr int64_t kGemmMinRowsF32 = 12;

// 64-byte aligned per-thread scratch that only grows.
void* thread_scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  uintptr_t p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<void*>((p + 63) & ~uintptr_t{63});
}

float* thread_blas_buffer(size_t floats) {
  thread_local std::vector<float> buf;
  if (buf.size() < floats) buf.resize(floats);
  return buf.data();
}

// Q8A activations of the calling (owner) thread.
struct QBuffers {
  std::vector<int8_t> q;
  std::vector<float> d, s;
  std::vector<int32_t> qsum;
};
QBuffers& owner_qbuffers() {
  thread_local QBuffers b;
  return b;
}

void run(ThreadPool* pool, const std::function<void(int, int)>& fn) {
  if (pool == nullptr || pool->size() == 1) {
    fn(0, 1);
  } else {
    pool->parallel_for(fn);
  }
}

QActs quantize_acts(const KernelTable& t, const float* x, int64_t m, int64_t k, ThreadPool* pool) {
  const int64_t nb = k / 32;
  QBuffers& b = owner_qbuffers();
  if (static_cast<int64_t>(b.q.size()) < m * k) b.q.resize(static_cast<size_t>(m * k));
  if (static_cast<int64_t>(b.d.size()) < m * nb) {
    b.d.resize(static_cast<size_t>(m * nb));
    b.s.resize(static_cast<size_t>(m * nb));
    b.qsum.resize(static_cast<size_t>(m * nb));
  }
  auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      t.quantize_row_q8a(x + r * k, k, b.q.data() + r * k, b.d.data() + r * nb, b.s.data() + r * nb,
                         b.qsum.data() + r * nb);
  };
  if (pool != nullptr && pool->size() > 1 && m * k >= 64 * 1024) {
    pool->parallel_range(m, 1, rows);
  } else {
    rows(0, m);
  }
  return QActs{b.q.data(), b.d.data(), b.s.data(), b.qsum.data(), k};
}

// [j0, j1) of n for thread ith of nth, in multiples of `align`.
void split(int64_t n, int64_t align, int ith, int nth, int64_t* j0, int64_t* j1) {
  const int64_t units = (n + align - 1) / align;
  *j0 = std::min(n, units * ith / nth * align);
  *j1 = std::min(n, units * (ith + 1) / nth * align);
}

// Grid of threads over (panels, rows) for the GEMM paths.
template <typename F>
void gemm_grid(int64_t n, int64_t m, int64_t panel, int ith, int nth, F&& f) {
  const int64_t panels = (n + panel - 1) / panel;
  const int tp = static_cast<int>(std::min<int64_t>(nth, panels));
  const int tr = nth / tp;
  if (ith >= tp * tr) return;
  const int ip = ith % tp, ir = ith / tp;
  int64_t j0, j1, r0, r1;
  split(n, panel, ip, tp, &j0, &j1);
  split(m, 1, ir, tr, &r0, &r1);
  if (j0 < j1 && r0 < r1) f(j0, j1, r0, r1);
}

void blas_set_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

}  // namespace

namespace {

// ---- weights packed once ------------------------------------------------------------------------------------
struct Packed {
  DType type;
  int64_t n, k;
  const KernelTable* table;
  std::unique_ptr<uint8_t, void (*)(void*)> bytes{nullptr, std::free};
  size_t size = 0;
};
struct PackRegistry {
  std::mutex mu;
  std::map<const uint8_t*, size_t> ranges;        // begin -> bytes of immutable ranges
  std::map<const uint8_t*, Packed> packs;         // weight data -> its packed copy
  size_t total = 0;
};
// Never destroyed: a Model held in a static (tests, tools) is destroyed at exit, after any function-local static
// constructed later than it, and its destructor still releases its ranges here.
PackRegistry& registry() {
  static PackRegistry* r = new PackRegistry;
  return *r;
}

bool inside_range(const PackRegistry& r, const uint8_t* p, size_t bytes) {
  auto it = r.ranges.upper_bound(p);
  if (it == r.ranges.begin()) return false;
  --it;
  return p >= it->first && p + bytes <= it->first + it->second;
}

// The packed copy of W (n rows) for table t, made on first use; nullptr when W is not in an immutable range or the
// table has no pre-packed form for its type. Called on the owner thread before the parallel region.
const uint8_t* packed_for(const KernelTable& t, const WView& w, int64_t n) {
  if (t.prepack_q8a == nullptr || t.prepack_bytes(w.type, n, w.k) == 0) return nullptr;
  PackRegistry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  if (r.ranges.empty() || !inside_range(r, w.data, static_cast<size_t>(n * w.row_bytes))) return nullptr;
  auto it = r.packs.find(w.data);
  if (it != r.packs.end()) {
    const Packed& p = it->second;
    if (p.type == w.type && p.n == n && p.k == w.k && p.table == &t) return p.bytes.get();
    r.total -= p.size;
    r.packs.erase(it);
  }
  Packed p{w.type, n, w.k, &t};
  p.size = t.prepack_bytes(w.type, n, w.k);
  p.bytes.reset(static_cast<uint8_t*>(std::aligned_alloc(64, (p.size + 63) / 64 * 64)));
  KVS_CHECK(p.bytes != nullptr);
  t.prepack_q8a(w, n, p.bytes.get());
  r.total += p.size;
  return r.packs.emplace(w.data, std::move(p)).first->second.bytes.get();
}

}  // namespace

void register_immutable_weights(const void* begin, size_t bytes) {
  PackRegistry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  r.ranges[static_cast<const uint8_t*>(begin)] = bytes;
}

void release_immutable_weights(const void* begin) {
  PackRegistry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  auto it = r.ranges.find(static_cast<const uint8_t*>(begin));
  if (it == r.ranges.end()) return;
  const uint8_t* b = it->first;
  const uint8_t* e = b + it->second;
  r.ranges.erase(it);
  for (auto p = r.packs.lower_bound(b); p != r.packs.end() && p->first < e;) {
    r.total -= p->second.size;
    p = r.packs.erase(p);
  }
}

size_t prepacked_bytes() {
  PackRegistry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  return r.total;
}

namespace {

enum class Path { kRowsQ8, kGemmQ8, kRowsF32, kGemmF32, kBlas };

// One matmul of a call: its weights, output, and the path it takes.
struct Job {
  WView w;
  float* y;
  int64_t n, ldy;
  Path path;
};

Path choose_path(const KernelTable& t, DType wt, int64_t m, const MatmulOptions& opt) {
  using K = MatmulOptions::Kernel;
  auto gemm_wanted = [&](int64_t min_rows) {
    return opt.kernel == K::kGemm || (opt.kernel == K::kAuto && (opt.batch_invariant || m >= min_rows));
  };
  if (opt.int8_activations && detail::int8_capable(wt))
    return t.gemm_q8a != nullptr && gemm_wanted(kGemmMinRowsQ8) ? Path::kGemmQ8 : Path::kRowsQ8;
  if (gemm_wanted(kGemmMinRowsF32)) {
    if (opt.f32_gemm == MatmulOptions::F32Gemm::kBlas) return Path::kBlas;
    if (t.gemm_f32 != nullptr) return Path::kGemmF32;
  }
  return Path::kRowsF32;
}

// Thread ith's share of one job.
void run_job(const KernelTable& t, const Job& jb, const QActs& qa, const float* x, int64_t m, int ith, int nth) {
  const int64_t k = jb.w.k, n = jb.n;
  const size_t scratch = detail::scratch_bytes(k);
  int64_t j0, j1;
  switch (jb.path) {
    case Path::kGemmQ8:
      gemm_grid(n, m, t.gemm_panel, ith, nth, [&](int64_t a0, int64_t a1, int64_t r0, int64_t r1) {
        t.gemm_q8a(jb.w, a0, a1, qa, r0, r1, jb.y, jb.ldy, thread_scratch(scratch));
      });
      return;
    case Path::kRowsQ8:
      split(n, 4, ith, nth, &j0, &j1);
      if (j0 < j1) t.rows_q8a(jb.w, j0, j1, qa, m, jb.y, jb.ldy, thread_scratch(scratch));
      return;
    case Path::kGemmF32:
      gemm_grid(n, m, t.gemm_panel, ith, nth, [&](int64_t a0, int64_t a1, int64_t r0, int64_t r1) {
        t.gemm_f32(jb.w, a0, a1, x, r0, r1, jb.y, jb.ldy, thread_scratch(scratch));
      });
      return;
    case Path::kRowsF32:
      split(n, 4, ith, nth, &j0, &j1);
      if (j0 < j1) t.rows_f32(jb.w, j0, j1, x, m, jb.y, jb.ldy, thread_scratch(scratch));
      return;
    case Path::kBlas: {
      split(n, 16, ith, nth, &j0, &j1);
      if (j0 >= j1) return;
      float* wf = thread_blas_buffer(static_cast<size_t>((j1 - j0) * k));
      for (int64_t j = j0; j < j1; ++j) {
        float* dst = wf + (j - j0) * k;
        if (!t.dequantize_row(jb.w.type, jb.w.row(j), dst, k)) ref::dequantize_row(jb.w.type, jb.w.row(j), dst, k);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(j1 - j0),
                  static_cast<int>(k), 1.0f, x, static_cast<int>(k), wf, static_cast<int>(k), 0.0f, jb.y + j0,
                  static_cast<int>(jb.ldy));
      return;
    }
  }
}

}  // namespace

void matmul_many(std::span<const MatmulOut> outs, int64_t k, const float* x, int64_t m, ThreadPool* pool,
                 const MatmulOptions& opt) {
  if (outs.empty() || m <= 0) return;
  const KernelTable& t = detail::active_table();
  Job jobs_stack[8];
  std::vector<Job> jobs_heap;
  Job* jobs = jobs_stack;
  if (outs.size() > 8) {
    jobs_heap.resize(outs.size());
    jobs = jobs_heap.data();
  }
  bool any_q8 = false, any_blas = false;
  for (size_t i = 0; i < outs.size(); ++i) {
    const MatmulOut& o = outs[i];
    KVS_CHECK(supports_weight_type(o.wt));
    KVS_CHECK(o.ldy >= o.n);
    jobs[i] = Job{WView{static_cast<const uint8_t*>(o.w), o.wt, k, dtype_row_bytes(o.wt, k)}, o.y, o.n, o.ldy,
                  choose_path(t, o.wt, m, opt)};
    // Only the packed-GEMM paths read the copy (the large-m float GEMM dequantises from W itself).
    if (jobs[i].path == Path::kGemmQ8 || (jobs[i].path == Path::kGemmF32 && m < 32))
      jobs[i].w.packed = packed_for(t, jobs[i].w, o.n);
    any_q8 |= jobs[i].path == Path::kRowsQ8 || jobs[i].path == Path::kGemmQ8;
    any_blas |= jobs[i].path == Path::kBlas;
  }
  const QActs qa = any_q8 ? quantize_acts(t, x, m, k, pool) : QActs{};
  if (any_blas) blas_set_single_threaded();
  run(pool, [&](int ith, int nth) {
    for (size_t i = 0; i < outs.size(); ++i)
      if (jobs[i].n > 0) run_job(t, jobs[i], qa, x, m, ith, nth);
  });
}

void matmul(const void* w, DType wt, int64_t n, int64_t k, const float* x, int64_t m, float* y, int64_t ldy,
            ThreadPool* pool, const MatmulOptions& opt) {
  if (n <= 0 || m <= 0) return;
  const MatmulOut one{w, wt, n, y, ldy};
  matmul_many(std::span<const MatmulOut>(&one, 1), k, x, m, pool, opt);
}

}  // namespace kvs::kernels
