// Projector: applies ledger entries to the projection column families.
//
// Apply is the only code that writes projection.*; the sequencer calls it for
// each appended entry inside the same WriteBatch, and RebuildProjections calls
// it for every stored entry, so live state and rebuilt state come from the
// same code.
//
// Thread safety: stateless; call from the sequencer thread or a rebuild.
#pragma once

#include <string>

#include "ledger/entry.h"
#include "ledger/sequencer.h"
#include "ledger/status.h"

namespace escrow::projections {

// Updates projections for entry and sets projection.meta "last_applied_seq".
Status Apply(const ledger::Entry& entry, ledger::Transaction& tx);

struct RebuildReport {
  uint64_t entries = 0;
  bool equal = false;        // rebuilt projections equal the stored ones
  std::string first_difference;  // "<cf>: key <hex>" when not equal
};

// Rebuilds every projection from the ledger of data_dir into a scratch
// database and compares it, column family by column family, with the live
// projections. With replace = true, the live projections are then replaced
// by one synced rocksdb::WriteBatch over all projection column families,
// which RocksDB (7.8 here) applies atomically, also across a crash. A
// rebuild that fails, for example on a ledger entry that Apply rejects,
// writes nothing to the live projections. Needs escrowd stopped, because it
// opens the database for writing.
Result<RebuildReport> RebuildProjections(const std::string& data_dir, bool replace);

}  // namespace escrow::projections
