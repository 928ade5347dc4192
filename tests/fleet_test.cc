// End to end: the real escrowd and the real escrow-device and escrowctl
// programs, on loopback ports picked by the kernel.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <map>
#include <string>

#include "api/http/http.h"
#include "tests/test_support.h"

namespace escrow {
namespace {

constexpr const char* kAdminPassword = "fleet-test-admin-password";
constexpr int kDevices = 20;

std::map<std::string, std::string> ClientEnvironment(const testing::EscrowdProcess& server) {
  return {{"ESCROW_SERVER", server.api_address()},
          {"ESCROW_GATEWAY", server.gateway_address()},
          {"ESCROW_USER", "admin"},
          {"ESCROW_PASSWORD", kAdminPassword}};
}

TEST_CASE("fleet of 20 devices verifies", "[fleet]") {
  testing::TempDir dir;
  std::string data_dir = dir.path() + "/data";
  testing::EscrowdProcess server;
  REQUIRE(server.Start(data_dir, kAdminPassword));

  testing::CommandResult fleet = testing::RunCommand(
      {testing::BinaryPath("escrow-device"), "fleet", "--devices", std::to_string(kDevices),
       "--id-prefix", "t"},
      ClientEnvironment(server));
  INFO(fleet.output);
  CHECK(fleet.exit_code == 0);
  CHECK(fleet.output.find("devices: 20 ok, 0 failed") != std::string::npos);
  CHECK(fleet.output.find("retrievals: 20") != std::string::npos);
  CHECK(fleet.output.find("dropped and retried: 2") != std::string::npos);

  REQUIRE(server.Stop() == 0);
  testing::CommandResult verify = testing::RunCommand(
      {testing::BinaryPath("escrowctl"), "verify", "--data-dir", data_dir});
  INFO(verify.output);
  CHECK(verify.exit_code == 0);
}

TEST_CASE("fleet JSON summary counts", "[fleet]") {
  testing::TempDir dir;
  testing::EscrowdProcess server;
  REQUIRE(server.Start(dir.path() + "/data", kAdminPassword));

  testing::CommandResult fleet = testing::RunCommand(
      {testing::BinaryPath("escrow-device"), "fleet", "--devices", "6", "--id-prefix", "j",
       "--concurrency", "3", "--drop-every", "2", "--json"},
      ClientEnvironment(server));
  INFO(fleet.output);
  REQUIRE(fleet.exit_code == 0);

  // The JSON summary is the last line of stdout.
  std::string output = fleet.output;
  size_t start = output.rfind("{\"devices\"");
  REQUIRE(start != std::string::npos);
  boost::json::value summary = boost::json::parse(output.substr(start));
  CHECK(summary.at("devices").to_number<int>() == 6);
  CHECK(summary.at("ok").to_number<int>() == 6);
  CHECK(summary.at("failed").to_number<int>() == 0);
  CHECK(summary.at("retrievals").to_number<int>() == 6);
  CHECK(summary.at("dropped_and_retried").to_number<int>() == 3);
}

TEST_CASE("fleet with wrong admin password", "[fleet]") {
  testing::TempDir dir;
  testing::EscrowdProcess server;
  REQUIRE(server.Start(dir.path() + "/data", kAdminPassword));

  auto env = ClientEnvironment(server);
  env["ESCROW_PASSWORD"] = "not-the-admin-password";
  testing::CommandResult fleet = testing::RunCommand(
      {testing::BinaryPath("escrow-device"), "fleet", "--devices", "2", "--id-prefix", "w"},
      env);
  INFO(fleet.output);
  CHECK(fleet.exit_code == 1);
  CHECK(fleet.output.find("devices: 0 ok, 2 failed") != std::string::npos);
  CHECK(fleet.output.find("device w-1 failed: admin login:") != std::string::npos);
}

// Sends one API request as admin and returns the reply object.
boost::json::object AdminCall(http::Client& api, const std::string& token,
                              const std::string& method, const std::string& target,
                              const std::string& body) {
  std::map<std::string, std::string> headers;
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  auto response = api.Send(method, target, body, headers);
  REQUIRE(response.ok());
  INFO(response->body);
  REQUIRE(response->status / 100 == 2);
  return boost::json::parse(response->body).as_object();
}

TEST_CASE("single-device commands in sequence", "[fleet]") {
  testing::TempDir dir;
  testing::EscrowdProcess server;
  REQUIRE(server.Start(dir.path() + "/data", kAdminPassword));
  auto env = ClientEnvironment(server);
  std::string device = testing::BinaryPath("escrow-device");
  std::string state = dir.path() + "/phone.json";

  // The admin registers the device through the API.
  http::Client api = server.ApiClient();
  std::string token = std::string(
      AdminCall(api, "", "POST", "/v1/sessions",
                R"({"username": "admin", "password": "fleet-test-admin-password"})")
          .at("token")
          .as_string());
  // The owner must have an account before a device is registered for it.
  AdminCall(api, token, "POST", "/v1/accounts",
            R"({"username": "alice", "password": "alice-password", "roles": ["user"]})");
  std::string enrollment_token = std::string(
      AdminCall(api, token, "POST", "/v1/devices",
                R"({"device_id": "phone-1", "owner": "alice"})")
          .at("enrollment_token")
          .as_string());

  SECTION("usage errors exit 2") {
    CHECK(testing::RunCommand({device}, env).exit_code == 2);
    CHECK(testing::RunCommand({device, "fly"}, env).exit_code == 2);
    CHECK(testing::RunCommand({device, "arm"}, env).exit_code == 2);
  }

  SECTION("a wrong enrollment token exits 1 with the server's message") {
    testing::CommandResult enroll = testing::RunCommand(
        {device, "enroll", "--device", "phone-1", "--token", "AAAA", "--state", state}, env);
    INFO(enroll.output);
    CHECK(enroll.exit_code == 1);
    CHECK(enroll.output.find("escrow-device: ") != std::string::npos);

    // The failed attempt leaves no state behind, so the retry may use the same file.
    testing::CommandResult retry = testing::RunCommand(
        {device, "enroll", "--device", "phone-1", "--token", enrollment_token, "--state", state},
        env);
    INFO(retry.output);
    CHECK(retry.exit_code == 0);
    CHECK(retry.output.find("enrolled device phone-1") != std::string::npos);

    // A file that contains an enrolled device is never overwritten.
    testing::CommandResult again = testing::RunCommand(
        {device, "enroll", "--device", "phone-1", "--token", enrollment_token, "--state", state},
        env);
    CHECK(again.exit_code == 1);
    CHECK(again.output.find("already holds an enrolled device") != std::string::npos);
  }

  SECTION("enroll, check in, arm and reset") {
    testing::CommandResult enroll = testing::RunCommand(
        {device, "enroll", "--device", "phone-1", "--token", enrollment_token, "--state", state},
        env);
    INFO(enroll.output);
    REQUIRE(enroll.exit_code == 0);
    CHECK(enroll.output.find("enrolled device phone-1") != std::string::npos);

    testing::CommandResult check_in =
        testing::RunCommand({device, "check-in", "--state", state}, env);
    INFO(check_in.output);
    REQUIRE(check_in.exit_code == 0);
    CHECK(check_in.output.find("actions: escrow_new_password") != std::string::npos);
    CHECK(check_in.output.find("escrowed recovery password generation 1") != std::string::npos);

    testing::CommandResult arm = testing::RunCommand({device, "arm", "--state", state}, env);
    INFO(arm.output);
    REQUIRE(arm.exit_code == 0);
    CHECK(arm.output.find("armed recovery password generation 1") != std::string::npos);

    testing::CommandResult wrong = testing::RunCommand(
        {device, "reset", "--state", state, "--recovery-password", "00000-00000-00000-00000"},
        env);
    INFO(wrong.output);
    CHECK(wrong.exit_code == 1);
    CHECK(wrong.output.find("recovery password does not match") != std::string::npos);

    std::string password = std::string(
        AdminCall(api, token, "POST", "/v1/devices/phone-1/recovery-password:retrieve",
                  R"({"reason": "ticket-42", "channel": "cli"})")
            .at("recovery_password")
            .as_string());
    testing::CommandResult reset = testing::RunCommand(
        {device, "reset", "--state", state, "--recovery-password", password}, env);
    INFO(reset.output);
    REQUIRE(reset.exit_code == 0);
    CHECK(reset.output.find("reset reported with recovery password generation 1") !=
          std::string::npos);
    CHECK(reset.output.find("escrowed recovery password generation 2") != std::string::npos);

    boost::json::object device_state = AdminCall(api, token, "GET", "/v1/devices/phone-1", "");
    CHECK(device_state.at("generation").to_number<int>() == 2);
    CHECK(device_state.at("state") == "pending");
    CHECK(device_state.at("armed") == false);
  }
}

}  // namespace
}  // namespace escrow
