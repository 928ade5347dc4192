// EscrowService::Retrieve: the fail-closed retrieval of a recovery password.
//
// One sequencer command decides and appends RecoveryPasswordRetrieved or
// RecoveryPasswordRetrievalDenied. The envelope is opened only after the
// Retrieved entry is committed, so no plaintext leaves without its audit
// record on disk. A denial is committed too: the command returns ok and
// passes the denial out, so the sequencer does not roll the event back.
#include <algorithm>

#include "ledger/envelope.h"
#include "projections/service.h"
#include "projections/service_internal.h"
#include "projections/tx_state.h"

namespace escrow::projections {

using internal::Log;
using internal::PrincipalDraft;
using ledger::Cf;
using ledger::Transaction;

namespace {

constexpr std::string_view kChannels[] = {"portal", "console", "cli", "api"};

Status ValidateRetrievalRequest(const RetrievalRequest& request) {
  ESCROW_RETURN_IF_ERROR(ValidateDeviceId(request.device_id));
  if (std::find(std::begin(kChannels), std::end(kChannels), request.channel) ==
      std::end(kChannels)) {
    return InvalidArgument("invalid channel \"" + request.channel +
                           "\": use portal, console, cli or api");
  }
  if (request.reason.size() > kMaxReasonLength) {
    return InvalidArgument("the reason is longer than " + std::to_string(kMaxReasonLength) +
                           " characters");
  }
  return Status::Ok();
}

// Who may retrieve: the owner (role user) when self-service recovery is on,
// or the help desk with a reason.
Status Authorize(const Principal& by, const RetrievalRequest& request, const DeviceRecord& device,
                 const Policy& policy) {
  const bool is_owner = by.Has(kRoleUser) && by.name == device.owner;
  if (is_owner && policy.self_service_recovery) return Status::Ok();
  if (by.Has(kRoleHelpdesk)) {
    if (request.reason.empty()) return InvalidArgument("a reason (ticket id) is required");
    return Status::Ok();
  }
  if (is_owner) {
    return PermissionDenied(
        "self-service recovery is disabled by policy; ask the help desk for the recovery password");
  }
  return PermissionDenied(std::string(kRetrievalRoleRequiredMessage));
}

// Returns the denial_reason text of denial, or kInvalidArgument when the
// caller's roles contradict it.
Result<std::string> DenialReason(const Principal& by, RetrievalDenial denial) {
  switch (denial) {
    case RetrievalDenial::kRoleRequired:
      if (by.Has(kRoleHelpdesk) || by.Has(kRoleUser)) {
        return InvalidArgument("account " + by.name +
                               " holds a retrieval role, so a missing-role denial would be false");
      }
      return std::string(kRetrievalRoleRequiredMessage);
  }
  return InvalidArgument("unknown retrieval denial " + std::to_string(static_cast<int>(denial)));
}

// Whether the device has a password this server may hand out.
Status CheckRetrievable(const DeviceRecord& device, const Policy& policy) {
  if (device.state == Lifecycle::kRetired) {
    return Gone("device " + device.device_id +
                " is retired: its escrow key was destroyed, so its recovery passwords can no "
                "longer be retrieved");
  }
  if (policy.reset_mode != "mdm") {
    return FailedPrecondition("password reset is not handled by this server while reset_mode is " +
                              policy.reset_mode);
  }
  if (device.generation == 0 || !device.generation_valid) {
    return FailedPrecondition("no valid recovery password escrowed for device " +
                              device.device_id);
  }
  return Status::Ok();
}

// Opens the committed envelope of generation g with the device's escrow key.
Result<crypto::SecretString> OpenEscrowed(const ledger::Store& store,
                                          const ledger::MasterKey& master,
                                          const std::string& device_id, uint64_t g,
                                          uint64_t escrow_seq, const std::string& key_id) {
  // Step 1: the envelope, from the ledger entry that escrowed it.
  auto bytes = store.ReadEntry(escrow_seq);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return Internal("ledger entry " + std::to_string(escrow_seq) + " is missing");
  auto decoded = ledger::DecodeEntry(**bytes);
  if (!decoded.ok()) return Internal("ledger entry " + std::to_string(escrow_seq) + " is unreadable");
  if (decoded->entry.type != static_cast<uint16_t>(ledger::EventType::kRecoveryPasswordEscrowed)) {
    return Internal("ledger entry " + std::to_string(escrow_seq) + " is not an escrow entry");
  }
  auto escrowed = ledger::DecodePayload<ledger::RecoveryPasswordEscrowed>(decoded->entry.payload);
  if (!escrowed.ok()) return escrowed.status();
  if (escrowed->device_id != device_id || escrowed->generation != g) {
    return Internal("ledger entry " + std::to_string(escrow_seq) + " escrows another generation");
  }

  // Step 2: the escrow private key, unwrapped by the master key.
  auto wrapped = store.Get(Cf::kKeystore, key_id);
  if (!wrapped.ok()) return wrapped.status();
  if (!wrapped->has_value()) return Internal("the escrow key of device " + device_id + " is missing");
  auto private_key = ledger::UnwrapEscrowKey(master, key_id, **wrapped);
  if (!private_key.ok()) return private_key.status();

  return ledger::OpenRecoveryPassword(private_key->view(), device_id, g, escrowed->envelope);
}

}  // namespace

Result<Retrieval> EscrowService::Retrieve(const Principal& by, const RetrievalRequest& request) {
  ESCROW_RETURN_IF_ERROR(ValidateRetrievalRequest(request));

  // Step 1: decide and record the retrieval or its denial.
  Retrieval out;
  Status denied;
  uint64_t escrow_seq = 0;
  std::string key_id;
  Status run = sequencer_->Run([&](Transaction& tx) -> Status {
    denied = Status::Ok();
    auto device = LoadDevice(tx, request.device_id);
    if (!device.ok()) return device.status();
    if (!device->has_value()) return NotFound("device " + request.device_id + " is not registered");
    const DeviceRecord& d = **device;
    auto policy = LoadPolicy(tx);
    if (!policy.ok()) return policy.status();

    denied = Authorize(by, request, d, *policy);
    if (denied.ok()) denied = CheckRetrievable(d, *policy);
    if (!denied.ok()) {
      ledger::RecoveryPasswordRetrievalDenied event{d.device_id, request.channel, request.reason,
                                                    denied.message()};
      return tx.Append(PrincipalDraft(event, by, d.device_id)).status();
    }

    ledger::RecoveryPasswordRetrieved event{d.device_id, d.generation, request.channel,
                                            request.reason};
    auto entry = tx.Append(PrincipalDraft(event, by, d.device_id));
    if (!entry.ok()) return entry.status();
    if (policy->rotate_after_retrieval) {
      ledger::RotationRequested rotation{d.device_id, "retrieval"};
      ESCROW_RETURN_IF_ERROR(tx.Append(internal::SystemDraft(rotation, d.device_id)).status());
    }
    out.device_id = d.device_id;
    out.generation = d.generation;
    out.audit_seq = entry->seq;
    out.armed = d.armed;
    out.owner = d.owner;
    escrow_seq = d.escrow_seq;
    key_id = d.escrow_key_id;
    return Status::Ok();
  });
  if (run.code() == Code::kUnavailable) {
    // Fail closed: without a committed audit entry the envelope stays shut.
    return Unavailable("the ledger cannot record this retrieval right now, so the recovery "
                       "password of device " + request.device_id +
                       " was not released; try again later");
  }
  if (!run.ok()) return run;
  if (!denied.ok()) {
    Log()->info("retrieval for device {} by {} denied: {}", request.device_id, by.name,
                denied.message());
    return denied;
  }

  // Step 2: only now, with the audit entry durable, open the envelope.
  auto password = OpenEscrowed(*store_, *master_key_, out.device_id, out.generation, escrow_seq,
                               key_id);
  if (!password.ok()) {
    Log()->error("device {}: opening generation {} failed after audit seq {}: {}", out.device_id,
                 out.generation, out.audit_seq, password.status().message());
    return Internal("the recovery password of device " + out.device_id +
                    " could not be decrypted; the retrieval was recorded at seq " +
                    std::to_string(out.audit_seq));
  }
  out.recovery_password = std::move(*password);
  Log()->info("recovery password of device {} generation {} retrieved by {} (audit seq {})",
              out.device_id, out.generation, by.name, out.audit_seq);
  return out;
}

Result<uint64_t> EscrowService::RecordRetrievalDenied(const Principal& by,
                                                     const RetrievalRequest& request,
                                                     RetrievalDenial denial) {
  // Step 1: check the request and the denial outside the sequencer.
  ESCROW_RETURN_IF_ERROR(ValidateRetrievalRequest(request));
  auto denial_reason = DenialReason(by, denial);
  if (!denial_reason.ok()) return denial_reason.status();

  // Step 2: append the denial about the registered device, as Retrieve does.
  uint64_t seq = 0;
  Status run = sequencer_->Run([&](Transaction& tx) -> Status {
    auto device = LoadDevice(tx, request.device_id);
    if (!device.ok()) return device.status();
    if (!device->has_value()) return NotFound("device " + request.device_id + " is not registered");
    const DeviceRecord& d = **device;
    ledger::RecoveryPasswordRetrievalDenied event{d.device_id, request.channel, request.reason,
                                                  *denial_reason};
    auto entry = tx.Append(PrincipalDraft(event, by, d.device_id));
    if (!entry.ok()) return entry.status();
    seq = entry->seq;
    return Status::Ok();
  });
  if (!run.ok()) return run;
  Log()->info("retrieval for device {} by {} denied: {}", request.device_id, by.name,
              *denial_reason);
  return seq;
}

}  // namespace escrow::projections
