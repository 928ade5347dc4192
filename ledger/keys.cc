#include "ledger/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace escrow::ledger {
namespace {

constexpr const char* kSigningKeyFile = "ledger-signing.key";
constexpr const char* kSigningPubFile = "ledger-signing.pub";
constexpr const char* kMasterKeyFile = "master.key";
constexpr std::string_view kMasterKeyAadPrefix = "escrow-master-wrap v1";

std::string Errno() { return std::strerror(errno); }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Reads a hex key file of exactly `size` bytes.
Result<crypto::SecretString> ReadHexKey(const std::string& path, size_t size) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  crypto::SecretString hex(Trim(std::move(*text)));
  auto bytes = crypto::HexDecode(hex.view());
  if (!bytes.ok() || bytes->size() != size) {
    return InvalidArgument("key file " + path + " must hold " + std::to_string(size) +
                           " bytes in hex");
  }
  return crypto::SecretString(std::move(*bytes));
}

Status WriteHexKey(const std::string& path, std::string_view key) {
  crypto::SecretString hex(crypto::HexEncode(key) + "\n");
  return WriteSecretFile(path, hex.view());
}

}  // namespace

Status EnsurePrivateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create directory " + dir + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) {
    return Unavailable("cannot set mode 0700 on " + dir + ": " + Errno());
  }
  return Status::Ok();
}

Status WriteSecretFile(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable("cannot create " + tmp + ": " + Errno());
  // open() applies the umask; fchmod sets 0600 whatever it was.
  bool ok = ::fchmod(fd, 0600) == 0;
  size_t written = 0;
  while (ok && written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else written += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  std::string error = ok ? "" : Errno();
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Unavailable("cannot write " + path + ": " + (error.empty() ? Errno() : error));
  }
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string KeyIdOf(std::string_view public_key) {
  return "ed25519:" + crypto::HexEncode(crypto::Sha256(public_key).substr(0, 8));
}

Result<SigningKey> SigningKey::LoadOrCreate(const std::string& keys_dir) {
  ESCROW_RETURN_IF_ERROR(EnsurePrivateDir(keys_dir));
  std::string key_path = keys_dir + "/" + kSigningKeyFile;
  std::string pub_path = keys_dir + "/" + kSigningPubFile;
  if (!FileExists(key_path)) {
    crypto::KeyPair pair = crypto::GenerateEd25519();
    ESCROW_RETURN_IF_ERROR(WriteHexKey(key_path, pair.private_key.view()));
    ESCROW_RETURN_IF_ERROR(WriteSecretFile(pub_path, crypto::HexEncode(pair.public_key) + "\n"));
  }
  auto priv = ReadHexKey(key_path, crypto::kEd25519KeySize);
  if (!priv.ok()) return priv.status();
  return FromPrivate(std::move(*priv));
}

SigningKey SigningKey::FromPrivate(crypto::SecretString private_key) {
  SigningKey key;
  key.public_key_ = crypto::Ed25519PublicFromPrivate(private_key.view()).value();
  key.key_id_ = KeyIdOf(key.public_key_);
  key.parsed_ = std::make_shared<crypto::Ed25519Key>(
      crypto::Ed25519Key::FromPrivate(private_key.view()).value());
  key.private_key_ = std::move(private_key);
  return key;
}

Result<std::string> SigningKey::Sign(std::string_view message) const {
  return parsed_->Sign(message);
}

Result<std::string> LoadLedgerPublicKey(const std::string& keys_dir) {
  std::string path = keys_dir + "/" + kSigningPubFile;
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto bytes = crypto::HexDecode(Trim(std::move(*text)));
  if (!bytes.ok() || bytes->size() != crypto::kEd25519KeySize) {
    return InvalidArgument(path + " must hold a 32-byte Ed25519 public key in hex");
  }
  return std::move(*bytes);
}

Result<MasterKey> MasterKey::LoadOrCreate(const std::string& keys_dir) {
  ESCROW_RETURN_IF_ERROR(EnsurePrivateDir(keys_dir));
  std::string path = keys_dir + "/" + kMasterKeyFile;
  if (!FileExists(path)) {
    crypto::SecretString key(crypto::RandomBytes(crypto::kAesKeySize));
    ESCROW_RETURN_IF_ERROR(WriteHexKey(path, key.view()));
  }
  auto key = ReadHexKey(path, crypto::kAesKeySize);
  if (!key.ok()) return key.status();
  return FromBytes(std::move(*key));
}

MasterKey MasterKey::FromBytes(crypto::SecretString key) {
  MasterKey master;
  master.key_ = std::move(key);
  return master;
}

Result<std::string> MasterKey::Wrap(std::string_view aad, std::string_view plaintext) const {
  std::string nonce = crypto::RandomBytes(crypto::kGcmNonceSize);
  std::string full_aad = std::string(kMasterKeyAadPrefix) + std::string(aad);
  auto sealed = crypto::Aes256GcmSeal(key_.view(), nonce, full_aad, plaintext);
  if (!sealed.ok()) return sealed.status();
  return nonce + *sealed;
}

Result<crypto::SecretString> MasterKey::Unwrap(std::string_view aad,
                                               std::string_view wrapped) const {
  if (wrapped.size() < crypto::kGcmNonceSize + crypto::kGcmTagSize) {
    return InvalidArgument("wrapped key is too short");
  }
  std::string full_aad = std::string(kMasterKeyAadPrefix) + std::string(aad);
  return crypto::Aes256GcmOpen(key_.view(), wrapped.substr(0, crypto::kGcmNonceSize), full_aad,
                               wrapped.substr(crypto::kGcmNonceSize));
}

}  // namespace escrow::ledger
