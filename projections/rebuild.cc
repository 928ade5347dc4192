// RebuildProjections: replays the ledger into a scratch database with the
// same Apply the sequencer uses, compares, and optionally replaces.
#include <rocksdb/comparator.h>

#include <filesystem>

#include "ledger/crypto.h"
#include "ledger/log.h"
#include "projections/projector.h"

namespace escrow::projections {
namespace {

using ledger::Cf;
using ledger::Store;

// Entries applied per scratch write.
constexpr uint64_t kRebuildBatchEntries = 1000;

std::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// Step 1 of a rebuild: apply every ledger entry, in seq order, to scratch.
Result<uint64_t> ReplayLedger(const Store& live, Store& scratch) {
  rocksdb::WriteBatchWithIndex batch(rocksdb::BytewiseComparator(), 0, true);
  uint64_t entries = 0;
  auto it = live.NewIterator(Cf::kLedger);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto decoded = ledger::DecodeEntry(ToView(it->value()));
    if (!decoded.ok()) {
      return Internal("ledger entry " + std::to_string(ledger::SeqFromKey(ToView(it->key()))) +
                      " is unreadable: " + decoded.status().message());
    }
    const ledger::Entry& entry = decoded->entry;
    ledger::Transaction tx(&scratch, &batch, nullptr, entry.time_ns);
    ESCROW_RETURN_IF_ERROR(Apply(entry, tx));

    if (++entries % kRebuildBatchEntries == 0) {
      ESCROW_RETURN_IF_ERROR(scratch.Write(batch.GetWriteBatch(), /*sync=*/false));
      batch.Clear();
    }
  }
  if (!it->status().ok()) return ledger::FromRocks(it->status(), "read the ledger");
  ESCROW_RETURN_IF_ERROR(scratch.Write(batch.GetWriteBatch(), /*sync=*/false));
  return entries;
}

// Step 2: compares one column family key by key, returning "" when equal.
Result<std::string> FirstDifference(const Store& live, const Store& scratch, Cf cf) {
  auto a = live.NewIterator(cf);
  auto b = scratch.NewIterator(cf);
  a->SeekToFirst();
  b->SeekToFirst();
  while (a->Valid() && b->Valid()) {
    if (a->key() != b->key()) {
      const rocksdb::Slice& first = a->key().compare(b->key()) < 0 ? a->key() : b->key();
      return std::string(CfName(cf)) + ": key " + crypto::HexEncode(ToView(first));
    }
    if (a->value() != b->value()) {
      return std::string(CfName(cf)) + ": key " + crypto::HexEncode(ToView(a->key()));
    }
    a->Next();
    b->Next();
  }
  if (!a->status().ok()) return ledger::FromRocks(a->status(), "read live projections");
  if (!b->status().ok()) return ledger::FromRocks(b->status(), "read rebuilt projections");
  if (a->Valid()) return std::string(CfName(cf)) + ": key " + crypto::HexEncode(ToView(a->key()));
  if (b->Valid()) return std::string(CfName(cf)) + ": key " + crypto::HexEncode(ToView(b->key()));
  return std::string();
}

// Step 3 (optional): adds to batch the writes that turn live's column family
// into scratch's: a Delete for each key only live has, and a Put for each key
// that scratch adds or changes. Keys that are equal in both get no write.
Status AddReplacement(const Store& live, const Store& scratch, Cf cf,
                      rocksdb::WriteBatch& batch) {
  auto a = live.NewIterator(cf);
  auto b = scratch.NewIterator(cf);
  a->SeekToFirst();
  b->SeekToFirst();
  while (a->Valid() || b->Valid()) {
    // order < 0: only live has a->key(); order > 0: only scratch has b->key().
    int order = !a->Valid() ? 1 : !b->Valid() ? -1 : a->key().compare(b->key());
    if (order < 0) {
      ESCROW_RETURN_IF_ERROR(
          ledger::FromRocks(batch.Delete(live.cf(cf), a->key()), "stage delete"));
      a->Next();
      continue;
    }
    if (order > 0 || a->value() != b->value()) {
      ESCROW_RETURN_IF_ERROR(
          ledger::FromRocks(batch.Put(live.cf(cf), b->key(), b->value()), "stage put"));
    }
    if (order == 0) a->Next();
    b->Next();
  }
  if (!a->status().ok()) return ledger::FromRocks(a->status(), "read live projections");
  if (!b->status().ok()) return ledger::FromRocks(b->status(), "read rebuilt projections");
  return Status::Ok();
}

// Replaces every projection column family of live with scratch's in one
// synced WriteBatch. RocksDB applies a WriteBatch atomically, also across
// column families and after a crash, so live keeps either all old or all new
// projections.
// NOTE: the batch contains every differing key and value in memory; after a
// rebuild into empty projections that is their whole size.
Status ReplaceProjections(Store& live, const Store& scratch) {
  rocksdb::WriteBatch batch;
  for (Cf cf : ledger::ProjectionCfs()) {
    ESCROW_RETURN_IF_ERROR(AddReplacement(live, scratch, cf, batch));
  }
  if (batch.Count() == 0) return Status::Ok();
  return live.Write(&batch, /*sync=*/true);
}

// Rebuilds into scratch_dir and compares with (and maybe replaces) live.
Result<RebuildReport> RebuildInto(Store& live, const std::string& scratch_dir, bool replace) {
  auto scratch = Store::Open(scratch_dir);
  if (!scratch.ok()) return scratch.status();

  RebuildReport report;
  auto entries = ReplayLedger(live, **scratch);
  if (!entries.ok()) return entries.status();
  report.entries = *entries;

  for (Cf cf : ledger::ProjectionCfs()) {
    auto difference = FirstDifference(live, **scratch, cf);
    if (!difference.ok()) return difference.status();
    if (!difference->empty()) {
      report.first_difference = *difference;
      break;
    }
  }
  report.equal = report.first_difference.empty();

  if (replace) ESCROW_RETURN_IF_ERROR(ReplaceProjections(live, **scratch));
  return report;
}

}  // namespace

Result<RebuildReport> RebuildProjections(const std::string& data_dir, bool replace) {
  auto log = Logger("projections");
  auto live = Store::Open(data_dir, Store::Options{false, false});
  if (!live.ok()) return live.status();

  // The scratch database lives under data_dir, so it is on the same disk.
  const std::string scratch_dir =
      data_dir + "/rebuild-scratch-" + crypto::HexEncode(crypto::RandomBytes(8));
  auto report = RebuildInto(**live, scratch_dir, replace);

  std::error_code ec;
  std::filesystem::remove_all(scratch_dir, ec);
  if (ec) log->warn("could not remove the scratch directory {}: {}", scratch_dir, ec.message());
  if (!report.ok()) {
    log->error("projection rebuild of {} failed: {}", data_dir, report.status().message());
    return report;
  }
  log->info("projection rebuild of {}: {} entries, {}{}", data_dir, report->entries,
            report->equal ? "equal" : "different at ", report->first_difference);
  return report;
}

}  // namespace escrow::projections
