// Layering probe (compiled by the layering.* tests, not part of kvshare_tests): built in the include context
// of kvs_kv, it includes only headers kv may see (its own and those of base and kernels, which it links), so
// it must compile. It guards layering.upward_include_fails against passing for an unrelated reason.
#include "base/status.h"
#include "kernels/cpu/ops.h"
#include "kv/block_pool.h"

int kvs_layering_allowed_probe() { return 0; }
