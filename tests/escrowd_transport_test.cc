// escrowd's listeners over real TLS sockets: request smuggling inputs and
// size limits are rejected before any authentication, and plain HTTP gets
// only a fixed 400 that asks for HTTPS. tests/http_limits_test.cc covers
// every case against the HTTP layer alone. This file checks that the running server applies them.
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "api/json_body.h"
#include "device-gateway/gateway.h"
#include "test_support.h"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;

constexpr const char* kAdminPassword = "admin-password-1";
// A request that must get no response when it follows a rejected one.
constexpr const char* kSmuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
// How long a raw connection waits for the server to respond and close.
constexpr int kReadTimeoutSeconds = 5;

struct Reply {
  std::string data;
  bool closed = false;  // the server ended the connection
};

// Sends raw bytes over TLS (trusting escrowd's CA) and reads until the
// server closes the connection or kReadTimeoutSeconds pass.
Reply SendRaw(const escrow::testing::EscrowdProcess& server, uint16_t port, const std::string& bytes) {
  net::io_context io;
  ssl::context context(ssl::context::tls_client);
  context.load_verify_file(server.ca_file());
  context.set_verify_mode(ssl::verify_peer);
  ssl::stream<net::ip::tcp::socket> stream(io, context);
  stream.lowest_layer().connect({net::ip::make_address("127.0.0.1"), port});
  timeval timeout{kReadTimeoutSeconds, 0};
  ::setsockopt(stream.lowest_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
               sizeof(timeout));
  stream.handshake(ssl::stream_base::client);
  net::write(stream, net::buffer(bytes));

  Reply reply;
  char chunk[4096];
  for (;;) {
    boost::system::error_code ec;
    size_t n = stream.read_some(net::buffer(chunk), ec);
    reply.data.append(chunk, n);
    if (ec) {
      // A timeout shows up as EAGAIN; anything else is the server closing.
      reply.closed = ec != net::error::would_block && ec != net::error::try_again;
      return reply;
    }
  }
}

int CountResponses(const std::string& data) {
  int count = 0;
  for (size_t at = data.find("HTTP/1.1 "); at != std::string::npos;
       at = data.find("HTTP/1.1 ", at + 1)) {
    ++count;
  }
  return count;
}

bool StartsWithStatus(const std::string& data, int status) {
  return data.rfind("HTTP/1.1 " + std::to_string(status) + " ", 0) == 0;
}

struct Running {
  Running() { REQUIRE(server.Start(dir.path() + "/data", kAdminPassword)); }
  escrow::testing::TempDir dir;
  escrow::testing::EscrowdProcess server;
};

}  // namespace

TEST_CASE("escrowd rejects smuggling inputs before authentication") {
  Running running;
  struct Case {
    const char* name;
    std::string request;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"Content-Length with Transfer-Encoding",
       "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       "both Content-Length and Transfer-Encoding"},
      {"two Content-Lengths",
       "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
       "two different Content-Length values"},
      {"obs-fold", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n b\r\n\r\n", "obs-fold"},
      {"bare LF", "GET /healthz HTTP/1.1\nHost: x\n\n", "bare LF"},
      {"chunked on HTTP/1.0",
       "POST /v1/sessions HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       "not allowed before HTTP/1.1"},
      {"Transfer-Encoding gzip",
       "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}",
       "other than \\\"chunked\\\""},
  };
  for (const Case& c : cases) {
    for (uint16_t port : {running.server.api_port(), running.server.gateway_port()}) {
      INFO(c.name << " on port " << port);
      Reply reply = SendRaw(running.server, port, c.request + kSmuggled);
      CHECK(StartsWithStatus(reply.data, 400));
      CHECK_THAT(reply.data, Catch::Contains(c.reason));
      CHECK(CountResponses(reply.data) == 1);
      CHECK(reply.closed);
    }
  }
}

TEST_CASE("escrowd enforces size limits before authentication") {
  Running running;
  const uint16_t api = running.server.api_port();
  const uint16_t gateway = running.server.gateway_port();

  SECTION("header over the API limit gets 431") {
    Reply reply = SendRaw(running.server, api,
                          "GET /v1/devices HTTP/1.1\r\nHost: x\r\nX-Padding: " +
                              std::string(20 * 1024, 'p') + "\r\n\r\n");
    CHECK(StartsWithStatus(reply.data, 431));
    CHECK(reply.closed);
  }
  SECTION("header over the gateway limit gets 431") {
    Reply reply = SendRaw(running.server, gateway,
                          "POST /gw/v1/check-in HTTP/1.1\r\nHost: x\r\nX-Padding: " +
                              std::string(escrow::gateway::kMaxHeaderBytes, 'p') + "\r\n\r\n");
    CHECK(StartsWithStatus(reply.data, 431));
    CHECK_THAT(reply.data, Catch::Contains(std::to_string(escrow::gateway::kMaxHeaderBytes) + " bytes"));
  }
  SECTION("gateway body over its limit gets 413") {
    const size_t size = escrow::gateway::kMaxBodyBytes + 1;
    Reply reply = SendRaw(running.server, gateway,
                          "POST /gw/v1/check-in HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                              std::to_string(size) + "\r\n\r\n");
    CHECK(StartsWithStatus(reply.data, 413));
    CHECK_THAT(reply.data, Catch::Contains(std::to_string(escrow::gateway::kMaxBodyBytes) + " bytes"));
  }
  SECTION("deep JSON gets 400, not 401") {
    std::string deep = std::string(escrow::api::kMaxJsonDepth + 1, '[') +
                       std::string(escrow::api::kMaxJsonDepth + 1, ']');
    Reply reply = SendRaw(running.server, api,
                          "POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          "application/json\r\nConnection: close\r\nContent-Length: " +
                              std::to_string(deep.size()) + "\r\n\r\n" + deep);
    CHECK(StartsWithStatus(reply.data, 400));
    CHECK_THAT(reply.data, Catch::Contains("deeper than"));
  }
}

TEST_CASE("escrowd tells plain HTTP to use HTTPS") {
  Running running;
  net::io_context io;
  net::ip::tcp::socket socket(io);
  socket.connect({net::ip::make_address("127.0.0.1"), running.server.api_port()});
  net::write(socket, net::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string received;
  char chunk[512];
  boost::system::error_code ec;
  while (!ec) {
    size_t n = socket.read_some(net::buffer(chunk), ec);
    received.append(chunk, n);
  }
  CHECK(received.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(received.find("use an https:// address") != std::string::npos);
  CHECK(received.find("HTTP/1.1 200") == std::string::npos);
  CHECK(received.find("\"status\"") == std::string::npos);

  // The server still answers HTTPS afterwards.
  auto client = running.server.ApiClient();
  auto health = client.Send("GET", "/healthz", "");
  REQUIRE(health.ok());
  CHECK(health->status == 200);
}
