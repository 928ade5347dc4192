// Recovery password envelope and per-device escrow keys.
//
// The device seals the 20 digits to the device's X25519 escrow public key:
//   shared = X25519(ephemeral_private, escrow_public)
//   k      = HKDF-SHA256(shared, salt = eph_pub ‖ escrow_pub,
//                        info = "recovery-password v1" ‖ device_id ‖ g)
//   sealed = AES-256-GCM(k, nonce, aad = device_id ‖ g, digits)
// where g is the generation as 8 bytes big-endian. Envelope bytes:
//
//   offset  size  field
//   0       1     version = 1
//   1       32    eph_pub
//   33      12    nonce
//   45      20    ciphertext (the 20 ASCII digits)
//   65      16    tag
//
// JSON carries the envelope as standard base64.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/crypto.h"
#include "ledger/keys.h"
#include "ledger/status.h"

namespace escrow::ledger {

constexpr uint8_t kEnvelopeVersion = 1;
constexpr size_t kRecoveryPasswordDigits = 20;
constexpr size_t kEnvelopeSize = 1 + 32 + 12 + kRecoveryPasswordDigits + 16;

// Device side: seals digits (exactly 20 ASCII digits) for device_id and generation.
Result<std::string> SealRecoveryPassword(std::string_view escrow_public_key,
                                         std::string_view device_id, uint64_t generation,
                                         std::string_view digits);

// Server side: opens an envelope. Fails with kUnauthenticated when the key,
// device id or generation does not match what was sealed.
Result<crypto::SecretString> OpenRecoveryPassword(std::string_view escrow_private_key,
                                                  std::string_view device_id,
                                                  uint64_t generation,
                                                  std::string_view envelope);

// Checks the envelope's shape (size, version) without opening it.
Status CheckEnvelopeShape(std::string_view envelope);

// Returns "12345-67890-12345-67890" for 20 digits.
crypto::SecretString FormatRecoveryPassword(std::string_view digits);
// Accepts 20 digits with or without '-' or ' ' separators; returns the bare digits.
Result<crypto::SecretString> ParseRecoveryPassword(std::string_view input);

// Per-device escrow key: a fresh X25519 key pair whose private half is
// wrapped by the master key (AAD = "escrow-key v1" ‖ key id).
struct EscrowKey {
  std::string key_id;      // "x25519:" + hex of the first 8 bytes of SHA-256(public)
  std::string public_key;  // 32 bytes
  std::string wrapped_private;  // value stored in the keystore CF under key_id
};
Result<EscrowKey> CreateEscrowKey(const MasterKey& master);
Result<crypto::SecretString> UnwrapEscrowKey(const MasterKey& master, std::string_view key_id,
                                             std::string_view wrapped_private);

}  // namespace escrow::ledger
