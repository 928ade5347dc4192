// Api routes for sessions, policy and accounts.
#include <boost/json.hpp>

#include "api/api.h"
#include "api/json_body.h"
#include "api/route_util.h"
#include "api/views.h"
#include "ledger/log.h"
#include "projections/queries.h"

namespace escrow::api {

namespace json = boost::json;
using projections::kRoleAdmin;
using projections::kRoleAuditor;
using projections::kRoleHelpdesk;
using projections::kRoleUser;

namespace {

json::array RolesToJson(const std::vector<std::string>& roles) {
  json::array out;
  for (const std::string& role : roles) out.emplace_back(role);
  return out;
}

std::string DescribePolicy(const projections::Policy& policy) {
  return "reset_mode=" + policy.reset_mode +
         " self_service_recovery=" + (policy.self_service_recovery ? "on" : "off") +
         " rotate_after_retrieval=" + (policy.rotate_after_retrieval ? "on" : "off") +
         " check_in_interval_s=" + std::to_string(policy.check_in_interval_s) +
         " min_os_version=" + policy.min_os_version;
}

Result<projections::PolicyUpdate> ParsePolicyUpdate(const json::object& body) {
  ESCROW_RETURN_IF_ERROR(CheckKnownFields(
      body, {"reset_mode", "self_service_recovery", "rotate_after_retrieval",
             "check_in_interval_s", "min_os_version"}));
  projections::PolicyUpdate update;
  auto reset_mode = OptionalString(body, "reset_mode", kMaxFieldLength);
  if (!reset_mode.ok()) return reset_mode.status();
  update.reset_mode = *reset_mode;
  auto self_service = OptionalBool(body, "self_service_recovery");
  if (!self_service.ok()) return self_service.status();
  update.self_service_recovery = *self_service;
  auto rotate = OptionalBool(body, "rotate_after_retrieval");
  if (!rotate.ok()) return rotate.status();
  update.rotate_after_retrieval = *rotate;
  auto interval = OptionalUint(body, "check_in_interval_s");
  if (!interval.ok()) return interval.status();
  update.check_in_interval_s = *interval;
  auto min_os = OptionalString(body, "min_os_version", kMaxFieldLength);
  if (!min_os.ok()) return min_os.status();
  update.min_os_version = *min_os;
  return update;
}

Status ValidateRoles(const std::vector<std::string>& roles) {
  if (roles.empty()) return InvalidArgument("field \"roles\" must name at least one role");
  for (const std::string& role : roles) {
    if (role != kRoleUser && role != kRoleHelpdesk && role != kRoleAdmin && role != kRoleAuditor) {
      return InvalidArgument("unknown role \"" + role +
                             "\" in field \"roles\"; use user, helpdesk, admin or auditor");
    }
  }
  return Status::Ok();
}

struct LoginBody {
  std::string username;
  crypto::SecretString password;
};

Result<LoginBody> ParseLoginBody(std::string_view text) {
  auto body = ParseBodyObject(text);
  if (!body.ok()) return body.status();
  ESCROW_RETURN_IF_ERROR(CheckKnownFields(*body, {"username", "password"}));
  auto username = RequiredString(*body, "username", kMaxFieldLength);
  if (!username.ok()) return username.status();
  auto password = TakeSecretString(*body, "password", kMaxPasswordLength);
  if (!password.ok()) return password.status();
  return LoginBody{std::move(*username), std::move(*password)};
}

}  // namespace

http::Response Api::Login(const Call& call) {
  // Step 1: read the credentials; the password goes straight into a SecretString.
  auto credentials = ParseLoginBody(call.request.body);
  if (!credentials.ok()) {
    metrics_.CountLoginRejected("invalid_request");
    return ErrorReply(credentials.status());
  }

  // Step 2: limit attempts per client address and per normalized account name.
  const std::string name = NormalizeAccountName(credentials->username);
  auto limited = CheckRateLimits("login", call.request, name, rate_limiters_.login_by_address,
                                 rate_limiters_.login_by_account);
  if (limited.has_value()) {
    metrics_.CountLoginRejected("rate_limited");
    return *limited;
  }

  // Step 3: check them and create the session. An unknown account, a wrong
  // password and a locked account get the same reply.
  LoginFailure failure = LoginFailure::kNone;
  auto session = sessions_.Login(name, credentials->password.view(), &failure);
  metrics_.CountLogin(session.ok());
  CountLoginFailure(failure);
  // An invalid name may hold control characters, so it is not logged.
  const std::string loggable = projections::ValidateAccountName(name).ok() ? name : "(invalid name)";
  if (!session.ok()) {
    Logger("api")->warn("login as {} from {} failed: {}", loggable, call.request.remote_address,
                        session.status().message());
    return ErrorReply(session.status());
  }
  Logger("api")->debug("login as {} from {}", loggable, call.request.remote_address);

  // Step 4: reply with the token, which is sent once and not kept.
  json::object reply;
  reply["username"] = session->principal.name;
  reply["roles"] = RolesToJson(session->principal.roles);
  PutTime(reply, "expires_at", session->expires_at_ns);
  return SecretJsonReply(200, reply, "token", session->token.view());
}

http::Response Api::Logout(const Call& call) {
  Status revoked = sessions_.Revoke(call.request);
  if (!revoked.ok()) return ErrorReply(revoked);
  Logger("api")->debug("logout of {}", call.principal->name);
  return JsonReply(200, json::object());
}

http::Response Api::GetSession(const Call& call) {
  json::object reply;
  reply["username"] = call.principal->name;
  reply["roles"] = RolesToJson(call.principal->roles);
  return JsonReply(200, reply);
}

http::Response Api::GetPolicy(const Call& call) {
  if (call.principal->roles.empty()) {
    return ErrorReply(PermissionDenied("reading the policy requires an account with a role"));
  }
  auto policy = projections::GetPolicy(*store_);
  if (!policy.ok()) return ErrorReply(policy.status());
  return JsonReply(200, PolicyToJson(*policy));
}

http::Response Api::PutPolicy(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  auto body = ParseBodyObject(call.request.body);
  if (!body.ok()) return ErrorReply(body.status());
  auto update = ParsePolicyUpdate(*body);
  if (!update.ok()) return ErrorReply(update.status());

  auto policy = service_->SetPolicy(*call.principal, *update);
  if (!policy.ok()) return ErrorReply(policy.status());
  Logger("api")->info("policy changed by {}: {}", call.principal->name, DescribePolicy(*policy));
  return JsonReply(200, PolicyToJson(*policy));
}

http::Response Api::CreateAccount(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);

  // Step 1: read and check the fields.
  auto body = ParseBodyObject(call.request.body);
  if (!body.ok()) return ErrorReply(body.status());
  Status known = CheckKnownFields(*body, {"username", "password", "roles", "display_name"});
  if (!known.ok()) return ErrorReply(known);
  auto username = RequiredString(*body, "username", kMaxFieldLength);
  if (!username.ok()) return ErrorReply(username.status());
  Status name_ok = projections::ValidateAccountName(*username);
  if (!name_ok.ok()) return ErrorReply(name_ok);
  auto roles = OptionalStringList(*body, "roles", kMaxRolesPerAccount, kMaxFieldLength);
  if (!roles.ok()) return ErrorReply(roles.status());
  std::vector<std::string> role_list =
      roles->value_or(std::vector<std::string>{std::string(kRoleUser)});
  Status roles_ok = ValidateRoles(role_list);
  if (!roles_ok.ok()) return ErrorReply(roles_ok);
  auto display_name = OptionalString(*body, "display_name", kMaxDisplayNameLength);
  if (!display_name.ok()) return ErrorReply(display_name.status());
  auto password = TakeSecretString(*body, "password", kMaxPasswordLength);
  if (!password.ok()) return ErrorReply(password.status());
  if (password->size() < kMinPasswordLength) {
    return ErrorReply(InvalidArgument("field \"password\" must be at least " +
                                      std::to_string(kMinPasswordLength) + " bytes long"));
  }

  // Step 2: create it through the ledger; the hash goes to the credentials CF.
  Status created = service_->CreateAccount(*call.principal, *username, role_list,
                                           display_name->value_or(""),
                                           sessions_.HashNewPassword(password->view()));
  if (!created.ok()) return ErrorReply(created);
  std::string role_text;
  for (const std::string& role : role_list) role_text += (role_text.empty() ? "" : ",") + role;
  Logger("api")->info("account {} created by {} with roles {}", *username, call.principal->name,
                      role_text);

  // Step 3: reply with the stored record.
  auto account = projections::GetAccount(*store_, *username);
  if (!account.ok()) return ErrorReply(account.status());
  if (!account->has_value()) return ErrorReply(Internal("account missing after creation"));
  return JsonReply(201, AccountToJson(**account));
}

http::Response Api::ListAccounts(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  auto accounts = projections::ListAccounts(*store_);
  if (!accounts.ok()) return ErrorReply(accounts.status());
  json::array list;
  for (const auto& account : *accounts) list.emplace_back(AccountToJson(account));
  json::object reply;
  reply["accounts"] = std::move(list);
  return JsonReply(200, reply);
}

}  // namespace escrow::api
