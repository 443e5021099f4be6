// matmul driver: picks the path (int8 activations or float; row kernels or packed GEMM or OpenBLAS), quantises X,
// splits the work over the thread pool and hands each thread its scratch. The arithmetic is in the ISA tables.
//
// Path: the packed GEMM for every m by default (MatmulOptions::batch_invariant: a row's result never depends on
// the batch); the row kernels for small m otherwise, or when the ISA has no GEMM (scalar).
// Work split: every matmul of a call is cut into chunks (column ranges of whole units: GEMM panels, 4 rows of W
// for the row kernels, 16 for OpenBLAS; and row ranges of X only when W has fewer panels than threads), all the
// call's chunks go into one ThreadPool::parallel_chunks, and threads claim them dynamically. A chunk's outputs do
// not depend on the chunking or on which thread runs it (per-output arithmetic is fixed), so results are the same
// for any split. Each chunk streams a contiguous range of W (the GEMM packs each of its panels once and runs it
// over its rows).
//   OpenBLAS (float path, MatmulOptions::F32Gemm::kBlas): each chunk dequantises its slice of W rows to fp32 and
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

// One chunk: columns [j0, j1) of job jb over X rows [r0, r1).
struct Chunk {
  int32_t job;
  int64_t j0, j1, r0, r1;
};

void run_chunk(const KernelTable& t, const Job& jb, const Chunk& c, const QActs& qa, const float* x) {
  const int64_t k = jb.w.k, m = c.r1 - c.r0;
  const size_t scratch = detail::scratch_bytes(k);
  switch (jb.path) {
    case Path::kGemmQ8:
      t.gemm_q8a(jb.w, c.j0, c.j1, qa, c.r0, c.r1, jb.y, jb.ldy, thread_scratch(scratch));
      return;
    case Path::kRowsQ8:
      t.rows_q8a(jb.w, c.j0, c.j1, qa, m, jb.y, jb.ldy, thread_scratch(scratch));
      return;
    case Path::kGemmF32:
      t.gemm_f32(jb.w, c.j0, c.j1, x, c.r0, c.r1, jb.y, jb.ldy, thread_scratch(scratch));
      return;
    case Path::kRowsF32:
      t.rows_f32(jb.w, c.j0, c.j1, x, m, jb.y, jb.ldy, thread_scratch(scratch));
      return;
    case Path::kBlas: {
      float* wf = thread_blas_buffer(static_cast<size_t>((c.j1 - c.j0) * k));
      for (int64_t j = c.j0; j < c.j1; ++j) {
        float* dst = wf + (j - c.j0) * k;
        if (!t.dequantize_row(jb.w.type, jb.w.row(j), dst, k)) ref::dequantize_row(jb.w.type, jb.w.row(j), dst, k);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(c.j1 - c.j0),
                  static_cast<int>(k), 1.0f, x, static_cast<int>(k), wf, static_cast<int>(k), 0.0f, jb.y + c.j0,
                  static_cast<int>(jb.ldy));
      return;
    }
  }
}

// Appends job i's chunks: column pieces of whole units (about 4 per thread, for balance when a thread is slow or
// descheduled), and row pieces only when there are fewer units than threads (GEMM paths).
void add_chunks(const KernelTable& t, const Job& jb, int32_t i, int64_t m, int nth, std::vector<Chunk>& out) {
  const bool gemm = jb.path == Path::kGemmQ8 || jb.path == Path::kGemmF32;
  const int64_t unit = gemm ? t.gemm_panel : jb.path == Path::kBlas ? 16 : 4;
  const int64_t units = (jb.n + unit - 1) / unit;
  const int64_t pc = std::min<int64_t>(units, jb.path == Path::kBlas ? nth : 4 * nth);
  const int64_t rc = gemm && units < nth ? std::min<int64_t>(m, nth / units) : 1;
  for (int64_t p = 0; p < pc; ++p) {
    const int64_t j0 = std::min(jb.n, units * p / pc * unit), j1 = std::min(jb.n, units * (p + 1) / pc * unit);
    for (int64_t r = 0; r < rc; ++r) {
      const int64_t r0 = m * r / rc, r1 = m * (r + 1) / rc;
      if (j0 < j1 && r0 < r1) out.push_back(Chunk{i, j0, j1, r0, r1});
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
  const int nth = pool ? pool->size() : 1;
  thread_local std::vector<Chunk> chunks_buf;  // the owner thread's (workers only read it through `chunks`)
  std::vector<Chunk>& chunks = chunks_buf;
  chunks.clear();
  for (size_t i = 0; i < outs.size(); ++i)
    if (jobs[i].n > 0) add_chunks(t, jobs[i], static_cast<int32_t>(i), m, nth, chunks);
  struct Ctx {
    const KernelTable& t;
    const Job* jobs;
    const Chunk* chunks;
    const QActs& qa;
    const float* x;
  } ctx{t, jobs, chunks.data(), qa, x};
  const std::function<void(int64_t)> fn = [c = &ctx](int64_t i) {  // one pointer: no allocation
    run_chunk(c->t, c->jobs[c->chunks[i].job], c->chunks[i], c->qa, c->x);
  };
  if (pool == nullptr || nth == 1) {
    for (size_t c = 0; c < chunks.size(); ++c) fn(static_cast<int64_t>(c));
  } else {
    pool->parallel_chunks(static_cast<int64_t>(chunks.size()), fn);
  }
}

void matmul(const void* w, DType wt, int64_t n, int64_t k, const float* x, int64_t m, float* y, int64_t ldy,
            ThreadPool* pool, const MatmulOptions& opt) {
  if (n <= 0 || m <= 0) return;
  const MatmulOut one{w, wt, n, y, ldy};
  matmul_many(std::span<const MatmulOut>(&one, 1), k, x, m, pool, opt);
}

}  // namespace kvs::kernels
