// EnsureLocalCertificates: the local CA and the server certificate (tls.h).
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "api/http/tls.h"
#include "ledger/crypto.h"
#include "ledger/keys.h"
#include "ledger/log.h"

namespace escrow::http {
namespace {

constexpr const char* kCurve = "P-256";
constexpr const char* kCaCommonName = "Escrow Ledger local CA";
constexpr const char* kServerCommonName = "Escrow Ledger server";
constexpr int kSerialBytes = 16;
constexpr long kSecondsPerDay = 24 * 3600;
// Names every generated server certificate carries.
const char* const kDefaultNames[] = {"localhost", "127.0.0.1", "::1"};

struct Deleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter>;
using Cert = std::unique_ptr<X509, Deleter>;
using Bio = std::unique_ptr<BIO, Deleter>;

std::string Reason() { return OpenSslReason("unknown OpenSSL error"); }

// --- PEM in and out ---

Result<std::string> KeyToPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Internal("cannot encode a TLS key: " + Reason());
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<size_t>(size));
  OPENSSL_cleanse(data, static_cast<size_t>(size));
  return pem;
}

Result<std::string> CertToPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return Internal("cannot encode a TLS certificate: " + Reason());
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Result<PKey> ReadKey(const std::string& path) {
  auto text = ledger::ReadFile(path);
  if (!text.ok()) return text.status();
  crypto::SecretString pem(std::move(text).value());
  Bio bio(BIO_new_mem_buf(pem.str().data(), static_cast<int>(pem.str().size())));
  PKey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return InvalidArgument("cannot parse TLS key " + path + ": " + Reason());
  return key;
}

Result<Cert> ReadCert(const std::string& path) {
  auto pem = ledger::ReadFile(path);
  if (!pem.ok()) return pem.status();
  Bio bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return InvalidArgument("cannot parse TLS certificate " + path + ": " + Reason());
  return cert;
}

// --- Building certificates ---

Result<PKey> NewKey() {
  PKey key(EVP_EC_gen(kCurve));
  if (!key) return Internal("cannot generate a TLS key: " + Reason());
  return key;
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Deleter> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Internal("cannot add certificate extension " + value + ": " + Reason());
  }
  return Status::Ok();
}

// An unsigned certificate for subject_key with the common name, valid for
// days, issued by issuer (null: self-issued).
Result<Cert> NewCert(EVP_PKEY* subject_key, const char* common_name, int days, X509* issuer) {
  Cert cert(X509_new());
  unsigned char serial_bytes[kSerialBytes];
  if (!cert || RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) {
    return Internal("cannot start a TLS certificate: " + Reason());
  }
  serial_bytes[0] &= 0x7f;  // a positive serial number
  std::unique_ptr<BIGNUM, Deleter> serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  X509_set_version(cert.get(), 2);  // v3
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kSecondsPerDay);  // tolerate clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), days * kSecondsPerDay);
  X509_set_pubkey(cert.get(), subject_key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

Status Sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) {
    return Internal("cannot sign a TLS certificate: " + Reason());
  }
  return Status::Ok();
}

Result<std::pair<PKey, Cert>> NewCa() {
  auto key = NewKey();
  if (!key.ok()) return key.status();
  auto cert = NewCert(key->get(), kCaCommonName, kCaValidityDays, nullptr);
  if (!cert.ok()) return cert.status();
  X509* c = cert->get();
  ESCROW_RETURN_IF_ERROR(AddExtension(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  ESCROW_RETURN_IF_ERROR(AddExtension(c, c, NID_key_usage, "critical,keyCertSign,cRLSign"));
  ESCROW_RETURN_IF_ERROR(AddExtension(c, c, NID_subject_key_identifier, "hash"));
  ESCROW_RETURN_IF_ERROR(Sign(c, key->get()));
  return std::make_pair(std::move(key).value(), std::move(cert).value());
}

Result<std::pair<PKey, Cert>> NewServerCert(X509* ca, EVP_PKEY* ca_key,
                                            const std::vector<std::string>& names) {
  auto key = NewKey();
  if (!key.ok()) return key.status();
  auto cert = NewCert(key->get(), kServerCommonName, kServerCertValidityDays, ca);
  if (!cert.ok()) return cert.status();
  std::string san;
  for (const std::string& name : names) {
    san += san.empty() ? "" : ",";
    san += (IsIpAddress(name) ? "IP:" : "DNS:") + name;
  }
  X509* c = cert->get();
  ESCROW_RETURN_IF_ERROR(AddExtension(c, ca, NID_basic_constraints, "critical,CA:FALSE"));
  ESCROW_RETURN_IF_ERROR(AddExtension(c, ca, NID_key_usage, "critical,digitalSignature"));
  ESCROW_RETURN_IF_ERROR(AddExtension(c, ca, NID_ext_key_usage, "serverAuth"));
  ESCROW_RETURN_IF_ERROR(AddExtension(c, ca, NID_subject_alt_name, san));
  ESCROW_RETURN_IF_ERROR(AddExtension(c, ca, NID_authority_key_identifier, "keyid:always"));
  ESCROW_RETURN_IF_ERROR(Sign(c, ca_key));
  return std::make_pair(std::move(key).value(), std::move(cert).value());
}

// True when cert names every entry of names and is not close to expiry.
bool CertStillFits(X509* cert, const std::vector<std::string>& names) {
  time_t renew_at = std::time(nullptr) + static_cast<time_t>(kRenewBeforeDays) * kSecondsPerDay;
  if (X509_cmp_time(X509_get0_notAfter(cert), &renew_at) <= 0) return false;
  for (const std::string& name : names) {
    int match = IsIpAddress(name) ? X509_check_ip_asc(cert, name.c_str(), 0)
                                  : X509_check_host(cert, name.c_str(), name.size(), 0, nullptr);
    if (match != 1) return false;
  }
  return true;
}

Status WritePair(const std::string& key_path, EVP_PKEY* key, const std::string& cert_path,
                 X509* cert) {
  auto key_pem = KeyToPem(key);
  if (!key_pem.ok()) return key_pem.status();
  crypto::SecretString secret(std::move(key_pem).value());
  ESCROW_RETURN_IF_ERROR(ledger::WriteSecretFile(key_path, secret.str()));
  auto cert_pem = CertToPem(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  return ledger::WriteSecretFile(cert_path, *cert_pem);
}

}  // namespace

Result<ServerTls> EnsureLocalCertificates(const std::string& keys_dir,
                                          const std::vector<std::string>& extra_names) {
  ESCROW_RETURN_IF_ERROR(ledger::EnsurePrivateDir(keys_dir));
  const std::string ca_cert_path = keys_dir + "/" + kCaCertFile;
  const std::string ca_key_path = keys_dir + "/" + kCaKeyFile;
  ServerTls files{keys_dir + "/" + kServerCertFile, keys_dir + "/" + kServerKeyFile};

  std::vector<std::string> names(std::begin(kDefaultNames), std::end(kDefaultNames));
  for (const std::string& name : extra_names) {
    if (!name.empty()) names.push_back(name);
  }

  // Step 1: the CA, created once.
  PKey ca_key;
  Cert ca_cert;
  if (ledger::FileExists(ca_cert_path) && ledger::FileExists(ca_key_path)) {
    auto key = ReadKey(ca_key_path);
    if (!key.ok()) return key.status();
    auto cert = ReadCert(ca_cert_path);
    if (!cert.ok()) return cert.status();
    ca_key = std::move(key).value();
    ca_cert = std::move(cert).value();
  } else {
    auto ca = NewCa();
    if (!ca.ok()) return ca.status();
    ESCROW_RETURN_IF_ERROR(WritePair(ca_key_path, ca->first.get(), ca_cert_path, ca->second.get()));
    ca_key = std::move(ca->first);
    ca_cert = std::move(ca->second);
    Logger("tls")->info("created a local certificate authority in {}", ca_cert_path);
  }

  // Step 2: the server certificate, reissued when it no longer fits.
  if (ledger::FileExists(files.cert_chain_file) && ledger::FileExists(files.private_key_file)) {
    auto cert = ReadCert(files.cert_chain_file);
    if (cert.ok() && CertStillFits(cert->get(), names)) return files;
  }
  auto server = NewServerCert(ca_cert.get(), ca_key.get(), names);
  if (!server.ok()) return server.status();
  ESCROW_RETURN_IF_ERROR(WritePair(files.private_key_file, server->first.get(),
                                   files.cert_chain_file, server->second.get()));
  std::string listed;
  for (const std::string& name : names) listed += (listed.empty() ? "" : ", ") + name;
  Logger("tls")->info("issued a server certificate for {} in {}", listed, files.cert_chain_file);
  return files;
}

}  // namespace escrow::http
