#include "ledger/verify.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "ledger/checkpoint.h"
#include "ledger/entry.h"
#include "ledger/events.h"
#include "ledger/keys.h"

namespace escrow::ledger {
namespace {

constexpr size_t kSignatureChunk = 16384;

}  // namespace

LedgerVerifier::LedgerVerifier(std::string trusted_public_key, VerifyOptions options)
    : options_(std::move(options)), prev_hash_(crypto::kSha256Size, '\0') {
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
  pending_.reserve(kSignatureChunk);
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
  Pending p;
  p.key_seq = key_seq;
  p.bytes = std::move(bytes);
  pending_.push_back(std::move(p));
  if (pending_.size() >= kSignatureChunk) return ProcessChunk();
  return true;
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
  if (pending_.empty()) return report_.ok;

  // Phase 1: parse and re-hash every stored body, in parallel.
  ParallelFor(pending_.size(), [this](size_t i) {
    Pending& p = pending_[i];
    auto parsed = ParseEntry(p.bytes);
    if (!parsed.ok()) {
      p.decode_error = parsed.status().message();
      return;
    }
    p.entry = *parsed;
    p.leaf = LeafHash(parsed->body);
  });

  // Phase 2: seq, chain, key in force, Merkle tree and checkpoints, in order.
  size_t checked = 0;
  while (checked < pending_.size() && CheckInOrder(pending_[checked])) checked++;

  // Phase 3: signatures of the entries phase 2 accepted, in parallel.
  if (options_.check_signatures) {
    std::atomic<uint64_t> lowest_bad{UINT64_MAX};
    ParallelFor(checked, [&](size_t i) {
      const Pending& p = pending_[i];
      if (keys_[p.key_index].Verify(SignatureMessage(p.leaf), p.entry.signature)) return;
      uint64_t seen = lowest_bad.load();
      while (p.entry.seq < seen && !lowest_bad.compare_exchange_weak(seen, p.entry.seq)) {
      }
    });
    if (lowest_bad.load() != UINT64_MAX) Fail(lowest_bad.load(), "signature does not verify");
  }

  pending_.clear();
  if (options_.progress && report_.ok) options_.progress(report_.entries);
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
  if (e.prev_hash != prev_hash_) {
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
  tree_.Append(p.leaf).PermitUnchecked();
  report_.entries++;
  report_.head_leaf_hash = p.leaf;
  expected_seq_++;
  return CheckCheckpointsAt(tree_.size());
}

bool LedgerVerifier::CheckCheckpointsAt(uint64_t size) {
  auto [begin, end] = checkpoints_.equal_range(size);
  if (begin == end) return true;
  // A signature failure below this size, found in phase 3, still wins:
  // Fail keeps the lowest seq.
  std::string root = tree_.root();
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
  // On failure, count only the entries before the first bad one.
  if (!report_.ok && report_.first_bad_seq > 0) {
    report_.entries = std::min(report_.entries, report_.first_bad_seq - 1);
  }
  return report_;
}

VerifyReport VerifyLedger(const Store& store, std::string_view trusted_public_key,
                          const VerifyOptions& options) {
  LedgerVerifier verifier{std::string(trusted_public_key), options};
  auto cps = store.NewIterator(Cf::kCheckpoints);
  for (cps->SeekToFirst(); cps->Valid(); cps->Next()) verifier.AddCheckpoint(cps->value().ToString());

  auto it = store.NewIterator(Cf::kLedger);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view key = it->key().ToStringView();
    uint64_t key_seq = key.size() == 8 ? SeqFromKey(key) : 0;
    if (!verifier.AddEntry(key_seq, it->value().ToString())) break;
  }
  VerifyReport report = verifier.Finish();
  if (report.ok && !it->status().ok()) {
    report.ok = false;
    report.first_bad_seq = report.entries + 1;
    report.error = "cannot read the ledger: " + it->status().ToString();
  }
  return report;
}

}  // namespace escrow::ledger
