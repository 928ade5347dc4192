#include "ledger/verify.h"

#include <rocksdb/options.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <thread>

#include "ledger/checkpoint.h"
#include "ledger/entry.h"
#include "ledger/events.h"
#include "ledger/keys.h"

namespace escrow::ledger {
namespace {

// Entries per segment: AddEntry processes a chunk at this many entries, and
// AddStoredEntries gives each reading thread a key range of this many seqs.
constexpr uint64_t kChunkEntries = 16384;
// A range spans kChunkEntries seqs (the very first range also seq 0), so it
// contains at most kChunkEntries + 1 distinct 8-byte keys. A longer range
// fails the in-order checks within its first kChunkEntries + 2 entries, so
// reading stops there, which bounds memory on a tampered ledger.
constexpr size_t kMaxEntriesPerRange = kChunkEntries + 2;
// Stored bytes are copied into blocks of this size (larger for a larger entry).
constexpr size_t kBlockSize = 1 << 20;
// RocksDB readahead for each range iterator. The ranges are read once from
// start to end, so a large readahead saves system calls.
constexpr size_t kReadaheadSize = 2 << 20;

// Returns the seq in the first 8 bytes of a ledger key, zero-padded when the
// key is shorter. Sorting keys by bytes sorts their seqs the same way.
uint64_t SeqOfKeyPrefix(std::string_view key) {
  char prefix[8] = {};
  std::memcpy(prefix, key.data(), std::min<size_t>(key.size(), sizeof(prefix)));
  return SeqFromKey(std::string_view(prefix, sizeof(prefix)));
}

}  // namespace

struct LedgerVerifier::Segment {
  std::vector<Pending> entries;
  // Each block is reserved once and appended to only within its capacity, so
  // the views in entries stay valid until Clear().
  std::vector<std::string> blocks;
  size_t blocks_used = 0;
  bool hashed = false;     // true when the reader already ran phase 1
  std::string read_error;  // the RocksDB status when reading the range failed

  // Set by ReadRange when the range's first leaf index is a multiple of
  // kChunkEntries: the tree of the range's leaves, in read order, and a copy
  // of it at each checkpoint size inside the range (global tree size first).
  // Phase 2 uses them only if every entry of the range is accepted in order.
  bool has_tree = false;
  uint64_t first_index = 0;
  MerkleTreeBuilder tree;
  std::vector<std::pair<uint64_t, MerkleTreeBuilder>> tree_at_checkpoint;

  std::string_view CopyBytes(std::string_view bytes) {
    if (blocks_used == 0 || blocks[blocks_used - 1].capacity() - blocks[blocks_used - 1].size() <
                                bytes.size()) {
      if (blocks_used == blocks.size()) blocks.emplace_back();
      std::string& fresh = blocks[blocks_used++];
      fresh.clear();
      fresh.reserve(std::max(kBlockSize, bytes.size()));
    }
    std::string& block = blocks[blocks_used - 1];
    size_t offset = block.size();
    block.append(bytes);
    return std::string_view(block).substr(offset);
  }

  void Clear() {
    entries.clear();
    blocks_used = 0;
    hashed = false;
    read_error.clear();
    has_tree = false;
    first_index = 0;
    tree = MerkleTreeBuilder();
    tree_at_checkpoint.clear();
  }
};

LedgerVerifier::LedgerVerifier(std::string trusted_public_key, VerifyOptions options)
    : options_(std::move(options)) {
  if (options_.threads <= 0) {
    options_.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  auto key = crypto::Ed25519Key::FromPublic(trusted_public_key);
  if (!key.ok()) {
    Fail(1, "trusted key: " + key.status().message());
    return;
  }
  keys_.push_back(std::move(*key));
  public_keys_.push_back(trusted_public_key);
  key_id_ = KeyIdOf(trusted_public_key);
}

LedgerVerifier::~LedgerVerifier() = default;

void LedgerVerifier::AddCheckpoint(std::string note) {
  // The tree size is the second line; a malformed note fails when checked.
  size_t first = note.find('\n');
  size_t second = first == std::string::npos ? first : note.find('\n', first + 1);
  uint64_t size = 0;
  if (second != std::string::npos) {
    size = std::strtoull(note.substr(first + 1, second - first - 1).c_str(), nullptr, 10);
  }
  checkpoints_.emplace(size, std::move(note));
}

bool LedgerVerifier::Fail(uint64_t seq, std::string error) {
  if (!report_.ok && report_.first_bad_seq != 0 && seq >= report_.first_bad_seq) return false;
  report_.ok = false;
  report_.first_bad_seq = seq;
  report_.error = std::move(error);
  return false;
}

bool LedgerVerifier::AddEntry(uint64_t key_seq, std::string bytes) {
  if (!report_.ok) return false;
  if (segments_.empty()) segments_.push_back(std::make_unique<Segment>());
  segments_used_ = 1;
  Segment& segment = *segments_[0];
  Pending& p = segment.entries.emplace_back();
  p.key_seq = key_seq;
  p.bytes = segment.CopyBytes(bytes);
  if (segment.entries.size() >= kChunkEntries) return ProcessChunk();
  return true;
}

void LedgerVerifier::ParseAndHash(Pending& p) {
  auto parsed = ParseEntry(p.bytes);
  if (!parsed.ok()) {
    p.decode_error = parsed.status().message();
    return;
  }
  p.entry = *parsed;
  p.leaf = LeafHashDigest(parsed->body);
}

void LedgerVerifier::ParallelFor(size_t n, const std::function<void(size_t)>& fn) const {
  // Contiguous slices, one per thread: no shared counter to contend on.
  size_t threads = std::min<size_t>(static_cast<size_t>(options_.threads), std::max<size_t>(n, 1));
  auto work = [&](size_t t) {
    size_t begin = n * t / threads;
    size_t end = n * (t + 1) / threads;
    for (size_t i = begin; i < end; i++) fn(i);
  };
  std::vector<std::thread> workers;
  for (size_t t = 1; t < threads; t++) workers.emplace_back(work, t);
  work(0);
  for (auto& w : workers) w.join();
}

bool LedgerVerifier::ProcessChunk() {
  // Phase 1: parse and re-hash the entries that AddEntry collected, in parallel.
  for (size_t s = 0; s < segments_used_; s++) {
    Segment& segment = *segments_[s];
    if (segment.hashed) continue;
    ParallelFor(segment.entries.size(), [&segment](size_t i) { ParseAndHash(segment.entries[i]); });
    segment.hashed = true;
  }

  // Phase 2: seq, chain, key in force, Merkle tree and checkpoints, in order.
  // A read error counts once the entries read before it have passed.
  accepted_.clear();
  auto next = checkpoints_.upper_bound(tree_.size());
  next_checkpoint_size_ = next == checkpoints_.end() ? UINT64_MAX : next->first;
  for (size_t s = 0; s < segments_used_ && report_.ok; s++) {
    Segment& segment = *segments_[s];
    if (!CheckSegmentInOrder(segment)) break;
    if (!segment.read_error.empty()) {
      Fail(expected_seq_, "cannot read the ledger: " + segment.read_error);
    }
  }

  // Phase 3: signatures of the entries phase 2 accepted, in parallel.
  if (options_.check_signatures) {
    std::atomic<uint64_t> lowest_bad{UINT64_MAX};
    ParallelFor(accepted_.size(), [&](size_t i) {
      const Pending& p = *accepted_[i];
      if (keys_[p.key_index].Verify(SignatureMessage(crypto::View(p.leaf)), p.entry.signature)) {
        return;
      }
      uint64_t seen = lowest_bad.load();
      while (p.entry.seq < seen && !lowest_bad.compare_exchange_weak(seen, p.entry.seq)) {
      }
    });
    if (lowest_bad.load() != UINT64_MAX) Fail(lowest_bad.load(), "signature does not verify");
  }

  for (size_t s = 0; s < segments_used_; s++) segments_[s]->Clear();
  bool processed_any = segments_used_ > 0;
  segments_used_ = 0;
  if (processed_any && options_.progress && report_.ok) options_.progress(report_.entries);
  return report_.ok;
}

bool LedgerVerifier::CheckInOrder(Pending& p) {
  const uint64_t seq = expected_seq_;

  // The key is the next seq, with no gap, and the bytes parse.
  if (p.key_seq != seq) {
    return Fail(seq, "entry " + std::to_string(seq) + " is missing (next stored seq is " +
                         std::to_string(p.key_seq) + ")");
  }
  if (!p.decode_error.empty()) return Fail(seq, p.decode_error);

  // The entry's own fields agree with the key, the chain and the key in force.
  const EntryView& e = p.entry;
  if (e.seq != seq) return Fail(seq, "entry claims seq " + std::to_string(e.seq));
  if (e.prev_hash != crypto::View(prev_hash_)) {
    return Fail(seq, "prev_hash does not match the leaf hash of the previous entry");
  }
  if (e.key_id != key_id_) {
    return Fail(seq, "signed by key " + std::string(e.key_id) + ", expected " + key_id_);
  }
  p.key_index = keys_.size() - 1;

  // A key rotation hands trust to the new key for later entries.
  if (e.type == static_cast<uint16_t>(EventType::kSigningKeyRotated)) {
    auto rotated = DecodePayload<SigningKeyRotated>(e.payload);
    if (!rotated.ok()) return Fail(seq, rotated.status().message());
    auto next = crypto::Ed25519Key::FromPublic(rotated->new_public_key);
    if (!next.ok() || KeyIdOf(rotated->new_public_key) != rotated->new_key_id) {
      return Fail(seq, "key rotation names an invalid new key");
    }
    if (rotated->new_key_id == key_id_) {
      return Fail(seq, "key rotation names the key already in force, " + key_id_);
    }
    if (!next->Verify(key_id_, rotated->new_key_signature)) {
      return Fail(seq, "key rotation does not prove possession of the new key " +
                           rotated->new_key_id + ": new_key_signature does not verify");
    }
    keys_.push_back(std::move(*next));
    public_keys_.push_back(rotated->new_public_key);
    key_id_ = rotated->new_key_id;
  }

  prev_hash_ = p.leaf;
  report_.entries++;
  expected_seq_++;
  return true;
}

bool LedgerVerifier::CheckSegmentInOrder(Segment& segment) {
  // When the range starts where the tree ends, the reader's tree of the
  // range is joined at the end instead of appending each leaf here.
  const uint64_t start = tree_.size();
  const bool use_range_tree = segment.has_tree && segment.first_index == start;
  size_t accepted = 0;
  size_t snapshot = 0;
  bool ok = true;
  for (Pending& p : segment.entries) {
    if (!CheckInOrder(p)) {
      ok = false;
      break;
    }
    if (!use_range_tree) tree_.Append(crypto::View(p.leaf)).PermitUnchecked();
    accepted++;

    const uint64_t size = start + accepted;
    if (size == next_checkpoint_size_) {
      std::string root;
      if (!use_range_tree) {
        root = tree_.root();
      } else {
        while (snapshot < segment.tree_at_checkpoint.size() &&
               segment.tree_at_checkpoint[snapshot].first < size) {
          snapshot++;
        }
        MerkleTreeBuilder at_size = tree_;
        if (snapshot < segment.tree_at_checkpoint.size() &&
            segment.tree_at_checkpoint[snapshot].first == size) {
          at_size.AppendTree(segment.tree_at_checkpoint[snapshot].second).PermitUnchecked();
        } else {
          // The reader kept no copy at this size, so append the leaves one by one.
          for (size_t i = 0; i < accepted; i++) {
            at_size.Append(crypto::View(segment.entries[i].leaf)).PermitUnchecked();
          }
        }
        root = at_size.root();
      }
      if (!CheckCheckpointsAt(size, root)) {
        ok = false;
        break;
      }
    }
    accepted_.push_back(&p);
  }

  if (use_range_tree) {
    if (ok && accepted == segment.tree.size()) {
      tree_.AppendTree(segment.tree).PermitUnchecked();
    } else {
      for (size_t i = 0; i < accepted; i++) {
        tree_.Append(crypto::View(segment.entries[i].leaf)).PermitUnchecked();
      }
    }
  }
  return ok;
}

bool LedgerVerifier::CheckCheckpointsAt(uint64_t size, const std::string& root) {
  auto [begin, end] = checkpoints_.equal_range(size);
  auto next = checkpoints_.upper_bound(size);
  next_checkpoint_size_ = next == checkpoints_.end() ? UINT64_MAX : next->first;
  if (begin == end) return true;
  // A signature failure below this size, found in phase 3, still wins:
  // Fail keeps the lowest seq.
  for (auto it = begin; it != end; ++it) {
    const std::string& note = it->second;
    std::string origin = note.substr(0, note.find('\n'));
    // Only the key in force at this size may sign: a checkpoint of a tree
    // that contains a rotation must use the new key, and one before it the old.
    Result<std::string> text = OpenNote(note, origin, public_keys_.back());
    std::string where = "checkpoint at tree size " + std::to_string(size);
    if (!text.ok()) return Fail(size, where + ": " + text.status().message());
    auto checkpoint = ParseCheckpointText(*text);
    if (!checkpoint.ok()) return Fail(size, where + ": " + checkpoint.status().message());
    if (checkpoint->root_hash != root) {
      return Fail(size, where + ": root hash does not match the entries");
    }
    report_.checkpoints++;
  }
  checkpoints_.erase(begin, end);
  return true;
}

VerifyReport LedgerVerifier::Finish() {
  ProcessChunk();
  if (report_.ok && !checkpoints_.empty()) {
    uint64_t size = checkpoints_.begin()->first;
    // The ledger was truncated: the first missing entry is the first bad seq.
    Fail(report_.entries + 1, "entry " + std::to_string(report_.entries + 1) +
                                  " is missing: checkpoint at tree size " + std::to_string(size) +
                                  " is beyond the last entry " + std::to_string(report_.entries));
  }
  report_.root_hash = tree_.root();
  if (expected_seq_ > 1) report_.head_leaf_hash = std::string(crypto::View(prev_hash_));
  // On failure, count only the entries before the first bad one.
  if (!report_.ok && report_.first_bad_seq > 0) {
    report_.entries = std::min(report_.entries, report_.first_bad_seq - 1);
  }
  return report_;
}

void LedgerVerifier::ReadRange(const Store& store, rocksdb::ReadOptions read_options,
                               const std::optional<std::string>& lower,
                               const std::optional<std::string>& upper,
                               const std::vector<uint64_t>& checkpoint_sizes, Segment& segment) {
  rocksdb::Slice lower_slice, upper_slice;
  if (lower) {
    lower_slice = *lower;
    read_options.iterate_lower_bound = &lower_slice;
  }
  if (upper) {
    upper_slice = *upper;
    read_options.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(read_options, store.cf(Cf::kLedger)));

  // The value slice is valid only until Next(), so the bytes are copied once
  // into the segment's blocks, then parsed and hashed while still in cache.
  segment.has_tree = segment.first_index % kChunkEntries == 0;
  auto checkpoint = std::upper_bound(checkpoint_sizes.begin(), checkpoint_sizes.end(),
                                     segment.first_index);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (segment.entries.size() >= kMaxEntriesPerRange) break;
    std::string_view key = it->key().ToStringView();
    Pending& p = segment.entries.emplace_back();
    p.key_seq = key.size() == 8 ? SeqFromKey(key) : 0;
    p.bytes = segment.CopyBytes(it->value().ToStringView());
    ParseAndHash(p);

    if (!segment.has_tree) continue;
    if (segment.tree.size() == kChunkEntries) {
      // More entries than seqs in the range, so phase 2 rejects this range.
      segment.has_tree = false;
      continue;
    }
    segment.tree.Append(crypto::View(p.leaf)).PermitUnchecked();
    const uint64_t size = segment.first_index + segment.tree.size();
    if (checkpoint != checkpoint_sizes.end() && *checkpoint == size) {
      segment.tree_at_checkpoint.emplace_back(size, segment.tree);
      ++checkpoint;
    }
  }
  if (!it->status().ok()) segment.read_error = it->status().ToString();
  segment.hashed = true;
}

bool LedgerVerifier::AddStoredEntries(const Store& store) {
  if (!report_.ok) return false;
  ProcessChunk();  // entries given through AddEntry come first

  // All ranges read one snapshot. GetSnapshot returns nullptr when the
  // database does not support snapshots, and the ranges then read its current state.
  rocksdb::DB* db = store.db();
  const rocksdb::Snapshot* snapshot = db->GetSnapshot();
  rocksdb::ReadOptions read_options;
  read_options.snapshot = snapshot;
  read_options.fill_cache = false;  // each block is read once
  read_options.readahead_size = kReadaheadSize;
  read_options.verify_checksums = true;

  const size_t threads = static_cast<size_t>(options_.threads);
  std::vector<uint64_t> checkpoint_sizes;
  for (const auto& [size, note] : checkpoints_) {
    if (checkpoint_sizes.empty() || checkpoint_sizes.back() != size) checkpoint_sizes.push_back(size);
  }
  while (segments_.size() < threads) segments_.push_back(std::make_unique<Segment>());

  // Each round reads `threads` consecutive key ranges of kChunkEntries seqs,
  // then checks them in order. The first range of the first round has no
  // lower bound, so keys that sort before seq 1 are read (and rejected) too.
  std::optional<std::string> lower;
  uint64_t start_seq = 1;
  while (report_.ok) {
    // Start the ranges at the first stored key, so a gap in the keys costs
    // one seek, not one round per kChunkEntries missing seqs.
    std::unique_ptr<rocksdb::Iterator> probe(db->NewIterator(read_options, store.cf(Cf::kLedger)));
    if (lower) probe->Seek(*lower);
    else probe->SeekToFirst();
    if (!probe->Valid()) {
      if (!probe->status().ok()) {
        Fail(expected_seq_, "cannot read the ledger: " + probe->status().ToString());
      }
      break;
    }
    uint64_t base = std::max(start_seq, SeqOfKeyPrefix(probe->key().ToStringView()));
    probe.reset();

    // Range t is [bounds[t], bounds[t + 1]), and nullopt means no bound. A
    // range whose end would pass the largest seq has no upper bound and is
    // the last one.
    std::vector<std::optional<std::string>> bounds{lower};
    bool last_round = false;
    for (size_t t = 1; t <= threads && !last_round; t++) {
      uint64_t span = t * kChunkEntries;
      if (base > UINT64_MAX - span) {
        bounds.emplace_back(std::nullopt);
        last_round = true;
      } else {
        bounds.emplace_back(SeqKey(base + span));
      }
    }
    const size_t ranges = bounds.size() - 1;
    segments_used_ = ranges;
    for (size_t t = 0; t < ranges; t++) segments_[t]->first_index = base - 1 + t * kChunkEntries;
    ParallelFor(ranges, [&](size_t t) {
      ReadRange(store, read_options, bounds[t], bounds[t + 1], checkpoint_sizes, *segments_[t]);
    });
    ProcessChunk();

    if (last_round) break;
    lower = bounds.back();
    start_seq = base + ranges * kChunkEntries;
  }

  if (snapshot != nullptr) db->ReleaseSnapshot(snapshot);
  return report_.ok;
}

VerifyReport VerifyLedger(const Store& store, std::string_view trusted_public_key,
                          const VerifyOptions& options) {
  LedgerVerifier verifier{std::string(trusted_public_key), options};
  auto cps = store.NewIterator(Cf::kCheckpoints);
  for (cps->SeekToFirst(); cps->Valid(); cps->Next()) verifier.AddCheckpoint(cps->value().ToString());

  verifier.AddStoredEntries(store);
  return verifier.Finish();
}

}  // namespace escrow::ledger
