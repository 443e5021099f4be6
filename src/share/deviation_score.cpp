#include "share/deviation_score.h"

#include <algorithm>
#include <cmath>

#include "base/status.h"

namespace kvs::share {

float relative_kv_deviation(const HeadShape& s, const float* k_new, const float* v_new, const float* k_old,
                            const float* v_old, int64_t old_stride) {
  const int64_t hd = s.head_dim;
  double dk = 0, nk = 0, dv = 0, nv = 0;
  for (int64_t g = 0; g < s.n_head_kv; ++g) {
    const float* ko = k_old + g * old_stride;
    const float* vo = v_old + g * old_stride;
    for (int64_t i = 0; i < hd; ++i) {
      const double a = k_new[g * hd + i], b = v_new[g * hd + i];
      dk += (a - ko[i]) * (a - ko[i]);
      nk += a * a;
      dv += (b - vo[i]) * (b - vo[i]);
      nv += b * b;
    }
  }
  return static_cast<float>(std::sqrt(dk / std::max(nk, 1e-12)) + std::sqrt(dv / std::max(nv, 1e-12)));
}

std::vector<float> attention_weighted_v_deviation(const HeadShape& s, std::span<const float> k_all, int64_t n_pos,
                                                  std::span<const float> q, std::span<const int32_t> q_pos,
                                                  std::span<const float> dv, std::span<const int32_t> cand_pos) {
  const int64_t hd = s.head_dim, kvd = s.kv_dim(), qd = s.n_head * hd, group = s.n_head / s.n_head_kv;
  KVS_CHECK(static_cast<int64_t>(k_all.size()) == n_pos * kvd && q.size() == q_pos.size() * qd &&
            dv.size() == cand_pos.size() * s.n_head_kv);
  // weight[j]: sum over (query row, head) of the softmax weight on position j, per KV head g.
  std::vector<double> weight(static_cast<size_t>(n_pos * s.n_head_kv), 0.0);  // (n_pos, n_head_kv)
  std::vector<double> logit(static_cast<size_t>(n_pos));                      // (n_pos) one head's scores
  const double scale = s.scale > 0 ? s.scale : 1.0 / std::sqrt(static_cast<double>(hd));
  for (size_t i = 0; i < q_pos.size(); ++i) {
    const int64_t last = q_pos[i];
    KVS_CHECK(last >= 0 && last < n_pos);
    const int64_t lo = s.window > 0 ? std::max<int64_t>(0, last - s.window + 1) : 0;
    for (int64_t h = 0; h < s.n_head; ++h) {
      const int64_t g = h / group;
      const float* qh = q.data() + i * qd + h * hd;
      double mx = -INFINITY;
      for (int64_t j = lo; j <= last; ++j) {
        const float* kj = k_all.data() + j * kvd + g * hd;
        double dot = 0;
        for (int64_t t = 0; t < hd; ++t) dot += static_cast<double>(qh[t]) * kj[t];
        logit[j] = dot * scale;
        mx = std::max(mx, logit[j]);
      }
      double z = 0;
      for (int64_t j = lo; j <= last; ++j) z += (logit[j] = std::exp(logit[j] - mx));
      for (int64_t j = lo; j <= last; ++j) weight[j * s.n_head_kv + g] += logit[j] / z;
    }
  }
  const double norm = q_pos.empty() ? 1.0 : 1.0 / (static_cast<double>(q_pos.size()) * s.n_head);
  std::vector<float> out(cand_pos.size(), 0.0f);
  for (size_t c = 0; c < cand_pos.size(); ++c) {
    KVS_CHECK(cand_pos[c] >= 0 && cand_pos[c] < n_pos);
    double acc = 0;
    for (int64_t g = 0; g < s.n_head_kv; ++g) acc += weight[cand_pos[c] * s.n_head_kv + g] * dv[c * s.n_head_kv + g];
    out[c] = static_cast<float>(acc * norm);
  }
  return out;
}

}  // namespace kvs::share
