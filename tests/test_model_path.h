// Locates the real default model for tests: $KVS_MODEL, else models/ relative to the cwd or its parents
// (ctest runs in build/). Empty when absent: tests then FAIL with a message (never silently skip).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

namespace kvs::testing {

inline std::string default_model_path() {
  if (const char* env = std::getenv("KVS_MODEL"); env != nullptr && *env != '\0') return env;
  for (const char* p : {"models/SmolLM2-135M-Instruct.Q4_1.gguf", "../models/SmolLM2-135M-Instruct.Q4_1.gguf",
                        "../../models/SmolLM2-135M-Instruct.Q4_1.gguf"})
    if (std::filesystem::exists(p)) return p;
  return "";
}

}  // namespace kvs::testing

namespace kvs::testing {

// The sentence embedder GGUF made by scripts/fetch_embedder.sh: $KVS_EMBEDDER, else models/all-MiniLM-L6-v2.gguf.
inline std::string default_embedder_path() {
  if (const char* env = std::getenv("KVS_EMBEDDER"); env != nullptr && *env != '\0') return env;
  for (const char* p : {"models/all-MiniLM-L6-v2.gguf", "../models/all-MiniLM-L6-v2.gguf",
                        "../../models/all-MiniLM-L6-v2.gguf"})
    if (std::filesystem::exists(p)) return p;
  return "";
}

}  // namespace kvs::testing
