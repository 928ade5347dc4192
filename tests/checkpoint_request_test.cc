// A checkpoint written on request through the API and escrowctl covers the
// committed ledger, and verify checks it offline afterwards.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <fstream>

#include "ledger/checkpoint.h"
#include "ledger/crypto.h"
#include "ledger/keys.h"
#include "tests/test_support.h"

using namespace escrow;
namespace json = boost::json;

namespace {

constexpr const char* kAdminPassword = "admin-password-1";

json::object LastJson(const std::string& output) {
  std::istringstream lines(output);
  std::string line;
  json::object found;
  while (std::getline(lines, line)) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (!ec && v.is_object()) found = v.as_object();
  }
  return found;
}

}  // namespace

TEST_CASE("checkpoint on request covers the ledger") {
  testing::TempDir dir;
  testing::EscrowdProcess server;
  REQUIRE(server.Start(dir.path(), kAdminPassword));
  std::map<std::string, std::string> env = {{"ESCROW_SERVER", server.api_address()},
                                            {"ESCROW_USER", "admin"},
                                            {"ESCROW_PASSWORD", kAdminPassword}};
  std::string ctl = testing::BinaryPath("escrowctl");

  auto added = testing::RunCommand(
      {ctl, "add-account", "--username", "aud1", "--roles", "auditor"},
      {{"ESCROW_SERVER", server.api_address()}, {"ESCROW_USER", "admin"},
       {"ESCROW_PASSWORD", kAdminPassword}, {"ESCROW_NEW_PASSWORD", "auditor-password-1"}});
  REQUIRE(added.exit_code == 0);

  auto first = testing::RunCommand({ctl, "checkpoint", "--json"}, env);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  json::object reply = LastJson(first.output);
  // The ledger contains the initial policy, the admin account and aud1's account.
  CHECK(reply.at("tree_size").to_number<int64_t>() == 3);
  std::string note(reply.at("note").as_string());
  auto public_key = ledger::LoadLedgerPublicKey(dir.path() + "/keys");
  REQUIRE(public_key.ok());
  auto text = ledger::OpenNote(note, ledger::CheckpointOrigin(*public_key), *public_key);
  REQUIRE(text.ok());
  CHECK(ledger::ParseCheckpointText(*text)->tree_size == 3);

  SECTION("the same size returns the stored checkpoint") {
    auto again = testing::RunCommand({ctl, "checkpoint", "--json"}, env);
    REQUIRE(again.exit_code == 0);
    CHECK(std::string(LastJson(again.output).at("note").as_string()) == note);
  }
  SECTION("a user without the auditor role is denied") {
    auto user = testing::RunCommand(
        {ctl, "add-account", "--username", "u1", "--roles", "user"},
        {{"ESCROW_SERVER", server.api_address()}, {"ESCROW_USER", "admin"},
         {"ESCROW_PASSWORD", kAdminPassword}, {"ESCROW_NEW_PASSWORD", "user-password-1"}});
    REQUIRE(user.exit_code == 0);
    auto denied = testing::RunCommand(
        {ctl, "checkpoint"}, {{"ESCROW_SERVER", server.api_address()}, {"ESCROW_USER", "u1"},
                              {"ESCROW_PASSWORD", "user-password-1"}});
    CHECK(denied.exit_code == 1);
    CHECK(denied.output.find("auditor") != std::string::npos);
  }
  SECTION("verify-checkpoint checks the note's signature") {
    std::string note_path = dir.path() + "/note.txt";
    std::ofstream(note_path) << note;
    std::string key_file = dir.path() + "/keys/ledger-signing.pub";
    auto good = testing::RunCommand(
        {ctl, "verify-checkpoint", "--note", note_path, "--public-key", key_file, "--json"}, {});
    INFO(good.output);
    REQUIRE(good.exit_code == 0);
    CHECK(LastJson(good.output).at("tree_size").to_number<int64_t>() == 3);

    std::string other = crypto::HexEncode(crypto::GenerateEd25519().public_key);
    auto bad = testing::RunCommand(
        {ctl, "verify-checkpoint", "--note", note_path, "--public-key", other}, {});
    CHECK(bad.exit_code == 1);
    CHECK(bad.output.find("checkpoint signature check failed") != std::string::npos);
  }
  SECTION("verify --ledger requires the trusted key when given") {
    REQUIRE(server.Stop() == 0);
    std::string export_path = dir.path() + "/ledger.export";
    auto exported =
        testing::RunCommand({ctl, "export", "--data-dir", dir.path(), "--out", export_path}, {});
    REQUIRE(exported.exit_code == 0);
    std::string key_file = dir.path() + "/keys/ledger-signing.pub";
    auto good = testing::RunCommand(
        {ctl, "verify", "--ledger", export_path, "--public-key", key_file}, {});
    INFO(good.output);
    CHECK(good.exit_code == 0);
    std::string other = crypto::HexEncode(crypto::GenerateEd25519().public_key);
    auto bad =
        testing::RunCommand({ctl, "verify", "--ledger", export_path, "--public-key", other}, {});
    CHECK(bad.exit_code == 1);
    CHECK(bad.output.find("is not the trusted key") != std::string::npos);
  }
  SECTION("verify checks the checkpoint offline") {
    REQUIRE(server.Stop() == 0);
    auto verified = testing::RunCommand({ctl, "verify", "--data-dir", dir.path(), "--json"}, {});
    INFO(verified.output);
    REQUIRE(verified.exit_code == 0);
    CHECK(LastJson(verified.output).at("checkpoints").to_number<int64_t>() >= 1);
  }
}
