// Retrieval authorization, audit queries, timelines and projection rebuild
// over a real Store and Sequencer in a temporary data directory.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>

#include "ledger/envelope.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/projector.h"
#include "projections/queries.h"
#include "projections/service.h"
#include "tests/test_support.h"

using namespace escrow;
using namespace escrow::projections;

namespace {

constexpr int64_t kStartNs = 1'700'000'000'000'000'000;
constexpr int64_t kDayNs = int64_t{24} * 3600 * 1'000'000'000;
constexpr char kDigits[] = "12345678901234567890";

const Principal kAdmin{"admin", {"admin"}};
const Principal kOwner{"alice", {"user"}};
const Principal kOtherUser{"bob", {"user"}};
const Principal kHelpdesk{"carol", {"helpdesk"}};
const Principal kAuditor{"dave", {"auditor"}};

// A real Store, Sequencer (with the projector as applier) and EscrowService
// in a temporary data directory, with an injected clock. Close() releases
// the database so RebuildProjections can open it.
struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<ledger::Store> store;
  std::optional<ledger::SigningKey> signing_key;
  std::optional<ledger::MasterKey> master_key;
  std::unique_ptr<ledger::Sequencer> sequencer;
  std::unique_ptr<EscrowService> service;
  int64_t now_ns = kStartNs;

  Fixture() { Open(); }

  void Open() {
    store = std::move(ledger::Store::Open(dir.path())).value();
    signing_key.emplace(std::move(ledger::SigningKey::LoadOrCreate(store->keys_dir())).value());
    master_key.emplace(std::move(ledger::MasterKey::LoadOrCreate(store->keys_dir())).value());
    ledger::Sequencer::Options options;
    options.clock = [this] { return now_ns += 1000; };
    sequencer = std::make_unique<ledger::Sequencer>(store.get(), &*signing_key, Apply, options);
    REQUIRE(sequencer->Start().ok());
    service = std::make_unique<EscrowService>(store.get(), sequencer.get(), &*master_key);
    REQUIRE(service->EnsureInitialPolicy().ok());
  }

  void Close() {
    service.reset();
    sequencer.reset();
    store.reset();
  }

  uint64_t LastSeq() { return store->LastSeq().value(); }
  DeviceRecord Device(const std::string& id) { return GetDevice(*store, id).value().value(); }
  ledger::Entry EntryAt(uint64_t seq) {
    std::string bytes = store->ReadEntry(seq).value().value();
    return ledger::DecodeEntry(bytes).value().entry;
  }
};

// A simulated device: its id, counter and escrow public key.
struct Device {
  std::string id;
  uint64_t counter = 0;
  std::string escrow_public_key;

  DeviceOrigin Origin(const std::string& path) {
    return DeviceOrigin{id, ++counter, "POST " + path + "\n{}", std::string(64, 's')};
  }
};

Device EnrollDevice(Fixture& f, const std::string& id, const std::string& owner) {
  auto registered = f.service->RegisterDevice(kAdmin, id, owner, 7 * kDayNs);
  REQUIRE(registered.ok());
  Device device{id, 0, ""};
  auto keys = crypto::GenerateEd25519();
  EnrollRequest request{device.Origin("/gw/v1/enroll"), registered->enrollment_token.str(), "7.0",
                        "1.0", keys.public_key};
  auto enrolled = f.service->Enroll(request);
  REQUIRE(enrolled.ok());
  device.escrow_public_key = enrolled->escrow_public_key;
  return device;
}

void EscrowDigits(Fixture& f, Device& device, uint64_t g, const std::string& digits) {
  auto envelope =
      ledger::SealRecoveryPassword(device.escrow_public_key, device.id, g, digits).value();
  auto result = f.service->Escrow(
      EscrowRequest{device.Origin("/gw/v1/recovery-password"), g, envelope});
  REQUIRE(result.ok());
}

// An enrolled device "dev-1" of alice with generation 1 escrowed (kDigits).
Device EscrowedDevice(Fixture& f) {
  Device device = EnrollDevice(f, "dev-1", "alice");
  EscrowDigits(f, device, 1, kDigits);
  return device;
}

void SetPolicy(Fixture& f, const PolicyUpdate& update) {
  REQUIRE(f.service->SetPolicy(kAdmin, update).ok());
}

// Checks that the last ledger entry is a denial of dev-1 for actor with
// denial_reason containing text, and that the audit query lists it.
void CheckDenialRecorded(Fixture& f, const std::string& actor, const std::string& text) {
  ledger::Entry last = f.EntryAt(f.LastSeq());
  REQUIRE(last.type == static_cast<uint16_t>(ledger::EventType::kRecoveryPasswordRetrievalDenied));
  CHECK(last.actor_id == actor);
  CHECK(last.subject == "dev-1");
  auto payload = ledger::DecodePayload<ledger::RecoveryPasswordRetrievalDenied>(last.payload);
  REQUIRE(payload.ok());
  CHECK_THAT(payload->denial_reason, Catch::Contains(text));

  AuditFilter filter;
  filter.device_id = "dev-1";
  filter.denied_only = true;
  auto records = QueryAudit(*f.store, filter).value();
  REQUIRE(records.size() == 1);
  CHECK(records[0].seq == last.seq);
  CHECK(records[0].actor == actor);
  CHECK(records[0].denied);
  CHECK_THAT(records[0].denial_reason, Catch::Contains(text));
}

}  // namespace

TEST_CASE("retrieval authorization by role") {
  Fixture f;
  EscrowedDevice(f);

  SECTION("owner with self-service") {
    auto r = f.service->Retrieve(kOwner, RetrievalRequest{"dev-1", "portal", ""});
    REQUIRE(r.ok());
    CHECK(r->recovery_password.str() == kDigits);
    CHECK(r->generation == 1);
    CHECK(r->owner == "alice");
    CHECK_FALSE(r->armed);
    CHECK(r->audit_seq == f.LastSeq());
    CHECK(f.Device("dev-1").retrievals == 1);
  }
  SECTION("another user") {
    auto r = f.service->Retrieve(kOtherUser, RetrievalRequest{"dev-1", "portal", ""});
    CHECK(r.status().code() == Code::kPermissionDenied);
    CHECK_THAT(r.status().message(), Catch::Contains("requires the helpdesk role"));
    CheckDenialRecorded(f, "bob", "requires the helpdesk role");
    CHECK(f.Device("dev-1").retrievals == 0);
  }
  SECTION("help desk with reason") {
    auto r = f.service->Retrieve(kHelpdesk, RetrievalRequest{"dev-1", "console", "TICKET-42"});
    REQUIRE(r.ok());
    CHECK(r->recovery_password.str() == kDigits);
    AuditFilter filter;
    filter.actor = "carol";
    auto records = QueryAudit(*f.store, filter).value();
    REQUIRE(records.size() == 1);
    CHECK_FALSE(records[0].denied);
    CHECK(records[0].reason == "TICKET-42");
    CHECK(records[0].channel == "console");
    CHECK(records[0].generation == 1);
  }
  SECTION("help desk without reason") {
    auto r = f.service->Retrieve(kHelpdesk, RetrievalRequest{"dev-1", "console", ""});
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message() == "a reason (ticket id) is required");
    CheckDenialRecorded(f, "carol", "a reason (ticket id) is required");
  }
  SECTION("auditor") {
    auto r = f.service->Retrieve(kAuditor, RetrievalRequest{"dev-1", "api", "audit"});
    CHECK(r.status().code() == Code::kPermissionDenied);
    CheckDenialRecorded(f, "dave", "requires the helpdesk role");
  }
}

TEST_CASE("retrieval of unknown device writes nothing") {
  Fixture f;
  const uint64_t seq = f.LastSeq();
  auto r = f.service->Retrieve(kHelpdesk, RetrievalRequest{"no-such-device", "cli", "T-1"});
  CHECK(r.status().code() == Code::kNotFound);
  CHECK(f.LastSeq() == seq);
}

TEST_CASE("self-service off denies owner") {
  Fixture f;
  EscrowedDevice(f);
  PolicyUpdate update;
  update.self_service_recovery = false;
  SetPolicy(f, update);

  auto owner = f.service->Retrieve(kOwner, RetrievalRequest{"dev-1", "portal", ""});
  CHECK(owner.status().code() == Code::kPermissionDenied);
  CHECK_THAT(owner.status().message(), Catch::Contains("self-service recovery is disabled"));
  CheckDenialRecorded(f, "alice", "self-service recovery is disabled");

  auto helpdesk = f.service->Retrieve(kHelpdesk, RetrievalRequest{"dev-1", "console", "T-7"});
  CHECK(helpdesk.ok());
}

TEST_CASE("reset mode change denies retrieval") {
  Fixture f;
  EscrowedDevice(f);
  PolicyUpdate update;
  update.reset_mode = "exchange";
  SetPolicy(f, update);

  // Leaving mdm invalidates every valid password with reason "policy".
  DeviceRecord device = f.Device("dev-1");
  CHECK_FALSE(device.generation_valid);
  auto invalidated =
      ledger::DecodePayload<ledger::RecoveryPasswordInvalidated>(f.EntryAt(f.LastSeq()).payload);
  REQUIRE(invalidated.ok());
  CHECK(invalidated->reason == "policy");

  auto r = f.service->Retrieve(kHelpdesk, RetrievalRequest{"dev-1", "console", "T-8"});
  CHECK(r.status().code() == Code::kFailedPrecondition);
  CHECK_THAT(r.status().message(), Catch::Contains("while reset_mode is exchange"));
  CheckDenialRecorded(f, "carol", "reset_mode is exchange");
}

TEST_CASE("rotate after retrieval requests rotation") {
  Fixture f;
  Device device = EscrowedDevice(f);
  PolicyUpdate update;
  update.rotate_after_retrieval = true;
  SetPolicy(f, update);

  REQUIRE(f.service->Retrieve(kHelpdesk, RetrievalRequest{"dev-1", "cli", "T-9"}).ok());
  CHECK(f.Device("dev-1").rotation_requested);
  auto check_in =
      f.service->CheckIn(CheckInRequest{device.Origin("/gw/v1/check-in"), true, 1, false});
  REQUIRE(check_in.ok());
  CHECK(check_in->actions == std::vector<std::string>{"escrow_new_password"});

  // The next escrow clears the request.
  EscrowDigits(f, device, 2, "99999888887777766666");
  CHECK_FALSE(f.Device("dev-1").rotation_requested);
}

TEST_CASE("retire destroys escrow key") {
  Fixture f;
  EscrowedDevice(f);
  const std::string key_id = f.Device("dev-1").escrow_key_id;
  REQUIRE(f.store->Get(ledger::Cf::kKeystore, key_id).value().has_value());

  REQUIRE(f.service->RetireDevice(kAdmin, "dev-1").ok());
  CHECK(f.Device("dev-1").state == Lifecycle::kRetired);
  CHECK_FALSE(f.Device("dev-1").generation_valid);
  CHECK_FALSE(f.store->Get(ledger::Cf::kKeystore, key_id).value().has_value());

  auto r = f.service->Retrieve(kHelpdesk, RetrievalRequest{"dev-1", "console", "T-10"});
  CHECK(r.status().code() == Code::kGone);
}

TEST_CASE("admin commands require admin role") {
  Fixture f;
  auto registered = f.service->RegisterDevice(kHelpdesk, "dev-9", "alice", kDayNs);
  CHECK(registered.status().code() == Code::kPermissionDenied);
  CHECK_THAT(registered.status().message(), Catch::Contains("requires the admin role"));
  PolicyUpdate update;
  update.self_service_recovery = false;
  CHECK(f.service->SetPolicy(kOwner, update).status().code() == Code::kPermissionDenied);
  CHECK(f.service->CreateAccount(kAuditor, "eve", {"user"}, "Eve", "hash").code() ==
        Code::kPermissionDenied);
}

TEST_CASE("policy input is validated") {
  Fixture f;
  PolicyUpdate update;
  SECTION("reset mode") { update.reset_mode = "sms"; }
  SECTION("interval too short") { update.check_in_interval_s = 59; }
  SECTION("interval too long") { update.check_in_interval_s = 7 * 24 * 3600 + 1; }
  SECTION("os version") { update.min_os_version = "6.x"; }
  auto result = f.service->SetPolicy(kAdmin, update);
  CHECK(result.status().code() == Code::kInvalidArgument);
  CHECK(GetPolicy(*f.store).value() == Policy{});
}

TEST_CASE("accounts are created once") {
  Fixture f;
  Principal system{"system", {}};
  REQUIRE(f.service->CreateAccount(system, "alice", {"user", "helpdesk", "user"}, "Alice", "h1").ok());
  auto account = GetAccount(*f.store, "alice").value();
  REQUIRE(account.has_value());
  CHECK(account->roles == std::vector<std::string>{"helpdesk", "user"});
  CHECK(f.store->Get(ledger::Cf::kCredentials, "alice").value() == std::optional<std::string>("h1"));

  CHECK(f.service->CreateAccount(kAdmin, "alice", {"user"}, "", "h2").code() == Code::kConflict);
  CHECK(f.service->CreateAccount(kAdmin, "system", {"user"}, "", "h2").code() ==
        Code::kInvalidArgument);
  CHECK(f.service->CreateAccount(kAdmin, "bob", {"root"}, "", "h2").code() ==
        Code::kInvalidArgument);
  CHECK(ListAccounts(*f.store).value().size() == 1);
}

TEST_CASE("enrollment token rules") {
  Fixture f;
  auto registered = f.service->RegisterDevice(kAdmin, "dev-1", "alice", kDayNs);
  REQUIRE(registered.ok());
  const std::string token = registered->enrollment_token.str();
  auto keys = crypto::GenerateEd25519();
  Device device{"dev-1", 0, ""};
  auto enroll = [&](const std::string& id, const std::string& text, const std::string& os) {
    Device d{id, device.counter, ""};
    return f.service->Enroll(
        EnrollRequest{d.Origin("/gw/v1/enroll"), text, os, "1.0", keys.public_key});
  };

  SECTION("unknown token") {
    std::string other = token;
    other[0] = other[0] == 'A' ? 'B' : 'A';
    CHECK(enroll("dev-1", other, "7.0").status().code() == Code::kUnauthenticated);
  }
  SECTION("token of another device") {
    REQUIRE(f.service->RegisterDevice(kAdmin, "dev-2", "alice", kDayNs).ok());
    CHECK(enroll("dev-2", token, "7.0").status().code() == Code::kUnauthenticated);
  }
  SECTION("old OS names both versions") {
    auto r = enroll("dev-1", token, "6.1.3");
    CHECK(r.status().code() == Code::kFailedPrecondition);
    CHECK_THAT(r.status().message(), Catch::Contains("6.1.3") && Catch::Contains("6.1.4"));
  }
  SECTION("reissued token revokes the older one") {
    auto reissued = f.service->RegisterDevice(kAdmin, "dev-1", "alice", kDayNs);
    REQUIRE(reissued.ok());
    CHECK(enroll("dev-1", token, "7.0").status().code() == Code::kUnauthenticated);
    CHECK(enroll("dev-1", reissued->enrollment_token.str(), "7.0").ok());
  }
  SECTION("expired token") {
    f.now_ns += 2 * kDayNs;
    CHECK(enroll("dev-1", token, "7.0").status().code() == Code::kUnauthenticated);
  }
  SECTION("used token") {
    REQUIRE(enroll("dev-1", token, "7.0").ok());
    auto again = enroll("dev-1", token, "7.0");
    CHECK(again.status().code() == Code::kUnauthenticated);
    CHECK_THAT(again.status().message(), Catch::Contains("already used"));
    DeviceRecord record = f.Device("dev-1");
    CHECK(record.state == Lifecycle::kEnrolled);
    CHECK(record.client_installed);
    CHECK(record.device_public_key == keys.public_key);
  }
}

TEST_CASE("device queries list timeline and owners") {
  Fixture f;
  EscrowedDevice(f);
  EnrollDevice(f, "dev-2", "alice");
  EnrollDevice(f, "lab-1", "bob");

  auto timeline = DeviceTimeline(*f.store, "dev-1").value();
  std::vector<std::string> types;
  for (const auto& e : timeline) types.push_back(ledger::EventTypeName(e.type));
  CHECK(types == std::vector<std::string>{"EnrollmentTokenIssued", "DeviceEnrolled",
                                          "ClientInstalled", "RecoveryPasswordEscrowed"});

  DeviceFilter by_owner;
  by_owner.owner = "alice";
  auto alice = ListDevices(*f.store, by_owner).value();
  REQUIRE(alice.size() == 2);
  CHECK(alice[0].device_id == "dev-1");
  CHECK(alice[1].device_id == "dev-2");

  DeviceFilter by_prefix;
  by_prefix.id_prefix = "lab";
  auto lab = ListDevices(*f.store, by_prefix).value();
  REQUIRE(lab.size() == 1);
  CHECK(lab[0].owner == "bob");

  DeviceFilter page;
  page.limit = 1;
  page.after = "dev-1";
  auto next = ListDevices(*f.store, page).value();
  REQUIRE(next.size() == 1);
  CHECK(next[0].device_id == "dev-2");
  CHECK(LastAppliedSeq(*f.store) == f.LastSeq());
}

TEST_CASE("audit query filters by time and denial") {
  Fixture f;
  EscrowedDevice(f);
  REQUIRE(f.service->Retrieve(kHelpdesk, RetrievalRequest{"dev-1", "console", "T-1"}).ok());
  const int64_t middle = f.now_ns + 1;
  CHECK_FALSE(f.service->Retrieve(kOtherUser, RetrievalRequest{"dev-1", "portal", ""}).ok());
  REQUIRE(f.service->Retrieve(kOwner, RetrievalRequest{"dev-1", "portal", ""}).ok());

  AuditFilter all;
  auto records = QueryAudit(*f.store, all).value();
  REQUIRE(records.size() == 3);
  CHECK(records[0].actor == "carol");
  CHECK(records[1].actor == "bob");
  CHECK(records[2].actor == "alice");

  AuditFilter since;
  since.since_ns = middle;
  CHECK(QueryAudit(*f.store, since).value().size() == 2);

  AuditFilter until;
  until.until_ns = middle;
  CHECK(QueryAudit(*f.store, until).value().size() == 1);

  AuditFilter denied;
  denied.denied_only = true;
  auto denials = QueryAudit(*f.store, denied).value();
  REQUIRE(denials.size() == 1);
  CHECK(denials[0].actor == "bob");

  AuditFilter limited;
  limited.limit = 2;
  CHECK(QueryAudit(*f.store, limited).value().size() == 2);
}

TEST_CASE("rebuild equals live projections") {
  Fixture f;

  // A few dozen commands over several devices, accounts and policies.
  Principal system{"system", {}};
  REQUIRE(f.service->CreateAccount(system, "admin", {"admin"}, "Admin", "h").ok());
  REQUIRE(f.service->CreateAccount(kAdmin, "alice", {"user"}, "Alice", "h").ok());
  std::vector<Device> devices;
  for (int i = 0; i < 4; i++) devices.push_back(EnrollDevice(f, "dev-" + std::to_string(i), "alice"));
  REQUIRE(f.service->RegisterDevice(kAdmin, "spare", "bob", kDayNs).ok());
  for (Device& d : devices) EscrowDigits(f, d, 1, kDigits);
  for (Device& d : devices) {
    auto armed = f.service->ReportDeviceEvent(
        DeviceEventRequest{d.Origin("/gw/v1/events"), DeviceEventKind::kArmed, 1, ""});
    REQUIRE(armed.ok());
  }
  REQUIRE(f.service->Retrieve(kHelpdesk, RetrievalRequest{"dev-0", "console", "T-1"}).ok());
  CHECK_FALSE(f.service->Retrieve(kOtherUser, RetrievalRequest{"dev-1", "portal", ""}).ok());
  REQUIRE(f.service->ReportDeviceEvent(DeviceEventRequest{
      devices[0].Origin("/gw/v1/events"), DeviceEventKind::kReset, 1, ""}).ok());
  EscrowDigits(f, devices[0], 2, "11111222223333344444");
  REQUIRE(f.service->RequestRotation(kAdmin, "dev-2").ok());
  REQUIRE(f.service->RetireDevice(kAdmin, "dev-3").ok());
  PolicyUpdate update;
  update.self_service_recovery = false;
  SetPolicy(f, update);
  const uint64_t entries = f.LastSeq();
  REQUIRE(entries > 24);
  f.Close();

  auto report = RebuildProjections(f.dir.path(), false);
  REQUIRE(report.ok());
  CHECK(report->equal);
  CHECK(report->first_difference.empty());
  CHECK(report->entries == entries);

  SECTION("a corrupted projection value is found and replaced") {
    {
      auto store = std::move(ledger::Store::Open(f.dir.path())).value();
      DeviceRecord tampered = GetDevice(*store, "dev-1").value().value();
      tampered.generation = 99;
      REQUIRE(store->Put(ledger::Cf::kProjectionDevices, "dev-1", EncodeRecord(tampered)).ok());
    }
    auto differs = RebuildProjections(f.dir.path(), false);
    REQUIRE(differs.ok());
    CHECK_FALSE(differs->equal);
    CHECK_THAT(differs->first_difference, Catch::StartsWith("projection.devices: key "));

    auto replaced = RebuildProjections(f.dir.path(), true);
    REQUIRE(replaced.ok());
    CHECK_FALSE(replaced->equal);
    auto again = RebuildProjections(f.dir.path(), false);
    REQUIRE(again.ok());
    CHECK(again->equal);

    f.Open();
    CHECK(f.Device("dev-1").generation == 1);
  }
  SECTION("an extra projection key is found") {
    {
      auto store = std::move(ledger::Store::Open(f.dir.path())).value();
      REQUIRE(store->Put(ledger::Cf::kProjectionAudit, std::string("zz", 2), "").ok());
    }
    auto differs = RebuildProjections(f.dir.path(), false);
    REQUIRE(differs.ok());
    CHECK_FALSE(differs->equal);
    CHECK(differs->first_difference == "projection.audit: key 7a7a");
  }
}

TEST_CASE("versions compare as dotted numbers") {
  using projections::CompareVersions;
  CHECK(CompareVersions("6.1.10", "6.1.4").value() > 0);
  CHECK(CompareVersions("6.1.4", "6.1.10").value() < 0);
  CHECK(CompareVersions("6.1.4", "6.1.4").value() == 0);
  CHECK(CompareVersions("6.1", "6.1.0").value() == 0);
  CHECK(CompareVersions("7", "6.9.9").value() > 0);
  CHECK_FALSE(CompareVersions("6.x.1", "6.1.4").ok());
  CHECK_FALSE(CompareVersions("", "6.1.4").ok());
}
