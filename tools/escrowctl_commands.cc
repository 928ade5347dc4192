// escrowctl commands that talk to the API: each logs in, acts and logs out.
#include <openssl/crypto.h>

#include <cstdlib>
#include <functional>
#include <iostream>

#include "api/time_format.h"
#include "api/views.h"
#include "tools/escrowctl_common.h"

namespace escrow::ctl {

namespace json = boost::json;

namespace {

using CommandFn = std::function<int(ApiSession&, const Settings&)>;

// Prints the server's error with the API names of the command's options
// replaced by the options themselves.
int Fail(const Status& status, const FlagNames& names = {}) {
  std::cerr << "escrowctl: " << WithFlagNames(status.message(), names) << "\n";
  return kExitFailure;
}

// The API names of each command's options.
const FlagNames kRetrievalFlags = {{"reason", "--reason"}};
const FlagNames kAccountFlags = {
    {"username", "--username"},
    {"roles", "--roles"},
    {"display_name", "--display-name"},
    {"password", "the new account's password (--password or $ESCROW_NEW_PASSWORD)"}};
const FlagNames kDeviceFlags = {
    {"device_id", "--device"}, {"owner", "--owner"}, {"token_ttl_s", "--token-ttl"}};
const FlagNames kPolicyFlags = {{"reset_mode", "--reset-mode"},
                                {"self_service_recovery", "--self-service"},
                                {"rotate_after_retrieval", "--rotate-after-retrieval"},
                                {"check_in_interval_s", "--check-in-interval"},
                                {"min_os_version", "--min-os-version"}};
const FlagNames kDeviceListFlags = {
    {"owner", "--owner"}, {"prefix", "--prefix"}, {"limit", "--limit"}, {"after", "--after"}};
const FlagNames kAuditFlags = {{"device", "--device"}, {"actor", "--actor"},
                               {"since", "--since"},   {"until", "--until"},
                               {"limit", "--limit"},   {"denied", "--denied"}};

void PrintJson(const json::value& value) { std::cout << json::serialize(value) << "\n"; }

// Splits "a,b,c" into its non-empty parts.
std::vector<std::string> SplitComma(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

bool ParseOnOff(const std::string& text, const std::string& option) {
  if (text == "on" || text == "true" || text == "yes") return true;
  if (text == "off" || text == "false" || text == "no") return false;
  throw UsageError{"--" + option + " must be on or off, not \"" + text + "\""};
}

uint64_t ParseSeconds(const std::string& text, const std::string& option) {
  if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError{"--" + option + " must be a whole number of seconds"};
  }
  return std::stoull(text);
}

std::string Require(const Settings& settings, const std::string& option) {
  std::string value = settings.Value(option);
  if (value.empty()) throw UsageError{settings.command + " needs --" + option};
  return value;
}

// Appends "&name=value" (or "?name=value" first) for each option that is set.
std::string Query(const Settings& settings,
                  const std::vector<std::pair<std::string, std::string>>& options) {
  std::string query;
  for (const auto& [option, parameter] : options) {
    if (!settings.HasValue(option)) continue;
    query += (query.empty() ? "?" : "&") + parameter + "=" + UrlEncode(settings.Value(option));
  }
  return query;
}

void PrintPolicy(const json::object& policy) {
  std::cout << "reset mode:              " << Text(policy, "reset_mode") << "\n"
            << "self-service recovery:   " << (policy.at("self_service_recovery").as_bool() ? "on" : "off") << "\n"
            << "rotate after retrieval:  " << (policy.at("rotate_after_retrieval").as_bool() ? "on" : "off") << "\n"
            << "check-in interval:       " << Text(policy, "check_in_interval_s") << " s\n"
            << "minimum OS version:      " << Text(policy, "min_os_version") << "\n";
}

// Throws a UsageError when the signed-in account has the helpdesk role,
// because the server then rejects a retrieval without a reason.
// NOTE: this also requires a reason from an account that has both the user and
// the helpdesk role, even for its own device with self-service recovery on.
void RequireReasonForHelpdesk(ApiSession& session, const Settings& settings) {
  if (!settings.Value("reason").empty()) return;
  auto signed_in = session.Call("GET", "/v1/session");
  if (!signed_in.ok() || !signed_in->contains("roles") || !signed_in->at("roles").is_array()) {
    return;  // the retrieval itself reports any server error
  }
  for (const auto& role : signed_in->at("roles").as_array()) {
    if (role.is_string() && role.as_string() == "helpdesk") {
      throw UsageError{"get-recovery-password needs --reason TICKET: the help desk must give a "
                       "reason, such as a ticket id, for every retrieval"};
    }
  }
}

// get-recovery-password --device ID --reason TEXT
int GetRecoveryPassword(ApiSession& session, const Settings& settings) {
  std::string device = Require(settings, "device");
  RequireReasonForHelpdesk(session, settings);
  json::object body;
  body["channel"] = "cli";
  if (settings.HasValue("reason")) body["reason"] = settings.Value("reason");
  auto reply = session.Call("POST", "/v1/devices/" + UrlEncode(device) +
                                        "/recovery-password:retrieve",
                            json::serialize(body));
  if (!reply.ok()) return Fail(reply.status(), kRetrievalFlags);

  if (settings.json) {
    crypto::SecretString text(json::serialize(*reply));
    std::cout << text.str() << "\n";
  } else {
    std::cout << "Recovery password for " << device << " (generation " << Text(*reply, "generation")
              << "): " << reply->at("recovery_password").as_string().c_str() << "\n";
    if (!reply->at("armed").as_bool()) {
      std::cout << "This recovery password is " << Text(*reply, "status")
                << "; it works once the owner has unlocked the device with its password.\n";
    }
  }
  json::string& password = reply->at("recovery_password").as_string();
  OPENSSL_cleanse(password.data(), password.size());
  return kExitOk;
}

// add-account --username U --password P --roles user,helpdesk [--display-name N]
// Returns the new password of add-account, change-password or reset-password:
// --new-password (add-account's --password), then $ESCROW_NEW_PASSWORD, then
// a prompt. Throws UsageError with `missing` when none is available.
crypto::SecretString NewPassword(const Settings& settings, const std::string& prompt,
                                 const std::string& missing) {
  if (settings.HasValue("new-password")) return crypto::SecretString(settings.Value("new-password"));
  if (const char* env = std::getenv("ESCROW_NEW_PASSWORD"); env != nullptr && *env) {
    return crypto::SecretString(env);
  }
  auto prompted = PromptPassword(prompt);
  if (!prompted.ok()) throw UsageError{missing};
  return std::move(*prompted);
}

// Serializes body, then wipes the string field `secret` inside body.
crypto::SecretString SerializeAndWipe(json::object& body, const char* secret) {
  crypto::SecretString text(json::serialize(body));
  json::string& in_object = body[secret].as_string();
  OPENSSL_cleanse(in_object.data(), in_object.size());
  return text;
}

// change-password: changes the signed-in account's own password. The
// current password is the sign-in password; every other session of the
// account ends.
int ChangePassword(ApiSession& session, const Settings& settings) {
  crypto::SecretString replacement =
      NewPassword(settings, "New password for " + settings.user + ": ",
                  "change-password needs --new-password or ESCROW_NEW_PASSWORD");
  json::object body;
  body["current_password"] = settings.password.value_or("");
  body["new_password"] = replacement.str();
  crypto::SecretString text = SerializeAndWipe(body, "new_password");
  json::string& current = body["current_password"].as_string();
  OPENSSL_cleanse(current.data(), current.size());

  auto reply = session.Call("POST", "/v1/me/password", text.str());
  if (!reply.ok()) return Fail(reply.status(), {{"new_password", "the new password"}});
  // The reply carries a fresh session token, which is not printed.
  if (auto token = reply->find("token"); token != reply->end() && token->value().is_string()) {
    json::string& value = token->value().as_string();
    OPENSSL_cleanse(value.data(), value.size());
    reply->erase("token");
  }
  if (settings.json) {
    PrintJson(*reply);
    return kExitOk;
  }
  std::cout << "Changed the password of " << Text(*reply, "username")
            << "; its other sessions are signed out. The change is ledger event "
               "AccountPasswordChanged.\n";
  return kExitOk;
}

// reset-password --username U: an admin sets another account's password,
// which signs out all of that account's sessions and clears its lockout.
int ResetPassword(ApiSession& session, const Settings& settings) {
  const std::string account = Require(settings, "username");
  crypto::SecretString replacement =
      NewPassword(settings, "New password for " + account + ": ",
                  "reset-password needs --new-password or ESCROW_NEW_PASSWORD");
  json::object body;
  body["new_password"] = replacement.str();
  crypto::SecretString text = SerializeAndWipe(body, "new_password");

  auto reply = session.Call("POST", "/v1/accounts/" + UrlEncode(account) + "/password", text.str());
  if (!reply.ok()) return Fail(reply.status(), {{"new_password", "the new password"}});
  if (settings.json) {
    PrintJson(*reply);
    return kExitOk;
  }
  std::cout << "Reset the password of " << account
            << "; all its sessions are signed out and its lockout is cleared. The reset is "
               "ledger event AccountPasswordChanged.\n";
  return kExitOk;
}

int AddAccount(ApiSession& session, const Settings& settings) {
  json::object body;
  body["username"] = Require(settings, "username");
  json::array roles;
  for (const std::string& role : SplitComma(settings.HasValue("roles") ? settings.Value("roles") : "user")) {
    roles.emplace_back(role);
  }
  body["roles"] = std::move(roles);
  if (settings.HasValue("display-name")) body["display_name"] = settings.Value("display-name");

  // The new password: --password, then $ESCROW_NEW_PASSWORD, then a prompt.
  crypto::SecretString password = NewPassword(settings, "Password for the new account: ",
                                              "add-account needs --password or ESCROW_NEW_PASSWORD");
  body["password"] = password.str();
  crypto::SecretString text(json::serialize(body));
  json::string& in_object = body["password"].as_string();
  OPENSSL_cleanse(in_object.data(), in_object.size());

  auto reply = session.Call("POST", "/v1/accounts", text.str());
  if (!reply.ok()) return Fail(reply.status(), kAccountFlags);
  if (settings.json) {
    PrintJson(*reply);
  } else {
    std::string role_text;
    for (const auto& role : reply->at("roles").as_array()) {
      role_text += (role_text.empty() ? "" : ",") + std::string(role.as_string());
    }
    std::cout << "Created account " << Text(*reply, "username") << " with roles " << role_text << "\n";
  }
  return kExitOk;
}

int ListAccounts(ApiSession& session, const Settings& settings) {
  auto reply = session.Call("GET", "/v1/accounts");
  if (!reply.ok()) return Fail(reply.status());
  if (settings.json) {
    PrintJson(*reply);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : reply->at("accounts").as_array()) {
    const json::object& account = item.as_object();
    std::string roles;
    for (const auto& role : account.at("roles").as_array()) {
      roles += (roles.empty() ? "" : ",") + std::string(role.as_string());
    }
    rows.push_back({Text(account, "username"), roles, Text(account, "display_name"),
                    Text(account, "created_at")});
  }
  PrintTable({"USERNAME", "ROLES", "DISPLAY NAME", "CREATED"}, rows);
  return kExitOk;
}

// add-device --device ID --owner U [--token-ttl SECONDS]
int AddDevice(ApiSession& session, const Settings& settings) {
  json::object body;
  body["device_id"] = Require(settings, "device");
  body["owner"] = Require(settings, "owner");
  if (settings.HasValue("token-ttl")) {
    body["token_ttl_s"] = ParseSeconds(settings.Value("token-ttl"), "token-ttl");
  }
  auto reply = session.Call("POST", "/v1/devices", json::serialize(body));
  if (!reply.ok()) return Fail(reply.status(), kDeviceFlags);
  if (settings.json) {
    PrintJson(*reply);
  } else {
    std::cout << "Registered device " << Text(*reply, "device_id") << " for owner "
              << Text(*reply, "owner") << ".\n"
              << "Enrollment token (expires " << Text(*reply, "expires_at") << "):\n"
              << Text(*reply, "enrollment_token") << "\n";
  }
  json::string& token = reply->at("enrollment_token").as_string();
  OPENSSL_cleanse(token.data(), token.size());
  return kExitOk;
}

// set-policy [--reset-mode M] [--self-service on|off] [--rotate-after-retrieval on|off]
//            [--check-in-interval SECONDS] [--min-os-version V]
int SetPolicy(ApiSession& session, const Settings& settings) {
  json::object body;
  if (settings.HasValue("reset-mode")) body["reset_mode"] = settings.Value("reset-mode");
  if (settings.HasValue("self-service")) {
    body["self_service_recovery"] = ParseOnOff(settings.Value("self-service"), "self-service");
  }
  if (settings.HasValue("rotate-after-retrieval")) {
    body["rotate_after_retrieval"] =
        ParseOnOff(settings.Value("rotate-after-retrieval"), "rotate-after-retrieval");
  }
  if (settings.HasValue("check-in-interval")) {
    body["check_in_interval_s"] = ParseSeconds(settings.Value("check-in-interval"), "check-in-interval");
  }
  if (settings.HasValue("min-os-version")) body["min_os_version"] = settings.Value("min-os-version");
  if (body.empty()) throw UsageError{"set-policy needs at least one policy option"};

  auto reply = session.Call("PUT", "/v1/policy", json::serialize(body));
  if (!reply.ok()) return Fail(reply.status(), kPolicyFlags);
  if (settings.json) {
    PrintJson(*reply);
  } else {
    PrintPolicy(*reply);
  }
  return kExitOk;
}

int ShowPolicy(ApiSession& session, const Settings& settings) {
  auto reply = session.Call("GET", "/v1/policy");
  if (!reply.ok()) return Fail(reply.status());
  if (settings.json) {
    PrintJson(*reply);
  } else {
    PrintPolicy(*reply);
  }
  return kExitOk;
}

// devices [--owner U] [--prefix P]
int ListDevices(ApiSession& session, const Settings& settings) {
  auto reply = session.Call(
      "GET", "/v1/devices" + Query(settings, {{"owner", "owner"}, {"prefix", "prefix"},
                                              {"limit", "limit"}, {"after", "after"}}));
  if (!reply.ok()) return Fail(reply.status(), kDeviceListFlags);
  if (settings.json) {
    PrintJson(*reply);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : reply->at("devices").as_array()) {
    const json::object& d = item.as_object();
    rows.push_back({Text(d, "device_id"), Text(d, "owner"), Text(d, "state"),
                    Text(d, "generation"), Text(d, "armed"), Text(d, "password_status"),
                    Text(d, "updated_at")});
  }
  PrintTable({"DEVICE", "OWNER", "STATE", "GENERATION", "ARMED", "PASSWORD", "UPDATED"}, rows);
  return kExitOk;
}

int ShowDevice(ApiSession& session, const Settings& settings) {
  auto reply = session.Call("GET", "/v1/devices/" + UrlEncode(Require(settings, "device")));
  if (!reply.ok()) return Fail(reply.status());
  if (settings.json) {
    PrintJson(*reply);
    return kExitOk;
  }
  for (const auto& item : *reply) {
    if (std::string(item.key()).ends_with("_ns")) continue;
    std::string key(item.key());
    std::cout << key << ":" << std::string(std::max<size_t>(1, 24 - key.size()), ' ')
              << Text(*reply, key) << "\n";
  }
  return kExitOk;
}

int ShowTimeline(ApiSession& session, const Settings& settings) {
  auto reply = session.Call("GET", "/v1/devices/" + UrlEncode(Require(settings, "device")) +
                                       "/timeline");
  if (!reply.ok()) return Fail(reply.status());
  if (settings.json) {
    PrintJson(*reply);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : reply->at("entries").as_array()) {
    const json::object& e = item.as_object();
    std::string actor = Text(e, "actor");
    // Events the server derives itself (e.g. an invalidation) have no actor id.
    if (actor.empty()) actor = Text(e, "actor_kind");
    rows.push_back({Text(e, "seq"), Text(e, "time"), Text(e, "type"), actor,
                    e.contains("payload") ? json::serialize(e.at("payload")) : ""});
  }
  PrintTable({"SEQ", "TIME", "EVENT", "ACTOR", "DETAILS"}, rows);
  return kExitOk;
}

// entries --from A [--to B] [--type EVENT]: the ledger entries A to B (at
// most 1000), optionally only those of one event type, one line each.
int ShowEntries(ApiSession& session, const Settings& settings) {
  std::string from = Require(settings, "from");
  std::string query = "?from=" + UrlEncode(from);
  if (settings.HasValue("to")) query += "&to=" + UrlEncode(settings.Value("to"));
  auto reply = session.Call("GET", "/v1/ledger/entries" + query);
  if (!reply.ok()) return Fail(reply.status(), {{"from", "--from"}, {"to", "--to"}});

  // The server has no type filter, so the type is matched here.
  const std::string type = settings.Value("type");
  json::array matching;
  for (const auto& item : reply->at("entries").as_array()) {
    if (type.empty() || Text(item.at("entry").as_object(), "type") == type) matching.push_back(item);
  }
  if (settings.json) {
    (*reply)["entries"] = std::move(matching);
    PrintJson(*reply);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : matching) {
    const json::object& e = item.at("entry").as_object();
    std::string actor = Text(e, "actor");
    if (actor.empty()) actor = Text(e, "actor_kind");
    rows.push_back({Text(e, "seq"), api::FormatRfc3339(e.at("time_ns").to_number<int64_t>()),
                    Text(e, "type"), actor, Text(e, "subject"), json::serialize(e.at("payload"))});
  }
  PrintTable({"SEQ", "TIME", "EVENT", "ACTOR", "SUBJECT", "DETAILS"}, rows);
  std::cout << "Entries " << Text(*reply, "from") << " to " << Text(*reply, "to") << " of "
            << Text(*reply, "committed_seq") << " committed";
  if (!type.empty()) std::cout << ", " << matching.size() << " of type " << type;
  std::cout << ".\n";
  return kExitOk;
}

// audit [--device ID] [--actor A] [--since T] [--until T] [--denied] [--limit N]:
// the oldest N matching records, oldest first, as GET /v1/audit returns them.
int ShowAudit(ApiSession& session, const Settings& settings) {
  std::string query = Query(settings, {{"device", "device"}, {"actor", "actor"},
                                       {"since", "since"}, {"until", "until"}, {"limit", "limit"}});
  if (settings.HasValue("denied")) query += (query.empty() ? "?" : "&") + std::string("denied=1");
  auto reply = session.Call("GET", "/v1/audit" + query);
  if (!reply.ok()) return Fail(reply.status(), kAuditFlags);
  if (settings.HasValue("csv")) {
    std::cout << api::AuditRecordsToCsv(reply->at("records").as_array());
    return kExitOk;
  }
  if (settings.json) {
    PrintJson(*reply);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : reply->at("records").as_array()) {
    const json::object& r = item.as_object();
    bool denied = r.at("denied").as_bool();
    std::string detail = denied ? "DENIED: " + Text(r, "denial_reason") : Text(r, "reason");
    if (denied && !Text(r, "reason").empty()) detail += " (reason: " + Text(r, "reason") + ")";
    rows.push_back({Text(r, "seq"), Text(r, "time"), Text(r, "actor"), Text(r, "device_id"),
                    Text(r, "channel"), denied ? "denied" : "retrieved",
                    denied ? "-" : Text(r, "generation"), detail});
  }
  PrintTable({"SEQ", "TIME", "ACTOR", "DEVICE", "CHANNEL", "OUTCOME", "GENERATION",
              "REASON / DENIAL"},
             rows);
  return kExitOk;
}

const std::map<std::string, CommandFn>& Commands() {
  static const std::map<std::string, CommandFn> kCommands = {
      {"get-recovery-password", GetRecoveryPassword},
      {"add-account", AddAccount},
      {"accounts", ListAccounts},
      {"add-device", AddDevice},
      {"set-policy", SetPolicy},
      {"policy", ShowPolicy},
      {"devices", ListDevices},
      {"device", ShowDevice},
      {"timeline", ShowTimeline},
      {"audit", ShowAudit},
      {"change-password", ChangePassword},
      {"reset-password", ResetPassword},
      {"entries", ShowEntries},
      {"receipts", ShowReceipts},
      {"valid-at", ShowValidAt},
      {"request-rotation", RequestRotation},
      {"retire", RetireDevice},
      {"checkpoint", WriteCheckpoint},
      {"rotate-signing-key", RotateLedgerSigningKey},
  };
  return kCommands;
}

}  // namespace

int RunServerCommand(const Settings& settings) {
  auto it = Commands().find(settings.command);
  if (it == Commands().end()) throw UsageError{"unknown command \"" + settings.command + "\""};
  if (settings.server.empty()) {
    throw UsageError{"no server: pass --server HOST:PORT or set ESCROW_SERVER"};
  }
  if (settings.user.empty()) throw UsageError{"no user: pass --user or set ESCROW_USER"};

  auto session = ApiSession::Open(settings);
  if (!session.ok()) return Fail(session.status());
  return it->second(**session, settings);
}

}  // namespace escrow::ctl
