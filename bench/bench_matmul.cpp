// matmul micro benchmarks on SmolLM2-135M's shapes (random weights of the model's types), 2 threads.
//   BM_matmul/<type>/<n>x<k>/m:<m>/<variant>/t:<threads>   (t:1 runs on the calling thread only; its CPU time
//   is the robust number on a busy machine, t:2 uses a 2-thread pool: read real time)
//   variant: int8 (default options: Q8A activations, integer dots, batch-invariant GEMM for every m),
//            f32 (float path, own GEMM, batch-invariant),
//            blas (float path, OpenBLAS sgemm over a dequantised W; only m >= 8),
//            int8rows / int8gemm, f32rows / f32gemm (path forced to the row kernels / the packed GEMM: the crossover).
// Counters: GFLOPS = 2*m*n*k / s, WGBps = bytes of W read per second (once per call).
// Run: build-kern/kvshare_microbench --benchmark_filter=BM_matmul --benchmark_repetitions=3
//      (KVS_BENCH_ISA=avx2|scalar|avx512 picks the ISA; default: the best one.)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/thread_pool.h"
#include "kernels/cpu/ops.h"

namespace {

using kvs::DType;
using kvs::ThreadPool;
namespace k = kvs::kernels;

std::vector<uint8_t> random_weights(DType t, int64_t n, int64_t kk) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> u(0.001f, 0.02f);
  const int64_t rb = kvs::dtype_row_bytes(t, kk);
  std::vector<uint8_t> w(static_cast<size_t>(n * rb));
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const int64_t bs = kvs::dtype_traits(static_cast<uint32_t>(t))->type_size;
  for (size_t off = 0; off + bs <= w.size(); off += bs) {  // sane f16 scales (block types only here)
    uint16_t d = k::fp32_to_fp16(u(rng)), m = k::fp32_to_fp16(-u(rng));
    std::memcpy(&w[off], &d, 2);
    if (t == DType::kQ4_1) std::memcpy(&w[off + 2], &m, 2);
  }
  return w;
}

ThreadPool& pool() {
  static ThreadPool p(2);
  return p;
}

k::Isa bench_isa() {
  const char* e = std::getenv("KVS_BENCH_ISA");
  if (e != nullptr) {
    for (k::Isa i : {k::Isa::kScalar, k::Isa::kAvx2, k::Isa::kAvx512})
      if (std::strcmp(e, k::isa_name(i)) == 0 && k::isa_supported(i)) return i;
  }
  return k::current_isa();
}

// cold: cycle through copies of W totalling >= 64 MiB, so every call reads W from L3/DRAM as a decode step does
// (the model's 100 MB of weights never stay in the 2 MiB L2); otherwise W stays cache-hot across iterations.
void run(benchmark::State& state, DType t, int64_t n, int64_t kk, int64_t m, int threads, bool cold,
         k::MatmulOptions opt) {
  k::ScopedIsa isa(bench_isa());
  const auto w0 = random_weights(t, n, kk);
  const size_t copies = cold ? std::max<size_t>(2, (64u << 20) / w0.size() + 1) : 1;
  std::vector<uint8_t> wall(w0.size() * copies);
  for (size_t c = 0; c < copies; ++c) std::memcpy(wall.data() + c * w0.size(), w0.data(), w0.size());
  const auto& w = w0;
  size_t next = 0;
  std::vector<float> x(static_cast<size_t>(m * kk)), y(static_cast<size_t>(m * n));
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  for (auto& v : x) v = nd(rng);
  for (auto _ : state) {
    k::matmul(wall.data() + next * w0.size(), t, n, kk, x.data(), m, y.data(), n, threads > 1 ? &pool() : nullptr, opt);
    next = next + 1 == copies ? 0 : next + 1;
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * m * n * kk * it / 1e9, benchmark::Counter::kIsRate);
  state.counters["WGBps"] = benchmark::Counter(static_cast<double>(w.size()) * it / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(k::active_isa());
}

struct ShapeSpec {
  DType t;
  int64_t n, k;
  std::vector<int64_t> ms;
};

int register_all() {
  const ShapeSpec shapes[] = {
      {DType::kQ4_1, 576, 576, {1, 16, 64, 512}},    // q, o
      {DType::kQ4_1, 192, 576, {1, 512}},            // k, v
      {DType::kQ4_1, 1536, 576, {1, 2, 4, 8, 16, 64, 512}},   // gate, up
      {DType::kQ4_1, 576, 1536, {1, 16, 64, 512}},   // down
      {DType::kQ8_0, 49152, 576, {1}},               // tied output head (decode: last row only)
  };
  for (const auto& s : shapes) {
    for (int64_t m : s.ms) {
      for (int threads : {1, 2})
      for (int cold = 0; cold < 2; ++cold)
      for (int v = 0; v < 7; ++v) {
        if (cold && m > 16) continue;  // prefill is compute-bound; cold W only matters for decode
        if (v == 2 && m < 8) continue;  // OpenBLAS is only used for m >= 8
        if (v >= 3 && m > 16) continue;  // rows vs GEMM crossover, int8 path
        k::MatmulOptions o;
        o.int8_activations = v == 0 || v == 3 || v == 4;
        o.f32_gemm = v == 2 ? k::MatmulOptions::F32Gemm::kBlas : k::MatmulOptions::F32Gemm::kOwn;
        if (v == 3 || v == 5) o.kernel = k::MatmulOptions::Kernel::kRows;
        if (v == 4 || v == 6) o.kernel = k::MatmulOptions::Kernel::kGemm;
        const char* names[] = {"int8", "f32", "blas", "int8rows", "int8gemm", "f32rows", "f32gemm"};
        const char* vn = names[v];
        std::string name = std::string("BM_matmul/") + kvs::dtype_name(s.t) + "/" + std::to_string(s.n) + "x" +
                           std::to_string(s.k) + "/m:" + std::to_string(m) + "/" + vn + "/t:" + std::to_string(threads) + (cold ? "/cold" : "");
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run(st, s.t, s.n, s.k, m, threads, cold != 0, o); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  return 0;
}
const int kRegistered = register_all();

}  // namespace
