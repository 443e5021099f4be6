// DeadlineStream: see deadline_stream.h.
#include "server/deadline_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kvs::server {
namespace {

constexpr size_t kBufBytes = 4096;

void sockaddr_ip_port(const sockaddr_storage& ss, std::string& ip, int& port) {
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
  }
  ip = host;
}

}  // namespace

DeadlineStream::DeadlineStream(int fd, const StreamLimits& limits, std::function<bool()> stopping)
    : fd_(fd), limits_(limits), stopping_(std::move(stopping)), deadline_(Clock::now() + limits.header_timeout),
      budget_(limits.max_header_bytes), buf_(kBufBytes) {}

void DeadlineStream::begin_headers() {
  deadline_ = Clock::now() + limits_.header_timeout;
  budget_ = limits_.max_header_bytes;
}

void DeadlineStream::begin_body() {
  deadline_ = Clock::now() + limits_.body_timeout;
  budget_ = limits_.max_body_wire_bytes;
}

int DeadlineStream::poll_for(short events, Clock::time_point deadline) const {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    if ((events & POLLIN) && stopping_ && stopping_()) return -1;
    pollfd p{fd_, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r > 0) return (p.revents & (POLLERR | POLLNVAL)) ? -1 : 1;
  }
}

bool DeadlineStream::wait_slice(std::chrono::milliseconds slice) const {
  return poll_for(POLLIN, Clock::now() + slice) != 0;
}

bool DeadlineStream::peer_gone() const {
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return true;
  if (p.revents & POLLIN) {
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return false;  // bytes pending (a pipelined request): still there
    if (n == 0) return true;
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  }
  return (p.revents & POLLRDHUP) != 0;
}

bool DeadlineStream::is_readable() const { return off_ < len_ || poll_for(POLLIN, deadline_) > 0; }

bool DeadlineStream::is_writable() const {
  return poll_for(POLLOUT, Clock::now() + limits_.write_timeout) > 0 && !peer_gone();
}

ssize_t DeadlineStream::read(char* ptr, size_t size) {
  if (failed()) return -1;
  if (off_ == len_) {
    const int r = poll_for(POLLIN, deadline_);
    if (r <= 0) {
      failure_ = r == 0 ? Failure::kTimeout : Failure::kClosed;
      return -1;
    }
    ssize_t n;
    do n = ::recv(fd_, buf_.data(), buf_.size(), 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
      failure_ = Failure::kClosed;
      return n;
    }
    off_ = 0;
    len_ = static_cast<size_t>(n);
  }
  const size_t n = std::min(size, len_ - off_);
  if (static_cast<int64_t>(n) > budget_) {
    failure_ = Failure::kTooLarge;
    return -1;
  }
  budget_ -= static_cast<int64_t>(n);
  std::memcpy(ptr, buf_.data() + off_, n);
  off_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t DeadlineStream::write(const char* ptr, size_t size) {
  if (poll_for(POLLOUT, Clock::now() + limits_.write_timeout) <= 0) return -1;
  ssize_t n;
  do n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

void DeadlineStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) sockaddr_ip_port(ss, ip, port);
}

void DeadlineStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) sockaddr_ip_port(ss, ip, port);
}

}  // namespace kvs::server
