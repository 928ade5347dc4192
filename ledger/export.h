// Ledger export: one self-contained file with the trusted public key, every
// entry and every signed checkpoint, for offline verification and replay.
//
// File layout: the 8-byte magic "ESCLEDG1", then records. Each record is
// kind (1 byte) ‖ length (uint32, big-endian) ‖ payload:
//
//   kind  payload
//   'K'   32-byte Ed25519 public key: the first ledger signing key (trust anchor)
//   'C'   one signed checkpoint note (UTF-8 text, ledger/checkpoint.h)
//   'E'   one entry's stored bytes (ledger/entry.h), in seq order, seq 1 first
//   'Z'   end marker: entry count (uint64 BE) ‖ checkpoint count (uint64 BE)
//
// 'K' comes first, then all 'C' records, then all 'E' records, then 'Z'. A
// file without its 'Z' record, or with counts that disagree, is truncated.
//
// Thread safety: plain functions; ExportReader is used by one thread.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>

#include "ledger/store.h"
#include "ledger/verify.h"

namespace escrow::ledger {

constexpr std::string_view kExportMagic = "ESCLEDG1";

struct ExportSummary {
  uint64_t entries = 0;
  uint64_t checkpoints = 0;
};

// Writes the export of store to path (through a temporary file and rename).
Result<ExportSummary> WriteExport(const Store& store, const std::string& trusted_public_key,
                                  const std::string& path);

// Streams an export file's records in order.
class ExportReader {
 public:
  static Result<ExportReader> Open(const std::string& path);

  const std::string& public_key() const { return public_key_; }

  // Calls on_checkpoint for each checkpoint note and on_entry(seq, bytes) for
  // each entry (seq counted from 1). Stops early when on_entry returns false.
  // Fails on a truncated or malformed file.
  Status ReadAll(const std::function<void(std::string)>& on_checkpoint,
                 const std::function<bool(uint64_t, std::string)>& on_entry);

 private:
  ExportReader() = default;
  Result<std::pair<char, std::string>> Next();

  std::string path_;
  std::unique_ptr<std::ifstream> in_;
  std::string public_key_;
};

// Verifies an export file like VerifyLedger verifies a data directory.
Result<VerifyReport> VerifyExport(const std::string& path, const VerifyOptions& options = {});

}  // namespace escrow::ledger
