// The model fingerprint a disk segment is tied to: xxh3 over the GGUF's tensor directory and tensor data (every
// byte of every tensor) and its scalar metadata (the hyper-parameters). Two files give the same fingerprint only
// when they hold the same weights and hparams, so K/V written by one model is never read by another.
// Computed once at load (about 0.1 s per GiB of weights).
#pragma once
#include <cstdint>

#include "gguf/gguf_file.h"

namespace kvs::store {

uint64_t model_fingerprint(const gguf::GgufFile& file);

}  // namespace kvs::store
