#include <cstdlib>
#include <filesystem>

#include "commands.h"

#ifndef KVS_SOURCE_DIR
#define KVS_SOURCE_DIR ""
#endif

namespace kvs::cli {

namespace {

// flag, else $env_var, else `file` under models/ of the source tree, ./models/, or ~/.cache/kvshare/models/.
std::string resolve_default_file(const std::string& flag, const char* env_var, const char* file) {
  namespace fs = std::filesystem;
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv(env_var); env && *env) return env;
  std::vector<fs::path> candidates = {fs::path(KVS_SOURCE_DIR) / "models" / file, fs::path("models") / file};
  if (const char* home = std::getenv("HOME")) candidates.push_back(fs::path(home) / ".cache/kvshare/models" / file);
  std::error_code ec;
  for (const auto& c : candidates)
    if (!c.empty() && fs::is_regular_file(c, ec)) return c.string();
  return "";
}

}  // namespace

std::string resolve_model_path(const std::string& flag) {
  return resolve_default_file(flag, "KVS_MODEL", "SmolLM2-135M-Instruct.Q4_1.gguf");
}

std::string resolve_embedder_path(const std::string& flag) {
  return resolve_default_file(flag, "KVS_EMBEDDER", "all-MiniLM-L6-v2.gguf");
}

}  // namespace kvs::cli
