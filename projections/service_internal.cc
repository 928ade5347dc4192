#include "projections/service_internal.h"

#include "ledger/crypto.h"
#include "projections/layout.h"
#include "projections/tx_state.h"

namespace escrow::projections::internal {

using ledger::Cf;

Status RequireAdmin(const Principal& by, std::string_view action) {
  if (by.Has(kRoleAdmin) || by.name == kSystemPrincipal) return Status::Ok();
  return PermissionDenied(std::string(action) + " requires the admin role");
}

Result<DeviceRecord> AcceptDeviceRequest(ledger::Transaction& tx, const DeviceOrigin& origin) {
  // Step 1: the device must be registered.
  auto device = LoadDevice(tx, origin.device_id);
  if (!device.ok()) return device.status();
  if (!device->has_value()) {
    return NotFound("device " + origin.device_id + " is not registered");
  }

  // Step 2: the counter must grow (replay protection).
  const std::string key = layout::CounterKey(origin.device_id);
  auto last = tx.Get(Cf::kOperational, key);
  if (!last.ok()) return last.status();
  if (last->has_value()) {
    const uint64_t last_counter = layout::ParseUint64Be(**last);
    Status grows = CheckCounterGrows(origin.counter, last_counter);
    if (!grows.ok()) {
      Log()->warn("device {}: replayed request, counter {} <= {}", origin.device_id,
                  origin.counter, last_counter);
      return grows;
    }
  }
  tx.Put(Cf::kOperational, key, layout::Uint64Be(origin.counter));
  return std::move(**device);
}

Status CheckEnrolled(const DeviceRecord& device) {
  if (device.state == Lifecycle::kRetired) return Gone("device " + device.device_id + " is retired");
  if (device.state == Lifecycle::kRegistered) {
    return FailedPrecondition("device " + device.device_id + " has not enrolled yet");
  }
  return Status::Ok();
}

std::vector<std::string> DueActions(const Policy& policy, const DeviceRecord& device) {
  std::vector<std::string> actions;
  if (policy.reset_mode != "mdm" || !device.client_installed) return actions;
  if (device.state == Lifecycle::kRetired || device.state == Lifecycle::kRegistered) {
    return actions;
  }
  if (!device.generation_valid || device.state == Lifecycle::kUsed || device.rotation_requested) {
    actions.emplace_back(kActionEscrowNewPassword);
  }
  return actions;
}

Status InvalidateCurrent(ledger::Transaction& tx, const DeviceRecord& device,
                         const std::string& reason) {
  if (device.generation == 0 || !device.generation_valid) return Status::Ok();
  ledger::RecoveryPasswordInvalidated event{device.device_id, device.generation, reason};
  auto entry = tx.Append(SystemDraft(event, device.device_id));
  return entry.status();
}

std::string TokenToText(std::string_view raw) {
  std::string text = crypto::Base64Encode(raw);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

Result<std::string> TokenFromText(std::string_view text) {
  std::string standard(text);
  for (char& c : standard) {
    if (c == '+' || c == '/' || c == '=') return Unauthenticated("the enrollment token is invalid");
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (standard.size() % 4 != 0) standard.push_back('=');
  auto raw = crypto::Base64Decode(standard);
  crypto::Cleanse(standard);
  if (!raw.ok() || raw->size() != kEnrollmentTokenBytes) {
    return Unauthenticated("the enrollment token is invalid");
  }
  return raw;
}

}  // namespace escrow::projections::internal
