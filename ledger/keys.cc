#include "ledger/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace escrow::ledger {
namespace {

constexpr const char* kSigningKeyFile = "ledger-signing.key";
constexpr const char* kSigningPubFile = "ledger-signing.pub";
constexpr const char* kSigningHistoryFile = "ledger-signing.history";
constexpr const char* kSigningNextFile = "ledger-signing.next";

std::string Errno() { return std::strerror(errno); }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string HistoryText(const std::vector<SigningKeyRecord>& records) {
  std::string text;
  for (const auto& r : records) {
    text += r.key_id + " " + crypto::HexEncode(r.public_key) + " " +
            std::to_string(r.rotation_seq) + "\n";
  }
  return text;
}

Status WriteHistory(const std::string& keys_dir, const std::vector<SigningKeyRecord>& records) {
  return WriteSecretFile(keys_dir + "/" + kSigningHistoryFile, HistoryText(records));
}

// Parses one history line "<key id> <hex public key> <seq>".
Result<SigningKeyRecord> ParseHistoryLine(const std::string& path, std::string_view line,
                                          size_t line_number) {
  std::string where = path + " line " + std::to_string(line_number);
  size_t first = line.find(' ');
  size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos) {
    return InvalidArgument(where + " must be \"<key id> <hex public key> <seq>\"");
  }
  SigningKeyRecord record;
  record.key_id = std::string(line.substr(0, first));
  auto public_key = crypto::HexDecode(line.substr(first + 1, second - first - 1));
  if (!public_key.ok() || public_key->size() != crypto::kEd25519KeySize ||
      KeyIdOf(*public_key) != record.key_id) {
    return InvalidArgument(where + ": the public key is invalid or does not match the key id");
  }
  record.public_key = std::move(*public_key);
  std::string seq(line.substr(second + 1));
  char* end = nullptr;
  record.rotation_seq = std::strtoull(seq.c_str(), &end, 10);
  if (seq.empty() || *end != '\0') return InvalidArgument(where + ": the seq is invalid");
  return record;
}

// Flushes a directory with fsync so that a rename in it survives a crash.
Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Unavailable("cannot open " + dir + ": " + Errno());
  bool ok = ::fsync(fd) == 0;
  std::string error = ok ? "" : Errno();
  ::close(fd);
  if (!ok) return Unavailable("cannot sync " + dir + ": " + error);
  return Status::Ok();
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

Result<crypto::SecretString> ReadHexKeyFile(const std::string& path, size_t size) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  crypto::SecretString hex(Trim(std::move(*text)));
  auto bytes = crypto::HexDecode(hex.view());
  if (!bytes.ok() || bytes->size() != size) {
    return InvalidArgument("key file " + path + " must contain " + std::to_string(size) +
                           " bytes in hex");
  }
  return crypto::SecretString(std::move(*bytes));
}

Status WriteHexKeyFile(const std::string& path, std::string_view key) {
  crypto::SecretString hex(crypto::HexEncode(key) + "\n");
  return WriteSecretFile(path, hex.view());
}

std::string KeyIdOf(std::string_view public_key) {
  return "ed25519:" + crypto::HexEncode(crypto::Sha256(public_key).substr(0, 8));
}

Result<SigningKey> SigningKey::LoadOrCreate(const std::string& keys_dir) {
  ESCROW_RETURN_IF_ERROR(EnsurePrivateDir(keys_dir));
  std::string key_path = keys_dir + "/" + kSigningKeyFile;
  std::string pub_path = keys_dir + "/" + kSigningPubFile;

  // First start: the first key is the trust anchor and the whole history.
  if (!FileExists(key_path)) {
    if (FileExists(pub_path)) {
      return FailedPrecondition(key_path + " is missing but " + pub_path +
                                " exists; restore the signing key file from a backup");
    }
    SigningKey key = Generate();
    ESCROW_RETURN_IF_ERROR(WriteHexKeyFile(key_path, key.private_key_.view()));
    ESCROW_RETURN_IF_ERROR(WriteSecretFile(pub_path, crypto::HexEncode(key.public_key()) + "\n"));
    ESCROW_RETURN_IF_ERROR(WriteHistory(keys_dir, {{key.key_id(), key.public_key(), 0}}));
  }

  auto priv = ReadHexKeyFile(key_path, crypto::kEd25519KeySize);
  if (!priv.ok()) return priv.status();
  return FromPrivate(std::move(*priv));
}

Result<SigningKey> SigningKey::Load(const std::string& keys_dir) {
  auto priv = ReadHexKeyFile(keys_dir + "/" + kSigningKeyFile, crypto::kEd25519KeySize);
  if (!priv.ok()) return priv.status();
  return FromPrivate(std::move(*priv));
}

SigningKey SigningKey::Generate() {
  return FromPrivate(std::move(crypto::GenerateEd25519().private_key));
}

SigningKey SigningKey::Clone() const {
  return FromPrivate(crypto::SecretString(private_key_.str()));
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

Result<std::vector<SigningKeyRecord>> ReadSigningKeyHistory(const std::string& keys_dir) {
  auto anchor = LoadLedgerPublicKey(keys_dir);
  if (!anchor.ok()) return anchor.status();
  std::string path = keys_dir + "/" + kSigningHistoryFile;
  if (!FileExists(path)) return std::vector<SigningKeyRecord>{{KeyIdOf(*anchor), *anchor, 0}};

  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::vector<SigningKeyRecord> records;
  std::string_view rest = *text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (line.empty()) continue;
    auto record = ParseHistoryLine(path, line, records.size() + 1);
    if (!record.ok()) return record.status();
    records.push_back(std::move(*record));
  }
  if (records.empty() || records.front().public_key != *anchor) {
    return InvalidArgument(path + " must start with the key of " + kSigningPubFile);
  }
  return records;
}

Status WriteNextSigningKey(const std::string& keys_dir, const SigningKey& key) {
  return WriteHexKeyFile(keys_dir + "/" + kSigningNextFile, key.private_key_.view());
}

Status CommitNextSigningKey(const std::string& keys_dir, const SigningKey& key,
                            uint64_t rotation_seq) {
  std::string next_path = keys_dir + "/" + kSigningNextFile;
  std::string key_path = keys_dir + "/" + kSigningKeyFile;

  // Step 1: the .next file must contain this key.
  auto next = ReadHexKeyFile(next_path, crypto::kEd25519KeySize);
  if (!next.ok()) return next.status();
  auto next_public = crypto::Ed25519PublicFromPrivate(next->view());
  if (!next_public.ok() || KeyIdOf(*next_public) != key.key_id()) {
    return FailedPrecondition(next_path + " does not contain the signing key " + key.key_id());
  }

  // Step 2: record the key in the history (once, so a retry after a crash
  // between the steps does not add it twice).
  auto history = ReadSigningKeyHistory(keys_dir);
  if (!history.ok()) return history.status();
  if (history->back().key_id != key.key_id()) {
    history->push_back({key.key_id(), key.public_key(), rotation_seq});
    ESCROW_RETURN_IF_ERROR(WriteHistory(keys_dir, *history));
  }

  // Step 3: the new key replaces the old private key on disk.
  if (::rename(next_path.c_str(), key_path.c_str()) != 0) {
    return Unavailable("cannot rename " + next_path + " to " + key_path + ": " + Errno());
  }
  return SyncDir(keys_dir);
}

void DiscardNextSigningKey(const std::string& keys_dir) {
  std::string next_path = keys_dir + "/" + kSigningNextFile;
  ::unlink(next_path.c_str());
}

Result<SigningKey> RecoverNextSigningKey(const std::string& keys_dir, std::string_view key_id,
                                         uint64_t rotation_seq) {
  std::string next_path = keys_dir + "/" + kSigningNextFile;
  if (!FileExists(next_path)) return NotFound(next_path + " does not exist");
  auto next = ReadHexKeyFile(next_path, crypto::kEd25519KeySize);
  if (!next.ok()) return next.status();
  SigningKey key = SigningKey::FromPrivate(std::move(*next));
  if (key.key_id() != key_id) {
    return NotFound(next_path + " contains the key " + key.key_id() + ", not " +
                    std::string(key_id));
  }
  ESCROW_RETURN_IF_ERROR(CommitNextSigningKey(keys_dir, key, rotation_seq));
  return key;
}

}  // namespace escrow::ledger
