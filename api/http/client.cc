// Client: a blocking HTTP/1.1 client on one keep-alive connection, plain TCP
// or TLS.
//
// Every step runs as an asynchronous Beast operation on a private io_context,
// because tcp_stream's timeouts apply only to asynchronous operations.
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <cctype>
#include <optional>

#include "api/http/http.h"
#include "api/http/tls.h"
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
  Impl(std::string host_in, uint16_t port_in, std::chrono::milliseconds timeout_in,
       ClientTls tls_in)
      : host(std::move(host_in)), port(port_in), timeout(timeout_in), tls(std::move(tls_in)) {}

  Result<Response> Send(bhttp::request<bhttp::string_body>& request);
  Attempted Attempt(bhttp::request<bhttp::string_body>& request, bool reused);
  beast::error_code Connect();
  beast::error_code Handshake();
  beast::error_code Write(bhttp::request<bhttp::string_body>& request);
  beast::error_code Read(bhttp::response_parser<bhttp::string_body>& parser);
  void Disconnect();
  std::string Address() const;
  Status TransportError(const beast::error_code& ec) const;

  bool connected() const { return plain.has_value() || secure.has_value(); }
  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  // Calls f with the engaged stream, TLS or plain.
  template <class F>
  void WithStream(F&& f) {
    if (secure) {
      f(*secure);
    } else {
      f(*plain);
    }
  }

  // Runs the io_context until the operation started before it completes.
  void RunUntilDone() {
    io.restart();
    io.run();
  }

  std::string host;
  uint16_t port;
  std::chrono::milliseconds timeout;
  ClientTls tls;
  std::shared_ptr<net::ssl::context> tls_context;  // made on first connect
  net::io_context io;
  std::optional<beast::tcp_stream> plain;  // engaged while connected without TLS
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;  // engaged while connected with TLS
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point deadline;
  std::string tls_error;  // why the TLS context could not be made
};

std::string Client::Impl::Address() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Status Client::Impl::TransportError(const beast::error_code& ec) const {
  // A CA file that cannot be loaded is a local problem: the server was never contacted.
  if (!tls_error.empty() && tls_context == nullptr) return Unavailable(tls_error);
  if (!tls_error.empty()) return Unavailable("cannot reach " + Address() + ": " + tls_error);
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
  if (tls.enabled) {
    if (!tls_context) {
      auto context = MakeClientContext(tls);
      if (!context.ok()) {
        tls_error = context.status().message();
        return net::error::make_error_code(net::error::no_permission);
      }
      tls_context = std::move(context).value();
    }
    secure.emplace(io, *tls_context);
  } else {
    plain.emplace(io);
  }
  buffer.clear();
  lowest().expires_at(deadline);
  lowest().async_connect(endpoints, [&ec](beast::error_code result, const tcp::endpoint&) {
    ec = result;
  });
  RunUntilDone();
  if (!ec && secure) ec = Handshake();
  if (ec) Disconnect();
  return ec;
}

beast::error_code Client::Impl::Handshake() {
  // The certificate must name the host: an IP address or a DNS name (also sent as SNI).
  SSL* ssl = secure->native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  if (IsIpAddress(bare)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, bare.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, bare.c_str(), bare.size());
    SSL_set_tlsext_host_name(ssl, bare.c_str());
  }

  beast::error_code ec;
  lowest().expires_at(deadline);
  secure->async_handshake(net::ssl::stream_base::client,
                          [&ec](beast::error_code result) { ec = result; });
  RunUntilDone();
  if (ec) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      tls_error = std::string("the server certificate is not trusted (") +
                  X509_verify_cert_error_string(verify) +
                  "); name the CA that issued it with --ca-file or ESCROW_CA_FILE "
                  "(escrowd's own CA is DATA_DIR/keys/tls-ca.pem)";
    }
  }
  return ec;
}

beast::error_code Client::Impl::Write(bhttp::request<bhttp::string_body>& request) {
  beast::error_code ec;
  lowest().expires_at(deadline);
  WithStream([&](auto& stream) {
    bhttp::async_write(stream, request, [&ec](beast::error_code result, size_t) { ec = result; });
  });
  RunUntilDone();
  return ec;
}

beast::error_code Client::Impl::Read(bhttp::response_parser<bhttp::string_body>& parser) {
  beast::error_code ec;
  lowest().expires_at(deadline);
  WithStream([&](auto& stream) {
    bhttp::async_read(stream, buffer, parser, [&ec](beast::error_code result, size_t) { ec = result; });
  });
  RunUntilDone();
  return ec;
}

void Client::Impl::Disconnect() {
  if (!connected()) return;
  // No close_notify: the server treats a truncated TLS stream like a close.
  beast::error_code ignored;
  lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
  lowest().close();
  plain.reset();
  secure.reset();
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
                  ec == net::error::eof || ec == net::ssl::error::stream_truncated;
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
  tls_error.clear();
  beast::error_code last_error;
  for (int attempt = 0; attempt < 2; ++attempt) {
    // Connect on first use, or again after the server closed the connection.
    bool reused = connected();
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

Client::Client(std::string host, uint16_t port, std::chrono::milliseconds timeout, ClientTls tls)
    : impl_(std::make_unique<Impl>(std::move(host), port, timeout, std::move(tls))) {}

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
  if (!impl_ || !impl_->connected()) return;
  // A zero linger makes close send a reset, like a dropped network.
  beast::error_code ignored;
  impl_->lowest().socket().set_option(net::socket_base::linger(true, 0), ignored);
  impl_->lowest().close();
  impl_->plain.reset();
  impl_->secure.reset();
}

}  // namespace escrow::http
