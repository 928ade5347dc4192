// The stored Merkle tree written by the sequencer gives the same roots and
// proofs as a recomputation from the stored entries.
#include <catch2/catch.hpp>

#include "ledger/entry.h"
#include "ledger/events.h"
#include "ledger/keys.h"
#include "ledger/merkle.h"
#include "ledger/merkle_store.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "tests/test_support.h"

using namespace escrow;
using namespace escrow::ledger;

TEST_CASE("stored Merkle tree matches recomputed roots and proofs") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  Sequencer sequencer(store->get(), &*key, Applier{}, {});
  REQUIRE(sequencer.Start().ok());

  // 37 entries in groups of varying size, so nodes complete inside and across groups.
  const uint64_t kEntries = 37;
  for (uint64_t i = 0; i < kEntries;) {
    uint64_t group = 1 + i % 5;
    Status s = sequencer.Run([&](Transaction& tx) {
      for (uint64_t j = 0; j < group && i + j < kEntries; j++) {
        auto e = tx.Append(MakeDraft(DeviceRetired{"d" + std::to_string(i + j)},
                                     ActorKind::kSystem, "", "d"));
        if (!e.ok()) return e.status();
      }
      return Status::Ok();
    });
    REQUIRE(s.ok());
    i += group;
  }
  sequencer.Stop();
  REQUIRE((*store)->LastSeq().value() == kEntries);

  LeafHashAt from_entries = [&](uint64_t index) -> Result<std::string> {
    auto bytes = (*store)->ReadEntry(index + 1);
    if (!bytes.ok()) return bytes.status();
    auto decoded = DecodeEntry(**bytes);
    if (!decoded.ok()) return decoded.status();
    return LeafHash(decoded->body);
  };
  SubtreeRootAt stored = StoredSubtreeRoot(**store);

  for (uint64_t size = 0; size <= kEntries; size++) {
    INFO("tree size " << size);
    CHECK(StoredMerkleRoot(**store, size).value() == MerkleRoot(size, from_entries).value());
  }
  for (uint64_t index = 0; index < kEntries; index += 3) {
    INFO("leaf " << index);
    CHECK(InclusionProofFromSubtrees(index, kEntries, stored).value() ==
          InclusionProof(index, kEntries, from_entries).value());
  }
  for (uint64_t size1 = 1; size1 <= kEntries; size1 += 4) {
    INFO("size1 " << size1);
    auto proof = ConsistencyProofFromSubtrees(size1, kEntries, stored);
    REQUIRE(proof.ok());
    CHECK(VerifyConsistency(size1, kEntries, StoredMerkleRoot(**store, size1).value(),
                            StoredMerkleRoot(**store, kEntries).value(), *proof)
              .ok());
  }
}

TEST_CASE("missing stored node is reported") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  {
    Sequencer sequencer(store->get(), &*key, Applier{}, {});
    REQUIRE(sequencer.Start().ok());
    for (int i = 0; i < 4; i++) {
      REQUIRE(sequencer
                  .Run([](Transaction& tx) {
                    auto e = tx.Append(MakeDraft(DeviceRetired{"d"}, ActorKind::kSystem, "", "d"));
                    return e.ok() ? Status::Ok() : e.status();
                  })
                  .ok());
    }
  }
  REQUIRE((*store)->Delete(Cf::kMerkle, MerkleNodeKey(2, 0)).ok());
  auto root = StoredMerkleRoot(**store, 4);
  REQUIRE_FALSE(root.ok());
  CHECK(root.status().message() == "Merkle node at level 2 index 0 is missing or damaged");
}
