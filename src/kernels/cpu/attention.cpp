// attention_paged driver (baseline ISA): query tiles, work items, threads, partial-state merge. The arithmetic of a
// tile is in the per-ISA kernels (attention_avx2.cpp, attention_avx512.cpp, attn_chunk_scalar).
//
// Work: query tiles of up to kTileVectors query vectors (rows x the heads of one kv head: GQA heads share K/V),
// each against chunks of kAttnChunkKeys key positions. Tasks are (tile, kv head) pairs that run their chunks in
// order, merging each chunk's state into the running one; when there are too few pairs to keep the threads busy
// (decode: one row), tasks are (tile, kv head, chunk) items whose states are merged afterwards, in the same order
// and with the same function: the bits do not depend on which of the two ran.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/status.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/ops.h"

namespace kvs::kernels {

namespace avx2 {
void attn_chunk(const detail::AttnChunk& c, float* m, float* l, float* acc, float* scratch);
}
namespace avx512 {
void attn_chunk(const detail::AttnChunk& c, float* m, float* l, float* acc, float* scratch);
}

namespace {

using ChunkFn = void (*)(const detail::AttnChunk&, float*, float*, float*, float*);

constexpr int64_t kTileVectors = 64;  // query vectors per tile (rows * group)

ChunkFn chunk_fn(int64_t hd) {
  if (hd % 16 == 0 && hd <= 1024) {
    switch (current_isa()) {
      case Isa::kAvx512: return avx512::attn_chunk;
      case Isa::kAvx2: return avx2::attn_chunk;
      case Isa::kScalar: break;
    }
  }
  return detail::attn_chunk_scalar;
}

struct Tile {
  int64_t seq, row0, n;  // rows [row0, row0 + n) of sequence run `seq`
  int64_t ch0, ch1;      // chunks [ch0, ch1) hold every key of the tile
  int32_t hi_max;
};

// R vectors' softmax state: m (R), l (R), acc (R, hd).
struct State {
  float* m;
  float* l;
  float* acc;
};

// s = merge(s, c): the state of the union of both key sets.
void merge_state(State s, State c, int64_t R, int64_t hd) {
  for (int64_t r = 0; r < R; ++r) {
    if (c.m[r] == -INFINITY) continue;
    float* acc = s.acc + r * hd;
    const float* cacc = c.acc + r * hd;
    if (s.m[r] == -INFINITY) {
      s.m[r] = c.m[r];
      s.l[r] = c.l[r];
      std::memcpy(acc, cacc, hd * sizeof(float));
      continue;
    }
    const float mn = std::max(s.m[r], c.m[r]);
    const float a = std::exp(s.m[r] - mn), b = std::exp(c.m[r] - mn);
    s.l[r] = s.l[r] * a + c.l[r] * b;
    for (int64_t i = 0; i < hd; ++i) acc[i] = acc[i] * a + cacc[i] * b;
    s.m[r] = mn;
  }
}

void clear_state(State s, int64_t R, int64_t hd) {
  std::fill(s.m, s.m + R, -INFINITY);
  std::fill(s.l, s.l + R, 0.0f);
  std::fill(s.acc, s.acc + R * hd, 0.0f);
}

// Per-thread buffers (grown, never shrunk).
struct Scratch {
  std::vector<float> qp;           // (R, hd) packed, scaled queries
  std::vector<int32_t> lo, hi;     // (R) key range of each vector
  std::vector<float> run, chunk;   // (R * (hd + 2)) running and chunk states
  std::vector<float> tile;         // attn_scratch_floats(R, hd), 64-byte aligned inside
};
Scratch& thread_scratch(int64_t R, int64_t hd) {
  thread_local Scratch s;
  const size_t st = static_cast<size_t>(R * (hd + 2));
  if (s.qp.size() < static_cast<size_t>(R * hd)) s.qp.resize(R * hd);
  if (s.lo.size() < static_cast<size_t>(R)) {
    s.lo.resize(R);
    s.hi.resize(R);
  }
  if (s.run.size() < st) {
    s.run.resize(st);
    s.chunk.resize(st);
  }
  const size_t tf = static_cast<size_t>(detail::attn_scratch_floats(R, hd)) + 16;
  if (s.tile.size() < tf) s.tile.resize(tf);
  return s;
}
float* aligned64(std::vector<float>& v) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<float*>((p + 63) & ~uintptr_t{63});
}
State state_at(float* base, int64_t R, int64_t hd) { return State{base, base + R, base + 2 * R}; }

class Runner {
 public:
  Runner(const AttnArgs& a, const PagedKv& kv, std::span<const AttnSeq> seqs)
      : a_(a), kv_(kv), seqs_(seqs), hd_(a.head_dim), group_(a.n_head / a.n_head_kv), fn_(chunk_fn(a.head_dim)) {
    const int64_t bs = kv.block_size;
    chunk_keys_ = std::max<int64_t>(1, (kAttnChunkKeys + bs - 1) / bs) * bs;
    const int64_t rows_per_tile = std::max<int64_t>(1, kTileVectors / group_);
    for (int64_t s = 0; s < static_cast<int64_t>(seqs.size()); ++s) {
      for (int64_t r0 = 0; r0 < seqs[s].n_rows; r0 += rows_per_tile) {
        Tile t{s, seqs[s].row0 + r0, std::min(rows_per_tile, seqs[s].n_rows - r0), 0, 0, 0};
        int64_t lo_min = INT64_MAX, hi_max = 0;
        for (int64_t r = t.row0; r < t.row0 + t.n; ++r) {
          lo_min = std::min(lo_min, lo_of(a.pos[r]));
          hi_max = std::max<int64_t>(hi_max, a.pos[r]);
        }
        t.ch0 = lo_min / chunk_keys_;
        t.ch1 = hi_max / chunk_keys_ + 1;
        t.hi_max = static_cast<int32_t>(hi_max);
        tiles_.push_back(t);
      }
    }
  }

  int64_t n_tiles() const { return static_cast<int64_t>(tiles_.size()); }
  const Tile& tile(int64_t i) const { return tiles_[i]; }
  int64_t vectors(const Tile& t) const { return t.n * group_; }

  // Packs tile t's queries of kv head g into the scratch and returns the chunk template (c0/c1 unset).
  detail::AttnChunk prepare(const Tile& t, int64_t g, Scratch& s) const {
    const int64_t R = vectors(t);
    for (int64_t i = 0; i < t.n; ++i) {
      const int64_t row = t.row0 + i, p = a_.pos[row];
      for (int64_t hh = 0; hh < group_; ++hh) {
        const int64_t v = i * group_ + hh;
        const float* q = a_.q + row * a_.ldq + (g * group_ + hh) * hd_;
        for (int64_t d = 0; d < hd_; ++d) s.qp[v * hd_ + d] = q[d] * a_.scale;
        s.lo[v] = static_cast<int32_t>(lo_of(p));
        s.hi[v] = static_cast<int32_t>(p);
      }
    }
    const int64_t eb = kv_.dtype == DType::kF16 ? 2 : 4;  // bytes per element
    const void* k = static_cast<const char*>(kv_.k) + g * kv_.head_stride * eb;
    const void* v = static_cast<const char*>(kv_.v) + g * kv_.head_stride * eb;
    return detail::AttnChunk{s.qp.data(), R, hd_, s.lo.data(), s.hi.data(), kv_.dtype, k, v,
                             seqs_[t.seq].blocks.data(), kv_.block_stride, kv_.block_size, 0, 0};
  }

  // State of chunk ch of (tile t, head g) into st.
  void run_chunk(detail::AttnChunk c, const Tile& t, int64_t ch, State st, Scratch& s) const {
    c.c0 = ch * chunk_keys_;
    c.c1 = std::min<int64_t>((ch + 1) * chunk_keys_, int64_t{t.hi_max} + 1);
    fn_(c, st.m, st.l, st.acc, aligned64(s.tile));
  }

  // out rows of (tile t, head g) = acc / l.
  void finish(const Tile& t, int64_t g, State st) const {
    for (int64_t i = 0; i < t.n; ++i)
      for (int64_t hh = 0; hh < group_; ++hh) {
        const int64_t v = i * group_ + hh;
        float* o = a_.out + (t.row0 + i) * a_.ldo + (g * group_ + hh) * hd_;
        const float* acc = st.acc + v * hd_;
        for (int64_t d = 0; d < hd_; ++d) o[d] = acc[d] / st.l[v];
      }
  }

  // A (tile, head) pair from start to end: chunks in order, merged into the running state.
  void run_pair(const Tile& t, int64_t g) const {
    const int64_t R = vectors(t);
    Scratch& s = thread_scratch(R, hd_);
    const detail::AttnChunk c = prepare(t, g, s);
    State run = state_at(s.run.data(), R, hd_), cur = state_at(s.chunk.data(), R, hd_);
    clear_state(run, R, hd_);
    for (int64_t ch = t.ch0; ch < t.ch1; ++ch) {
      run_chunk(c, t, ch, cur, s);
      merge_state(run, cur, R, hd_);
    }
    finish(t, g, run);
  }

  int64_t hd() const { return hd_; }

 private:
  int64_t lo_of(int64_t p) const { return a_.window > 0 ? std::max<int64_t>(0, p - a_.window + 1) : 0; }

  const AttnArgs& a_;
  const PagedKv& kv_;
  std::span<const AttnSeq> seqs_;
  int64_t hd_, group_, chunk_keys_ = 0;
  ChunkFn fn_;
  std::vector<Tile> tiles_;
};

// Runs fn(i) for i in [0, n) over the pool, handing out indices dynamically.
template <typename F>
void for_each_dynamic(int64_t n, ThreadPool* pool, F&& fn) {
  if (pool == nullptr || pool->size() == 1 || n <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  pool->parallel_chunks(n, [f = &fn](int64_t i) { (*f)(i); });
}

}  // namespace

void attention_paged(const AttnArgs& a, const PagedKv& kv, std::span<const AttnSeq> seqs, ThreadPool* pool) {
  KVS_CHECK_MSG(kv.dtype == DType::kF32 || kv.dtype == DType::kF16, "attention_paged: KV must be f32 or f16");
  KVS_CHECK(a.n_head_kv > 0 && a.n_head % a.n_head_kv == 0 && a.head_dim > 0 && kv.block_size > 0);
  const Runner run(a, kv, seqs);
  const int64_t n_kv = a.n_head_kv, hd = a.head_dim, nth = pool ? pool->size() : 1;
  const int64_t pairs = run.n_tiles() * n_kv;
  int64_t items = 0;
  for (int64_t i = 0; i < run.n_tiles(); ++i) items += (run.tile(i).ch1 - run.tile(i).ch0) * n_kv;
  if (pairs == 0) return;

  if (nth == 1 || pairs >= 4 * nth || items == pairs) {
    // Heaviest tiles (the most chunks) first.
    std::vector<int64_t> order(run.n_tiles());
    for (int64_t i = 0; i < run.n_tiles(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
      return run.tile(x).ch1 - run.tile(x).ch0 > run.tile(y).ch1 - run.tile(y).ch0;
    });
    for_each_dynamic(pairs, pool, [&](int64_t i) { run.run_pair(run.tile(order[i / n_kv]), i % n_kv); });
    return;
  }

  // Few pairs (decode): one task per (tile, head, chunk), states merged afterwards in chunk order.
  struct Item {
    int64_t tile, g, ch, off;
  };
  std::vector<Item> its;
  its.reserve(items);
  int64_t floats = 0;
  for (int64_t i = 0; i < run.n_tiles(); ++i) {
    const Tile& t = run.tile(i);
    for (int64_t g = 0; g < n_kv; ++g)
      for (int64_t ch = t.ch0; ch < t.ch1; ++ch) {
        its.push_back({i, g, ch, floats});
        floats += run.vectors(t) * (hd + 2);
      }
  }
  // (items, R * (hd + 2)) chunk states: the owner thread's buffer, named through a reference (a thread_local
  // named inside the lambda would be each worker's own).
  thread_local std::vector<float> partial_buf;
  std::vector<float>& partial = partial_buf;
  if (partial.size() < static_cast<size_t>(floats)) partial.resize(floats);
  for_each_dynamic(static_cast<int64_t>(its.size()), pool, [&](int64_t i) {
    const Item& it = its[i];
    const Tile& t = run.tile(it.tile);
    Scratch& s = thread_scratch(run.vectors(t), hd);
    run.run_chunk(run.prepare(t, it.g, s), t, it.ch, state_at(partial.data() + it.off, run.vectors(t), hd), s);
  });
  // Items of one pair are consecutive, in chunk order.
  std::vector<int64_t> first(pairs + 1, 0);
  for (int64_t i = 0, p = 0; i < static_cast<int64_t>(its.size()); ++i)
    if (i == 0 || its[i].tile != its[i - 1].tile || its[i].g != its[i - 1].g) first[p++] = i;
  first[pairs] = static_cast<int64_t>(its.size());
  for_each_dynamic(pairs, pool, [&](int64_t p) {
    const Item& it0 = its[first[p]];
    const Tile& t = run.tile(it0.tile);
    const int64_t R = run.vectors(t);
    Scratch& s = thread_scratch(R, hd);
    State st = state_at(s.run.data(), R, hd);
    clear_state(st, R, hd);
    for (int64_t i = first[p]; i < first[p + 1]; ++i) merge_state(st, state_at(partial.data() + its[i].off, R, hd), R, hd);
    run.finish(t, it0.g, st);
  });
}

}  // namespace kvs::kernels
