// Key files in DATA_DIR/keys/: the ledger signing keys and the master key.
//
//   keys/ledger-signing.key      hex Ed25519 private key of the signing key in
//                                force; replaced (rename) when a rotation commits
//   keys/ledger-signing.pub      hex Ed25519 public key of the FIRST signing key:
//                                the auditor's trust anchor, never replaced
//   keys/ledger-signing.history  every signing key in the order it came into
//                                force, one line each: "<key id> <hex public key>
//                                <seq>", where seq is the SigningKeyRotated entry
//                                that handed over to the key (0 for the first
//                                key, and for a rotation finished at a restart
//                                after later entries)
//   keys/ledger-signing.next     hex private key of a rotation in progress: written
//                                before its SigningKeyRotated entry is appended,
//                                renamed over ledger-signing.key once the entry
//                                commits, deleted when the entry does not commit
//   keys/master.key              the AES-256 key that wraps per-device escrow keys:
//                                64 hex digits, or passphrase-protected (below)
//
// The signing key in force is the one the ledger itself names: the new key of
// the head entry when that entry is a SigningKeyRotated, otherwise the head
// entry's key_id. Sequencer::Start compares it with ledger-signing.key and
// finishes a rotation whose entry committed before ledger-signing.next was
// renamed. A data directory made before rotations existed has no history
// file; ReadSigningKeyHistory then returns the first key alone.
//
// A passphrase-protected master.key (ESCROW_MASTER_PASSPHRASE) is three lines
// of ASCII text:
//
//   escrow-master-key-protected v1
//   kdf scrypt n=<N> r=<r> p=<p> salt=<32 hex digits>
//   aead aes-256-gcm nonce=<24 hex digits> sealed=<96 hex digits>
//
// The key-encryption key is scrypt(passphrase, salt, N, r, p) with a 32-byte
// output. sealed is AES-256-GCM(key-encryption key, nonce) over the 32-byte
// master key followed by the 16-byte tag, with the first two lines (each
// ending in "\n") as additional data, so the KDF parameters cannot be changed
// without failing the tag.
//
// Every key file is created 0600 through a temporary file, fsync and rename,
// whatever the umask; the folder is 0700.
//
// Thread safety: SigningKey and MasterKey are immutable after loading and
// safe to share between threads. The file functions are not safe to run
// concurrently on one keys folder: escrowd calls them only from the sequencer
// thread (rotation) or before it starts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/status.h"

namespace escrow::ledger {

// Creates dir (and parents) with mode 0700 if missing, and sets 0700 on it.
Status EnsurePrivateDir(const std::string& dir);
// Writes bytes to path through a temporary file and rename, mode 0600.
Status WriteSecretFile(const std::string& path, std::string_view bytes);
Result<std::string> ReadFile(const std::string& path);
bool FileExists(const std::string& path);
// Reads a key file of exactly `size` bytes written as hex (one line).
Result<crypto::SecretString> ReadHexKeyFile(const std::string& path, size_t size);
// Writes key as one line of hex with WriteSecretFile.
Status WriteHexKeyFile(const std::string& path, std::string_view key);

// Returns "ed25519:" followed by the first 8 bytes of SHA-256(public_key) in hex.
std::string KeyIdOf(std::string_view public_key);

class SigningKey {
 public:
  // Loads keys/ledger-signing.key. Creates it, the .pub file and the history
  // file when none of them exists. Fails when the .pub file exists without
  // the key, because a new key would silently replace the trust anchor.
  static Result<SigningKey> LoadOrCreate(const std::string& keys_dir);
  // Loads keys/ledger-signing.key; never creates it.
  static Result<SigningKey> Load(const std::string& keys_dir);
  static SigningKey FromPrivate(crypto::SecretString private_key);
  static SigningKey Generate();

  // Returns a copy with its own copy of the private key.
  SigningKey Clone() const;

  const std::string& key_id() const { return key_id_; }
  const std::string& public_key() const { return public_key_; }
  Result<std::string> Sign(std::string_view message) const;

 private:
  friend Status WriteNextSigningKey(const std::string& keys_dir, const SigningKey& key);
  crypto::SecretString private_key_;
  std::shared_ptr<crypto::Ed25519Key> parsed_;  // parsed once; signing is the hot path
  std::string public_key_;
  std::string key_id_;
};

// Finds a signing key that this process has loaded, by key id. Returns null
// when there is none with that id.
using SigningKeyLookup = std::function<std::shared_ptr<const SigningKey>(std::string_view)>;

// Reads the trusted ledger public key from keys/ledger-signing.pub.
Result<std::string> LoadLedgerPublicKey(const std::string& keys_dir);

// One line of keys/ledger-signing.history.
struct SigningKeyRecord {
  std::string key_id;
  std::string public_key;  // 32 bytes
  uint64_t rotation_seq = 0;  // 0 for the first key
};

// Reads keys/ledger-signing.history, oldest key first; without that file,
// returns the key of keys/ledger-signing.pub alone.
Result<std::vector<SigningKeyRecord>> ReadSigningKeyHistory(const std::string& keys_dir);

// Rotation steps, in order (Sequencer::AppendKeyRotation runs them):
// WriteNextSigningKey before the SigningKeyRotated entry is appended, then
// CommitNextSigningKey once it committed or DiscardNextSigningKey when not.
Status WriteNextSigningKey(const std::string& keys_dir, const SigningKey& key);
// Appends key to the history with rotation_seq and renames
// ledger-signing.next over ledger-signing.key. Fails when the .next file does
// not contain key.
Status CommitNextSigningKey(const std::string& keys_dir, const SigningKey& key,
                            uint64_t rotation_seq);
void DiscardNextSigningKey(const std::string& keys_dir);
// Loads ledger-signing.next when it contains the key key_id, commits it as the
// key handed over by the entry rotation_seq and returns it. Fails with
// kNotFound when there is no such file or it contains another key.
Result<SigningKey> RecoverNextSigningKey(const std::string& keys_dir, std::string_view key_id,
                                         uint64_t rotation_seq);

// The environment variable that contains the master key passphrase.
constexpr const char* kMasterPassphraseEnv = "ESCROW_MASTER_PASSPHRASE";
// scrypt parameters for newly protected master key files: N = 2^17 costs
// 128 MiB of memory per attempt (128 * N * r bytes).
constexpr uint64_t kMasterKdfN = uint64_t{1} << 17;
constexpr uint64_t kMasterKdfR = 8;
constexpr uint64_t kMasterKdfP = 1;
constexpr size_t kMasterKdfSaltSize = 16;
// Bounds on the parameters read from a file. N below 2^15 is too cheap to
// slow down guessing. The upper bounds keep 128 * N * r within the 512 MiB
// memory limit of crypto::Scrypt.
constexpr uint64_t kMinMasterKdfN = uint64_t{1} << 15;
constexpr uint64_t kMaxMasterKdfN = uint64_t{1} << 18;
constexpr uint64_t kMaxMasterKdfR = 8;
constexpr uint64_t kMaxMasterKdfP = 4;
// A new passphrase must have at least this many bytes.
constexpr size_t kMinMasterPassphraseSize = 8;

class MasterKey {
 public:
  // Reads the passphrase from $ESCROW_MASTER_PASSPHRASE (absent means none)
  // and calls the overload below.
  static Result<MasterKey> LoadOrCreate(const std::string& keys_dir);
  // Loads keys/master.key, creating it when missing: protected when a
  // passphrase is given, plain hex otherwise. Fails when the file is
  // protected and no passphrase is given (the message names
  // ESCROW_MASTER_PASSPHRASE), when the passphrase is wrong, and when a
  // passphrase is given for a plain file (escrowctl protect-master-key
  // converts it).
  static Result<MasterKey> LoadOrCreate(const std::string& keys_dir,
                                        const crypto::SecretString* passphrase);
  static MasterKey FromBytes(crypto::SecretString key);

  // Returns nonce ‖ AES-256-GCM(ciphertext ‖ tag) of plaintext, bound to aad.
  Result<std::string> Wrap(std::string_view aad, std::string_view plaintext) const;
  Result<crypto::SecretString> Unwrap(std::string_view aad, std::string_view wrapped) const;

 private:
  crypto::SecretString key_;
};

// Returns whether keys/master.key exists and is passphrase-protected.
Result<bool> IsMasterKeyProtected(const std::string& keys_dir);

// Rewrites a plain keys/master.key in the protected format under passphrase
// (same key, so every wrapped escrow key stays readable). Fails when the file
// is missing or already protected, or the passphrase is shorter than
// kMinMasterPassphraseSize.
Status ProtectMasterKey(const std::string& keys_dir, const crypto::SecretString& passphrase);

}  // namespace escrow::ledger
