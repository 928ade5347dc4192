// Client: a blocking HTTP/1.1 client on one keep-alive TCP connection.
//
// Every step runs as an asynchronous Beast operation on a private io_context,
// because tcp_stream's timeouts apply only to asynchronous operations.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <optional>

#include "api/http/http.h"
#include "ledger/crypto.h"

namespace escrow::http {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

namespace {

// Large enough for a full ledger export.
constexpr uint64_t kMaxResponseBodyBytes = 64ull * 1024 * 1024;
constexpr uint32_t kMaxResponseHeaderBytes = 64 * 1024;
constexpr const char* kUserAgent = "escrow-http";
constexpr unsigned kHttp11 = 11;

std::string ToLower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

// Result of one attempt at a request.
enum class Outcome {
  kDone,
  kStaleConnection,  // the server had closed the idle connection: retry once
  kFailed,
};

struct Attempted {
  Outcome outcome = Outcome::kFailed;
  beast::error_code error;  // set unless kDone
  Response response;        // set when kDone
};

}  // namespace

// Thread safety: not thread-safe. The owning Client is used by one thread at a time.
struct Client::Impl {
  Impl(std::string host_in, uint16_t port_in, std::chrono::milliseconds timeout_in)
      : host(std::move(host_in)), port(port_in), timeout(timeout_in) {}

  Result<Response> Send(bhttp::request<bhttp::string_body>& request);
  Attempted Attempt(bhttp::request<bhttp::string_body>& request, bool reused);
  beast::error_code Connect();
  beast::error_code Write(bhttp::request<bhttp::string_body>& request);
  beast::error_code Read(bhttp::response_parser<bhttp::string_body>& parser);
  void Disconnect();
  std::string Address() const;
  Status TransportError(const beast::error_code& ec) const;

  // Runs the io_context until the operation started before it completes.
  void RunUntilDone() {
    io.restart();
    io.run();
  }

  std::string host;
  uint16_t port;
  std::chrono::milliseconds timeout;
  net::io_context io;
  std::optional<beast::tcp_stream> stream;  // engaged while connected
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point deadline;
};

std::string Client::Impl::Address() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Status Client::Impl::TransportError(const beast::error_code& ec) const {
  if (ec == beast::error::timeout) {
    return Unavailable("cannot reach " + Address() + ": no response within " +
                       std::to_string(timeout.count()) + " ms");
  }
  return Unavailable("cannot reach " + Address() + ": " + ec.message());
}

beast::error_code Client::Impl::Connect() {
  // Resolve.
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return ec;

  // Connect with the request's deadline.
  stream.emplace(io);
  buffer.clear();
  stream->expires_at(deadline);
  stream->async_connect(endpoints, [&ec](beast::error_code result, const tcp::endpoint&) {
    ec = result;
  });
  RunUntilDone();
  if (ec) Disconnect();
  return ec;
}

beast::error_code Client::Impl::Write(bhttp::request<bhttp::string_body>& request) {
  beast::error_code ec;
  stream->expires_at(deadline);
  bhttp::async_write(*stream, request, [&ec](beast::error_code result, size_t) { ec = result; });
  RunUntilDone();
  return ec;
}

beast::error_code Client::Impl::Read(bhttp::response_parser<bhttp::string_body>& parser) {
  beast::error_code ec;
  stream->expires_at(deadline);
  bhttp::async_read(*stream, buffer, parser, [&ec](beast::error_code result, size_t) { ec = result; });
  RunUntilDone();
  return ec;
}

void Client::Impl::Disconnect() {
  if (!stream) return;
  beast::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream->close();
  stream.reset();
  io.restart();
  io.poll();  // completes the handlers of the closed socket
}

Attempted Client::Impl::Attempt(bhttp::request<bhttp::string_body>& request, bool reused) {
  Attempted result;

  // Write. On a reused connection a write error means the server closed it.
  result.error = Write(request);
  if (result.error) {
    Disconnect();
    bool stale = reused && result.error != beast::error::timeout;
    result.outcome = stale ? Outcome::kStaleConnection : Outcome::kFailed;
    return result;
  }

  // Read the response.
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxResponseHeaderBytes);
  parser.body_limit(kMaxResponseBodyBytes);
  result.error = Read(parser);
  if (result.error) {
    // A reused connection that the server closed before sending any byte.
    const auto& ec = result.error;
    bool nothing_received = !parser.got_some() && buffer.size() == 0;
    bool closed = ec == bhttp::error::end_of_stream || ec == net::error::connection_reset ||
                  ec == net::error::eof;
    Disconnect();
    bool stale = reused && nothing_received && closed;
    result.outcome = stale ? Outcome::kStaleConnection : Outcome::kFailed;
    return result;
  }

  // Convert.
  auto message = parser.release();
  Response& response = result.response;
  response.status = static_cast<int>(message.result_int());
  response.content_type = std::string(message[bhttp::field::content_type]);
  for (const auto& field : message) {
    response.headers[ToLower(field.name_string())] = std::string(field.value());
  }
  response.body = std::move(message.body());
  if (!message.keep_alive()) Disconnect();
  result.outcome = Outcome::kDone;
  return result;
}

Result<Response> Client::Impl::Send(bhttp::request<bhttp::string_body>& request) {
  deadline = std::chrono::steady_clock::now() + timeout;
  beast::error_code last_error;
  for (int attempt = 0; attempt < 2; ++attempt) {
    // Connect on first use, or again after the server closed the connection.
    bool reused = stream.has_value();
    if (!reused) {
      beast::error_code ec = Connect();
      if (ec) return TransportError(ec);
    }

    Attempted attempted = Attempt(request, reused);
    if (attempted.outcome == Outcome::kDone) return std::move(attempted.response);
    if (attempted.outcome == Outcome::kFailed) return TransportError(attempted.error);
    last_error = attempted.error;
  }
  return TransportError(last_error);
}

Client::Client(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(std::move(host), port, timeout)) {}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Result<Response> Client::Send(const std::string& method, const std::string& target,
                              const std::string& body,
                              const std::map<std::string, std::string>& headers) {
  // Build the request; a body is JSON unless the caller says otherwise.
  bhttp::request<bhttp::string_body> request;
  request.method_string(method);
  request.target(target);
  request.version(kHttp11);
  request.set(bhttp::field::host, impl_->Address());
  request.set(bhttp::field::user_agent, kUserAgent);
  if (!body.empty()) request.set(bhttp::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.keep_alive(true);
  request.body() = body;
  request.prepare_payload();

  // Send, then wipe the copy of the body, which may hold a secret.
  auto result = impl_->Send(request);
  crypto::Cleanse(request.body());
  return result;
}

void Client::Close() {
  if (!impl_ || !impl_->stream) return;
  // A zero linger makes close send a reset, like a dropped network.
  beast::error_code ignored;
  impl_->stream->socket().set_option(net::socket_base::linger(true, 0), ignored);
  impl_->stream->close();
  impl_->stream.reset();
}

}  // namespace escrow::http
