// Ledger entry: the unit the ledger stores, hashes and signs.
//
// The stored bytes are the signed bytes. Verification hashes exactly what is
// stored and never re-encodes a parsed entry. Integers are big-endian; a
// "bytes" field is a uint32 big-endian length followed by that many bytes.
//
//   offset  size   field
//   ------  -----  -------------------------------------------------------------
//   0       2      format_version  uint16, currently 1
//   2       8      seq             uint64, 1, 2, 3, ... without gaps
//   10      32     prev_hash       leaf hash of entry seq-1; 32 zero bytes for seq 1
//   42      8      time            int64, server time in Unix nanoseconds
//   50      2      type            uint16, EventType (ledger/events.h)
//   52      2      schema_version  uint16, version of the payload layout for type
//   54      1      actor_kind      uint8, ActorKind: 0 system, 1 device, 2 account
//   55      4+n    actor_id        bytes, UTF-8 (device id or account name; "" for system)
//   ...     4+n    subject         bytes, UTF-8 (device id, account name or "policy")
//   ...     4+n    payload         bytes, cereal portable binary of the typed event
//   ...     4+n    origin_request  bytes, for device events the signed HTTP request
//                                  exactly as received ("" otherwise)
//   ...     4+n    origin_sig      bytes, the device's Ed25519 signature over
//                                  origin_request ("" otherwise)
//   ...     4+n    key_id          bytes, ASCII id of the ledger signing key
//   ------  -----  --------------------- end of the signed body ------------------
//   ...     64     signature       Ed25519 over kEntrySignaturePrefix ‖ leaf hash
//
// Leaf hash = SHA-256(0x00 ‖ signed body), as RFC 9162 section 2.1.1 defines
// leaf hashes. The signature input is the fixed prefix followed by the 32-byte
// leaf hash, so a ledger signature can never be replayed as any other signature.
//
// Thread safety: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/crypto.h"
#include "ledger/status.h"

namespace escrow::ledger {

constexpr uint16_t kEntryFormatVersion = 1;
// Each variable-length field is at most 1 MiB, and an entry at most 4 MiB.
constexpr size_t kMaxEntryFieldSize = 1 << 20;
constexpr size_t kMaxEntrySize = 4 << 20;
// 23 bytes: the ASCII text "escrow-ledger/entry/v1" and one zero byte.
constexpr std::string_view kEntrySignaturePrefix{"escrow-ledger/entry/v1\0", 23};

enum class ActorKind : uint8_t { kSystem = 0, kDevice = 1, kAccount = 2 };
const char* ActorKindName(ActorKind kind);

struct Entry {
  uint16_t format_version = kEntryFormatVersion;
  uint64_t seq = 0;
  std::string prev_hash;  // 32 bytes
  int64_t time_ns = 0;
  uint16_t type = 0;
  uint16_t schema_version = 1;
  ActorKind actor_kind = ActorKind::kSystem;
  std::string actor_id;
  std::string subject;
  std::string payload;
  std::string origin_request;
  std::string origin_signature;
  std::string key_id;
  std::string signature;  // 64 bytes

  bool operator==(const Entry&) const = default;
};

// Returns the signed body: every field but the signature, in the layout above.
std::string EncodeBody(const Entry& entry);

// Returns the stored bytes: the signed body followed by the 64-byte signature.
std::string EncodeEntry(const Entry& entry);

// A parsed entry together with the exact byte range that was signed.
struct DecodedEntry {
  Entry entry;
  std::string_view body;  // points into the bytes passed to DecodeEntry
};

// The fields of stored entry bytes, as views into those bytes.
struct EntryView {
  uint16_t format_version = 0;
  uint64_t seq = 0;
  std::string_view prev_hash;
  int64_t time_ns = 0;
  uint16_t type = 0;
  uint16_t schema_version = 0;
  ActorKind actor_kind = ActorKind::kSystem;
  std::string_view actor_id;
  std::string_view subject;
  std::string_view payload;
  std::string_view origin_request;
  std::string_view origin_signature;
  std::string_view key_id;
  std::string_view signature;
  std::string_view body;  // the signed body
};

// Parses stored bytes without copying; the views refer to `bytes`, which must
// outlive the result. Fails like DecodeEntry.
Result<EntryView> ParseEntry(std::string_view bytes);

// Parses stored bytes. Fails with kInvalidArgument on truncation, trailing
// bytes, an unknown format version or an oversized field. The result's body
// refers to `bytes`, which must outlive it.
Result<DecodedEntry> DecodeEntry(std::string_view bytes);

// Returns SHA-256(0x00 ‖ body).
std::string LeafHash(std::string_view body);
// Same, returned by value without allocating.
crypto::Sha256Digest LeafHashDigest(std::string_view body);

// Returns kEntrySignaturePrefix ‖ leaf_hash: the message the ledger key signs.
std::string SignatureMessage(std::string_view leaf_hash);

// Returns the ledger CF key for seq: 8 bytes, big-endian, so keys sort by seq.
std::string SeqKey(uint64_t seq);
uint64_t SeqFromKey(std::string_view key);

}  // namespace escrow::ledger
