// Fail-closed retrieval: with the RocksDB directory (DATA_DIR/db) on a small
// tmpfs that a filler file has filled, a retrieval returns 503 and sends no form of the
// recovery password, reads keep working, and writing resumes without a
// restart once the filler is deleted.
//
// The test mounts a tmpfs, so it needs root (CAP_SYS_ADMIN). Without that
// permission (EPERM) it prints a WARN and passes without asserting.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <tuple>

#include "api/http/http.h"
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
constexpr const char* kOwnerPassword = "alice-password-1";
constexpr const char* kHelpdeskPassword = "helpdesk-password-1";
constexpr const char* kDeviceId = "phone-1";
constexpr const char* kDigits = "11111222223333344444";
// Small, so that filling it is fast. RocksDB preallocates WAL space with
// fallocate, an estimated 1.1 x the default 64 MiB write buffer; on a tmpfs
// this small that request fails, so no spare WAL space absorbs the writes
// made after the fill.
constexpr int kTmpfsSizeMb = 32;
// How long the test waits for writing to resume after the filler is gone.
constexpr auto kResumeTimeout = std::chrono::seconds(15);
constexpr auto kRetryPause = std::chrono::milliseconds(100);
// Writes tried after the fill until one fails: the last page of each open
// file can still take a few small writes.
constexpr int kMaxWritesUntilFailure = 200;

// A tmpfs mounted on a directory for the lifetime of the object.
class TmpfsMount {
 public:
  TmpfsMount(std::string dir, int size_mb) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    const std::string options = "size=" + std::to_string(size_mb) + "m,mode=0700";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = errno;
    }
  }
  ~TmpfsMount() {
    if (!mounted_) return;
    // A lazy unmount still frees the mount point when a file is open.
    if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  bool mounted() const { return mounted_; }
  int error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  int error_ = 0;
};

// Returns true when the test may go on; warns and returns false when the
// process lacks the permission to mount.
bool MountedOrWarn(const TmpfsMount& mount) {
  if (mount.mounted()) return true;
  if (mount.error() == EPERM) {
    WARN("mounting a tmpfs failed with EPERM (not root?); the fail-closed test asserts nothing");
    return false;
  }
  FAIL("mounting a tmpfs failed: " << std::strerror(mount.error()));
  return false;
}

// Appends to path until the file system has no byte left (ENOSPC), in
// shrinking chunks so the last pages fill too. Returns the bytes written.
size_t FillFileSystem(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  size_t total = 0;
  const std::string chunk(1 << 20, 'x');
  for (size_t size : {chunk.size(), size_t{4096}, size_t{1}}) {
    for (;;) {
      ssize_t n = ::write(fd, chunk.data(), size);
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
  }
  INFO("filler: " << std::strerror(errno));
  CHECK(errno == ENOSPC);
  ::close(fd);
  return total;
}

// The recovery password in every form a leak could take.
std::vector<std::string> PasswordForms(const std::string& digits) {
  std::string grouped;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i > 0 && i % 5 == 0) grouped += '-';
    grouped += digits[i];
  }
  std::string spaced = grouped;
  std::replace(spaced.begin(), spaced.end(), '-', ' ');
  std::vector<std::string> forms = {digits, grouped, spaced};
  for (const std::string& text : {digits, grouped}) {
    forms.push_back(crypto::HexEncode(text));
    forms.push_back(crypto::Base64Encode(text));
  }
  // A digit run of 10 or more is enough to count as a leak.
  forms.push_back(digits.substr(0, 10));
  forms.push_back(digits.substr(10));
  return forms;
}

void CheckNoPasswordIn(const std::string& body) {
  for (const std::string& form : PasswordForms(kDigits)) {
    INFO("form: " << form);
    CHECK(body.find(form) == std::string::npos);
  }
}

// Enrolls device_id with token and escrows kDigits as generation 1.
void EnrollAndEscrow(projections::EscrowService& service, const std::string& device_id,
                     const std::string& token) {
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
  escrow.envelope =
      *ledger::SealRecoveryPassword(enrolled->escrow_public_key, device_id, 1, kDigits);
  REQUIRE(service.Escrow(escrow).ok());
}

// Opens data_dir, then escrows kDigits for a device the running server
// registered with token. The server must be stopped.
void EscrowOffline(const std::string& data_dir, const std::string& token) {
  auto store = ledger::Store::Open(data_dir);
  REQUIRE(store.ok());
  auto signing = ledger::SigningKey::LoadOrCreate((*store)->keys_dir());
  REQUIRE(signing.ok());
  auto master = ledger::MasterKey::LoadOrCreate((*store)->keys_dir());
  REQUIRE(master.ok());
  ledger::Sequencer sequencer(store->get(), &*signing, projections::Apply, {});
  REQUIRE(sequencer.Start().ok());
  projections::EscrowService service(store->get(), &sequencer, &*master);
  EnrollAndEscrow(service, kDeviceId, token);
  sequencer.Stop();
}

projections::Principal Helpdesk() { return {"hd1", {"helpdesk"}}; }

projections::RetrievalRequest HelpdeskRequest() { return {kDeviceId, "cli", "TICKET-42"}; }

// One HTTP client per call, as a browser or escrowctl would make.
struct ApiCaller {
  const testing::EscrowdProcess* server;

  http::Response Send(const std::string& method, const std::string& target,
                      const std::string& token = "", const std::string& body = "") const {
    http::Client client = server->ApiClient();
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    if (!body.empty()) headers["Content-Type"] = "application/json";
    auto response = client.Send(method, target, body, headers);
    INFO(method << " " << target << ": " << response.status().message());
    REQUIRE(response.ok());
    return *response;
  }

  std::string Login(const std::string& username, const std::string& password) const {
    json::object body{{"username", username}, {"password", password}};
    http::Response reply = Send("POST", "/v1/sessions", "", json::serialize(body));
    INFO(reply.body);
    REQUIRE(reply.status == 200);
    return std::string(json::parse(reply.body).at("token").as_string());
  }

  http::Response Retrieve(const std::string& token, const std::string& reason) const {
    json::object body{{"reason", reason}};
    return Send("POST", std::string("/v1/devices/") + kDeviceId + "/recovery-password:retrieve",
                token, json::serialize(body));
  }
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

size_t CountOccurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    count++;
  }
  return count;
}

json::object ParseObject(const std::string& body) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  INFO(body);
  REQUIRE(!ec);
  REQUIRE(value.is_object());
  return value.as_object();
}

}  // namespace

TEST_CASE("service fails closed on full disk") {
  testing::TempDir dir;
  const std::string data = dir.path() + "/data";
  TmpfsMount mount(data + "/db", kTmpfsSizeMb);
  if (!MountedOrWarn(mount)) return;

  auto store = ledger::Store::Open(data);
  REQUIRE(store.ok());
  auto signing = ledger::SigningKey::LoadOrCreate((*store)->keys_dir());
  REQUIRE(signing.ok());
  auto master = ledger::MasterKey::LoadOrCreate((*store)->keys_dir());
  REQUIRE(master.ok());
  ledger::Sequencer sequencer(store->get(), &*signing, projections::Apply, {});
  REQUIRE(sequencer.Start().ok());
  projections::EscrowService service(store->get(), &sequencer, &*master);
  REQUIRE(service.EnsureInitialPolicy().ok());
  projections::Principal admin{"admin", {"admin"}};
  auto registered = service.RegisterDevice(admin, kDeviceId, "alice", int64_t{3600} * 1'000'000'000);
  REQUIRE(registered.ok());
  EnrollAndEscrow(service, kDeviceId, registered->enrollment_token.str());
  CHECK((*store)->writable());

  // Step 1: fill the file system, then retrieve until a commit fails.
  const std::string filler = data + "/db/filler";
  CHECK(FillFileSystem(filler) > 0);
  Result<projections::Retrieval> failed = Status::Ok();
  int attempts = 0;
  for (; attempts < kMaxWritesUntilFailure; attempts++) {
    failed = service.Retrieve(Helpdesk(), HelpdeskRequest());
    if (!failed.ok()) break;
  }
  INFO("retrievals before the first failure: " << attempts);
  REQUIRE(!failed.ok());
  CHECK(failed.status().code() == Code::kUnavailable);
  CHECK(failed.status().message().find("not released") != std::string::npos);
  CheckNoPasswordIn(failed.status().message());
  CHECK_FALSE((*store)->writable());
  const uint64_t committed_before = sequencer.committed_seq();

  // Step 2: while full, every retrieval fails, and reads still work.
  for (int i = 0; i < 3; i++) {
    auto again = service.Retrieve(Helpdesk(), HelpdeskRequest());
    REQUIRE_FALSE(again.ok());
    CHECK(again.status().code() == Code::kUnavailable);
  }
  CHECK(sequencer.committed_seq() == committed_before);
  CHECK_FALSE((*store)->TryResume());
  auto device = (*store)->Get(ledger::Cf::kProjectionDevices, kDeviceId);
  REQUIRE(device.ok());
  CHECK(device->has_value());
  auto head = (*store)->ReadEntry(committed_before);
  REQUIRE(head.ok());
  CHECK(head->has_value());

  // Step 3: free the space; a retrieval succeeds within the retry bound.
  REQUIRE(std::filesystem::remove(filler));
  Result<projections::Retrieval> resumed = Status::Ok();
  const auto deadline = std::chrono::steady_clock::now() + kResumeTimeout;
  do {
    resumed = service.Retrieve(Helpdesk(), HelpdeskRequest());
    if (resumed.ok()) break;
    std::this_thread::sleep_for(kRetryPause);
  } while (std::chrono::steady_clock::now() < deadline);
  INFO(resumed.status().message());
  REQUIRE(resumed.ok());
  CHECK(resumed->recovery_password.str() == kDigits);
  CHECK(resumed->audit_seq > committed_before);
  CHECK((*store)->writable());
  const uint64_t audit_seq = resumed->audit_seq;
  sequencer.Stop();
  store->reset();

  // Step 4: after a reopen the retrieval's audit entry is in the ledger.
  auto reopened = ledger::Store::Open(data);
  REQUIRE(reopened.ok());
  auto last = (*reopened)->LastSeq();
  REQUIRE(last.ok());
  CHECK(*last >= audit_seq);
  auto entry_bytes = (*reopened)->ReadEntry(audit_seq);
  REQUIRE(entry_bytes.ok());
  REQUIRE(entry_bytes->has_value());
  auto entry = ledger::DecodeEntry(**entry_bytes);
  REQUIRE(entry.ok());
  CHECK(entry->entry.type == static_cast<uint16_t>(ledger::EventType::kRecoveryPasswordRetrieved));
}

TEST_CASE("escrowd fails closed on full disk") {
  // Only the RocksDB directory is on the tmpfs, so escrowd.log (in the data
  // directory) keeps every line written while the tmpfs is full.
  testing::TempDir dir;
  const std::string data = dir.path() + "/data";
  TmpfsMount mount(data + "/db", kTmpfsSizeMb);
  if (!MountedOrWarn(mount)) return;
  testing::EscrowdProcess escrowd;

  // Step 1: accounts and a registered device, then kDigits escrowed offline.
  REQUIRE(escrowd.Start(data, kAdminPassword));
  std::string enrollment_token;
  {
    ApiCaller api{&escrowd};
    const std::string admin = api.Login("admin", kAdminPassword);
    for (auto [name, password, role] : {std::tuple{"alice", kOwnerPassword, "user"},
                                        std::tuple{"hd1", kHelpdeskPassword, "helpdesk"}}) {
      json::object body{{"username", name}, {"password", password}, {"roles", json::array{role}}};
      http::Response created = api.Send("POST", "/v1/accounts", admin, json::serialize(body));
      INFO(created.body);
      REQUIRE(created.status == 201);
    }
    json::object device{{"device_id", kDeviceId}, {"owner", "alice"}};
    http::Response registered = api.Send("POST", "/v1/devices", admin, json::serialize(device));
    INFO(registered.body);
    REQUIRE(registered.status == 201);
    enrollment_token = std::string(ParseObject(registered.body).at("enrollment_token").as_string());
  }
  REQUIRE(escrowd.Stop() == 0);
  EscrowOffline(data, enrollment_token);
  REQUIRE(escrowd.Start(data, kAdminPassword));
  ApiCaller api{&escrowd};

  // Step 2: sign in while writes work (a login stores its session), and
  // check that retrieval works before the fill.
  const std::string admin = api.Login("admin", kAdminPassword);
  const std::string owner = api.Login("alice", kOwnerPassword);
  const std::string helpdesk = api.Login("hd1", kHelpdeskPassword);
  http::Response before = api.Retrieve(owner, "");
  INFO(before.body);
  REQUIRE(before.status == 200);
  CHECK(ParseObject(before.body).at("recovery_password").as_string() == "11111-22222-33333-44444");

  // Step 3: fill the tmpfs; retrieve as the owner until a commit fails.
  const std::string filler = data + "/db/filler";
  CHECK(FillFileSystem(filler) > 0);
  http::Response first_failure;
  for (int i = 0; i < kMaxWritesUntilFailure; i++) {
    first_failure = api.Retrieve(owner, "");
    if (first_failure.status != 200) break;
  }
  INFO(first_failure.body);
  REQUIRE(first_failure.status == 503);
  CheckNoPasswordIn(first_failure.body);
  CHECK(ParseObject(first_failure.body).at("error").as_string() == "unavailable");

  // Step 4: owner and help desk retrievals return 503 without the password.
  for (const auto& [token, reason] : {std::pair{owner, ""}, std::pair{helpdesk, "TICKET-42"}}) {
    http::Response reply = api.Retrieve(token, reason);
    INFO(reply.body);
    CHECK(reply.status == 503);
    CHECK(reply.body.find("not released") != std::string::npos);
    CheckNoPasswordIn(reply.body);
  }

  // Step 5: routes that only read still return 200.
  const std::string device_path = std::string("/v1/devices/") + kDeviceId;
  for (const auto& [target, token] :
       {std::pair{device_path, helpdesk}, std::pair{device_path, owner},
        std::pair{device_path + "/timeline", helpdesk},
        std::pair{std::string("/v1/audit?device=") + kDeviceId, admin},
        std::pair{std::string("/v1/ledger/head"), admin},
        std::pair{std::string("/healthz"), std::string()}}) {
    http::Response reply = api.Send("GET", target, token);
    INFO(target << ": " << reply.body);
    CHECK(reply.status == 200);
    CheckNoPasswordIn(reply.body);
  }
  json::object health = ParseObject(api.Send("GET", "/healthz").body);
  CHECK(health.at("ledger_writable").as_bool() == false);
  const int64_t seq_while_full = ParseObject(api.Send("GET", "/healthz").body).at("seq").as_int64();

  // Step 6: delete the filler; a help-desk retrieval succeeds within the bound.
  REQUIRE(std::filesystem::remove(filler));
  http::Response resumed;
  const auto deadline = std::chrono::steady_clock::now() + kResumeTimeout;
  do {
    resumed = api.Retrieve(helpdesk, "TICKET-43");
    if (resumed.status == 200) break;
    std::this_thread::sleep_for(kRetryPause);
  } while (std::chrono::steady_clock::now() < deadline);
  INFO(resumed.body);
  REQUIRE(resumed.status == 200);
  json::object retrieval = ParseObject(resumed.body);
  CHECK(retrieval.at("recovery_password").as_string() == "11111-22222-33333-44444");
  const int64_t audit_seq = retrieval.at("audit_seq").as_int64();
  CHECK(audit_seq > seq_while_full);
  CHECK(ParseObject(api.Send("GET", "/healthz").body).at("ledger_writable").as_bool());

  // Step 7: the audit view shows the retrieval at audit_seq.
  http::Response audit =
      api.Send("GET", std::string("/v1/audit?device=") + kDeviceId, admin);
  REQUIRE(audit.status == 200);
  bool found = false;
  const json::object audit_reply = ParseObject(audit.body);
  for (const json::value& record : audit_reply.at("records").as_array()) {
    const json::object& r = record.as_object();
    if (r.at("seq").as_int64() != audit_seq) continue;
    found = true;
    CHECK(r.at("actor").as_string() == "hd1");
    CHECK(r.at("reason").as_string() == "TICKET-43");
    CHECK(r.at("denied").as_bool() == false);
  }
  CHECK(found);

  // Step 8: the ledger verifies offline after the server stops.
  REQUIRE(escrowd.Stop() == 0);
  auto verify = testing::RunCommand(
      {testing::BinaryPath("escrowctl"), "verify", "--data-dir", data}, {}, 60);
  INFO(verify.output);
  CHECK(verify.exit_code == 0);

  // Step 9: the log has one line per change of state, not one per request.
  const std::string log = ReadFile(escrowd.log_path());
  CHECK(CountOccurrences(log, "the database cannot write") == 1);
  CHECK(CountOccurrences(log, "the database is writable again") == 1);
}
