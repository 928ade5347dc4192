// Checkpointer: writes signed checkpoints (ledger/checkpoint.h) of the
// committed ledger every `every_entries` entries or `every_seconds` seconds,
// and on request.
//
// Before signing, it re-reads every entry added since the previous
// checkpoint, recomputes its leaf hash from the stored bytes and compares it
// with the stored Merkle leaf, so a checkpoint never vouches for a hash it
// did not recompute. The projection digest is taken from the same RocksDB
// snapshot as the tree size, so it describes the state at exactly that size.
//
// A checkpoint is signed by the key in force at its tree size: the key that
// signs the next entry (KeyIdInForceAfter in ledger/key_rotation.h). Its
// origin line names the first signing key (keys/ledger-signing.pub), so the
// origin stays the same across key rotations.
//
// Thread safety: WriteNow and the reads are safe from any thread; a mutex
// serializes checkpoint writes.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ledger/checkpoint.h"
#include "ledger/keys.h"
#include "ledger/store.h"

namespace escrow::ledger {

// SHA-256 over every projection column family as of snapshot: for each CF in
// ProjectionCfs() order, for each key in order, uint32 BE key length ‖ key ‖
// uint32 BE value length ‖ value, each CF introduced by its name and a NUL.
std::string ProjectionDigest(const Store& store, const rocksdb::Snapshot* snapshot);

// Reads the signed checkpoint note stored for tree_size, if any.
Result<std::optional<std::string>> ReadCheckpoint(const Store& store, uint64_t tree_size);
// Returns the newest stored checkpoint note, if any.
Result<std::optional<std::string>> LatestCheckpoint(const Store& store);
// Returns the first stored checkpoint whose tree size is at least `size`.
Result<std::optional<std::string>> FirstCheckpointCovering(const Store& store, uint64_t size);

class Checkpointer {
 public:
  struct Options {
    uint64_t every_entries = 1000;
    int every_seconds = 60;
  };

  // Signs with key, or after a rotation with the key in keys/ledger-signing.key.
  // NOTE: a checkpoint requested while a rotation commits can fail once,
  // before the new key file is in place; the lookup constructor has no gap.
  Checkpointer(Store* store, const SigningKey* key, Options options);
  // Signs with the key lookup returns for the key id in force; escrowd passes
  // Sequencer::FindSigningKey.
  Checkpointer(Store* store, SigningKeyLookup lookup, Options options);
  ~Checkpointer();

  // Starts the background thread.
  void Start();
  void Stop();

  // Writes a checkpoint of the current committed ledger unless one exists
  // for that size. Returns the note.
  Result<std::string> WriteNow();

 private:
  void Loop();
  // Returns the key in force at tree size `size` and the origin line.
  Result<std::shared_ptr<const SigningKey>> KeyInForceAt(uint64_t size) const;
  std::string Origin(const SigningKey& key_in_force) const;

  Store* store_;
  SigningKeyLookup lookup_;
  Options options_;

  std::mutex write_mu_;            // serializes WriteNow
  uint64_t verified_size_ = 0;     // guarded by write_mu_: leaves already re-hashed

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace escrow::ledger
