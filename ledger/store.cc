#include "ledger/store.h"

#include <rocksdb/options.h>

#include "ledger/entry.h"
#include "ledger/keys.h"

namespace escrow::ledger {
namespace {

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
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.keep_log_file_num = 4;

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
  return FromRocks(db_->Write(options, batch), "write batch");
}

Status Store::Put(Cf cf, std::string_view key, std::string_view value, bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return FromRocks(db_->Put(options, this->cf(cf), rocksdb::Slice(key.data(), key.size()),
                            rocksdb::Slice(value.data(), value.size())),
                   std::string("write to ") + CfName(cf));
}

Status Store::Delete(Cf cf, std::string_view key, bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return FromRocks(db_->Delete(options, this->cf(cf), rocksdb::Slice(key.data(), key.size())),
                   std::string("delete from ") + CfName(cf));
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
