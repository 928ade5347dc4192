// Helpers shared by the EscrowService source files. Private to the
// projections module.
//
// Thread safety: the functions taking a Transaction run on the sequencer
// thread; the others are pure.
#pragma once

#include <string>
#include <vector>

#include "ledger/log.h"
#include "ledger/sequencer.h"
#include "projections/service.h"
#include "projections/state.h"

namespace escrow::projections::internal {

constexpr std::string_view kActionEscrowNewPassword = "escrow_new_password";

inline std::shared_ptr<spdlog::logger> Log() { return Logger("projections"); }

// A draft for an event a device request caused: actor and subject are the
// device, and the signed request is recorded as the entry's origin.
template <class Event>
ledger::EventDraft DeviceDraft(const Event& event, const DeviceOrigin& origin) {
  ledger::EventDraft draft =
      ledger::MakeDraft(event, ledger::ActorKind::kDevice, origin.device_id, origin.device_id);
  draft.origin_request = origin.request_bytes;
  draft.origin_signature = origin.signature;
  return draft;
}

// A draft for an event that follows from another event (e.g. supersede).
template <class Event>
ledger::EventDraft SystemDraft(const Event& event, std::string subject) {
  return ledger::MakeDraft(event, ledger::ActorKind::kSystem, "", std::move(subject));
}

// A draft for an event an API caller caused; the system principal is
// recorded as the system actor.
template <class Event>
ledger::EventDraft PrincipalDraft(const Event& event, const Principal& by, std::string subject) {
  if (by.name == kSystemPrincipal) return SystemDraft(event, std::move(subject));
  return ledger::MakeDraft(event, ledger::ActorKind::kAccount, by.name, std::move(subject));
}

// Returns ok for an admin or the system principal, else kPermissionDenied naming the role.
Status RequireAdmin(const Principal& by, std::string_view action);

// Loads the device a request names and accepts the request's counter: fails
// with kNotFound for an unknown device and kConflict for a counter that is
// not greater than the last accepted one. The new counter is written to tx.
Result<DeviceRecord> AcceptDeviceRequest(ledger::Transaction& tx, const DeviceOrigin& origin);

// Returns kGone for a retired device and kFailedPrecondition for one that
// has not enrolled.
Status CheckEnrolled(const DeviceRecord& device);

// Returns the actions due for the device under policy (escrow_new_password).
std::vector<std::string> DueActions(const Policy& policy, const DeviceRecord& device);

// Appends Invalidated(device.generation, reason) when that generation is valid.
Status InvalidateCurrent(ledger::Transaction& tx, const DeviceRecord& device,
                         const std::string& reason);

// Enrollment tokens: base64url text without padding <-> raw bytes.
std::string TokenToText(std::string_view raw);
Result<std::string> TokenFromText(std::string_view text);

// Turns the outcome of a command into the caller's result: a failed run
// wins, then a rejection the command recorded, else the value.
template <class T>
Result<T> Finish(const Status& run, const Status& rejected, T value) {
  if (!run.ok()) return run;
  if (!rejected.ok()) return rejected;
  return value;
}

}  // namespace escrow::projections::internal
