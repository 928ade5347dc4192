// Minimal HTTP/1.1 server and client over Boost.Beast, shared by the API
// listener, the device gateway, escrowctl and escrow-device.
//
// The server reads requests asynchronously on a small pool of I/O threads and
// runs each complete request's handler on a separate worker pool, so a
// handler may block (for example on a sequencer commit) without stalling I/O.
// Every limit and timeout is a field of ServerLimits.
//
// Thread safety: Server methods are safe from any thread. A handler may run
// on any worker thread, concurrently with other handlers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ledger/status.h"

namespace escrow::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as received
  std::string path;    // target without the query, still percent-encoded
  // Decoded query parameters. A repeated key keeps its first value.
  std::map<std::string, std::string> query;
  // Header names are lower-case. Repeated headers are joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;  // the exact bytes received (device signatures cover them)
  std::string remote_address;  // peer IP

  // Returns the header value, or "" when absent.
  std::string Header(const std::string& lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  std::string body;
};

// Builds {"error": code name, "message": message} with the status's HTTP code.
Response ErrorResponse(const Status& status);
// Builds the same JSON error body with an explicit HTTP status and error code,
// for transport errors that have no escrow::Code (408, 431).
Response ErrorResponse(int http_status, const std::string& error,
                       const std::string& message);
Response JsonResponse(int status, std::string body);

using Handler = std::function<Response(const Request&)>;

// Limits of one Server. A request over a size limit is rejected with 413 (body)
// or 431 (header), and the connection is closed.
struct ServerLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  // Time to receive a whole request once its first byte has arrived (408).
  std::chrono::seconds read_timeout{30};
  // Time a keep-alive connection may wait for its next request (closed silently).
  std::chrono::seconds idle_timeout{60};
  // A connection beyond this count gets a 503 reply and is closed.
  size_t max_connections = 1024;
  int io_threads = 2;
  int worker_threads = 32;
  // Time to send one response before the connection is closed.
  std::chrono::seconds write_timeout{30};
  // Time for the TLS handshake after the connection is accepted.
  std::chrono::seconds handshake_timeout{10};
};

// TLS settings of a Server: PEM files of the certificate chain (leaf
// first) and its private key. See api/http/tls.h for the protocol versions
// and cipher suites.
struct ServerTls {
  std::string cert_chain_file;
  std::string private_key_file;
};

// TLS settings of a Client. The server certificate is checked against
// ca_file (PEM), or against the system's trusted roots when ca_file is
// empty, and must name the host the client connects to (DNS name or IP
// address in its subjectAltName).
struct ClientTls {
  bool enabled = false;
  std::string ca_file;

  static ClientTls WithCaFile(std::string ca_file) { return ClientTls{true, std::move(ca_file)}; }
};

class Server {
 public:
  // name is used in log lines ("api", "gateway"). The server speaks plain
  // HTTP unless UseTls is called before Listen; escrowd always calls it.
  Server(std::string name, Handler handler, ServerLimits limits);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the certificate and key and makes every later connection TLS.
  // Fails with kInvalidArgument naming the file that cannot be used, and
  // with kFailedPrecondition after Listen.
  Status UseTls(const ServerTls& tls);

  // Binds host:port (port 0 picks a free port) and starts accepting. Fails
  // with kInvalidArgument for an unknown host, kUnavailable when the bind
  // fails, kFailedPrecondition when called twice or after Stop.
  Status Listen(const std::string& host, uint16_t port);
  // Returns the bound port, or 0 before Listen succeeds.
  uint16_t port() const;
  // Stops accepting, closes every connection, waits for running handlers and
  // joins all threads. Idempotent. Must not be called from a handler.
  void Stop();

  // Returns the number of responses the server has started to send, error
  // responses included.
  uint64_t requests_served() const;
  // Returns the number of TCP connections accepted, including those rejected
  // because max_connections were open.
  uint64_t connections_accepted() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port"; fails with a clear message on a missing or bad port.
Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& text);
// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopback(const std::string& host);

// A blocking HTTP/1.1 client with keep-alive on one connection, over TLS
// when tls.enabled. Reconnects once when the server closed an idle
// connection. A certificate that fails verification is kUnavailable with
// OpenSSL's reason.
//
// Thread safety: one Client per thread.
class Client {
 public:
  Client(std::string host, uint16_t port,
         std::chrono::milliseconds timeout = std::chrono::seconds(30), ClientTls tls = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Sends one request. A transport error (connect, timeout, reset) is
  // kUnavailable with the cause; any HTTP status is a successful Result.
  Result<Response> Send(const std::string& method, const std::string& target,
                        const std::string& body,
                        const std::map<std::string, std::string>& headers = {});

  // Closes the connection abruptly (the fleet uses it to simulate a drop).
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace escrow::http
