// Store: the one RocksDB database of a data directory and its column families.
//
// Layout of DATA_DIR:
//   DATA_DIR/db/    the RocksDB database
//   DATA_DIR/keys/  ledger signing key, master key, TLS keys (files 0600, folder 0700)
//
// Column families:
//   ledger                big-endian seq (8 bytes) -> entry bytes (ledger/entry.h)
//   checkpoints           reserved for signed checkpoints
//   projection.meta       "last_applied_seq" -> uint64 big-endian
//   projection.devices    device id -> DeviceRecord
//   projection.policy     "policy" -> Policy
//   projection.accounts   account name -> AccountRecord
//   projection.tokens     token digest -> TokenRecord
//   projection.audit      audit and timeline indexes (projections/state.h)
//   keystore              escrow key id -> wrapped X25519 private key
//   credentials           account name -> scrypt password hash (never in the ledger)
//   operational           device counters, last check-ins, sessions; disposable
//   merkle                stored Merkle tree nodes (ledger/merkle_store.h)
//
// Write failures (fail-closed): when a write fails (a full disk, an I/O
// error, RocksDB's read-only mode after a background error), the store
// counts as not writable until a write or DB::Resume() succeeds. Every write
// made while it is not writable first calls TryResume(), so writing resumes
// without a restart once space returns. Reads keep working throughout. The
// "ledger" logger records each change of state once, not every failed write.
//
// Thread safety: Store is safe to use from any thread; RocksDB synchronizes,
// the write state is atomic and resume_mu_ serializes DB::Resume() calls.
// Only the sequencer writes to ledger and projection.* column families.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/utilities/write_batch_with_index.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ledger/status.h"

namespace escrow::ledger {

enum class Cf : int {
  kLedger = 0,
  kCheckpoints,
  kProjectionMeta,
  kProjectionDevices,
  kProjectionPolicy,
  kProjectionAccounts,
  kProjectionTokens,
  kProjectionAudit,
  kKeystore,
  kCredentials,
  kOperational,
  kMerkle,
  kCount,
};

const char* CfName(Cf cf);

// The projection column families, in a fixed order (for rebuild and compare).
const std::vector<Cf>& ProjectionCfs();

// Minimum time between two DB::Resume() attempts while the store is not
// writable. Each attempt flushes the memtables, so it is not repeated for
// every request that arrives while the disk is still full.
constexpr std::chrono::milliseconds kResumeRetryInterval{500};

// Free-space reserve: a write is refused (kUnavailable) while the file
// system holding the database has less free space than the smaller of
// kMaxFreeSpaceReserve and 1/kFreeSpaceReserveDivisor of its size. RocksDB
// then never meets a full disk in the middle of a WAL append, which
// librocksdb 7.8 cannot resume from without reopening the database.
constexpr uint64_t kMaxFreeSpaceReserve = 64ull << 20;
constexpr uint64_t kFreeSpaceReserveDivisor = 20;

class WriteState;

class Store {
 public:
  struct Options {
    bool read_only = false;
    bool create_if_missing = true;
    // Maps the table files into memory instead of reading them with pread:
    // a reader that walks the whole ledger once then skips one copy per
    // block (offline verify ran 20% faster at 1M entries). Meant for
    // offline tools; the server keeps ordinary reads.
    bool mmap_reads = false;
  };

  // Opens (or creates) DATA_DIR/db with every column family.
  static Result<std::unique_ptr<Store>> Open(const std::string& data_dir, const Options& options);
  static Result<std::unique_ptr<Store>> Open(const std::string& data_dir) {
    return Open(data_dir, Options{});
  }
  ~Store();

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(Cf cf) const { return handles_[static_cast<int>(cf)]; }
  const std::string& data_dir() const { return data_dir_; }
  std::string keys_dir() const { return data_dir_ + "/keys"; }

  // Reads committed state. Returns nullopt when the key is absent.
  Result<std::optional<std::string>> Get(Cf cf, std::string_view key) const;

  // Writes a batch. sync = true waits for the WAL to reach the disk.
  Status Write(rocksdb::WriteBatch* batch, bool sync = true);

  // Writes one key in a non-ledger column family (operational, credentials, keystore).
  Status Put(Cf cf, std::string_view key, std::string_view value, bool sync = true);
  Status Delete(Cf cf, std::string_view key, bool sync = true);

  std::unique_ptr<rocksdb::Iterator> NewIterator(Cf cf) const;

  // Returns false from a failed write or RocksDB background error until a
  // later write or DB::Resume() succeeds, and always for a read-only store.
  // Does no I/O.
  bool writable() const;
  // Calls DB::Resume() and then a small synced write probe (operational CF)
  // if the store is not writable and kResumeRetryInterval has passed since
  // the last attempt. Returns writable() afterwards.
  // NOTE: with librocksdb 7.8, after a WAL append failed with ENOSPC, Resume()
  // keeps failing even once space returns ("Unable to Sync WAL file ... Seen
  // error"), so in that case writing resumes only after reopening the DB.
  // The free-space reserve keeps writes from getting that far.
  bool TryResume();

  // Returns the highest seq in the ledger CF, 0 when empty.
  Result<uint64_t> LastSeq() const;
  // Reads the stored bytes of entry seq.
  Result<std::optional<std::string>> ReadEntry(uint64_t seq) const;

 private:
  Store() = default;
  // Runs one RocksDB write: resumes first if needed, then records the
  // outcome in write_state_.
  Status RunWrite(std::string_view operation, const std::function<rocksdb::Status()>& write);
  // Fails with kUnavailable while free space is below the reserve.
  Status CheckFreeSpace() const;

  std::string data_dir_;
  bool read_only_ = false;
  // Shared with the RocksDB event listener, which may outlive db_ briefly.
  std::shared_ptr<WriteState> write_state_;
  std::mutex resume_mu_;
  std::chrono::steady_clock::time_point last_resume_attempt_;  // guarded by resume_mu_
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_handle_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// Converts a RocksDB status to ours: I/O errors and a read-only database
// become kUnavailable, corruption becomes kInternal.
Status FromRocks(const rocksdb::Status& s, std::string_view what);

}  // namespace escrow::ledger
