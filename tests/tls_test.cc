// TLS on the HTTP server and client: the generated local CA, certificate
// checks on the client, and the protocol policy seen by raw OpenSSL clients.
#include <sys/stat.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <openssl/ssl.h>

#include <chrono>
#include <string>

#include "api/http/http.h"
#include "api/http/tls.h"
#include "ledger/keys.h"
#include "test_support.h"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using escrow::http::Client;
using escrow::http::ClientTls;
using escrow::http::Request;
using escrow::http::Response;
using escrow::http::Server;
using escrow::http::ServerLimits;
using namespace std::chrono_literals;

Response Hello(const Request& request) {
  return escrow::http::JsonResponse(200, "{\"path\":\"" + request.path + "\"}");
}

ServerLimits SmallLimits() {
  ServerLimits limits;
  limits.max_body_bytes = 1024;
  limits.read_timeout = 2s;
  limits.handshake_timeout = 2s;
  limits.io_threads = 1;
  limits.worker_threads = 2;
  return limits;
}

// A TLS server on host:0 with certificates from a fresh local CA.
struct TlsServer {
  explicit TlsServer(const std::string& host = "127.0.0.1") {
    auto files = escrow::http::EnsureLocalCertificates(dir.path() + "/keys", {});
    REQUIRE(files.ok());
    server = std::make_unique<Server>("tls-test", Hello, SmallLimits());
    REQUIRE(server->UseTls(*files).ok());
    REQUIRE(server->Listen(host, 0).ok());
  }
  std::string ca_file() const { return dir.path() + "/keys/" + escrow::http::kCaCertFile; }

  escrow::testing::TempDir dir;
  std::unique_ptr<Server> server;
};

int ModeOf(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return static_cast<int>(info.st_mode & 0777);
}

// Runs a raw TLS handshake to 127.0.0.1:port with the given version range
// and TLS 1.2 cipher list. Returns true when the handshake succeeds.
bool RawHandshake(uint16_t port, int min_version, int max_version, const char* ciphers) {
  net::io_context io;
  ssl::context context(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context.native_handle(), min_version);
  SSL_CTX_set_max_proto_version(context.native_handle(), max_version);
  SSL_CTX_set_security_level(context.native_handle(), 0);  // allow offering old versions
  if (ciphers != nullptr) SSL_CTX_set_cipher_list(context.native_handle(), ciphers);
  context.set_verify_mode(ssl::verify_none);
  ssl::stream<net::ip::tcp::socket> stream(io, context);
  boost::system::error_code ec;
  stream.lowest_layer().connect({net::ip::make_address("127.0.0.1"), port}, ec);
  REQUIRE_FALSE(ec);
  stream.handshake(ssl::stream_base::client, ec);
  return !ec;
}

}  // namespace

TEST_CASE("local CA files are private, reused, and reissued for a new name") {
  escrow::testing::TempDir dir;
  const std::string keys = dir.path() + "/keys";
  auto first = escrow::http::EnsureLocalCertificates(keys, {});
  REQUIRE(first.ok());
  for (const char* name : {escrow::http::kCaCertFile, escrow::http::kCaKeyFile,
                           escrow::http::kServerCertFile, escrow::http::kServerKeyFile}) {
    INFO(name);
    CHECK(ModeOf(keys + "/" + name) == 0600);
  }
  CHECK(ModeOf(keys) == 0700);
  std::string cert = *escrow::ledger::ReadFile(first->cert_chain_file);
  std::string ca = *escrow::ledger::ReadFile(keys + "/" + escrow::http::kCaCertFile);

  // The same names keep the same certificate.
  REQUIRE(escrow::http::EnsureLocalCertificates(keys, {}).ok());
  CHECK(*escrow::ledger::ReadFile(first->cert_chain_file) == cert);

  // A new name reissues the server certificate under the same CA.
  REQUIRE(escrow::http::EnsureLocalCertificates(keys, {"escrow.example.test"}).ok());
  CHECK(*escrow::ledger::ReadFile(first->cert_chain_file) != cert);
  CHECK(*escrow::ledger::ReadFile(keys + "/" + escrow::http::kCaCertFile) == ca);
}

TEST_CASE("client trusting the local CA talks HTTPS with keep-alive") {
  TlsServer tls;
  Client client("127.0.0.1", tls.server->port(), 5s, ClientTls::WithCaFile(tls.ca_file()));
  for (int i = 0; i < 3; ++i) {
    auto reply = client.Send("GET", "/hello", "");
    REQUIRE(reply.ok());
    CHECK(reply->status == 200);
    CHECK(reply->body == "{\"path\":\"/hello\"}");
  }
  CHECK(tls.server->connections_accepted() == 1);

  // "localhost" is in the certificate too.
  Client by_name("localhost", tls.server->port(), 5s, ClientTls::WithCaFile(tls.ca_file()));
  auto reply = by_name.Send("GET", "/x", "");
  REQUIRE(reply.ok());
  CHECK(reply->status == 200);
}

TEST_CASE("client refuses a server its CA did not certify") {
  TlsServer tls;
  escrow::testing::TempDir other;
  REQUIRE(escrow::http::EnsureLocalCertificates(other.path() + "/keys", {}).ok());
  Client client("127.0.0.1", tls.server->port(), 5s,
                ClientTls::WithCaFile(other.path() + "/keys/" + escrow::http::kCaCertFile));
  auto reply = client.Send("GET", "/hello", "");
  REQUIRE_FALSE(reply.ok());
  CHECK(reply.status().code() == escrow::Code::kUnavailable);
  CHECK_THAT(reply.status().message(), Catch::Contains("not trusted"));
  CHECK_THAT(reply.status().message(), Catch::Contains("--ca-file or ESCROW_CA_FILE"));
}

TEST_CASE("client refuses a certificate that does not name the host") {
  // 127.0.0.2 is loopback on Linux but not in the generated certificate.
  TlsServer tls("127.0.0.2");
  Client client("127.0.0.2", tls.server->port(), 5s, ClientTls::WithCaFile(tls.ca_file()));
  auto reply = client.Send("GET", "/hello", "");
  REQUIRE_FALSE(reply.ok());
  CHECK_THAT(reply.status().message(), Catch::Contains("not trusted"));
  CHECK_THAT(reply.status().message(), Catch::Contains("mismatch"));
}

TEST_CASE("client with a missing CA file says which file") {
  TlsServer tls;
  Client client("127.0.0.1", tls.server->port(), 5s, ClientTls::WithCaFile("/nonexistent/ca.pem"));
  auto reply = client.Send("GET", "/hello", "");
  REQUIRE_FALSE(reply.ok());
  CHECK_THAT(reply.status().message(), Catch::Contains("/nonexistent/ca.pem"));
}

TEST_CASE("server accepts TLS 1.2 with forward secrecy and 1.3 only") {
  TlsServer tls;
  const uint16_t port = tls.server->port();
  CHECK(RawHandshake(port, TLS1_3_VERSION, TLS1_3_VERSION, nullptr));
  CHECK(RawHandshake(port, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"));
  CHECK(RawHandshake(port, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305"));
  // Old versions, static RSA key exchange and CBC suites are refused.
  CHECK_FALSE(RawHandshake(port, TLS1_VERSION, TLS1_1_VERSION, "ALL:@SECLEVEL=0"));
  CHECK_FALSE(RawHandshake(port, TLS1_2_VERSION, TLS1_2_VERSION, "AES128-GCM-SHA256"));
  CHECK_FALSE(RawHandshake(port, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256"));

  // The server keeps serving after the refused handshakes.
  Client client("127.0.0.1", port, 5s, ClientTls::WithCaFile(tls.ca_file()));
  auto reply = client.Send("GET", "/after", "");
  REQUIRE(reply.ok());
  CHECK(reply->status == 200);
}

TEST_CASE("plain HTTP to the TLS port is told to use HTTPS") {
  TlsServer tls;
  net::io_context io;
  net::ip::tcp::socket socket(io);
  socket.connect({net::ip::make_address("127.0.0.1"), tls.server->port()});
  std::string request = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  net::write(socket, net::buffer(request));
  std::string received;
  boost::system::error_code ec;
  char chunk[512];
  for (;;) {
    size_t n = socket.read_some(net::buffer(chunk), ec);
    if (ec) break;
    received.append(chunk, n);
  }
  // A fixed 400 that names the fix; the request is never served.
  CHECK(received.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(received.find("This port speaks HTTPS only: use an https:// address.\n") !=
        std::string::npos);
  CHECK(received.find("HTTP/1.1 200") == std::string::npos);
  CHECK(received.find("/hello") == std::string::npos);
}

TEST_CASE("limits still apply over TLS") {
  TlsServer tls;
  Client client("127.0.0.1", tls.server->port(), 5s, ClientTls::WithCaFile(tls.ca_file()));
  auto reply = client.Send("POST", "/big", std::string(4096, 'x'));
  REQUIRE(reply.ok());
  CHECK(reply->status == 413);
  CHECK_THAT(reply->body, Catch::Contains("1024 bytes"));
}
