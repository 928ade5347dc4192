// Api routes POST /v1/me/password and POST /v1/accounts/{id}/password, and
// the rate-limit and login-failure helpers shared with login and retrieval.
//
// A password change or reset appends AccountPasswordChanged and writes the
// new hash to the credentials column family in the same synced ledger write,
// so the new password works only once its event is durable. Sessions are
// bound to the stored hash (api/auth.h), so that write also revokes every
// session of the account.
#include <boost/json.hpp>

#include "api/api.h"
#include "api/json_body.h"
#include "api/route_util.h"
#include "api/views.h"
#include "ledger/log.h"
#include "projections/queries.h"

namespace escrow::api {

namespace json = boost::json;

namespace {

json::array RolesToJson(const std::vector<std::string>& roles) {
  json::array out;
  for (const std::string& role : roles) out.emplace_back(role);
  return out;
}

// Returns a hash writer that counts the account's live sessions, then
// records the change and stores the hash through the escrow service.
SessionManager::HashWriter LedgerHashWriter(const SessionManager& sessions,
                                            projections::EscrowService& service,
                                            const projections::Principal& by,
                                            const std::string& account, bool by_admin) {
  return [&sessions, &service, &by, account, by_admin](std::string_view new_hash) -> Status {
    // NOTE: a login between this count and the commit is revoked but not counted.
    auto live = sessions.CountLiveSessions(account);
    if (!live.ok()) return live.status();
    projections::PasswordChange change{account, by_admin, *live};
    return service.ChangeAccountPassword(by, change, std::string(new_hash)).status();
  };
}

}  // namespace

std::optional<http::Response> Api::CheckRateLimits(std::string_view route,
                                                   const http::Request& request,
                                                   const std::string& principal_key,
                                                   TokenBucketLimiter& by_address,
                                                   TokenBucketLimiter& by_principal) {
  // Step 1: take a token from each bucket. Both are charged, so a client
  // cannot spread guesses over many accounts or many addresses for free.
  const int64_t now_ns = clock_();
  TokenBucketLimiter::Decision address = by_address.Take(request.remote_address, now_ns);
  TokenBucketLimiter::Decision principal = by_principal.Take(principal_key, now_ns);
  if (address.allowed && principal.allowed) return std::nullopt;

  // Step 2: reply 429 for the bucket that is empty, the address first.
  const bool by_addr = !address.allowed;
  const TokenBucketLimiter::Decision& decision = by_addr ? address : principal;
  const std::string key = by_addr ? "address" : "principal";
  metrics_.CountRateLimited(std::string(route), key);
  if (decision.first_rejection) {
    Logger("api")->warn("rate limit for {} per {} reached by {} (account {}); retry after {} s",
                        route, key, request.remote_address,
                        projections::ValidateAccountName(principal_key).ok() ? principal_key
                                                                             : "(invalid name)",
                        decision.retry_after_s);
  }
  std::string message = "too many " + std::string(route) + " requests from this " +
                        (by_addr ? "client address" : "account") + "; retry after " +
                        std::to_string(decision.retry_after_s) + " s";
  http::Response response = ErrorReply(Status(Code::kTooManyRequests, message));
  response.headers["Retry-After"] = std::to_string(decision.retry_after_s);
  return response;
}

void Api::CountLoginFailure(LoginFailure failure) {
  switch (failure) {
    case LoginFailure::kNone:
      return;
    case LoginFailure::kInvalidCredentials:
      metrics_.CountLoginRejected("invalid_credentials");
      return;
    case LoginFailure::kInvalidCredentialsLockedNow:
      metrics_.CountLoginRejected("invalid_credentials");
      metrics_.CountLockout();
      return;
    case LoginFailure::kLocked:
      metrics_.CountLoginRejected("locked");
      return;
  }
}

http::Response Api::ChangeOwnPassword(const Call& call) {
  // Step 1: read both passwords straight into SecretStrings.
  auto body = ParseBodyObject(call.request.body);
  if (!body.ok()) return ErrorReply(body.status());
  Status known = CheckKnownFields(*body, {"current_password", "new_password"});
  if (!known.ok()) return ErrorReply(known);
  auto current = TakeSecretString(*body, "current_password", kMaxPasswordLength);
  if (!current.ok()) return ErrorReply(current.status());
  auto replacement = TakeSecretString(*body, "new_password", kMaxPasswordLength);
  if (!replacement.ok()) return ErrorReply(replacement.status());
  Status length = CheckPasswordLength(replacement->view(), "new_password");
  if (!length.ok()) return ErrorReply(length);

  // Step 2: the current password is guessable here too, so the login limits apply.
  auto limited = CheckRateLimits("password", call.request, call.principal->name,
                                 rate_limiters_.login_by_address, rate_limiters_.login_by_account);
  if (limited.has_value()) {
    metrics_.CountLoginRejected("rate_limited");
    return *limited;
  }

  // Step 3: check the current password, record the change in the ledger
  // together with the new hash, and open a session under the new password.
  LoginFailure failure = LoginFailure::kNone;
  const SessionManager::HashWriter write_hash = LedgerHashWriter(
      sessions_, *service_, *call.principal, call.principal->name, /*by_admin=*/false);
  auto session = sessions_.ChangePassword(*call.principal, current->view(), replacement->view(),
                                          write_hash, &failure);
  CountLoginFailure(failure);
  if (!session.ok()) {
    Logger("api")->warn("password change of {} from {} failed: {}", call.principal->name,
                        call.request.remote_address, session.status().message());
    return ErrorReply(session.status());
  }
  Logger("api")->info("password of {} changed by its owner; its other sessions are revoked",
                      call.principal->name);

  json::object reply;
  reply["username"] = session->principal.name;
  reply["roles"] = RolesToJson(session->principal.roles);
  PutTime(reply, "expires_at", session->expires_at_ns);
  reply["sessions_revoked"] = true;
  return SecretJsonReply(200, reply, "token", session->token.view());
}

http::Response Api::ResetAccountPassword(const Call& call) {
  // Step 1: check the account name and the new password.
  Status name_ok = projections::ValidateAccountName(call.id);
  if (!name_ok.ok()) return ErrorReply(name_ok);
  auto body = ParseBodyObject(call.request.body);
  if (!body.ok()) return ErrorReply(body.status());
  Status known = CheckKnownFields(*body, {"new_password"});
  if (!known.ok()) return ErrorReply(known);
  auto replacement = TakeSecretString(*body, "new_password", kMaxPasswordLength);
  if (!replacement.ok()) return ErrorReply(replacement.status());
  Status length = CheckPasswordLength(replacement->view(), "new_password");
  if (!length.ok()) return ErrorReply(length);

  // Step 2: record the reset in the ledger together with the new hash, which
  // revokes the account's sessions.
  const SessionManager::HashWriter write_hash =
      LedgerHashWriter(sessions_, *service_, *call.principal, call.id, /*by_admin=*/true);
  Status reset = sessions_.ResetPassword(call.id, replacement->view(), write_hash);
  if (!reset.ok()) {
    Logger("api")->warn("password reset of {} by {} failed: {}", call.id, call.principal->name,
                        reset.message());
    return ErrorReply(reset);
  }
  Logger("api")->info("password of {} reset by {}; its sessions are revoked and its lockout "
                      "cleared",
                      call.id, call.principal->name);

  json::object reply;
  reply["username"] = call.id;
  reply["sessions_revoked"] = true;
  return JsonReply(200, reply);
}

}  // namespace escrow::api
