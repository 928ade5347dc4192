// RebuildProjections with replace: the replacement equals a fresh rebuild,
// and a rebuild that fails on a ledger entry leaves the live projections as
// they were, key for key and byte for byte. Real RocksDB in a temporary
// data directory.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>

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

constexpr int64_t kTokenTtlNs = int64_t{3600} * 1'000'000'000;
// An event type that the projector does not handle, so Apply rejects it.
constexpr uint16_t kUnknownEventType = 0xffff;

const Principal kSystem{"system", {}};
const Principal kAdmin{"admin", {"admin"}};

// Every projection column family as "<cf name>" -> key -> value.
using Snapshot = std::map<std::string, std::map<std::string, std::string>>;

Snapshot TakeSnapshot(const std::string& data_dir) {
  auto store = std::move(ledger::Store::Open(data_dir)).value();
  Snapshot snapshot;
  for (ledger::Cf cf : ledger::ProjectionCfs()) {
    auto& column = snapshot[ledger::CfName(cf)];
    auto it = store->NewIterator(cf);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      column[it->key().ToString()] = it->value().ToString();
    }
    REQUIRE(it->status().ok());
  }
  return snapshot;
}

// Writes a ledger with an initial policy, two accounts and two registered
// devices through the real sequencer and projector, then closes it.
void WriteLedger(const std::string& data_dir) {
  auto store = std::move(ledger::Store::Open(data_dir)).value();
  auto signing_key = std::move(ledger::SigningKey::LoadOrCreate(store->keys_dir())).value();
  auto master_key = std::move(ledger::MasterKey::LoadOrCreate(store->keys_dir())).value();
  ledger::Sequencer sequencer(store.get(), &signing_key, Apply, {});
  REQUIRE(sequencer.Start().ok());
  EscrowService service(store.get(), &sequencer, &master_key);
  REQUIRE(service.EnsureInitialPolicy().ok());
  REQUIRE(service.CreateAccount(kSystem, "admin", {"admin"}, "Admin", "hash").ok());
  REQUIRE(service.CreateAccount(kAdmin, "alice", {"user"}, "Alice", "hash").ok());
  REQUIRE(service.RegisterDevice(kAdmin, "phone-1", "alice", kTokenTtlNs).ok());
  REQUIRE(service.RegisterDevice(kAdmin, "phone-2", "alice", kTokenTtlNs).ok());
  sequencer.Stop();
}

// Appends an entry that Apply rejects, then a valid one after it, with a
// sequencer that applies nothing, so the live projections stay as they were.
void AppendUnappliableEntry(const std::string& data_dir) {
  auto store = std::move(ledger::Store::Open(data_dir)).value();
  auto signing_key = std::move(ledger::SigningKey::LoadOrCreate(store->keys_dir())).value();
  ledger::Sequencer sequencer(store.get(), &signing_key, nullptr, {});
  REQUIRE(sequencer.Start().ok());
  ledger::EventDraft unknown;
  unknown.type = kUnknownEventType;
  unknown.subject = "phone-1";
  unknown.payload = "not a payload";
  REQUIRE(sequencer.Run([&](ledger::Transaction& tx) { return tx.Append(unknown).status(); })
              .ok());
  ledger::EventDraft rotation =
      ledger::MakeDraft(ledger::RotationRequested{"phone-2", "admin"}, ledger::ActorKind::kAccount,
                        "admin", "phone-2");
  REQUIRE(sequencer.Run([&](ledger::Transaction& tx) { return tx.Append(rotation).status(); })
              .ok());
  sequencer.Stop();
}

// Changes one device record and adds one key that no event writes.
void TamperWithProjections(const std::string& data_dir) {
  auto store = std::move(ledger::Store::Open(data_dir)).value();
  DeviceRecord tampered = GetDevice(*store, "phone-1").value().value();
  tampered.owner = "mallory";
  REQUIRE(store->Put(ledger::Cf::kProjectionDevices, "phone-1", EncodeRecord(tampered)).ok());
  REQUIRE(store->Put(ledger::Cf::kProjectionAudit, "zz-extra", "x").ok());
}

}  // namespace

TEST_CASE("rebuild replace equals fresh rebuild") {
  testing::TempDir dir;
  WriteLedger(dir.path());
  const Snapshot written = TakeSnapshot(dir.path());
  REQUIRE(written.at("projection.devices").size() == 2);
  TamperWithProjections(dir.path());
  REQUIRE(TakeSnapshot(dir.path()) != written);

  auto replaced = RebuildProjections(dir.path(), true);
  REQUIRE(replaced.ok());
  CHECK_FALSE(replaced->equal);
  CHECK(replaced->first_difference.starts_with("projection.devices: key "));

  // The projector wrote `written` live, so a fresh rebuild produces it too.
  CHECK(TakeSnapshot(dir.path()) == written);
  auto again = RebuildProjections(dir.path(), false);
  REQUIRE(again.ok());
  CHECK(again->equal);
  CHECK(again->first_difference.empty());
  auto store = std::move(ledger::Store::Open(dir.path())).value();
  CHECK(GetDevice(*store, "phone-1").value().value().owner == "alice");
}

TEST_CASE("failed rebuild leaves projections untouched") {
  testing::TempDir dir;
  WriteLedger(dir.path());
  TamperWithProjections(dir.path());
  AppendUnappliableEntry(dir.path());
  const Snapshot before = TakeSnapshot(dir.path());

  auto failed = RebuildProjections(dir.path(), true);
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.status().message(), Catch::Contains("unknown event type 65535"));

  const Snapshot after = TakeSnapshot(dir.path());
  CHECK(after == before);
  CHECK(after.at("projection.audit").count("zz-extra") == 1);
  auto store = std::move(ledger::Store::Open(dir.path())).value();
  CHECK(GetDevice(*store, "phone-1").value().value().owner == "mallory");
}
