// Sequencer: the signing key in force and its rotation (ledger/sequencer.h).
#include "ledger/key_rotation.h"
#include "ledger/log.h"
#include "ledger/sequencer.h"

namespace escrow::ledger {

std::shared_ptr<const SigningKey> Sequencer::signing_key() const {
  std::lock_guard<std::mutex> lock(key_mu_);
  return current_key_;
}

std::shared_ptr<const SigningKey> Sequencer::FindSigningKey(std::string_view key_id) const {
  std::lock_guard<std::mutex> lock(key_mu_);
  for (const auto& key : known_keys_) {
    if (key->key_id() == key_id) return key;
  }
  return nullptr;
}

const SigningKey& Sequencer::KeyForSeq(uint64_t seq) {
  // A staged rotation whose entry was rolled back hands over nothing: the
  // seq it took is being handed out again.
  if (staged_key_ && seq <= staged_seq_) {
    Logger("ledger")->warn("signing-key rotation at seq {} was rolled back; keeping key {}",
                           staged_seq_, current_key_->key_id());
    DiscardNextSigningKey(store_->keys_dir());
    staged_key_.reset();
  }
  // Only this thread writes current_key_, so it reads it without key_mu_.
  return staged_key_ ? *staged_key_ : *current_key_;
}

Result<Entry> Sequencer::AppendKeyRotation(Transaction& tx,
                                           std::shared_ptr<const SigningKey> new_key,
                                           const EventDraft& draft) {
  // Step 1: the draft must name exactly new_key.
  if (draft.type != static_cast<uint16_t>(EventType::kSigningKeyRotated)) {
    return InvalidArgument("a key rotation must append a SigningKeyRotated event");
  }
  auto event = DecodePayload<SigningKeyRotated>(draft.payload);
  if (!event.ok()) return event.status();
  if (event->new_key_id != new_key->key_id() || event->new_public_key != new_key->public_key()) {
    return InvalidArgument("the SigningKeyRotated event does not name the new key");
  }
  if (staged_key_) {
    return FailedPrecondition("another signing-key rotation is being committed; retry");
  }

  // Step 2: the private key reaches the disk before any entry depends on it.
  const std::string keys_dir = store_->keys_dir();
  ESCROW_RETURN_IF_ERROR(WriteNextSigningKey(keys_dir, *new_key));
  auto entry = AppendLocked(tx, draft);
  if (!entry.ok()) {
    DiscardNextSigningKey(keys_dir);
    return entry.status();
  }

  // Step 3: later entries of this group are signed with the new key.
  staged_key_ = new_key;
  staged_seq_ = entry->seq;
  std::lock_guard<std::mutex> lock(key_mu_);
  known_keys_.push_back(std::move(new_key));
  return entry;
}

void Sequencer::FinishKeyRotation() {
  if (!staged_key_) return;
  std::shared_ptr<const SigningKey> key = std::move(staged_key_);
  const uint64_t seq = staged_seq_;
  staged_key_.reset();
  staged_seq_ = 0;
  const std::string keys_dir = store_->keys_dir();

  // The group's write failed: the old key stays in force.
  if (committed_seq_.load() < seq) {
    Logger("ledger")->warn("signing-key rotation at seq {} did not commit; keeping key {}", seq,
                           current_key_->key_id());
    DiscardNextSigningKey(keys_dir);
    return;
  }

  std::string old_key_id = current_key_->key_id();
  {
    std::lock_guard<std::mutex> lock(key_mu_);
    current_key_ = key;
  }
  Status files = CommitNextSigningKey(keys_dir, *key, seq);
  if (!files.ok()) {
    // The ledger already names the new key, so it stays in force; the next
    // start finds it in keys/ledger-signing.next (AdoptKeyInForce).
    Logger("ledger")->error("signing key {} is in force from seq {} but saving it failed: {}",
                            key->key_id(), seq + 1, files.message());
  }
  Logger("ledger")->info("signing key rotated at seq {}: {} replaced by {}", seq, old_key_id,
                         key->key_id());
}

Status Sequencer::AdoptKeyInForce(const Entry& head) {
  auto in_force = KeyIdInForceAfter(head);
  if (!in_force.ok()) return in_force.status();
  if (*in_force == current_key_->key_id()) return Status::Ok();

  // A crash between a rotation's commit and the rename of its key file
  // leaves the new key in keys/ledger-signing.next.
  // NOTE: when later entries followed the rotation (its key file could not be
  // renamed while the server ran on), the history records seq 0 for it.
  const bool head_rotated = head.type == static_cast<uint16_t>(EventType::kSigningKeyRotated);
  const uint64_t rotation_seq = head_rotated ? head.seq : 0;
  auto recovered = RecoverNextSigningKey(store_->keys_dir(), *in_force, rotation_seq);
  if (!recovered.ok()) {
    return FailedPrecondition("the ledger up to seq " + std::to_string(head.seq) +
                              " hands over to signing key " + *in_force + ", but the key given " +
                              "is " + current_key_->key_id() + " and " +
                              recovered.status().message() +
                              "; restore keys/ledger-signing.key for " + *in_force);
  }
  Logger("ledger")->warn("finished the rotation to signing key {} (seq {}) after a restart",
                         *in_force, rotation_seq);
  std::lock_guard<std::mutex> lock(key_mu_);
  current_key_ = std::make_shared<const SigningKey>(std::move(*recovered));
  known_keys_.push_back(current_key_);
  return Status::Ok();
}

}  // namespace escrow::ledger
