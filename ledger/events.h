// Event types and their payloads.
//
// A payload is the cereal PortableBinaryOutputArchive encoding of the struct
// for the entry's type: a one-byte endianness flag (1 = little-endian), then
// the fields in the order the struct's serialize() lists them. Integers are
// little-endian; std::string is a uint64 length followed by its bytes;
// std::vector is a uint64 count followed by its elements; bool is one byte.
// Type numbers and field orders never change: a new layout gets a new
// schema_version.
//
// Thread safety: plain value types and pure functions.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "ledger/entry.h"
#include "ledger/status.h"

namespace escrow::ledger {

enum class EventType : uint16_t {
  kPolicyChanged = 1,
  kEnrollmentTokenIssued = 2,
  kDeviceEnrolled = 3,
  kClientInstalled = 4,
  kClientRemoved = 5,
  kRecoveryPasswordEscrowed = 6,
  kRecoveryPasswordArmed = 7,
  kRecoveryPasswordRetrieved = 8,
  kRecoveryPasswordRetrievalDenied = 9,
  kDeviceResetReported = 10,
  kRecoveryPasswordInvalidated = 11,
  kRotationRequested = 12,
  kDeviceRetired = 13,
  kSigningKeyRotated = 14,
  kAccountCreated = 15,
  kRoleGranted = 16,
  kRoleRevoked = 17,
  kAccountPasswordChanged = 18,
};

// Returns the event's name, e.g. "RecoveryPasswordEscrowed", or "Unknown".
const char* EventTypeName(uint16_t type);

// The whole policy document, carried by every PolicyChanged event.
struct Policy {
  std::string reset_mode = "mdm";  // "disabled" | "mdm" | "exchange"
  bool self_service_recovery = true;
  bool rotate_after_retrieval = false;
  uint64_t check_in_interval_s = 8 * 3600;
  std::string min_os_version = "6.1.4";

  template <class A>
  void serialize(A& a) {
    a(reset_mode, self_service_recovery, rotate_after_retrieval, check_in_interval_s,
      min_os_version);
  }
  bool operator==(const Policy&) const = default;
};

struct PolicyChanged {
  static constexpr EventType kType = EventType::kPolicyChanged;
  Policy policy;
  template <class A>
  void serialize(A& a) { a(policy); }
};

struct EnrollmentTokenIssued {
  static constexpr EventType kType = EventType::kEnrollmentTokenIssued;
  std::string device_id;
  std::string owner;
  std::string token_digest;  // SHA-256 of the 32 random token bytes; the token itself is never stored
  int64_t expires_at_ns = 0;
  template <class A>
  void serialize(A& a) { a(device_id, owner, token_digest, expires_at_ns); }
};

struct DeviceEnrolled {
  static constexpr EventType kType = EventType::kDeviceEnrolled;
  std::string device_id;
  std::string owner;
  std::string os_version;
  std::string client_version;
  std::string device_public_key;  // Ed25519, 32 bytes
  std::string escrow_public_key;  // X25519, 32 bytes
  std::string escrow_key_id;      // keystore key of the wrapped private half
  template <class A>
  void serialize(A& a) {
    a(device_id, owner, os_version, client_version, device_public_key, escrow_public_key,
      escrow_key_id);
  }
};

struct ClientInstalled {
  static constexpr EventType kType = EventType::kClientInstalled;
  std::string device_id;
  std::string client_version;
  template <class A>
  void serialize(A& a) { a(device_id, client_version); }
};

struct ClientRemoved {
  static constexpr EventType kType = EventType::kClientRemoved;
  std::string device_id;
  template <class A>
  void serialize(A& a) { a(device_id); }
};

struct RecoveryPasswordEscrowed {
  static constexpr EventType kType = EventType::kRecoveryPasswordEscrowed;
  std::string device_id;
  uint64_t generation = 0;
  std::string envelope;         // DESIGN envelope bytes (ledger/envelope.h)
  std::string envelope_digest;  // SHA-256 of envelope, for idempotent retries
  std::string escrow_key_id;
  template <class A>
  void serialize(A& a) { a(device_id, generation, envelope, envelope_digest, escrow_key_id); }
};

struct RecoveryPasswordArmed {
  static constexpr EventType kType = EventType::kRecoveryPasswordArmed;
  std::string device_id;
  uint64_t generation = 0;
  template <class A>
  void serialize(A& a) { a(device_id, generation); }
};

struct RecoveryPasswordRetrieved {
  static constexpr EventType kType = EventType::kRecoveryPasswordRetrieved;
  std::string device_id;
  uint64_t generation = 0;
  std::string channel;  // "portal" | "console" | "cli" | "api"
  std::string reason;   // ticket id or free text given by the retriever
  template <class A>
  void serialize(A& a) { a(device_id, generation, channel, reason); }
};

struct RecoveryPasswordRetrievalDenied {
  static constexpr EventType kType = EventType::kRecoveryPasswordRetrievalDenied;
  std::string device_id;
  std::string channel;
  std::string reason;         // the reason the retriever gave, if any
  std::string denial_reason;  // why the server denied it
  template <class A>
  void serialize(A& a) { a(device_id, channel, reason, denial_reason); }
};

struct DeviceResetReported {
  static constexpr EventType kType = EventType::kDeviceResetReported;
  std::string device_id;
  uint64_t generation = 0;
  template <class A>
  void serialize(A& a) { a(device_id, generation); }
};

struct RecoveryPasswordInvalidated {
  static constexpr EventType kType = EventType::kRecoveryPasswordInvalidated;
  std::string device_id;
  uint64_t generation = 0;
  std::string reason;  // "superseded" | "policy" | "client_removed" | "re_enrolled" | "retired"
  template <class A>
  void serialize(A& a) { a(device_id, generation, reason); }
};

struct RotationRequested {
  static constexpr EventType kType = EventType::kRotationRequested;
  std::string device_id;
  std::string cause;  // "admin" | "retrieval" | "policy"
  template <class A>
  void serialize(A& a) { a(device_id, cause); }
};

struct DeviceRetired {
  static constexpr EventType kType = EventType::kDeviceRetired;
  std::string device_id;
  template <class A>
  void serialize(A& a) { a(device_id); }
};

struct SigningKeyRotated {
  static constexpr EventType kType = EventType::kSigningKeyRotated;
  std::string new_key_id;
  std::string new_public_key;  // Ed25519, 32 bytes
  std::string new_key_signature;  // new key's signature over the old key id, proving possession
  template <class A>
  void serialize(A& a) { a(new_key_id, new_public_key, new_key_signature); }
};

struct AccountCreated {
  static constexpr EventType kType = EventType::kAccountCreated;
  std::string account;
  std::vector<std::string> roles;  // "user" | "helpdesk" | "admin" | "auditor"
  std::string display_name;
  template <class A>
  void serialize(A& a) { a(account, roles, display_name); }
};

struct RoleGranted {
  static constexpr EventType kType = EventType::kRoleGranted;
  std::string account;
  std::string role;
  template <class A>
  void serialize(A& a) { a(account, role); }
};

struct RoleRevoked {
  static constexpr EventType kType = EventType::kRoleRevoked;
  std::string account;
  std::string role;
  template <class A>
  void serialize(A& a) { a(account, role); }
};

// An account's password was changed by its owner or reset by an admin. The
// entry's subject is the account, and its actor is the account that made the
// change. The payload never contains a password, a hash, a salt or a token.
struct AccountPasswordChanged {
  static constexpr EventType kType = EventType::kAccountPasswordChanged;
  std::string account;            // the account whose password changed (also the subject)
  bool by_admin = false;          // true for an admin reset, false for the owner's own change
  uint64_t sessions_revoked = 0;  // unexpired sessions of the account that the change ended
  template <class A>
  void serialize(A& a) { a(account, by_admin, sessions_revoked); }
};

// Encodes a payload struct with cereal's portable binary archive.
template <class Event>
std::string EncodePayload(const Event& event);

// Decodes a payload; fails with kInvalidArgument instead of throwing when the
// bytes are truncated or malformed.
template <class Event>
Result<Event> DecodePayload(std::string_view bytes);

// Renders an entry's payload as JSON for timelines and audit views. Envelope
// bytes are shown only by their digest. Unknown types render as {}.
boost::json::object PayloadToJson(uint16_t type, std::string_view payload);

// Renders a whole entry (seq, time, type name, actor, subject, payload) as JSON.
boost::json::object EntryToJson(const Entry& entry);

}  // namespace escrow::ledger

#include "ledger/events_inl.h"
