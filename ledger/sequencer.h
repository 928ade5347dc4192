// Sequencer: the single writer of the ledger and the projections.
//
// Commands from every connection are queued. The sequencer thread takes all
// waiting commands as one group, runs them one after another against a
// WriteBatchWithIndex (each sees the writes of the commands before it), and
// commits the group's entries and projection updates in one WriteBatch with
// sync = true (group commit). Only then does any waiter get its answer, so a
// caller that sees Status::Ok knows its events are durable.
//
// A command that returns a non-ok Status is rolled back to its savepoint: its
// events and writes are dropped, the rest of the group commits. When the
// group's write fails, every command of the group gets kUnavailable and the
// chain position is restored to the last committed entry.
//
// Thread safety: Submit and Run are safe from any thread. Commands and the
// applier run only on the sequencer thread, which owns the chain state
// (next seq, previous leaf hash).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ledger/entry.h"
#include "ledger/events.h"
#include "ledger/keys.h"
#include "ledger/status.h"
#include "ledger/store.h"

namespace escrow::ledger {

// An event before the sequencer gives it a seq, time, chain link and signature.
struct EventDraft {
  uint16_t type = 0;
  uint16_t schema_version = 1;
  ActorKind actor_kind = ActorKind::kSystem;
  std::string actor_id;
  std::string subject;
  std::string payload;
  std::string origin_request;
  std::string origin_signature;
};

// Builds a draft from a typed event (ledger/events.h).
template <class Event>
EventDraft MakeDraft(const Event& event, ActorKind actor_kind, std::string actor_id,
                     std::string subject) {
  EventDraft d;
  d.type = static_cast<uint16_t>(Event::kType);
  d.actor_kind = actor_kind;
  d.actor_id = std::move(actor_id);
  d.subject = std::move(subject);
  d.payload = EncodePayload(event);
  return d;
}

class Sequencer;

// The view a command or the applier has of the database: reads see the
// group's earlier writes, writes go into the group's batch.
class Transaction {
 public:
  using Clock = std::function<int64_t()>;

  // `sequencer` may be null (projection rebuild): then Append fails.
  Transaction(Store* store, rocksdb::WriteBatchWithIndex* batch, Sequencer* sequencer,
              int64_t now_ns);

  Result<std::optional<std::string>> Get(Cf cf, std::string_view key);
  void Put(Cf cf, std::string_view key, std::string_view value);
  void Delete(Cf cf, std::string_view key);
  // Iterates the committed state overlaid with this group's writes.
  std::unique_ptr<rocksdb::Iterator> NewIterator(Cf cf);

  // Appends an event: assigns seq, time, prev_hash, key id and signature,
  // writes the entry to the ledger CF and runs the applier on it. Returns the
  // finished entry.
  Result<Entry> Append(const EventDraft& draft);

  // Server time for this group, Unix nanoseconds.
  int64_t now_ns() const { return now_ns_; }
  Store* store() const { return store_; }

 private:
  Store* store_;
  rocksdb::WriteBatchWithIndex* batch_;
  Sequencer* sequencer_;
  int64_t now_ns_;
};

using Command = std::function<Status(Transaction&)>;
// Updates the projections for one appended entry, in the same transaction.
using Applier = std::function<Status(const Entry&, Transaction&)>;

class Sequencer {
 public:
  using Clock = std::function<int64_t()>;
  struct Options {
    size_t max_group_size = 512;
    Clock clock;  // defaults to the system clock in Unix nanoseconds
  };

  Sequencer(Store* store, const SigningKey* key, Applier applier, Options options);
  ~Sequencer();
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  // Reads the chain head from the ledger CF and starts the thread.
  Status Start();
  // Fails every queued command with kUnavailable and joins the thread.
  void Stop();

  // Queues a command; the future completes after its group committed (or failed).
  std::future<Status> Submit(Command command);
  // Submit and wait.
  Status Run(Command command);

  // Last committed seq (readable from any thread).
  uint64_t committed_seq() const;
  uint64_t groups_committed() const;

  // Signing-key rotation (sequencer_keys.cc; ledger/key_rotation.h builds on it).
  //
  // Returns the key that signs the next entry; it changes once a
  // SigningKeyRotated entry commits. Safe from any thread.
  std::shared_ptr<const SigningKey> signing_key() const;
  // Returns the key with key_id among the keys this sequencer has signed with
  // or staged since it was constructed, or null. Safe from any thread; a
  // Checkpointer uses it as its SigningKeyLookup.
  std::shared_ptr<const SigningKey> FindSigningKey(std::string_view key_id) const;
  // Writes keys/ledger-signing.next, appends draft (a SigningKeyRotated event
  // naming new_key) signed by the current key, and signs every later entry of
  // the group with new_key. When the group commits, new_key becomes the key in
  // force and replaces keys/ledger-signing.key; when it does not, the .next
  // file is deleted. REQUIRES: called from a command on the sequencer thread,
  // as that command's last step (a failure after it is not undone). Fails
  // with kFailedPrecondition when the group already rotated.
  Result<Entry> AppendKeyRotation(Transaction& tx, std::shared_ptr<const SigningKey> new_key,
                                  const EventDraft& draft);

 private:
  friend class Transaction;
  struct Pending {
    Command command;
    std::promise<Status> done;
  };

  void Loop();
  void CommitGroup(std::deque<Pending>& group);
  Result<Entry> AppendLocked(Transaction& tx, const EventDraft& draft);
  // Returns the key that signs entry seq: the staged key after a rotation in this group.
  const SigningKey& KeyForSeq(uint64_t seq);
  // Makes a staged key the key in force once the group's write succeeded, or drops it.
  void FinishKeyRotation();
  // Makes the key that the ledger head names the key in force (called by Start).
  Status AdoptKeyInForce(const Entry& head);

  Store* store_;
  const SigningKey* key_;
  Applier applier_;
  Options options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  std::thread thread_;

  // Owned by the sequencer thread.
  uint64_t next_seq_ = 1;
  std::string prev_hash_;
  int64_t last_time_ns_ = 0;  // entry times never go backwards

  std::atomic<uint64_t> committed_seq_{0};
  std::atomic<uint64_t> groups_committed_{0};

  // Signing keys. current_key_ is written only by the sequencer thread (and
  // Start), under key_mu_; other threads read it under key_mu_.
  mutable std::mutex key_mu_;
  std::shared_ptr<const SigningKey> current_key_;                // guarded by key_mu_
  std::vector<std::shared_ptr<const SigningKey>> known_keys_;    // guarded by key_mu_
  // Owned by the sequencer thread: a rotation appended in the current group.
  std::shared_ptr<const SigningKey> staged_key_;
  uint64_t staged_seq_ = 0;  // seq of the staged SigningKeyRotated entry
};

}  // namespace escrow::ledger
