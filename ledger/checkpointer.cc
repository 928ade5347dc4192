#include "ledger/checkpointer.h"

#include <chrono>

#include "ledger/crypto.h"
#include "ledger/entry.h"
#include "ledger/key_rotation.h"
#include "ledger/log.h"
#include "ledger/merkle_store.h"

namespace escrow::ledger {
namespace {

void PutLengthPrefixed(std::string& out, std::string_view bytes) {
  uint32_t n = static_cast<uint32_t>(bytes.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  out.append(bytes);
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Highest seq in the ledger as of snapshot.
Result<uint64_t> LastSeqAt(const Store& store, const rocksdb::Snapshot* snapshot) {
  rocksdb::ReadOptions options;
  options.snapshot = snapshot;
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(options, store.cf(Cf::kLedger)));
  it->SeekToLast();
  if (!it->Valid()) {
    ESCROW_RETURN_IF_ERROR(FromRocks(it->status(), "scan ledger"));
    return uint64_t{0};
  }
  return SeqFromKey(it->key().ToStringView());
}

}  // namespace

std::string ProjectionDigest(const Store& store, const rocksdb::Snapshot* snapshot) {
  rocksdb::ReadOptions options;
  options.snapshot = snapshot;
  std::string chunk;
  crypto::Sha256Stream sha;
  for (Cf cf : ProjectionCfs()) {
    std::string header = std::string(CfName(cf)) + '\0';
    sha.Update(header);
    std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(options, store.cf(cf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      chunk.clear();
      PutLengthPrefixed(chunk, it->key().ToStringView());
      PutLengthPrefixed(chunk, it->value().ToStringView());
      sha.Update(chunk);
    }
  }
  return sha.Finish();
}

Result<std::optional<std::string>> ReadCheckpoint(const Store& store, uint64_t tree_size) {
  return store.Get(Cf::kCheckpoints, SeqKey(tree_size));
}

Result<std::optional<std::string>> LatestCheckpoint(const Store& store) {
  auto it = store.NewIterator(Cf::kCheckpoints);
  it->SeekToLast();
  if (!it->Valid()) {
    ESCROW_RETURN_IF_ERROR(FromRocks(it->status(), "scan checkpoints"));
    return std::optional<std::string>();
  }
  return std::optional<std::string>(it->value().ToString());
}

Result<std::optional<std::string>> FirstCheckpointCovering(const Store& store, uint64_t size) {
  auto it = store.NewIterator(Cf::kCheckpoints);
  it->Seek(SeqKey(size));
  if (!it->Valid()) {
    ESCROW_RETURN_IF_ERROR(FromRocks(it->status(), "scan checkpoints"));
    return std::optional<std::string>();
  }
  return std::optional<std::string>(it->value().ToString());
}

Checkpointer::Checkpointer(Store* store, const SigningKey* key, Options options)
    : store_(store), options_(options) {
  auto first = std::make_shared<const SigningKey>(key->Clone());
  lookup_ = [first, keys_dir = store->keys_dir()](
                std::string_view key_id) -> std::shared_ptr<const SigningKey> {
    if (key_id == first->key_id()) return first;
    // After a rotation commits, keys/ledger-signing.key contains the new key.
    auto current = SigningKey::Load(keys_dir);
    if (!current.ok() || current->key_id() != key_id) return nullptr;
    return std::make_shared<const SigningKey>(std::move(*current));
  };
}

Checkpointer::Checkpointer(Store* store, SigningKeyLookup lookup, Options options)
    : store_(store), lookup_(std::move(lookup)), options_(options) {}

Result<std::shared_ptr<const SigningKey>> Checkpointer::KeyInForceAt(uint64_t size) const {
  // Step 1: the key id the ledger names for the entry after `size`.
  std::string key_id;
  if (size == 0) {
    auto first = LoadLedgerPublicKey(store_->keys_dir());
    if (!first.ok()) return first.status();
    key_id = KeyIdOf(*first);
  } else {
    auto bytes = store_->ReadEntry(size);
    if (!bytes.ok()) return bytes.status();
    if (!bytes->has_value()) return Internal("entry " + std::to_string(size) + " is missing");
    auto decoded = DecodeEntry(**bytes);
    if (!decoded.ok()) return decoded.status();
    auto in_force = KeyIdInForceAfter(decoded->entry);
    if (!in_force.ok()) return in_force.status();
    key_id = std::move(*in_force);
  }

  // Step 2: this process must hold that key.
  std::shared_ptr<const SigningKey> key = lookup_(key_id);
  if (key == nullptr) {
    return FailedPrecondition("the checkpoint at tree size " + std::to_string(size) +
                              " must be signed by key " + key_id +
                              ", which this process does not hold");
  }
  return key;
}

std::string Checkpointer::Origin(const SigningKey& key_in_force) const {
  auto first = LoadLedgerPublicKey(store_->keys_dir());
  return first.ok() ? CheckpointOrigin(*first) : CheckpointOrigin(key_in_force);
}

Checkpointer::~Checkpointer() { Stop(); }

void Checkpointer::Start() { thread_ = std::thread([this] { Loop(); }); }

void Checkpointer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::string> Checkpointer::WriteNow() {
  std::lock_guard<std::mutex> lock(write_mu_);
  const rocksdb::Snapshot* snapshot = store_->db()->GetSnapshot();
  struct Release {
    Store* store;
    const rocksdb::Snapshot* snapshot;
    ~Release() { store->db()->ReleaseSnapshot(snapshot); }
  } release{store_, snapshot};

  // Step 1: the tree size as of the snapshot; reuse an existing checkpoint.
  auto size = LastSeqAt(*store_, snapshot);
  if (!size.ok()) return size.status();
  auto existing = ReadCheckpoint(*store_, *size);
  if (!existing.ok()) return existing.status();
  if (existing->has_value() && *size > 0) return std::move(**existing);

  // Step 2: recompute the leaf hashes added since the last verified size.
  for (uint64_t seq = verified_size_ + 1; seq <= *size; seq++) {
    auto bytes = store_->ReadEntry(seq);
    if (!bytes.ok()) return bytes.status();
    if (!bytes->has_value()) return Internal("entry " + std::to_string(seq) + " is missing");
    auto decoded = DecodeEntry(**bytes);
    if (!decoded.ok()) return Internal("entry " + std::to_string(seq) + ": " + decoded.status().message());
    auto stored_leaf = store_->Get(Cf::kMerkle, MerkleNodeKey(0, seq - 1));
    if (!stored_leaf.ok()) return stored_leaf.status();
    if (!stored_leaf->has_value() || **stored_leaf != LeafHash(decoded->body)) {
      return Internal("stored Merkle leaf of entry " + std::to_string(seq) +
                      " does not match the entry's bytes; refusing to sign a checkpoint");
    }
  }

  // Step 3: root, projection digest, sign, store.
  auto root = StoredMerkleRoot(*store_, *size);
  if (!root.ok()) return root.status();
  Checkpoint c;
  auto key = KeyInForceAt(*size);
  if (!key.ok()) return key.status();
  c.origin = Origin(**key);
  c.tree_size = *size;
  c.root_hash = *root;
  c.time_ns = NowNs();
  c.projection_digest = ProjectionDigest(*store_, snapshot);
  auto note = SignNote(CheckpointText(c), c.origin, **key);
  if (!note.ok()) return note.status();
  ESCROW_RETURN_IF_ERROR(store_->Put(Cf::kCheckpoints, SeqKey(*size), *note));
  verified_size_ = *size;
  Logger("ledger")->info("signed checkpoint at tree size {}", *size);
  return std::move(*note);
}

void Checkpointer::Loop() {
  uint64_t last_size = 0;
  auto last_time = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    auto size = store_->LastSeq();
    if (!size.ok() || *size == last_size) continue;
    bool due_by_count = *size - last_size >= options_.every_entries;
    bool due_by_time = std::chrono::steady_clock::now() - last_time >=
                       std::chrono::seconds(options_.every_seconds);
    if (!due_by_count && !due_by_time) continue;
    lock.unlock();
    auto note = WriteNow();
    lock.lock();
    if (!note.ok()) {
      Logger("ledger")->error("checkpoint failed: {}", note.status().message());
      continue;
    }
    last_size = *size;
    last_time = std::chrono::steady_clock::now();
  }
}

}  // namespace escrow::ledger
