// The state a simulated device keeps between sessions, and its state file.
//
// State file: one JSON object, written through a temporary file and rename
// with mode 0600, because it contains the device's Ed25519 private key.
//
//   field                  type    meaning
//   format                 int     kIdentityFormat
//   device_id              string
//   private_key_hex        string  Ed25519 private key (32-byte seed), hex
//   public_key             base64  Ed25519 public key
//   counter                int     last counter the device sent
//   enrolled               bool
//   escrow_public_key      base64  X25519 key the server returned ("" before enroll)
//   escrow_key_id          string
//   generation             int     recovery password generation held, 0 = none
//   armed                  bool    the owner unlocked once since `generation` arrived
//   password_salt/_hash    base64  scrypt of the current recovery password digits
//   pending_generation     int     upload not yet confirmed, 0 = none
//   pending_envelope       base64  the sealed envelope of that upload
//   pending_salt/_hash     base64  scrypt of its digits
//   client_installed       bool
//   os_version, client_version  string
//   clock_ns               int     the device's virtual clock (starts at 0)
//   next_check_in_ns       int     virtual time of the next scheduled session
//   check_in_interval_s    int     the policy's interval, learned at enroll/check-in
//   fail_next_session      bool    the next session loses its escrow upload
//
// The last four fields are optional when read (older state files), with the
// defaults below. After a re-enrollment `generation` is the server's last
// generation with no password held, so the next escrow continues the numbering.
//
// The digits of a recovery password are never stored: only their scrypt hash
// (N = 2^14, r = 8, p = 1, 16-byte salt, 32-byte output), which is enough to
// check a password typed at the lock screen offline.
//
// Thread safety: plain values. A DeviceIdentity belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/crypto.h"
#include "ledger/status.h"

namespace escrow::device {

inline constexpr int kIdentityFormat = 1;
inline constexpr uint64_t kScryptN = uint64_t{1} << 14;
inline constexpr uint64_t kScryptR = 8;
inline constexpr uint64_t kScryptP = 1;
inline constexpr size_t kScryptSaltSize = 16;
inline constexpr size_t kScryptHashSize = 32;
inline constexpr uint64_t kDefaultCheckInIntervalS = 8 * 3600;
inline constexpr uint64_t kNsPerSecond = 1'000'000'000;

// A scrypt hash of recovery password digits. Empty when the device has none.
struct PasswordHash {
  std::string salt;
  std::string hash;
  bool empty() const { return hash.empty(); }
};

// An escrow upload that the server has not confirmed yet. It is kept so that
// a retry after a failed session sends the same envelope (the server treats
// an identical retry as already escrowed).
struct PendingEscrow {
  uint64_t generation = 0;  // 0 = nothing pending
  std::string envelope;
  PasswordHash password;
};

struct DeviceIdentity {
  std::string device_id;
  crypto::SecretString private_key;  // Ed25519 seed, 32 bytes
  std::string public_key;            // Ed25519, 32 bytes
  uint64_t counter = 0;
  bool enrolled = false;
  std::string escrow_public_key;
  std::string escrow_key_id;
  uint64_t generation = 0;
  bool armed = false;
  PasswordHash password;
  PendingEscrow pending;
  bool client_installed = true;
  std::string os_version = "6.1.4";
  std::string client_version = "1.0";
  uint64_t clock_ns = 0;
  uint64_t next_check_in_ns = 0;
  uint64_t check_in_interval_s = kDefaultCheckInIntervalS;
  bool fail_next_session = false;
};

// Returns a fresh, not yet enrolled identity with a new Ed25519 key pair.
DeviceIdentity NewDeviceIdentity(std::string device_id);

Result<DeviceIdentity> LoadDeviceIdentity(const std::string& path);
// Writes the state file atomically with mode 0600.
Status SaveDeviceIdentity(const DeviceIdentity& identity, const std::string& path);

// Hashes 20 recovery password digits with a fresh random salt.
Result<PasswordHash> HashRecoveryPassword(std::string_view digits);
// Parses input (20 digits, with or without separators) and compares its
// scrypt hash with expected in constant time. Fails on malformed input.
Result<bool> MatchesRecoveryPassword(const PasswordHash& expected, std::string_view input);

}  // namespace escrow::device
