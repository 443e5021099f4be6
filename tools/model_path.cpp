#include <cstdlib>
#include <filesystem>

#include "commands.h"

#ifndef KVS_SOURCE_DIR
#define KVS_SOURCE_DIR ""
#endif

namespace kvs::cli {

static constexpr const char* kDefaultModel = "SmolLM2-135M-Instruct.Q4_1.gguf";

std::string resolve_model_path(const std::string& flag) {
  namespace fs = std::filesystem;
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("KVS_MODEL"); env && *env) return env;
  std::vector<fs::path> candidates = {fs::path(KVS_SOURCE_DIR) / "models" / kDefaultModel,
                                      fs::path("models") / kDefaultModel};
  if (const char* home = std::getenv("HOME")) candidates.push_back(fs::path(home) / ".cache/kvshare/models" / kDefaultModel);
  std::error_code ec;
  for (const auto& c : candidates)
    if (!c.empty() && fs::is_regular_file(c, ec)) return c.string();
  return "";
}

}  // namespace kvs::cli
