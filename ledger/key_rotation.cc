#include "ledger/key_rotation.h"

#include <memory>

#include "ledger/log.h"

namespace escrow::ledger {

Result<SigningKeyRotated> MakeSigningKeyRotated(const SigningKey& old_key,
                                                const SigningKey& new_key) {
  auto proof = new_key.Sign(old_key.key_id());
  if (!proof.ok()) return proof.status();
  SigningKeyRotated event;
  event.new_key_id = new_key.key_id();
  event.new_public_key = new_key.public_key();
  event.new_key_signature = std::move(*proof);
  return event;
}

Result<SigningKeyRotation> RotateSigningKey(Sequencer& sequencer, ActorKind actor_kind,
                                            std::string actor_id) {
  auto new_key = std::make_shared<const SigningKey>(SigningKey::Generate());
  SigningKeyRotation rotation;
  Status status = sequencer.Run([&](Transaction& tx) -> Status {
    // The key in force now signs this entry; AppendKeyRotation fails if an
    // earlier command of the group already staged another key.
    std::shared_ptr<const SigningKey> old_key = sequencer.signing_key();
    auto event = MakeSigningKeyRotated(*old_key, *new_key);
    if (!event.ok()) return event.status();
    EventDraft draft = MakeDraft(*event, actor_kind, actor_id, std::string(kSigningKeySubject));
    auto entry = sequencer.AppendKeyRotation(tx, new_key, draft);
    if (!entry.ok()) return entry.status();
    rotation = {entry->seq, old_key->key_id(), new_key->key_id(), new_key->public_key()};
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return rotation;
}

Result<std::string> KeyIdInForceAfter(const Entry& e) {
  if (e.type != static_cast<uint16_t>(EventType::kSigningKeyRotated)) return e.key_id;
  auto rotated = DecodePayload<SigningKeyRotated>(e.payload);
  if (!rotated.ok()) {
    return Internal("SigningKeyRotated entry " + std::to_string(e.seq) +
                    " is unreadable: " + rotated.status().message());
  }
  return rotated->new_key_id;
}

}  // namespace escrow::ledger
