// The authorization matrix: every route of Api::kRoutes, called by every kind
// of caller (anonymous, the device owner, another user, helpdesk, admin,
// auditor) on an own, another and a missing object when the route has an
// {id}. Each reply status is compared with the expected table below, and no
// reply other than an allowed retrieval may contain a known recovery
// password in any common encoding. The stack is real: RocksDB in a temp dir,
// the sequencer, EscrowService, a checkpointer and http::Server on 127.0.0.1.
#include "api/api.h"

#include <catch2/catch.hpp>

#include <array>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "api/auth.h"
#include "api/console.h"
#include "api/http/http.h"
#include "api/route_table.h"
#include "ledger/checkpointer.h"
#include "ledger/crypto.h"
#include "ledger/envelope.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/projector.h"
#include "projections/service.h"
#include "tests/api_stack.h"
#include "tests/test_support.h"

using namespace escrow;
namespace json = boost::json;

namespace {

constexpr const char* kPassword = "correct horse battery";
constexpr const char* kMissingDevice = "no-such-device";
constexpr const char* kMissingNumber = "999999";

// The callers of the matrix, in the order of the expected table's rows.
enum Caller { kAnonymous, kOwner, kOtherUser, kHelpdesk, kAdmin, kAuditor, kCallerCount };
constexpr const char* kCallerNames[kCallerCount] = {"anonymous", "alice", "bob",
                                                    "helen",     "ada",   "audrey"};

// The roles each caller's account holds.
const api::RoleSet kCallerRoles[kCallerCount] = {api::kNoRoles,          api::Role::kUser,
                                                 api::Role::kUser,       api::Role::kHelpdesk,
                                                 api::Role::kAdmin,      api::Role::kAuditor};

// The objects an {id} route is called on, in the order of a cell's columns.
// "own" belongs to alice (kOwner), "other" to bob (kOtherUser).
enum Target { kOwn, kOther, kMissing, kTargetCount };
constexpr const char* kTargetNames[kTargetCount] = {"own", "other", "missing"};

// What the {id} of a route names, which decides the ids of own, other and missing.
enum class IdKind { kNone, kDevice, kAccount, kCheckpoint, kReceipt, kConsoleFile };

// One row of the expected table. For routes without {id} only column 0 of
// each caller's cell is used.
struct Expected {
  std::string_view method;
  std::string_view pattern;
  IdKind id_kind;
  std::string body;
  std::string query;
  std::array<std::array<int, kTargetCount>, kCallerCount> status;
  // Run after every other route, because it changes what later cells see.
  bool run_last = false;
};

using Cells = std::array<std::array<int, kTargetCount>, kCallerCount>;

// Cells of a route without {id}: one status per caller.
Cells PerCaller(int anonymous, int owner, int other_user, int helpdesk, int admin, int auditor) {
  return {{{anonymous, 0, 0},
           {owner, 0, 0},
           {other_user, 0, 0},
           {helpdesk, 0, 0},
           {admin, 0, 0},
           {auditor, 0, 0}}};
}

const Cells kSignedIn = PerCaller(401, 200, 200, 200, 200, 200);
const Cells kAdminOnly = PerCaller(401, 403, 403, 403, 200, 403);
const Cells kAuditOnly = PerCaller(401, 403, 403, 403, 200, 200);
const Cells kEveryone = PerCaller(200, 200, 200, 200, 200, 200);
// Device reads: staff see every device. A user sees own devices only, and a
// missing device gets the same 403 as another user's.
const Cells kDeviceRead = {{{401, 401, 401},
                            {200, 403, 403},
                            {403, 200, 403},
                            {200, 200, 404},
                            {200, 200, 404},
                            {200, 200, 404}}};
const Cells kDeviceAdmin = {{{401, 401, 401},
                             {403, 403, 403},
                             {403, 403, 403},
                             {403, 403, 403},
                             {200, 200, 404},
                             {403, 403, 403}}};

std::string Json(const json::object& object) { return json::serialize(object); }

// The expected table: one row per route of Api::kRoutes.
std::vector<Expected> ExpectedTable() {
  const std::string login = Json({{"username", "audrey"}, {"password", kPassword}});
  const std::string same_password = Json({{"new_password", kPassword}});
  const std::string change_password =
      Json({{"current_password", kPassword}, {"new_password", kPassword}});
  const std::string retrieve = Json({{"reason", "TICKET-7"}, {"channel", "console"}});
  return {
      {"POST", "/v1/sessions", IdKind::kNone, login, "", kEveryone},
      {"DELETE", "/v1/sessions", IdKind::kNone, "", "", kSignedIn},
      {"GET", "/v1/session", IdKind::kNone, "", "", kSignedIn},
      {"GET", "/v1/policy", IdKind::kNone, "", "", kSignedIn},
      {"PUT", "/v1/policy", IdKind::kNone, R"({"check_in_interval_s":28800})", "", kAdminOnly},
      {"POST", "/v1/accounts", IdKind::kNone,
       Json({{"username", "newcomer"}, {"password", kPassword}, {"roles", json::array{"user"}}}),
       "", PerCaller(401, 403, 403, 403, 201, 403)},
      {"GET", "/v1/accounts", IdKind::kNone, "", "", kAdminOnly},
      {"POST", "/v1/accounts/{id}/password", IdKind::kAccount, same_password, "", kDeviceAdmin},
      {"POST", "/v1/me/password", IdKind::kNone, change_password, "", kSignedIn},
      {"POST", "/v1/devices", IdKind::kNone, Json({{"device_id", "phone-c"}, {"owner", "alice"}}),
       "", PerCaller(401, 403, 403, 403, 201, 403)},
      {"GET", "/v1/devices", IdKind::kNone, "", "", kSignedIn},
      {"GET", "/v1/devices/{id}", IdKind::kDevice, "", "", kDeviceRead},
      {"GET", "/v1/devices/{id}/timeline", IdKind::kDevice, "", "", kDeviceRead},
      {"GET", "/v1/devices/{id}/valid-at", IdKind::kDevice, "", "?time=2200-01-01T00:00:00Z",
       kDeviceRead},
      {"GET", "/v1/me/retrievals", IdKind::kNone, "", "", kSignedIn},
      // Owners retrieve their own device's password (self-service is on by
      // default); the help desk retrieves any. Admin and auditor hold neither role.
      {"POST", "/v1/devices/{id}/recovery-password:retrieve", IdKind::kDevice, retrieve, "",
       {{{401, 401, 401},
         {200, 403, 403},
         {403, 200, 403},
         {200, 200, 404},
         {403, 403, 403},
         {403, 403, 403}}}},
      {"POST", "/v1/devices/{id}/rotation", IdKind::kDevice, "", "", kDeviceAdmin},
      {"POST", "/v1/devices/{id}/retire", IdKind::kDevice, "", "", kDeviceAdmin, true},
      {"GET", "/v1/audit", IdKind::kNone, "", "", kAuditOnly},
      {"GET", "/v1/ledger/head", IdKind::kNone, "", "", kAuditOnly},
      {"GET", "/v1/ledger/entries", IdKind::kNone, "", "?from=1", kAuditOnly},
      {"GET", "/v1/ledger/export", IdKind::kNone, "", "", kAuditOnly},
      {"GET", "/v1/checkpoints/latest", IdKind::kNone, "", "", kAuditOnly},
      {"POST", "/v1/checkpoints", IdKind::kNone, "", "", PerCaller(401, 403, 403, 403, 201, 201)},
      // A new signing key changes what later checkpoints are signed with.
      {"POST", "/v1/ledger/signing-key:rotate", IdKind::kNone, "", "",
       PerCaller(401, 403, 403, 403, 201, 403), true},
      {"GET", "/v1/checkpoints/{id}", IdKind::kCheckpoint, "", "",
       {{{401, 401, 401},
         {403, 403, 403},
         {403, 403, 403},
         {403, 403, 403},
         {200, 200, 404},
         {200, 200, 404}}}},
      {"GET", "/v1/proofs/inclusion", IdKind::kNone, "", "?seq=1&tree_size=2", kAuditOnly},
      {"GET", "/v1/proofs/consistency", IdKind::kNone, "", "?size1=1&size2=2", kAuditOnly},
      // "own" is alice's retrieval and "other" bob's; helen made neither.
      {"GET", "/v1/receipts/{id}", IdKind::kReceipt, "", "",
       {{{401, 401, 401},
         {200, 403, 404},
         {403, 200, 404},
         {403, 403, 404},
         {200, 200, 404},
         {200, 200, 404}}}},
      {"GET", "/healthz", IdKind::kNone, "", "", kEveryone},
      {"GET", "/metrics", IdKind::kNone, "", "", kEveryone},
      {"GET", "/", IdKind::kNone, "", "", PerCaller(302, 302, 302, 302, 302, 302)},
      {"GET", "/console", IdKind::kNone, "", "", PerCaller(302, 302, 302, 302, 302, 302)},
      {"GET", "/console/", IdKind::kNone, "", "", kEveryone},
      {"GET", "/console/{id}", IdKind::kConsoleFile, "", "",
       {{{200, 200, 404},
         {200, 200, 404},
         {200, 200, 404},
         {200, 200, 404},
         {200, 200, 404},
         {200, 200, 404}}}},
  };
}

// Returns standard base64 of bytes, with padding.
std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(n >> shift) & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t n = uint8_t(bytes[i]) << 16;
    out += std::string{kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += std::string{kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63],
                       kAlphabet[(n >> 6) & 63], '='};
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Returns "12345-67890-12345-67890" for 20 digits.
std::string Grouped(const std::string& digits) {
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && i % 5 == 0) out += '-';
    out += digits[i];
  }
  return out;
}

// The forms in which a leaked recovery password is searched for: plain and
// grouped digits, their hex, and their base64 and base64url at each of the
// three byte alignments, with the edge characters that depend on
// neighbouring bytes cut off.
std::vector<std::string> LeakForms(const std::string& digits) {
  std::vector<std::string> forms = {digits, Grouped(digits)};
  for (const std::string& text : {digits, Grouped(digits)}) {
    forms.push_back(Hex(text));
    for (size_t pad = 0; pad < 3; ++pad) {
      std::string encoded = Base64(std::string(pad, '\0') + text);
      // Skip the characters that mix in the padding bytes, and the tail.
      std::string core = encoded.substr(4, encoded.size() - 8);
      forms.push_back(core);
      std::string url = core;
      for (char& c : url) c = c == '+' ? '-' : (c == '/' ? '_' : c);
      forms.push_back(url);
    }
  }
  return forms;
}

// Returns the first form of digits found in body (hex compared in lower
// case), or an empty string.
std::string FindLeak(const std::string& body, const std::string& digits) {
  std::string lower_body = Lower(body);
  for (const std::string& form : LeakForms(digits)) {
    if (body.find(form) != std::string::npos) return form;
    if (form.find_first_not_of("0123456789abcdef") == std::string::npos &&
        lower_body.find(form) != std::string::npos) {
      return form;
    }
  }
  return "";
}

// The whole API stack on one data directory, with a two-device fleet.
class MatrixStack : public testing::ApiStack {
 public:
  // Creates the accounts, escrows a known password on each owner's device,
  // records one retrieval by each owner and writes two checkpoints.
  void PopulateFleet() {
    const std::string hash = api::HashPassword(kPassword, api::kMinPasswordLogN);
    AddAccount("ada", {"admin"}, hash);
    AddAccount("alice", {"user"}, hash);
    AddAccount("bob", {"user"}, hash);
    AddAccount("helen", {"helpdesk"}, hash);
    AddAccount("audrey", {"auditor"}, hash);
    EscrowDevice("phone-a", "alice", kAliceDigits);
    EscrowDevice("phone-b", "bob", kBobDigits);

    auto first = checkpointer().WriteNow();
    REQUIRE(first.ok());
    checkpoint_sizes_[kOwn] = std::to_string(sequencer().committed_seq());
    receipt_seqs_[kOwn] = RetrieveAs("alice", "phone-a");
    receipt_seqs_[kOther] = RetrieveAs("bob", "phone-b");
    auto second = checkpointer().WriteNow();
    REQUIRE(second.ok());
    checkpoint_sizes_[kOther] = std::to_string(sequencer().committed_seq());

    for (int caller = kOwner; caller < kCallerCount; ++caller) Login(Caller(caller));
  }

  // Returns the path segment that stands for target on a route whose {id} is kind.
  std::string IdFor(IdKind kind, Target target) const {
    switch (kind) {
      case IdKind::kNone:
        return "";
      case IdKind::kDevice: {
        const char* devices[kTargetCount] = {"phone-a", "phone-b", kMissingDevice};
        return devices[target];
      }
      case IdKind::kAccount: {
        const char* accounts[kTargetCount] = {"alice", "bob", "nobody"};
        return accounts[target];
      }
      case IdKind::kCheckpoint:
        return target == kMissing ? kMissingNumber : checkpoint_sizes_[target];
      case IdKind::kReceipt:
        return target == kMissing ? kMissingNumber : receipt_seqs_[target];
      case IdKind::kConsoleFile: {
        auto assets = api::ConsoleAssets();
        REQUIRE(!assets.empty());
        if (target == kMissing) return "no-such-file.js";
        return std::string(target == kOwn ? assets.front().name : assets.back().name);
      }
    }
    return "";
  }

  http::Response Send(Caller caller, const std::string& method, const std::string& target,
                      const std::string& body) {
    std::map<std::string, std::string> headers;
    if (caller != kAnonymous) headers["Authorization"] = "Bearer " + tokens_[caller];
    auto response = client().Send(method, target, body, headers);
    REQUIRE(response.ok());
    return std::move(*response);
  }

  // Signs caller in again when a logout or a password change ended its session.
  void RenewEndedSessions() {
    for (int caller = kOwner; caller < kCallerCount; ++caller) {
      if (Send(Caller(caller), "GET", "/v1/session", "").status == 401) Login(Caller(caller));
    }
  }

  static constexpr const char* kAliceDigits = "31415926535897932384";
  static constexpr const char* kBobDigits = "27182818284590452353";

 private:
  void AddAccount(const std::string& name, std::vector<std::string> roles,
                  const std::string& hash) {
    Status s = service().CreateAccount(api::SystemPrincipal(), name, roles, name, hash);
    REQUIRE(s.ok());
  }

  void Login(Caller caller) {
    auto response = client().Send(
        "POST", "/v1/sessions",
        Json({{"username", kCallerNames[caller]}, {"password", kPassword}}), {});
    REQUIRE(response.ok());
    REQUIRE(response->status == 200);
    tokens_[caller] = std::string(json::parse(response->body).at("token").as_string());
  }

  // Retrieves device_id's password as its owner and returns the audit seq.
  std::string RetrieveAs(const std::string& owner, const std::string& device_id) {
    projections::RetrievalRequest request;
    request.device_id = device_id;
    request.channel = "portal";
    auto retrieval = service().Retrieve(projections::Principal{owner, {"user"}}, request);
    REQUIRE(retrieval.ok());
    return std::to_string(retrieval->audit_seq);
  }

  std::array<std::string, kCallerCount> tokens_;
  std::array<std::string, 2> checkpoint_sizes_;
  std::array<std::string, 2> receipt_seqs_;
};

const Expected* FindExpected(const std::vector<Expected>& table, const api::RouteAccess& route) {
  for (const Expected& row : table) {
    if (row.method == route.method && row.pattern == route.pattern) return &row;
  }
  return nullptr;
}

bool HasId(std::string_view pattern) { return pattern.find("{id}") != std::string_view::npos; }

// Returns pattern with {id} replaced by id, and query appended.
std::string PathFor(std::string_view pattern, const std::string& id, const std::string& query) {
  std::string out(pattern);
  size_t at = out.find("{id}");
  if (at != std::string::npos) out.replace(at, 4, id);
  return out + query;
}

// Calls one cell and checks its status and that no password leaked.
void CheckCell(MatrixStack& stack, const api::RouteAccess& route, const Expected& row,
               Caller caller, Target target) {
  std::string id = stack.IdFor(row.id_kind, target);
  std::string path = PathFor(row.pattern, id, row.query);
  std::string method(row.method);
  int expected = row.status[caller][target];
  INFO(method << " " << path << " as " << kCallerNames[caller] << " on "
              << (HasId(row.pattern) ? kTargetNames[target] : "-") << " object");

  http::Response reply = stack.Send(caller, method, path, row.body);
  INFO("reply body: " << reply.body.substr(0, 300));
  CHECK(reply.status == expected);

  // Only an allowed retrieval carries a password, and only its device's.
  bool retrieval = row.pattern.find("recovery-password:retrieve") != std::string_view::npos;
  bool allowed = retrieval && reply.status == 200;
  std::string alice_leak = FindLeak(reply.body, MatrixStack::kAliceDigits);
  std::string bob_leak = FindLeak(reply.body, MatrixStack::kBobDigits);
  if (allowed && id == "phone-a") {
    CHECK(reply.body.find(Grouped(MatrixStack::kAliceDigits)) != std::string::npos);
    CHECK(bob_leak.empty());
  } else if (allowed && id == "phone-b") {
    CHECK(reply.body.find(Grouped(MatrixStack::kBobDigits)) != std::string::npos);
    CHECK(alice_leak.empty());
  } else {
    CHECK(alice_leak.empty());
    CHECK(bob_leak.empty());
  }

  // A caller without any of the route's roles gets the dispatch denial.
  bool public_route = route.roles.Contains(api::Role::kPublic);
  if (caller != kAnonymous && !public_route && (kCallerRoles[caller] & route.roles).empty()) {
    CHECK(reply.body.find(api::RouteDenied(route).message()) != std::string::npos);
  }
  if (reply.status >= 200 && reply.status < 300 && method != "GET") stack.RenewEndedSessions();
}

void RunRoute(MatrixStack& stack, const api::RouteAccess& route, const Expected& row) {
  int targets = HasId(row.pattern) ? kTargetCount : 1;
  for (int caller = 0; caller < kCallerCount; ++caller) {
    for (int target = 0; target < targets; ++target) {
      CheckCell(stack, route, row, Caller(caller), Target(target));
    }
  }
}

// Returns the rows of the route table in docs/api.md: "METHOD /path" to the
// roles cell, with every {name} path segment written as {id}.
std::map<std::string, std::string> DocumentedRoutes() {
  std::ifstream file(testing::SourcePath("docs/api.md"));
  REQUIRE(file.good());
  std::map<std::string, std::string> out;
  std::regex row(R"(^\| `([A-Z]+) ([^`]+)` \| ([^|]*?) \|)");
  std::regex segment(R"(\{[a-z_]+\})");
  std::string line;
  while (std::getline(file, line)) {
    std::smatch match;
    if (!std::regex_search(line, match, row)) continue;
    std::string path = std::regex_replace(match[2].str(), segment, "{id}");
    out[match[1].str() + " " + path] = match[3].str();
  }
  return out;
}

}  // namespace

TEST_CASE("every route has an expected row") {
  std::vector<Expected> table = ExpectedTable();
  std::set<std::string> routes;
  for (const api::RouteAccess& route : api::Api::RouteTable()) {
    INFO(route.method << " " << route.pattern);
    CHECK(FindExpected(table, route) != nullptr);
    routes.insert(std::string(route.method) + " " + std::string(route.pattern));
  }
  for (const Expected& row : table) {
    INFO("expected row without a route: " << row.method << " " << row.pattern);
    CHECK(routes.count(std::string(row.method) + " " + std::string(row.pattern)) == 1);
  }
}

TEST_CASE("docs route table matches the code") {
  std::map<std::string, std::string> documented = DocumentedRoutes();
  std::set<std::string> routes;
  for (const api::RouteAccess& route : api::Api::RouteTable()) {
    std::string key = std::string(route.method) + " " + std::string(route.pattern);
    routes.insert(key);
    INFO(key);
    auto it = documented.find(key);
    REQUIRE(it != documented.end());
    CHECK(it->second == api::DescribeRoles(route.roles, route.own_only));
  }
  for (const auto& [key, roles] : documented) {
    INFO("docs/api.md lists a route the code lacks: " << key);
    CHECK(routes.count(key) == 1);
  }
}

TEST_CASE("denial names the allowed roles") {
  api::RouteAccess audit{"GET", "/v1/audit", api::kAuditRoles, api::kNoRoles};
  CHECK(api::RouteDenied(audit).message() == "this request requires the admin or auditor role");
  api::RouteAccess retrieve{"POST", "/v1/devices/{id}/recovery-password:retrieve",
                            api::Role::kHelpdesk | api::Role::kUser, api::Role::kUser};
  CHECK(api::RouteDenied(retrieve).message() ==
        "this request requires the helpdesk role, or the user role on own devices or records");
  CHECK(api::RouteDenied(retrieve).code() == Code::kPermissionDenied);
  CHECK(api::DescribeRoles(retrieve.roles, retrieve.own_only) == "user (own), helpdesk");
  CHECK(api::DescribeRoles(api::kPublicRoute, api::kNoRoles) == "public");
}

TEST_CASE("route by role by object matrix") {
  MatrixStack stack;
  stack.PopulateFleet();
  std::vector<Expected> table = ExpectedTable();

  // Walk the code's table itself, so a new route cannot escape the matrix.
  std::vector<std::pair<api::RouteAccess, const Expected*>> last;
  for (const api::RouteAccess& route : api::Api::RouteTable()) {
    const Expected* row = FindExpected(table, route);
    if (row == nullptr) FAIL("no expected row for " << route.method << " " << route.pattern);
    if (row->run_last) {
      last.emplace_back(route, row);
      continue;
    }
    RunRoute(stack, route, *row);
  }
  for (const auto& [route, row] : last) RunRoute(stack, route, *row);
}

TEST_CASE("role denied retrieval is in the ledger") {
  MatrixStack stack;
  stack.PopulateFleet();
  const std::string path = "/v1/devices/phone-a/recovery-password:retrieve";
  http::Response denied = stack.Send(kAdmin, "POST", path, R"({"reason":"T-9","channel":"cli"})");
  REQUIRE(denied.status == 403);

  http::Response audit = stack.Send(kAuditor, "GET", "/v1/audit?actor=ada&denied=1", "");
  REQUIRE(audit.status == 200);
  json::value parsed = json::parse(audit.body);
  const json::array& records = parsed.at("records").as_array();
  REQUIRE(records.size() == 1);
  CHECK(records[0].at("device_id").as_string() == "phone-a");
  CHECK(records[0].at("reason").as_string() == "T-9");
  CHECK(records[0].at("channel").as_string() == "cli");
  CHECK(records[0].at("denied").as_bool());
}
