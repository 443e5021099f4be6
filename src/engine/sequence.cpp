#include "engine/sequence.h"

#include <algorithm>

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

int64_t Sequence::row_cost(int64_t take, int32_t n_layer) const {
  return blend ? blend->cost(take) : take * n_layer;
}

int64_t Sequence::rows_within(int64_t units, int64_t max_rows, int32_t n_layer) const {
  if (blend) return blend->rows_within(units, max_rows);
  return std::max<int64_t>(0, std::min({pending_rows(), max_rows, units / n_layer}));
}

}  // namespace kvs::engine
