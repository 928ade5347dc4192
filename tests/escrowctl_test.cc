// The real escrowctl binary against a real escrowd on 127.0.0.1, and offline
// on its data directory after escrowd stopped.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <optional>
#include <regex>

#include "api/auth.h"
#include "ledger/envelope.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/projector.h"
#include "projections/service.h"
#include "tests/test_support.h"

using namespace escrow;
namespace json = boost::json;

namespace {

constexpr const char* kAdminPassword = "admin-password-1";
constexpr const char* kDigits = "11111222223333344444";

struct Ctl {
  std::string address;
  std::map<std::string, std::string> env() const {
    return {{"ESCROW_SERVER", address}, {"ESCROW_USER", "admin"}, {"ESCROW_PASSWORD", kAdminPassword}};
  }
  testing::CommandResult Run(std::vector<std::string> args,
                             std::map<std::string, std::string> extra_env = {}) const {
    args.insert(args.begin(), testing::BinaryPath("escrowctl"));
    auto environment = env();
    for (auto& [k, v] : extra_env) environment[k] = v;
    return testing::RunCommand(args, environment, 120);
  }
};

// Returns the last line of output that parses as a JSON object.
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

size_t CountMatches(const std::string& text, const std::regex& pattern) {
  auto first = std::sregex_iterator(text.begin(), text.end(), pattern);
  return static_cast<size_t>(std::distance(first, std::sregex_iterator()));
}

// Returns field of each element of array, in order.
std::vector<std::string> Column(const json::array& array, const std::string& field) {
  std::vector<std::string> column;
  for (const auto& item : array) {
    const json::value& value = item.at(field);
    column.push_back(value.is_string() ? std::string(value.as_string()) : json::serialize(value));
  }
  return column;
}

std::string EnrollmentToken(const std::string& output) {
  std::smatch match;
  std::regex token_line("\\n([A-Za-z0-9_-]{43})\\n");
  REQUIRE(std::regex_search(output, match, token_line));
  return match[1];
}

// Enrolls device_id with token and escrows kDigits as generation 1, in process,
// while escrowd is stopped.
void EscrowOffline(const std::string& data_dir, const std::string& device_id,
                   const std::string& token) {
  auto store = ledger::Store::Open(data_dir);
  REQUIRE(store.ok());
  auto signing = ledger::SigningKey::LoadOrCreate((*store)->keys_dir());
  REQUIRE(signing.ok());
  auto master = ledger::MasterKey::LoadOrCreate((*store)->keys_dir());
  REQUIRE(master.ok());
  ledger::Sequencer sequencer(store->get(), &*signing, projections::Apply, {});
  REQUIRE(sequencer.Start().ok());
  projections::EscrowService service(store->get(), &sequencer, &*master);

  crypto::KeyPair key = crypto::GenerateEd25519();
  auto origin = [&](uint64_t counter, const std::string& path) {
    std::string body = "{\"device_id\":\"" + device_id + "\",\"counter\":" +
                       std::to_string(counter) + "}";
    projections::DeviceOrigin o{device_id, counter, "POST " + path + "\n" + body, ""};
    o.signature = *crypto::Ed25519Sign(key.private_key.view(),
                                       "escrow-gateway/v1\nPOST\n" + path + "\n" + body);
    return o;
  };
  projections::EnrollRequest enroll;
  enroll.origin = origin(1, "/gw/v1/enroll");
  enroll.enrollment_token = token;
  enroll.os_version = "7.0";
  enroll.client_version = "1.0";
  enroll.device_public_key = key.public_key;
  auto enrolled = service.Enroll(enroll);
  REQUIRE(enrolled.ok());

  projections::EscrowRequest escrow;
  escrow.origin = origin(2, "/gw/v1/recovery-password");
  escrow.generation = 1;
  escrow.envelope = *ledger::SealRecoveryPassword(enrolled->escrow_public_key, device_id, 1, kDigits);
  REQUIRE(service.Escrow(escrow).ok());
  sequencer.Stop();
}

}  // namespace

TEST_CASE("escrowctl administers a running escrowd") {
  testing::TempDir dir;
  std::string data = dir.path() + "/data";
  testing::EscrowdProcess escrowd;
  REQUIRE(escrowd.Start(data, kAdminPassword));
  Ctl ctl{escrowd.api_address()};

  // Accounts.
  auto added = ctl.Run({"add-account", "--username", "alice", "--password", "alice-password",
                        "--roles", "user", "--display-name", "Alice"});
  INFO(added.output);
  CHECK(added.exit_code == 0);
  CHECK(added.output.find("Created account alice with roles user") != std::string::npos);
  auto duplicate = ctl.Run({"add-account", "--username", "alice", "--password", "alice-password"});
  CHECK(duplicate.exit_code == 1);
  CHECK(duplicate.output.find("alice") != std::string::npos);
  auto bad_role = ctl.Run({"add-account", "--username", "bob", "--roles", "wizard"},
                          {{"ESCROW_NEW_PASSWORD", "bob-password"}});
  CHECK(bad_role.exit_code == 1);
  CHECK(bad_role.output.find("wizard") != std::string::npos);
  auto accounts = ctl.Run({"accounts", "--json"});
  CHECK(accounts.exit_code == 0);
  CHECK(LastJson(accounts.output).at("accounts").as_array().size() == 2);

  // Devices.
  auto device = ctl.Run({"add-device", "--device", "phone-1", "--owner", "alice", "--token-ttl",
                         "3600"});
  INFO(device.output);
  CHECK(device.exit_code == 0);
  CHECK(device.output.find("Enrollment token") != std::string::npos);
  CHECK(EnrollmentToken(device.output).size() == 43);
  auto devices = ctl.Run({"devices", "--json"});
  CHECK(devices.exit_code == 0);
  json::object devices_reply = LastJson(devices.output);
  const json::array& list = devices_reply.at("devices").as_array();
  REQUIRE(list.size() == 1);
  CHECK(list[0].at("device_id").as_string() == "phone-1");
  CHECK(list[0].at("owner").as_string() == "alice");
  CHECK(list[0].at("state").as_string() == "registered");

  // Policy.
  auto policy = ctl.Run({"set-policy", "--self-service", "off", "--check-in-interval", "3600"});
  CHECK(policy.exit_code == 0);
  CHECK(policy.output.find("self-service recovery:   off") != std::string::npos);
  auto shown = ctl.Run({"policy", "--json"});
  CHECK(shown.exit_code == 0);
  CHECK(LastJson(shown.output).at("self_service_recovery").as_bool() == false);
  CHECK(LastJson(shown.output).at("check_in_interval_s").as_int64() == 3600);
  CHECK(ctl.Run({"set-policy", "--self-service", "maybe"}).exit_code == 2);

  // A retrieval with nothing escrowed fails and is audited as denied.
  auto retrieval = ctl.Run({"get-recovery-password", "--device", "phone-1", "--reason", "T-1"});
  CHECK(retrieval.exit_code == 1);
  CHECK(retrieval.output.find("no valid recovery password") != std::string::npos);
  auto audit = ctl.Run({"audit", "--json", "--denied"});
  CHECK(audit.exit_code == 0);
  json::object audit_reply = LastJson(audit.output);
  const json::array& records = audit_reply.at("records").as_array();
  REQUIRE(records.size() == 1);
  CHECK(records[0].at("actor").as_string() == "admin");
  CHECK(records[0].at("channel").as_string() == "cli");
  CHECK(records[0].at("reason").as_string() == "T-1");
  auto table = ctl.Run({"audit", "--device", "phone-1"});
  CHECK(table.exit_code == 0);
  CHECK(table.output.find("DENIED: no valid recovery password") != std::string::npos);
  CHECK(std::regex_search(table.output, std::regex("SEQ +TIME +ACTOR +DEVICE +CHANNEL +OUTCOME")));
  CHECK(std::regex_search(table.output,
                          std::regex("\\n" + json::serialize(records[0].at("seq")) +
                                     " +[-0-9T:.Z]+ +admin +phone-1 +cli +denied")));

  // Usage and sign-in errors.
  CHECK(ctl.Run({}).exit_code == 2);
  CHECK(ctl.Run({"frobnicate"}).exit_code == 2);
  CHECK(ctl.Run({"device"}).exit_code == 2);
  auto wrong = ctl.Run({"policy"}, {{"ESCROW_PASSWORD", "wrong-password"}});
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.output.find("invalid username or password") != std::string::npos);

  // Offline, after escrowd stopped.
  REQUIRE(escrowd.Stop() == 0);
  auto verify = ctl.Run({"verify", "--data-dir", data});
  INFO(verify.output);
  CHECK(verify.exit_code == 0);
  CHECK(std::regex_search(verify.output, std::regex("Verified [1-9][0-9]* entries")));
  CHECK(std::regex_search(verify.output, std::regex("Head leaf hash: [0-9a-f]{64}")));
  // stderr is a file here, not a terminal: no \r progress, one summary line.
  CHECK(verify.output.find('\r') == std::string::npos);
  CHECK(CountMatches(verify.output, std::regex("verified [0-9]+ entries in [0-9.]+ s .*\n")) == 1);
  auto verify_json = ctl.Run({"verify", "--data-dir", data, "--json"});
  CHECK(verify_json.exit_code == 0);
  CHECK(LastJson(verify_json.output).at("ok").as_bool());
  auto rebuild = ctl.Run({"rebuild-projections", "--data-dir", data});
  INFO(rebuild.output);
  CHECK(rebuild.exit_code == 0);
  CHECK(rebuild.output.find("equal to the stored projections") != std::string::npos);
  CHECK(ctl.Run({"verify"}).exit_code == 2);
  CHECK(ctl.Run({"verify", "--data-dir", dir.path() + "/missing"}).exit_code == 1);
}

TEST_CASE("escrowctl prints a retrieved recovery password") {
  testing::TempDir dir;
  std::string data = dir.path() + "/data";
  testing::EscrowdProcess escrowd;
  REQUIRE(escrowd.Start(data, kAdminPassword));
  Ctl ctl{escrowd.api_address()};
  REQUIRE(ctl.Run({"add-account", "--username", "helen", "--password", "helen-password",
                   "--roles", "helpdesk"}).exit_code == 0);
  REQUIRE(ctl.Run({"add-account", "--username", "alice", "--password", "alice-password"})
              .exit_code == 0);
  auto device = ctl.Run({"add-device", "--device", "phone-1", "--owner", "alice"});
  REQUIRE(device.exit_code == 0);
  std::string token = EnrollmentToken(device.output);
  REQUIRE(escrowd.Stop() == 0);

  EscrowOffline(data, "phone-1", token);
  REQUIRE(escrowd.Start(data, kAdminPassword));
  ctl.address = escrowd.api_address();
  std::map<std::string, std::string> helen = {{"ESCROW_USER", "helen"},
                                              {"ESCROW_PASSWORD", "helen-password"}};

  auto text = ctl.Run({"get-recovery-password", "--device", "phone-1", "--reason", "T-9"}, helen);
  INFO(text.output);
  CHECK(text.exit_code == 0);
  CHECK(text.output.find("Recovery password for phone-1 (generation 1): "
                         "11111-22222-33333-44444") != std::string::npos);
  CHECK(text.output.find("not yet active on the device") != std::string::npos);

  auto as_json = ctl.Run({"get-recovery-password", "--device", "phone-1", "--reason", "T-9",
                          "--json"}, helen);
  CHECK(as_json.exit_code == 0);
  CHECK(LastJson(as_json.output).at("recovery_password").as_string() == "11111-22222-33333-44444");

  auto no_reason = ctl.Run({"get-recovery-password", "--device", "phone-1"}, helen);
  CHECK(no_reason.exit_code == 2);
  CHECK(no_reason.output.find("get-recovery-password needs --reason TICKET") != std::string::npos);
  CHECK(escrowd.Stop() == 0);
}

TEST_CASE("escrowctl errors name options") {
  testing::TempDir dir;
  testing::EscrowdProcess escrowd;
  REQUIRE(escrowd.Start(dir.path() + "/data", kAdminPassword));
  Ctl ctl{escrowd.api_address()};
  REQUIRE(ctl.Run({"add-account", "--username", "helen", "--password", "helen-password",
                   "--roles", "helpdesk"}).exit_code == 0);
  REQUIRE(ctl.Run({"add-device", "--device", "phone-1", "--owner", "helen"}).exit_code == 0);

  // Each case: arguments, then text the error must contain, then the API name
  // it must not contain.
  struct Case {
    std::vector<std::string> args;
    std::string expected;
    std::string api_name;
  };
  const std::vector<Case> cases = {
      {{"add-device", "--device", "phone-2", "--owner", "helen", "--token-ttl", "999999999999"},
       "--token-ttl must be between 1 and ", "token_ttl_s"},
      {{"set-policy", "--reset-mode", "sometimes"}, "invalid --reset-mode \"sometimes\"",
       "reset_mode"},
      {{"set-policy", "--min-os-version", "x.y"}, "--min-os-version: ", "min_os_version"},
      {{"add-account", "--username", "bob", "--password", "short"},
       "the new account's password (--password or $ESCROW_NEW_PASSWORD) must be at least 8 bytes",
       "field \"password\""},
      {{"audit", "--since", "yesterday"}, "--since must be Unix nanoseconds or an RFC 3339 time",
       "query parameter"},
      {{"audit", "--limit", "5000"}, "--limit must be between 1 and 1000", "query parameter"},
      {{"devices", "--limit", "0"}, "--limit must be between 1 and 1000", "query parameter"},
      {{"valid-at", "--device", "phone-1", "--time", "soon"}, "--time must be ",
       "query parameter"},
  };
  for (const Case& c : cases) {
    auto result = ctl.Run(c.args);
    INFO(c.args[0] << " " << c.args[1] << ": " << result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find(c.expected) != std::string::npos);
    CHECK(result.output.find(c.api_name) == std::string::npos);
  }

  // A help-desk retrieval without --reason stops in escrowctl, before the
  // server could record a denial.
  std::map<std::string, std::string> helen = {{"ESCROW_USER", "helen"},
                                              {"ESCROW_PASSWORD", "helen-password"}};
  auto no_reason = ctl.Run({"get-recovery-password", "--device", "phone-1"}, helen);
  INFO(no_reason.output);
  CHECK(no_reason.exit_code == 2);
  CHECK(no_reason.output.find("get-recovery-password needs --reason TICKET: ") !=
        std::string::npos);
  CHECK(no_reason.output.find("a reason (ticket id) is required") == std::string::npos);
  auto denials = ctl.Run({"audit", "--denied", "--json"});
  REQUIRE(denials.exit_code == 0);
  CHECK(LastJson(denials.output).at("records").as_array().empty());

  // An account without the helpdesk role needs no reason: the server decides.
  REQUIRE(ctl.Run({"add-account", "--username", "audrey", "--password", "audrey-password",
                   "--roles", "auditor"}).exit_code == 0);
  auto by_auditor = ctl.Run({"get-recovery-password", "--device", "phone-1"},
                            {{"ESCROW_USER", "audrey"}, {"ESCROW_PASSWORD", "audrey-password"}});
  CHECK(by_auditor.exit_code == 1);
  CHECK(by_auditor.output.find("requires the helpdesk role") != std::string::npos);
  CHECK(escrowd.Stop() == 0);
}

TEST_CASE("escrowctl audit and receipts limits") {
  testing::TempDir dir;
  std::string data = dir.path() + "/data";
  testing::EscrowdProcess escrowd;
  REQUIRE(escrowd.Start(data, kAdminPassword));
  Ctl ctl{escrowd.api_address()};
  REQUIRE(ctl.Run({"add-account", "--username", "helen", "--password", "helen-password",
                   "--roles", "helpdesk"}).exit_code == 0);
  REQUIRE(ctl.Run({"add-account", "--username", "alice", "--password", "alice-password"})
              .exit_code == 0);
  auto device = ctl.Run({"add-device", "--device", "phone-1", "--owner", "alice"});
  REQUIRE(device.exit_code == 0);
  std::string token = EnrollmentToken(device.output);
  REQUIRE(escrowd.Stop() == 0);
  EscrowOffline(data, "phone-1", token);
  REQUIRE(escrowd.Start(data, kAdminPassword));
  ctl.address = escrowd.api_address();

  std::map<std::string, std::string> helen = {{"ESCROW_USER", "helen"},
                                              {"ESCROW_PASSWORD", "helen-password"}};
  for (const char* reason : {"T-1", "T-2", "T-3"}) {
    REQUIRE(ctl.Run({"get-recovery-password", "--device", "phone-1", "--reason", reason}, helen)
                .exit_code == 0);
  }
  auto all = ctl.Run({"audit", "--device", "phone-1", "--json"});
  REQUIRE(all.exit_code == 0);
  const std::vector<std::string> seqs =
      Column(LastJson(all.output).at("records").as_array(), "seq");
  REQUIRE(seqs.size() == 3);

  // audit --limit 2: the oldest two, oldest first.
  auto audit = ctl.Run({"audit", "--device", "phone-1", "--limit", "2", "--json"});
  REQUIRE(audit.exit_code == 0);
  const json::object audit_reply = LastJson(audit.output);
  const json::array& records = audit_reply.at("records").as_array();
  CHECK(Column(records, "reason") == std::vector<std::string>{"T-1", "T-2"});
  CHECK(Column(records, "seq") == std::vector<std::string>{seqs[0], seqs[1]});

  // receipts --limit 2: the newest two, oldest first.
  auto receipts = ctl.Run({"receipts", "--limit", "2", "--json"},
                          {{"ESCROW_USER", "alice"}, {"ESCROW_PASSWORD", "alice-password"}});
  INFO(receipts.output);
  REQUIRE(receipts.exit_code == 0);
  const json::object receipts_reply = LastJson(receipts.output);
  const json::array& retrievals = receipts_reply.at("retrievals").as_array();
  CHECK(Column(retrievals, "seq") == std::vector<std::string>{seqs[1], seqs[2]});

  // The help text names which N each command prints.
  auto help = ctl.Run({"--help"});
  CHECK(help.output.find("the oldest N matching records, oldest first") != std::string::npos);
  CHECK(help.output.find("newest N, printed oldest first") != std::string::npos);
  CHECK(escrowd.Stop() == 0);
}

TEST_CASE("escrowctl changes and resets passwords") {
  testing::TempDir dir;
  testing::EscrowdProcess escrowd;
  REQUIRE(escrowd.Start(dir.path() + "/data", kAdminPassword));
  Ctl ctl{escrowd.api_address()};
  REQUIRE(ctl.Run({"add-account", "--username", "helen", "--password", "helen-password",
                   "--roles", "helpdesk"}).exit_code == 0);
  const std::map<std::string, std::string> helen = {{"ESCROW_USER", "helen"},
                                                    {"ESCROW_PASSWORD", "helen-password"}};

  // Helen changes her own password; the new one comes from the environment.
  auto changed = ctl.Run({"change-password"},
                         {{"ESCROW_USER", "helen"}, {"ESCROW_PASSWORD", "helen-password"},
                          {"ESCROW_NEW_PASSWORD", "helen-password-2"}});
  INFO(changed.output);
  CHECK(changed.exit_code == 0);
  CHECK(changed.output.find("Changed the password of helen") != std::string::npos);
  CHECK(changed.output.find("helen-password-2") == std::string::npos);
  CHECK(ctl.Run({"accounts"}, helen).exit_code == 1);  // the old password no longer signs in

  // A too-short new password names what to fix, not the API field.
  auto too_short = ctl.Run({"change-password", "--new-password", "short"},
                           {{"ESCROW_USER", "helen"}, {"ESCROW_PASSWORD", "helen-password-2"}});
  INFO(too_short.output);
  CHECK(too_short.exit_code == 1);
  CHECK(too_short.output.find("new_password") == std::string::npos);
  CHECK(too_short.output.find("the new password must be 8 to 1024 bytes long") != std::string::npos);

  // The admin resets it; Helen signs in with the reset password only.
  auto reset = ctl.Run({"reset-password", "--username", "helen", "--new-password",
                        "helen-password-3"});
  INFO(reset.output);
  CHECK(reset.exit_code == 0);
  CHECK(reset.output.find("Reset the password of helen") != std::string::npos);
  auto denied = ctl.Run({"devices"}, {{"ESCROW_USER", "helen"},
                                      {"ESCROW_PASSWORD", "helen-password-2"}});
  CHECK(denied.exit_code == 1);
  auto not_admin = ctl.Run({"reset-password", "--username", "admin", "--new-password",
                            "admin-password-9"},
                           {{"ESCROW_USER", "helen"}, {"ESCROW_PASSWORD", "helen-password-3"}});
  CHECK(not_admin.exit_code == 1);

  // An auditor finds both in the ledger, with who did what.
  auto entries = ctl.Run({"entries", "--from", "1", "--type", "AccountPasswordChanged", "--json"});
  INFO(entries.output);
  REQUIRE(entries.exit_code == 0);
  const json::object reply = LastJson(entries.output);
  const json::array& events = reply.at("entries").as_array();
  REQUIRE(events.size() == 2);
  const json::object& own = events[0].at("entry").as_object();
  CHECK(own.at("actor").as_string() == "helen");
  CHECK(own.at("subject").as_string() == "helen");
  CHECK(own.at("payload").at("by_admin").as_bool() == false);
  const json::object& by_admin = events[1].at("entry").as_object();
  CHECK(by_admin.at("actor").as_string() == "admin");
  CHECK(by_admin.at("subject").as_string() == "helen");
  CHECK(by_admin.at("payload").at("by_admin").as_bool() == true);

  auto table = ctl.Run({"entries", "--from", "1", "--type", "AccountPasswordChanged"});
  CHECK(table.exit_code == 0);
  CHECK(std::regex_search(table.output, std::regex("AccountPasswordChanged +admin +helen")));
  CHECK(table.output.find(", 2 of type AccountPasswordChanged.") != std::string::npos);
  auto bad_range = ctl.Run({"entries", "--from", "0"});
  CHECK(bad_range.exit_code == 1);
  CHECK(bad_range.output.find("--from") != std::string::npos);
  CHECK(escrowd.Stop() == 0);
}

TEST_CASE("escrowctl names local mistakes") {
  testing::TempDir dir;
  Ctl ctl{"127.0.0.1:1"};

  // A missing CA file is reported as such, not as an unreachable server.
  auto no_ca = ctl.Run({"accounts"}, {{"ESCROW_CA_FILE", dir.path() + "/missing.pem"}});
  CHECK(no_ca.exit_code == 1);
  CHECK(no_ca.output.find("CA file " + dir.path() + "/missing.pem not found") !=
        std::string::npos);
  CHECK(no_ca.output.find("cannot reach") == std::string::npos);

  // A data directory without a database is not blamed on a running escrowd.
  auto no_db = ctl.Run({"rebuild-projections", "--data-dir", dir.path() + "/none"});
  CHECK(no_db.exit_code == 1);
  CHECK(no_db.output.find(dir.path() + "/none/db not found") != std::string::npos);
  CHECK(no_db.output.find("stop escrowd first") == std::string::npos);
}
