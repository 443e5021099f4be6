#include "engine/sequence.h"

#include "engine/blend.h"
#include "engine/semantic_admission.h"

namespace kvs::engine {

Sequence::Sequence(std::shared_ptr<RequestHandle> h, RequestParams p)
    : handle(std::move(h)), params(std::move(p)), sampler(params.sampling), stops(params.stop) {
  tokens = params.prompt;
  n_prompt = static_cast<int64_t>(tokens.size());
  predicted_rows = n_prompt;
}

Sequence::~Sequence() = default;

int64_t Sequence::pending_rows() const {
  if (blend) return blend->pending_rows();
  return static_cast<int64_t>(tokens.size()) - n_computed;
}

}  // namespace kvs::engine
