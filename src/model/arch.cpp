// ArchSpec::from_gguf: one function per family; the families share nothing but the defaults.
#include "model/arch.h"

#include <cmath>

namespace kvs::model {
namespace {

bool is_llama_family(const std::string& a) { return a == "llama" || a == "mistral" || a == "qwen2" || a == "smollm"; }

Status positive_finite(const std::string& key, double v, double hi) {
  if (!std::isfinite(v) || !(v > 0) || !(v <= hi))
    return corrupt(key + " = " + std::to_string(v) + " is not a finite number in (0, " + std::to_string(hi) + "]");
  return Status::ok();
}

// Gemma 3: sliding-window pattern and local RoPE base, each from metadata when the file has it.
Status gemma3(const gguf::GgufFile& f, int64_t n_embd, int64_t head_dim, int64_t n_layer, ArchSpec& s) {
  s.embd_scale = static_cast<float>(std::sqrt(static_cast<double>(n_embd)));
  s.qk_norm = true;
  s.post_norms = true;
  s.ffn_act = FfnActivation::kGeluTanh;
  // query_pre_attn_scalar == head_dim for the 270M..12B models (the 27B differs and is not described here).
  s.attn_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
  int64_t window = 0;
  if (auto w = f.get_int("gemma3.attention.sliding_window"); w.is_ok()) window = w.value();
  else return corrupt("gemma3.attention.sliding_window is missing");
  if (window <= 0 || window > (int64_t{1} << 31)) return corrupt("gemma3.attention.sliding_window is out of range");
  double local_base = 10000.0;
  if (f.find("gemma3.rope.freq_base_swa")) {
    auto b = f.get_float("gemma3.rope.freq_base_swa");
    if (!b.is_ok()) return b.status();
    local_base = b.value();
  }
  KVS_RETURN_IF_ERROR(positive_finite("gemma3.rope.freq_base_swa", local_base, 1e12));
  s.rope_bases.push_back(local_base);
  // The pattern: an integer period (global every period-th layer) or one flag per layer (true = local).
  std::vector<bool> local(n_layer);
  int64_t period = 6;
  const gguf::Value* pv = f.find("gemma3.attention.sliding_window_pattern");
  if (pv && !pv->arr.empty()) {
    auto flags = f.get_int_array("gemma3.attention.sliding_window_pattern");
    if (!flags.is_ok()) return flags.status();
    if (static_cast<int64_t>(flags.value().size()) != n_layer)
      return corrupt("gemma3.attention.sliding_window_pattern has one flag per layer: wrong length");
    for (int64_t l = 0; l < n_layer; ++l) local[l] = flags.value()[l] != 0;
  } else {
    if (pv) {
      auto p = f.get_int("gemma3.attention.sliding_window_pattern");
      if (!p.is_ok()) return p.status();
      period = p.value();
    }
    if (period < 1 || period > n_layer + 1) return corrupt("gemma3.attention.sliding_window_pattern is out of range");
    for (int64_t l = 0; l < n_layer; ++l) local[l] = (l + 1) % period != 0;
  }
  for (int64_t l = 0; l < n_layer; ++l) s.layers[l] = local[l] ? LayerAttention{window, 1} : LayerAttention{0, 0};
  return Status::ok();
}

}  // namespace

bool architecture_supported(const std::string& arch) { return is_llama_family(arch) || arch == "gemma3"; }
const char* supported_architectures() { return "llama, mistral, qwen2, smollm, gemma3"; }

bool ArchSpec::any_window() const {
  for (const LayerAttention& l : layers)
    if (l.window > 0) return true;
  return false;
}

Result<ArchSpec> ArchSpec::from_gguf(const gguf::GgufFile& f, const std::string& arch, int64_t n_embd,
                                     int64_t head_dim, int64_t n_layer, double rope_theta) {
  if (!architecture_supported(arch))
    return unsupported("model architecture '" + arch + "' is not supported (supported: " + supported_architectures() +
                       ")");
  ArchSpec s;
  s.attn_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
  s.rope_bases = {rope_theta};
  s.layers.assign(static_cast<size_t>(n_layer), LayerAttention{});
  if (arch == "gemma3") KVS_RETURN_IF_ERROR(gemma3(f, n_embd, head_dim, n_layer, s));
  return s;
}

}  // namespace kvs::model
