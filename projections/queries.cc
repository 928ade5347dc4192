#include "projections/queries.h"

#include "projections/layout.h"

namespace escrow::projections {
namespace {

using ledger::Cf;
using ledger::CfName;

template <class T>
Result<std::optional<T>> ReadRecord(const ledger::Store& store, Cf cf, std::string_view key) {
  auto bytes = store.Get(cf, key);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<T>();
  auto record = DecodeRecord<T>(**bytes);
  if (!record.ok()) {
    return Internal(std::string("corrupt value in ") + CfName(cf) + ": " +
                    record.status().message());
  }
  return std::optional<T>(std::move(*record));
}

std::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

bool AuditMatches(const AuditRecord& record, const AuditFilter& filter) {
  if (record.time_ns < filter.since_ns || record.time_ns >= filter.until_ns) return false;
  if (filter.denied_only && !record.denied) return false;
  if (!filter.device_id.empty() && record.device_id != filter.device_id) return false;
  if (!filter.actor.empty() && record.actor != filter.actor) return false;
  return true;
}

Result<DeviceRecord> ParseDevice(std::string_view bytes) {
  auto device = DecodeRecord<DeviceRecord>(bytes);
  if (!device.ok()) {
    return Internal("corrupt value in projection.devices: " + device.status().message());
  }
  return device;
}

// Reads a device the owner index points to; the record must exist.
Result<DeviceRecord> ReadDevice(const ledger::Store& store, std::string_view device_id) {
  auto device = ReadRecord<DeviceRecord>(store, Cf::kProjectionDevices, device_id);
  if (!device.ok()) return device.status();
  if (!device->has_value()) {
    return Internal("the owner index names device " + std::string(device_id) +
                    ", which has no record");
  }
  return std::move(**device);
}

}  // namespace

Result<std::optional<DeviceRecord>> GetDevice(const ledger::Store& store,
                                              std::string_view device_id) {
  return ReadRecord<DeviceRecord>(store, Cf::kProjectionDevices, device_id);
}

Result<Policy> GetPolicy(const ledger::Store& store) {
  auto policy = ReadRecord<Policy>(store, Cf::kProjectionPolicy, layout::kPolicyKey);
  if (!policy.ok()) return policy.status();
  return policy->value_or(Policy{});
}

Result<std::optional<AccountRecord>> GetAccount(const ledger::Store& store,
                                                std::string_view name) {
  return ReadRecord<AccountRecord>(store, Cf::kProjectionAccounts, name);
}

Result<std::vector<AccountRecord>> ListAccounts(const ledger::Store& store) {
  std::vector<AccountRecord> accounts;
  auto it = store.NewIterator(Cf::kProjectionAccounts);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto account = DecodeRecord<AccountRecord>(ToView(it->value()));
    if (!account.ok()) return Internal("corrupt value in projection.accounts: " +
                                       account.status().message());
    accounts.push_back(std::move(*account));
  }
  if (!it->status().ok()) return ledger::FromRocks(it->status(), "list accounts");
  return accounts;
}

Result<std::vector<DeviceRecord>> ListDevices(const ledger::Store& store,
                                              const DeviceFilter& filter) {
  std::vector<DeviceRecord> devices;
  if (filter.limit == 0) return devices;

  // With an owner, walk the owner index; otherwise walk the devices by id.
  const bool by_owner = !filter.owner.empty();
  const std::string prefix = by_owner ? layout::OwnerPrefix(filter.owner) : "";
  const Cf cf = by_owner ? Cf::kProjectionAudit : Cf::kProjectionDevices;
  std::string start = prefix + std::max(filter.after, filter.id_prefix);

  auto it = store.NewIterator(cf);
  for (it->Seek(start); it->Valid() && devices.size() < filter.limit; it->Next()) {
    std::string_view key = ToView(it->key());
    if (!key.starts_with(prefix)) break;
    std::string_view device_id = key.substr(prefix.size());
    if (!filter.after.empty() && device_id <= filter.after) continue;
    if (!device_id.starts_with(filter.id_prefix)) {
      if (device_id > filter.id_prefix) break;  // past every id with the prefix
      continue;
    }

    auto device = by_owner ? ReadDevice(store, device_id) : ParseDevice(ToView(it->value()));
    if (!device.ok()) return device.status();
    devices.push_back(std::move(*device));
  }
  if (!it->status().ok()) return ledger::FromRocks(it->status(), "list devices");
  return devices;
}

Result<std::vector<AuditRecord>> QueryAudit(const ledger::Store& store,
                                            const AuditFilter& filter) {
  std::vector<AuditRecord> records;
  if (filter.limit == 0 || filter.since_ns >= filter.until_ns) return records;

  // Pick the narrowest index: by device, by actor, or by time.
  std::string prefix;
  std::string start;
  if (!filter.device_id.empty()) {
    prefix = layout::AuditByDevicePrefix(filter.device_id);
    start = prefix;
  } else if (!filter.actor.empty()) {
    prefix = layout::AuditByActorPrefix(filter.actor);
    start = prefix;
  } else {
    prefix = layout::AuditByTimePrefix();
    start = layout::AuditByTimeKey(std::max<int64_t>(filter.since_ns, 0), 0);
  }

  // Keys sort by seq (or time, then seq), so records come oldest first.
  auto it = store.NewIterator(Cf::kProjectionAudit);
  for (it->Seek(start); it->Valid() && records.size() < filter.limit; it->Next()) {
    if (!ToView(it->key()).starts_with(prefix)) break;
    auto record = DecodeRecord<AuditRecord>(ToView(it->value()));
    if (!record.ok()) {
      return Internal("corrupt value in projection.audit: " + record.status().message());
    }
    if (AuditMatches(*record, filter)) records.push_back(std::move(*record));
  }
  if (!it->status().ok()) return ledger::FromRocks(it->status(), "query audit records");
  return records;
}

Result<std::vector<ledger::Entry>> DeviceTimeline(const ledger::Store& store,
                                                  std::string_view device_id) {
  std::vector<ledger::Entry> entries;
  const std::string prefix = layout::TimelinePrefix(device_id);
  auto it = store.NewIterator(Cf::kProjectionAudit);
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    std::string_view key = ToView(it->key());
    if (!key.starts_with(prefix)) break;
    const uint64_t seq = layout::ParseUint64Be(key.substr(prefix.size()));

    auto bytes = store.ReadEntry(seq);
    if (!bytes.ok()) return bytes.status();
    if (!bytes->has_value()) {
      return Internal("ledger entry " + std::to_string(seq) + " of the timeline of " +
                      std::string(device_id) + " is missing");
    }
    auto decoded = ledger::DecodeEntry(**bytes);
    if (!decoded.ok()) return Internal("ledger entry " + std::to_string(seq) + " is unreadable: " +
                                       decoded.status().message());
    entries.push_back(std::move(decoded->entry));
  }
  if (!it->status().ok()) return ledger::FromRocks(it->status(), "read device timeline");
  return entries;
}

Result<std::optional<uint64_t>> LastAcceptedCounter(const ledger::Store& store,
                                                    std::string_view device_id) {
  auto bytes = store.Get(Cf::kOperational, layout::CounterKey(device_id));
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<uint64_t>();
  return std::optional<uint64_t>(layout::ParseUint64Be(**bytes));
}

uint64_t LastAppliedSeq(const ledger::Store& store) {
  auto bytes = store.Get(Cf::kProjectionMeta, layout::kLastAppliedSeqKey);
  if (!bytes.ok() || !bytes->has_value()) return 0;
  return layout::ParseUint64Be(**bytes);
}

}  // namespace escrow::projections
