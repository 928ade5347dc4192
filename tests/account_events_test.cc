// Ledger events of account credential changes and of role-denied retrievals,
// over real HTTP on 127.0.0.1. A password change or admin reset appends one
// AccountPasswordChanged with no secret in it. A failed change appends
// nothing, and a change the ledger cannot record leaves the old password.
// Offline escrowctl verify and replay accept the new event. A retrieval that
// the route table rejects appends the same RecoveryPasswordRetrievalDenied
// that EscrowService::Retrieve writes for a caller without roles. The stack
// is real (RocksDB in a temp dir, the sequencer, EscrowService,
// http::Server), and only the Api clock is injected.
#include <catch2/catch.hpp>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>

#include "api/api.h"
#include "api/auth.h"
#include "api/http/http.h"
#include "api/password_hash.h"
#include "ledger/events.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/projector.h"
#include "projections/service.h"
#include "tests/api_stack.h"
#include "tests/test_support.h"

using namespace escrow;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kHourNs = int64_t{3600} * 1'000'000'000;
constexpr const char* kPassword = "correct horse battery";
constexpr const char* kNewPassword = "new staple battery";
constexpr const char* kResetPassword = "reset by the admin 42";
constexpr const char* kDeviceId = "phone-1";
// The cheapest allowed cost, so each hash in these tests takes milliseconds.
constexpr uint64_t kTestLogN = api::kMinPasswordLogN;

using Reply = testing::ApiReply;

// The API stack with the account and ledger helpers of these tests.
class AccountStack : public testing::ApiStack {
 public:
  void AddAccount(const std::string& name, std::vector<std::string> roles) {
    Status s = service().CreateAccount(api::SystemPrincipal(), name, roles, name,
                                       api::HashPassword(kPassword, kTestLogN));
    REQUIRE(s.ok());
  }

  void RegisterDevice(const std::string& device_id, const std::string& owner) {
    auto registered = service().RegisterDevice(api::SystemPrincipal(), device_id, owner, kHourNs);
    REQUIRE(registered.ok());
  }

  int TryLogin(const std::string& name, const std::string& password) {
    return Send("POST", "/v1/sessions",
                json::serialize(json::object{{"username", name}, {"password", password}}))
        .status;
  }

  std::string Login(const std::string& name, const std::string& password = kPassword) {
    Reply reply = Send("POST", "/v1/sessions",
                       json::serialize(json::object{{"username", name}, {"password", password}}));
    REQUIRE(reply.status == 200);
    return std::string(reply.body.at("token").as_string());
  }

  Reply ChangeOwnPassword(const std::string& token, const std::string& current,
                          const std::string& replacement) {
    return Send("POST", "/v1/me/password",
                json::serialize(json::object{{"current_password", current},
                                             {"new_password", replacement}}),
                token);
  }

  Reply ResetPassword(const std::string& admin_token, const std::string& account,
                      const std::string& replacement) {
    return Send("POST", "/v1/accounts/" + account + "/password",
                json::serialize(json::object{{"new_password", replacement}}), admin_token);
  }

  uint64_t LastSeq() {
    auto last = store()->LastSeq();
    REQUIRE(last.ok());
    return *last;
  }

  // Returns the stored bytes of every entry after seq `after`.
  std::vector<std::string> EntryBytesAfter(uint64_t after) {
    std::vector<std::string> out;
    const uint64_t last = LastSeq();
    for (uint64_t seq = after + 1; seq <= last; seq++) {
      auto bytes = store()->ReadEntry(seq);
      REQUIRE(bytes.ok());
      REQUIRE(bytes->has_value());
      out.push_back(**bytes);
    }
    return out;
  }

  std::vector<ledger::Entry> EntriesAfter(uint64_t after) {
    std::vector<ledger::Entry> out;
    for (const std::string& bytes : EntryBytesAfter(after)) {
      auto decoded = ledger::DecodeEntry(bytes);
      REQUIRE(decoded.ok());
      out.push_back(decoded->entry);
    }
    return out;
  }

  std::string StoredHash(const std::string& account) {
    auto hash = store()->Get(ledger::Cf::kCredentials, account);
    REQUIRE(hash.ok());
    REQUIRE(hash->has_value());
    return **hash;
  }

  void StopSequencer() { sequencer().Stop(); }
};

ledger::AccountPasswordChanged PasswordChangedPayload(const ledger::Entry& entry) {
  REQUIRE(entry.type == static_cast<uint16_t>(ledger::EventType::kAccountPasswordChanged));
  auto payload = ledger::DecodePayload<ledger::AccountPasswordChanged>(entry.payload);
  REQUIRE(payload.ok());
  return *payload;
}

ledger::RecoveryPasswordRetrievalDenied DenialPayload(const ledger::Entry& entry) {
  REQUIRE(entry.type ==
          static_cast<uint16_t>(ledger::EventType::kRecoveryPasswordRetrievalDenied));
  auto payload = ledger::DecodePayload<ledger::RecoveryPasswordRetrievalDenied>(entry.payload);
  REQUIRE(payload.ok());
  return *payload;
}

// Returns the parts of an scrypt hash "scrypt$N$r$p$SALT$KEY" after the
// parameters: the salt and the derived key, as stored.
std::vector<std::string> SecretHashParts(const std::string& hash) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t end = hash.find('$'); end != std::string::npos; end = hash.find('$', start)) {
    parts.push_back(hash.substr(start, end - start));
    start = end + 1;
  }
  parts.push_back(hash.substr(start));
  REQUIRE(parts.size() == 6);
  return {parts[4], parts[5]};
}

void CheckContainsNone(const std::string& bytes, const std::vector<std::string>& secrets,
                       const std::string& where) {
  for (const std::string& secret : secrets) {
    INFO("secret of " << secret.size() << " bytes found in " << where);
    CHECK(bytes.find(secret) == std::string::npos);
  }
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("own password change appends one event") {
  AccountStack stack;
  stack.AddAccount("alice", {"user"});
  std::string first = stack.Login("alice");
  stack.Login("alice");
  const std::string old_hash = stack.StoredHash("alice");
  const uint64_t before = stack.LastSeq();

  Reply reply = stack.ChangeOwnPassword(first, kPassword, kNewPassword);
  REQUIRE(reply.status == 200);
  CHECK(reply.body.at("sessions_revoked").as_bool());

  std::vector<ledger::Entry> entries = stack.EntriesAfter(before);
  REQUIRE(entries.size() == 1);
  const ledger::Entry& entry = entries[0];
  CHECK(ledger::EventTypeName(entry.type) == std::string("AccountPasswordChanged"));
  CHECK(entry.actor_kind == ledger::ActorKind::kAccount);
  CHECK(entry.actor_id == "alice");
  CHECK(entry.subject == "alice");
  ledger::AccountPasswordChanged payload = PasswordChangedPayload(entry);
  CHECK(payload.account == "alice");
  CHECK_FALSE(payload.by_admin);
  CHECK(payload.sessions_revoked == 2);

  std::vector<std::string> secrets = {kPassword, kNewPassword, old_hash,
                                      stack.StoredHash("alice")};
  for (const std::string& part : SecretHashParts(old_hash)) secrets.push_back(part);
  for (const std::string& part : SecretHashParts(stack.StoredHash("alice"))) {
    secrets.push_back(part);
  }
  CheckContainsNone(stack.EntryBytesAfter(before).at(0), secrets, "the entry bytes");
  CHECK(stack.TryLogin("alice", kNewPassword) == 200);
}

TEST_CASE("admin reset appends one event") {
  AccountStack stack;
  stack.AddAccount("admin", {"admin"});
  stack.AddAccount("alice", {"user"});
  stack.Login("alice");
  // The first session expires; only the second one is live at the reset.
  stack.AdvanceClock(9 * kHourNs);
  stack.Login("alice");
  std::string admin = stack.Login("admin");
  const uint64_t before = stack.LastSeq();

  Reply reply = stack.ResetPassword(admin, "alice", kResetPassword);
  REQUIRE(reply.status == 200);
  CHECK(reply.body.at("username").as_string() == "alice");

  std::vector<ledger::Entry> entries = stack.EntriesAfter(before);
  REQUIRE(entries.size() == 1);
  const ledger::Entry& entry = entries[0];
  CHECK(entry.actor_kind == ledger::ActorKind::kAccount);
  CHECK(entry.actor_id == "admin");
  CHECK(entry.subject == "alice");
  ledger::AccountPasswordChanged payload = PasswordChangedPayload(entry);
  CHECK(payload.account == "alice");
  CHECK(payload.by_admin);
  CHECK(payload.sessions_revoked == 1);

  std::vector<std::string> secrets = {kPassword, kResetPassword, stack.StoredHash("alice")};
  for (const std::string& part : SecretHashParts(stack.StoredHash("alice"))) {
    secrets.push_back(part);
  }
  CheckContainsNone(stack.EntryBytesAfter(before).at(0), secrets, "the entry bytes");

  // The ledger route shows the event by name with its payload fields.
  Reply listed =
      stack.Send("GET", "/v1/ledger/entries?from=" + std::to_string(before + 1), "", admin);
  REQUIRE(listed.status == 200);
  const json::object& listed_entry =
      listed.body.at("entries").as_array().at(0).at("entry").as_object();
  CHECK(listed_entry.at("type").as_string() == "AccountPasswordChanged");
  CHECK(listed_entry.at("actor").as_string() == "admin");
  CHECK(listed_entry.at("subject").as_string() == "alice");
  CHECK(listed_entry.at("payload").at("by_admin").as_bool());
  CHECK(listed_entry.at("payload").at("sessions_revoked").as_int64() == 1);
  CHECK(stack.TryLogin("alice", kResetPassword) == 200);
}

TEST_CASE("failed password change appends nothing") {
  AccountStack stack;
  stack.AddAccount("admin", {"admin"});
  stack.AddAccount("alice", {"user"});
  std::string alice = stack.Login("alice");
  std::string admin = stack.Login("admin");
  const uint64_t before = stack.LastSeq();

  SECTION("wrong current password") {
    Reply reply = stack.ChangeOwnPassword(alice, "wrong password", kNewPassword);
    CHECK(reply.status == 403);
    CHECK(reply.body.at("message").as_string() == api::kWrongCurrentPasswordMessage);
  }
  SECTION("too short new password") {
    CHECK(stack.ChangeOwnPassword(alice, kPassword, "short").status == 400);
  }
  SECTION("reset of an unknown account") {
    CHECK(stack.ResetPassword(admin, "nobody", kResetPassword).status == 404);
  }
  SECTION("reset by a non-admin") {
    CHECK(stack.ResetPassword(alice, "admin", kResetPassword).status == 403);
  }
  CHECK(stack.LastSeq() == before);
  CHECK(stack.TryLogin("alice", kPassword) == 200);
  CHECK(stack.TryLogin("admin", kPassword) == 200);
}

TEST_CASE("unrecorded password change keeps old password") {
  AccountStack stack;
  stack.AddAccount("admin", {"admin"});
  stack.AddAccount("alice", {"user"});
  std::string alice = stack.Login("alice");
  std::string admin = stack.Login("admin");
  const std::string old_hash = stack.StoredHash("alice");
  const uint64_t before = stack.LastSeq();
  // A stopped sequencer fails every commit with kUnavailable, as a full disk does.
  stack.StopSequencer();

  Reply changed = stack.ChangeOwnPassword(alice, kPassword, kNewPassword);
  CHECK(changed.status == 503);
  CHECK(changed.body.at("message").as_string().find("was not changed") != std::string::npos);
  CHECK(changed.raw.find(kNewPassword) == std::string::npos);
  Reply reset = stack.ResetPassword(admin, "alice", kResetPassword);
  CHECK(reset.status == 503);
  CHECK(reset.raw.find(kResetPassword) == std::string::npos);

  CHECK(stack.LastSeq() == before);
  CHECK(stack.StoredHash("alice") == old_hash);
  CHECK(stack.Send("GET", "/v1/session", "", alice).status == 200);
  CHECK(stack.TryLogin("alice", kNewPassword) == 401);
  CHECK(stack.TryLogin("alice", kResetPassword) == 401);
  CHECK(stack.TryLogin("alice", kPassword) == 200);
}

TEST_CASE("database files hold no account password") {
  AccountStack stack;
  stack.AddAccount("admin", {"admin"});
  stack.AddAccount("alice", {"user"});
  std::string alice = stack.Login("alice");
  REQUIRE(stack.ChangeOwnPassword(alice, kPassword, kNewPassword).status == 200);
  std::string admin = stack.Login("admin");
  REQUIRE(stack.ResetPassword(admin, "alice", kResetPassword).status == 200);
  stack.Shutdown();

  // The plain passwords were only in memory and request bodies, so no file contains them.
  size_t files = 0;
  for (const auto& item : fs::recursive_directory_iterator(stack.root_dir())) {
    if (!item.is_regular_file()) continue;
    CheckContainsNone(ReadFile(item.path()), {kPassword, kNewPassword, kResetPassword},
                      item.path().string());
    files++;
  }
  CHECK(files > 0);
}

TEST_CASE("offline verify and replay accept password changes") {
  AccountStack stack;
  stack.AddAccount("admin", {"admin"});
  stack.AddAccount("alice", {"user"});
  std::string alice = stack.Login("alice");
  REQUIRE(stack.ChangeOwnPassword(alice, kPassword, kNewPassword).status == 200);
  std::string admin = stack.Login("admin");
  REQUIRE(stack.ResetPassword(admin, "alice", kResetPassword).status == 200);
  stack.Shutdown();

  const std::string ctl = testing::BinaryPath("escrowctl");
  const std::string exported = stack.root_dir() + "/ledger.escledg";
  testing::CommandResult verify =
      testing::RunCommand({ctl, "verify", "--data-dir", stack.data_dir()});
  INFO(verify.output);
  CHECK(verify.exit_code == 0);
  testing::CommandResult exporting = testing::RunCommand(
      {ctl, "export", "--data-dir", stack.data_dir(), "--out", exported});
  INFO(exporting.output);
  REQUIRE(exporting.exit_code == 0);
  testing::CommandResult verify_export =
      testing::RunCommand({ctl, "verify", "--ledger", exported});
  INFO(verify_export.output);
  CHECK(verify_export.exit_code == 0);
  testing::CommandResult replay = testing::RunCommand({ctl, "replay", "--ledger", exported});
  INFO(replay.output);
  CHECK(replay.exit_code == 0);
  testing::CommandResult rebuild =
      testing::RunCommand({ctl, "rebuild-projections", "--data-dir", stack.data_dir()});
  INFO(rebuild.output);
  CHECK(rebuild.exit_code == 0);
}

TEST_CASE("role denied retrieval appends one denial") {
  AccountStack stack;
  stack.AddAccount("ada", {"admin"});
  stack.AddAccount("alice", {"user"});
  stack.RegisterDevice(kDeviceId, "alice");
  std::string ada = stack.Login("ada");
  const std::string path = std::string("/v1/devices/") + kDeviceId + "/recovery-password:retrieve";
  const uint64_t before = stack.LastSeq();

  Reply denied = stack.Send("POST", path, R"({"reason":"T-9","channel":"cli"})", ada);
  REQUIRE(denied.status == 403);
  std::vector<ledger::Entry> entries = stack.EntriesAfter(before);
  REQUIRE(entries.size() == 1);
  const ledger::Entry& entry = entries[0];
  CHECK(entry.actor_kind == ledger::ActorKind::kAccount);
  CHECK(entry.actor_id == "ada");
  CHECK(entry.subject == kDeviceId);
  ledger::RecoveryPasswordRetrievalDenied payload = DenialPayload(entry);
  CHECK(payload.device_id == kDeviceId);
  CHECK(payload.channel == "cli");
  CHECK(payload.reason == "T-9");
  CHECK(payload.denial_reason == projections::kRetrievalRoleRequiredMessage);

  // Retrieve records the same payload for the same caller without roles.
  projections::RetrievalRequest request{kDeviceId, "cli", "T-9"};
  auto retrieved = stack.service().Retrieve(projections::Principal{"ada", {}}, request);
  REQUIRE_FALSE(retrieved.ok());
  CHECK(retrieved.status().code() == Code::kPermissionDenied);
  std::vector<ledger::Entry> both = stack.EntriesAfter(before);
  REQUIRE(both.size() == 2);
  CHECK(both[1].payload == entry.payload);
  CHECK(both[1].actor_id == entry.actor_id);
  CHECK(both[1].subject == entry.subject);
  CHECK(both[1].type == entry.type);
}

TEST_CASE("role denied retrieval edge cases") {
  AccountStack stack;
  stack.AddAccount("ada", {"admin"});
  stack.AddAccount("alice", {"user"});
  stack.RegisterDevice(kDeviceId, "alice");
  std::string ada = stack.Login("ada");
  const uint64_t before = stack.LastSeq();

  SECTION("an unknown channel is recorded as api") {
    const std::string path =
        std::string("/v1/devices/") + kDeviceId + "/recovery-password:retrieve";
    REQUIRE(stack.Send("POST", path, R"({"reason":"T-1","channel":"pigeon"})", ada).status ==
            403);
    std::vector<ledger::Entry> entries = stack.EntriesAfter(before);
    REQUIRE(entries.size() == 1);
    CHECK(DenialPayload(entries[0]).channel == "api");
    CHECK(DenialPayload(entries[0]).reason == "T-1");
  }
  SECTION("an unknown device records nothing") {
    REQUIRE(stack.Send("POST", "/v1/devices/no-such-device/recovery-password:retrieve", "{}", ada)
                .status == 403);
    CHECK(stack.LastSeq() == before);
  }
  SECTION("a caller holding a retrieval role is not recorded as missing it") {
    projections::RetrievalRequest request{kDeviceId, "api", ""};
    auto recorded = stack.service().RecordRetrievalDenied(
        projections::Principal{"helen", {"helpdesk"}}, request,
        projections::RetrievalDenial::kRoleRequired);
    REQUIRE_FALSE(recorded.ok());
    CHECK(recorded.status().code() == Code::kInvalidArgument);
    CHECK(stack.LastSeq() == before);
  }
  SECTION("the service returns the seq of the denial") {
    projections::RetrievalRequest request{kDeviceId, "console", "T-2"};
    auto recorded = stack.service().RecordRetrievalDenied(
        projections::Principal{"audrey", {"auditor"}}, request,
        projections::RetrievalDenial::kRoleRequired);
    REQUIRE(recorded.ok());
    CHECK(*recorded == before + 1);
    CHECK(stack.LastSeq() == before + 1);
  }
}

TEST_CASE("password change payload bytes are pinned") {
  ledger::AccountPasswordChanged event{"alice", true, 3};
  const std::string expected = std::string("\x01", 1) +                  // little-endian flag
                               std::string("\x05\0\0\0\0\0\0\0", 8) +     // account length
                               "alice" + std::string("\x01", 1) +         // by_admin
                               std::string("\x03\0\0\0\0\0\0\0", 8);      // sessions_revoked
  CHECK(ledger::EncodePayload(event) == expected);

  auto decoded = ledger::DecodePayload<ledger::AccountPasswordChanged>(expected);
  REQUIRE(decoded.ok());
  CHECK(decoded->account == "alice");
  CHECK(decoded->by_admin);
  CHECK(decoded->sessions_revoked == 3);
  CHECK(ledger::EventTypeName(18) == std::string("AccountPasswordChanged"));
}
