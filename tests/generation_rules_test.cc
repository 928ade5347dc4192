// Escrow generation rules of EscrowService: g = current + 1 only, identical
// retries are idempotent, conflicts are 409, a used generation stays valid
// until the next one, and replayed counters write nothing.
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

// A real Store, Sequencer (with the projector as applier) and EscrowService
// in a temporary data directory, with an injected clock.
struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<ledger::Store> store;
  std::optional<ledger::SigningKey> signing_key;
  std::optional<ledger::MasterKey> master_key;
  std::unique_ptr<ledger::Sequencer> sequencer;
  std::unique_ptr<EscrowService> service;
  int64_t now_ns = kStartNs;
  Principal admin{"admin", {"admin"}};

  Fixture() {
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

Device EnrollDevice(Fixture& f, const std::string& id, const std::string& owner = "alice") {
  auto registered = f.service->RegisterDevice(f.admin, id, owner, 7 * kDayNs);
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

std::string Digits(uint64_t g, char variant = '0') {
  std::string digits = std::string(19, variant) + std::to_string(g % 10);
  return digits;
}

std::string Seal(const Device& device, uint64_t g, char variant = '0') {
  return ledger::SealRecoveryPassword(device.escrow_public_key, device.id, g, Digits(g, variant))
      .value();
}

Result<EscrowResult> EscrowEnvelope(Fixture& f, Device& device, uint64_t g,
                                    const std::string& envelope) {
  return f.service->Escrow(EscrowRequest{device.Origin("/gw/v1/recovery-password"), g, envelope});
}

Result<DeviceEventResult> Report(Fixture& f, Device& device, DeviceEventKind kind, uint64_t g) {
  return f.service->ReportDeviceEvent(
      DeviceEventRequest{device.Origin("/gw/v1/events"), kind, g, ""});
}

}  // namespace

TEST_CASE("escrow generation rules table") {
  struct Row {
    const char* name;
    uint64_t current;  // generations escrowed before the request
    uint64_t requested;
    bool same_envelope;  // resend the envelope of the current generation
    Code code;
    const char* message;  // expected substring, "" for success
    bool already_escrowed;
  };
  const Row rows[] = {
      {"first generation", 0, 1, false, Code::kOk, "", false},
      {"skipped first generation", 0, 2, false, Code::kConflict,
       "generation must be current+1 = 1", false},
      {"zero generation", 0, 0, false, Code::kInvalidArgument, "generation must be 1", false},
      {"next generation", 1, 2, false, Code::kOk, "", false},
      {"identical retry", 1, 1, true, Code::kOk, "", true},
      {"different envelope", 1, 1, false, Code::kConflict,
       "generation 1 is already escrowed with a different envelope", false},
      {"stale generation", 2, 1, false, Code::kConflict, "stale generation 1", false},
      {"skipped generation", 2, 4, false, Code::kConflict, "generation must be current+1 = 3",
       false},
  };

  for (const Row& row : rows) {
    DYNAMIC_SECTION(row.name) {
      Fixture f;
      Device device = EnrollDevice(f, "dev-1");
      std::string current_envelope;
      for (uint64_t g = 1; g <= row.current; g++) {
        current_envelope = Seal(device, g);
        REQUIRE(EscrowEnvelope(f, device, g, current_envelope).ok());
      }
      const uint64_t seq_before = f.LastSeq();

      const std::string envelope = row.same_envelope ? current_envelope
                                                     : Seal(device, row.requested, '7');
      auto result = EscrowEnvelope(f, device, row.requested, envelope);

      CHECK(result.status().code() == row.code);
      CHECK_THAT(result.status().message(), Catch::Contains(row.message));
      const bool wrote = row.code == Code::kOk && !row.already_escrowed;
      if (!wrote) CHECK(f.LastSeq() == seq_before);
      if (result.ok()) {
        CHECK(result->already_escrowed == row.already_escrowed);
        CHECK(result->generation == row.requested);
        CHECK(f.Device("dev-1").generation == std::max(row.current, row.requested));
      }
    }
  }
}

TEST_CASE("escrow of next generation supersedes in one group") {
  Fixture f;
  Device device = EnrollDevice(f, "dev-1");
  REQUIRE(EscrowEnvelope(f, device, 1, Seal(device, 1)).ok());
  const uint64_t before = f.LastSeq();

  auto second = EscrowEnvelope(f, device, 2, Seal(device, 2));
  REQUIRE(second.ok());

  CHECK(f.LastSeq() == before + 2);
  CHECK(second->seq == before + 1);
  ledger::Entry escrowed = f.EntryAt(before + 1);
  ledger::Entry invalidated = f.EntryAt(before + 2);
  CHECK(escrowed.type == static_cast<uint16_t>(ledger::EventType::kRecoveryPasswordEscrowed));
  CHECK(invalidated.type == static_cast<uint16_t>(ledger::EventType::kRecoveryPasswordInvalidated));
  CHECK(escrowed.time_ns == invalidated.time_ns);  // same group commit
  auto payload = ledger::DecodePayload<ledger::RecoveryPasswordInvalidated>(invalidated.payload);
  REQUIRE(payload.ok());
  CHECK(payload->generation == 1);
  CHECK(payload->reason == "superseded");
  CHECK(escrowed.origin_request == "POST /gw/v1/recovery-password\n{}");
  CHECK(invalidated.actor_kind == ledger::ActorKind::kSystem);
}

TEST_CASE("used generation stays valid until next escrow") {
  Fixture f;
  Device device = EnrollDevice(f, "dev-1");
  REQUIRE(EscrowEnvelope(f, device, 1, Seal(device, 1)).ok());
  CHECK(f.Device("dev-1").state == Lifecycle::kPending);

  REQUIRE(Report(f, device, DeviceEventKind::kArmed, 1).ok());
  CHECK(f.Device("dev-1").state == Lifecycle::kActive);
  CHECK(f.Device("dev-1").armed);

  auto reset = Report(f, device, DeviceEventKind::kReset, 1);
  REQUIRE(reset.ok());
  DeviceRecord used = f.Device("dev-1");
  CHECK(used.state == Lifecycle::kUsed);
  CHECK(used.generation == 1);
  CHECK(used.generation_valid);
  CHECK(used.last_reset_generation == 1);
  CHECK(reset->actions == std::vector<std::string>{"escrow_new_password"});

  // The help desk can still read generation 1 after the reset.
  auto retrieval = f.service->Retrieve(Principal{"carol", {"helpdesk"}},
                                       RetrievalRequest{"dev-1", "console", "TICKET-9"});
  REQUIRE(retrieval.ok());
  CHECK(retrieval->generation == 1);
  CHECK(retrieval->recovery_password.str() == Digits(1));

  REQUIRE(EscrowEnvelope(f, device, 2, Seal(device, 2)).ok());
  DeviceRecord next = f.Device("dev-1");
  CHECK(next.state == Lifecycle::kPending);
  CHECK(next.generation == 2);
  CHECK(next.generation_valid);
  CHECK_FALSE(next.armed);
}

TEST_CASE("identical retry writes no entry") {
  Fixture f;
  Device device = EnrollDevice(f, "dev-1");
  const std::string envelope = Seal(device, 1);
  auto first = EscrowEnvelope(f, device, 1, envelope);
  REQUIRE(first.ok());
  const uint64_t after_first = f.LastSeq();

  auto retry = EscrowEnvelope(f, device, 1, envelope);
  REQUIRE(retry.ok());
  CHECK(retry->already_escrowed);
  CHECK(retry->seq == first->seq);
  CHECK(f.LastSeq() == after_first);
}

TEST_CASE("replayed counter is rejected") {
  Fixture f;
  Device device = EnrollDevice(f, "dev-1");
  REQUIRE(EscrowEnvelope(f, device, 1, Seal(device, 1)).ok());
  const uint64_t seq_before = f.LastSeq();

  SECTION("same counter") { device.counter -= 1; }
  SECTION("older counter") { device.counter -= 2; }

  auto replay = EscrowEnvelope(f, device, 2, Seal(device, 2));
  CHECK(replay.status().code() == Code::kConflict);
  CHECK_THAT(replay.status().message(), Catch::Contains("replayed request: counter"));
  CHECK_THAT(replay.status().message(), Catch::Contains("is not greater than the last accepted counter"));
  CHECK(f.LastSeq() == seq_before);
  CHECK(f.Device("dev-1").generation == 1);
}

TEST_CASE("replayed check-in is rejected") {
  Fixture f;
  Device device = EnrollDevice(f, "dev-1");
  auto first = f.service->CheckIn(CheckInRequest{device.Origin("/gw/v1/check-in"), true, 0, false});
  REQUIRE(first.ok());
  CHECK(first->actions == std::vector<std::string>{"escrow_new_password"});
  CHECK(first->escrow_public_key == device.escrow_public_key);

  device.counter -= 1;
  auto replay = f.service->CheckIn(CheckInRequest{device.Origin("/gw/v1/check-in"), true, 0, false});
  CHECK(replay.status().code() == Code::kConflict);
}

TEST_CASE("rejected escrow still advances the counter") {
  Fixture f;
  Device device = EnrollDevice(f, "dev-1");
  auto skipped = EscrowEnvelope(f, device, 3, Seal(device, 3));
  REQUIRE(skipped.status().code() == Code::kConflict);

  // Replaying the rejected request's counter is now a replay.
  device.counter -= 1;
  auto replay = EscrowEnvelope(f, device, 1, Seal(device, 1));
  CHECK(replay.status().code() == Code::kConflict);
  CHECK_THAT(replay.status().message(), Catch::Contains("replayed request"));
}

TEST_CASE("escrow requires mdm mode and installed client") {
  Fixture f;
  Device device = EnrollDevice(f, "dev-1");

  SECTION("reset mode exchange") {
    PolicyUpdate update;
    update.reset_mode = "exchange";
    REQUIRE(f.service->SetPolicy(f.admin, update).ok());
    auto result = EscrowEnvelope(f, device, 1, Seal(device, 1));
    CHECK(result.status().code() == Code::kFailedPrecondition);
    CHECK_THAT(result.status().message(), Catch::Contains("while reset_mode is exchange"));
  }
  SECTION("client removed") {
    REQUIRE(Report(f, device, DeviceEventKind::kClientRemoved, 0).ok());
    auto result = EscrowEnvelope(f, device, 1, Seal(device, 1));
    CHECK(result.status().code() == Code::kFailedPrecondition);
    CHECK_THAT(result.status().message(), Catch::Contains("client is not installed"));
  }
  SECTION("retired device") {
    REQUIRE(f.service->RetireDevice(f.admin, "dev-1").ok());
    auto result = EscrowEnvelope(f, device, 1, Seal(device, 1));
    CHECK(result.status().code() == Code::kGone);
  }
}

TEST_CASE("client removal invalidates current generation") {
  Fixture f;
  Device device = EnrollDevice(f, "dev-1");
  REQUIRE(EscrowEnvelope(f, device, 1, Seal(device, 1)).ok());

  auto removed = Report(f, device, DeviceEventKind::kClientRemoved, 0);
  REQUIRE(removed.ok());
  DeviceRecord after = f.Device("dev-1");
  CHECK_FALSE(after.client_installed);
  CHECK_FALSE(after.generation_valid);
  auto last = ledger::DecodePayload<ledger::RecoveryPasswordInvalidated>(f.EntryAt(f.LastSeq()).payload);
  REQUIRE(last.ok());
  CHECK(last->reason == "client_removed");
  CHECK(last->generation == 1);
}

TEST_CASE("armed for another generation is rejected") {
  Fixture f;
  Device device = EnrollDevice(f, "dev-1");
  REQUIRE(EscrowEnvelope(f, device, 1, Seal(device, 1)).ok());
  auto wrong = Report(f, device, DeviceEventKind::kArmed, 2);
  CHECK(wrong.status().code() == Code::kFailedPrecondition);

  REQUIRE(Report(f, device, DeviceEventKind::kArmed, 1).ok());
  const uint64_t seq = f.LastSeq();
  auto repeated = Report(f, device, DeviceEventKind::kArmed, 1);
  REQUIRE(repeated.ok());
  CHECK(repeated->seq == 0);
  CHECK(f.LastSeq() == seq);
}
