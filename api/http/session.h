// Internal to the HTTP server: one connection, from its first byte to close.
//
// A session is a chain of asynchronous steps on its own strand:
//
//   WaitForRequest --first bytes--> ReadRequest --complete--> Dispatch
//        ^                                                       | (worker pool)
//        +------------------ keep-alive ------------------ Write <+
//
// An error response (400, 408, 413, 431, 503) is written with
// "Connection: close" and followed by LingerClose.
//
// Session is a template on the stream: beast::tcp_stream for plain HTTP, or
// beast::ssl_stream<beast::tcp_stream> for TLS, which adds a handshake step
// before WaitForRequest and a close_notify before closing. All socket and
// timer calls go through beast::get_lowest_layer.
#pragma once

#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "api/http/convert.h"
#include "api/http/request_guard.h"
#include "api/http/server_context.h"
#include "ledger/crypto.h"
#include "ledger/log.h"

namespace escrow::http::internal {

// Bytes asked for by the first read of a request, which only waits for data.
inline constexpr size_t kFirstReadBytes = 4096;
// After an error response the server reads and discards what the client is
// still sending, so that closing does not reset the connection before the
// client has read the response. The discarding stops after this time or
// this many bytes, whichever comes first.
inline constexpr std::chrono::seconds kLingerTimeout{2};
inline constexpr size_t kMaxLingerBytes = 8 * 1024 * 1024;
inline constexpr size_t kLingerChunkBytes = 4096;
// HTTP version used for responses sent before any request was parsed.
inline constexpr unsigned kHttp11 = 11;

// Runs handler on request, turning an exception into a 500 response. Logs the
// exception on the "http" logger with server_name.
Response RunHandler(const Handler& handler, const Request& request,
                    const std::string& server_name);

// One HTTP/1.1 connection.
//
// Thread safety: every member function except Start and Close runs on the
// stream's strand, which owns all members. Start and Close may be called
// from any thread.
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  // admitted is false when the connection is over max_connections: the
  // session then only sends 503 and closes.
  Session(Stream stream, std::shared_ptr<ServerContext> context, bool admitted,
          std::string remote_address)
      : stream_(std::move(stream)),
        deadline_(stream_.get_executor()),
        context_(std::move(context)),
        admitted_(admitted),
        remote_address_(std::move(remote_address)) {}

  ~Session() override {
    if (id_) context_->Unregister(*id_);
    if (admitted_) context_->Release();
  }

  // Registers with the server and starts the first step on the strand. When
  // the server is stopping, the session is dropped and its socket closed.
  void Start() {
    id_ = context_->Register(this->weak_from_this());
    if (!id_) return;
    boost::asio::dispatch(stream_.get_executor(),
                          boost::beast::bind_front_handler(&Session::OnStart, this->shared_from_this()));
  }

  void Close() override {
    boost::asio::post(stream_.get_executor(),
                      boost::beast::bind_front_handler(&Session::CloseNow, this->shared_from_this()));
  }

 private:
  using ErrorCode = boost::beast::error_code;
  static constexpr bool kIsTls = !std::is_same_v<Stream, boost::beast::tcp_stream>;

  auto& lowest() { return boost::beast::get_lowest_layer(stream_); }
  const ServerLimits& limits() const { return context_->limits(); }

  void OnStart() {
    if constexpr (kIsTls) {
      // The handshake gets its own deadline; a 503 also needs it first. The
      // first bytes tell a TLS client from a plain-HTTP one.
      lowest().expires_after(limits().handshake_timeout);
      boost::beast::async_detect_ssl(
          lowest(), buffer_,
          boost::beast::bind_front_handler(&Session::OnDetected, this->shared_from_this()));
    } else {
      OnConnectionReady();
    }
  }

  void OnDetected(ErrorCode ec, bool is_tls) {
    if constexpr (kIsTls) {
      if (ec) return CloseNow();
      if (!is_tls) return ReplyPlainHttp();
      stream_.async_handshake(
          boost::asio::ssl::stream_base::server, buffer_.data(),
          boost::beast::bind_front_handler(&Session::OnHandshake, this->shared_from_this()));
    }
  }

  // Replies to a client that sent plain HTTP to this TLS port with a short
  // unencrypted 400 that names the fix, then closes. It serves nothing.
  void ReplyPlainHttp() {
    context_->log().debug("connection {} from {}: plain HTTP on the TLS port", *id_,
                          remote_address_);
    static constexpr std::string_view kReply =
        "HTTP/1.1 400 Bad Request\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 54\r\n"
        "Connection: close\r\n"
        "\r\n"
        "This port speaks HTTPS only: use an https:// address.\n";
    boost::asio::async_write(
        lowest(), boost::asio::buffer(kReply.data(), kReply.size()),
        [self = this->shared_from_this()](ErrorCode, size_t) { self->CloseNow(); });
  }

  void OnHandshake(ErrorCode ec, size_t bytes_used) {
    if (ec) {
      context_->log().debug("connection {} from {}: TLS handshake failed: {}", *id_,
                            remote_address_, ec.message());
      return CloseNow();
    }
    buffer_.consume(bytes_used);
    OnConnectionReady();
  }

  void OnConnectionReady() {
    if (admitted_) return DoWaitForRequest();
    context_->log().warn("connection {} from {}: rejected, {} connections are open", *id_,
                         remote_address_, limits().max_connections);
    ReplyError(503, "unavailable",
               fmt::format("server is at its limit of {} open connections; retry later",
                           limits().max_connections));
  }

  // --- Waiting for a request: idle_timeout applies until its first byte. ---

  void DoWaitForRequest() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits().max_header_bytes));
    parser_->body_limit(limits().max_body_bytes);

    // A pipelined request may already be in the buffer.
    if (buffer_.size() > 0) return DoReadRequest();

    lowest().expires_after(limits().idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kFirstReadBytes),
        boost::beast::bind_front_handler(&Session::OnFirstBytes, this->shared_from_this()));
  }

  void OnFirstBytes(ErrorCode ec, size_t bytes) {
    if (ec) {
      if (ec == boost::beast::error::timeout) {
        context_->log().debug("connection {}: closed after {} s idle", *id_,
                              limits().idle_timeout.count());
      }
      return CloseNow();
    }
    buffer_.commit(bytes);
    DoReadRequest();
  }

  // --- Reading the request: read_timeout applies from its first byte. ---

  void DoReadRequest() {
    request_start_ = std::chrono::steady_clock::now();
    read_timed_out_ = false;
    lowest().expires_never();

    // The timer cancels the read instead of closing the socket, so that a
    // 408 can still be sent.
    deadline_.expires_after(limits().read_timeout);
    deadline_.async_wait(
        boost::beast::bind_front_handler(&Session::OnReadDeadline, this->shared_from_this()));
    DoReadHeader();
  }

  // Reads until the header is complete and checks its raw bytes for request
  // smuggling (request_guard.h). Only then does the parser read them.
  void DoReadHeader() {
    std::string_view received(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    HeaderScan scan = ScanForHeaderEnd(received, limits().max_header_bytes);
    if (scan.state == HeaderScan::State::kTooLarge) {
      return OnReadRequest(boost::beast::http::error::header_limit, 0);
    }
    if (scan.state == HeaderScan::State::kNeedMore) {
      return stream_.async_read_some(
          buffer_.prepare(kFirstReadBytes),
          boost::beast::bind_front_handler(&Session::OnHeaderBytes, this->shared_from_this()));
    }

    if (Status guard = CheckRawHeader(received.substr(0, scan.header_bytes)); !guard.ok()) {
      deadline_.expires_at(std::chrono::steady_clock::time_point::max());
      context_->log().warn("connection {} from {}: {}", *id_, remote_address_, guard.message());
      return ReplyError(400, guard.CodeName(), guard.message());
    }
    boost::beast::http::async_read(
        stream_, buffer_, *parser_,
        boost::beast::bind_front_handler(&Session::OnReadRequest, this->shared_from_this()));
  }

  void OnHeaderBytes(ErrorCode ec, size_t bytes) {
    if (ec) return OnReadRequest(ec, 0);
    buffer_.commit(bytes);
    DoReadHeader();
  }

  void OnReadDeadline(ErrorCode ec) {
    // A stale wait (the read finished first) finds an expiry in the future.
    if (ec || deadline_.expiry() > std::chrono::steady_clock::now()) return;
    read_timed_out_ = true;
    lowest().cancel();
  }

  void OnReadRequest(ErrorCode ec, size_t /*bytes*/) {
    deadline_.expires_at(std::chrono::steady_clock::time_point::max());
    if (closed_) return;
    if (ec) return OnReadError(ec);

    // Convert on the strand (cheap); the handler runs on the worker pool.
    BeastRequest message = parser_->release();
    version_ = message.version();
    keep_alive_ = message.keep_alive();
    method_ = std::string(message.method_string());
    auto request = ToRequest(std::move(message), remote_address_);
    if (!request.ok()) {
      path_ = "(invalid target)";
      context_->log().warn("connection {} from {}: {}", *id_, remote_address_,
                           request.status().message());
      return ReplyError(400, request.status().CodeName(), request.status().message());
    }
    path_ = request->path;
    Dispatch(std::move(request).value());
  }

  void OnReadError(ErrorCode ec) {
    namespace bhttp = boost::beast::http;
    const size_t header_limit = limits().max_header_bytes;
    const size_t body_limit = limits().max_body_bytes;

    if (read_timed_out_) {
      context_->log().warn("connection {} from {}: request not complete after {} s", *id_,
                           remote_address_, limits().read_timeout.count());
      return ReplyError(408, "request_timeout",
                        fmt::format("request not received within {} s", limits().read_timeout.count()));
    }
    if (ec == bhttp::error::body_limit) {
      context_->log().warn("connection {} from {}: body over {} bytes", *id_, remote_address_, body_limit);
      return ReplyError(413, "too_large",
                        fmt::format("request body exceeds the limit of {} bytes", body_limit));
    }
    if (ec == bhttp::error::header_limit) {
      context_->log().warn("connection {} from {}: header over {} bytes", *id_, remote_address_,
                           header_limit);
      return ReplyError(431, "too_large",
                        fmt::format("request header exceeds the limit of {} bytes", header_limit));
    }

    // The peer closed or reset the connection, so no response can be delivered.
    bool is_parse_error = ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
    if (!is_parse_error || ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
      context_->log().debug("connection {}: closed while reading: {}", *id_, ec.message());
      return CloseNow();
    }
    context_->log().warn("connection {} from {}: malformed request: {}", *id_, remote_address_,
                         ec.message());
    ReplyError(400, "invalid_argument", "malformed HTTP request: " + ec.message());
  }

  // --- Running the handler on the worker pool. ---

  void Dispatch(Request request) {
    auto self = this->shared_from_this();
    boost::asio::post(context_->workers(), [self, request = std::move(request)]() mutable {
      Response response = RunHandler(self->context_->handler(), request, self->context_->name());
      crypto::Cleanse(request.body);
      boost::asio::post(self->stream_.get_executor(),
                        [self, response = std::move(response)]() mutable {
                          self->DoWrite(std::move(response), self->keep_alive_);
                        });
    });
  }

  // --- Writing the response. ---

  void ReplyError(int status, const std::string& error, const std::string& message) {
    DoWrite(ErrorResponse(status, error, message), /*keep_alive=*/false);
  }

  void DoWrite(Response response, bool keep_alive) {
    if (closed_) return;
    auto elapsed = std::chrono::steady_clock::now() - request_start_;
    context_->log().debug(
        "connection {}: {} {} -> {} in {} ms", *id_, method_.empty() ? "-" : method_,
        path_.empty() ? "-" : path_, response.status,
        std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
    context_->CountResponse();

    response_.emplace(ToBeastResponse(std::move(response), version_, keep_alive));
    lowest().expires_after(limits().write_timeout);
    boost::beast::http::async_write(
        stream_, *response_,
        boost::beast::bind_front_handler(&Session::OnWrite, this->shared_from_this(), keep_alive));
  }

  void OnWrite(bool keep_alive, ErrorCode ec, size_t /*bytes*/) {
    // The body may hold a recovery password.
    crypto::Cleanse(response_->body());
    response_.reset();
    method_.clear();
    path_.clear();

    if (ec) {
      context_->log().debug("connection {}: write failed: {}", *id_, ec.message());
      return CloseNow();
    }
    if (!keep_alive) return DoLingerClose();
    DoWaitForRequest();
  }

  // --- Closing. ---

  void DoLingerClose() {
    if constexpr (kIsTls) {
      // close_notify, then wait (bounded) for the peer's; either way close.
      lowest().expires_after(kLingerTimeout);
      stream_.async_shutdown([self = this->shared_from_this()](ErrorCode) { self->CloseNow(); });
      return;
    }
    ErrorCode ec;
    lowest().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
    if (ec) return CloseNow();
    lowest().expires_after(kLingerTimeout);
    DoLingerRead();
  }

  void DoLingerRead() {
    lowest().async_read_some(
        boost::asio::buffer(linger_buffer_),
        boost::beast::bind_front_handler(&Session::OnLingerRead, this->shared_from_this()));
  }

  void OnLingerRead(ErrorCode ec, size_t bytes) {
    linger_bytes_ += bytes;
    if (ec || closed_ || linger_bytes_ > kMaxLingerBytes) return CloseNow();
    DoLingerRead();
  }

  void CloseNow() {
    closed_ = true;
    deadline_.cancel();
    ErrorCode ignored;
    lowest().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  Stream stream_;
  // NOTE: consumed request bytes stay in buffer_'s memory until it is reused
  // or freed; only the Request body and the response body are wiped.
  boost::beast::flat_buffer buffer_;
  boost::asio::steady_timer deadline_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::optional<BeastResponse> response_;
  std::array<char, kLingerChunkBytes> linger_buffer_{};

  const std::shared_ptr<ServerContext> context_;
  const bool admitted_;
  const std::string remote_address_;
  std::optional<uint64_t> id_;  // set by Start, then read-only

  bool closed_ = false;
  bool read_timed_out_ = false;
  bool keep_alive_ = false;
  unsigned version_ = kHttp11;
  size_t linger_bytes_ = 0;
  std::string method_;  // of the current request, for the log line
  std::string path_;
  std::chrono::steady_clock::time_point request_start_ = std::chrono::steady_clock::now();
};

}  // namespace escrow::http::internal
