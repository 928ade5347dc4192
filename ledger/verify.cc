#include "ledger/verify.h"

#include "ledger/crypto.h"
#include "ledger/entry.h"
#include "ledger/events.h"
#include "ledger/keys.h"

namespace escrow::ledger {
namespace {

constexpr uint64_t kProgressEvery = 4096;

VerifyReport Fail(VerifyReport report, uint64_t seq, std::string error) {
  report.ok = false;
  report.first_bad_seq = seq;
  report.error = std::move(error);
  return report;
}

}  // namespace

VerifyReport VerifyLedger(const Store& store, std::string_view trusted_public_key,
                          const std::function<void(uint64_t)>& progress) {
  VerifyReport report;
  std::string public_key(trusted_public_key);
  std::string key_id = KeyIdOf(public_key);
  auto verifier = crypto::Ed25519Key::FromPublic(public_key);
  if (!verifier.ok()) return Fail(report, 1, "trusted key: " + verifier.status().message());
  std::string prev_hash(crypto::kSha256Size, '\0');
  uint64_t expected_seq = 1;

  auto it = store.NewIterator(Cf::kLedger);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view key = it->key().ToStringView();
    std::string_view bytes = it->value().ToStringView();

    // Step 1: the key is the next seq, with no gap.
    if (key.size() != 8) return Fail(report, expected_seq, "ledger key is not 8 bytes");
    uint64_t key_seq = SeqFromKey(key);
    if (key_seq != expected_seq) {
      return Fail(report, expected_seq,
                  "entry " + std::to_string(expected_seq) + " is missing (next stored seq is " +
                      std::to_string(key_seq) + ")");
    }

    // Step 2: parse the stored bytes and check the fields against the key and chain.
    auto decoded = DecodeEntry(bytes);
    if (!decoded.ok()) return Fail(report, key_seq, decoded.status().message());
    const Entry& e = decoded->entry;
    if (e.seq != key_seq) {
      return Fail(report, key_seq, "entry claims seq " + std::to_string(e.seq));
    }
    if (e.prev_hash != prev_hash) {
      return Fail(report, key_seq, "prev_hash does not match the leaf hash of the previous entry");
    }

    // Step 3: re-hash the stored body and check the signature with the key in force.
    std::string leaf = LeafHash(decoded->body);
    if (e.key_id != key_id) {
      return Fail(report, key_seq, "signed by key " + e.key_id + ", expected " + key_id);
    }
    if (!verifier->Verify(SignatureMessage(leaf), e.signature)) {
      return Fail(report, key_seq, "signature does not verify");
    }

    // Step 4: a key rotation hands trust to the new key for later entries.
    if (e.type == static_cast<uint16_t>(EventType::kSigningKeyRotated)) {
      auto rotated = DecodePayload<SigningKeyRotated>(e.payload);
      if (!rotated.ok()) return Fail(report, key_seq, rotated.status().message());
      if (!crypto::Ed25519Verify(rotated->new_public_key, key_id, rotated->new_key_signature) ||
          KeyIdOf(rotated->new_public_key) != rotated->new_key_id) {
        return Fail(report, key_seq, "key rotation does not prove possession of the new key");
      }
      auto next = crypto::Ed25519Key::FromPublic(rotated->new_public_key);
      if (!next.ok()) return Fail(report, key_seq, "rotated key: " + next.status().message());
      public_key = rotated->new_public_key;
      key_id = rotated->new_key_id;
      verifier = std::move(next);
    }

    prev_hash = std::move(leaf);
    report.entries++;
    report.head_leaf_hash = prev_hash;
    expected_seq++;
    if (progress && report.entries % kProgressEvery == 0) progress(report.entries);
  }
  if (!it->status().ok()) {
    return Fail(report, expected_seq, "cannot read the ledger: " + it->status().ToString());
  }
  return report;
}

}  // namespace escrow::ledger
