// SessionManager: logins, bearer tokens, password changes and the lockout.
// The session record layout is in api/auth.h.
#include <algorithm>

#include "api/auth.h"
#include "ledger/log.h"
#include "projections/queries.h"

namespace escrow::api {
namespace {

constexpr std::string_view kBearerPrefix = "bearer ";
constexpr size_t kExpiryBytes = 8;

std::string CredentialTag(std::string_view stored_hash) {
  return crypto::Sha256(stored_hash).substr(0, kCredentialTagBytes);
}

std::string EncodeSessionValue(int64_t expires_at_ns, std::string_view tag, std::string_view name) {
  std::string out(kExpiryBytes, '\0');
  auto v = static_cast<uint64_t>(expires_at_ns);
  for (int i = kExpiryBytes - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out.append(tag);
  out.append(name);
  return out;
}

struct SessionRecord {
  int64_t expires_at_ns = 0;
  std::string tag;
  std::string name;
};

std::optional<SessionRecord> DecodeSessionValue(std::string_view value) {
  if (value.size() <= kExpiryBytes + kCredentialTagBytes) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < kExpiryBytes; ++i) v = (v << 8) | static_cast<unsigned char>(value[i]);
  SessionRecord record;
  record.expires_at_ns = static_cast<int64_t>(v);
  record.tag = std::string(value.substr(kExpiryBytes, kCredentialTagBytes));
  record.name = std::string(value.substr(kExpiryBytes + kCredentialTagBytes));
  return record;
}

Result<Principal> PrincipalOf(const ledger::Store& store, const std::string& name) {
  auto account = projections::GetAccount(store, name);
  if (!account.ok()) return account.status();
  if (!account->has_value()) return Unauthenticated("account " + name + " no longer exists");
  return Principal{(*account)->name, (*account)->roles};
}

void SetFailure(LoginFailure* out, LoginFailure value) {
  if (out != nullptr) *out = value;
}

}  // namespace

SessionManager::SessionManager(ledger::Store* store, Clock clock, int64_t ttl_ns,
                               uint64_t password_log_n)
    : store_(store),
      clock_(std::move(clock)),
      ttl_ns_(ttl_ns),
      password_log_n_(std::clamp(password_log_n, kMinPasswordLogN, kMaxPasswordLogN)) {
  if (password_log_n_ != password_log_n) {
    Logger("api")->warn("password hash cost log2 N {} is out of range; using {}", password_log_n,
                        password_log_n_);
  }
}

std::string SessionManager::HashNewPassword(std::string_view password) const {
  return HashPassword(password, password_log_n_);
}

Result<std::string> SessionManager::CheckPassword(const std::string& name,
                                                  std::string_view password,
                                                  LoginFailure* failure) {
  // Step 1: read the lock and the stored hash. An invalid name has no account.
  const int64_t now_ns = clock_();
  const bool locked = lockout_.IsLocked(name, now_ns);
  std::optional<std::string> stored;
  if (projections::ValidateAccountName(name).ok()) {
    auto hash = store_->Get(ledger::Cf::kCredentials, name);
    if (!hash.ok()) return hash.status();
    stored = std::move(*hash);
  }

  // Step 2: run one scrypt in every case, so timing shows none of the three.
  bool matches = false;
  if (stored.has_value()) {
    matches = VerifyPassword(password, *stored);
  } else {
    RunDummyPasswordCheck(password, password_log_n_);
  }

  // Step 3: decide. A locked name fails even with the right password.
  if (locked) {
    SetFailure(failure, LoginFailure::kLocked);
    return Unauthenticated(std::string(kInvalidLoginMessage));
  }
  if (!matches) {
    SetFailure(failure, LoginFailure::kInvalidCredentials);
    if (lockout_.RecordFailure(name, now_ns)) {
      SetFailure(failure, LoginFailure::kInvalidCredentialsLockedNow);
      // An invalid name may hold control characters, so it is not logged.
      bool loggable = projections::ValidateAccountName(name).ok();
      Logger("api")->warn("account name {} locked for {} s after {} failed password checks",
                          loggable ? name : "(invalid name)", kLoginLockoutNs / 1'000'000'000,
                          kMaxLoginFailures);
    }
    return Unauthenticated(std::string(kInvalidLoginMessage));
  }
  lockout_.Clear(name);
  SetFailure(failure, LoginFailure::kNone);
  return std::move(*stored);
}

Result<NewSession> SessionManager::CreateSession(const std::string& name,
                                                 std::string_view stored_hash) const {
  auto principal = PrincipalOf(*store_, name);
  if (!principal.ok()) return principal.status();

  crypto::SecretString raw(crypto::RandomBytes(kSessionTokenBytes));
  NewSession session;
  session.token = crypto::SecretString(Base64UrlEncode(raw.view()));
  session.expires_at_ns = clock_() + ttl_ns_;
  session.principal = std::move(*principal);
  std::string key = std::string(kSessionKeyPrefix) + crypto::Sha256(raw.view());
  ESCROW_RETURN_IF_ERROR(store_->Put(
      ledger::Cf::kOperational, key,
      EncodeSessionValue(session.expires_at_ns, CredentialTag(stored_hash), name)));
  return session;
}

Result<NewSession> SessionManager::Login(std::string_view username, std::string_view password,
                                         LoginFailure* failure) {
  // Step 1: check the password of the normalized name.
  std::string name = NormalizeAccountName(username);
  auto stored = CheckPassword(name, password, failure);
  if (!stored.ok()) return stored.status();

  // Step 2: the account must still exist in the projection.
  auto session = CreateSession(name, *stored);
  if (!session.ok() && session.status().code() == Code::kUnauthenticated) {
    SetFailure(failure, LoginFailure::kInvalidCredentials);
    return Unauthenticated(std::string(kInvalidLoginMessage));
  }
  return session;
}

Result<std::string> SessionManager::SessionKeyOf(const http::Request& request) const {
  std::string header = request.Header("authorization");
  if (header.empty()) return Unauthenticated("missing Authorization header; sign in first");
  if (header.size() <= kBearerPrefix.size()) {
    return Unauthenticated("Authorization header must be \"Bearer TOKEN\"");
  }
  for (size_t i = 0; i < kBearerPrefix.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kBearerPrefix[i]) return Unauthenticated("Authorization header must be \"Bearer TOKEN\"");
  }
  crypto::SecretString token(header.substr(kBearerPrefix.size()));
  crypto::Cleanse(header);

  auto raw = Base64UrlDecode(token.view());
  if (!raw.ok() || raw->size() != kSessionTokenBytes) {
    return Unauthenticated("invalid session token; sign in again");
  }
  crypto::SecretString raw_secret(std::move(*raw));
  return std::string(kSessionKeyPrefix) + crypto::Sha256(raw_secret.view());
}

Result<Principal> SessionManager::Authenticate(const http::Request& request) const {
  // Step 1: find the session record of the token.
  auto key = SessionKeyOf(request);
  if (!key.ok()) return key.status();
  auto value = store_->Get(ledger::Cf::kOperational, *key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return Unauthenticated("invalid or revoked session; sign in again");

  // Step 2: check expiry and the credential tag. A dead record is deleted on sight.
  std::optional<SessionRecord> record = DecodeSessionValue(**value);
  std::string reason;
  if (!record.has_value()) {
    reason = "invalid or revoked session; sign in again";
  } else if (clock_() >= record->expires_at_ns) {
    reason = "session expired; sign in again";
  } else {
    auto stored = store_->Get(ledger::Cf::kCredentials, record->name);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value() || !crypto::ConstantTimeEqual(CredentialTag(**stored), record->tag)) {
      reason = "session revoked because the account's password changed; sign in again";
    }
  }
  if (!reason.empty()) {
    Status deleted = store_->Delete(ledger::Cf::kOperational, *key, /*sync=*/false);
    if (!deleted.ok()) Logger("api")->warn("deleting a dead session failed: {}", deleted.ToString());
    return Unauthenticated(reason);
  }

  // Step 3: roles come from the current account projection.
  return PrincipalOf(*store_, record->name);
}

Status SessionManager::Revoke(const http::Request& request) const {
  auto key = SessionKeyOf(request);
  if (!key.ok()) return key.status();
  return store_->Delete(ledger::Cf::kOperational, *key);
}

Result<uint64_t> SessionManager::CountLiveSessions(const std::string& name) const {
  // Step 1: the tag that the account's live sessions carry.
  auto stored = store_->Get(ledger::Cf::kCredentials, name);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return uint64_t{0};
  const std::string tag = CredentialTag(**stored);

  // Step 2: session keys contain no account name, so every record is read.
  uint64_t live = 0;
  const int64_t now_ns = clock_();
  auto it = store_->NewIterator(ledger::Cf::kOperational);
  for (it->Seek(kSessionKeyPrefix); it->Valid() && it->key().starts_with(kSessionKeyPrefix);
       it->Next()) {
    std::optional<SessionRecord> record =
        DecodeSessionValue(std::string_view(it->value().data(), it->value().size()));
    if (!record.has_value() || record->name != name) continue;
    if (now_ns < record->expires_at_ns && crypto::ConstantTimeEqual(record->tag, tag)) live++;
  }
  if (!it->status().ok()) return ledger::FromRocks(it->status(), "scan sessions");
  return live;
}

Result<NewSession> SessionManager::ChangePassword(const Principal& principal,
                                                  std::string_view current_password,
                                                  std::string_view new_password,
                                                  const HashWriter& write_hash,
                                                  LoginFailure* failure) {
  // Step 1: the current password is checked like a login, lockout included.
  auto stored = CheckPassword(principal.name, current_password, failure);
  if (!stored.ok()) {
    if (stored.status().code() != Code::kUnauthenticated) return stored.status();
    return PermissionDenied(std::string(kWrongCurrentPasswordMessage));
  }

  // Step 2: the new hash changes the credential tag, which revokes every
  // session of the account, then a session under the new tag is created.
  crypto::SecretString new_hash(HashNewPassword(new_password));
  ESCROW_RETURN_IF_ERROR(write_hash(new_hash.view()));
  return CreateSession(principal.name, new_hash.view());
}

Status SessionManager::ResetPassword(const std::string& name, std::string_view new_password,
                                     const HashWriter& write_hash) {
  auto account = projections::GetAccount(*store_, name);
  if (!account.ok()) return account.status();
  if (!account->has_value()) return NotFound("account " + name + " not found");
  crypto::SecretString new_hash(HashNewPassword(new_password));
  ESCROW_RETURN_IF_ERROR(write_hash(new_hash.view()));
  lockout_.Clear(name);
  return Status::Ok();
}

}  // namespace escrow::api
