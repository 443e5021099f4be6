// Layering probe (compiled by the layering.* tests, not part of kvshare_tests): built in the include context
// of kvs_kv, it includes a header of engine, a module above kv. The build must fail with
// "engine/engine.h: No such file or directory": kv's include path does not reach engine's headers.
#include "base/status.h"
#include "engine/engine.h"

int kvs_layering_upward_probe() { return 0; }
