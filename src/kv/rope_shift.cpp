#include "kv/rope_shift.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "base/status.h"

namespace kvs::kv {
namespace {

// Physical slot intervals [first, last) (global slot index = block * block_size + offset) touched by a run.
std::vector<std::pair<int64_t, int64_t>> slot_intervals(std::span<const int32_t> blocks, int64_t pos, int64_t n,
                                                        int64_t bs) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t i = 0; i < n;) {
    const int64_t s = pos + i, off = s % bs;
    const int64_t len = std::min(bs - off, n - i);
    const int64_t g = static_cast<int64_t>(blocks[s / bs]) * bs + off;
    out.emplace_back(g, g + len);
    i += len;
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool intervals_overlap(const std::vector<std::pair<int64_t, int64_t>>& a,
                       const std::vector<std::pair<int64_t, int64_t>>& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].second <= b[j].first) ++i;
    else if (b[j].second <= a[i].first) ++j;
    else return true;
  }
  return false;
}

void check_run(const KvStorage& kv, std::span<const int32_t> blocks, int64_t pos, int64_t n) {
  const int64_t bs = kv.block_size();
  KVS_CHECK(pos >= 0 && n >= 0);
  if (n == 0) return;
  KVS_CHECK_MSG((pos + n - 1) / bs < static_cast<int64_t>(blocks.size()), "run outside its block table");
  for (int64_t b = pos / bs; b <= (pos + n - 1) / bs; ++b)
    KVS_CHECK_MSG(blocks[b] >= 0 && blocks[b] < kv.n_blocks(), "block id out of range");
}

}  // namespace

void rope_shift_rows(float* k, int64_t n_rows, int64_t d, const kernels::RopeTable& rope, kernels::RopeType type) {
  if (d == 0 || n_rows == 0) return;
  const int hd = rope.head_dim;
  std::vector<float> cos(hd / 2), sin(hd / 2);  // (head_dim / 2) angles of the shift d
  rope.angles(static_cast<double>(d), cos.data(), sin.data());
  // rope_apply treats its input as (n_head, head_dim) with one set of angles: rows are "heads" here.
  kernels::rope_apply(k, static_cast<int>(n_rows), hd, cos.data(), sin.data(), type);
}

void copy_and_shift(KvStorage& kv, std::span<const int32_t> src_blocks, int64_t src_pos,
                    std::span<const int32_t> dst_blocks, int64_t dst_pos, int64_t n, const kernels::RopeTable& rope,
                    kernels::RopeType type) {
  const std::vector<const kernels::RopeTable*> per_layer(static_cast<size_t>(kv.n_layer()), &rope);
  copy_and_shift(kv, src_blocks, src_pos, dst_blocks, dst_pos, n, per_layer, type);
}

void copy_and_shift(KvStorage& kv, std::span<const int32_t> src_blocks, int64_t src_pos,
                    std::span<const int32_t> dst_blocks, int64_t dst_pos, int64_t n,
                    std::span<const kernels::RopeTable* const> layer_rope, kernels::RopeType type) {
  check_run(kv, src_blocks, src_pos, n);
  check_run(kv, dst_blocks, dst_pos, n);
  if (n == 0) return;
  const int64_t bs = kv.block_size(), hd = kv.head_dim();
  KVS_CHECK(static_cast<int64_t>(layer_rope.size()) == kv.n_layer() && hd % 2 == 0);
  for (const kernels::RopeTable* r : layer_rope) KVS_CHECK(r != nullptr && r->head_dim == hd);
  KVS_CHECK_MSG(!intervals_overlap(slot_intervals(src_blocks, src_pos, n, bs), slot_intervals(dst_blocks, dst_pos, n, bs)),
                "source and destination slots overlap");

  const int64_t d = dst_pos - src_pos;
  // (n_layer, head_dim / 2) angles of the shift d, per layer (tables shared by layers give the same angles).
  std::vector<float> cos(kv.n_layer() * hd / 2), sin(kv.n_layer() * hd / 2);
  if (d != 0)
    for (int64_t l = 0; l < kv.n_layer(); ++l)
      layer_rope[l]->angles(static_cast<double>(d), cos.data() + l * hd / 2, sin.data() + l * hd / 2);

  // Walk the run in segments that stay inside one source block and one destination block. K and V go through
  // floats (exact for both element types: f16 -> f32 -> f16 gives the same bits); K is rotated in between and
  // stored back rounded to the storage type (f16: round to nearest even).
  std::vector<float> kbuf(bs * hd), vbuf(bs * hd);  // (len, head_dim) one segment of one head
  for (int64_t i = 0; i < n;) {
    const int64_t s = src_pos + i, t = dst_pos + i;
    const int64_t s_off = s % bs, t_off = t % bs;
    const int64_t len = std::min({bs - s_off, bs - t_off, n - i});
    const int64_t sb = src_blocks[s / bs], tb = dst_blocks[t / bs];
    for (int64_t l = 0; l < kv.n_layer(); ++l) {
      for (int64_t h = 0; h < kv.n_kv_head(); ++h) {
        kv.load_k(l, sb, h, s_off, len, kbuf.data());
        kv.load_v(l, sb, h, s_off, len, vbuf.data());
        if (d != 0) kernels::rope_apply(kbuf.data(), static_cast<int>(len), static_cast<int>(hd), cos.data() + l * hd / 2,
                                          sin.data() + l * hd / 2, type);
        kv.store_k(l, tb, h, t_off, len, kbuf.data());
        kv.store_v(l, tb, h, t_off, len, vbuf.data());
      }
    }
    i += len;
  }
}

}  // namespace kvs::kv
