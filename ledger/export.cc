#include "ledger/export.h"

#include <cstdio>

#include "ledger/entry.h"
#include "ledger/keys.h"

namespace escrow::ledger {
namespace {

constexpr size_t kMaxRecordSize = kMaxEntrySize;

void PutRecord(std::ofstream& out, char kind, std::string_view payload) {
  char header[5] = {kind, static_cast<char>(payload.size() >> 24),
                    static_cast<char>(payload.size() >> 16), static_cast<char>(payload.size() >> 8),
                    static_cast<char>(payload.size())};
  out.write(header, sizeof(header));
  out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
}

std::string U64(uint64_t v) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
  return out;
}

}  // namespace

Result<ExportSummary> WriteExport(const Store& store, const std::string& trusted_public_key,
                                  const std::string& path) {
  std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) return Unavailable("cannot create " + tmp);
  ExportSummary summary;
  out.write(kExportMagic.data(), kExportMagic.size());
  PutRecord(out, 'K', trusted_public_key);

  // One snapshot, so the checkpoints and entries describe one moment.
  const rocksdb::Snapshot* snapshot = store.db()->GetSnapshot();
  rocksdb::ReadOptions options;
  options.snapshot = snapshot;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        store.db()->NewIterator(options, store.cf(Cf::kCheckpoints)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      PutRecord(out, 'C', it->value().ToStringView());
      summary.checkpoints++;
    }
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(options, store.cf(Cf::kLedger)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      PutRecord(out, 'E', it->value().ToStringView());
      summary.entries++;
    }
  }
  store.db()->ReleaseSnapshot(snapshot);
  PutRecord(out, 'Z', U64(summary.entries) + U64(summary.checkpoints));
  out.close();
  if (!out) return Unavailable("cannot write " + tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Unavailable("cannot rename " + tmp);
  return summary;
}

Result<ExportReader> ExportReader::Open(const std::string& path) {
  ExportReader reader;
  reader.path_ = path;
  reader.in_ = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*reader.in_) return NotFound("cannot open export file " + path);
  std::string magic(kExportMagic.size(), '\0');
  reader.in_->read(magic.data(), static_cast<std::streamsize>(magic.size()));
  if (!*reader.in_ || magic != kExportMagic) {
    return InvalidArgument(path + " is not an Escrow Ledger export (bad magic)");
  }
  auto first = reader.Next();
  if (!first.ok()) return first.status();
  if (first->first != 'K' || first->second.size() != 32) {
    return InvalidArgument(path + ": the first record must be the 32-byte public key");
  }
  reader.public_key_ = std::move(first->second);
  return reader;
}

Result<std::pair<char, std::string>> ExportReader::Next() {
  char header[5];
  in_->read(header, sizeof(header));
  if (in_->gcount() != sizeof(header)) {
    return InvalidArgument(path_ + " is truncated (no end record)");
  }
  uint32_t length = 0;
  for (int i = 1; i < 5; i++) length = length << 8 | static_cast<uint8_t>(header[i]);
  if (length > kMaxRecordSize) return InvalidArgument(path_ + " has an oversized record");
  std::string payload(length, '\0');
  in_->read(payload.data(), length);
  if (static_cast<uint32_t>(in_->gcount()) != length) {
    return InvalidArgument(path_ + " is truncated inside a record");
  }
  return std::make_pair(header[0], std::move(payload));
}

Status ExportReader::ReadAll(const std::function<void(std::string)>& on_checkpoint,
                             const std::function<bool(uint64_t, std::string)>& on_entry) {
  ExportSummary seen;
  for (;;) {
    auto record = Next();
    if (!record.ok()) return record.status();
    auto& [kind, payload] = *record;
    if (kind == 'C') {
      if (seen.entries > 0) return InvalidArgument(path_ + ": checkpoint record after entries");
      seen.checkpoints++;
      on_checkpoint(std::move(payload));
    } else if (kind == 'E') {
      seen.entries++;
      if (!on_entry(seen.entries, std::move(payload))) return Status::Ok();
    } else if (kind == 'Z') {
      if (payload != U64(seen.entries) + U64(seen.checkpoints)) {
        return InvalidArgument(path_ + ": end record counts do not match the records read");
      }
      return Status::Ok();
    } else {
      return InvalidArgument(path_ + ": unknown record kind");
    }
  }
}

Result<VerifyReport> VerifyExport(const std::string& path, const VerifyOptions& options) {
  auto reader = ExportReader::Open(path);
  if (!reader.ok()) return reader.status();
  LedgerVerifier verifier(reader->public_key(), options);
  Status read = reader->ReadAll([&](std::string note) { verifier.AddCheckpoint(std::move(note)); },
                                [&](uint64_t seq, std::string bytes) {
                                  return verifier.AddEntry(seq, std::move(bytes));
                                });
  VerifyReport report = verifier.Finish();
  if (!read.ok() && report.ok) {
    report.ok = false;
    report.first_bad_seq = report.entries + 1;
    report.error = read.message();
  }
  return report;
}

}  // namespace escrow::ledger
