// The device lifecycle as a table: every (start state, event) pair, applied
// through the real EscrowService on a real ledger, with the expected next
// state (or error) and the exact ledger entries the event appended.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

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
constexpr const char* kOwner = "alice";

struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<ledger::Store> store;
  std::optional<ledger::SigningKey> signing_key;
  std::optional<ledger::MasterKey> master_key;
  std::unique_ptr<ledger::Sequencer> sequencer;
  std::unique_ptr<EscrowService> service;
  int64_t now_ns = kStartNs;
  Principal admin{"admin", {"admin"}};
  Principal helpdesk{"carol", {"helpdesk"}};

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

  // The entries after seq `after`, as "Type" or "Invalidated:reason", space separated.
  std::string EntriesAfter(uint64_t after) {
    std::string out;
    for (uint64_t seq = after + 1; seq <= LastSeq(); seq++) {
      ledger::Entry entry = ledger::DecodeEntry(store->ReadEntry(seq).value().value()).value().entry;
      std::string name = ledger::EventTypeName(entry.type);
      if (name.starts_with("RecoveryPassword")) name = name.substr(16);
      if (entry.type == static_cast<uint16_t>(ledger::EventType::kRecoveryPasswordInvalidated)) {
        name += ":" + ledger::DecodePayload<ledger::RecoveryPasswordInvalidated>(entry.payload)
                          .value()
                          .reason;
      }
      out += (out.empty() ? "" : " ") + name;
    }
    return out;
  }
};

// A simulated device: counter, escrow key and the envelope of its current generation.
struct SimDevice {
  std::string id;
  uint64_t counter = 0;
  std::string escrow_public_key;
  std::string current_envelope;

  DeviceOrigin Origin(const std::string& path) {
    return DeviceOrigin{id, ++counter, "POST " + path + "\n{}", std::string(64, 's')};
  }
};

enum class Start { kRegistered, kEnrolledNew, kEnrolledInvalid, kPending, kActive, kUsed, kRetired };

enum class Event {
  kEnroll, kEscrowNext, kEscrowSameIdentical, kEscrowStale, kArmedCurrent, kArmedOther,
  kResetCurrent, kResetOther, kClientRemoved, kClientInstalled, kRotationRequested, kRetire,
  kRetrieval,
};

Status Enroll(Fixture& f, SimDevice& device, const std::string& token) {
  SimDevice fresh{device.id, 0, "", ""};
  auto keys = crypto::GenerateEd25519();
  auto enrolled = f.service->Enroll(
      EnrollRequest{fresh.Origin("/gw/v1/enroll"), token, "7.0", "1.0", keys.public_key});
  if (!enrolled.ok()) return enrolled.status();
  fresh.escrow_public_key = enrolled->escrow_public_key;
  device = fresh;
  return Status::Ok();
}

std::string Seal(const SimDevice& device, uint64_t g, char variant = '0') {
  static const std::string spare_key = crypto::GenerateX25519().public_key;
  const std::string& key = device.escrow_public_key.empty() ? spare_key : device.escrow_public_key;
  return ledger::SealRecoveryPassword(key, device.id, std::max<uint64_t>(g, 1),
                                      std::string(19, variant) + std::to_string(g % 10))
      .value();
}

Status Escrow(Fixture& f, SimDevice& device, uint64_t g, const std::string& envelope) {
  auto result =
      f.service->Escrow(EscrowRequest{device.Origin("/gw/v1/recovery-password"), g, envelope});
  if (result.ok()) device.current_envelope = envelope;
  return result.status();
}

Status Report(Fixture& f, SimDevice& device, DeviceEventKind kind, uint64_t g,
              const std::string& client_version = "") {
  return f.service
      ->ReportDeviceEvent(DeviceEventRequest{device.Origin("/gw/v1/events"), kind, g, client_version})
      .status();
}

// Builds a device in the start state through the real service.
SimDevice Build(Fixture& f, const std::string& id, Start start) {
  SimDevice device{id, 0, "", ""};
  auto registered = f.service->RegisterDevice(f.admin, id, kOwner, 7 * kDayNs);
  REQUIRE(registered.ok());
  if (start == Start::kRegistered) return device;
  REQUIRE(Enroll(f, device, registered->enrollment_token.str()).ok());
  if (start == Start::kEnrolledNew) return device;
  REQUIRE(Escrow(f, device, 1, Seal(device, 1)).ok());
  REQUIRE(Escrow(f, device, 2, Seal(device, 2)).ok());
  if (start == Start::kEnrolledInvalid) {
    REQUIRE(Report(f, device, DeviceEventKind::kClientRemoved, 2).ok());
    REQUIRE(Report(f, device, DeviceEventKind::kClientInstalled, 2, "1.0").ok());
    return device;
  }
  if (start == Start::kPending) return device;
  REQUIRE(Report(f, device, DeviceEventKind::kArmed, 2).ok());
  if (start == Start::kActive) return device;
  if (start == Start::kRetired) {
    REQUIRE(f.service->RetireDevice(f.admin, id).ok());
    return device;
  }
  REQUIRE(Report(f, device, DeviceEventKind::kReset, 2).ok());
  return device;
}

// Applies the event to the device whose projection generation is g.
Status ApplyEvent(Fixture& f, SimDevice& device, Event event, uint64_t g) {
  switch (event) {
    case Event::kEnroll: {
      auto registered = f.service->RegisterDevice(f.admin, device.id, kOwner, 7 * kDayNs);
      if (!registered.ok()) return registered.status();
      return Enroll(f, device, registered->enrollment_token.str());
    }
    case Event::kEscrowNext: return Escrow(f, device, g + 1, Seal(device, g + 1));
    case Event::kEscrowSameIdentical:
      return Escrow(f, device, g,
                    device.current_envelope.empty() ? Seal(device, g) : device.current_envelope);
    case Event::kEscrowStale: return Escrow(f, device, g == 0 ? 0 : g - 1, Seal(device, g - 1, '5'));
    case Event::kArmedCurrent: return Report(f, device, DeviceEventKind::kArmed, g);
    case Event::kArmedOther: return Report(f, device, DeviceEventKind::kArmed, g + 1);
    case Event::kResetCurrent: return Report(f, device, DeviceEventKind::kReset, g);
    case Event::kResetOther: return Report(f, device, DeviceEventKind::kReset, g + 1);
    case Event::kClientRemoved: return Report(f, device, DeviceEventKind::kClientRemoved, g);
    case Event::kClientInstalled:
      return Report(f, device, DeviceEventKind::kClientInstalled, g, "1.1");
    case Event::kRotationRequested: return f.service->RequestRotation(f.admin, device.id);
    case Event::kRetire: return f.service->RetireDevice(f.admin, device.id);
    case Event::kRetrieval:
      return f.service->Retrieve(f.helpdesk, RetrievalRequest{device.id, "console", "TICKET-1"})
          .status();
  }
  return Internal("unknown event");
}

using L = Lifecycle;
using E = Event;
using S = Start;
constexpr Code kOk = Code::kOk;
constexpr Code kBad = Code::kInvalidArgument;
constexpr Code kConflict = Code::kConflict;
constexpr Code kPre = Code::kFailedPrecondition;
constexpr Code kGone = Code::kGone;

struct Row {
  Start start;
  Event event;
  Code code;
  const char* message;  // expected substring of the error, "" on success
  Lifecycle state;      // projection after the event
  uint64_t generation;
  bool valid;
  bool armed;
  const char* entries;  // the ledger entries the event appended
};

constexpr const char* kNotEnrolled = "has not enrolled yet";
constexpr const char* kRetired = "is retired";
constexpr const char* kReEnroll = "EnrollmentTokenIssued DeviceEnrolled ClientInstalled";
constexpr const char* kReEnrollValid =
    "EnrollmentTokenIssued DeviceEnrolled Invalidated:re_enrolled ClientInstalled";
constexpr const char* kZero = "generation must be 1 or greater";
constexpr const char* kStale = "stale generation 1: the current generation is 2";
constexpr const char* kNoPassword = "no valid recovery password";

// clang-format off
const Row kRows[] = {
  // enroll: a new token from the admin, then the device enrolls with a new key
  {S::kRegistered,      E::kEnroll, kOk,  "", L::kEnrolled, 0, false, false, kReEnroll},
  {S::kEnrolledNew,     E::kEnroll, kOk,  "", L::kEnrolled, 0, false, false, kReEnroll},
  {S::kEnrolledInvalid, E::kEnroll, kOk,  "", L::kEnrolled, 2, false, false, kReEnroll},
  {S::kPending,         E::kEnroll, kOk,  "", L::kEnrolled, 2, false, false, kReEnrollValid},
  {S::kActive,          E::kEnroll, kOk,  "", L::kEnrolled, 2, false, false, kReEnrollValid},
  {S::kUsed,            E::kEnroll, kOk,  "", L::kEnrolled, 2, false, false, kReEnrollValid},
  {S::kRetired,         E::kEnroll, kGone, "retired and cannot be enrolled again", L::kRetired, 2, false, false, ""},
  // escrow g+1
  {S::kRegistered,      E::kEscrowNext, kPre, kNotEnrolled, L::kRegistered, 0, false, false, ""},
  {S::kEnrolledNew,     E::kEscrowNext, kOk,  "", L::kPending, 1, true, false, "Escrowed"},
  {S::kEnrolledInvalid, E::kEscrowNext, kOk,  "", L::kPending, 3, true, false, "Escrowed"},
  {S::kPending,         E::kEscrowNext, kOk,  "", L::kPending, 3, true, false, "Escrowed Invalidated:superseded"},
  {S::kActive,          E::kEscrowNext, kOk,  "", L::kPending, 3, true, false, "Escrowed Invalidated:superseded"},
  {S::kUsed,            E::kEscrowNext, kOk,  "", L::kPending, 3, true, false, "Escrowed Invalidated:superseded"},
  {S::kRetired,         E::kEscrowNext, kGone, kRetired, L::kRetired, 2, false, false, ""},
  // escrow of the same generation with the identical envelope (a retry)
  {S::kRegistered,      E::kEscrowSameIdentical, kBad, kZero, L::kRegistered, 0, false, false, ""},
  {S::kEnrolledNew,     E::kEscrowSameIdentical, kBad, kZero, L::kEnrolled, 0, false, false, ""},
  // An identical retry of an invalidated generation returns "already
  // escrowed" and leaves it invalid. The next check-in requests g+1.
  {S::kEnrolledInvalid, E::kEscrowSameIdentical, kOk, "", L::kEnrolled, 2, false, false, ""},
  {S::kPending,         E::kEscrowSameIdentical, kOk, "", L::kPending, 2, true, false, ""},
  {S::kActive,          E::kEscrowSameIdentical, kOk, "", L::kActive, 2, true, true, ""},
  {S::kUsed,            E::kEscrowSameIdentical, kOk, "", L::kUsed, 2, true, true, ""},
  {S::kRetired,         E::kEscrowSameIdentical, kGone, kRetired, L::kRetired, 2, false, false, ""},
  // escrow of a stale generation (g-1)
  {S::kRegistered,      E::kEscrowStale, kBad, kZero, L::kRegistered, 0, false, false, ""},
  {S::kEnrolledNew,     E::kEscrowStale, kBad, kZero, L::kEnrolled, 0, false, false, ""},
  {S::kEnrolledInvalid, E::kEscrowStale, kConflict, kStale, L::kEnrolled, 2, false, false, ""},
  {S::kPending,         E::kEscrowStale, kConflict, kStale, L::kPending, 2, true, false, ""},
  {S::kActive,          E::kEscrowStale, kConflict, kStale, L::kActive, 2, true, true, ""},
  {S::kUsed,            E::kEscrowStale, kConflict, kStale, L::kUsed, 2, true, true, ""},
  {S::kRetired,         E::kEscrowStale, kGone, kRetired, L::kRetired, 2, false, false, ""},
  // armed with the current generation
  {S::kRegistered,      E::kArmedCurrent, kPre, kNotEnrolled, L::kRegistered, 0, false, false, ""},
  {S::kEnrolledNew,     E::kArmedCurrent, kPre, "armed generation 0 is not the current valid generation (none)", L::kEnrolled, 0, false, false, ""},
  {S::kEnrolledInvalid, E::kArmedCurrent, kPre, "armed generation 2 is not the current valid generation (none)", L::kEnrolled, 2, false, false, ""},
  {S::kPending,         E::kArmedCurrent, kOk, "", L::kActive, 2, true, true, "Armed"},
  {S::kActive,          E::kArmedCurrent, kOk, "", L::kActive, 2, true, true, ""},
  {S::kUsed,            E::kArmedCurrent, kOk, "", L::kUsed, 2, true, true, ""},
  {S::kRetired,         E::kArmedCurrent, kGone, kRetired, L::kRetired, 2, false, false, ""},
  // armed with another generation (g+1)
  {S::kRegistered,      E::kArmedOther, kPre, kNotEnrolled, L::kRegistered, 0, false, false, ""},
  {S::kEnrolledNew,     E::kArmedOther, kPre, "armed generation 1 is not the current valid generation (none)", L::kEnrolled, 0, false, false, ""},
  {S::kEnrolledInvalid, E::kArmedOther, kPre, "armed generation 3 is not the current valid generation (none)", L::kEnrolled, 2, false, false, ""},
  {S::kPending,         E::kArmedOther, kPre, "armed generation 3 is not the current valid generation (2)", L::kPending, 2, true, false, ""},
  {S::kActive,          E::kArmedOther, kPre, "armed generation 3 is not the current valid generation (2)", L::kActive, 2, true, true, ""},
  {S::kUsed,            E::kArmedOther, kPre, "armed generation 3 is not the current valid generation (2)", L::kUsed, 2, true, true, ""},
  {S::kRetired,         E::kArmedOther, kGone, kRetired, L::kRetired, 2, false, false, ""},
  // reset reported with the current generation: it stays valid
  {S::kRegistered,      E::kResetCurrent, kPre, kNotEnrolled, L::kRegistered, 0, false, false, ""},
  {S::kEnrolledNew,     E::kResetCurrent, kPre, "reset generation 0 is not the current valid generation (none)", L::kEnrolled, 0, false, false, ""},
  {S::kEnrolledInvalid, E::kResetCurrent, kPre, "reset generation 2 is not the current valid generation (none)", L::kEnrolled, 2, false, false, ""},
  {S::kPending,         E::kResetCurrent, kOk, "", L::kUsed, 2, true, false, "DeviceResetReported"},
  {S::kActive,          E::kResetCurrent, kOk, "", L::kUsed, 2, true, true, "DeviceResetReported"},
  {S::kUsed,            E::kResetCurrent, kOk, "", L::kUsed, 2, true, true, "DeviceResetReported"},
  {S::kRetired,         E::kResetCurrent, kGone, kRetired, L::kRetired, 2, false, false, ""},
  // reset reported with another generation (g+1)
  {S::kRegistered,      E::kResetOther, kPre, kNotEnrolled, L::kRegistered, 0, false, false, ""},
  {S::kEnrolledNew,     E::kResetOther, kPre, "reset generation 1 is not the current valid generation (none)", L::kEnrolled, 0, false, false, ""},
  {S::kEnrolledInvalid, E::kResetOther, kPre, "reset generation 3 is not the current valid generation (none)", L::kEnrolled, 2, false, false, ""},
  {S::kPending,         E::kResetOther, kPre, "reset generation 3 is not the current valid generation (2)", L::kPending, 2, true, false, ""},
  {S::kActive,          E::kResetOther, kPre, "reset generation 3 is not the current valid generation (2)", L::kActive, 2, true, true, ""},
  {S::kUsed,            E::kResetOther, kPre, "reset generation 3 is not the current valid generation (2)", L::kUsed, 2, true, true, ""},
  {S::kRetired,         E::kResetOther, kGone, kRetired, L::kRetired, 2, false, false, ""},
  // client removed: the valid password is invalidated
  {S::kRegistered,      E::kClientRemoved, kPre, kNotEnrolled, L::kRegistered, 0, false, false, ""},
  {S::kEnrolledNew,     E::kClientRemoved, kOk, "", L::kEnrolled, 0, false, false, "ClientRemoved"},
  {S::kEnrolledInvalid, E::kClientRemoved, kOk, "", L::kEnrolled, 2, false, false, "ClientRemoved"},
  {S::kPending,         E::kClientRemoved, kOk, "", L::kEnrolled, 2, false, false, "ClientRemoved Invalidated:client_removed"},
  {S::kActive,          E::kClientRemoved, kOk, "", L::kEnrolled, 2, false, false, "ClientRemoved Invalidated:client_removed"},
  {S::kUsed,            E::kClientRemoved, kOk, "", L::kEnrolled, 2, false, false, "ClientRemoved Invalidated:client_removed"},
  {S::kRetired,         E::kClientRemoved, kGone, kRetired, L::kRetired, 2, false, false, ""},
  // client installed with a new version
  {S::kRegistered,      E::kClientInstalled, kPre, kNotEnrolled, L::kRegistered, 0, false, false, ""},
  {S::kEnrolledNew,     E::kClientInstalled, kOk, "", L::kEnrolled, 0, false, false, "ClientInstalled"},
  {S::kEnrolledInvalid, E::kClientInstalled, kOk, "", L::kEnrolled, 2, false, false, "ClientInstalled"},
  {S::kPending,         E::kClientInstalled, kOk, "", L::kPending, 2, true, false, "ClientInstalled"},
  {S::kActive,          E::kClientInstalled, kOk, "", L::kActive, 2, true, true, "ClientInstalled"},
  {S::kUsed,            E::kClientInstalled, kOk, "", L::kUsed, 2, true, true, "ClientInstalled"},
  {S::kRetired,         E::kClientInstalled, kGone, kRetired, L::kRetired, 2, false, false, ""},
  // rotation requested by an admin
  {S::kRegistered,      E::kRotationRequested, kPre, kNotEnrolled, L::kRegistered, 0, false, false, ""},
  {S::kEnrolledNew,     E::kRotationRequested, kOk, "", L::kEnrolled, 0, false, false, "RotationRequested"},
  {S::kEnrolledInvalid, E::kRotationRequested, kOk, "", L::kEnrolled, 2, false, false, "RotationRequested"},
  {S::kPending,         E::kRotationRequested, kOk, "", L::kPending, 2, true, false, "RotationRequested"},
  {S::kActive,          E::kRotationRequested, kOk, "", L::kActive, 2, true, true, "RotationRequested"},
  {S::kUsed,            E::kRotationRequested, kOk, "", L::kUsed, 2, true, true, "RotationRequested"},
  {S::kRetired,         E::kRotationRequested, kGone, kRetired, L::kRetired, 2, false, false, ""},
  // retire
  {S::kRegistered,      E::kRetire, kOk, "", L::kRetired, 0, false, false, "DeviceRetired"},
  {S::kEnrolledNew,     E::kRetire, kOk, "", L::kRetired, 0, false, false, "DeviceRetired"},
  {S::kEnrolledInvalid, E::kRetire, kOk, "", L::kRetired, 2, false, false, "DeviceRetired"},
  {S::kPending,         E::kRetire, kOk, "", L::kRetired, 2, false, false, "DeviceRetired Invalidated:retired"},
  {S::kActive,          E::kRetire, kOk, "", L::kRetired, 2, false, false, "DeviceRetired Invalidated:retired"},
  {S::kUsed,            E::kRetire, kOk, "", L::kRetired, 2, false, false, "DeviceRetired Invalidated:retired"},
  {S::kRetired,         E::kRetire, kGone, "is already retired", L::kRetired, 2, false, false, ""},
  // retrieval by the help desk: a denial is recorded too
  {S::kRegistered,      E::kRetrieval, kPre, kNoPassword, L::kRegistered, 0, false, false, "RetrievalDenied"},
  {S::kEnrolledNew,     E::kRetrieval, kPre, kNoPassword, L::kEnrolled, 0, false, false, "RetrievalDenied"},
  {S::kEnrolledInvalid, E::kRetrieval, kPre, kNoPassword, L::kEnrolled, 2, false, false, "RetrievalDenied"},
  {S::kPending,         E::kRetrieval, kOk, "", L::kPending, 2, true, false, "Retrieved"},
  {S::kActive,          E::kRetrieval, kOk, "", L::kActive, 2, true, true, "Retrieved"},
  {S::kUsed,            E::kRetrieval, kOk, "", L::kUsed, 2, true, true, "Retrieved"},
  {S::kRetired,         E::kRetrieval, kGone, "escrow key was destroyed", L::kRetired, 2, false, false, "RetrievalDenied"},
};
// clang-format on

}  // namespace

TEST_CASE("lifecycle table: every (state, event) pair") {
  Fixture f;
  CHECK(std::size(kRows) == 7 * 13);
  int index = 0;
  for (const Row& row : kRows) {
    const std::string id = "row-" + std::to_string(index++);
    SimDevice device = Build(f, id, row.start);
    const DeviceRecord before = f.Device(id);
    const uint64_t seq_before = f.LastSeq();

    Status status = ApplyEvent(f, device, row.event, before.generation);

    INFO("row " << id << ": start " << LifecycleName(before.state) << ", event "
                << static_cast<int>(row.event) << ", result " << status.CodeName() << " "
                << status.message());
    CHECK(status.code() == row.code);
    CHECK_THAT(status.message(), Catch::Contains(row.message));
    const DeviceRecord after = f.Device(id);
    CHECK(std::string(LifecycleName(after.state)) == LifecycleName(row.state));
    CHECK(after.generation == row.generation);
    CHECK(after.generation_valid == row.valid);
    CHECK(after.armed == row.armed);
    CHECK(after.rotation_requested == (row.event == E::kRotationRequested && status.ok()));
    CHECK(f.EntriesAfter(seq_before) == row.entries);
  }
}

TEST_CASE("re-enrollment replaces both keys and resets the counter") {
  Fixture f;
  SimDevice device = Build(f, "phone-1", S::kActive);
  const DeviceRecord before = f.Device("phone-1");
  REQUIRE(f.store->Get(ledger::Cf::kKeystore, before.escrow_key_id).value().has_value());

  auto registered = f.service->RegisterDevice(f.admin, "phone-1", "bob", 7 * kDayNs);
  REQUIRE(registered.ok());
  // Issuing the token changes nothing yet: the old device keeps working.
  CHECK(f.Device("phone-1").state == L::kActive);
  CHECK(f.Device("phone-1").owner == kOwner);

  SimDevice wiped = device;
  REQUIRE(Enroll(f, wiped, registered->enrollment_token.str()).ok());
  const DeviceRecord after = f.Device("phone-1");
  CHECK(after.owner == "bob");
  CHECK(after.device_public_key != before.device_public_key);
  CHECK(after.escrow_key_id != before.escrow_key_id);
  CHECK_FALSE(f.store->Get(ledger::Cf::kKeystore, before.escrow_key_id).value().has_value());
  CHECK(f.store->Get(ledger::Cf::kKeystore, after.escrow_key_id).value().has_value());
  DeviceFilter by_bob;
  by_bob.owner = "bob";
  DeviceFilter by_alice;
  by_alice.owner = kOwner;
  auto owned = ListDevices(*f.store, by_bob);
  REQUIRE(owned.ok());
  REQUIRE(owned->size() == 1);
  CHECK(ListDevices(*f.store, by_alice).value().empty());

  // The counter restarted at the enroll request's (1), so counter 2 is accepted,
  // and the next escrow continues the numbering at 3.
  CHECK(wiped.counter == 1);
  CHECK(Escrow(f, wiped, 3, Seal(wiped, 3)).ok());
  CHECK(f.Device("phone-1").state == L::kPending);
  CHECK(f.Device("phone-1").generation == 3);
  // The same token cannot enroll twice.
  SimDevice again = wiped;
  Status reused = Enroll(f, again, registered->enrollment_token.str());
  CHECK(reused.code() == Code::kUnauthenticated);
  CHECK_THAT(reused.message(), Catch::Contains("already used"));
}

TEST_CASE("a second re-enrollment token revokes the first") {
  Fixture f;
  SimDevice device = Build(f, "phone-2", S::kActive);
  auto first = f.service->RegisterDevice(f.admin, "phone-2", kOwner, 7 * kDayNs);
  auto second = f.service->RegisterDevice(f.admin, "phone-2", kOwner, 7 * kDayNs);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  SimDevice wiped = device;
  Status old_token = Enroll(f, wiped, first->enrollment_token.str());
  CHECK(old_token.code() == Code::kUnauthenticated);
  CHECK(Enroll(f, wiped, second->enrollment_token.str()).ok());
}

TEST_CASE("device id rules") {
  CHECK(ValidateDeviceId("phone-1").ok());
  CHECK(ValidateDeviceId("0.a_b-c").ok());
  CHECK(ValidateDeviceId(std::string(kMaxDeviceIdLength, 'a')).ok());

  Status too_long = ValidateDeviceId(std::string(kMaxDeviceIdLength + 1, 'a'));
  CHECK(too_long.code() == Code::kInvalidArgument);
  CHECK_THAT(too_long.message(), Catch::Contains("1 to 64 characters"));
  CHECK(ValidateDeviceId("").code() == Code::kInvalidArgument);

  Status upper = ValidateDeviceId("Phone-1");
  CHECK(upper.code() == Code::kInvalidArgument);
  CHECK_THAT(upper.message(), Catch::Contains("upper case is rejected"));
  CHECK(ValidateDeviceId("-phone").code() == Code::kInvalidArgument);
  CHECK(ValidateDeviceId("phone 1").code() == Code::kInvalidArgument);

  // Control characters and quotes are escaped in the message.
  Status forged = ValidateDeviceId("a\n\"b");
  CHECK(forged.code() == Code::kInvalidArgument);
  CHECK_THAT(forged.message(), Catch::StartsWith("invalid device id \"a\\x0a\\x22b\""));
}
