#include "store/model_fingerprint.h"

#include <xxhash.h>

#include <memory>

#include "base/status.h"

namespace kvs::store {

uint64_t model_fingerprint(const gguf::GgufFile& file) {
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> st(XXH3_createState(), &XXH3_freeState);
  KVS_CHECK(st != nullptr);
  XXH3_64bits_reset(st.get());
  auto add = [&](const void* p, size_t n) { XXH3_64bits_update(st.get(), p, n); };
  for (const auto& [key, v] : file.metadata()) {
    if (v.type == gguf::ValueType::kArray) continue;  // vocabularies: covered by the weights they index
    add(key.data(), key.size());
    add(&v.u, sizeof(v.u));
    add(&v.i, sizeof(v.i));
    add(&v.f, sizeof(v.f));
    add(v.s.data(), v.s.size());
  }
  for (const auto& t : file.tensors()) {
    add(t.name.data(), t.name.size());
    add(t.ne.data(), t.ne.size() * sizeof(int64_t));
    add(&t.type, sizeof(t.type));
    if (t.data) add(t.data, t.n_bytes);
  }
  return XXH3_64bits_digest(st.get());
}

}  // namespace kvs::store
