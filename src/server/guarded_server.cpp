// GuardedServer: see guarded_server.h.
#include "server/guarded_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "server/connection_queue.h"

namespace kvs::server {
namespace {

thread_local ConnectionContext* t_current = nullptr;

constexpr char kRejectBody[] =
    R"({"error":{"message":"Too many connections; retry later.","type":"server_error","param":null,)"
    R"("code":"too_many_connections"}})";

std::string peer_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, host, sizeof(host));
  if (ss.ss_family == AF_INET6) inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, host, sizeof(host));
  return host;
}

// Reads and drops what the peer sent, up to `max_bytes` or until EOF / `wait` without data, so that closing does
// not reset the connection (a reset can destroy the response before the client reads it).
void drain(int fd, std::chrono::milliseconds wait, size_t max_bytes) {
  char buf[4096];
  size_t total = 0;
  const auto until = std::chrono::steady_clock::now() + wait;
  while (total < max_bytes) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count()))) <= 0) return;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) return;
    total += static_cast<size_t>(n);
  }
}

void close_gracefully(int fd, std::chrono::milliseconds linger) {
  ::shutdown(fd, SHUT_WR);
  drain(fd, linger, size_t{1} << 20);
  ::close(fd);
}

// Answers 503 without waiting on the client (MSG_DONTWAIT: the accept thread may be the caller).
void reject(int fd, bool may_linger) {
  drain(fd, std::chrono::milliseconds(0), 64 << 10);  // the request already sent
  const std::string head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(sizeof(kRejectBody) - 1) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n";
  const std::string msg = head + kRejectBody;
  [[maybe_unused]] ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  close_gracefully(fd, std::chrono::milliseconds(may_linger ? 200 : 0));
}

}  // namespace

GuardedServer::GuardedServer(const ConnectionLimits& limits) : limits_(limits) {
  const size_t threads = static_cast<size_t>(limits.max_connections) + kSpareThreads;
  const size_t capacity = static_cast<size_t>(limits.max_connections) * 4;
  new_task_queue = [threads, capacity] { return new ConnectionQueue(threads, capacity); };
  set_keep_alive_max_count(limits.keep_alive_max_count);
  set_keep_alive_timeout(std::max<time_t>(1, limits.idle_timeout.count() / 1000));  // the Keep-Alive header
  // The accept loop sets SO_RCVTIMEO / SO_SNDTIMEO from these: a backstop under the stream's own deadlines.
  const auto rd = std::max(limits.stream.header_timeout, limits.stream.body_timeout);
  set_read_timeout(rd.count() / 1000, (rd.count() % 1000) * 1000);
  set_write_timeout(limits.stream.write_timeout.count() / 1000, (limits.stream.write_timeout.count() % 1000) * 1000);
}

ConnectionContext* GuardedServer::current() { return t_current; }

void GuardedServer::set_listen_backlog(int backlog) { ::listen(svr_sock_, backlog); }

ConnectionStats GuardedServer::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return ConnectionStats{open_, rejected_.load(), timed_out_.load()};
}

bool GuardedServer::admit(const std::string& address) {
  std::lock_guard<std::mutex> lk(mu_);
  int32_t& mine = per_client_[address];
  if (open_ >= limits_.max_connections || mine >= limits_.max_connections_per_client) {
    if (mine == 0) per_client_.erase(address);
    return false;
  }
  ++mine;
  ++open_;
  return true;
}

void GuardedServer::release(const std::string& address) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = per_client_.find(address);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  --open_;
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  const std::string address = peer_address(sock);
  const bool inline_reject = ConnectionQueue::rejecting();
  if (inline_reject || !admit(address)) {
    ++rejected_;
    reject(sock, !inline_reject);
    return false;
  }
  DeadlineStream strm(sock, limits_.stream, [this] { return svr_sock_ == INVALID_SOCKET; });
  ConnectionContext ctx(strm);
  serve_connection(strm, ctx);
  release(address);
  if (strm.failure() == DeadlineStream::Failure::kTimeout) ++timed_out_;
  // A body left unread: let the client read the response before the close (no reset).
  if (ctx.closing()) {
    ::shutdown(sock, SHUT_WR);
    drain(sock, std::chrono::milliseconds(1000), size_t{16} << 20);
    ::close(sock);
  } else {
    close_gracefully(sock, std::chrono::milliseconds(0));
  }
  return true;
}

void GuardedServer::serve_connection(DeadlineStream& strm, ConnectionContext& ctx) {
  auto stopping = [this] { return svr_sock_ == INVALID_SOCKET; };
  for (size_t count = limits_.keep_alive_max_count; count > 0 && !stopping(); --count) {
    if (!strm.wait_for_request(limits_.idle_timeout, stopping)) return;
    strm.begin_headers();
    bool connection_closed = false;
    t_current = &ctx;
    const bool ok = process_request(strm, /*close_connection=*/count == 1, connection_closed,
                                    [&](httplib::Request&) { strm.begin_body(); });
    t_current = nullptr;
    if (!ok || connection_closed || ctx.closing()) return;
  }
}

}  // namespace kvs::server
