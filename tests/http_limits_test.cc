// Request smuggling defences, limits and slow clients of the HTTP server,
// over real sockets on 127.0.0.1.
//
// The cases talk to a ServerUnderTest through RawConnection (bytes in, bytes
// out) and http::Client, so that a TLS variant of both, and escrowd as the
// server, can run the same cases: replace MakeServerUnderTest.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api/http/http.h"
#include "api/http/request_guard.h"
#include "api/json_body.h"

namespace {

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
// The route of the test server that requires kAuthorization, as most of
// escrowd's routes do. A limit status sent to a request without it shows the
// limit is enforced before authentication.
constexpr const char* kProtectedPath = "/v1/echo";
constexpr const char* kAuthorization = "Bearer test-token";
// A request that must never get a response when it is smuggled behind another.
constexpr std::string_view kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
// Long enough for a server to respond and close, short enough to keep the test fast.
constexpr auto kReadTimeout = 5000ms;

// --- Raw connections. ---

// What a raw connection received.
struct Received {
  std::string data;
  bool closed = false;  // the server closed the connection (EOF or reset)
};

// A connection that sends bytes no well-behaved client sends.
class RawConnection {
 public:
  virtual ~RawConnection() = default;
  // Sends all of bytes. Returns false when the server has closed the connection.
  virtual bool Send(std::string_view bytes) = 0;
  // Reads until the server closes the connection or timeout passes. A zero
  // timeout returns what has already arrived.
  virtual Received ReadAll(std::chrono::milliseconds timeout) = 0;
};

// A blocking TCP socket on 127.0.0.1.
class TcpConnection : public RawConnection {
 public:
  explicit TcpConnection(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, kLoopback, &address.sin_addr);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  }
  ~TcpConnection() override { ::close(fd_); }
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  bool Send(std::string_view bytes) override {
    while (!bytes.empty()) {
      ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
  }

  Received ReadAll(std::chrono::milliseconds timeout) override {
    Received received;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd readable{fd_, POLLIN, 0};
      int ready = ::poll(&readable, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return received;  // timed out

      char chunk[4096];
      ssize_t bytes = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (bytes < 0 && errno == EINTR) continue;
      if (bytes <= 0) {
        received.closed = true;  // 0 is EOF; an error here is a reset
        return received;
      }
      received.data.append(chunk, static_cast<size_t>(bytes));
    }
  }

 private:
  int fd_;
};

// --- The server under test. ---

// A running server, with the limits it enforces and the clients that reach it.
class ServerUnderTest {
 public:
  virtual ~ServerUnderTest() = default;
  virtual const ServerLimits& limits() const = 0;
  virtual std::unique_ptr<RawConnection> Connect() = 0;
  virtual Client NewClient() = 0;
};

// Returns method, path and body as JSON. A POST to kProtectedPath parses its
// body with ParseBodyObject, as escrowd's routes do, and then requires
// kAuthorization.
Response ProtectedEcho(const Request& request) {
  json::object echoed;
  if (request.method == "POST") {
    auto body = escrow::api::ParseBodyObject(request.body);
    if (!body.ok()) return ErrorResponse(body.status());
    echoed["body"] = std::move(*body);
  }
  if (request.path == kProtectedPath && request.Header("authorization") != kAuthorization) {
    return ErrorResponse(401, "unauthenticated", "not signed in");
  }
  echoed["method"] = request.method;
  echoed["path"] = request.path;
  return JsonResponse(200, json::serialize(echoed));
}

// An in-process http::Server with ProtectedEcho, over plain TCP.
class InProcessServer : public ServerUnderTest {
 public:
  explicit InProcessServer(const ServerLimits& limits)
      : limits_(limits), server_("limits-test", ProtectedEcho, limits) {
    escrow::Status status = server_.Listen(kLoopback, 0);
    REQUIRE(status.ok());
  }

  const ServerLimits& limits() const override { return limits_; }
  std::unique_ptr<RawConnection> Connect() override {
    return std::make_unique<TcpConnection>(server_.port());
  }
  Client NewClient() override { return Client(kLoopback, server_.port(), 5000ms); }

 private:
  ServerLimits limits_;
  Server server_;
};

// Short timeouts keep the test fast. Every case reads these values through
// limits(), so another server may set its own.
ServerLimits TestLimits() {
  ServerLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_body_bytes = 1024;
  limits.read_timeout = 1s;
  limits.idle_timeout = 2s;
  limits.max_connections = 200;
  limits.io_threads = 2;
  limits.worker_threads = 8;
  return limits;
}

std::unique_ptr<ServerUnderTest> MakeServerUnderTest(const ServerLimits& limits = TestLimits()) {
  return std::make_unique<InProcessServer>(limits);
}

// --- Reading raw responses. ---

// Number of complete responses at the start of raw bytes. Each must have a
// Content-Length, as this server's responses do.
size_t CountResponses(const std::string& raw) {
  size_t count = 0;
  for (size_t at = 0; raw.compare(at, 7, "HTTP/1.") == 0; ++count) {
    size_t end_of_header = raw.find("\r\n\r\n", at);
    size_t length_field = raw.find("\r\nContent-Length: ", at);
    if (end_of_header == std::string::npos || length_field > end_of_header) break;
    size_t length = std::stoul(raw.substr(length_field + 18));
    at = end_of_header + 4 + length;
  }
  return count;
}

bool StartsWithStatus(const std::string& raw, int status) {
  return raw.rfind("HTTP/1.1 " + std::to_string(status) + " ", 0) == 0 ||
         raw.rfind("HTTP/1.0 " + std::to_string(status) + " ", 0) == 0;
}

// Parses text as a JSON object, or returns an empty object.
json::object ParseObject(std::string_view text) {
  json::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) return {};
  return value.as_object();
}

// The JSON body of the first raw response, or an empty object.
json::object BodyOf(const std::string& raw) {
  size_t end_of_header = raw.find("\r\n\r\n");
  if (end_of_header == std::string::npos) return {};
  return ParseObject(std::string_view(raw).substr(end_of_header + 4));
}

// The "message" of a JSON error body, or "".
std::string MessageIn(const json::object& body) {
  const json::value* message = body.if_contains("message");
  return message != nullptr && message->is_string() ? std::string(message->as_string()) : "";
}

std::string MessageOf(const std::string& raw) { return MessageIn(BodyOf(raw)); }

std::string PostHeader(size_t content_length, std::string_view version = "HTTP/1.1") {
  return "POST " + std::string(kProtectedPath) + " " + std::string(version) +
         "\r\nHost: x\r\nContent-Length: " + std::to_string(content_length) + "\r\n\r\n";
}

}  // namespace

// --- Request smuggling. ---

TEST_CASE("Smuggling inputs get 400 and a close") {
  struct Case {
    const char* name;
    std::string request;
    std::string message;
  };
  const std::string both_framings =
      "request has both Content-Length and Transfer-Encoding; send one";
  const std::string other_coding =
      "Transfer-Encoding other than \"chunked\" is not supported; use Content-Length or "
      "\"Transfer-Encoding: chunked\"";
  const std::string bare_lf = "request header has a line ending in a bare LF; end lines with CRLF";
  const std::string obs_fold =
      "request header has obs-fold (a line starting with a space or tab); send each field on "
      "one line";
  const std::string chunk = "0\r\n\r\n";
  const std::vector<Case> cases = {
      {"Content-Length then Transfer-Encoding",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" +
           chunk,
       both_framings},
      {"Transfer-Encoding then Content-Length",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" +
           chunk,
       both_framings},
      {"two Content-Length headers",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}   ",
       "request has two different Content-Length values"},
      {"two values in one Content-Length",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n{}   ",
       "request has two different Content-Length values"},
      {"Content-Length not a number",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n{}   ",
       "request has an invalid Content-Length; expected a decimal number"},
      {"obs-fold with a space",
       "GET /v1/echo HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n b\r\n\r\n", obs_fold},
      {"obs-fold with a tab",
       "GET /v1/echo HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n\tb\r\n\r\n", obs_fold},
      {"obs-fold of Content-Length",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 2\r\n\r\n{}", obs_fold},
      {"bare LF on every line", "GET /v1/echo HTTP/1.1\nHost: x\n\n", bare_lf},
      {"bare LF on one field", "GET /v1/echo HTTP/1.1\r\nHost: x\nX-Note: b\r\n\r\n", bare_lf},
      {"bare LF ending the header", "GET /v1/echo HTTP/1.1\r\nHost: x\r\n\n", bare_lf},
      {"bare CR", "GET /v1/echo HTTP/1.1\r\nHost: x\rX-Note: b\r\n\r\n",
       "request header has a bare CR; end lines with CRLF"},
      {"chunked on HTTP/1.0",
       "POST /v1/echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n" + chunk,
       "Transfer-Encoding is not allowed before HTTP/1.1; send Content-Length in an HTTP/1.0 "
       "request"},
      {"Transfer-Encoding gzip",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}", other_coding},
      {"Transfer-Encoding chunked twice in one header",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n" + chunk,
       other_coding},
      {"Transfer-Encoding in two headers",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n" +
           chunk,
       other_coding},
      {"Transfer-Encoding in capitals",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n" + chunk,
       other_coding},
      {"Transfer-Encoding gzip then chunked",
       "POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunk,
       other_coding},
  };
  auto server = MakeServerUnderTest();

  for (const Case& c : cases) {
    SECTION(c.name) {
      auto connection = server->Connect();
      REQUIRE(connection->Send(c.request + std::string(kSmuggled)));
      Received received = connection->ReadAll(kReadTimeout);

      CHECK(StartsWithStatus(received.data, 400));
      CHECK(MessageOf(received.data) == c.message);
      CHECK(BodyOf(received.data)["error"] == "invalid_argument");
      // The smuggled request behind it gets no response.
      CHECK(CountResponses(received.data) == 1);
      CHECK(received.closed);
    }
  }
}

TEST_CASE("Unambiguous framing is accepted") {
  auto server = MakeServerUnderTest();
  const std::string auth = std::string("Authorization: ") + kAuthorization + "\r\n";

  SECTION("the same Content-Length twice") {
    auto connection = server->Connect();
    REQUIRE(connection->Send("POST /v1/echo HTTP/1.1\r\nHost: x\r\n" + auth +
                             "Content-Length: 2\r\nContent-Length: 02\r\nConnection: close\r\n\r\n{}"));
    Received received = connection->ReadAll(kReadTimeout);
    CHECK(StartsWithStatus(received.data, 200));
    CHECK(BodyOf(received.data)["path"] == kProtectedPath);
  }
  SECTION("chunked on HTTP/1.1") {
    auto connection = server->Connect();
    REQUIRE(connection->Send("POST /v1/echo HTTP/1.1\r\nHost: x\r\n" + auth +
                             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                             "3\r\n{\"a\r\n6\r\n\":true\r\n1\r\n}\r\n0\r\n\r\n"));
    Received received = connection->ReadAll(kReadTimeout);
    CHECK(StartsWithStatus(received.data, 200));
    CHECK(json::serialize(BodyOf(received.data)["body"]) == R"({"a":true})");
  }
  SECTION("pipelined requests each pass the check") {
    auto connection = server->Connect();
    REQUIRE(connection->Send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    Received received = connection->ReadAll(kReadTimeout);
    CHECK(CountResponses(received.data) == 2);
    CHECK(received.data.find("\"path\":\"/first\"") != std::string::npos);
    CHECK(received.data.find("\"path\":\"/second\"") != std::string::npos);
  }
}

TEST_CASE("Pipelined smuggling after a valid request") {
  auto server = MakeServerUnderTest();
  auto connection = server->Connect();

  REQUIRE(connection->Send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /second HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n b\r\n\r\n" +
                           std::string(kSmuggled)));
  Received received = connection->ReadAll(kReadTimeout);

  CHECK(StartsWithStatus(received.data, 200));
  CHECK(CountResponses(received.data) == 2);
  CHECK(received.data.find("HTTP/1.1 400 ") != std::string::npos);
  CHECK(received.data.find("/smuggled") == std::string::npos);
  CHECK(received.closed);
}

TEST_CASE("Header scan finds the blank line") {
  using escrow::http::HeaderScan;
  using escrow::http::ScanForHeaderEnd;

  HeaderScan complete = ScanForHeaderEnd("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", 100);
  CHECK(complete.state == HeaderScan::State::kComplete);
  CHECK(complete.header_bytes == 27);

  HeaderScan bare = ScanForHeaderEnd("GET / HTTP/1.1\nHost: x\n\nbody", 100);
  CHECK(bare.state == HeaderScan::State::kComplete);
  CHECK(bare.header_bytes == 24);

  CHECK(ScanForHeaderEnd("GET / HTTP/1.1\r\nHost: x\r\n\r", 100).state ==
        HeaderScan::State::kNeedMore);
  CHECK(ScanForHeaderEnd("GET / HTTP/1.1\r\nHost: x\r\n", 100).state ==
        HeaderScan::State::kNeedMore);
  CHECK(ScanForHeaderEnd("GET / HTTP/1.1\r\nHost: x\r\n", 20).state ==
        HeaderScan::State::kTooLarge);
  CHECK(ScanForHeaderEnd("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 26).state ==
        HeaderScan::State::kTooLarge);
  CHECK(ScanForHeaderEnd("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27).state ==
        HeaderScan::State::kComplete);
}

// --- Limits, each enforced before authentication. ---

TEST_CASE("Header over the limit gets 431") {
  auto server = MakeServerUnderTest();
  const size_t limit = server->limits().max_header_bytes;
  const std::string message =
      "request header exceeds the limit of " + std::to_string(limit) + " bytes";

  SECTION("complete header") {
    auto connection = server->Connect();
    REQUIRE(connection->Send("GET /v1/echo HTTP/1.1\r\nHost: x\r\nX-Padding: " +
                             std::string(limit, 'p') + "\r\n\r\n"));
    Received received = connection->ReadAll(kReadTimeout);
    CHECK(StartsWithStatus(received.data, 431));
    CHECK(MessageOf(received.data) == message);
    CHECK(received.closed);
  }
  SECTION("header that never ends") {
    auto connection = server->Connect();
    REQUIRE(connection->Send("GET /v1/echo HTTP/1.1\r\nHost: x\r\nX-Padding: " +
                             std::string(limit, 'p')));
    // The 431 is sent once the limit is passed, not at the read timeout.
    Received received = connection->ReadAll(kReadTimeout);
    CHECK(StartsWithStatus(received.data, 431));
    CHECK(MessageOf(received.data) == message);
    CHECK(received.closed);
  }
}

TEST_CASE("Body over the limit gets 413") {
  auto server = MakeServerUnderTest();
  const size_t limit = server->limits().max_body_bytes;
  const std::string message =
      "request body exceeds the limit of " + std::to_string(limit) + " bytes";

  SECTION("Content-Length over the limit, before the body is sent") {
    auto connection = server->Connect();
    REQUIRE(connection->Send(PostHeader(limit + 1)));
    Received received = connection->ReadAll(kReadTimeout);
    CHECK(StartsWithStatus(received.data, 413));
    CHECK(MessageOf(received.data) == message);
    CHECK(received.closed);
  }
  SECTION("chunked body over the limit") {
    auto connection = server->Connect();
    std::string chunk(limit / 2 + 1, ' ');
    std::string size_line = fmt::format("{:x}\r\n", chunk.size());
    REQUIRE(connection->Send(
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + size_line +
        chunk + "\r\n" + size_line + chunk + "\r\n0\r\n\r\n"));
    Received received = connection->ReadAll(kReadTimeout);
    CHECK(StartsWithStatus(received.data, 413));
    CHECK(MessageOf(received.data) == message);
    CHECK(received.closed);
  }
  SECTION("body at the limit reaches authentication") {
    auto connection = server->Connect();
    std::string body = "{" + std::string(limit - 2, ' ') + "}";
    REQUIRE(connection->Send(PostHeader(body.size()) + body));
    Received received = connection->ReadAll(500ms);
    CHECK(StartsWithStatus(received.data, 401));
  }
}

TEST_CASE("JSON over the depth or element limit gets 400") {
  using escrow::api::kMaxJsonDepth;
  using escrow::api::kMaxJsonElements;
  const std::string too_deep =
      std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  std::string too_many = "[";
  for (size_t i = 0; i < kMaxJsonElements; ++i) too_many += i == 0 ? "0" : ",0";
  too_many += "]";  // kMaxJsonElements numbers and the array
  const std::string depth_message =
      "request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels";
  const std::string count_message =
      "request body has more than " + std::to_string(kMaxJsonElements) + " JSON values";

  SECTION("CheckJsonLimits") {
    CHECK(escrow::api::CheckJsonLimits(too_deep).message() == depth_message);
    CHECK(escrow::api::CheckJsonLimits(too_many).message() == count_message);
    CHECK(escrow::api::CheckJsonLimits(std::string(kMaxJsonDepth, '[') +
                                       std::string(kMaxJsonDepth, ']'))
              .ok());
    CHECK(escrow::api::CheckJsonLimits(too_many.substr(0, too_many.size() - 3) + "]").ok());
    CHECK(escrow::api::CheckJsonLimits("").ok());
    CHECK(escrow::api::CheckJsonLimits("{} x").code() == escrow::Code::kInvalidArgument);
    CHECK(escrow::api::CheckJsonLimits("{\"a\":").code() == escrow::Code::kInvalidArgument);
  }
  SECTION("ParseBodyObject") {
    auto deep = escrow::api::ParseBodyObject("{\"a\":" + too_deep + "}");
    CHECK(deep.status().message() == depth_message);
    auto many = escrow::api::ParseBodyObject("{\"a\":" + too_many + "}");
    CHECK(many.status().message() == count_message);
    auto fine = escrow::api::ParseBodyObject(R"({"roles":["user","admin"]})");
    REQUIRE(fine.ok());
    CHECK(fine->at("roles").as_array().size() == 2);
  }
  SECTION("over a socket") {
    ServerLimits limits = TestLimits();
    limits.max_body_bytes = 16 * 1024;
    auto server = MakeServerUnderTest(limits);
    Client client = server->NewClient();

    auto deep = client.Send("POST", kProtectedPath, "{\"a\":" + too_deep + "}");
    REQUIRE(deep.ok());
    CHECK(deep->status == 400);
    CHECK(MessageIn(ParseObject(deep->body)) == depth_message);

    auto many = client.Send("POST", kProtectedPath, "{\"a\":" + too_many + "}");
    REQUIRE(many.ok());
    CHECK(many->status == 400);
    CHECK(MessageIn(ParseObject(many->body)) == count_message);
  }
}

TEST_CASE("Stalled request gets 408") {
  auto server = MakeServerUnderTest();
  const std::string message = "request not received within " +
                              std::to_string(server->limits().read_timeout.count()) + " s";

  SECTION("header") {
    auto connection = server->Connect();
    REQUIRE(connection->Send("POST /v1/echo HTTP/1.1\r\nHost: x\r\n"));
    Received received = connection->ReadAll(kReadTimeout);
    CHECK(StartsWithStatus(received.data, 408));
    CHECK(MessageOf(received.data) == message);
    CHECK(received.closed);
  }
  SECTION("body") {
    auto connection = server->Connect();
    REQUIRE(connection->Send(PostHeader(10) + "{\"a\""));
    Received received = connection->ReadAll(kReadTimeout);
    CHECK(StartsWithStatus(received.data, 408));
    CHECK(MessageOf(received.data) == message);
    CHECK(received.closed);
  }
}

TEST_CASE("Idle connection closes without a response") {
  auto server = MakeServerUnderTest();
  const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(
      server->limits().idle_timeout);

  SECTION("before the first request") {
    auto connection = server->Connect();
    Received received = connection->ReadAll(idle + kReadTimeout);
    CHECK(received.data.empty());
    CHECK(received.closed);
  }
  SECTION("after a keep-alive request") {
    auto connection = server->Connect();
    REQUIRE(connection->Send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n"));
    Received received = connection->ReadAll(idle + kReadTimeout);
    CHECK(CountResponses(received.data) == 1);
    CHECK(StartsWithStatus(received.data, 200));
    CHECK(received.closed);
  }
}

TEST_CASE("Connections over the cap get 503") {
  ServerLimits limits = TestLimits();
  limits.max_connections = 2;
  limits.idle_timeout = 10s;
  auto server = MakeServerUnderTest(limits);

  auto first = server->Connect();
  auto second = server->Connect();
  auto third = server->Connect();
  Received received = third->ReadAll(kReadTimeout);

  CHECK(StartsWithStatus(received.data, 503));
  CHECK(MessageOf(received.data) == "server is at its limit of 2 open connections; retry later");
  CHECK(received.closed);
  // The admitted connections are still served.
  REQUIRE(first->Send("GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  CHECK(StartsWithStatus(first->ReadAll(kReadTimeout).data, 200));
}

// --- Slow clients. ---

TEST_CASE("Trickling clients are closed, others served") {
  constexpr int kTricklers = 50;
  constexpr auto kTrickleInterval = 500ms;
  constexpr int kNormalRequests = 20;
  auto server = MakeServerUnderTest();
  // Each trickler sends one byte of this header every kTrickleInterval, so
  // it would need far longer than read_timeout to finish.
  const std::string slow_header = PostHeader(2) + "{}";

  // Open the trickling connections and start trickling on one thread.
  std::vector<std::unique_ptr<RawConnection>> tricklers;
  for (int i = 0; i < kTricklers; ++i) tricklers.push_back(server->Connect());
  std::vector<Received> outcomes(kTricklers);
  std::atomic<bool> trickling{true};
  std::thread trickle([&] {
    for (size_t sent = 0; trickling && sent < slow_header.size(); ++sent) {
      for (int i = 0; i < kTricklers; ++i) {
        if (outcomes[i].closed) continue;
        tricklers[i]->Send(std::string_view(slow_header).substr(sent, 1));
        Received now = tricklers[i]->ReadAll(0ms);
        outcomes[i].data += now.data;
        outcomes[i].closed = now.closed;
      }
      std::this_thread::sleep_for(kTrickleInterval);
    }
  });

  // Meanwhile a normal client gets its responses.
  std::this_thread::sleep_for(kTrickleInterval);
  Client client = server->NewClient();
  int answered = 0;
  int slow_answers = 0;
  for (int i = 0; i < kNormalRequests; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto response = client.Send("GET", "/normal", "");
    if (response.ok() && response->status == 200) ++answered;
    if (std::chrono::steady_clock::now() - start > 1s) ++slow_answers;
  }
  CHECK(answered == kNormalRequests);
  CHECK(slow_answers == 0);

  // Every trickler is closed by the read timeout: 408, or EOF if the
  // response was lost to a reset.
  std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  server->limits().read_timeout) +
                              2 * kTrickleInterval);
  trickling = false;
  trickle.join();
  int closed = 0;
  int got_408_or_nothing = 0;
  for (int i = 0; i < kTricklers; ++i) {
    Received rest = tricklers[i]->ReadAll(outcomes[i].closed ? 0ms : kReadTimeout);
    outcomes[i].data += rest.data;
    if (outcomes[i].closed || rest.closed) ++closed;
    bool got_408 = StartsWithStatus(outcomes[i].data, 408) && CountResponses(outcomes[i].data) == 1;
    if (got_408 || outcomes[i].data.empty()) ++got_408_or_nothing;
  }
  CHECK(closed == kTricklers);
  CHECK(got_408_or_nothing == kTricklers);
}
