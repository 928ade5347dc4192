// TLS contexts for the server and the client (policy in tls.h).
#include "api/http/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <filesystem>

namespace escrow::http {
namespace ssl = boost::asio::ssl;

std::string OpenSslReason(const std::string& fallback) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

namespace {

// Applies the shared policy: versions, TLS 1.2 ciphers, no compression or
// renegotiation.
Status ApplyPolicy(ssl::context& context) {
  SSL_CTX* native = context.native_handle();
  context.set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                      ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                      ssl::context::single_dh_use);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    return Internal("cannot apply the TLS policy: " + OpenSslReason("unknown error"));
  }
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeServerContext(const ServerTls& tls) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  ESCROW_RETURN_IF_ERROR(ApplyPolicy(*context));
  SSL_CTX* native = context->native_handle();
  if (SSL_CTX_use_certificate_chain_file(native, tls.cert_chain_file.c_str()) != 1) {
    return InvalidArgument("cannot use TLS certificate " + tls.cert_chain_file + ": " +
                           OpenSslReason("unreadable file"));
  }
  if (SSL_CTX_use_PrivateKey_file(native, tls.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return InvalidArgument("cannot use TLS private key " + tls.private_key_file + ": " +
                           OpenSslReason("unreadable file"));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return InvalidArgument("TLS private key " + tls.private_key_file +
                           " does not match certificate " + tls.cert_chain_file);
  }
  return context;
}

Result<std::shared_ptr<ssl::context>> MakeClientContext(const ClientTls& tls) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  ESCROW_RETURN_IF_ERROR(ApplyPolicy(*context));
  boost::system::error_code ec;
  std::error_code file_error;
  if (!tls.ca_file.empty() && !std::filesystem::is_regular_file(tls.ca_file, file_error)) {
    return InvalidArgument("CA file " + tls.ca_file +
                           " not found; name the server's CA certificate, for escrowd's own "
                           "CA DATA_DIR/keys/tls-ca.pem");
  }
  if (tls.ca_file.empty()) {
    context->set_default_verify_paths(ec);
  } else {
    context->load_verify_file(tls.ca_file, ec);
  }
  if (ec) {
    std::string what = tls.ca_file.empty() ? "the system's trusted certificates"
                                           : "CA file " + tls.ca_file;
    return InvalidArgument("cannot load " + what + ": " + OpenSslReason(ec.message()));
  }
  context->set_verify_mode(ssl::verify_peer);
  return context;
}

}  // namespace escrow::http
