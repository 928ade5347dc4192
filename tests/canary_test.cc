// Secrets canary test. The test escrows recovery passwords it chose (the
// canaries) and drives the whole lifecycle through the API, escrowctl and
// escrow-device. Then it searches for the canaries in escrowd.log, the CLI
// output, every response body except the authorized retrievals, /metrics,
// the device state files, the ledger exports, and every file and every
// RocksDB key and value under the data directory.
//
// Each canary is searched for in several forms: the plain 20 digits, the
// grouped form the API shows (12345-67890-12345-67890), and lower and upper
// case hex of both. Standard and URL-safe base64 of both are searched at each
// of the three byte offsets a value can have inside a longer base64 text.
#include <catch2/catch.hpp>

#include <rocksdb/db.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "api/http/http.h"
#include "device-gateway/device_identity.h"
#include "ledger/envelope.h"
#include "ledger/store.h"
#include "tests/test_support.h"

namespace escrow {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// ---------------------------------------------------------------------------
// Canary forms and the search.

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr size_t kBase64GroupBytes = 3;
constexpr size_t kBase64GroupChars = 4;
constexpr size_t kGroupDigits = 5;

// Standard base64 with padding, written here so the oracle does not share
// code with the product it checks.
std::string Base64(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += kBase64GroupBytes) {
    uint32_t group = 0;
    size_t n = std::min(kBase64GroupBytes, bytes.size() - i);
    for (size_t j = 0; j < kBase64GroupBytes; j++) {
      group = (group << 8) | (j < n ? static_cast<uint8_t>(bytes[i + j]) : 0);
    }
    for (size_t j = 0; j < kBase64GroupChars; j++) {
      out += j <= n ? kBase64Alphabet[(group >> (18 - 6 * j)) & 0x3f] : '=';
    }
  }
  return out;
}

std::string Hex(std::string_view bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out += digits[static_cast<uint8_t>(c) >> 4];
    out += digits[static_cast<uint8_t>(c) & 0x0f];
  }
  return out;
}

// "12345678901234567890" -> "12345-67890-12345-67890".
std::string Grouped(std::string_view digits) {
  std::string out;
  for (size_t i = 0; i < digits.size(); i += kGroupDigits) {
    if (!out.empty()) out += '-';
    out += digits.substr(i, kGroupDigits);
  }
  return out;
}

// The base64 characters that depend only on text when text starts at byte
// offset `shift` (0, 1 or 2) of a longer encoded value.
std::string Base64Core(std::string_view text, size_t shift) {
  std::string padded = std::string(shift, '\0') + std::string(text);
  std::string encoded = Base64(padded);
  size_t first_group = shift == 0 ? 0 : 1;
  size_t end_group = padded.size() / kBase64GroupBytes;
  return encoded.substr(first_group * kBase64GroupChars,
                        (end_group - first_group) * kBase64GroupChars);
}

std::string UrlSafe(std::string text) {
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

// One byte string to search for, with a label for failure messages.
struct Needle {
  std::string label;
  std::string bytes;
};

// Every form of one canary.
std::vector<Needle> CanaryNeedles(const std::string& name, const std::string& digits) {
  std::vector<Needle> needles;
  for (const auto& [form, text] :
       std::vector<std::pair<std::string, std::string>>{{"plain", digits},
                                                        {"grouped", Grouped(digits)}}) {
    const std::string prefix = name + " " + form;
    needles.push_back({prefix, text});
    needles.push_back({prefix + " hex", Hex(text, false)});
    needles.push_back({prefix + " HEX", Hex(text, true)});
    for (size_t shift = 0; shift < kBase64GroupBytes; shift++) {
      std::string core = Base64Core(text, shift);
      needles.push_back({prefix + " base64+" + std::to_string(shift), core});
      if (UrlSafe(core) != core) {
        needles.push_back({prefix + " base64url+" + std::to_string(shift), UrlSafe(core)});
      }
    }
  }
  return needles;
}

// Collects the places where any needle occurs.
class Searcher {
 public:
  void Add(const std::vector<Needle>& needles) {
    needles_.insert(needles_.end(), needles.begin(), needles.end());
  }

  void Scan(const std::string& where, std::string_view text) {
    scanned_++;
    for (const Needle& needle : needles_) {
      if (text.find(needle.bytes) != std::string_view::npos) {
        hits_.push_back(needle.label + " in " + where);
      }
    }
  }

  void ScanFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    Scan(path.string(), bytes.str());
  }

  // Scans every regular file under root. Returns the number of files.
  size_t ScanTree(const fs::path& root) {
    size_t files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      ScanFile(entry.path());
      files++;
    }
    return files;
  }

  const std::vector<std::string>& hits() const { return hits_; }
  size_t scanned() const { return scanned_; }

 private:
  std::vector<Needle> needles_;
  std::vector<std::string> hits_;
  size_t scanned_ = 0;
};

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

// Scans every key and value of every column family, so values that RocksDB
// compressed inside SST files are searched as the service stored them.
size_t ScanRocksDb(const std::string& data_dir, Searcher& searcher) {
  auto store = ledger::Store::Open(data_dir);
  REQUIRE(store.ok());
  rocksdb::DB* db = (*store)->db();
  std::vector<std::pair<std::string, rocksdb::ColumnFamilyHandle*>> families = {
      {"default", db->DefaultColumnFamily()}};
  for (int i = 0; i < static_cast<int>(ledger::Cf::kCount); i++) {
    auto cf = static_cast<ledger::Cf>(i);
    families.emplace_back(ledger::CfName(cf), (*store)->cf(cf));
  }

  size_t records = 0;
  for (const auto& [name, handle] : families) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handle));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      searcher.Scan("rocksdb " + name + " key", it->key().ToStringView());
      searcher.Scan("rocksdb " + name + " value of key " + Hex(it->key().ToStringView(), false),
                    it->value().ToStringView());
      records++;
    }
    REQUIRE(it->status().ok());
  }

  // Flush the memtables, so the raw file scan below also reads SST files.
  for (const auto& [name, handle] : families) {
    REQUIRE(db->Flush(rocksdb::FlushOptions(), handle).ok());
  }
  return records;
}

// ---------------------------------------------------------------------------
// The scenario.

constexpr const char* kAdminPassword = "canary-admin-password-7b1f";
constexpr const char* kOwnerPassword = "canary-alice-password-3c9e";
constexpr const char* kOtherOwnerPassword = "canary-bob-password-91d0";
constexpr const char* kHelpdeskPassword = "canary-helpdesk-password-5a2c";
constexpr const char* kAuditorPassword = "canary-auditor-password-e84b";
constexpr size_t kFleetDevices = 4;

// Recovery passwords the test escrows itself. Digits with no long runs, so a
// match cannot be a coincidence with a timestamp or a counter.
const std::map<std::string, std::string>& ChosenCanaries() {
  static const std::map<std::string, std::string> canaries = {
      {"phone-a g1", "31415926535897932384"}, {"phone-a g2", "27182818284590452353"},
      {"phone-b g1", "14142135623730950488"}, {"phone-b g2", "17320508075688772935"},
      {"phone-c g1", "16180339887498948482"},
  };
  return canaries;
}

// A wrong recovery password typed at the lock screen: the device must not
// print it back either.
constexpr const char* kMistypedPassword = "69314718055994530941";

struct Reply {
  int status = 0;
  std::string body;
  json::object Object() const {
    json::error_code ec;
    json::value value = json::parse(body, ec);
    return !ec && value.is_object() ? value.as_object() : json::object{};
  }
};

// A running escrowd, its users, and everything the test saw.
struct Scenario {
  testing::TempDir dir;
  std::string data_dir = dir.path() + "/data";
  std::string devices_dir = dir.path() + "/devices";
  testing::EscrowdProcess server;
  std::unique_ptr<http::Client> api;
  std::map<std::string, std::string> tokens;  // user -> session token

  // Text the canaries must not appear in, and authorized retrieval output.
  std::vector<std::pair<std::string, std::string>> searchable;
  std::vector<std::pair<std::string, std::string>> retrievals;

  Scenario() {
    fs::create_directories(devices_dir);
    REQUIRE(server.Start(data_dir, kAdminPassword, {"--log-level", "trace"}));
    api = std::make_unique<http::Client>(server.ApiClient());
  }

  // Sends one API request as user ("" = no session). An authorized
  // retrieval's body goes to `retrievals`, every other body to `searchable`.
  Reply Call(const std::string& user, const std::string& method, const std::string& target,
             const std::string& body = "", bool authorized_retrieval = false) {
    std::map<std::string, std::string> headers;
    if (!user.empty()) headers["Authorization"] = "Bearer " + tokens.at(user);
    auto response = api->Send(method, target, body, headers);
    REQUIRE(response.ok());
    const std::string where = user + " " + method + " " + target;
    (authorized_retrieval ? retrievals : searchable).emplace_back(where, response->body);
    return Reply{response->status, response->body};
  }

  void Login(const std::string& user, const std::string& password) {
    auto response = api->Send("POST", "/v1/sessions",
                              json::serialize(json::object{{"username", user},
                                                           {"password", password}}));
    REQUIRE(response.ok());
    REQUIRE(response->status == 200);
    searchable.emplace_back(user + " POST /v1/sessions", response->body);
    tokens[user] = std::string(Reply{200, response->body}.Object().at("token").as_string());
  }

  void AddAccount(const std::string& user, const std::string& password, const char* role) {
    json::object account{{"username", user}, {"password", password}, {"roles", json::array{role}}};
    REQUIRE(Call("admin", "POST", "/v1/accounts", json::serialize(account)).status == 201);
    Login(user, password);
  }

  // Registers device_id for owner and returns its enrollment token.
  std::string Register(const std::string& device_id, const std::string& owner) {
    Reply reply = Call("admin", "POST", "/v1/devices",
                       json::serialize(json::object{{"device_id", device_id}, {"owner", owner}}));
    REQUIRE(reply.status == 201);
    return std::string(reply.Object().at("enrollment_token").as_string());
  }

  std::string StatePath(const std::string& device_id) { return devices_dir + "/" + device_id + ".json"; }

  testing::CommandResult Device(std::vector<std::string> args,
                                std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), testing::BinaryPath("escrow-device"));
    env["ESCROW_GATEWAY"] = server.gateway_address();
    env["ESCROW_CA_FILE"] = server.ca_file();
    testing::CommandResult result = testing::RunCommand(args, env, 60);
    searchable.emplace_back("escrow-device " + args[1] + " output", result.output);
    return result;
  }

  // Runs escrowctl as user. The output of an authorized retrieval is kept
  // apart from the searched output.
  testing::CommandResult Ctl(const std::string& user, const std::string& password,
                             std::vector<std::string> args, bool authorized_retrieval = false) {
    args.insert(args.begin(), testing::BinaryPath("escrowctl"));
    testing::CommandResult result = testing::RunCommand(
        args,
        {{"ESCROW_SERVER", server.api_address()}, {"ESCROW_USER", user},
         {"ESCROW_PASSWORD", password}, {"ESCROW_CA_FILE", server.ca_file()}},
        60);
    (authorized_retrieval ? retrievals : searchable)
        .emplace_back("escrowctl " + args[1] + " output", result.output);
    return result;
  }

  void Enroll(const std::string& device_id, const std::string& owner) {
    testing::CommandResult enrolled = Device({"enroll", "--device", device_id, "--token",
                                              Register(device_id, owner), "--state",
                                              StatePath(device_id)});
    INFO(enrolled.output);
    REQUIRE(enrolled.exit_code == 0);
  }

  // Seals digits as the device's next generation and stores the upload as
  // pending in its state file, so the next escrow-device run uploads these
  // digits in place of random ones.
  void PlantNextPassword(const std::string& device_id, const std::string& digits) {
    auto identity = device::LoadDeviceIdentity(StatePath(device_id));
    REQUIRE(identity.ok());
    const uint64_t next = identity->generation + 1;
    auto envelope = ledger::SealRecoveryPassword(identity->escrow_public_key, device_id, next, digits);
    REQUIRE(envelope.ok());
    auto hash = device::HashRecoveryPassword(digits);
    REQUIRE(hash.ok());
    identity->pending = device::PendingEscrow{next, *envelope, *hash};
    REQUIRE(device::SaveDeviceIdentity(*identity, StatePath(device_id)).ok());
  }

  std::string RetrievalTarget(const std::string& device_id) {
    return "/v1/devices/" + device_id + "/recovery-password:retrieve";
  }

  // Retrieves as an authorized user and returns the reply's recovery_password.
  std::string Retrieve(const std::string& user, const std::string& device_id,
                       const std::string& reason, const std::string& channel) {
    json::object body{{"channel", channel}};
    if (!reason.empty()) body["reason"] = reason;
    Reply reply = Call(user, "POST", RetrievalTarget(device_id), json::serialize(body), true);
    INFO(user << " retrieving " << device_id << ": " << reply.body);
    REQUIRE(reply.status == 200);
    return std::string(reply.Object().at("recovery_password").as_string());
  }

  // A retrieval the server must deny with a 4xx status.
  void RetrieveDenied(const std::string& user, const std::string& device_id,
                      const std::string& reason) {
    json::object body{{"channel", "api"}};
    if (!reason.empty()) body["reason"] = reason;
    Reply reply = Call(user, "POST", RetrievalTarget(device_id), json::serialize(body));
    INFO(user << " retrieving " << device_id << ": " << reply.body);
    CHECK(reply.status >= 400);
    CHECK(reply.status < 500);
    CHECK(reply.Object().contains("error"));
  }
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Enrolls three devices with chosen passwords and runs a small fleet.
void RunEscrowPhase(Scenario& s) {
  const auto& canaries = ChosenCanaries();
  s.Login("admin", kAdminPassword);
  s.AddAccount("alice", kOwnerPassword, "user");
  s.AddAccount("bob", kOtherOwnerPassword, "user");
  s.AddAccount("helen", kHelpdeskPassword, "helpdesk");
  s.AddAccount("audrey", kAuditorPassword, "auditor");
  REQUIRE(s.Call("admin", "PUT", "/v1/policy", R"({"self_service_recovery": true})").status == 200);

  for (const auto& [device_id, owner] :
       std::vector<std::pair<std::string, std::string>>{
           {"phone-a", "alice"}, {"phone-b", "bob"}, {"phone-c", "alice"}}) {
    s.Enroll(device_id, owner);
    s.PlantNextPassword(device_id, canaries.at(device_id + " g1"));
    testing::CommandResult check_in = s.Device({"check-in", "--state", s.StatePath(device_id)});
    INFO(check_in.output);
    REQUIRE(check_in.exit_code == 0);
    REQUIRE(Contains(check_in.output, "escrowed recovery password generation 1"));
  }
  REQUIRE(s.Device({"arm", "--state", s.StatePath("phone-a")}).exit_code == 0);

  testing::CommandResult fleet =
      s.Device({"fleet", "--devices", std::to_string(kFleetDevices), "--id-prefix", "fleet",
                "--concurrency", "2", "--server", s.server.api_address(), "--user", "admin",
                "--password", kAdminPassword});
  INFO(fleet.output);
  REQUIRE(fleet.exit_code == 0);
}

// Retrievals that succeed and retrievals the server denies.
void RunRetrievalPhase(Scenario& s) {
  const auto& canaries = ChosenCanaries();
  CHECK(s.Retrieve("alice", "phone-a", "", "portal") == Grouped(canaries.at("phone-a g1")));
  CHECK(s.Retrieve("helen", "phone-c", "TICKET-1001", "console") ==
        Grouped(canaries.at("phone-c g1")));
  testing::CommandResult helpdesk = s.Ctl(
      "helen", kHelpdeskPassword,
      {"get-recovery-password", "--device", "phone-b", "--reason", "TICKET-1002"}, true);
  INFO(helpdesk.output);
  CHECK(helpdesk.exit_code == 0);
  CHECK(Contains(helpdesk.output, Grouped(canaries.at("phone-b g1"))));

  s.RetrieveDenied("bob", "phone-a", "");          // not the owner
  s.RetrieveDenied("alice", "phone-b", "");        // not the owner
  s.RetrieveDenied("helen", "phone-a", "");        // help desk without a reason
  s.RetrieveDenied("audrey", "phone-a", "audit");  // auditors never see a password
  s.RetrieveDenied("helen", "no-such-phone", "TICKET-1003");
  REQUIRE(s.Call("admin", "PUT", "/v1/policy", R"({"self_service_recovery": false})").status == 200);
  s.RetrieveDenied("alice", "phone-a", "");  // self-service is off
  REQUIRE(s.Call("admin", "PUT", "/v1/policy", R"({"self_service_recovery": true})").status == 200);
}

// Reset and re-escrow, rotation, retirement.
void RunLifecyclePhase(Scenario& s, std::vector<std::pair<std::string, std::string>>& learned) {
  const auto& canaries = ChosenCanaries();

  // A mistyped password, then the real one. The reset escrows generation 2.
  testing::CommandResult mistyped = s.Device(
      {"reset", "--state", s.StatePath("phone-a")},
      {{"ESCROW_RECOVERY_PASSWORD", Grouped(kMistypedPassword)}});
  CHECK(mistyped.exit_code == 1);
  s.PlantNextPassword("phone-a", canaries.at("phone-a g2"));
  testing::CommandResult reset =
      s.Device({"reset", "--state", s.StatePath("phone-a"), "--recovery-password",
                Grouped(canaries.at("phone-a g1"))});
  INFO(reset.output);
  REQUIRE(reset.exit_code == 0);
  CHECK(Contains(reset.output, "escrowed recovery password generation 2"));
  CHECK(s.Retrieve("alice", "phone-a", "", "portal") == Grouped(canaries.at("phone-a g2")));

  // Rotation: the next check-in escrows generation 2.
  REQUIRE(s.Call("admin", "POST", "/v1/devices/phone-b/rotation").status == 200);
  s.PlantNextPassword("phone-b", canaries.at("phone-b g2"));
  testing::CommandResult rotated = s.Device({"check-in", "--state", s.StatePath("phone-b")});
  INFO(rotated.output);
  REQUIRE(rotated.exit_code == 0);
  CHECK(Contains(rotated.output, "escrowed recovery password generation 2"));
  CHECK(s.Retrieve("helen", "phone-b", "TICKET-1004", "api") == Grouped(canaries.at("phone-b g2")));

  // Retirement destroys phone-c's escrow key.
  testing::CommandResult retired =
      s.Ctl("admin", kAdminPassword, {"retire", "--device", "phone-c", "--yes"});
  INFO(retired.output);
  REQUIRE(retired.exit_code == 0);
  s.RetrieveDenied("helen", "phone-c", "TICKET-1005");

  // The fleet's current passwords are learned by authorized retrieval.
  for (size_t i = 1; i <= kFleetDevices; i++) {
    const std::string device_id = "fleet-" + std::to_string(i);
    std::string grouped = s.Retrieve("helen", device_id, "TICKET-2000", "api");
    std::string digits;
    for (char c : grouped) {
      if (c != '-') digits += c;
    }
    REQUIRE(digits.size() == ledger::kRecoveryPasswordDigits);
    learned.emplace_back(device_id + " current", digits);
  }
}

// Every read-only view: audit, timeline, receipts, ledger, proofs, metrics.
void RunReadPhase(Scenario& s) {
  const std::string now_ns = std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  for (const char* query : {"", "?format=csv", "?denied=1", "?device=phone-a", "?actor=helen"}) {
    CHECK(s.Call("audrey", "GET", std::string("/v1/audit") + query).status == 200);
  }
  for (const char* device_id : {"phone-a", "phone-b", "phone-c", "fleet-1"}) {
    const std::string base = std::string("/v1/devices/") + device_id;
    CHECK(s.Call("admin", "GET", base).status == 200);
    CHECK(s.Call("helen", "GET", base + "/timeline").status == 200);
    CHECK(s.Call("audrey", "GET", base + "/valid-at?time=" + now_ns).status == 200);
  }
  CHECK(s.Call("alice", "GET", "/v1/devices").status == 200);
  CHECK(s.Call("helen", "GET", "/v1/devices").status == 200);
  CHECK(s.Call("admin", "GET", "/v1/accounts").status == 200);
  CHECK(s.Call("alice", "GET", "/v1/session").status == 200);
  CHECK(s.Call("alice", "GET", "/v1/policy").status == 200);

  // Receipts need a checkpoint that covers the retrievals.
  Reply checkpoint = s.Call("audrey", "POST", "/v1/checkpoints");
  CHECK(checkpoint.status == 201);
  Reply mine = s.Call("alice", "GET", "/v1/me/retrievals");
  REQUIRE(mine.status == 200);
  const json::object mine_body = mine.Object();
  for (const json::value& record : mine_body.at("retrievals").as_array()) {
    const std::string seq = std::to_string(record.at("seq").to_number<uint64_t>());
    s.Call("alice", "GET", "/v1/receipts/" + seq);
    CHECK(s.Call("audrey", "GET", "/v1/receipts/" + seq).status == 200);
  }

  Reply head = s.Call("audrey", "GET", "/v1/ledger/head");
  REQUIRE(head.status == 200);
  const std::string size = std::to_string(head.Object().at("seq").to_number<uint64_t>());
  CHECK(s.Call("audrey", "GET", "/v1/ledger/entries?from=1&to=" + size).status == 200);
  CHECK(s.Call("audrey", "GET", "/v1/ledger/export").status == 200);
  CHECK(s.Call("audrey", "GET", "/v1/checkpoints/latest").status == 200);
  CHECK(s.Call("audrey", "GET", "/v1/proofs/inclusion?seq=1&tree_size=" + size).status == 200);
  CHECK(s.Call("audrey", "GET", "/v1/proofs/consistency?size1=1&size2=" + size).status == 200);
  CHECK(s.Call("", "GET", "/healthz").status == 200);
  Reply metrics = s.Call("", "GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(Contains(metrics.body, "# TYPE"));

  // The same views through escrowctl.
  const std::vector<std::vector<std::string>> auditor_commands = {
      {"audit", "--json"},           {"audit", "--csv"},
      {"audit", "--denied"},         {"timeline", "--device", "phone-a"},
      {"devices"},                   {"device", "--device", "phone-b"},
      {"checkpoint", "--json"},
      {"export", "--server", s.server.api_address(), "--out", s.dir.path() + "/api.escledg"}};
  for (const auto& command : auditor_commands) {
    testing::CommandResult result = s.Ctl("audrey", kAuditorPassword, command);
    INFO(command[0] << ": " << result.output);
    CHECK(result.exit_code == 0);
  }
  testing::CommandResult receipts = s.Ctl("alice", kOwnerPassword, {"receipts"});
  INFO(receipts.output);
  CHECK(receipts.exit_code == 0);
  CHECK(s.Call("alice", "DELETE", "/v1/sessions").status == 200);
}

// Offline commands on the stopped server's data directory.
void RunOfflinePhase(Scenario& s) {
  const std::string offline_export = s.dir.path() + "/offline.escledg";
  const std::vector<std::vector<std::string>> commands = {
      {"verify", "--data-dir", s.data_dir},
      {"verify", "--ledger", s.dir.path() + "/api.escledg"},
      {"export", "--data-dir", s.data_dir, "--out", offline_export},
      {"replay", "--ledger", offline_export},
  };
  for (const auto& command : commands) {
    testing::CommandResult result = s.Ctl("", "", command);
    INFO(command[0] << ": " << result.output);
    CHECK(result.exit_code == 0);
  }
}

}  // namespace

TEST_CASE("canary search finds planted canaries", "[canary]") {
  const std::string digits = "98765432109876543210";
  testing::TempDir scratch;
  const std::vector<std::pair<std::string, std::string>> plants = {
      {"plain", "before " + digits + " after"},
      {"grouped", "password: " + Grouped(digits) + "\n"},
      {"hex", "0x" + Hex(digits, false)},
      {"HEX", Hex(Grouped(digits), true)},
      {"base64", Base64(digits)},
      {"base64 shifted by one", Base64("x" + Grouped(digits) + "yz")},
      {"base64 shifted by two", Base64("xy" + digits)},
      {"base64url", UrlSafe(Base64("\xff\xfe" + digits + "\xff"))},
  };
  for (size_t i = 0; i < plants.size(); i++) {
    std::ofstream(scratch.path() + "/plant-" + std::to_string(i), std::ios::binary)
        << plants[i].second;
  }
  std::ofstream(scratch.path() + "/clean", std::ios::binary) << "no secret in here 12345";

  for (size_t i = 0; i < plants.size(); i++) {
    Searcher searcher;
    searcher.Add(CanaryNeedles("planted", digits));
    searcher.ScanFile(scratch.path() + "/plant-" + std::to_string(i));
    INFO(plants[i].first);
    CHECK_FALSE(searcher.hits().empty());
  }
  Searcher whole_tree;
  whole_tree.Add(CanaryNeedles("planted", digits));
  CHECK(whole_tree.ScanTree(scratch.path()) == plants.size() + 1);
  CHECK(whole_tree.hits().size() >= plants.size());

  Searcher clean;
  clean.Add(CanaryNeedles("planted", digits));
  clean.ScanFile(scratch.path() + "/clean");
  CHECK(clean.hits().empty());
}

TEST_CASE("recovery passwords leak nowhere", "[canary]") {
  Scenario s;
  std::vector<std::pair<std::string, std::string>> learned;
  RunEscrowPhase(s);
  RunRetrievalPhase(s);
  RunLifecyclePhase(s, learned);
  RunReadPhase(s);
  REQUIRE(s.server.Stop() == 0);
  RunOfflinePhase(s);

  Searcher searcher;
  for (const auto& [name, digits] : ChosenCanaries()) searcher.Add(CanaryNeedles(name, digits));
  for (const auto& [name, digits] : learned) searcher.Add(CanaryNeedles(name, digits));
  searcher.Add(CanaryNeedles("mistyped", kMistypedPassword));

  // Every response body but the authorized retrievals, and all CLI output.
  for (const auto& [where, text] : s.searchable) searcher.Scan(where, text);
  // RocksDB as stored, then every file under the data directory (the log,
  // keys, WAL, SST files after the flush), the device state files and the
  // exports.
  CHECK(ScanRocksDb(s.data_dir, searcher) > 0);
  CHECK(searcher.ScanTree(s.data_dir) > 0);
  CHECK(searcher.ScanTree(s.devices_dir) == 3);
  searcher.ScanFile(s.dir.path() + "/api.escledg");
  searcher.ScanFile(s.dir.path() + "/offline.escledg");
  INFO("hits:\n" << JoinLines(searcher.hits()));
  CHECK(searcher.hits().empty());

  // The authorized retrievals did carry the canaries, so the search looked
  // for the right strings.
  Searcher control;
  for (const auto& [name, digits] : ChosenCanaries()) control.Add(CanaryNeedles(name, digits));
  for (const auto& [where, text] : s.retrievals) control.Scan(where, text);
  CHECK(control.hits().size() >= ChosenCanaries().size());

  // A canary planted in a scratch file under the data directory is found.
  std::ofstream(s.data_dir + "/scratch-canary", std::ios::binary)
      << "x" << Grouped(ChosenCanaries().begin()->second);
  Searcher planted;
  planted.Add(CanaryNeedles("planted", ChosenCanaries().begin()->second));
  planted.ScanTree(s.data_dir);
  CHECK_FALSE(planted.hits().empty());
}

}  // namespace escrow
