// Signed notes and checkpoint text, pinned by the C2SP signed-note vector.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include "ledger/checkpoint.h"
#include "ledger/crypto.h"
#include "ledger/keys.h"
#include "tests/test_support.h"

using namespace escrow;
using namespace escrow::ledger;

namespace {

// Returns the NOTE field -> value pairs of the RFC 9162 vectors file.
std::map<std::string, std::string> NoteVector() {
  std::ifstream in(testing::SourcePath("tests/data/rfc9162-vectors.txt"));
  std::map<std::string, std::string> fields;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("NOTE ", 0) != 0) continue;
    std::istringstream words(line.substr(5));
    std::string field, value;
    words >> field >> value;
    fields[field] = value;
  }
  return fields;
}

}  // namespace

TEST_CASE("signed note matches the published vector") {
  auto v = NoteVector();
  REQUIRE(v.count("ed25519_seed_hex") == 1);
  std::string text = crypto::HexDecode(v["text_hex"]).value();
  SigningKey key =
      SigningKey::FromPrivate(crypto::SecretString(crypto::HexDecode(v["ed25519_seed_hex"]).value()));
  CHECK(crypto::HexEncode(key.public_key()) == v["ed25519_pubkey_hex"]);
  CHECK(crypto::HexEncode(NoteKeyHash("PeterNeumann", key.public_key())) == v["key_id_hex"]);
  CHECK(NoteVerifierKey("PeterNeumann", key.public_key()) == v["verifier_key"]);

  auto note = SignNote(text, "PeterNeumann", key);
  REQUIRE(note.ok());
  CHECK(*note == text + "\n\xe2\x80\x94 PeterNeumann " + v["sig_line_b64"] + "\n");
  auto blob = crypto::Base64Decode(v["sig_line_b64"]).value();
  CHECK(crypto::HexEncode(blob.substr(4)) == v["ed25519_sig_hex"]);

  auto opened = OpenNote(*note, "PeterNeumann", key.public_key());
  REQUIRE(opened.ok());
  CHECK(*opened == text);
}

TEST_CASE("signed note rejects tampering and other keys") {
  SigningKey key = SigningKey::FromPrivate(crypto::GenerateEd25519().private_key);
  std::string note = SignNote("origin\n5\nAAAA\n", "origin", key).value();

  SECTION("text changed") {
    std::string bad = note;
    bad[7] = '6';
    CHECK(OpenNote(bad, "origin", key.public_key()).status().code() == Code::kUnauthenticated);
  }
  SECTION("other key") {
    auto other = crypto::GenerateEd25519();
    CHECK(OpenNote(note, "origin", other.public_key).status().message() ==
          "note has no signature by origin");
  }
  SECTION("no signature block") {
    CHECK(OpenNote("origin\n5\n", "origin", key.public_key()).status().code() ==
          Code::kInvalidArgument);
  }
}

TEST_CASE("checkpoint text round-trips") {
  Checkpoint c;
  c.origin = "escrow-ledger/ed25519:0011223344556677";
  c.tree_size = 1234;
  c.root_hash = std::string(32, '\x42');
  c.time_ns = 1'800'000'000'000'000'000;
  c.projection_digest = std::string(32, '\x07');
  std::string text = CheckpointText(c);
  CHECK(text.rfind("escrow-ledger/ed25519:0011223344556677\n1234\n", 0) == 0);
  auto parsed = ParseCheckpointText(text);
  REQUIRE(parsed.ok());
  CHECK(parsed->tree_size == 1234);
  CHECK(parsed->root_hash == c.root_hash);
  CHECK(parsed->time_ns == c.time_ns);
  CHECK(parsed->projection_digest == c.projection_digest);
  CHECK_FALSE(ParseCheckpointText("o\nx\nAAAA\n").ok());
}

#include "ledger/checkpointer.h"
#include "ledger/events.h"
#include "ledger/merkle.h"
#include "ledger/merkle_store.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"

namespace {

void AppendRetirements(Sequencer& sequencer, int n) {
  for (int i = 0; i < n; i++) {
    Status s = sequencer.Run([i](Transaction& tx) {
      tx.Put(Cf::kProjectionDevices, "d" + std::to_string(i), "x");
      auto e = tx.Append(MakeDraft(DeviceRetired{"d"}, ActorKind::kSystem, "", "d"));
      return e.ok() ? Status::Ok() : e.status();
    });
    REQUIRE(s.ok());
  }
}

}  // namespace

TEST_CASE("checkpointer signs the stored tree and state") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  Sequencer sequencer(store->get(), &*key, Applier{}, {});
  REQUIRE(sequencer.Start().ok());
  AppendRetirements(sequencer, 10);

  Checkpointer checkpointer(store->get(), &*key, {});
  auto note = checkpointer.WriteNow();
  REQUIRE(note.ok());
  auto text = OpenNote(*note, CheckpointOrigin(*key), key->public_key());
  REQUIRE(text.ok());
  auto c = ParseCheckpointText(*text);
  REQUIRE(c.ok());
  CHECK(c->tree_size == 10);
  CHECK(c->root_hash == StoredMerkleRoot(**store, 10).value());
  CHECK(c->projection_digest == ProjectionDigest(**store, nullptr));
  CHECK(ReadCheckpoint(**store, 10).value().value() == *note);
  CHECK(LatestCheckpoint(**store).value().value() == *note);

  SECTION("same size reuses the stored checkpoint") {
    CHECK(checkpointer.WriteNow().value() == *note);
  }
  SECTION("state digest changes with the projections") {
    std::string before = ProjectionDigest(**store, nullptr);
    REQUIRE((*store)->Put(Cf::kProjectionDevices, "d0", "y").ok());
    CHECK(ProjectionDigest(**store, nullptr) != before);
  }
  SECTION("a damaged stored leaf stops the next checkpoint") {
    AppendRetirements(sequencer, 2);
    REQUIRE((*store)->Put(Cf::kMerkle, MerkleNodeKey(0, 11), std::string(32, '\0')).ok());
    auto next = checkpointer.WriteNow();
    REQUIRE_FALSE(next.ok());
    CHECK(next.status().message() ==
          "stored Merkle leaf of entry 12 does not match the entry's bytes; refusing to sign a "
          "checkpoint");
  }
  sequencer.Stop();
}

#include "ledger/verify.h"

TEST_CASE("verify checks checkpoints against recomputed roots") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  Sequencer sequencer(store->get(), &*key, Applier{}, {});
  REQUIRE(sequencer.Start().ok());
  Checkpointer checkpointer(store->get(), &*key, {});
  AppendRetirements(sequencer, 5);
  REQUIRE(checkpointer.WriteNow().ok());
  AppendRetirements(sequencer, 4);
  REQUIRE(checkpointer.WriteNow().ok());
  sequencer.Stop();

  auto report = VerifyLedger(**store, key->public_key());
  CHECK(report.ok);
  CHECK(report.entries == 9);
  CHECK(report.checkpoints == 2);
  CHECK(report.root_hash == StoredMerkleRoot(**store, 9).value());

  SECTION("a checkpoint with another root is rejected") {
    Checkpoint forged;
    forged.origin = CheckpointOrigin(*key);
    forged.tree_size = 5;
    forged.root_hash = std::string(32, '\x01');
    std::string note = SignNote(CheckpointText(forged), forged.origin, *key).value();
    REQUIRE((*store)->Put(Cf::kCheckpoints, SeqKey(5), note).ok());
    auto bad = VerifyLedger(**store, key->public_key());
    CHECK_FALSE(bad.ok);
    CHECK(bad.first_bad_seq == 5);
    CHECK(bad.error == "checkpoint at tree size 5: root hash does not match the entries");
  }
  SECTION("a checkpoint signed by another key is rejected") {
    std::string note = ReadCheckpoint(**store, 9).value().value();
    SigningKey other = SigningKey::FromPrivate(crypto::GenerateEd25519().private_key);
    std::string text = note.substr(0, note.find("\n\n") + 1);
    REQUIRE((*store)->Put(Cf::kCheckpoints, SeqKey(9),
                          SignNote(text, CheckpointOrigin(*key), other).value()).ok());
    auto bad = VerifyLedger(**store, key->public_key());
    CHECK(bad.first_bad_seq == 9);
  }
  SECTION("integrity-only mode skips signatures") {
    std::string bytes = (*store)->ReadEntry(3).value().value();
    bytes.back() ^= 1;
    REQUIRE((*store)->Put(Cf::kLedger, SeqKey(3), bytes).ok());
    VerifyOptions fast;
    fast.check_signatures = false;
    CHECK(VerifyLedger(**store, key->public_key(), fast).ok);
    CHECK(VerifyLedger(**store, key->public_key()).first_bad_seq == 3);
  }
}

TEST_CASE("parallel signature checks name the lowest bad seq") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  {
    Sequencer sequencer(store->get(), &*key, Applier{}, {});
    REQUIRE(sequencer.Start().ok());
    // 20,000 entries: more than one 16,384-entry signature chunk.
    for (int g = 0; g < 20; g++) {
      REQUIRE(sequencer
                  .Run([](Transaction& tx) {
                    for (int i = 0; i < 1000; i++) {
                      auto e = tx.Append(MakeDraft(DeviceRetired{"d"}, ActorKind::kSystem, "", "d"));
                      if (!e.ok()) return e.status();
                    }
                    return Status::Ok();
                  })
                  .ok());
    }
  }
  CHECK(VerifyLedger(**store, key->public_key()).entries == 20000);
  for (uint64_t seq : {17000u, 3000u}) {
    std::string bytes = (*store)->ReadEntry(seq).value().value();
    bytes.back() ^= 1;
    REQUIRE((*store)->Put(Cf::kLedger, SeqKey(seq), bytes).ok());
  }
  VerifyOptions options;
  options.threads = 2;
  auto report = VerifyLedger(**store, key->public_key(), options);
  CHECK_FALSE(report.ok);
  CHECK(report.first_bad_seq == 3000);
  CHECK(report.error == "signature does not verify");
}

TEST_CASE("verify checks checkpoints inside and at the edges of read ranges") {
  // Verify reads 16,384-seq ranges and builds each range's Merkle tree on
  // the thread that read it. Checkpoints inside a range, on its first and
  // last entry, and past the second round must all see the right root.
  const std::vector<uint64_t> sizes = {1, 5000, 16383, 16384, 16385, 32768, 40000};
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  {
    Sequencer sequencer(store->get(), &*key, Applier{}, {});
    REQUIRE(sequencer.Start().ok());
    Checkpointer checkpointer(store->get(), &*key, {});
    uint64_t size = 0;
    for (uint64_t target : sizes) {
      while (size < target) {
        const uint64_t batch = std::min<uint64_t>(target - size, 1000);
        REQUIRE(sequencer
                    .Run([batch](Transaction& tx) {
                      for (uint64_t i = 0; i < batch; i++) {
                        auto e = tx.Append(
                            MakeDraft(DeviceRetired{"d"}, ActorKind::kSystem, "", "d"));
                        if (!e.ok()) return e.status();
                      }
                      return Status::Ok();
                    })
                    .ok());
        size += batch;
      }
      REQUIRE(checkpointer.WriteNow().ok());
    }
    sequencer.Stop();
  }

  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    VerifyOptions options;
    options.threads = threads;
    options.check_signatures = false;
    auto report = VerifyLedger(**store, key->public_key(), options);
    CHECK(report.ok);
    CHECK(report.error == "");
    CHECK(report.entries == 40000);
    CHECK(report.checkpoints == sizes.size());
    CHECK(report.root_hash == StoredMerkleRoot(**store, 40000).value());
    const std::string last = (*store)->ReadEntry(40000).value().value();
    CHECK(report.head_leaf_hash == LeafHash(DecodeEntry(last).value().body));
  }

  // A checkpoint whose root is off, at each kind of position, is named.
  for (uint64_t bad_size : {5000u, 16384u, 16385u, 40000u}) {
    CAPTURE(bad_size);
    std::string good = ReadCheckpoint(**store, bad_size).value().value();
    Checkpoint forged;
    forged.origin = CheckpointOrigin(*key);
    forged.tree_size = bad_size;
    // The root of the tree one entry shorter: right leaves, wrong size.
    forged.root_hash = StoredMerkleRoot(**store, bad_size - 1).value();
    REQUIRE((*store)->Put(Cf::kCheckpoints, SeqKey(bad_size),
                          SignNote(CheckpointText(forged), forged.origin, *key).value()).ok());
    VerifyOptions options;
    options.threads = 2;
    auto bad = VerifyLedger(**store, key->public_key(), options);
    CHECK_FALSE(bad.ok);
    CHECK(bad.first_bad_seq == bad_size);
    CHECK(bad.error == "checkpoint at tree size " + std::to_string(bad_size) +
                           ": root hash does not match the entries");
    REQUIRE((*store)->Put(Cf::kCheckpoints, SeqKey(bad_size), good).ok());
  }
  CHECK(VerifyLedger(**store, key->public_key()).ok);
}

#include <filesystem>

#include "ledger/export.h"

TEST_CASE("export round-trips and verifies offline") {
  testing::TempDir dir;
  std::string path = dir.path() + "/ledger.export";
  {
    auto store = Store::Open(dir.path() + "/data");
    REQUIRE(store.ok());
    auto key = SigningKey::LoadOrCreate((*store)->keys_dir());
    REQUIRE(key.ok());
    Sequencer sequencer(store->get(), &*key, Applier{}, {});
    REQUIRE(sequencer.Start().ok());
    Checkpointer checkpointer(store->get(), &*key, {});
    AppendRetirements(sequencer, 6);
    REQUIRE(checkpointer.WriteNow().ok());
    AppendRetirements(sequencer, 3);
    sequencer.Stop();
    auto summary = WriteExport(**store, key->public_key(), path);
    REQUIRE(summary.ok());
    CHECK(summary->entries == 9);
    CHECK(summary->checkpoints == 1);
  }
  auto report = VerifyExport(path);
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->entries == 9);
  CHECK(report->checkpoints == 1);

  SECTION("truncated tail") {
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 30);
    auto bad = VerifyExport(path);
    REQUIRE(bad.ok());
    CHECK_FALSE(bad->ok);
    CHECK(bad->error.find("truncated") != std::string::npos);
  }
  SECTION("not an export") {
    std::ofstream(path, std::ios::trunc) << "hello";
    CHECK(VerifyExport(path).status().code() == Code::kInvalidArgument);
  }
}
