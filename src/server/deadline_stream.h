// DeadlineStream: the httplib::Stream of one server connection, with deadlines and byte budgets per phase, so a
// slow or endless client is cut off by time and size, not only after a per-read timeout that each trickled byte
// resets (cpp-httplib 0.11's SocketStream).
//
//   wait_for_request(idle)  ──►  begin_headers(): request line + headers within header_timeout, <= max_header_bytes
//                                 begin_body():    the whole body within body_timeout, <= max_body_wire_bytes
//   A read past a deadline or a budget fails (returns -1) and marks the stream failed(): the connection is closed
//   after the response, never read again. Writes wait at most write_timeout per call for the socket to drain.
//
// Invariants: the stream never blocks longer than the current phase's deadline on a read, or write_timeout on a
// write; poll() only (no select, so descriptors above FD_SETSIZE are fine); send never raises SIGPIPE.
#pragma once
#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kvs::server {

struct StreamLimits {
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds write_timeout{15000};
  int64_t max_header_bytes = 64 << 10;
  int64_t max_body_wire_bytes = int64_t{4} << 20;  // the body as sent (chunk framing included)
};

class DeadlineStream final : public httplib::Stream {
 public:
  enum class Failure { kNone, kTimeout, kTooLarge, kClosed };
  using Clock = std::chrono::steady_clock;

  // `stopping` (may be empty) is polled about once a second while a read waits: true fails the read (shutdown).
  DeadlineStream(int fd, const StreamLimits& limits, std::function<bool()> stopping = nullptr);

  // Waits up to `idle` for the next request's first byte (or EOF); false on timeout, error, EOF or `stop()`.
  template <typename StopFn>
  bool wait_for_request(std::chrono::milliseconds idle, StopFn stop);
  void begin_headers();
  void begin_body();
  Failure failure() const { return failure_; }
  bool failed() const { return failure_ != Failure::kNone; }
  // True when the peer closed its side or the socket errored (a pending request byte does not count).
  bool peer_gone() const;

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  // >0 ready, 0 timed out, <0 error (or, for reads, the server stopping).
  int poll_for(short events, Clock::time_point deadline) const;
  bool wait_slice(std::chrono::milliseconds slice) const;       // readable within slice

  int fd_;
  StreamLimits limits_;
  std::function<bool()> stopping_;
  Clock::time_point deadline_;
  int64_t budget_ = 0;    // bytes the current phase may still deliver
  Failure failure_ = Failure::kNone;
  std::vector<char> buf_;  // (4096) bytes received, not yet delivered: [off_, len_)
  size_t off_ = 0, len_ = 0;
};

template <typename StopFn>
bool DeadlineStream::wait_for_request(std::chrono::milliseconds idle, StopFn stop) {
  if (off_ < len_) return true;  // a pipelined request is already buffered
  const auto until = Clock::now() + idle;
  while (Clock::now() < until) {
    if (stop()) return false;
    if (wait_slice(std::chrono::milliseconds(100))) return !peer_gone() || off_ < len_;
  }
  return false;
}

}  // namespace kvs::server
