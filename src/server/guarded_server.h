// GuardedServer: cpp-httplib's Server with the connection handling replaced (accept-side accounting): every
// accepted connection is admitted against a total cap and a cap per client address, answered 503 (and closed)
// when over either, and read through a DeadlineStream (header, body and idle timeouts, byte budgets).
// HTTP parsing, routing and response writing stay httplib's (Server::process_request).
//
//   accept ──► ConnectionQueue (bounded; full: 503 inline) ──► worker: admit(address)
//        over a cap: 503 "too_many_connections", close        else: loop { wait idle ─► headers ─► body ─► respond }
//
// Handlers reach their own connection through GuardedServer::current() (they run on its thread): to mark it for
// closing after the response (a body left unread) and to ask whether the client is still there.
//
// Invariants: open connections <= max_connections, and per address <= max_connections_per_client; with
// n_threads = max_connections + kSpareThreads, admitted connections never occupy every worker, so a connection
// over a cap is answered promptly; a connection whose stream failed (deadline, budget) is never read again.
#pragma once
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "server/deadline_stream.h"

namespace kvs::server {

struct ConnectionLimits {
  int32_t max_connections = 256;            // open connections, all clients
  int32_t max_connections_per_client = 64;  // open connections from one remote address
  std::chrono::milliseconds idle_timeout{5000};  // keep-alive: wait for the next request (and the first)
  StreamLimits stream;                      // header / body / write timeouts and byte budgets
  size_t keep_alive_max_count = 1000;       // requests per connection
};

// What the calling handler's connection offers (valid during the handler).
class ConnectionContext {
 public:
  explicit ConnectionContext(DeadlineStream& s) : stream_(s) {}
  void close_after_response() { close_ = true; }
  bool closing() const { return close_ || stream_.failed(); }
  bool client_gone() const { return stream_.peer_gone(); }
  DeadlineStream::Failure read_failure() const { return stream_.failure(); }

 private:
  DeadlineStream& stream_;
  bool close_ = false;
};

struct ConnectionStats {
  int64_t open = 0;
  uint64_t rejected = 0;   // answered 503 at a cap or with the queue full
  uint64_t timed_out = 0;  // closed at a read deadline
};

class GuardedServer final : public httplib::Server {
 public:
  static constexpr int kSpareThreads = 16;  // workers beyond max_connections: they answer the rejected ones
  explicit GuardedServer(const ConnectionLimits& limits);

  // The connection served by the calling thread; nullptr outside a request handler.
  static ConnectionContext* current();
  ConnectionStats stats() const;
  // Re-listens on the bound socket with a deeper accept queue (httplib 0.11 listens with a backlog of 5, so a
  // burst of connections would wait for SYN retransmits). REQUIRES: bound.
  void set_listen_backlog(int backlog);

 private:
  bool process_and_close_socket(socket_t sock) override;
  bool admit(const std::string& address);
  void release(const std::string& address);
  // httplib's keep-alive loop, on our stream: wait (idle) ─► headers ─► body ─► respond, until closing.
  void serve_connection(DeadlineStream& strm, ConnectionContext& ctx);

  const ConnectionLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, int32_t> per_client_;  // GUARDED_BY(mu_): open connections per remote address
  int64_t open_ = 0;                           // GUARDED_BY(mu_)
  std::atomic<uint64_t> rejected_{0}, timed_out_{0};
};

}  // namespace kvs::server
