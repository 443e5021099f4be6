// Alignment micro benchmarks (Google Benchmark): align::align on long token sequences, against the exact Myers
// reference. Counters: kept tokens and capped (1 = a region was matched greedily).
//   build/kvshare_align_bench                         (all)
//   build/kvshare_align_bench --benchmark_filter=8k   (two 8,000-token sequences, 2,000 edits)
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "align/edit_script.h"
#include "align/myers.h"

namespace {

using Seq = std::vector<int32_t>;

// Token ids: uniform over `vocab`, or Zipf-like (p ~ 1 / rank) over `vocab` like natural text.
Seq random_tokens(std::mt19937& rng, int n, int vocab, bool zipf) {
  Seq s(n);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto& t : s) {
    t = zipf ? static_cast<int32_t>(std::pow(static_cast<double>(vocab), u(rng))) - 1
             : static_cast<int32_t>(rng() % vocab);
  }
  return s;
}

// n_edits single-token edits at random positions: substitute, insert or delete, one third each.
Seq single_token_edits(Seq s, std::mt19937& rng, int n_edits, int vocab, bool zipf) {
  for (int e = 0; e < n_edits; ++e) {
    const size_t pos = rng() % s.size();
    const int32_t tok = random_tokens(rng, 1, vocab, zipf)[0];
    switch (rng() % 3) {
      case 0: s[pos] = tok; break;
      case 1: s.insert(s.begin() + pos, tok); break;
      default: s.erase(s.begin() + pos); break;
    }
  }
  return s;
}

void report(benchmark::State& state, const kvs::align::EditScript& s) {
  state.counters["kept"] = static_cast<double>(s.kept());
  state.counters["capped"] = s.capped ? 1.0 : 0.0;
}

// Two 8,000-token sequences, 2,000 edits (range(0): 0 = uniform over 32,000 ids, 1 = Zipf over 32,000).
void BM_Align_8k_2000Edits(benchmark::State& state) {
  std::mt19937 rng(42);
  const bool zipf = state.range(0) == 1;
  const Seq a = random_tokens(rng, 8000, 32000, zipf);
  const Seq b = single_token_edits(a, rng, 2000, 32000, zipf);
  kvs::align::EditScript s;
  for (auto _ : state) {
    s = kvs::align::align(a, b);
    benchmark::DoNotOptimize(s.runs.data());
  }
  report(state, s);
}
BENCHMARK(BM_Align_8k_2000Edits)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The exact reference on the same input, without a cap (what an uncapped Myers would cost).
void BM_MyersUnbounded_8k_2000Edits(benchmark::State& state) {
  std::mt19937 rng(42);
  const bool zipf = state.range(0) == 1;
  const Seq a = random_tokens(rng, 8000, 32000, zipf);
  const Seq b = single_token_edits(a, rng, 2000, 32000, zipf);
  int64_t kept = 0;
  for (auto _ : state) {
    auto s = kvs::align::myers_align(a, b, 1 << 30);
    kept = s->kept();
    benchmark::DoNotOptimize(kept);
  }
  state.counters["kept"] = static_cast<double>(kept);
}
BENCHMARK(BM_MyersUnbounded_8k_2000Edits)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The shape: a 467-token donor; the prompt = its first 24 tokens + 1,051 new tokens + its other 443
// tokens with 3 substitutions (Zipf tokens over 2,000 ids: the new text shares the donor's vocabulary).
void BM_Align_LongInsert(benchmark::State& state) {
  std::mt19937 rng(7);
  const Seq donor = random_tokens(rng, 467, 2000, true);
  Seq prompt(donor.begin(), donor.begin() + 24);
  const Seq fresh = random_tokens(rng, 1051, 2000, true);
  prompt.insert(prompt.end(), fresh.begin(), fresh.end());
  prompt.insert(prompt.end(), donor.begin() + 24, donor.end());
  for (int e = 0; e < 3; ++e) prompt[24 + 1051 + 100 + 100 * e] = 1999 - e;
  kvs::align::EditScript s;
  for (auto _ : state) {
    s = kvs::align::align(donor, prompt);
    benchmark::DoNotOptimize(s.runs.data());
  }
  report(state, s);
}
BENCHMARK(BM_Align_LongInsert)->Unit(benchmark::kMicrosecond);

// 8,000 tokens with a 700-token block moved to the front: the histograms agree, so Myers runs to its cap and
// fails (D = 1,400) before the anchors solve it: the slow side of the design.
void BM_Align_8k_BlockMove(benchmark::State& state) {
  std::mt19937 rng(9);
  const Seq a = random_tokens(rng, 8000, 32000, true);
  Seq b(a.begin() + 3000, a.begin() + 3700);
  b.insert(b.end(), a.begin(), a.begin() + 3000);
  b.insert(b.end(), a.begin() + 3700, a.end());
  kvs::align::EditScript s;
  for (auto _ : state) {
    s = kvs::align::align(a, b);
    benchmark::DoNotOptimize(s.runs.data());
  }
  report(state, s);
}
BENCHMARK(BM_Align_8k_BlockMove)->Unit(benchmark::kMillisecond);

// 8,000 tokens, 30 edits: D under the cap, the Myers path.
void BM_Align_8k_30Edits(benchmark::State& state) {
  std::mt19937 rng(3);
  const Seq a = random_tokens(rng, 8000, 32000, true);
  const Seq b = single_token_edits(a, rng, 30, 32000, true);
  kvs::align::EditScript s;
  for (auto _ : state) {
    s = kvs::align::align(a, b);
    benchmark::DoNotOptimize(s.runs.data());
  }
  report(state, s);
}
BENCHMARK(BM_Align_8k_30Edits)->Unit(benchmark::kMicrosecond);

}  // namespace
