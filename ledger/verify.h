// Offline ledger verification. Re-hashes every stored entry (never trusting
// a stored hash), checks the hash chain, that seq has no gaps, every entry
// signature with the key in force (following SigningKeyRotated entries from
// the trusted first key), and every signed checkpoint: its signature, and
// that its root equals the RFC 9162 root recomputed from the entries. Two
// checkpoints whose roots are both recomputed from the same entries are
// consistent by construction; a mismatch at either names its tree size.
//
// Little work runs on one thread. Reading threads parse and re-hash the
// entries of consecutive 16,384-seq ranges and build each range's Merkle
// subtree. One thread then checks seq, chain and keys in order and joins the
// subtrees, and signatures are checked on all threads. The report always
// names the lowest failing seq.
//
// Thread safety: a LedgerVerifier is used by one thread (it starts its own
// workers for reading, hashing and signature checks). VerifyLedger only
// reads the Store.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/entry.h"
#include "ledger/merkle.h"
#include "ledger/store.h"

namespace escrow::ledger {

struct VerifyOptions {
  bool check_signatures = true;  // false: integrity only (hashes, chain, roots)
  int threads = 0;               // 0 = all hardware threads
  // Called after each chunk of entries (16,384 per reading thread) with the
  // number verified so far.
  std::function<void(uint64_t)> progress;
};

struct VerifyReport {
  bool ok = true;
  uint64_t entries = 0;
  uint64_t first_bad_seq = 0;  // 0 when ok (or when only a checkpoint failed)
  std::string error;           // what failed at first_bad_seq
  std::string head_leaf_hash;  // leaf hash of the last entry
  std::string root_hash;       // RFC 9162 root over all entries
  uint64_t checkpoints = 0;    // checkpoints verified
};

class LedgerVerifier {
 public:
  LedgerVerifier(std::string trusted_public_key, VerifyOptions options);
  ~LedgerVerifier();

  // Registers a signed checkpoint note, checked when the tree reaches its size.
  // Call before the entries it covers are added.
  void AddCheckpoint(std::string note);

  // Feeds the next entry: its ledger key's seq (from the store or export
  // record) and its stored bytes. Returns false once a failure was recorded.
  bool AddEntry(uint64_t key_seq, std::string bytes);

  // Feeds every entry of the store's ledger column family, in key order, like
  // AddEntry for each. Reads consecutive key ranges in parallel, one RocksDB
  // iterator per thread over one snapshot, and parses and re-hashes each
  // entry on the thread that read it. A read error fails at the next
  // expected seq. Returns false once a failure was recorded.
  bool AddStoredEntries(const Store& store);

  // Checks the pending signatures and checkpoints beyond the last entry.
  VerifyReport Finish();

 private:
  // One entry of the current chunk. Phase 1 (parallel) fills the parsed
  // fields and the leaf hash. Phase 2 (in order) checks the chain and picks
  // the key. Phase 3 (parallel) checks the signature.
  struct Pending {
    uint64_t key_seq = 0;
    std::string_view bytes;    // the copy in the owning Segment's blocks
    std::string decode_error;  // empty when the bytes parsed
    EntryView entry;           // views into bytes
    crypto::Sha256Digest leaf{};
    size_t key_index = 0;
  };
  // The entries of one key range, in key order, and one copy of their bytes.
  struct Segment;

  bool Fail(uint64_t seq, std::string error);
  // Phase 1 for one entry: parses it and computes its leaf hash.
  static void ParseAndHash(Pending& p);
  // Reads the ledger keys in [lower, upper) into segment and runs phase 1 on
  // each entry. A missing bound means the range is open on that side.
  // When the segment's first leaf index is a multiple of kChunkEntries, the
  // reader also builds the Merkle tree of the range's leaves and keeps a copy
  // of it at each size in checkpoint_sizes. Phase 2 then appends one subtree
  // per range instead of hashing every node on one thread.
  static void ReadRange(const Store& store, rocksdb::ReadOptions read_options,
                        const std::optional<std::string>& lower,
                        const std::optional<std::string>& upper,
                        const std::vector<uint64_t>& checkpoint_sizes, Segment& segment);
  // Runs the three phases over the segments in use, in order, and clears them.
  bool ProcessChunk();
  // Phase 2 over one segment: appends the accepted entries to accepted_.
  // Returns false at the first failure.
  bool CheckSegmentInOrder(Segment& segment);
  // Phase 2 for one entry without the Merkle tree; false stops the chunk at
  // this entry.
  bool CheckInOrder(Pending& p);
  // Checks the checkpoints at tree size `size`, whose root is `root`.
  bool CheckCheckpointsAt(uint64_t size, const std::string& root);
  // Runs fn(i) for i in [0, n) on options_.threads threads.
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn) const;

  VerifyOptions options_;
  std::vector<crypto::Ed25519Key> keys_;
  std::vector<std::string> public_keys_;
  std::string key_id_;
  crypto::Sha256Digest prev_hash_{};  // leaf hash of the last accepted entry
  uint64_t expected_seq_ = 1;
  MerkleTreeBuilder tree_;
  std::multimap<uint64_t, std::string> checkpoints_;  // tree size -> note
  // The smallest checkpoint size above the sizes already checked.
  uint64_t next_checkpoint_size_ = 0;
  std::vector<std::unique_ptr<Segment>> segments_;
  size_t segments_used_ = 0;
  std::vector<const Pending*> accepted_;  // phase 2 output, reused per chunk
  VerifyReport report_;
};

// Verifies the ledger and the checkpoints of a data directory.
// trusted_public_key: the first ledger signing key (keys/ledger-signing.pub).
VerifyReport VerifyLedger(const Store& store, std::string_view trusted_public_key,
                          const VerifyOptions& options = {});

}  // namespace escrow::ledger
