#include "kernels/cpu/rope.h"

#include <cmath>

namespace kvs::kernels {

RopeTable make_rope_table(int head_dim, double theta) {
  RopeTable t;
  t.head_dim = head_dim;
  t.inv_freq.resize(head_dim / 2);
  // Computed as float32, like the references (transformers: 1 / theta ** (arange(0, d, 2).float() / d)).
  for (int i = 0; i < head_dim / 2; ++i)
    t.inv_freq[i] = static_cast<float>(1.0 / std::pow(theta, static_cast<double>(2 * i) / head_dim));
  return t;
}

void RopeTable::angles(double pos, float* cos_out, float* sin_out) const {
  for (int i = 0; i < head_dim / 2; ++i) {
    double a = pos * inv_freq[i];
    cos_out[i] = static_cast<float>(std::cos(a));
    sin_out[i] = static_cast<float>(std::sin(a));
  }
}

void rope_apply(float* x, int n_head, int head_dim, const float* cos, const float* sin, RopeType type) {
  const int half = head_dim / 2;
  for (int h = 0; h < n_head; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    if (type == RopeType::kNorm) {
      for (int i = 0; i < half; ++i) {
        float a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * cos[i] - b * sin[i];
        v[2 * i + 1] = a * sin[i] + b * cos[i];
      }
    } else {
      for (int i = 0; i < half; ++i) {
        float a = v[i], b = v[i + half];
        v[i] = a * cos[i] - b * sin[i];
        v[i + half] = a * sin[i] + b * cos[i];
      }
    }
  }
}

}  // namespace kvs::kernels
