// API sessions, login lockout and the bootstrap admin account.
//
// Password hashes (api/password_hash.h) live in the credentials column
// family, never in the ledger. Sessions: the client keeps 32 random bytes as
// base64url without padding. The server stores only their SHA-256, in the
// operational column family:
//
//   key   "sess\0" ‖ SHA-256(token bytes)
//   value expires_at_ns (int64, 8 bytes big-endian)
//         ‖ credential tag (first 16 bytes of SHA-256 of the account's stored
//           password hash at login)
//         ‖ account name
//
// A session is valid only while the account's stored hash still matches its
// tag, so changing or resetting a password revokes every session of that
// account at once. Session records are disposable: a record in an older
// layout fails the tag check and its holder signs in again.
//
// Login lockout state is in memory (api/login_lockout.h).
//
// Thread safety: the free functions are pure or read the Store only.
// SessionManager is safe from any thread: its settings are immutable,
// RocksDB synchronizes the session and credential records, and LoginLockout
// has its own mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "api/http/http.h"
#include "api/login_lockout.h"
#include "api/password_hash.h"
#include "ledger/crypto.h"
#include "ledger/store.h"
#include "projections/service.h"

namespace escrow::api {

using projections::Principal;

// Length of the generated bootstrap admin password, in characters.
constexpr size_t kGeneratedPasswordLength = 20;

constexpr size_t kSessionTokenBytes = 32;
constexpr int64_t kSessionTtlNs = int64_t{8} * 3600 * 1'000'000'000;
constexpr std::string_view kSessionKeyPrefix{"sess\0", 5};
// Bytes of SHA-256(stored password hash) kept in each session record.
constexpr size_t kCredentialTagBytes = 16;

constexpr std::string_view kBootstrapAdminName = "admin";
constexpr std::string_view kAdminPasswordEnv = "ESCROW_ADMIN_PASSWORD";

// The login failure message, the same for an unknown user, a wrong password
// and a locked account. It states the lockout rule (login_lockout.h) so that a
// locked-out user learns what to do without learning which case applied.
constexpr std::string_view kInvalidLoginMessage =
    "invalid username or password; after 5 failed attempts an account is locked for "
    "15 minutes, and an admin can reset its password";
// The POST /v1/me/password failure message, the same for a wrong current
// password and a locked account.
constexpr std::string_view kWrongCurrentPasswordMessage =
    "field \"current_password\" does not match the account's password";

// Returns the base64url form (no padding) of bytes, and back.
std::string Base64UrlEncode(std::string_view bytes);
Result<std::string> Base64UrlDecode(std::string_view text);

// Returns the "system" principal holding every role, for bootstrap commands.
Principal SystemPrincipal();

// Creates the account "admin" (roles admin, helpdesk, auditor) when it does
// not exist, hashing its password at N = 2^password_log_n. The password is
// $ESCROW_ADMIN_PASSWORD when set; otherwise 20 random characters, which are
// returned so the caller can show them once. Returns nullopt when the account
// already existed or the password came from the environment.
Result<std::optional<std::string>> EnsureBootstrapAdmin(ledger::Store* store,
                                                        projections::EscrowService* service,
                                                        uint64_t password_log_n = kScryptLogN);

// A session created by a successful login or password change.
struct NewSession {
  crypto::SecretString token;  // base64url of kSessionTokenBytes random bytes
  int64_t expires_at_ns = 0;
  Principal principal;
};

// Why a login failed, for metrics and logs only: the reply is the same for all.
enum class LoginFailure {
  kNone,
  kInvalidCredentials,         // unknown account or wrong password
  kInvalidCredentialsLockedNow,  // as above, and this failure locked the name
  kLocked,                     // the name was already locked
};

// Logs accounts in and out, resolves bearer tokens to principals, changes
// passwords and keeps the login lockout.
class SessionManager {
 public:
  using Clock = std::function<int64_t()>;
  // Stores new_hash as an account's password hash. The API passes one that
  // records the change in the ledger in the same write
  // (EscrowService::ChangeAccountPassword). An error leaves the old password.
  using HashWriter = std::function<Status(std::string_view new_hash)>;

  // store must outlive this object. clock returns Unix nanoseconds.
  // password_log_n is the scrypt cost of new hashes; it is clamped into
  // [kMinPasswordLogN, kMaxPasswordLogN].
  SessionManager(ledger::Store* store, Clock clock, int64_t ttl_ns,
                 uint64_t password_log_n = kScryptLogN);

  // Checks the password of the normalized username (NormalizeAccountName) and
  // stores a new session. An unknown account, a wrong password and a locked
  // account all fail with kUnauthenticated and kInvalidLoginMessage, and all
  // run one scrypt. failure, when not null, receives the reason.
  Result<NewSession> Login(std::string_view username, std::string_view password,
                           LoginFailure* failure = nullptr);

  // Resolves "Authorization: Bearer TOKEN" to the account's current name and
  // roles. Fails with kUnauthenticated for a missing, unknown, revoked or
  // expired token, a token issued before the account's last password change,
  // or an account that no longer exists.
  Result<Principal> Authenticate(const http::Request& request) const;

  // Deletes the session of the request's bearer token.
  Status Revoke(const http::Request& request) const;

  // Replaces the password of principal's account through write_hash after
  // checking current_password, which counts toward the lockout like a login.
  // Every existing session of the account stops working, and a fresh one is
  // returned. A wrong current password and a locked account both fail with
  // kPermissionDenied and kWrongCurrentPasswordMessage, without calling
  // write_hash; failure receives the reason. An error of write_hash is returned.
  Result<NewSession> ChangePassword(const Principal& principal, std::string_view current_password,
                                    std::string_view new_password, const HashWriter& write_hash,
                                    LoginFailure* failure = nullptr);

  // Sets the password of account name through write_hash without checking
  // the old one (an admin's reset), which revokes all its sessions, then
  // clears its lockout. Fails with kNotFound when the account does not exist,
  // and with the error of write_hash.
  Status ResetPassword(const std::string& name, std::string_view new_password,
                       const HashWriter& write_hash);

  // Counts the sessions of account name that still work: unexpired and
  // issued under its current password hash.
  Result<uint64_t> CountLiveSessions(const std::string& name) const;

  // Hashes a new account's password at this manager's cost.
  std::string HashNewPassword(std::string_view password) const;

  uint64_t password_log_n() const { return password_log_n_; }

 private:
  Result<std::string> SessionKeyOf(const http::Request& request) const;
  Result<NewSession> CreateSession(const std::string& name, std::string_view stored_hash) const;
  // Checks password against name's stored hash and the lockout, running one
  // scrypt in every case. Returns the stored hash on success.
  Result<std::string> CheckPassword(const std::string& name, std::string_view password,
                                    LoginFailure* failure);

  ledger::Store* store_;
  Clock clock_;
  int64_t ttl_ns_;
  uint64_t password_log_n_;
  LoginLockout lockout_;
};

}  // namespace escrow::api
