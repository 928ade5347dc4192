#include "projections/tx_state.h"

#include "projections/layout.h"

namespace escrow::projections {

using ledger::Cf;
using ledger::CfName;

Result<std::optional<DeviceRecord>> LoadDevice(ledger::Transaction& tx,
                                               std::string_view device_id) {
  return DecodeStored<DeviceRecord>(tx.Get(Cf::kProjectionDevices, device_id),
                                    CfName(Cf::kProjectionDevices));
}

void StoreDevice(ledger::Transaction& tx, const DeviceRecord& device) {
  tx.Put(Cf::kProjectionDevices, device.device_id, EncodeRecord(device));
}

Result<Policy> LoadPolicy(ledger::Transaction& tx) {
  auto policy = DecodeStored<Policy>(tx.Get(Cf::kProjectionPolicy, layout::kPolicyKey),
                                     CfName(Cf::kProjectionPolicy));
  if (!policy.ok()) return policy.status();
  return policy->value_or(Policy{});
}

Result<bool> HasRecordedPolicy(ledger::Transaction& tx) {
  auto bytes = tx.Get(Cf::kProjectionPolicy, layout::kPolicyKey);
  if (!bytes.ok()) return bytes.status();
  return bytes->has_value();
}

Result<std::optional<AccountRecord>> LoadAccount(ledger::Transaction& tx, std::string_view name) {
  return DecodeStored<AccountRecord>(tx.Get(Cf::kProjectionAccounts, name),
                                     CfName(Cf::kProjectionAccounts));
}

Result<std::optional<TokenRecord>> LoadToken(ledger::Transaction& tx, std::string_view digest) {
  return DecodeStored<TokenRecord>(tx.Get(Cf::kProjectionTokens, digest),
                                   CfName(Cf::kProjectionTokens));
}

}  // namespace escrow::projections
