// GuardedServer on its own (loopback, a trivial handler): the total and per-address connection caps answer 503 at
// once, a request trickled past the header timeout is cut off, and a freed slot is reusable. Distinct loopback
// source addresses (127.0.0.x) stand for distinct clients. Every wait is bounded.
#include "server/guarded_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace kvs::server {
namespace {

using namespace std::chrono_literals;

// A connected socket from source address `src` to 127.0.0.1:port; -1 on failure.
int connect_from(const char* src, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, src, &a.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return ::close(fd), -1;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) return ::close(fd), -1;
  return fd;
}

void send_all(int fd, const std::string& s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size())); }

// Everything the server sends until it closes or `wait` passes.
std::string read_until_close(int fd, std::chrono::milliseconds wait) {
  std::string out;
  const auto until = std::chrono::steady_clock::now() + wait;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

class GuardedServerTest : public ::testing::Test {
 protected:
  void start(const ConnectionLimits& lim) {
    server_ = std::make_unique<GuardedServer>(lim);
    server_->Get("/ping", [](const httplib::Request&, httplib::Response& res) { res.set_content("pong", "text/plain"); });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 200 && !server_->is_running(); ++i) std::this_thread::sleep_for(10ms);
  }
  void TearDown() override {
    for (int fd : held_) ::close(fd);
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  // Opens a connection that sends half a request and is held by the server.
  void hold(const char* src) {
    const int fd = connect_from(src, port_);
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /ping HTTP/1.1\r\n");
    held_.push_back(fd);
  }
  std::string ping(const char* src) {
    const int fd = connect_from(src, port_);
    if (fd < 0) return "";
    send_all(fd, "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::string r = read_until_close(fd, 3000ms);
    ::close(fd);
    return r;
  }

  std::unique_ptr<GuardedServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::vector<int> held_;
};

TEST_F(GuardedServerTest, CapsPerAddressAndInTotalAnswer503AtOnce) {
  ConnectionLimits lim;
  lim.max_connections = 4;
  lim.max_connections_per_client = 2;
  start(lim);
  hold("127.0.0.2");
  hold("127.0.0.2");
  std::this_thread::sleep_for(200ms);  // both admitted
  auto t0 = std::chrono::steady_clock::now();
  std::string r = ping("127.0.0.2");  // third from the same address
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
  EXPECT_NE(r.find("too_many_connections"), std::string::npos) << r;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  EXPECT_NE(ping("127.0.0.3").find("pong"), std::string::npos);  // another address is served
  hold("127.0.0.3");
  hold("127.0.0.4");
  std::this_thread::sleep_for(200ms);  // 4 held: the total cap
  r = ping("127.0.0.5");
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
  EXPECT_GE(server_->stats().rejected, 2u);
  EXPECT_EQ(server_->stats().open, 4);
  ::close(held_.back());  // a slot frees: served again
  held_.pop_back();
  std::string ok;
  for (int i = 0; i < 50 && ok.find("pong") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
    ok = ping("127.0.0.5");
  }
  EXPECT_NE(ok.find("pong"), std::string::npos) << ok;
}

TEST_F(GuardedServerTest, TrickledHeadersAreCutOffAtTheHeaderTimeout) {
  ConnectionLimits lim;
  lim.stream.header_timeout = 600ms;
  start(lim);
  const int fd = connect_from("127.0.0.2", port_);
  ASSERT_GE(fd, 0);
  const auto t0 = std::chrono::steady_clock::now();
  send_all(fd, "GET /ping HTTP/1.1\r\n");
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {  // a header line every 100 ms: each read is quick, the whole is not
    std::this_thread::sleep_for(100ms);
    if (::send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0) closed = true;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) closed = true;  // EOF, or the 400 written at the deadline before the close
  }
  const auto lived = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_GE(lived, 500ms);
  EXPECT_LT(lived, 2500ms);
  EXPECT_GE(server_->stats().timed_out, 1u);
}

}  // namespace
}  // namespace kvs::server
