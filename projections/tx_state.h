// Typed reads and writes of projection records through a sequencer
// Transaction, shared by the projector and the service. Private to the
// projections module.
//
// Thread safety: use only on the thread that owns the Transaction (the
// sequencer thread, or a rebuild).
#pragma once

#include <optional>
#include <string_view>

#include "ledger/sequencer.h"
#include "projections/state.h"

namespace escrow::projections {

// Returns nullopt when the device has no record.
Result<std::optional<DeviceRecord>> LoadDevice(ledger::Transaction& tx, std::string_view device_id);
void StoreDevice(ledger::Transaction& tx, const DeviceRecord& device);

// Returns the default Policy when none was recorded yet.
Result<Policy> LoadPolicy(ledger::Transaction& tx);
// Returns true when a PolicyChanged entry was applied.
Result<bool> HasRecordedPolicy(ledger::Transaction& tx);

Result<std::optional<AccountRecord>> LoadAccount(ledger::Transaction& tx, std::string_view name);
Result<std::optional<TokenRecord>> LoadToken(ledger::Transaction& tx, std::string_view digest);

// Decodes a stored record or returns kInternal naming the column family,
// because a projection value that does not decode is corrupt data.
template <class T>
Result<std::optional<T>> DecodeStored(const Result<std::optional<std::string>>& bytes,
                                      const char* cf_name) {
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<T>();
  auto record = DecodeRecord<T>(**bytes);
  if (!record.ok()) {
    return Internal(std::string("corrupt value in ") + cf_name + ": " + record.status().message());
  }
  return std::optional<T>(std::move(*record));
}

}  // namespace escrow::projections
