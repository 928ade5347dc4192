// Key files in DATA_DIR/keys/: the ledger signing key and the master key.
//
//   keys/ledger-signing.key   hex Ed25519 private key (32 bytes), mode 0600
//   keys/ledger-signing.pub   hex Ed25519 public key, the auditor's trust anchor
//   keys/master.key           hex AES-256 key that wraps per-device escrow keys, 0600
//
// Both keys are created on first start. The folder is 0700 and files are
// created 0600 whatever the umask.
//
// Thread safety: SigningKey and MasterKey are immutable after loading and
// safe to share between threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ledger/crypto.h"
#include "ledger/status.h"

namespace escrow::ledger {

// Creates dir (and parents) with mode 0700 if missing, and sets 0700 on it.
Status EnsurePrivateDir(const std::string& dir);
// Writes bytes to path through a temporary file and rename, mode 0600.
Status WriteSecretFile(const std::string& path, std::string_view bytes);
Result<std::string> ReadFile(const std::string& path);
bool FileExists(const std::string& path);

// Returns "ed25519:" followed by the first 8 bytes of SHA-256(public_key) in hex.
std::string KeyIdOf(std::string_view public_key);

class SigningKey {
 public:
  // Loads keys/ledger-signing.key, creating it (and the .pub file) if absent.
  static Result<SigningKey> LoadOrCreate(const std::string& keys_dir);
  static SigningKey FromPrivate(crypto::SecretString private_key);

  const std::string& key_id() const { return key_id_; }
  const std::string& public_key() const { return public_key_; }
  Result<std::string> Sign(std::string_view message) const;

 private:
  crypto::SecretString private_key_;
  std::shared_ptr<crypto::Ed25519Key> parsed_;  // parsed once; signing is the hot path
  std::string public_key_;
  std::string key_id_;
};

// Reads the trusted ledger public key from keys/ledger-signing.pub.
Result<std::string> LoadLedgerPublicKey(const std::string& keys_dir);

class MasterKey {
 public:
  static Result<MasterKey> LoadOrCreate(const std::string& keys_dir);
  static MasterKey FromBytes(crypto::SecretString key);

  // Returns nonce ‖ AES-256-GCM(ciphertext ‖ tag) of plaintext, bound to aad.
  Result<std::string> Wrap(std::string_view aad, std::string_view plaintext) const;
  Result<crypto::SecretString> Unwrap(std::string_view aad, std::string_view wrapped) const;

 private:
  crypto::SecretString key_;
};

}  // namespace escrow::ledger
