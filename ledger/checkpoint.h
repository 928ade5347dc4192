// Signed checkpoints in the C2SP tlog-checkpoint format, signed as a C2SP
// signed note with the ledger's Ed25519 key.
//
// Note text (every line ends with "\n"):
//
//   <origin>                       e.g. "escrow-ledger/ed25519:1a2b3c4d5e6f7081"
//   <tree size>                    decimal
//   <root hash>                    standard base64 of the 32-byte RFC 9162 root
//   time <unix nanoseconds>        extension line: server time of signing
//   state <base64 SHA-256>         extension line: projection state digest at that size
//
// followed by one empty line and the signature line
//
//   "— " <key name> " " base64(key hash (4 bytes) ‖ Ed25519 signature (64 bytes))
//
// where the signature covers the note text above (up to and including its last
// "\n"), key hash = SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key)[0:4] and the
// key name is the origin. The checkpoints column family maps the tree size
// (8 bytes, big-endian) to the whole signed note.
//
// Thread safety: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/keys.h"
#include "ledger/status.h"

namespace escrow::ledger {

struct Checkpoint {
  std::string origin;
  uint64_t tree_size = 0;
  std::string root_hash;          // 32 bytes
  int64_t time_ns = 0;
  std::string projection_digest;  // 32 bytes, or empty when not computed
};

// Returns the note text (without the signature block).
std::string CheckpointText(const Checkpoint& checkpoint);

// Returns the 4-byte signed-note key hash of an Ed25519 key.
std::string NoteKeyHash(std::string_view key_name, std::string_view public_key);

// Returns the verifier key string "<name>+<hex key hash>+<base64(0x01 ‖ public key)>".
std::string NoteVerifierKey(std::string_view key_name, std::string_view public_key);

// Signs text as a signed note: text, an empty line, the signature line.
Result<std::string> SignNote(std::string_view text, std::string_view key_name,
                             const SigningKey& key);

// Checks a signed note's signature by key_name/public_key and returns its text.
Result<std::string> OpenNote(std::string_view note, std::string_view key_name,
                             std::string_view public_key);

// Parses checkpoint text produced by CheckpointText.
Result<Checkpoint> ParseCheckpointText(std::string_view text);

// Returns the default origin line for a ledger signed by key.
std::string CheckpointOrigin(const SigningKey& key);
std::string CheckpointOrigin(std::string_view public_key);

}  // namespace escrow::ledger
