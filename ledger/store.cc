#include "ledger/store.h"

#include <sys/statvfs.h>

#include <rocksdb/listener.h>
#include <rocksdb/options.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>

#include "ledger/entry.h"
#include "ledger/keys.h"
#include "ledger/log.h"

namespace escrow::ledger {
namespace {

// Key in the operational CF that TryResume writes to prove that a synced
// write works again. The value is the time of the probe and is never read.
constexpr std::string_view kWriteProbeKey = "write_probe";
// Longer RocksDB log lines are cut to this many bytes.
constexpr size_t kMaxRocksLogLineBytes = 1024;

// Forwards RocksDB's info log (WARN and above) to the "rocksdb" spdlog logger
// instead of the LOG file in the database directory. The Debian 12 build of
// librocksdb 7.8 keeps assertions, and appending to that file after a failed
// write (a full disk) aborts the process in WritableFileWriter.
class SpdlogInfoLogger : public rocksdb::Logger {
 public:
  SpdlogInfoLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[kMaxRocksLogLineBytes];
    std::vsnprintf(line, sizeof(line), format, ap);
    escrow::Logger("rocksdb")->warn("{}", line);
  }
};

constexpr const char* kCfNames[] = {
    "ledger",
    "checkpoints",
    "projection.meta",
    "projection.devices",
    "projection.policy",
    "projection.accounts",
    "projection.tokens",
    "projection.audit",
    "keystore",
    "credentials",
    "operational",
    "merkle",
};
static_assert(sizeof(kCfNames) / sizeof(kCfNames[0]) == static_cast<size_t>(Cf::kCount));

}  // namespace

// The writable flag of one Store. It logs each change of state once and
// counts the writes that failed in between.
//
// Thread safety: safe from any thread, including RocksDB's background
// threads (atomics only).
class WriteState {
 public:
  bool writable() const { return writable_.load(); }

  // Records a failed write or a RocksDB background error.
  void MarkFailed(std::string_view operation, const rocksdb::Status& status) {
    failed_writes_++;
    if (!writable_.exchange(false)) return;
    Logger("ledger")->error(
        "the database cannot write ({}: {}); ledger commits fail with 503 until a write "
        "succeeds again, and DB::Resume() is retried at most every {} ms",
        operation, status.ToString(), kResumeRetryInterval.count());
  }

  // Records a successful write or recovery.
  void MarkWritable(std::string_view cause) {
    if (writable_.load() || writable_.exchange(true)) return;
    Logger("ledger")->info("the database is writable again ({}); {} writes failed meanwhile",
                           cause, failed_writes_.exchange(0));
  }

 private:
  std::atomic<bool> writable_{true};
  std::atomic<uint64_t> failed_writes_{0};
};

namespace {

// Passes RocksDB's background errors (a failed flush or compaction, or a
// failed WAL write that put the database in read-only mode) and the end of
// its own automatic recovery to a WriteState.
class WriteStateListener : public rocksdb::EventListener {
 public:
  explicit WriteStateListener(std::shared_ptr<WriteState> state) : state_(std::move(state)) {}

  void OnBackgroundError(rocksdb::BackgroundErrorReason, rocksdb::Status* bg_error) override {
    if (bg_error != nullptr && !bg_error->ok()) state_->MarkFailed("background error", *bg_error);
  }

  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    if (info.new_bg_error.ok()) state_->MarkWritable("RocksDB recovered by itself");
  }

 private:
  std::shared_ptr<WriteState> state_;
};

}  // namespace

const char* CfName(Cf cf) { return kCfNames[static_cast<int>(cf)]; }

const std::vector<Cf>& ProjectionCfs() {
  static const std::vector<Cf> kCfs = {
      Cf::kProjectionMeta,     Cf::kProjectionDevices, Cf::kProjectionPolicy,
      Cf::kProjectionAccounts, Cf::kProjectionTokens,  Cf::kProjectionAudit,
  };
  return kCfs;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string message = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Internal(message);
  if (s.IsInvalidArgument()) return InvalidArgument(message);
  // I/O errors, a full disk, a read-only database after a background error.
  return Unavailable(message);
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& data_dir, const Options& options) {
  if (!options.read_only) {
    ESCROW_RETURN_IF_ERROR(EnsurePrivateDir(data_dir));
    ESCROW_RETURN_IF_ERROR(EnsurePrivateDir(data_dir + "/keys"));
    // Made here, 0700, so RocksDB does not log an error about a missing folder.
    if (options.create_if_missing) ESCROW_RETURN_IF_ERROR(EnsurePrivateDir(data_dir + "/db"));
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.keep_log_file_num = 4;
  db_options.allow_mmap_reads = options.mmap_reads;
  db_options.info_log = std::make_shared<SpdlogInfoLogger>();
  auto write_state = std::make_shared<WriteState>();
  db_options.listeners.push_back(std::make_shared<WriteStateListener>(write_state));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const char* name : kCfNames) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  std::string path = data_dir + "/db";
  rocksdb::Status s =
      options.read_only
          ? rocksdb::DB::OpenForReadOnly(db_options, path, descriptors, &handles, &raw)
          : rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!s.ok()) return FromRocks(s, "cannot open RocksDB at " + path);

  std::unique_ptr<Store> store(new Store());
  store->data_dir_ = data_dir;
  store->read_only_ = options.read_only;
  store->write_state_ = std::move(write_state);
  store->db_.reset(raw);
  // handles[0] is the default CF, which the project does not use.
  store->default_handle_ = handles[0];
  store->handles_.assign(handles.begin() + 1, handles.end());
  return store;
}

Store::~Store() {
  if (!db_) return;
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  if (default_handle_ != nullptr) db_->DestroyColumnFamilyHandle(default_handle_);
  db_->Close().PermitUncheckedError();
}

Result<std::optional<std::string>> Store::Get(Cf cf, std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), this->cf(cf),
                               rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, std::string("read from ") + CfName(cf));
  return std::optional<std::string>(std::move(value));
}

Status Store::Write(rocksdb::WriteBatch* batch, bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return RunWrite("write batch", [&] { return db_->Write(options, batch); });
}

Status Store::Put(Cf cf, std::string_view key, std::string_view value, bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return RunWrite(std::string("write to ") + CfName(cf), [&] {
    return db_->Put(options, this->cf(cf), rocksdb::Slice(key.data(), key.size()),
                    rocksdb::Slice(value.data(), value.size()));
  });
}

Status Store::Delete(Cf cf, std::string_view key, bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return RunWrite(std::string("delete from ") + CfName(cf), [&] {
    return db_->Delete(options, this->cf(cf), rocksdb::Slice(key.data(), key.size()));
  });
}

Status Store::CheckFreeSpace() const {
  struct statvfs fs {};
  const std::string path = data_dir_ + "/db";
  if (::statvfs(path.c_str(), &fs) != 0) return Status::Ok();  // the write itself will tell
  const uint64_t size = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  const uint64_t free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  const uint64_t reserve = std::min(kMaxFreeSpaceReserve, size / kFreeSpaceReserveDivisor);
  if (free >= reserve) return Status::Ok();
  return Unavailable("the disk holding the database has " + std::to_string(free >> 10) +
                     " KiB free, below the reserve of " + std::to_string(reserve >> 10) +
                     " KiB; writes are paused until space is freed");
}

Status Store::RunWrite(std::string_view operation,
                       const std::function<rocksdb::Status()>& write) {
  if (read_only_) return FailedPrecondition("the database is open read-only");
  if (Status space = CheckFreeSpace(); !space.ok()) {
    write_state_->MarkFailed(operation, rocksdb::Status::NoSpace(space.message()));
    return space;
  }
  if (!write_state_->writable()) TryResume();
  rocksdb::Status s = write();
  if (s.ok()) {
    write_state_->MarkWritable("a write succeeded");
    return Status::Ok();
  }
  // A malformed batch does not mean that the disk failed.
  if (!s.IsInvalidArgument() && !read_only_) write_state_->MarkFailed(operation, s);
  return FromRocks(s, operation);
}

bool Store::writable() const { return !read_only_ && write_state_->writable(); }

bool Store::TryResume() {
  if (read_only_) return false;
  if (write_state_->writable()) return true;

  // Step 1: one attempt at a time, and at most one per interval.
  std::unique_lock<std::mutex> lock(resume_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return writable();
  const auto now = std::chrono::steady_clock::now();
  if (now - last_resume_attempt_ < kResumeRetryInterval) return writable();
  last_resume_attempt_ = now;

  // Step 2: nothing to try while free space is still below the reserve.
  if (!CheckFreeSpace().ok()) return false;

  // Step 3: clear RocksDB's background error. Resume() returns ok at once
  // when there is none, so only the synced probe write proves the disk
  // takes writes again.
  rocksdb::Status resumed = db_->Resume();
  if (!resumed.ok()) {
    Logger("ledger")->debug("DB::Resume() failed: {}", resumed.ToString());
    return writable();
  }
  rocksdb::WriteOptions options;
  options.sync = true;
  const std::string probe = std::to_string(now.time_since_epoch().count());
  rocksdb::Status probed =
      db_->Put(options, cf(Cf::kOperational), rocksdb::Slice(kWriteProbeKey.data(), kWriteProbeKey.size()), probe);
  if (!probed.ok()) {
    Logger("ledger")->debug("the write probe after DB::Resume() failed: {}", probed.ToString());
    return writable();
  }
  write_state_->MarkWritable("DB::Resume() and a write probe succeeded");
  return true;
}

std::unique_ptr<rocksdb::Iterator> Store::NewIterator(Cf cf) const {
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(rocksdb::ReadOptions(), this->cf(cf)));
}

Result<uint64_t> Store::LastSeq() const {
  auto it = NewIterator(Cf::kLedger);
  it->SeekToLast();
  if (!it->Valid()) {
    ESCROW_RETURN_IF_ERROR(FromRocks(it->status(), "scan ledger"));
    return uint64_t{0};
  }
  if (it->key().size() != 8) return Internal("ledger key is not 8 bytes");
  return SeqFromKey(it->key().ToStringView());
}

Result<std::optional<std::string>> Store::ReadEntry(uint64_t seq) const {
  return Get(Cf::kLedger, SeqKey(seq));
}

}  // namespace escrow::ledger
