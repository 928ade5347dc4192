// Read-only queries over committed projection state, for the API.
//
// Thread safety: all functions only read the Store and are safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ledger/entry.h"
#include "ledger/store.h"
#include "projections/state.h"

namespace escrow::projections {

Result<std::optional<DeviceRecord>> GetDevice(const ledger::Store& store,
                                              std::string_view device_id);
Result<Policy> GetPolicy(const ledger::Store& store);  // defaults if none recorded
Result<std::optional<AccountRecord>> GetAccount(const ledger::Store& store,
                                                std::string_view name);
Result<std::vector<AccountRecord>> ListAccounts(const ledger::Store& store);

struct DeviceFilter {
  std::string owner;      // exact owner, "" = any
  std::string id_prefix;  // "" = any
  size_t limit = 100;
  std::string after;      // page after this device id
};
Result<std::vector<DeviceRecord>> ListDevices(const ledger::Store& store,
                                              const DeviceFilter& filter);

struct AuditFilter {
  std::string device_id;  // one of device_id / actor, or neither for time order
  std::string actor;
  int64_t since_ns = 0;            // inclusive
  int64_t until_ns = INT64_MAX;    // exclusive
  bool denied_only = false;
  size_t limit = 1000;
};
Result<std::vector<AuditRecord>> QueryAudit(const ledger::Store& store, const AuditFilter& filter);

// Every ledger entry whose subject is device_id, in seq order.
Result<std::vector<ledger::Entry>> DeviceTimeline(const ledger::Store& store,
                                                  std::string_view device_id);

uint64_t LastAppliedSeq(const ledger::Store& store);

// Returns the last request counter accepted from device_id (committed
// state), or nullopt before the device's first accepted request.
Result<std::optional<uint64_t>> LastAcceptedCounter(const ledger::Store& store,
                                                    std::string_view device_id);

}  // namespace escrow::projections
