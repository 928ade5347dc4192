#include "ledger/sequencer.h"

#include <rocksdb/comparator.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "ledger/crypto.h"
#include "ledger/log.h"
#include "ledger/merkle_store.h"

namespace escrow::ledger {
namespace {

// The kUnavailable message of every command in a group whose write failed.
constexpr std::string_view kCommitFailedMessage =
    "the ledger cannot commit right now (the disk may be full or failing), so nothing was "
    "recorded and nothing was released; try again later";

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---------------------------------------------------------------------------
// Transaction

Transaction::Transaction(Store* store, rocksdb::WriteBatchWithIndex* batch, Sequencer* sequencer,
                         int64_t now_ns)
    : store_(store), batch_(batch), sequencer_(sequencer), now_ns_(now_ns) {}

Result<std::optional<std::string>> Transaction::Get(Cf cf, std::string_view key) {
  std::string value;
  rocksdb::Status s = batch_->GetFromBatchAndDB(store_->db(), rocksdb::ReadOptions(),
                                                store_->cf(cf),
                                                rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, std::string("read from ") + CfName(cf));
  return std::optional<std::string>(std::move(value));
}

void Transaction::Put(Cf cf, std::string_view key, std::string_view value) {
  batch_->Put(store_->cf(cf), rocksdb::Slice(key.data(), key.size()),
              rocksdb::Slice(value.data(), value.size()))
      .PermitUncheckedError();
}

void Transaction::Delete(Cf cf, std::string_view key) {
  batch_->Delete(store_->cf(cf), rocksdb::Slice(key.data(), key.size())).PermitUncheckedError();
}

std::unique_ptr<rocksdb::Iterator> Transaction::NewIterator(Cf cf) {
  rocksdb::Iterator* base = store_->db()->NewIterator(rocksdb::ReadOptions(), store_->cf(cf));
  return std::unique_ptr<rocksdb::Iterator>(batch_->NewIteratorWithBase(store_->cf(cf), base));
}

Result<Entry> Transaction::Append(const EventDraft& draft) {
  if (sequencer_ == nullptr) return Internal("this transaction cannot append ledger entries");
  return sequencer_->AppendLocked(*this, draft);
}

// ---------------------------------------------------------------------------
// Sequencer

Sequencer::Sequencer(Store* store, const SigningKey* key, Applier applier, Options options)
    : store_(store), key_(key), applier_(std::move(applier)), options_(std::move(options)) {
  if (!options_.clock) options_.clock = SystemNowNs;
  if (options_.max_group_size == 0) options_.max_group_size = 1;
  prev_hash_.assign(crypto::kSha256Size, '\0');
  current_key_ = std::make_shared<const SigningKey>(key->Clone());
  known_keys_.push_back(current_key_);
}

Sequencer::~Sequencer() { Stop(); }

Status Sequencer::Start() {
  auto last = store_->LastSeq();
  if (!last.ok()) return last.status();
  if (*last > 0) {
    auto bytes = store_->ReadEntry(*last);
    if (!bytes.ok()) return bytes.status();
    if (!bytes->has_value()) return Internal("ledger head entry is missing");
    auto decoded = DecodeEntry(**bytes);
    if (!decoded.ok()) {
      return Internal("ledger head entry " + std::to_string(*last) +
                      " is unreadable: " + decoded.status().message());
    }
    prev_hash_ = LeafHash(decoded->body);
    last_time_ns_ = decoded->entry.time_ns;
    ESCROW_RETURN_IF_ERROR(AdoptKeyInForce(decoded->entry));
  }
  next_seq_ = *last + 1;
  committed_seq_ = *last;
  Logger("ledger")->info("sequencer started at seq {} with key {}", next_seq_, signing_key()->key_id());
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void Sequencer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& p : queue_) p.done.set_value(Unavailable("the server is shutting down"));
  queue_.clear();
}

std::future<Status> Sequencer::Submit(Command command) {
  Pending pending{std::move(command), {}};
  std::future<Status> future = pending.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      pending.done.set_value(Unavailable("the server is shutting down"));
      return future;
    }
    queue_.push_back(std::move(pending));
  }
  cv_.notify_one();
  return future;
}

Status Sequencer::Run(Command command) { return Submit(std::move(command)).get(); }

uint64_t Sequencer::committed_seq() const { return committed_seq_.load(); }
uint64_t Sequencer::groups_committed() const { return groups_committed_.load(); }

void Sequencer::Loop() {
  for (;;) {
    std::deque<Pending> group;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      while (!queue_.empty() && group.size() < options_.max_group_size) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitGroup(group);
  }
}

void Sequencer::CommitGroup(std::deque<Pending>& group) {
  // overwrite_key = true so reads through the batch see the latest write.
  rocksdb::WriteBatchWithIndex batch(rocksdb::BytewiseComparator(), 0, true);
  int64_t now = std::max(options_.clock(), last_time_ns_);
  const uint64_t group_start_seq = next_seq_;
  const std::string group_start_hash = prev_hash_;
  std::vector<Status> results;
  results.reserve(group.size());

  // Step 1: run each command against the batch; a failed command is rolled
  // back to its savepoint so the others still commit.
  for (auto& pending : group) {
    batch.SetSavePoint();
    const uint64_t seq_before = next_seq_;
    const std::string hash_before = prev_hash_;
    Transaction tx(store_, &batch, this, now);
    Status status;
    try {
      status = pending.command(tx);
    } catch (const std::exception& e) {
      Logger("ledger")->error("command threw an exception: {}", e.what());
      status = Internal("internal error while processing the request");
    }
    if (status.ok()) {
      batch.PopSavePoint().PermitUncheckedError();
    } else {
      batch.RollbackToSavePoint().PermitUncheckedError();
      next_seq_ = seq_before;
      prev_hash_ = hash_before;
    }
    results.push_back(std::move(status));
  }

  // Step 2: one synced write for the whole group.
  if (batch.GetWriteBatch()->Count() > 0) {
    Status written = store_->Write(batch.GetWriteBatch(), /*sync=*/true);
    if (!written.ok()) {
      // The store logs the change to "not writable" once; this repeats per group.
      Logger("ledger")->debug("group commit of {} commands at seq {} failed: {}", group.size(),
                              group_start_seq, written.message());
      next_seq_ = group_start_seq;
      prev_hash_ = group_start_hash;
      for (auto& r : results) {
        if (r.ok()) r = Unavailable(std::string(kCommitFailedMessage));
      }
    } else {
      last_time_ns_ = now;
      committed_seq_ = next_seq_ - 1;
      groups_committed_++;
    }
  }

  // A rotation in this group takes effect (or is dropped) before any waiter hears back.
  FinishKeyRotation();

  // Step 3: complete every waiter's future.
  for (size_t i = 0; i < group.size(); i++) group[i].done.set_value(std::move(results[i]));
}

Result<Entry> Sequencer::AppendLocked(Transaction& tx, const EventDraft& draft) {
  Entry e;
  e.seq = next_seq_;
  e.prev_hash = prev_hash_;
  e.time_ns = tx.now_ns();
  e.type = draft.type;
  e.schema_version = draft.schema_version;
  e.actor_kind = draft.actor_kind;
  e.actor_id = draft.actor_id;
  e.subject = draft.subject;
  e.payload = draft.payload;
  e.origin_request = draft.origin_request;
  e.origin_signature = draft.origin_signature;
  const SigningKey& key = KeyForSeq(e.seq);
  e.key_id = key.key_id();

  std::string body = EncodeBody(e);
  std::string leaf = LeafHash(body);
  auto signature = key.Sign(SignatureMessage(leaf));
  if (!signature.ok()) return signature.status();
  e.signature = *signature;
  body.append(e.signature);
  tx.Put(Cf::kLedger, SeqKey(e.seq), body);
  ESCROW_RETURN_IF_ERROR(StoreMerkleLeaf(tx, e.seq - 1, leaf));

  Status applied = applier_ ? applier_(e, tx) : Status::Ok();
  if (!applied.ok()) return applied;
  next_seq_++;
  prev_hash_ = leaf;
  return e;
}

}  // namespace escrow::ledger
