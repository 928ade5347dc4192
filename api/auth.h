// Account passwords, API sessions and the bootstrap admin account.
//
// Password hashes live in the credentials column family, never in the
// ledger. The encoded form names its own cost, so raising the cost later
// still verifies older hashes:
//
//   scrypt$<log2 N>$<r>$<p>$<salt, base64>$<32-byte key, base64>
//
// Sessions: the client keeps 32 random bytes as base64url without padding.
// The server stores only their SHA-256, in the operational column family:
//
//   key   "sess\0" ‖ SHA-256(token bytes)
//   value expires_at_ns (int64, 8 bytes big-endian) ‖ account name
//
// Thread safety: the free functions are pure or read the Store only.
// SessionManager is immutable after construction and safe from any thread;
// RocksDB synchronizes the session records.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "api/http/http.h"
#include "ledger/crypto.h"
#include "ledger/store.h"
#include "projections/service.h"

namespace escrow::api {

using projections::Principal;

// scrypt cost for new hashes: N = 2^kScryptLogN, r, p; 32 MiB of memory each.
constexpr uint64_t kScryptLogN = 15;
constexpr uint64_t kScryptR = 8;
constexpr uint64_t kScryptP = 1;
constexpr size_t kPasswordSaltBytes = 16;
constexpr size_t kPasswordHashBytes = 32;
// Upper bounds accepted when verifying a stored hash (2^20 needs 1 GiB).
constexpr uint64_t kMaxScryptLogN = 20;
constexpr uint64_t kMaxScryptR = 32;
constexpr uint64_t kMaxScryptP = 16;

// Length limits for account passwords, in bytes.
constexpr size_t kMinPasswordLength = 8;
constexpr size_t kMaxPasswordLength = 1024;
// Length of the generated bootstrap admin password, in characters.
constexpr size_t kGeneratedPasswordLength = 20;

constexpr size_t kSessionTokenBytes = 32;
constexpr int64_t kSessionTtlNs = int64_t{8} * 3600 * 1'000'000'000;
constexpr std::string_view kSessionKeyPrefix{"sess\0", 5};

constexpr std::string_view kBootstrapAdminName = "admin";
constexpr std::string_view kAdminPasswordEnv = "ESCROW_ADMIN_PASSWORD";

// The login failure message, the same for an unknown user and a wrong password.
constexpr std::string_view kInvalidLoginMessage = "invalid username or password";

// Hashes password with scrypt at the current cost and a fresh random salt.
std::string HashPassword(std::string_view password);

// Checks password against an encoded hash in time that does not depend on
// where the keys differ. Returns false for a malformed hash or one whose cost
// exceeds the kMax* bounds.
bool VerifyPassword(std::string_view password, std::string_view encoded);

// Runs one scrypt at the current cost and discards the result, so a login for
// an unknown account takes as long as one with a wrong password.
void RunDummyPasswordCheck(std::string_view password);

// Returns the base64url form (no padding) of bytes, and back.
std::string Base64UrlEncode(std::string_view bytes);
Result<std::string> Base64UrlDecode(std::string_view text);

// Returns the "system" principal holding every role, for bootstrap commands.
Principal SystemPrincipal();

// Creates the account "admin" (roles admin, helpdesk, auditor) when it does
// not exist. The password is $ESCROW_ADMIN_PASSWORD when set; otherwise 20
// random characters, which are returned so the caller can show them once.
// Returns nullopt when the account already existed or the password came from
// the environment.
Result<std::optional<std::string>> EnsureBootstrapAdmin(ledger::Store* store,
                                                        projections::EscrowService* service);

// A session created by a successful login.
struct NewSession {
  crypto::SecretString token;  // base64url of kSessionTokenBytes random bytes
  int64_t expires_at_ns = 0;
  Principal principal;
};

// Logs accounts in and out and resolves bearer tokens to principals.
class SessionManager {
 public:
  using Clock = std::function<int64_t()>;

  // store must outlive this object. clock returns Unix nanoseconds.
  SessionManager(ledger::Store* store, Clock clock, int64_t ttl_ns);

  // Checks the password and stores a new session. Unknown account and wrong
  // password both fail with kUnauthenticated and kInvalidLoginMessage.
  Result<NewSession> Login(std::string_view username, std::string_view password) const;

  // Resolves "Authorization: Bearer TOKEN" to the account's current name and
  // roles. Fails with kUnauthenticated for a missing, unknown, revoked or
  // expired token, or an account that no longer exists.
  Result<Principal> Authenticate(const http::Request& request) const;

  // Deletes the session of the request's bearer token.
  Status Revoke(const http::Request& request) const;

 private:
  Result<std::string> SessionKeyOf(const http::Request& request) const;

  ledger::Store* store_;
  Clock clock_;
  int64_t ttl_ns_;
};

}  // namespace escrow::api
