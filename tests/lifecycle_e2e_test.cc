// End to end reset lifecycle: the real escrowd, the real escrow-device and
// the HTTP API on loopback. Each case checks the ledger (timeline), the
// projection (GET /v1/devices/{id}) and the actions the device receives.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "api/http/http.h"
#include "device-gateway/device_client.h"
#include "ledger/store.h"
#include "tests/test_support.h"

namespace escrow {
namespace {

namespace json = boost::json;

constexpr const char* kAdminPassword = "lifecycle-test-admin-password";
constexpr const char* kDeviceId = "phone-1";
constexpr const char* kCheckInInterval = "28800";  // the default policy, seconds

struct Reply {
  int status = 0;
  json::object body;
};

// A running escrowd with an admin session and one enrolled, armed device
// holding generation 1.
struct Setup {
  testing::TempDir dir;
  std::string data_dir = dir.path() + "/data";
  std::string state = dir.path() + "/phone.json";
  testing::EscrowdProcess server;
  std::unique_ptr<http::Client> api;
  std::string token;

  Setup() {
    REQUIRE(server.Start(data_dir, kAdminPassword));
    api = std::make_unique<http::Client>(server.ApiClient());
    Reply session = Call("POST", "/v1/sessions",
                         std::string(R"({"username": "admin", "password": ")") + kAdminPassword +
                             "\"}");
    REQUIRE(session.status == 200);
    token = std::string(session.body.at("token").as_string());
    Reply owner = Call("POST", "/v1/accounts",
                       R"({"username": "alice", "password": "alice-password", "roles": ["user"]})");
    REQUIRE(owner.status == 201);

    REQUIRE(Device({"enroll", "--device", kDeviceId, "--token", NewToken(), "--state", state})
                .exit_code == 0);
    REQUIRE(Device({"check-in", "--state", state}).exit_code == 0);
    REQUIRE(Device({"arm", "--state", state}).exit_code == 0);
    REQUIRE(DeviceState().at("state") == "active");
  }

  Reply Call(const std::string& method, const std::string& target, const std::string& body = "") {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto response = api->Send(method, target, body, headers);
    REQUIRE(response.ok());
    Reply reply{response->status, {}};
    json::error_code ec;
    json::value parsed = json::parse(response->body, ec);
    if (!ec && parsed.is_object()) reply.body = parsed.as_object();
    return reply;
  }

  // Registers (or re-registers) the device and returns the enrollment token.
  std::string NewToken() {
    Reply registered = Call("POST", "/v1/devices",
                            std::string(R"({"device_id": ")") + kDeviceId + R"(", "owner": "alice"})");
    INFO(json::serialize(registered.body));
    REQUIRE(registered.status == 201);
    return std::string(registered.body.at("enrollment_token").as_string());
  }

  testing::CommandResult Device(std::vector<std::string> args) {
    args.insert(args.begin(), testing::BinaryPath("escrow-device"));
    testing::CommandResult result =
        testing::RunCommand(args, {{"ESCROW_GATEWAY", server.gateway_address()}});
    UNSCOPED_INFO("escrow-device " << args[1] << ": " << result.output);
    return result;
  }

  json::object DeviceState() {
    Reply reply = Call("GET", std::string("/v1/devices/") + kDeviceId);
    REQUIRE(reply.status == 200);
    return reply.body;
  }

  // The device's timeline as "Type" or "RecoveryPasswordInvalidated:reason".
  std::vector<std::string> Timeline() {
    Reply reply = Call("GET", std::string("/v1/devices/") + kDeviceId + "/timeline");
    REQUIRE(reply.status == 200);
    std::vector<std::string> out;
    for (const json::value& entry : reply.body.at("entries").as_array()) {
      std::string type(entry.at("type").as_string());
      if (type == "RecoveryPasswordInvalidated") {
        type += ":" + std::string(entry.at("payload").at("reason").as_string());
      }
      out.push_back(type);
    }
    return out;
  }

  Reply Retrieve() {
    return Call("POST", std::string("/v1/devices/") + kDeviceId + "/recovery-password:retrieve",
                R"({"reason": "TICKET-7", "channel": "cli"})");
  }

  int64_t Generation() { return DeviceState().at("generation").to_number<int64_t>(); }
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string Last(const std::vector<std::string>& timeline) {
  return timeline.empty() ? "" : timeline.back();
}

}  // namespace

TEST_CASE("reset mode switch and back", "[lifecycle]") {
  Setup s;
  Reply disabled = s.Call("PUT", "/v1/policy", R"({"reset_mode": "disabled"})");
  REQUIRE(disabled.status == 200);

  // The ledger: one Invalidated(policy); the projection: nothing valid.
  CHECK(Last(s.Timeline()) == "RecoveryPasswordInvalidated:policy");
  CHECK(s.DeviceState().at("generation_valid") == false);
  CHECK(s.DeviceState().at("state") == "enrolled");
  Reply retrieval = s.Retrieve();
  CHECK(retrieval.status == 409);
  CHECK(Contains(json::serialize(retrieval.body), "while reset_mode is disabled"));

  // The device learns the mode at check-in and is asked for nothing.
  testing::CommandResult check_in = s.Device({"check-in", "--state", s.state});
  CHECK(check_in.exit_code == 0);
  CHECK(Contains(check_in.output, "reset_mode disabled"));
  CHECK(Contains(check_in.output, "actions: none"));

  // An escrow upload is rejected while not in mdm.
  {
    auto identity = device::LoadDeviceIdentity(s.state);
    REQUIRE(identity.ok());
    http::Client gateway = s.server.GatewayClient();
    device::GatewayClient client(&gateway, &*identity, s.state);
    auto escrow = client.EscrowNewPassword();
    CHECK(escrow.status().code() == Code::kFailedPrecondition);
    CHECK(Contains(escrow.status().message(), "while reset_mode is disabled"));
  }
  CHECK(s.Generation() == 1);

  // Back to mdm: the next check-in escrows a fresh generation.
  REQUIRE(s.Call("PUT", "/v1/policy", R"({"reset_mode": "mdm"})").status == 200);
  check_in = s.Device({"check-in", "--state", s.state});
  CHECK(check_in.exit_code == 0);
  CHECK(Contains(check_in.output, "actions: escrow_new_password"));
  CHECK(Contains(check_in.output, "escrowed recovery password generation 2"));
  CHECK(Last(s.Timeline()) == "RecoveryPasswordEscrowed");
  CHECK(s.DeviceState().at("state") == "pending");
  CHECK(s.Retrieve().status == 200);
}

TEST_CASE("retire destroys the escrow key", "[lifecycle]") {
  Setup s;
  const std::string key_id(s.DeviceState().at("escrow_key_id").as_string());
  REQUIRE(s.Call("POST", std::string("/v1/devices/") + kDeviceId + "/retire").status == 200);

  std::vector<std::string> timeline = s.Timeline();
  REQUIRE(timeline.size() >= 2);
  CHECK(timeline[timeline.size() - 2] == "DeviceRetired");
  CHECK(timeline.back() == "RecoveryPasswordInvalidated:retired");
  CHECK(s.DeviceState().at("state") == "retired");
  Reply retrieval = s.Retrieve();
  CHECK(retrieval.status == 410);
  CHECK(Contains(json::serialize(retrieval.body), "escrow key was destroyed"));

  testing::CommandResult check_in = s.Device({"check-in", "--state", s.state});
  CHECK(check_in.exit_code == 1);
  CHECK(Contains(check_in.output, "is retired"));
  Reply again = s.Call("POST", "/v1/devices",
                       std::string(R"({"device_id": ")") + kDeviceId + R"(", "owner": "alice"})");
  CHECK(again.status == 410);

  REQUIRE(s.server.Stop() == 0);
  {
    auto store = ledger::Store::Open(s.data_dir);
    REQUIRE(store.ok());
    CHECK_FALSE((*store)->Get(ledger::Cf::kKeystore, key_id).value().has_value());
  }
  testing::CommandResult verify = testing::RunCommand(
      {testing::BinaryPath("escrowctl"), "verify", "--data-dir", s.data_dir});
  INFO(verify.output);
  CHECK(verify.exit_code == 0);
}

TEST_CASE("re-enrollment replaces device keys", "[lifecycle]") {
  Setup s;
  const std::string old_key_id(s.DeviceState().at("escrow_key_id").as_string());
  std::string wiped_state = s.dir.path() + "/wiped.json";
  testing::CommandResult enroll = s.Device(
      {"enroll", "--device", kDeviceId, "--token", s.NewToken(), "--state", wiped_state});
  REQUIRE(enroll.exit_code == 0);

  std::vector<std::string> timeline = s.Timeline();
  REQUIRE(timeline.size() >= 3);
  CHECK(timeline[timeline.size() - 3] == "DeviceEnrolled");
  CHECK(timeline[timeline.size() - 2] == "RecoveryPasswordInvalidated:re_enrolled");
  CHECK(timeline.back() == "ClientInstalled");
  CHECK(s.DeviceState().at("state") == "enrolled");
  CHECK(std::string(s.DeviceState().at("escrow_key_id").as_string()) != old_key_id);

  // The old device key no longer signs.
  testing::CommandResult old_device = s.Device({"check-in", "--state", s.state});
  CHECK(old_device.exit_code == 1);
  CHECK(Contains(old_device.output, "invalid device signature"));

  testing::CommandResult check_in = s.Device({"check-in", "--state", wiped_state});
  CHECK(check_in.exit_code == 0);
  CHECK(Contains(check_in.output, "escrowed recovery password generation 2"));
  CHECK(s.Generation() == 2);
  CHECK(s.Retrieve().status == 200);
}

TEST_CASE("client removal and reinstall", "[lifecycle]") {
  Setup s;
  testing::CommandResult removed = s.Device({"remove-client", "--state", s.state});
  REQUIRE(removed.exit_code == 0);
  CHECK(Contains(removed.output, "actions: none"));
  std::vector<std::string> timeline = s.Timeline();
  REQUIRE(timeline.size() >= 2);
  CHECK(timeline[timeline.size() - 2] == "ClientRemoved");
  CHECK(timeline.back() == "RecoveryPasswordInvalidated:client_removed");
  CHECK(s.DeviceState().at("client_installed") == false);
  CHECK(s.DeviceState().at("generation_valid") == false);

  testing::CommandResult check_in = s.Device({"check-in", "--state", s.state});
  CHECK(check_in.exit_code == 0);
  CHECK(Contains(check_in.output, "actions: none"));

  testing::CommandResult installed = s.Device({"install-client", "--state", s.state});
  REQUIRE(installed.exit_code == 0);
  CHECK(Contains(installed.output, "actions: escrow_new_password"));
  CHECK(Last(s.Timeline()) == "ClientInstalled");
  check_in = s.Device({"check-in", "--state", s.state});
  CHECK(Contains(check_in.output, "escrowed recovery password generation 2"));
  CHECK(s.DeviceState().at("state") == "pending");
  CHECK(s.DeviceState().at("generation_valid") == true);
}

TEST_CASE("failed session retries at check-in", "[lifecycle]") {
  Setup s;
  Reply retrieval = s.Retrieve();
  REQUIRE(retrieval.status == 200);
  const std::string password(retrieval.body.at("recovery_password").as_string());

  REQUIRE(s.Device({"fail-session", "--state", s.state}).exit_code == 0);
  testing::CommandResult reset =
      s.Device({"reset", "--state", s.state, "--recovery-password", password});
  REQUIRE(reset.exit_code == 0);
  CHECK(Contains(reset.output, "actions: escrow_new_password"));
  CHECK(Contains(reset.output, "session failed"));

  // The used generation stays valid and retrievable.
  CHECK(s.DeviceState().at("state") == "used");
  CHECK(s.DeviceState().at("generation_valid") == true);
  CHECK(Last(s.Timeline()) == "DeviceResetReported");
  Reply again = s.Retrieve();
  CHECK(again.status == 200);
  CHECK(again.body.at("generation").to_number<int>() == 1);

  // Nothing happens before the interval; the scheduled check-in escrows g2.
  testing::CommandResult early = s.Device({"advance-clock", "--state", s.state, "--seconds", "3600"});
  CHECK(early.exit_code == 0);
  CHECK(Contains(early.output, "0 check-in(s) ran"));
  CHECK(s.Generation() == 1);
  testing::CommandResult due =
      s.Device({"advance-clock", "--state", s.state, "--seconds", kCheckInInterval});
  CHECK(due.exit_code == 0);
  CHECK(Contains(due.output, "check-in at 28800 s"));
  CHECK(Contains(due.output, "escrowed recovery password generation 2"));
  CHECK(Contains(due.output, "1 check-in(s) ran"));
  CHECK(s.Generation() == 2);
  CHECK(s.DeviceState().at("state") == "pending");
  CHECK(Last(s.Timeline()) == "RecoveryPasswordInvalidated:superseded");
}

TEST_CASE("rotation settled by next escrow", "[lifecycle]") {
  Setup s;
  REQUIRE(s.Call("POST", std::string("/v1/devices/") + kDeviceId + "/rotation").status == 200);
  CHECK(Last(s.Timeline()) == "RotationRequested");
  CHECK(s.DeviceState().at("rotation_requested") == true);

  testing::CommandResult told = s.Device({"check-in", "--state", s.state, "--no-act"});
  CHECK(Contains(told.output, "actions: escrow_new_password"));
  testing::CommandResult check_in = s.Device({"check-in", "--state", s.state});
  CHECK(Contains(check_in.output, "escrowed recovery password generation 2"));
  CHECK(s.DeviceState().at("rotation_requested") == false);
  testing::CommandResult settled = s.Device({"check-in", "--state", s.state, "--no-act"});
  CHECK(Contains(settled.output, "actions: none"));
}

}  // namespace escrow
