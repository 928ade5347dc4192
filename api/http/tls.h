// TLS for the HTTP server and client: OpenSSL contexts with one policy, and
// the local certificate authority escrowd creates on first start.
//
// Policy, for both sides: TLS 1.2 and 1.3 only. TLS 1.2 offers only ECDHE
// key exchange with AES-GCM or ChaCha20-Poly1305 (forward secrecy and AEAD);
// TLS 1.3 suites are all AEAD with ephemeral keys. Compression and
// renegotiation are off.
//
// Generated files, in the keys directory, each 0600:
//
//   tls-ca.pem      the local CA certificate (clients trust this file)
//   tls-ca.key      its P-256 private key
//   tls-server.pem  the server certificate, signed by the CA
//   tls-server.key  its P-256 private key
//
// The server certificate names localhost, 127.0.0.1 and ::1 plus every
// extra name requested. It is issued again when a name is missing from it
// or when it expires within kRenewBeforeDays.
//
// Thread safety: the functions are safe from any thread; a returned context
// is then shared read-only by the connections that use it.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>
#include <vector>

#include "api/http/http.h"
#include "ledger/status.h"

namespace escrow::http {

// The TLS 1.2 cipher list; TLS 1.3 keeps OpenSSL's default AEAD suites.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

inline constexpr int kCaValidityDays = 3650;
inline constexpr int kServerCertValidityDays = 397;
inline constexpr int kRenewBeforeDays = 30;

inline constexpr const char* kCaCertFile = "tls-ca.pem";
inline constexpr const char* kCaKeyFile = "tls-ca.key";
inline constexpr const char* kServerCertFile = "tls-server.pem";
inline constexpr const char* kServerKeyFile = "tls-server.key";

// Returns and clears OpenSSL's most recent error reason, or fallback when
// there is none.
std::string OpenSslReason(const std::string& fallback);

// Returns whether host is a numeric IPv4 or IPv6 address (no brackets).
bool IsIpAddress(const std::string& host);

// Builds a server context from PEM files. Fails with kInvalidArgument
// naming the file and OpenSSL's reason.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(const ServerTls& tls);

// Builds a client context that verifies the peer against tls.ca_file (or
// the system roots when empty).
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(const ClientTls& tls);

// Creates the local CA and a server certificate in keys_dir when missing,
// and reissues the server certificate as described above. extra_names are
// DNS names or IP addresses. Returns the files for Server::UseTls; the CA
// certificate is keys_dir + "/" + kCaCertFile.
Result<ServerTls> EnsureLocalCertificates(const std::string& keys_dir,
                                          const std::vector<std::string>& extra_names);

}  // namespace escrow::http
