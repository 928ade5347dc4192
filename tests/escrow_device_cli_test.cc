// The real escrow-device binary against a real escrowd on 127.0.0.1: what a
// user reads on stderr after a rejected enrollment, and fleet progress when
// stderr is a file.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <regex>
#include <string>
#include <thread>

#include "tests/test_support.h"

using namespace escrow;

namespace {

constexpr const char* kAdminPassword = "device-cli-admin-password";
constexpr const char* kNewTokenHint =
    ". Ask an administrator for a new enrollment token (escrowctl add-device)";

std::map<std::string, std::string> ClientEnvironment(const testing::EscrowdProcess& server) {
  return {{"ESCROW_SERVER", server.api_address()},
          {"ESCROW_GATEWAY", server.gateway_address()},
          {"ESCROW_USER", "admin"},
          {"ESCROW_PASSWORD", kAdminPassword}};
}

// Registers device_id for the account admin with escrowctl and returns the
// enrollment token it printed.
std::string RegisterDevice(const testing::EscrowdProcess& server, const std::string& device_id,
                           const std::string& token_ttl_s) {
  auto added = testing::RunCommand({testing::BinaryPath("escrowctl"), "add-device", "--device",
                                    device_id, "--owner", "admin", "--token-ttl", token_ttl_s},
                                   ClientEnvironment(server), 120);
  INFO(added.output);
  REQUIRE(added.exit_code == 0);
  std::smatch match;
  REQUIRE(std::regex_search(added.output, match, std::regex("\\n([A-Za-z0-9_-]{43})\\n")));
  return match[1];
}

testing::CommandResult Enroll(const testing::EscrowdProcess& server, const std::string& device_id,
                              const std::string& token, const std::string& state_file) {
  return testing::RunCommand({testing::BinaryPath("escrow-device"), "enroll", "--device",
                              device_id, "--token", token, "--state", state_file},
                             ClientEnvironment(server), 120);
}

size_t CountMatches(const std::string& text, const std::regex& pattern) {
  auto first = std::sregex_iterator(text.begin(), text.end(), pattern);
  return static_cast<size_t>(std::distance(first, std::sregex_iterator()));
}

}  // namespace

TEST_CASE("enroll error names next step") {
  testing::TempDir dir;
  testing::EscrowdProcess server;
  REQUIRE(server.Start(dir.path() + "/data", kAdminPassword));

  SECTION("expired token") {
    std::string token = RegisterDevice(server, "phone-1", "1");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    auto enrolled = Enroll(server, "phone-1", token, dir.path() + "/phone-1.json");
    INFO(enrolled.output);
    CHECK(enrolled.exit_code == 1);
    CHECK(enrolled.output.find(std::string("the enrollment token expired") + kNewTokenHint) !=
          std::string::npos);
  }
  SECTION("token already used") {
    std::string token = RegisterDevice(server, "phone-2", "3600");
    REQUIRE(Enroll(server, "phone-2", token, dir.path() + "/first.json").exit_code == 0);
    auto again = Enroll(server, "phone-2", token, dir.path() + "/second.json");
    INFO(again.output);
    CHECK(again.exit_code == 1);
    CHECK(again.output.find(std::string("the enrollment token was already used or was replaced "
                                        "by a newer token for this device") +
                            kNewTokenHint) != std::string::npos);
  }
  CHECK(server.Stop() == 0);
}

TEST_CASE("fleet progress without terminal") {
  testing::TempDir dir;
  testing::EscrowdProcess server;
  REQUIRE(server.Start(dir.path() + "/data", kAdminPassword));

  // RunCommand writes stdout and stderr to one file, so stderr is no terminal.
  auto fleet = testing::RunCommand({testing::BinaryPath("escrow-device"), "fleet", "--devices",
                                    "4", "--id-prefix", "p", "--drop-every", "0"},
                                   ClientEnvironment(server), 300);
  INFO(fleet.output);
  CHECK(fleet.exit_code == 0);
  CHECK(fleet.output.find('\r') == std::string::npos);
  CHECK(fleet.output.find("[#") == std::string::npos);
  CHECK(CountMatches(fleet.output, std::regex("4/4 devices.*\\n")) == 1);
  CHECK(server.Stop() == 0);
}
