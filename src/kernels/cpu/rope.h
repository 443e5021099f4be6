// Rotary position embedding (RoPE) on head vectors.
// Pairing: kNorm rotates (x[2i], x[2i+1]) (ggml's LLAMA_ROPE_TYPE_NORM, used by GGUF llama models whose Q/K
// were permuted at conversion); kNeox rotates (x[i], x[i + d/2]). Angle of pair i at position p:
// p * theta^(-2i/d). Rotations compose: R(p + d) = R(d) R(p), so K cached at p is moved to p + d by
// applying the table of angle d (rope_shift), exactly up to float rounding.
#pragma once
#include <cstdint>
#include <vector>

namespace kvs::kernels {

enum class RopeType { kNorm, kNeox };

struct RopeTable {
  int head_dim = 0;            // rotated dims (== head dim here)
  std::vector<double> inv_freq;  // (head_dim / 2)
  // cos/sin (head_dim / 2) of angle pos * inv_freq[i], for an arbitrary (possibly negative) pos.
  void angles(double pos, float* cos_out, float* sin_out) const;
};

RopeTable make_rope_table(int head_dim, double theta);

// x: (n_head, head_dim), rotated in place by the angles in cos/sin (head_dim / 2).
void rope_apply(float* x, int n_head, int head_dim, const float* cos, const float* sin, RopeType type);

}  // namespace kvs::kernels
