// Ledger signing-key rotation.
//
// A rotation is one SigningKeyRotated entry (ledger/events.h): it names the
// new key (key id and public key) and carries the new key's Ed25519
// signature over the old key id, which proves possession of the new private
// key. The entry itself is signed by the old key, like every entry before
// it. Every later entry and every checkpoint of a tree that contains it is
// signed by the new key. An auditor who trusts the first key
// (keys/ledger-signing.pub) follows the chain of rotations from there
// (ledger/verify.h). The key files are described in ledger/keys.h.
//
// Thread safety: RotateSigningKey is safe from any thread; the sequencer
// serializes rotations with every other write.
#pragma once

#include <cstdint>
#include <string>

#include "ledger/entry.h"
#include "ledger/events.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/status.h"

namespace escrow::ledger {

// The subject of every SigningKeyRotated entry.
constexpr std::string_view kSigningKeySubject = "ledger-signing-key";

struct SigningKeyRotation {
  uint64_t seq = 0;            // the SigningKeyRotated entry
  std::string old_key_id;      // signed that entry
  std::string new_key_id;      // signs every later entry
  std::string new_public_key;  // 32 bytes
};

// Returns the event that hands over from old_key to new_key.
Result<SigningKeyRotated> MakeSigningKeyRotated(const SigningKey& old_key,
                                                const SigningKey& new_key);

// Generates a new signing key and records the rotation to it through
// sequencer, on behalf of actor. Returns once the entry has committed and
// the new key is in force.
Result<SigningKeyRotation> RotateSigningKey(Sequencer& sequencer, ActorKind actor_kind,
                                            std::string actor_id);

// Returns the id of the key that signs the entry after e: the new key when e
// is a SigningKeyRotated entry, otherwise e's own key id.
Result<std::string> KeyIdInForceAfter(const Entry& e);

}  // namespace escrow::ledger
