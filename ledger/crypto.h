// Thin wrappers over OpenSSL 3 for the primitives Escrow Ledger uses.
//
// Byte strings are std::string. Functions that can fail on bad input return
// Result; failures of the random generator abort, because no caller can
// continue safely without randomness.
//
// Thread safety: every function is safe to call from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "ledger/status.h"

namespace escrow::crypto {

constexpr size_t kSha256Size = 32;
constexpr size_t kEd25519KeySize = 32;
constexpr size_t kEd25519SignatureSize = 64;
constexpr size_t kX25519KeySize = 32;
constexpr size_t kAesKeySize = 32;
constexpr size_t kGcmNonceSize = 12;
constexpr size_t kGcmTagSize = 16;

// A std::string whose bytes are overwritten with OPENSSL_cleanse when it is
// destroyed or reassigned. Use it for passwords, keys and tokens.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string s) : s_(std::move(s)) {}
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  SecretString(SecretString&& o) noexcept : s_(std::move(o.s_)) { o.Wipe(); }
  SecretString& operator=(SecretString&& o) noexcept;
  ~SecretString() { Wipe(); }

  const std::string& str() const { return s_; }
  std::string& mutable_str() { return s_; }
  std::string_view view() const { return s_; }
  size_t size() const { return s_.size(); }
  bool empty() const { return s_.empty(); }
  void Wipe();

 private:
  std::string s_;
};

// Overwrites the bytes of s with zeros (OPENSSL_cleanse) and clears it.
void Cleanse(std::string& s);

// Compares in time that depends only on the lengths.
bool ConstantTimeEqual(std::string_view a, std::string_view b);

std::string Sha256(std::string_view data);
// Returns SHA-256 of the concatenation of parts, without building it.
std::string Sha256Concat(std::initializer_list<std::string_view> parts);

// A SHA-256 digest held by value, for hot loops that must not allocate.
using Sha256Digest = std::array<char, kSha256Size>;

// Same as Sha256Concat, returned by value.
Sha256Digest Sha256ConcatDigest(std::initializer_list<std::string_view> parts);

// Views the digest's bytes.
inline std::string_view View(const Sha256Digest& digest) {
  return std::string_view(digest.data(), digest.size());
}

// Incremental SHA-256 for inputs too large to concatenate.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view data);
  // Returns the 32-byte digest; the stream cannot be updated afterwards.
  std::string Finish();

 private:
  void* ctx_;  // EVP_MD_CTX*, owned
};
std::string RandomBytes(size_t n);

// Returns n decimal digits drawn uniformly (rejection sampling, no modulo bias).
SecretString RandomDigits(size_t n);

struct KeyPair {
  SecretString private_key;  // 32-byte raw private key (Ed25519 seed or X25519 scalar)
  std::string public_key;    // 32-byte raw public key
};

KeyPair GenerateEd25519();
Result<std::string> Ed25519PublicFromPrivate(std::string_view private_key);
Result<std::string> Ed25519Sign(std::string_view private_key, std::string_view message);
bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature);

// An Ed25519 key parsed once, for signing or verifying many messages. OpenSSL
// derives the public point when a raw private key is loaded, which costs
// about as much as a signature, so hot paths keep one of these.
class Ed25519Key {
 public:
  static Result<Ed25519Key> FromPrivate(std::string_view private_key);
  static Result<Ed25519Key> FromPublic(std::string_view public_key);
  Ed25519Key(Ed25519Key&&) noexcept;
  Ed25519Key& operator=(Ed25519Key&&) noexcept;
  ~Ed25519Key();

  // Fails when the key holds only a public half.
  Result<std::string> Sign(std::string_view message) const;
  bool Verify(std::string_view message, std::string_view signature) const;

 private:
  Ed25519Key() = default;
  void* pkey_ = nullptr;  // EVP_PKEY*, owned
  bool has_private_ = false;
};

KeyPair GenerateX25519();
Result<std::string> X25519PublicFromPrivate(std::string_view private_key);
// Returns the 32-byte X25519 shared secret.
Result<SecretString> X25519(std::string_view private_key, std::string_view peer_public);

Result<SecretString> HkdfSha256(std::string_view ikm, std::string_view salt,
                                std::string_view info, size_t length);

// Returns ciphertext followed by the 16-byte tag.
Result<std::string> Aes256GcmSeal(std::string_view key, std::string_view nonce,
                                  std::string_view aad, std::string_view plaintext);
// Takes ciphertext followed by the tag; fails with kUnauthenticated on a bad tag.
Result<SecretString> Aes256GcmOpen(std::string_view key, std::string_view nonce,
                                   std::string_view aad, std::string_view sealed);

Result<SecretString> Scrypt(std::string_view password, std::string_view salt, uint64_t n,
                            uint64_t r, uint64_t p, size_t length);

std::string HexEncode(std::string_view bytes);
Result<std::string> HexDecode(std::string_view hex);
std::string Base64Encode(std::string_view bytes);
// Accepts standard base64 with padding; rejects whitespace and other alphabets.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace escrow::crypto
