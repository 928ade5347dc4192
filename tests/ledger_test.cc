// Ledger entry encoding, the sequencer's append path, reopen and verify,
// and tamper detection on a real RocksDB data directory.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <thread>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/entry.h"
#include "ledger/events.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "ledger/verify.h"
#include "tests/test_support.h"

using namespace escrow;
using namespace escrow::ledger;

namespace {

Entry SampleEntry() {
  Entry e;
  e.seq = 7;
  e.prev_hash = std::string(32, '\x11');
  e.time_ns = 1'700'000'000'000'000'000;
  e.type = static_cast<uint16_t>(EventType::kRecoveryPasswordArmed);
  e.schema_version = 1;
  e.actor_kind = ActorKind::kDevice;
  e.actor_id = "dev-1";
  e.subject = "dev-1";
  e.payload = EncodePayload(RecoveryPasswordArmed{"dev-1", 3});
  e.origin_request = "POST /gw/v1/events\n{}";
  e.origin_signature = std::string(64, '\x22');
  e.key_id = "ed25519:0001020304050607";
  return e;
}

// Appends n PolicyChanged events through the sequencer, one command each.
void AppendPolicies(Sequencer& sequencer, int n) {
  for (int i = 0; i < n; i++) {
    Policy policy;
    policy.check_in_interval_s = 3600 + static_cast<uint64_t>(i);
    Status s = sequencer.Run([&](Transaction& tx) {
      auto e = tx.Append(MakeDraft(PolicyChanged{policy}, ActorKind::kSystem, "", "policy"));
      return e.ok() ? Status::Ok() : e.status();
    });
    REQUIRE(s.ok());
  }
}

}  // namespace

TEST_CASE("entry encoding is pinned byte for byte") {
  Entry e = SampleEntry();
  crypto::SecretString seed(std::string(32, '\x01'));
  SigningKey key = SigningKey::FromPrivate(std::move(seed));
  e.key_id = key.key_id();
  std::string body = EncodeBody(e);
  e.signature = key.Sign(SignatureMessage(LeafHash(body))).value();
  std::string bytes = EncodeEntry(e);

  // format_version 1, seq 7, prev_hash 0x11 * 32, then time, type 7, schema 1, actor kind 1.
  CHECK(crypto::HexEncode(bytes.substr(0, 10)) == "00010000000000000007");
  CHECK(bytes.substr(10, 32) == std::string(32, '\x11'));
  CHECK(crypto::HexEncode(bytes.substr(42, 13)) == "17979cfe362a00000007000101");
  CHECK(crypto::HexEncode(bytes.substr(55, 9)) == "000000056465762d31");
  CHECK(bytes.size() == body.size() + 64);
  CHECK(crypto::HexEncode(LeafHash(body)) ==
        "9f94a7ed93d4d857c9aacc9fae60ce2ee058df2b7946adcd7e6f3b8733a7d03b");
  CHECK(crypto::HexEncode(crypto::Sha256(bytes)) == "95d3add44b71a2be643dd487a0be4b21b9ae16dcc458e69b5722fb3254de65b9");
}

TEST_CASE("entry decode round-trips and rejects damage") {
  Entry e = SampleEntry();
  e.signature = std::string(64, '\x33');
  std::string bytes = EncodeEntry(e);
  auto decoded = DecodeEntry(bytes);
  REQUIRE(decoded.ok());
  CHECK(decoded->entry == e);
  CHECK(decoded->body == std::string_view(bytes).substr(0, bytes.size() - 64));

  SECTION("truncated") {
    CHECK_FALSE(DecodeEntry(std::string_view(bytes).substr(0, bytes.size() - 1)).ok());
    CHECK_FALSE(DecodeEntry(std::string_view(bytes).substr(0, 20)).ok());
  }
  SECTION("trailing byte") { CHECK_FALSE(DecodeEntry(bytes + "x").ok()); }
  SECTION("unknown format version") {
    std::string bad = bytes;
    bad[1] = 2;
    auto r = DecodeEntry(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "unknown entry format version 2");
  }
}

TEST_CASE("payload decode reports malformed bytes") {
  std::string payload = EncodePayload(RecoveryPasswordRetrieved{"dev-9", 2, "cli", "T-1"});
  auto ok = DecodePayload<RecoveryPasswordRetrieved>(payload);
  REQUIRE(ok.ok());
  CHECK(ok->device_id == "dev-9");
  CHECK(ok->generation == 2);
  CHECK(ok->reason == "T-1");
  CHECK_FALSE(DecodePayload<RecoveryPasswordRetrieved>(payload.substr(0, 10)).ok());
  CHECK_FALSE(DecodePayload<RecoveryPasswordRetrieved>(payload + "zz").ok());
}

TEST_CASE("sequencer appends, reopens and continues the chain") {
  testing::TempDir dir;
  std::string head_before;
  {
    auto store = Store::Open(dir.path());
    REQUIRE(store.ok());
    auto key = SigningKey::LoadOrCreate((*store)->keys_dir());
    REQUIRE(key.ok());
    Sequencer sequencer(store->get(), &*key, Applier{}, {});
    REQUIRE(sequencer.Start().ok());
    AppendPolicies(sequencer, 5);
    CHECK(sequencer.committed_seq() == 5);
    sequencer.Stop();
    auto report = VerifyLedger(**store, key->public_key());
    CHECK(report.ok);
    CHECK(report.entries == 5);
    head_before = report.head_leaf_hash;
  }
  auto store = Store::Open(dir.path());
  REQUIRE(store.ok());
  auto key = SigningKey::LoadOrCreate((*store)->keys_dir());
  REQUIRE(key.ok());
  Sequencer sequencer(store->get(), &*key, Applier{}, {});
  REQUIRE(sequencer.Start().ok());
  AppendPolicies(sequencer, 3);
  sequencer.Stop();

  auto entry6 = DecodeEntry((*store)->ReadEntry(6).value().value());
  REQUIRE(entry6.ok());
  CHECK(entry6->entry.prev_hash == head_before);
  auto pub = LoadLedgerPublicKey((*store)->keys_dir());
  REQUIRE(pub.ok());
  auto report = VerifyLedger(**store, *pub);
  CHECK(report.ok);
  CHECK(report.entries == 8);
}

TEST_CASE("key files are private") {
  testing::TempDir dir;
  auto store = Store::Open(dir.path());
  REQUIRE(store.ok());
  REQUIRE(SigningKey::LoadOrCreate((*store)->keys_dir()).ok());
  REQUIRE(MasterKey::LoadOrCreate((*store)->keys_dir()).ok());
  struct stat st;
  REQUIRE(::stat(((*store)->keys_dir() + "/ledger-signing.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(((*store)->keys_dir() + "/master.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((*store)->keys_dir().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("group commit serves concurrent writers") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  Sequencer sequencer(store->get(), &*key, Applier{}, {});
  REQUIRE(sequencer.Start().ok());

  std::vector<std::thread> writers;
  for (int t = 0; t < 16; t++) writers.emplace_back([&] { AppendPolicies(sequencer, 10); });
  for (auto& w : writers) w.join();
  CHECK(sequencer.committed_seq() == 160);
  CHECK(sequencer.groups_committed() <= 160);
  sequencer.Stop();
  auto report = VerifyLedger(**store, key->public_key());
  CHECK(report.ok);
  CHECK(report.entries == 160);
}

TEST_CASE("failed command is rolled back, others commit") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  Sequencer sequencer(store->get(), &*key, Applier{}, {});
  REQUIRE(sequencer.Start().ok());
  Status failed = sequencer.Run([](Transaction& tx) {
    auto e = tx.Append(MakeDraft(DeviceRetired{"dev-1"}, ActorKind::kSystem, "", "dev-1"));
    REQUIRE(e.ok());
    tx.Put(Cf::kOperational, "k", "v");
    return Conflict("rejected after appending");
  });
  CHECK(failed.code() == Code::kConflict);
  AppendPolicies(sequencer, 1);
  sequencer.Stop();
  CHECK((*store)->LastSeq().value() == 1);
  CHECK_FALSE((*store)->Get(Cf::kOperational, "k").value().has_value());
  auto report = VerifyLedger(**store, key->public_key());
  CHECK(report.ok);
  CHECK(report.entries == 1);
}

TEST_CASE("verify names the first tampered seq") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  {
    Sequencer sequencer(store->get(), &*key, Applier{}, {});
    REQUIRE(sequencer.Start().ok());
    AppendPolicies(sequencer, 10);
  }

  SECTION("one byte of one payload flipped") {
    std::string bytes = (*store)->ReadEntry(4).value().value();
    bytes[70] ^= 0x01;
    REQUIRE((*store)->Put(Cf::kLedger, SeqKey(4), bytes).ok());
    auto report = VerifyLedger(**store, key->public_key());
    CHECK_FALSE(report.ok);
    CHECK(report.first_bad_seq == 4);
    CHECK(report.entries == 3);
  }
  SECTION("signature byte flipped") {
    std::string bytes = (*store)->ReadEntry(9).value().value();
    bytes.back() ^= 0x80;
    REQUIRE((*store)->Put(Cf::kLedger, SeqKey(9), bytes).ok());
    auto report = VerifyLedger(**store, key->public_key());
    CHECK(report.first_bad_seq == 9);
    CHECK(report.error == "signature does not verify");
  }
  SECTION("entry deleted") {
    REQUIRE((*store)->Delete(Cf::kLedger, SeqKey(6)).ok());
    auto report = VerifyLedger(**store, key->public_key());
    CHECK(report.first_bad_seq == 6);
  }
  SECTION("entry re-signed with another key") {
    auto decoded = DecodeEntry((*store)->ReadEntry(2).value().value());
    REQUIRE(decoded.ok());
    auto other = SigningKey::FromPrivate(crypto::GenerateEd25519().private_key);
    Entry e = decoded->entry;
    e.key_id = key->key_id();
    e.signature = other.Sign(SignatureMessage(LeafHash(EncodeBody(e)))).value();
    REQUIRE((*store)->Put(Cf::kLedger, SeqKey(2), EncodeEntry(e)).ok());
    auto report = VerifyLedger(**store, key->public_key());
    CHECK(report.first_bad_seq == 2);
  }
  SECTION("wrong trusted key") {
    auto other = crypto::GenerateEd25519();
    auto report = VerifyLedger(**store, other.public_key);
    CHECK(report.first_bad_seq == 1);
  }
}
