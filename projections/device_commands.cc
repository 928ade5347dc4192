// EscrowService: the device gateway commands (enroll, check-in, escrow,
// device events). Each runs as one sequencer command.
//
// Rejections after the counter check (wrong state, stale generation, ...)
// still commit the new counter, so the same signed request cannot be
// replayed later when the state has changed. They write no ledger entry.
#include "ledger/envelope.h"
#include "projections/layout.h"
#include "projections/service.h"
#include "projections/service_internal.h"
#include "projections/tx_state.h"

namespace escrow::projections {

using internal::AcceptDeviceRequest;
using internal::DeviceDraft;
using internal::DueActions;
using internal::Finish;
using internal::Log;
using ledger::Cf;
using ledger::Transaction;

namespace {

constexpr std::string_view kMdm = "mdm";

Status CheckVersionText(std::string_view field_name, std::string_view version) {
  if (version.empty() || version.size() > kMaxVersionLength) {
    return InvalidArgument(std::string(field_name) + " must be 1 to " +
                           std::to_string(kMaxVersionLength) + " characters long");
  }
  return Status::Ok();
}

// The next step after a used or expired token, appended to those errors.
// escrowctl add-device also issues a new token for a registered device.
constexpr std::string_view kAskForNewToken =
    ". Ask an administrator for a new enrollment token (escrowctl add-device)";

// Looks up the token and checks that it may enroll device_id now. Returns
// the token's record (its owner becomes the device's owner).
Result<TokenRecord> CheckToken(Transaction& tx, std::string_view digest,
                               const std::string& device_id) {
  auto token = LoadToken(tx, digest);
  if (!token.ok()) return token.status();
  if (!token->has_value()) return Unauthenticated("unknown enrollment token");
  if ((*token)->used) {
    return Unauthenticated(
        "the enrollment token was already used or was replaced by a newer token for this device" +
        std::string(kAskForNewToken));
  }
  if ((*token)->expires_at_ns <= tx.now_ns()) {
    return Unauthenticated("the enrollment token expired" + std::string(kAskForNewToken));
  }
  if ((*token)->device_id != device_id) {
    return Unauthenticated("the enrollment token was issued for another device id");
  }
  return std::move(**token);
}

Status CheckOsVersion(const Policy& policy, const std::string& os_version) {
  auto order = CompareVersions(os_version, policy.min_os_version);
  if (!order.ok()) return InvalidArgument("os_version: " + order.status().message());
  if (*order < 0) {
    return FailedPrecondition("OS version " + os_version + " is below the minimum version " +
                              policy.min_os_version + " that the policy requires");
  }
  return Status::Ok();
}

// Escrow rules: reset mode mdm, an enrolled device with the client installed.
Status CheckEscrowAllowed(const Policy& policy, const DeviceRecord& device) {
  ESCROW_RETURN_IF_ERROR(internal::CheckEnrolled(device));
  if (policy.reset_mode != kMdm) {
    return FailedPrecondition("password reset is not handled by this server while reset_mode is " +
                              policy.reset_mode);
  }
  if (!device.client_installed) {
    return FailedPrecondition("the password reset client is not installed on device " +
                              device.device_id + "; report client_installed first");
  }
  return Status::Ok();
}

// Generation rules for escrowing g against the current generation:
// g = current + 1 is new, and g = current with the same digest is a retry.
struct GenerationDecision {
  Status status;
  bool already_escrowed = false;
};

GenerationDecision DecideGeneration(const DeviceRecord& device, uint64_t g,
                                    const std::string& digest) {
  const uint64_t current = device.generation;
  if (g == current + 1) return {};
  if (g == current && current > 0) {
    if (crypto::ConstantTimeEqual(digest, device.envelope_digest)) return {Status::Ok(), true};
    return {Conflict("generation " + std::to_string(g) +
                     " is already escrowed with a different envelope"), false};
  }
  if (g < current) {
    return {Conflict("stale generation " + std::to_string(g) + ": the current generation is " +
                     std::to_string(current)), false};
  }
  return {Conflict("generation must be current+1 = " + std::to_string(current + 1) + ", not " +
                   std::to_string(g)), false};
}

// Checks that g is the device's current valid generation (armed, reset).
Status CheckCurrentGeneration(const DeviceRecord& device, uint64_t g, std::string_view event) {
  if (device.generation_valid && g == device.generation) return Status::Ok();
  return FailedPrecondition(std::string(event) + " generation " + std::to_string(g) +
                            " is not the current valid generation (" +
                            (device.generation_valid ? std::to_string(device.generation)
                                                     : std::string("none")) + ")");
}

}  // namespace

// ---------------------------------------------------------------------------
// Enroll

Result<EnrollResult> EscrowService::Enroll(const EnrollRequest& request) {
  // Step 1: validate the input and derive the token digest.
  const DeviceOrigin& origin = request.origin;
  ESCROW_RETURN_IF_ERROR(ValidateDeviceId(origin.device_id));
  ESCROW_RETURN_IF_ERROR(CheckVersionText("os_version", request.os_version));
  ESCROW_RETURN_IF_ERROR(CheckVersionText("client_version", request.client_version));
  if (request.device_public_key.size() != crypto::kEd25519KeySize) {
    return InvalidArgument("device_public_key must be 32 bytes");
  }
  auto raw_token = internal::TokenFromText(request.enrollment_token);
  if (!raw_token.ok()) return raw_token.status();
  const std::string digest = crypto::Sha256(*raw_token);
  crypto::Cleanse(*raw_token);

  // Step 2: in one transaction, check token, device and policy, create the
  // escrow key and append DeviceEnrolled and ClientInstalled. A device that
  // enrolled before is re-enrolled: its old escrow key is deleted and its
  // valid generation invalidated (reason re_enrolled).
  EnrollResult result;
  bool re_enrolled = false;
  Status status = sequencer_->Run([&](Transaction& tx) -> Status {
    auto token = CheckToken(tx, digest, origin.device_id);
    if (!token.ok()) return token.status();
    auto device = LoadDevice(tx, origin.device_id);
    if (!device.ok()) return device.status();
    if (!device->has_value()) return NotFound("device " + origin.device_id + " is not registered");
    const DeviceRecord& before = **device;
    if (before.state == Lifecycle::kRetired) {
      return Gone("device " + origin.device_id + " is retired and cannot be enrolled again");
    }
    auto policy = LoadPolicy(tx);
    if (!policy.ok()) return policy.status();
    ESCROW_RETURN_IF_ERROR(CheckOsVersion(*policy, request.os_version));

    re_enrolled = before.state != Lifecycle::kRegistered;
    auto key = ledger::CreateEscrowKey(*master_key_);
    if (!key.ok()) return key.status();
    if (re_enrolled && !before.escrow_key_id.empty()) tx.Delete(Cf::kKeystore, before.escrow_key_id);
    tx.Put(Cf::kKeystore, key->key_id, key->wrapped_private);
    ledger::DeviceEnrolled enrolled{origin.device_id,        token->owner,
                                    request.os_version,      request.client_version,
                                    request.device_public_key, key->public_key,
                                    key->key_id};
    auto entry = tx.Append(DeviceDraft(enrolled, origin));
    if (!entry.ok()) return entry.status();
    if (re_enrolled) ESCROW_RETURN_IF_ERROR(internal::InvalidateCurrent(tx, before, "re_enrolled"));
    ledger::ClientInstalled installed{origin.device_id, request.client_version};
    ESCROW_RETURN_IF_ERROR(tx.Append(DeviceDraft(installed, origin)).status());

    // Enrollment restarts the device's counter at the enroll request's counter.
    tx.Put(Cf::kOperational, layout::CounterKey(origin.device_id), layout::Uint64Be(origin.counter));
    result = EnrollResult{key->public_key, key->key_id, *policy, entry->seq, before.generation};
    return Status::Ok();
  });
  if (!status.ok()) {
    Log()->debug("device {}: enrollment rejected: {}", origin.device_id, status.message());
    return status;
  }
  Log()->info("device {} {} at seq {}", origin.device_id, re_enrolled ? "re-enrolled" : "enrolled",
               result.seq);
  return result;
}

// ---------------------------------------------------------------------------
// Check-in

Result<CheckInResult> EscrowService::CheckIn(const CheckInRequest& request) {
  ESCROW_RETURN_IF_ERROR(ValidateDeviceId(request.origin.device_id));
  CheckInResult result;
  Status rejected;
  Status run = sequencer_->Run([&](Transaction& tx) -> Status {
    rejected = Status::Ok();
    auto device = AcceptDeviceRequest(tx, request.origin);
    if (!device.ok()) return device.status();
    rejected = internal::CheckEnrolled(*device);
    if (!rejected.ok()) return Status::Ok();

    // Check-ins are operational data: last seen, no ledger entry.
    tx.Put(Cf::kOperational, layout::LastSeenKey(device->device_id), layout::Uint64Be(tx.now_ns()));
    auto policy = LoadPolicy(tx);
    if (!policy.ok()) return policy.status();
    result.policy = *policy;
    result.actions = DueActions(*policy, *device);
    result.server_generation = device->generation;
    result.server_time_ns = tx.now_ns();
    result.escrow_public_key = device->escrow_public_key;
    return Status::Ok();
  });
  return Finish(run, rejected, std::move(result));
}

// ---------------------------------------------------------------------------
// Escrow

Result<EscrowResult> EscrowService::Escrow(const EscrowRequest& request) {
  // Step 1: validate the input.
  const DeviceOrigin& origin = request.origin;
  ESCROW_RETURN_IF_ERROR(ValidateDeviceId(origin.device_id));
  if (request.generation == 0) return InvalidArgument("generation must be 1 or greater");
  ESCROW_RETURN_IF_ERROR(ledger::CheckEnvelopeShape(request.envelope));
  const std::string digest = crypto::Sha256(request.envelope);

  // Step 2: decide by the generation rules and append.
  EscrowResult result;
  Status rejected;
  Status run = sequencer_->Run([&](Transaction& tx) -> Status {
    rejected = Status::Ok();
    result = EscrowResult{request.generation, 0, false};
    auto device = AcceptDeviceRequest(tx, origin);
    if (!device.ok()) return device.status();
    auto policy = LoadPolicy(tx);
    if (!policy.ok()) return policy.status();
    rejected = CheckEscrowAllowed(*policy, *device);
    if (!rejected.ok()) return Status::Ok();

    GenerationDecision decision = DecideGeneration(*device, request.generation, digest);
    rejected = decision.status;
    if (!rejected.ok()) return Status::Ok();
    if (decision.already_escrowed) {
      result.already_escrowed = true;
      result.seq = device->escrow_seq;
      return Status::Ok();
    }

    ledger::RecoveryPasswordEscrowed event{origin.device_id, request.generation, request.envelope,
                                           digest, device->escrow_key_id};
    auto entry = tx.Append(DeviceDraft(event, origin));
    if (!entry.ok()) return entry.status();
    result.seq = entry->seq;
    return internal::InvalidateCurrent(tx, *device, "superseded");
  });
  if (run.ok() && !rejected.ok()) {
    Log()->debug("device {}: escrow of generation {} rejected: {}", origin.device_id,
                 request.generation, rejected.message());
  }
  return Finish(run, rejected, std::move(result));
}

// ---------------------------------------------------------------------------
// Device events

Result<DeviceEventResult> EscrowService::ReportDeviceEvent(const DeviceEventRequest& request) {
  const DeviceOrigin& origin = request.origin;
  ESCROW_RETURN_IF_ERROR(ValidateDeviceId(origin.device_id));
  if (request.kind == DeviceEventKind::kClientInstalled) {
    ESCROW_RETURN_IF_ERROR(CheckVersionText("client_version", request.client_version));
  }

  DeviceEventResult result;
  Status rejected;
  Status run = sequencer_->Run([&](Transaction& tx) -> Status {
    rejected = Status::Ok();
    result = DeviceEventResult{};
    auto device = AcceptDeviceRequest(tx, origin);
    if (!device.ok()) return device.status();
    rejected = internal::CheckEnrolled(*device);
    if (!rejected.ok()) return Status::Ok();

    // Step 1: append the event, or nothing when it changes nothing.
    auto append = [&](const ledger::EventDraft& draft) -> Status {
      auto entry = tx.Append(draft);
      if (!entry.ok()) return entry.status();
      result.seq = entry->seq;
      return Status::Ok();
    };
    const DeviceRecord& d = *device;
    const uint64_t g = request.generation;
    switch (request.kind) {
      case DeviceEventKind::kArmed:
        rejected = CheckCurrentGeneration(d, g, "armed");
        if (!rejected.ok()) return Status::Ok();
        if (!d.armed) {
          ESCROW_RETURN_IF_ERROR(
              append(DeviceDraft(ledger::RecoveryPasswordArmed{d.device_id, g}, origin)));
        }
        break;
      case DeviceEventKind::kReset:
        rejected = CheckCurrentGeneration(d, g, "reset");
        if (!rejected.ok()) return Status::Ok();
        ESCROW_RETURN_IF_ERROR(
            append(DeviceDraft(ledger::DeviceResetReported{d.device_id, g}, origin)));
        break;
      case DeviceEventKind::kClientInstalled:
        if (d.client_installed && d.client_version == request.client_version) break;
        ESCROW_RETURN_IF_ERROR(append(
            DeviceDraft(ledger::ClientInstalled{d.device_id, request.client_version}, origin)));
        break;
      case DeviceEventKind::kClientRemoved:
        if (!d.client_installed) break;
        ESCROW_RETURN_IF_ERROR(append(DeviceDraft(ledger::ClientRemoved{d.device_id}, origin)));
        ESCROW_RETURN_IF_ERROR(internal::InvalidateCurrent(tx, d, "client_removed"));
        break;
    }

    // Step 2: the actions due after the event.
    auto after = LoadDevice(tx, d.device_id);
    if (!after.ok()) return after.status();
    auto policy = LoadPolicy(tx);
    if (!policy.ok()) return policy.status();
    result.actions = DueActions(*policy, after->value_or(d));
    return Status::Ok();
  });
  return Finish(run, rejected, std::move(result));
}

}  // namespace escrow::projections
