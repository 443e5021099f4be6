// Status and Result<T>: recoverable errors (leveldb style).
// Invariants: an ok Status carries no message; a Result<T> holds exactly one of
// a value or a non-ok Status. KVS_CHECK is for broken invariants only (aborts).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace kvs {

enum class Code { kOk = 0, kInvalidArgument, kNotFound, kCorrupt, kIo, kOutOfRange, kUnsupported, kResourceExhausted, kCancelled, kInternal };

class Status {
 public:
  Status() = default;
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string msg_;
};

inline Status invalid_argument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status corrupt(std::string m) { return {Code::kCorrupt, std::move(m)}; }
inline Status io_error(std::string m) { return {Code::kIo, std::move(m)}; }
inline Status out_of_range(std::string m) { return {Code::kOutOfRange, std::move(m)}; }
inline Status unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}    // NOLINT
  bool is_ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

[[noreturn]] void check_failed(const char* expr, const char* file, int line, const char* msg);

}  // namespace kvs

// Broken invariant: print and abort. Not for user input.
#define KVS_CHECK(cond) \
  do { if (!(cond)) ::kvs::check_failed(#cond, __FILE__, __LINE__, ""); } while (0)
#define KVS_CHECK_MSG(cond, msg) \
  do { if (!(cond)) ::kvs::check_failed(#cond, __FILE__, __LINE__, (msg)); } while (0)
// Propagate a non-ok Status.
#define KVS_RETURN_IF_ERROR(expr) \
  do { ::kvs::Status _s = (expr); if (!_s.is_ok()) return _s; } while (0)
