// Projection records: the current state derived from the ledger.
//
// Values are cereal portable binary (deterministic), so a rebuild from the
// ledger can be compared byte for byte with the live column families.
//
// projection.audit key layout (all ids are UTF-8, seq is 8 bytes big-endian):
//   "d\0" device_id "\0" seq  -> AuditRecord   retrievals and denials by device
//   "a\0" actor     "\0" seq  -> AuditRecord   the same records by actor
//   "t\0" time_ns(8 BE) seq   -> AuditRecord   the same records by time
//   "e\0" device_id "\0" seq  -> ""            every event about a device (timeline)
//   "o\0" owner "\0" device_id -> ""           devices by owner
//
// projection.tokens key layout:
//   token digest (32 bytes)               -> TokenRecord
//   "d\0" device_id "\0" token digest     -> ""   tokens issued for a device, so
//                                                 enrollment can mark them all used
//
// Thread safety: plain value types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ledger/events.h"

namespace escrow::projections {

using ledger::Policy;

enum class Lifecycle : uint8_t {
  kRegistered = 0,  // an admin issued an enrollment token; the device has not enrolled
  kEnrolled = 1,    // enrolled, no recovery password escrowed yet
  kPending = 2,     // generation escrowed, not yet armed on the device
  kActive = 3,      // armed: the recovery password works on the lock screen
  kUsed = 4,        // reset reported with the current generation; still valid until g+1
  kRetired = 5,
};
const char* LifecycleName(Lifecycle state);

struct DeviceRecord {
  std::string device_id;
  std::string owner;
  Lifecycle state = Lifecycle::kRegistered;
  bool client_installed = false;
  std::string os_version;
  std::string client_version;
  std::string device_public_key;  // Ed25519, 32 bytes
  std::string escrow_public_key;  // X25519, 32 bytes
  std::string escrow_key_id;
  uint64_t generation = 0;        // highest escrowed generation, 0 = none
  bool generation_valid = false;  // whether `generation` may still be retrieved
  bool armed = false;             // armed reported for `generation`
  uint64_t escrow_seq = 0;        // seq of the RecoveryPasswordEscrowed entry of `generation`
  std::string envelope_digest;    // SHA-256 of that envelope
  uint64_t last_reset_generation = 0;
  int64_t last_reset_ns = 0;
  bool rotation_requested = false;
  int64_t registered_ns = 0;
  int64_t enrolled_ns = 0;
  int64_t updated_ns = 0;
  uint64_t retrievals = 0;

  template <class A>
  void serialize(A& a) {
    a(device_id, owner, state, client_installed, os_version, client_version, device_public_key,
      escrow_public_key, escrow_key_id, generation, generation_valid, armed, escrow_seq,
      envelope_digest, last_reset_generation, last_reset_ns, rotation_requested, registered_ns,
      enrolled_ns, updated_ns, retrievals);
  }
  bool operator==(const DeviceRecord&) const = default;
};

struct AccountRecord {
  std::string name;
  std::vector<std::string> roles;  // sorted, unique
  std::string display_name;
  int64_t created_ns = 0;

  bool HasRole(std::string_view role) const;
  template <class A>
  void serialize(A& a) { a(name, roles, display_name, created_ns); }
  bool operator==(const AccountRecord&) const = default;
};

struct TokenRecord {
  std::string device_id;
  std::string owner;
  int64_t expires_at_ns = 0;
  bool used = false;
  template <class A>
  void serialize(A& a) { a(device_id, owner, expires_at_ns, used); }
};

struct AuditRecord {
  uint64_t seq = 0;
  int64_t time_ns = 0;
  std::string device_id;
  std::string actor;
  bool denied = false;
  uint64_t generation = 0;  // 0 for denials
  std::string channel;
  std::string reason;
  std::string denial_reason;
  template <class A>
  void serialize(A& a) {
    a(seq, time_ns, device_id, actor, denied, generation, channel, reason, denial_reason);
  }
};

// cereal portable binary helpers for the records above.
template <class T>
std::string EncodeRecord(const T& record);
// Fails with kInvalidArgument instead of throwing on truncated or malformed bytes.
template <class T>
escrow::Result<T> DecodeRecord(std::string_view bytes);

}  // namespace escrow::projections

#include "projections/state_inl.h"
