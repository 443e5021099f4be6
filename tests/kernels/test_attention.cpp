// Tiled attention over paged KV (kernels/cpu/attention.h) against its scalar reference, on every ISA this CPU can
// run: random shapes, odd lengths, block and tile boundaries, GQA ratios, non-contiguous (selective) rows, sliding
// windows; and the batch invariance the forward contract needs: a row gives the same bits alone, in a batch, with
// any thread count, and when the key range is split across threads (decode). Both KV element types: f32, and
// f16 (the default cache type), whose reference reads each half through the scalar IEEE conversion.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/f16.h"
#include "kernels/cpu/ops.h"

namespace kvs::kernels {
namespace {

struct Shape {
  int64_t n_head, n_head_kv, hd, bs;
};

// A paged store of n_blocks blocks; each sequence gets a random permutation of physical blocks.
struct Store {
  Shape sh;
  int64_t n_blocks;
  std::vector<float> k, v;       // (n_blocks, n_head_kv, bs, hd)
  DType dtype = DType::kF32;
  std::vector<uint16_t> hk, hv;  // f16: k, v rounded to half (scalar reference conversion)
  PagedKv view() const {
    PagedKv p;
    p.dtype = dtype;
    p.k = dtype == DType::kF16 ? static_cast<const void*>(hk.data()) : k.data();
    p.v = dtype == DType::kF16 ? static_cast<const void*>(hv.data()) : v.data();
    p.block_stride = sh.n_head_kv * sh.bs * sh.hd;
    p.head_stride = sh.bs * sh.hd;
    p.block_size = sh.bs;
    return p;
  }
};

Store make_store(const Shape& sh, int64_t n_blocks, std::mt19937& rng, float kscale, DType dtype = DType::kF32) {
  Store s{sh, n_blocks, {}, {}, dtype, {}, {}};
  std::normal_distribution<float> nd(0.0f, 1.0f);
  s.k.resize(n_blocks * sh.n_head_kv * sh.bs * sh.hd);
  s.v.resize(s.k.size());
  for (float& x : s.k) x = nd(rng) * kscale;
  for (float& x : s.v) x = nd(rng);
  if (dtype == DType::kF16) {
    s.hk.resize(s.k.size());
    s.hv.resize(s.v.size());
    ref::fp32_to_fp16_row(s.k.data(), s.hk.data(), static_cast<int64_t>(s.k.size()));
    ref::fp32_to_fp16_row(s.v.data(), s.hv.data(), static_cast<int64_t>(s.v.size()));
  }
  return s;
}

// A call: rows of several sequences (q, pos) and their block tables.
struct Call {
  std::vector<std::vector<int32_t>> tables;
  std::vector<AttnSeq> seqs;
  std::vector<int32_t> pos;
  std::vector<float> q;
};

AttnArgs args_for(const Shape& sh, Call& c, std::vector<float>& out, int64_t window) {
  const int64_t d = sh.n_head * sh.hd;
  out.assign(c.pos.size() * d, 0.0f);
  AttnArgs a;
  a.n_head = sh.n_head;
  a.n_head_kv = sh.n_head_kv;
  a.head_dim = sh.hd;
  a.scale = 1.0f / std::sqrt(static_cast<float>(sh.hd));
  a.window = window;
  a.q = c.q.data();
  a.ldq = d;
  a.pos = c.pos.data();
  a.out = out.data();
  a.ldo = d;
  return a;
}

// Sequences of random lengths; for each, a random kind of rows: prefill from 0, a chunk [a, b), one decode row,
// or a random non-contiguous subset (selective recompute), in random order for the subset.
Call make_call(const Shape& sh, int64_t n_blocks, int n_seq, int64_t max_len, std::mt19937& rng) {
  Call c;
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int s = 0; s < n_seq; ++s) {
    const int64_t len = 1 + static_cast<int64_t>(rng() % max_len);
    const int64_t nb = (len + sh.bs - 1) / sh.bs;
    std::vector<int32_t> tab(n_blocks);
    std::iota(tab.begin(), tab.end(), 0);
    std::shuffle(tab.begin(), tab.end(), rng);
    tab.resize(nb);
    c.tables.push_back(tab);
    std::vector<int32_t> rows;
    switch (rng() % 4) {
      case 0:
        for (int64_t p = 0; p < len; ++p) rows.push_back(static_cast<int32_t>(p));
        break;
      case 1: {
        const int64_t a = static_cast<int64_t>(rng() % len);
        for (int64_t p = a; p < len; ++p) rows.push_back(static_cast<int32_t>(p));
        break;
      }
      case 2: rows.push_back(static_cast<int32_t>(len - 1)); break;
      default:
        for (int64_t p = 0; p < len; ++p)
          if (rng() % 3 == 0 || p == len - 1) rows.push_back(static_cast<int32_t>(p));
        std::shuffle(rows.begin(), rows.end(), rng);
    }
    AttnSeq sq;
    sq.row0 = static_cast<int64_t>(c.pos.size());
    sq.n_rows = static_cast<int64_t>(rows.size());
    c.seqs.push_back(sq);
    c.pos.insert(c.pos.end(), rows.begin(), rows.end());
  }
  for (size_t s = 0; s < c.seqs.size(); ++s) c.seqs[s].blocks = c.tables[s];
  c.q.resize(c.pos.size() * sh.n_head * sh.hd);
  for (float& x : c.q) x = nd(rng);
  return c;
}

std::vector<Isa> isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (isa_supported(i)) v.push_back(i);
  return v;
}

const Shape kShapes[] = {{4, 4, 64, 16}, {9, 3, 64, 16}, {8, 2, 32, 7},  {6, 1, 16, 32},
                         {4, 2, 48, 5},  {2, 1, 24, 16}, {12, 4, 64, 40}, {3, 3, 128, 16}};

TEST(Attention, MatchesReferenceOnEveryIsa) {
  ThreadPool pool(2);
  for (DType dt : {DType::kF32, DType::kF16})
  for (Isa isa : isas()) {
    ScopedIsa scoped(isa);
    std::mt19937 rng(7);
    for (const Shape& sh : kShapes) {
      for (int64_t window : {int64_t{0}, int64_t{1}, int64_t{37}}) {
        for (float kscale : {1.0f, 8.0f}) {
          const int64_t max_len = 300, n_blocks = (max_len + sh.bs - 1) / sh.bs + 1;
          const Store st = make_store(sh, n_blocks, rng, kscale, dt);
          Call c = make_call(sh, n_blocks, 3, max_len, rng);
          std::vector<float> got, want;
          AttnArgs a = args_for(sh, c, got, window);
          attention_paged(a, st.view(), c.seqs, &pool);
          AttnArgs r = args_for(sh, c, want, window);
          ref::attention_paged(r, st.view(), c.seqs);
          double worst = 0;
          for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(double{got[i]} - want[i]));
          EXPECT_LT(worst, 2e-5) << isa_name(isa) << " " << dtype_name(dt) << " heads " << sh.n_head << "/" << sh.n_head_kv << " hd " << sh.hd
                                 << " bs " << sh.bs << " window " << window << " kscale " << kscale;
        }
      }
    }
  }
}

// An f16 tile is converted exactly as it is loaded and then takes the f32 arithmetic: on every ISA, f16 KV gives
// the same bits as f32 KV holding the same (half-representable) values.
TEST(Attention, F16EqualsF32OnTheSameValues) {
  ThreadPool pool(2);
  for (Isa isa : isas()) {
    ScopedIsa scoped(isa);
    std::mt19937 rng(13);
    for (const Shape& sh : kShapes) {
      const int64_t max_len = 200, n_blocks = (max_len + sh.bs - 1) / sh.bs + 1;
      const Store h = make_store(sh, n_blocks, rng, 4.0f, DType::kF16);
      Store f = h;
      f.dtype = DType::kF32;
      for (size_t i = 0; i < f.k.size(); ++i) {
        f.k[i] = fp16_to_fp32(h.hk[i]);
        f.v[i] = fp16_to_fp32(h.hv[i]);
      }
      Call c = make_call(sh, n_blocks, 3, max_len, rng);
      std::vector<float> oh, of;
      AttnArgs ah = args_for(sh, c, oh, 0);
      attention_paged(ah, h.view(), c.seqs, &pool);
      AttnArgs af = args_for(sh, c, of, 0);
      attention_paged(af, f.view(), c.seqs, &pool);
      ASSERT_EQ(0, std::memcmp(oh.data(), of.data(), oh.size() * sizeof(float)))
          << isa_name(isa) << " hd " << sh.hd << " bs " << sh.bs;
    }
  }
}

// Every row alone (one call per row, one thread) gives the bits it gets in a batch of several sequences computed
// with 2 or 3 threads; a single decode row (split across threads by chunk) equals its 1-thread result.
TEST(Attention, RowsAreBatchAndThreadInvariant) {
  ThreadPool one(1), two(2), three(3);
  for (DType dt : {DType::kF32, DType::kF16})
  for (Isa isa : isas()) {
    ScopedIsa scoped(isa);
    std::mt19937 rng(11);
    for (const Shape& sh : kShapes) {
      for (int64_t window : {int64_t{0}, int64_t{100}}) {
        const int64_t max_len = 700, n_blocks = (max_len + sh.bs - 1) / sh.bs + 1;
        const Store st = make_store(sh, n_blocks, rng, 2.0f, dt);
        Call c = make_call(sh, n_blocks, 4, max_len, rng);
        std::vector<float> batch2, batch3;
        AttnArgs a2 = args_for(sh, c, batch2, window);
        attention_paged(a2, st.view(), c.seqs, &two);
        AttnArgs a3 = args_for(sh, c, batch3, window);
        attention_paged(a3, st.view(), c.seqs, &three);
        ASSERT_EQ(0, std::memcmp(batch2.data(), batch3.data(), batch2.size() * sizeof(float)))
            << isa_name(isa) << " " << dtype_name(dt);
        const int64_t d = sh.n_head * sh.hd;
        for (size_t s = 0; s < c.seqs.size(); ++s) {
          // A sample of the rows (the sequence's last row and ~12 others).
          const int64_t n = c.seqs[s].n_rows, stride = std::max<int64_t>(1, n / 12);
          for (int64_t r = c.seqs[s].row0 + (n - 1) % stride; r < c.seqs[s].row0 + n; r += stride) {
            AttnSeq alone{c.seqs[s].blocks, 0, 1};
            std::vector<float> o(d);
            AttnArgs a = a2;
            a.q = c.q.data() + r * d;
            a.pos = c.pos.data() + r;
            a.out = o.data();
            for (ThreadPool* pool : {&one, &two}) {
              std::fill(o.begin(), o.end(), 0.0f);
              attention_paged(a, st.view(), std::span(&alone, 1), pool);
              ASSERT_EQ(0, std::memcmp(o.data(), batch2.data() + r * d, d * sizeof(float)))
                  << isa_name(isa) << " " << dtype_name(dt) << " row " << r << " pos " << c.pos[r] << " threads " << pool->size() << " hd "
                  << sh.hd << " bs " << sh.bs;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace kvs::kernels
