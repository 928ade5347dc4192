// MasterKey and the passphrase-protected master.key format (ledger/keys.h).
#include <cstdlib>
#include <string>
#include <vector>

#include "ledger/keys.h"

namespace escrow::ledger {
namespace {

constexpr const char* kMasterKeyFile = "master.key";
constexpr std::string_view kMasterKeyAadPrefix = "escrow-master-wrap v1";
constexpr std::string_view kProtectedHeader = "escrow-master-key-protected v1";

std::string MasterKeyPath(const std::string& keys_dir) { return keys_dir + "/" + kMasterKeyFile; }

// The parsed protected file: the additional data (the first two lines) and
// the fields needed to open it.
struct ProtectedFile {
  std::string aad;
  uint64_t n = 0;
  uint64_t r = 0;
  uint64_t p = 0;
  std::string salt;
  std::string nonce;
  std::string sealed;
};

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return lines;
}

// Returns the value of "name=value" in a space-separated line, or "".
std::string_view Field(std::string_view line, std::string_view name) {
  std::string key = " " + std::string(name) + "=";
  size_t at = line.find(key);
  if (at == std::string_view::npos) return {};
  std::string_view value = line.substr(at + key.size());
  return value.substr(0, value.find(' '));
}

bool ParseUint(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  std::string copy(text);
  char* end = nullptr;
  out = std::strtoull(copy.c_str(), &end, 10);
  return *end == '\0';
}

Result<ProtectedFile> ParseProtected(const std::string& path, std::string_view text) {
  auto invalid = [&path](const std::string& what) {
    return InvalidArgument(path + " is not a valid protected master key file: " + what);
  };
  std::vector<std::string_view> lines = Lines(text);
  if (lines.size() < 3 || lines[0] != kProtectedHeader) return invalid("bad header");
  if (lines[1].substr(0, 11) != "kdf scrypt ") return invalid("line 2 must start with \"kdf scrypt\"");
  if (lines[2].substr(0, 16) != "aead aes-256-gcm") {
    return invalid("line 3 must start with \"aead aes-256-gcm\"");
  }

  ProtectedFile file;
  file.aad = std::string(lines[0]) + "\n" + std::string(lines[1]) + "\n";
  if (!ParseUint(Field(lines[1], "n"), file.n) || !ParseUint(Field(lines[1], "r"), file.r) ||
      !ParseUint(Field(lines[1], "p"), file.p)) {
    return invalid("n, r and p must be decimal numbers");
  }
  bool power_of_two = (file.n & (file.n - 1)) == 0;
  if (!power_of_two || file.n < kMinMasterKdfN || file.n > kMaxMasterKdfN || file.r == 0 ||
      file.r > kMaxMasterKdfR || file.p == 0 || file.p > kMaxMasterKdfP) {
    return invalid("scrypt parameters n=" + std::to_string(file.n) + " r=" +
                   std::to_string(file.r) + " p=" + std::to_string(file.p) + " are out of range");
  }
  auto salt = crypto::HexDecode(Field(lines[1], "salt"));
  auto nonce = crypto::HexDecode(Field(lines[2], "nonce"));
  auto sealed = crypto::HexDecode(Field(lines[2], "sealed"));
  if (!salt.ok() || salt->size() != kMasterKdfSaltSize) return invalid("bad salt");
  if (!nonce.ok() || nonce->size() != crypto::kGcmNonceSize) return invalid("bad nonce");
  if (!sealed.ok() || sealed->size() != crypto::kAesKeySize + crypto::kGcmTagSize) {
    return invalid("bad sealed key");
  }
  file.salt = std::move(*salt);
  file.nonce = std::move(*nonce);
  file.sealed = std::move(*sealed);
  return file;
}

bool LooksProtected(std::string_view text) {
  return text.substr(0, kProtectedHeader.size()) == kProtectedHeader;
}

// Returns the protected file text for key under passphrase, with fresh salt and nonce.
Result<std::string> SealMasterKey(std::string_view key, const crypto::SecretString& passphrase) {
  std::string salt = crypto::RandomBytes(kMasterKdfSaltSize);
  std::string nonce = crypto::RandomBytes(crypto::kGcmNonceSize);
  std::string aad = std::string(kProtectedHeader) + "\nkdf scrypt n=" +
                    std::to_string(kMasterKdfN) + " r=" + std::to_string(kMasterKdfR) +
                    " p=" + std::to_string(kMasterKdfP) + " salt=" + crypto::HexEncode(salt) +
                    "\n";
  auto kek = crypto::Scrypt(passphrase.view(), salt, kMasterKdfN, kMasterKdfR, kMasterKdfP,
                            crypto::kAesKeySize);
  if (!kek.ok()) return kek.status();
  auto sealed = crypto::Aes256GcmSeal(kek->view(), nonce, aad, key);
  if (!sealed.ok()) return sealed.status();
  return aad + "aead aes-256-gcm nonce=" + crypto::HexEncode(nonce) +
         " sealed=" + crypto::HexEncode(*sealed) + "\n";
}

Result<crypto::SecretString> OpenMasterKey(const std::string& path, std::string_view text,
                                           const crypto::SecretString& passphrase) {
  auto file = ParseProtected(path, text);
  if (!file.ok()) return file.status();
  auto kek = crypto::Scrypt(passphrase.view(), file->salt, file->n, file->r, file->p,
                            crypto::kAesKeySize);
  if (!kek.ok()) return kek.status();
  auto key = crypto::Aes256GcmOpen(kek->view(), file->nonce, file->aad, file->sealed);
  if (!key.ok()) {
    return Unauthenticated("cannot decrypt " + path + ": the passphrase in " +
                           kMasterPassphraseEnv + " is wrong, or the file is damaged");
  }
  return key;
}

Status CheckNewPassphrase(const crypto::SecretString& passphrase) {
  if (passphrase.size() < kMinMasterPassphraseSize) {
    return InvalidArgument(std::string(kMasterPassphraseEnv) + " must be at least " +
                           std::to_string(kMinMasterPassphraseSize) + " bytes long");
  }
  return Status::Ok();
}

}  // namespace

Result<MasterKey> MasterKey::LoadOrCreate(const std::string& keys_dir) {
  const char* env = std::getenv(kMasterPassphraseEnv);
  if (env == nullptr) return LoadOrCreate(keys_dir, nullptr);
  crypto::SecretString passphrase{std::string(env)};
  if (passphrase.empty()) {
    return InvalidArgument(std::string(kMasterPassphraseEnv) +
                           " is set but empty; set a passphrase or unset it");
  }
  return LoadOrCreate(keys_dir, &passphrase);
}

Result<MasterKey> MasterKey::LoadOrCreate(const std::string& keys_dir,
                                          const crypto::SecretString* passphrase) {
  ESCROW_RETURN_IF_ERROR(EnsurePrivateDir(keys_dir));
  std::string path = MasterKeyPath(keys_dir);

  // Step 1: first start: a new key, protected when there is a passphrase.
  if (!FileExists(path)) {
    crypto::SecretString key(crypto::RandomBytes(crypto::kAesKeySize));
    if (passphrase == nullptr) {
      ESCROW_RETURN_IF_ERROR(WriteHexKeyFile(path, key.view()));
    } else {
      ESCROW_RETURN_IF_ERROR(CheckNewPassphrase(*passphrase));
      auto text = SealMasterKey(key.view(), *passphrase);
      if (!text.ok()) return text.status();
      ESCROW_RETURN_IF_ERROR(WriteSecretFile(path, *text));
    }
  }

  // Step 2: the file's format must match whether a passphrase is given.
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  crypto::SecretString contents(std::move(*text));
  bool is_protected = LooksProtected(contents.view());
  if (is_protected && passphrase == nullptr) {
    return FailedPrecondition(path + " is protected by a passphrase; set " +
                              kMasterPassphraseEnv + " to start");
  }
  if (!is_protected && passphrase != nullptr) {
    return FailedPrecondition(std::string(kMasterPassphraseEnv) + " is set but " + path +
                              " is not protected by a passphrase; run escrowctl "
                              "protect-master-key --data-dir DIR to protect it, or unset " +
                              kMasterPassphraseEnv);
  }

  // Step 3: decode or decrypt.
  if (!is_protected) {
    auto key = ReadHexKeyFile(path, crypto::kAesKeySize);
    if (!key.ok()) return key.status();
    return FromBytes(std::move(*key));
  }
  auto key = OpenMasterKey(path, contents.view(), *passphrase);
  if (!key.ok()) return key.status();
  return FromBytes(std::move(*key));
}

Result<bool> IsMasterKeyProtected(const std::string& keys_dir) {
  auto text = ReadFile(MasterKeyPath(keys_dir));
  if (!text.ok()) return text.status();
  crypto::SecretString contents(std::move(*text));
  return LooksProtected(contents.view());
}

Status ProtectMasterKey(const std::string& keys_dir, const crypto::SecretString& passphrase) {
  ESCROW_RETURN_IF_ERROR(CheckNewPassphrase(passphrase));
  std::string path = MasterKeyPath(keys_dir);
  auto is_protected = IsMasterKeyProtected(keys_dir);
  if (!is_protected.ok()) return is_protected.status();
  if (*is_protected) return FailedPrecondition(path + " is already protected by a passphrase");

  // Seal the same key, write it, and check that it opens before returning.
  auto key = ReadHexKeyFile(path, crypto::kAesKeySize);
  if (!key.ok()) return key.status();
  auto text = SealMasterKey(key->view(), passphrase);
  if (!text.ok()) return text.status();
  ESCROW_RETURN_IF_ERROR(WriteSecretFile(path, *text));
  auto reopened = OpenMasterKey(path, *text, passphrase);
  if (!reopened.ok()) return reopened.status();
  if (!crypto::ConstantTimeEqual(reopened->view(), key->view())) {
    return Internal(path + " does not decrypt to the original key after protecting it");
  }
  return Status::Ok();
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
