#include "api/auth.h"

#include <cstdlib>
#include <mutex>
#include <vector>

#include "ledger/log.h"
#include "projections/queries.h"

namespace escrow::api {
namespace {

constexpr std::string_view kScryptScheme = "scrypt";
constexpr std::string_view kBearerPrefix = "bearer ";
constexpr std::string_view kPasswordAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::vector<std::string_view> SplitDollar(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find('$', start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::optional<uint64_t> ParseSmallUint(std::string_view text) {
  if (text.empty() || text.size() > 6) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

std::string EncodeSessionValue(int64_t expires_at_ns, std::string_view name) {
  std::string out(8, '\0');
  auto v = static_cast<uint64_t>(expires_at_ns);
  for (int i = 7; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out.append(name);
  return out;
}

bool DecodeSessionValue(std::string_view value, int64_t* expires_at_ns, std::string* name) {
  if (value.size() < 8) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(value[i]);
  *expires_at_ns = static_cast<int64_t>(v);
  name->assign(value.substr(8));
  return true;
}

// Returns a hash of a random password, computed once, for RunDummyPasswordCheck.
const std::string& DummyHash() {
  static std::once_flag once;
  static std::string hash;
  std::call_once(once, [] { hash = HashPassword(crypto::RandomBytes(kPasswordSaltBytes)); });
  return hash;
}

crypto::SecretString GeneratePassword() {
  // 248 = 4 * 62: bytes at or above it are rejected, so every character is equally likely.
  constexpr unsigned kRejectFrom = 248;
  crypto::SecretString out;
  while (out.size() < kGeneratedPasswordLength) {
    crypto::SecretString random(crypto::RandomBytes(kGeneratedPasswordLength));
    for (unsigned char c : random.str()) {
      if (c >= kRejectFrom || out.size() == kGeneratedPasswordLength) continue;
      out.mutable_str().push_back(kPasswordAlphabet[c % kPasswordAlphabet.size()]);
    }
  }
  return out;
}

Result<Principal> PrincipalOf(const ledger::Store& store, const std::string& name) {
  auto account = projections::GetAccount(store, name);
  if (!account.ok()) return account.status();
  if (!account->has_value()) return Unauthenticated("account " + name + " no longer exists");
  return Principal{(*account)->name, (*account)->roles};
}

}  // namespace

std::string HashPassword(std::string_view password) {
  std::string salt = crypto::RandomBytes(kPasswordSaltBytes);
  auto key = crypto::Scrypt(password, salt, uint64_t{1} << kScryptLogN, kScryptR, kScryptP,
                            kPasswordHashBytes);
  // With fixed, valid parameters scrypt fails only when OpenSSL cannot
  // allocate its 32 MiB, and then no account can be created safely.
  if (!key.ok()) {
    Logger("api")->critical("password hashing failed: {}", key.status().ToString());
    std::abort();
  }
  return std::string(kScryptScheme) + "$" + std::to_string(kScryptLogN) + "$" +
         std::to_string(kScryptR) + "$" + std::to_string(kScryptP) + "$" +
         crypto::Base64Encode(salt) + "$" + crypto::Base64Encode(key->view());
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  // Step 1: parse scheme, cost, salt and expected key.
  std::vector<std::string_view> parts = SplitDollar(encoded);
  if (parts.size() != 6 || parts[0] != kScryptScheme) return false;
  auto log_n = ParseSmallUint(parts[1]);
  auto r = ParseSmallUint(parts[2]);
  auto p = ParseSmallUint(parts[3]);
  if (!log_n || !r || !p) return false;
  if (*log_n < 1 || *log_n > kMaxScryptLogN || *r < 1 || *r > kMaxScryptR || *p < 1 ||
      *p > kMaxScryptP) {
    return false;
  }
  auto salt = crypto::Base64Decode(parts[4]);
  auto expected = crypto::Base64Decode(parts[5]);
  if (!salt.ok() || !expected.ok() || expected->empty()) return false;

  // Step 2: derive the key from the candidate and compare in constant time.
  auto key = crypto::Scrypt(password, *salt, uint64_t{1} << *log_n, *r, *p, expected->size());
  if (!key.ok()) return false;
  return crypto::ConstantTimeEqual(key->view(), *expected);
}

void RunDummyPasswordCheck(std::string_view password) {
  (void)VerifyPassword(password, DummyHash());
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string text = crypto::Base64Encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  crypto::SecretString standard_secret;  // wiped on every return
  std::string& standard = standard_secret.mutable_str();
  standard.reserve(text.size() + 3);
  for (char c : text) {
    if (c == '+' || c == '/' || c == '=') return InvalidArgument("invalid base64url character");
    if (c == '-') c = '+';
    if (c == '_') c = '/';
    standard.push_back(c);
  }
  while (standard.size() % 4 != 0) standard.push_back('=');
  return crypto::Base64Decode(standard);
}

Principal SystemPrincipal() {
  return Principal{"system",
                   {std::string(projections::kRoleAdmin), std::string(projections::kRoleAuditor),
                    std::string(projections::kRoleHelpdesk), std::string(projections::kRoleUser)}};
}

Result<std::optional<std::string>> EnsureBootstrapAdmin(ledger::Store* store,
                                                        projections::EscrowService* service) {
  // Step 1: nothing to do when the account exists.
  auto existing = projections::GetAccount(*store, kBootstrapAdminName);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return std::optional<std::string>();

  // Step 2: take the password from the environment, or generate one.
  const char* from_env = std::getenv(std::string(kAdminPasswordEnv).c_str());
  bool generated = from_env == nullptr || *from_env == '\0';
  crypto::SecretString password = generated ? GeneratePassword() : crypto::SecretString(from_env);
  if (password.size() < kMinPasswordLength || password.size() > kMaxPasswordLength) {
    return InvalidArgument(std::string(kAdminPasswordEnv) + " must be " +
                           std::to_string(kMinPasswordLength) + " to " +
                           std::to_string(kMaxPasswordLength) + " bytes long");
  }

  // Step 3: create the account through the ledger.
  std::vector<std::string> roles = {std::string(projections::kRoleAdmin),
                                    std::string(projections::kRoleAuditor),
                                    std::string(projections::kRoleHelpdesk)};
  ESCROW_RETURN_IF_ERROR(service->CreateAccount(SystemPrincipal(),
                                                std::string(kBootstrapAdminName), roles,
                                                "Administrator", HashPassword(password.view())));
  Logger("api")->info("created bootstrap account {} (password from {})", kBootstrapAdminName,
                      generated ? "generator" : kAdminPasswordEnv);
  if (!generated) return std::optional<std::string>();
  return std::optional<std::string>(password.str());
}

SessionManager::SessionManager(ledger::Store* store, Clock clock, int64_t ttl_ns)
    : store_(store), clock_(std::move(clock)), ttl_ns_(ttl_ns) {}

Result<NewSession> SessionManager::Login(std::string_view username,
                                         std::string_view password) const {
  // Step 1: check the password, or burn the same time for an unknown account.
  auto hash = store_->Get(ledger::Cf::kCredentials, username);
  if (!hash.ok()) return hash.status();
  if (!hash->has_value()) {
    RunDummyPasswordCheck(password);
    return Unauthenticated(std::string(kInvalidLoginMessage));
  }
  if (!VerifyPassword(password, **hash)) return Unauthenticated(std::string(kInvalidLoginMessage));

  // Step 2: the account must still exist in the projection.
  auto principal = PrincipalOf(*store_, std::string(username));
  if (!principal.ok()) {
    if (principal.status().code() == Code::kUnauthenticated) {
      return Unauthenticated(std::string(kInvalidLoginMessage));
    }
    return principal.status();
  }

  // Step 3: store the digest of a fresh token.
  crypto::SecretString raw(crypto::RandomBytes(kSessionTokenBytes));
  NewSession session;
  session.token = crypto::SecretString(Base64UrlEncode(raw.view()));
  session.expires_at_ns = clock_() + ttl_ns_;
  session.principal = std::move(*principal);
  std::string key = std::string(kSessionKeyPrefix) + crypto::Sha256(raw.view());
  ESCROW_RETURN_IF_ERROR(store_->Put(ledger::Cf::kOperational, key,
                                     EncodeSessionValue(session.expires_at_ns, username)));
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

  // Step 2: check expiry; an expired record is deleted on sight.
  int64_t expires_at_ns = 0;
  std::string name;
  if (!DecodeSessionValue(**value, &expires_at_ns, &name)) {
    return Internal("malformed session record");
  }
  if (clock_() >= expires_at_ns) {
    Status deleted = store_->Delete(ledger::Cf::kOperational, *key, /*sync=*/false);
    if (!deleted.ok()) Logger("api")->warn("deleting an expired session failed: {}", deleted.ToString());
    return Unauthenticated("session expired; sign in again");
  }

  // Step 3: roles come from the current account projection.
  return PrincipalOf(*store_, name);
}

Status SessionManager::Revoke(const http::Request& request) const {
  auto key = SessionKeyOf(request);
  if (!key.ok()) return key.status();
  return store_->Delete(ledger::Cf::kOperational, *key);
}

}  // namespace escrow::api
