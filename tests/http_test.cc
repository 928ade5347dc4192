// Tests for api/http: Server and Client over real sockets on 127.0.0.1.
#include "api/http/http.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace net = boost::asio;
namespace json = boost::json;
using escrow::http::Client;
using escrow::http::ErrorResponse;
using escrow::http::JsonResponse;
using escrow::http::Request;
using escrow::http::Response;
using escrow::http::Server;
using escrow::http::ServerLimits;
using namespace std::chrono_literals;

constexpr const char* kLoopback = "127.0.0.1";

ServerLimits TestLimits() {
  ServerLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_body_bytes = 1024;
  limits.read_timeout = 1s;
  limits.idle_timeout = 5s;
  limits.io_threads = 2;
  limits.worker_threads = 8;
  return limits;
}

// Returns method, path, query, body and the x-test header as JSON.
Response Echo(const Request& request) {
  json::object query;
  for (const auto& [key, value] : request.query) query[key] = value;
  json::object body;
  body["method"] = request.method;
  body["target"] = request.target;
  body["path"] = request.path;
  body["query"] = query;
  body["body"] = request.body;
  body["x_test"] = request.Header("x-test");
  body["remote_address"] = request.remote_address;
  return JsonResponse(200, json::serialize(body));
}

// A started server with the handler; fails the test if Listen fails.
std::unique_ptr<Server> StartServer(escrow::http::Handler handler,
                                    ServerLimits limits = TestLimits()) {
  auto server = std::make_unique<Server>("test", std::move(handler), limits);
  escrow::Status status = server->Listen(kLoopback, 0);
  REQUIRE(status.ok());
  REQUIRE(server->port() != 0);
  return server;
}

json::object ParseObject(const std::string& text) {
  return json::parse(text).as_object();
}

// Polls condition until it is true or timeout passes. Returns its last result.
template <class Condition>
bool WaitFor(Condition condition, std::chrono::milliseconds timeout = 2000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// A plain Boost.Asio socket for sending bytes no well-behaved client sends.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) : socket_(io_) {
    socket_.connect({net::ip::make_address(kLoopback), port});
  }

  void Send(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }

  struct Received {
    std::string data;
    bool closed = false;  // the server closed the connection
  };

  // Reads until the server closes the connection or timeout passes.
  Received ReadUntilClosed(std::chrono::milliseconds timeout) {
    Received received;
    bool done = false;
    boost::system::error_code error;
    net::async_read(socket_, net::dynamic_buffer(received.data),
                    [&](boost::system::error_code ec, size_t) {
                      error = ec;
                      done = true;
                    });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      socket_.cancel();
      io_.restart();
      io_.run();
    }
    received.closed = error == net::error::eof || error == net::error::connection_reset;
    return received;
  }

 private:
  net::io_context io_;
  net::ip::tcp::socket socket_;
};

// The JSON body of a raw HTTP response (everything after the blank line).
std::string BodyOf(const std::string& raw_response) {
  size_t end_of_header = raw_response.find("\r\n\r\n");
  return end_of_header == std::string::npos ? "" : raw_response.substr(end_of_header + 4);
}

}  // namespace

TEST_CASE("Server echoes request fields") {
  auto server = StartServer(Echo);
  Client client(kLoopback, server->port());

  auto result = client.Send("POST", "/v1/echo/a%2Fb?name=hello%20world&n=1&n=2",
                            R"({"k":"v"})", {{"X-Test", "yes"}});
  REQUIRE(result.ok());
  CHECK(result->status == 200);
  CHECK(result->content_type == "application/json");
  CHECK(result->headers["cache-control"] == "no-store");
  CHECK(result->headers["content-length"] == std::to_string(result->body.size()));

  json::object echoed = ParseObject(result->body);
  CHECK(echoed["method"] == "POST");
  CHECK(echoed["target"] == "/v1/echo/a%2Fb?name=hello%20world&n=1&n=2");
  CHECK(echoed["path"] == "/v1/echo/a%2Fb");
  CHECK(echoed["query"].as_object()["name"] == "hello world");
  CHECK(echoed["query"].as_object()["n"] == "1");
  CHECK(echoed["body"] == R"({"k":"v"})");
  CHECK(echoed["x_test"] == "yes");
  CHECK(echoed["remote_address"] == kLoopback);
}

TEST_CASE("Client reuses one keep-alive connection") {
  auto server = StartServer(Echo);
  Client client(kLoopback, server->port());

  auto first = client.Send("GET", "/one", "");
  auto second = client.Send("GET", "/two", "");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(ParseObject(first->body)["path"] == "/one");
  CHECK(ParseObject(second->body)["path"] == "/two");
  CHECK(server->requests_served() == 2);
  CHECK(server->connections_accepted() == 1);
}

TEST_CASE("Client reconnects after idle close") {
  ServerLimits limits = TestLimits();
  limits.idle_timeout = 1s;
  auto server = StartServer(Echo, limits);
  Client client(kLoopback, server->port());

  REQUIRE(client.Send("GET", "/before", "").ok());
  std::this_thread::sleep_for(1500ms);
  auto after = client.Send("POST", "/after", "{}");
  REQUIRE(after.ok());
  CHECK(after->status == 200);
  CHECK(ParseObject(after->body)["path"] == "/after");
  CHECK(server->connections_accepted() == 2);
  CHECK(server->requests_served() == 2);
}

TEST_CASE("Response header names are lower-case") {
  auto server = StartServer([](const Request&) {
    Response response = JsonResponse(201, "{}");
    response.headers["X-Request-Id"] = "abc";
    return response;
  });
  Client client(kLoopback, server->port());

  auto result = client.Send("GET", "/", "");
  REQUIRE(result.ok());
  CHECK(result->status == 201);
  CHECK(result->headers["x-request-id"] == "abc");
  CHECK(result->headers.count("X-Request-Id") == 0);
}

TEST_CASE("Body over the limit gets 413") {
  auto server = StartServer(Echo);
  Client client(kLoopback, server->port());

  auto result = client.Send("POST", "/big", std::string(4096, 'x'));
  REQUIRE(result.ok());
  CHECK(result->status == 413);
  json::object error = ParseObject(result->body);
  CHECK(error["error"] == "too_large");
  CHECK(error["message"] == "request body exceeds the limit of 1024 bytes");
  CHECK(result->headers["connection"] == "close");

  // The same client reconnects for its next request.
  auto next = client.Send("POST", "/small", "{}");
  REQUIRE(next.ok());
  CHECK(next->status == 200);
}

TEST_CASE("Header over the limit gets 431") {
  auto server = StartServer(Echo);
  Client client(kLoopback, server->port());

  auto result = client.Send("GET", "/", "", {{"X-Padding", std::string(4096, 'p')}});
  REQUIRE(result.ok());
  CHECK(result->status == 431);
  json::object error = ParseObject(result->body);
  CHECK(error["error"] == "too_large");
  CHECK(error["message"] == "request header exceeds the limit of 2048 bytes");
}

TEST_CASE("Garbage bytes get 400 and a close") {
  auto server = StartServer(Echo);
  RawConnection raw(server->port());

  raw.Send(std::string("\x01\x02 not http\r\n\r\n", 16));
  auto received = raw.ReadUntilClosed(3000ms);
  CHECK(received.closed);
  CHECK(received.data.rfind("HTTP/1.1 400", 0) == 0);
  json::object error = ParseObject(BodyOf(received.data));
  CHECK(error["error"] == "invalid_argument");
  CHECK(error["message"].as_string().starts_with("malformed HTTP request: "));
}

TEST_CASE("Malformed request target gets 400") {
  auto server = StartServer(Echo);
  RawConnection raw(server->port());

  raw.Send("GET /bad%zz HTTP/1.1\r\nHost: x\r\n\r\n");
  auto received = raw.ReadUntilClosed(3000ms);
  CHECK(received.closed);
  CHECK(received.data.rfind("HTTP/1.1 400", 0) == 0);
  json::object error = ParseObject(BodyOf(received.data));
  CHECK(error["error"] == "invalid_argument");
  CHECK(error["message"] == "invalid request target: expected a path such as /v1/devices");
}

TEST_CASE("Pipelined requests are answered in order") {
  auto server = StartServer(Echo);
  RawConnection raw(server->port());

  raw.Send(
      "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto received = raw.ReadUntilClosed(3000ms);
  CHECK(received.closed);
  size_t first = received.data.find("\"path\":\"/first\"");
  size_t second = received.data.find("\"path\":\"/second\"");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(first < second);
  CHECK(server->requests_served() == 2);
}

TEST_CASE("Throwing handler gets 500 and the server keeps serving") {
  auto server = StartServer([](const Request& request) -> Response {
    if (request.path == "/throw") throw std::runtime_error("boom");
    return JsonResponse(200, R"({"ok":true})");
  });
  Client client(kLoopback, server->port());

  auto failed = client.Send("GET", "/throw", "");
  REQUIRE(failed.ok());
  CHECK(failed->status == 500);
  CHECK(failed->body == R"({"error":"internal","message":"internal error"})");

  auto next = client.Send("GET", "/fine", "");
  REQUIRE(next.ok());
  CHECK(next->status == 200);
  CHECK(next->body == R"({"ok":true})");
}

TEST_CASE("Stalled request gets 408") {
  auto server = StartServer(Echo);  // read_timeout = 1 s
  RawConnection raw(server->port());

  auto start = std::chrono::steady_clock::now();
  raw.Send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  auto received = raw.ReadUntilClosed(5000ms);
  auto elapsed = std::chrono::steady_clock::now() - start;

  CHECK(received.closed);
  CHECK(received.data.rfind("HTTP/1.1 408", 0) == 0);
  json::object error = ParseObject(BodyOf(received.data));
  CHECK(error["error"] == "request_timeout");
  CHECK(error["message"] == "request not received within 1 s");
  CHECK(elapsed >= 900ms);
  CHECK(elapsed < 4000ms);
}

TEST_CASE("Idle connection closes silently") {
  ServerLimits limits = TestLimits();
  limits.idle_timeout = 1s;
  auto server = StartServer(Echo, limits);
  RawConnection raw(server->port());

  auto start = std::chrono::steady_clock::now();
  auto received = raw.ReadUntilClosed(5000ms);
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(received.closed);
  CHECK(received.data.empty());
  CHECK(elapsed >= 900ms);
  CHECK(elapsed < 4000ms);
}

TEST_CASE("Connections over max_connections get 503") {
  ServerLimits limits = TestLimits();
  limits.max_connections = 1;
  auto server = StartServer(Echo, limits);

  // The first connection takes the only slot.
  auto holder = std::make_unique<RawConnection>(server->port());
  REQUIRE(WaitFor([&] { return server->connections_accepted() == 1; }));

  Client client(kLoopback, server->port());
  auto rejected = client.Send("GET", "/", "");
  REQUIRE(rejected.ok());
  CHECK(rejected->status == 503);
  json::object error = ParseObject(rejected->body);
  CHECK(error["error"] == "unavailable");
  CHECK(error["message"] == "server is at its limit of 1 open connections; retry later");

  // Closing the first connection frees the slot.
  holder.reset();
  bool served = WaitFor([&] {
    auto result = client.Send("GET", "/", "");
    return result.ok() && result->status == 200;
  });
  CHECK(served);
}

TEST_CASE("Handlers run concurrently") {
  constexpr int kThreads = 32;
  constexpr int kRequestsPerThread = 20;
  constexpr auto kHandlerSleep = 5ms;
  ServerLimits limits = TestLimits();
  limits.worker_threads = 32;
  auto server = StartServer(
      [&](const Request& request) {
        std::this_thread::sleep_for(kHandlerSleep);
        return JsonResponse(200, request.body);
      },
      limits);

  std::atomic<int> correct{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client client(kLoopback, server->port());
      for (int i = 0; i < kRequestsPerThread; ++i) {
        std::string body = "{\"thread\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}";
        auto result = client.Send("POST", "/work", body);
        if (result.ok() && result->status == 200 && result->body == body) ++correct;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto elapsed = std::chrono::steady_clock::now() - start;

  CHECK(correct == kThreads * kRequestsPerThread);
  CHECK(server->requests_served() == kThreads * kRequestsPerThread);
  CHECK(server->connections_accepted() == kThreads);
  // One handler at a time would need kThreads * kRequestsPerThread * 5 ms = 3.2 s.
  CHECK(elapsed < kThreads * kRequestsPerThread * kHandlerSleep);
}

TEST_CASE("Stop closes connections, is idempotent") {
  auto server = StartServer(Echo);
  RawConnection raw(server->port());
  REQUIRE(WaitFor([&] { return server->connections_accepted() == 1; }));

  server->Stop();
  auto received = raw.ReadUntilClosed(2000ms);
  CHECK(received.closed);
  server->Stop();

  escrow::Status again = server->Listen(kLoopback, 0);
  CHECK(again.code() == escrow::Code::kFailedPrecondition);
}

TEST_CASE("Listen on busy port fails") {
  auto first = StartServer(Echo);
  Server second("second", Echo, TestLimits());
  escrow::Status status = second.Listen(kLoopback, first->port());
  CHECK(status.code() == escrow::Code::kUnavailable);
  CHECK(status.message().starts_with("cannot listen on 127.0.0.1:" + std::to_string(first->port())));
}

TEST_CASE("Client transport errors are unavailable") {
  SECTION("nothing listens on the port") {
    uint16_t port = 0;
    {
      auto server = StartServer(Echo);
      port = server->port();
    }
    Client client(kLoopback, port);
    auto result = client.Send("POST", "/", "{\"secret\":\"12345\"}");
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == escrow::Code::kUnavailable);
    CHECK(result.status().message().starts_with("cannot reach 127.0.0.1:" + std::to_string(port) + ": "));
    CHECK(result.status().message().find("12345") == std::string::npos);
  }

  SECTION("the server answers after the timeout") {
    auto server = StartServer([](const Request&) {
      std::this_thread::sleep_for(1500ms);
      return JsonResponse(200, "{}");
    });
    Client client(kLoopback, server->port(), 300ms);
    auto start = std::chrono::steady_clock::now();
    auto result = client.Send("GET", "/slow", "");
    auto elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == escrow::Code::kUnavailable);
    CHECK(result.status().message() ==
          "cannot reach 127.0.0.1:" + std::to_string(server->port()) + ": no response within 300 ms");
    CHECK(elapsed < 1000ms);
  }
}

TEST_CASE("Client Close drops the connection") {
  auto server = StartServer(Echo);
  Client client(kLoopback, server->port());
  REQUIRE(client.Send("GET", "/a", "").ok());
  client.Close();
  auto result = client.Send("GET", "/b", "");
  REQUIRE(result.ok());
  CHECK(result->status == 200);
  CHECK(server->connections_accepted() == 2);
}

TEST_CASE("ErrorResponse escapes its message") {
  Response response = ErrorResponse(escrow::InvalidArgument("bad \"device_id\"\n"));
  CHECK(response.status == 400);
  CHECK(response.content_type == "application/json");
  CHECK(response.body == R"({"error":"invalid_argument","message":"bad \"device_id\"\n"})");

  Response conflict = ErrorResponse(escrow::Conflict("stale generation"));
  CHECK(conflict.status == 409);
  CHECK(ParseObject(conflict.body)["error"] == "conflict");
}

TEST_CASE("ParseHostPort splits valid addresses") {
  struct Case {
    std::string text;
    std::string host;
    uint16_t port;
  };
  std::vector<Case> cases = {
      {"127.0.0.1:8443", "127.0.0.1", 8443},
      {"[::1]:80", "::1", 80},
      {"localhost:0", "localhost", 0},
      {"example.org:65535", "example.org", 65535},
      {"https://127.0.0.1:8443/", "127.0.0.1", 8443},
      {"http://[::1]:8080", "::1", 8080},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto parsed = escrow::http::ParseHostPort(c.text);
    REQUIRE(parsed.ok());
    CHECK(parsed->first == c.host);
    CHECK(parsed->second == c.port);
  }
}

TEST_CASE("ParseHostPort rejects bad addresses") {
  struct Case {
    std::string text;
    std::string message;
  };
  std::vector<Case> cases = {
      {"localhost", "invalid address \"localhost\": missing port, expected HOST:PORT"},
      {"localhost:", "invalid port \"\" in \"localhost:\": expected a number from 0 to 65535"},
      {"localhost:http", "invalid port \"http\" in \"localhost:http\": expected a number from 0 to 65535"},
      {"localhost:65536", "invalid port \"65536\" in \"localhost:65536\": expected a number from 0 to 65535"},
      {"localhost:-1", "invalid port \"-1\" in \"localhost:-1\": expected a number from 0 to 65535"},
      {"localhost:80x", "invalid port \"80x\" in \"localhost:80x\": expected a number from 0 to 65535"},
      {":80", "invalid address \":80\": missing host, expected HOST:PORT"},
      {"::1:80", "invalid address \"::1:80\": write an IPv6 host in brackets, e.g. [::1]:8443"},
      {"[::1:80", "invalid address \"[::1:80\": missing \"]\""},
      {"[::1]80", "invalid address \"[::1]80\": missing port, expected HOST:PORT"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto parsed = escrow::http::ParseHostPort(c.text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == escrow::Code::kInvalidArgument);
    CHECK(parsed.status().message() == c.message);
  }
}

TEST_CASE("IsLoopback accepts only loopback hosts") {
  CHECK(escrow::http::IsLoopback("127.0.0.1"));
  CHECK(escrow::http::IsLoopback("127.1.2.3"));
  CHECK(escrow::http::IsLoopback("::1"));
  CHECK(escrow::http::IsLoopback("[::1]"));
  CHECK(escrow::http::IsLoopback("::ffff:127.0.0.1"));
  CHECK(escrow::http::IsLoopback("localhost"));
  CHECK(escrow::http::IsLoopback("LocalHost"));

  CHECK_FALSE(escrow::http::IsLoopback("0.0.0.0"));
  CHECK_FALSE(escrow::http::IsLoopback("::"));
  CHECK_FALSE(escrow::http::IsLoopback("10.0.0.1"));
  CHECK_FALSE(escrow::http::IsLoopback("128.0.0.1"));
  CHECK_FALSE(escrow::http::IsLoopback("example.org"));
  CHECK_FALSE(escrow::http::IsLoopback("localhost.example.org"));
  CHECK_FALSE(escrow::http::IsLoopback(""));
}
