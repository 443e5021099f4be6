#include "engine/metrics.h"

namespace kvs::engine {

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds.size() && value > bounds[i]) ++i;
  ++counts[i];
  sum += value;
  ++count;
}

}  // namespace kvs::engine
