#include "base/status.h"

namespace kvs {

std::string Status::to_string() const {
  static const char* kNames[] = {"OK", "invalid argument", "not found", "corrupt", "I/O error", "out of range",
                                 "unsupported", "resource exhausted", "cancelled", "internal"};
  if (is_ok()) return "OK";
  return std::string(kNames[static_cast<int>(code_)]) + ": " + msg_;
}

void check_failed(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "KVS_CHECK failed: %s at %s:%d %s\n", expr, file, line, msg);
  std::abort();
}

}  // namespace kvs
