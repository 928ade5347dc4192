// The audit view, read receipts and point-in-time queries against a ledger
// built by a real fleet run: escrowd, escrow-device fleet and escrowctl as
// child processes on loopback ports picked by the kernel.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/http/http.h"
#include "tests/test_support.h"

namespace escrow {
namespace {

namespace json = boost::json;

constexpr const char* kAdminPassword = "audit-view-admin-password";
constexpr const char* kUserPassword = "audit-view-user-password";
constexpr int kFleetDevices = 10;
// A reason that a spreadsheet would run as a formula, with a comma and quotes.
constexpr const char* kFormulaReason = R"(=HYPERLINK("http://x",1),T-7)";

struct Reply {
  int status = 0;
  std::string content_type;
  std::string raw;
  json::object body;  // empty unless the reply is a JSON object
};

// The fleet's ledger plus a few retrievals and denials, built once for all
// test cases of this file. Devices f-1 ... f-10 come from the fleet; c-1
// belongs to carol, is escrowed (generation 1) and not armed.
class FleetLedger {
 public:
  FleetLedger() {
    REQUIRE(server_.Start(dir_.path() + "/data", kAdminPassword));
    api_ = std::make_unique<http::Client>(server_.ApiClient());
    RunFleet();
    admin_token = Login("admin", kAdminPassword);
    CreateAccount("hd", "helpdesk");
    CreateAccount("carol", "user");
    CreateAccount("mallory", "user");
    EnrollCarolsDevice();
    Retrieve("hd", "f-3", R"({"reason":"T-100","channel":"cli"})", 200);
    Retrieve("hd", "f-3", R"({"channel":"console"})", 400);
    Retrieve("mallory", "c-1", R"({"reason":"mine","channel":"portal"})", 403);
    json::object body{{"reason", kFormulaReason}, {"channel", "console"}};
    Retrieve("hd", "c-1", json::serialize(body), 200);
  }

  Reply Call(const std::string& token, const std::string& method, const std::string& target,
             const std::string& body = "") {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto response = api_->Send(method, target, body, headers);
    REQUIRE(response.ok());
    Reply reply;
    reply.status = response->status;
    reply.raw = response->body;
    reply.content_type = response->content_type;
    boost::system::error_code ec;
    json::value parsed = json::parse(reply.raw, ec);
    if (!ec && parsed.is_object()) reply.body = parsed.as_object();
    return reply;
  }

  std::string Login(const std::string& user, const std::string& password) {
    json::object body{{"username", user}, {"password", password}};
    Reply reply = Call("", "POST", "/v1/sessions", json::serialize(body));
    INFO(reply.raw);
    REQUIRE(reply.status == 200);
    return std::string(reply.body.at("token").as_string());
  }

  // Runs escrowctl as user, with the password of that user.
  testing::CommandResult Ctl(const std::string& user, std::vector<std::string> args) {
    args.insert(args.begin(), testing::BinaryPath("escrowctl"));
    std::string password = user == "admin" ? kAdminPassword : kUserPassword;
    return testing::RunCommand(args, {{"ESCROW_SERVER", server_.api_address()},
                                      {"ESCROW_USER", user},
                                      {"ESCROW_PASSWORD", password}},
                               120);
  }

  std::string admin_token;

 private:
  std::map<std::string, std::string> DeviceEnvironment() const {
    return {{"ESCROW_SERVER", server_.api_address()},
            {"ESCROW_GATEWAY", server_.gateway_address()},
            {"ESCROW_USER", "admin"},
            {"ESCROW_PASSWORD", kAdminPassword}};
  }

  void RunFleet() {
    testing::CommandResult fleet = testing::RunCommand(
        {testing::BinaryPath("escrow-device"), "fleet", "--devices", std::to_string(kFleetDevices),
         "--id-prefix", "f"},
        DeviceEnvironment());
    INFO(fleet.output);
    REQUIRE(fleet.exit_code == 0);
  }

  void CreateAccount(const std::string& user, const std::string& role) {
    json::object body{{"username", user}, {"password", kUserPassword}, {"roles", json::array{role}}};
    Reply reply = Call(admin_token, "POST", "/v1/accounts", json::serialize(body));
    INFO(reply.raw);
    REQUIRE(reply.status == 201);
  }

  void EnrollCarolsDevice() {
    Reply registered =
        Call(admin_token, "POST", "/v1/devices", R"({"device_id":"c-1","owner":"carol"})");
    INFO(registered.raw);
    REQUIRE(registered.status == 201);
    std::string token(registered.body.at("enrollment_token").as_string());
    std::string device = testing::BinaryPath("escrow-device");
    std::string state = dir_.path() + "/c-1.json";
    testing::CommandResult enroll = testing::RunCommand(
        {device, "enroll", "--device", "c-1", "--token", token, "--state", state},
        DeviceEnvironment());
    INFO(enroll.output);
    REQUIRE(enroll.exit_code == 0);
    testing::CommandResult check_in =
        testing::RunCommand({device, "check-in", "--state", state}, DeviceEnvironment());
    INFO(check_in.output);
    REQUIRE(check_in.exit_code == 0);
  }

  void Retrieve(const std::string& user, const std::string& device, const std::string& body,
                int expected_status) {
    std::string token = Login(user, kUserPassword);
    Reply reply =
        Call(token, "POST", "/v1/devices/" + device + "/recovery-password:retrieve", body);
    INFO(reply.raw);
    REQUIRE(reply.status == expected_status);
  }

  testing::TempDir dir_;
  testing::EscrowdProcess server_;
  std::unique_ptr<http::Client> api_;
};

FleetLedger& Ledger() {
  static FleetLedger ledger;
  return ledger;
}

json::array AuditRecords(const std::string& query) {
  Reply reply = Ledger().Call(Ledger().admin_token, "GET", "/v1/audit" + query);
  INFO(reply.raw);
  REQUIRE(reply.status == 200);
  return reply.body.at("records").as_array();
}

std::string Str(const json::value& object, const char* key) {
  return std::string(object.at(key).as_string());
}

// The device's timeline entries as the API returns them, in order.
json::array Timeline(const std::string& device) {
  Reply reply = Ledger().Call(Ledger().admin_token, "GET", "/v1/devices/" + device + "/timeline");
  INFO(reply.raw);
  REQUIRE(reply.status == 200);
  return reply.body.at("entries").as_array();
}

// Returns the nth (0-based) entry of type in timeline.
json::object EntryOfType(const json::array& timeline, const std::string& type, int nth = 0) {
  for (const json::value& entry : timeline) {
    if (Str(entry, "type") == type && nth-- == 0) return entry.as_object();
  }
  FAIL("no " << type << " entry in the timeline");
  return {};
}

json::object ValidAt(const std::string& device, int64_t time_ns) {
  Reply reply = Ledger().Call(Ledger().admin_token, "GET",
                              "/v1/devices/" + device + "/valid-at?time=" + std::to_string(time_ns));
  INFO(reply.raw);
  REQUIRE(reply.status == 200);
  return reply.body;
}

int64_t TimeNs(const json::object& entry) { return entry.at("time_ns").to_number<int64_t>(); }
uint64_t Seq(const json::value& entry) { return entry.at("seq").to_number<uint64_t>(); }

}  // namespace

TEST_CASE("audit view filters by device", "[audit]") {
  json::array records = AuditRecords("?device=f-3");
  REQUIRE(records.size() == 3);
  CHECK(Str(records[0], "actor") == "f-3-owner");
  CHECK(Str(records[0], "channel") == "portal");
  CHECK(records[0].at("denied").as_bool() == false);
  CHECK(Str(records[1], "actor") == "hd");
  CHECK(Str(records[1], "reason") == "T-100");
  CHECK(records[1].at("generation").to_number<int>() == 2);
  CHECK(Str(records[2], "actor") == "hd");
  CHECK(records[2].at("denied").as_bool() == true);
  CHECK(Str(records[2], "channel") == "console");
  CHECK(Str(records[2], "denial_reason").find("reason") != std::string::npos);
}

TEST_CASE("audit view filters by actor and outcome", "[audit]") {
  json::array by_actor = AuditRecords("?actor=hd");
  REQUIRE(by_actor.size() == 3);
  for (const json::value& record : by_actor) CHECK(Str(record, "actor") == "hd");

  json::array device_and_actor = AuditRecords("?device=c-1&actor=hd");
  REQUIRE(device_and_actor.size() == 1);
  CHECK(Str(device_and_actor[0], "reason") == kFormulaReason);

  json::array denied = AuditRecords("?denied=1");
  REQUIRE(denied.size() == 2);
  CHECK(Str(denied[0], "device_id") == "f-3");
  CHECK(Str(denied[1], "device_id") == "c-1");
  CHECK(Str(denied[1], "actor") == "mallory");

  json::array all = AuditRecords("");
  int portal_retrievals = 0;
  for (const json::value& record : all) portal_retrievals += Str(record, "channel") == "portal";
  CHECK(portal_retrievals == kFleetDevices + 1);  // the fleet's owners and mallory's denial
  CHECK(all.size() == kFleetDevices + 4);
}

TEST_CASE("audit view filters by time range", "[audit]") {
  json::array by_actor = AuditRecords("?actor=hd");
  REQUIRE(by_actor.size() == 3);
  int64_t first = by_actor[0].at("time_ns").to_number<int64_t>();
  int64_t last = by_actor[2].at("time_ns").to_number<int64_t>();

  json::array one = AuditRecords("?actor=hd&since=" + std::to_string(first) +
                                 "&until=" + std::to_string(first + 1));
  REQUIRE(one.size() == 1);
  CHECK(Seq(one[0]) == Seq(by_actor[0]));
  json::array after_first = AuditRecords("?since=" + std::to_string(first + 1));
  CHECK(after_first.size() == 2 + 1);  // hd's denial and c-1 retrieval, mallory's denial
  json::array after_last = AuditRecords("?since=" + std::to_string(last + 1));
  CHECK(after_last.empty());
  json::array rfc3339 = AuditRecords("?actor=hd&since=" + Str(by_actor[2], "time"));
  REQUIRE(rfc3339.size() == 1);
  CHECK(Seq(rfc3339[0]) == Seq(by_actor[2]));
}

TEST_CASE("audit CSV quotes cells and defuses formulas", "[audit]") {
  Reply reply = Ledger().Call(Ledger().admin_token, "GET", "/v1/audit?format=csv&device=c-1");
  INFO(reply.raw);
  REQUIRE(reply.status == 200);
  CHECK(reply.content_type.find("text/csv") == 0);
  CHECK(reply.raw.rfind(
            "seq,time,device_id,actor,outcome,generation,channel,reason,denial_reason\r\n", 0) ==
        0);
  // The formula gets a leading quote, then RFC 4180 quoting for the comma and quotes.
  CHECK(reply.raw.find(R"(,retrieved,1,console,"'=HYPERLINK(""http://x"",1),T-7",)") !=
        std::string::npos);
  CHECK(reply.raw.find(",mallory,denied,,portal,mine,") != std::string::npos);
  size_t lines = 0;
  for (size_t at = reply.raw.find("\r\n"); at != std::string::npos; at = reply.raw.find("\r\n", at + 2)) {
    ++lines;
  }
  CHECK(lines == 3);

  testing::CommandResult ctl = Ledger().Ctl("admin", {"audit", "--device", "c-1", "--csv"});
  CHECK(ctl.exit_code == 0);
  CHECK(ctl.output == reply.raw);

  Reply bad = Ledger().Call(Ledger().admin_token, "GET", "/v1/audit?format=xml");
  CHECK(bad.status == 400);
  CHECK(Str(bad.body, "message").find("format") != std::string::npos);
}

TEST_CASE("owner read receipts list own devices only", "[audit]") {
  std::string carol = Ledger().Login("carol", kUserPassword);
  Reply reply = Ledger().Call(carol, "GET", "/v1/me/retrievals");
  INFO(reply.raw);
  REQUIRE(reply.status == 200);
  const json::array& receipts = reply.body.at("retrievals").as_array();
  REQUIRE(receipts.size() == 2);
  CHECK(Str(receipts[0], "actor") == "mallory");
  CHECK(Str(receipts[0], "outcome") == "denied");
  CHECK(Str(receipts[0], "channel") == "portal");
  CHECK(Str(receipts[1], "actor") == "hd");
  CHECK(Str(receipts[1], "outcome") == "retrieved");
  CHECK(Str(receipts[1], "channel") == "console");
  CHECK(!Str(receipts[1], "time").empty());
  CHECK(reply.raw.find("HYPERLINK") == std::string::npos);  // no help-desk reason text

  std::string mallory = Ledger().Login("mallory", kUserPassword);
  Reply none = Ledger().Call(mallory, "GET", "/v1/me/retrievals");
  REQUIRE(none.status == 200);
  CHECK(none.body.at("retrievals").as_array().empty());

  testing::CommandResult table = Ledger().Ctl("carol", {"receipts"});
  INFO(table.output);
  CHECK(table.exit_code == 0);
  CHECK(table.output.find("mallory") != std::string::npos);
  CHECK(table.output.find("denied") != std::string::npos);
  CHECK(table.output.find("f-3") == std::string::npos);
  testing::CommandResult empty = Ledger().Ctl("mallory", {"receipts"});
  CHECK(empty.exit_code == 0);
  CHECK(empty.output.find("Nobody has retrieved") != std::string::npos);
}

TEST_CASE("valid-at replays a fleet device", "[audit]") {
  json::array timeline = Timeline("f-1");
  json::object enrolled = EntryOfType(timeline, "DeviceEnrolled");
  json::object escrowed1 = EntryOfType(timeline, "RecoveryPasswordEscrowed", 0);
  json::object armed1 = EntryOfType(timeline, "RecoveryPasswordArmed", 0);
  json::object reset = EntryOfType(timeline, "DeviceResetReported");
  json::object escrowed2 = EntryOfType(timeline, "RecoveryPasswordEscrowed", 1);
  json::object invalidated1 = EntryOfType(timeline, "RecoveryPasswordInvalidated");
  json::object armed2 = EntryOfType(timeline, "RecoveryPasswordArmed", 1);

  SECTION("before enrollment there is no valid generation") {
    json::object at = ValidAt("f-1", TimeNs(enrolled) - 1);
    CHECK(at.at("valid").as_bool() == false);
    CHECK(at.at("generation").to_number<int>() == 0);
    CHECK(Str(at, "message").find("had not enrolled") != std::string::npos);
    json::object none = ValidAt("f-1", TimeNs(enrolled));
    CHECK(none.at("valid").as_bool() == false);
    CHECK(Str(none, "message").find("no recovery password had been escrowed") != std::string::npos);
  }
  SECTION("generation 1 before and after arming") {
    json::object pending = ValidAt("f-1", TimeNs(escrowed1));
    CHECK(pending.at("valid").as_bool());
    CHECK(pending.at("generation").to_number<int>() == 1);
    CHECK(pending.at("armed").as_bool() == false);
    CHECK(Str(pending, "status") == "not yet active on the device");
    CHECK(pending.at("valid_from_seq").to_number<uint64_t>() == Seq(escrowed1));
    CHECK(pending.at("valid_until_seq").to_number<uint64_t>() == Seq(invalidated1));

    json::object armed = ValidAt("f-1", TimeNs(armed1));
    CHECK(armed.at("generation").to_number<int>() == 1);
    CHECK(armed.at("armed").as_bool());
    CHECK(Str(armed, "status") == "active on the device");
    CHECK(armed.at("armed_seq").to_number<uint64_t>() == Seq(armed1));
  }
  SECTION("a reported reset keeps generation 1 valid") {
    json::object used = ValidAt("f-1", TimeNs(reset));
    CHECK(used.at("generation").to_number<int>() == 1);
    CHECK(used.at("armed").as_bool());
  }
  SECTION("generation 2 supersedes generation 1") {
    json::object pending = ValidAt("f-1", TimeNs(escrowed2));
    CHECK(pending.at("generation").to_number<int>() == 2);
    CHECK(pending.at("armed").as_bool() == false);
    json::object armed = ValidAt("f-1", TimeNs(armed2));
    CHECK(armed.at("generation").to_number<int>() == 2);
    CHECK(armed.at("armed").as_bool());
    CHECK(armed.at("valid_until_seq").to_number<uint64_t>() == 0);
    CHECK(armed.at("as_of_seq").to_number<uint64_t>() >= Seq(armed2));
  }
  SECTION("escrowctl valid-at takes an RFC 3339 time") {
    testing::CommandResult ctl =
        Ledger().Ctl("admin", {"valid-at", "--device", "f-1", "--time", Str(escrowed1, "time")});
    INFO(ctl.output);
    CHECK(ctl.exit_code == 0);
    CHECK(ctl.output.find("generation:  1\n") != std::string::npos);
    CHECK(ctl.output.find("not yet active on the device") != std::string::npos);
    CHECK(ctl.output.find("valid until: seq " + std::to_string(Seq(invalidated1))) !=
          std::string::npos);
  }
  SECTION("bad input") {
    Reply missing = Ledger().Call(Ledger().admin_token, "GET", "/v1/devices/f-1/valid-at");
    CHECK(missing.status == 400);
    Reply bad = Ledger().Call(Ledger().admin_token, "GET", "/v1/devices/f-1/valid-at?time=noon");
    CHECK(bad.status == 400);
    Reply unknown = Ledger().Call(Ledger().admin_token, "GET", "/v1/devices/nope/valid-at?time=1");
    CHECK(unknown.status == 404);
    std::string mallory = Ledger().Login("mallory", kUserPassword);
    Reply other = Ledger().Call(mallory, "GET", "/v1/devices/f-1/valid-at?time=1");
    CHECK(other.status == 403);
  }
}

TEST_CASE("timeline lists device events in seq order", "[audit]") {
  json::array timeline = Timeline("f-2");
  REQUIRE(timeline.size() >= 8);
  for (size_t i = 1; i < timeline.size(); ++i) CHECK(Seq(timeline[i - 1]) < Seq(timeline[i]));
  std::vector<std::string> types;
  for (const json::value& entry : timeline) types.push_back(Str(entry, "type"));
  CHECK(types.front() == "EnrollmentTokenIssued");
  CHECK(types[1] == "DeviceEnrolled");
  CHECK(types.back() == "RecoveryPasswordArmed");
  for (const json::value& entry : timeline) CHECK(Str(entry, "subject") == "f-2");

  testing::CommandResult ctl = Ledger().Ctl("admin", {"timeline", "--device", "f-2"});
  CHECK(ctl.exit_code == 0);
  CHECK(ctl.output.find("RecoveryPasswordRetrieved") != std::string::npos);
}

TEST_CASE("device views show whether the password is active", "[audit]") {
  Reply pending = Ledger().Call(Ledger().admin_token, "GET", "/v1/devices/c-1");
  REQUIRE(pending.status == 200);
  CHECK(Str(pending.body, "password_status") == "not yet active on the device");
  Reply active = Ledger().Call(Ledger().admin_token, "GET", "/v1/devices/f-1");
  REQUIRE(active.status == 200);
  CHECK(Str(active.body, "password_status") == "active on the device");

  testing::CommandResult list = Ledger().Ctl("admin", {"devices", "--prefix", "c-"});
  INFO(list.output);
  CHECK(list.exit_code == 0);
  CHECK(list.output.find("PASSWORD") != std::string::npos);
  CHECK(list.output.find("not yet active on the device") != std::string::npos);
  testing::CommandResult one = Ledger().Ctl("carol", {"device", "--device", "c-1"});
  CHECK(one.exit_code == 0);
  CHECK(one.output.find("not yet active on the device") != std::string::npos);
}

TEST_CASE("rotation request and retirement from escrowctl", "[audit]") {
  testing::CommandResult rotate = Ledger().Ctl("admin", {"request-rotation", "--device", "f-4"});
  INFO(rotate.output);
  CHECK(rotate.exit_code == 0);
  CHECK(rotate.output.find("Rotation requested for f-4") != std::string::npos);
  Reply device = Ledger().Call(Ledger().admin_token, "GET", "/v1/devices/f-4");
  CHECK(device.body.at("rotation_requested").as_bool());

  testing::CommandResult unconfirmed = Ledger().Ctl("admin", {"retire", "--device", "f-5"});
  CHECK(unconfirmed.exit_code == 2);
  CHECK(unconfirmed.output.find("--yes") != std::string::npos);
  Reply still = Ledger().Call(Ledger().admin_token, "GET", "/v1/devices/f-5");
  CHECK(Str(still.body, "state") == "active");

  json::object armed2 = EntryOfType(Timeline("f-5"), "RecoveryPasswordArmed", 1);
  testing::CommandResult retire = Ledger().Ctl("admin", {"retire", "--device", "f-5", "--yes"});
  INFO(retire.output);
  CHECK(retire.exit_code == 0);
  CHECK(retire.output.find("Retired f-5") != std::string::npos);
  CHECK(Ledger().Ctl("hd", {"retire", "--device", "f-6", "--yes"}).exit_code == 1);

  json::object after = ValidAt("f-5", INT64_MAX);
  CHECK(after.at("valid").as_bool() == false);
  CHECK(Str(after, "status") == "no valid recovery password");
  CHECK(Str(after, "message").find("retired") != std::string::npos);
  json::object before = ValidAt("f-5", TimeNs(armed2));
  CHECK(before.at("generation").to_number<int>() == 2);
  CHECK(before.at("valid_until_seq").to_number<uint64_t>() > Seq(armed2));
}

}  // namespace escrow
