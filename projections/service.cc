// EscrowService: accounts, policy and the admin's device commands. Device
// gateway commands are in device_commands.cc, retrieval in retrieval.cc.
#include "projections/service.h"

#include <algorithm>

#include "projections/layout.h"
#include "projections/service_internal.h"
#include "projections/tx_state.h"

namespace escrow::projections {

using internal::Log;
using internal::PrincipalDraft;
using internal::RequireAdmin;
using ledger::Cf;
using ledger::Transaction;

namespace {

constexpr std::string_view kResetModes[] = {"disabled", "mdm", "exchange"};

Status ValidateRoles(const std::vector<std::string>& roles) {
  for (const std::string& role : roles) {
    if (role != kRoleUser && role != kRoleHelpdesk && role != kRoleAdmin && role != kRoleAuditor) {
      return InvalidArgument("unknown role \"" + role +
                             "\": use user, helpdesk, admin or auditor");
    }
  }
  return Status::Ok();
}

// Applies update to policy and validates the result.
Result<Policy> MergePolicy(Policy policy, const PolicyUpdate& update) {
  if (update.reset_mode) policy.reset_mode = *update.reset_mode;
  if (update.self_service_recovery) policy.self_service_recovery = *update.self_service_recovery;
  if (update.rotate_after_retrieval) policy.rotate_after_retrieval = *update.rotate_after_retrieval;
  if (update.check_in_interval_s) policy.check_in_interval_s = *update.check_in_interval_s;
  if (update.min_os_version) policy.min_os_version = *update.min_os_version;

  if (std::find(std::begin(kResetModes), std::end(kResetModes), policy.reset_mode) ==
      std::end(kResetModes)) {
    return InvalidArgument("invalid reset_mode \"" + policy.reset_mode +
                           "\": use disabled, mdm or exchange");
  }
  if (policy.check_in_interval_s < kMinCheckInIntervalS ||
      policy.check_in_interval_s > kMaxCheckInIntervalS) {
    return InvalidArgument("check_in_interval_s must be between " +
                           std::to_string(kMinCheckInIntervalS) + " and " +
                           std::to_string(kMaxCheckInIntervalS) + " seconds, not " +
                           std::to_string(policy.check_in_interval_s));
  }
  auto parsed = CompareVersions(policy.min_os_version, policy.min_os_version);
  if (!parsed.ok()) return InvalidArgument("min_os_version: " + parsed.status().message());
  return policy;
}

// Leaving mdm mode invalidates every valid recovery password (reason "policy").
// NOTE: this appends one event per device with a valid password in a single
// command, so on a very large fleet the policy change is one large group.
Status InvalidateAllForPolicy(Transaction& tx) {
  std::vector<DeviceRecord> valid;
  auto it = tx.NewIterator(Cf::kProjectionDevices);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto device = DecodeRecord<DeviceRecord>(std::string_view(it->value().data(), it->value().size()));
    if (!device.ok()) return Internal("corrupt value in projection.devices: " + device.status().message());
    if (device->generation_valid) valid.push_back(std::move(*device));
  }
  if (!it->status().ok()) return ledger::FromRocks(it->status(), "scan devices");

  for (const DeviceRecord& device : valid) {
    ESCROW_RETURN_IF_ERROR(internal::InvalidateCurrent(tx, device, "policy"));
  }
  return Status::Ok();
}

}  // namespace

EscrowService::EscrowService(ledger::Store* store, ledger::Sequencer* sequencer,
                             const ledger::MasterKey* master_key)
    : store_(store), sequencer_(sequencer), master_key_(master_key) {}

// ---------------------------------------------------------------------------
// Accounts and policy

Status EscrowService::CreateAccount(const Principal& by, const std::string& name,
                                    const std::vector<std::string>& roles,
                                    const std::string& display_name, std::string password_hash) {
  // Step 1: validate outside the sequencer.
  crypto::SecretString hash(std::move(password_hash));
  ESCROW_RETURN_IF_ERROR(RequireAdmin(by, "creating an account"));
  ESCROW_RETURN_IF_ERROR(ValidateAccountName(name));
  if (name == kSystemPrincipal) return InvalidArgument("the account name \"system\" is reserved");
  ESCROW_RETURN_IF_ERROR(ValidateRoles(roles));
  if (display_name.size() > kMaxDisplayNameLength) {
    return InvalidArgument("display_name is longer than " +
                           std::to_string(kMaxDisplayNameLength) + " characters");
  }
  if (hash.empty() || hash.size() > kMaxPasswordHashLength) {
    return InvalidArgument("the password hash is missing or too long");
  }

  // Step 2: append AccountCreated and store the hash in the same transaction.
  Status status = sequencer_->Run([&](Transaction& tx) -> Status {
    auto existing = LoadAccount(tx, name);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) return Conflict("account " + name + " already exists");
    ledger::AccountCreated event{name, roles, display_name};
    auto entry = tx.Append(PrincipalDraft(event, by, name));
    if (!entry.ok()) return entry.status();
    tx.Put(Cf::kCredentials, name, hash.view());
    return Status::Ok();
  });
  if (status.ok()) Log()->info("account {} created by {}", name, by.name);
  return status;
}

Result<uint64_t> EscrowService::ChangeAccountPassword(const Principal& by,
                                                     const PasswordChange& change,
                                                     std::string password_hash) {
  // Step 1: check who may change the password, and the hash, outside the sequencer.
  crypto::SecretString hash(std::move(password_hash));
  if (change.by_admin) {
    ESCROW_RETURN_IF_ERROR(RequireAdmin(by, "resetting an account's password"));
  } else if (by.name != change.account) {
    return PermissionDenied("only account " + change.account +
                            " may change its own password; an admin may reset it");
  }
  ESCROW_RETURN_IF_ERROR(ValidateAccountName(change.account));
  if (hash.empty() || hash.size() > kMaxPasswordHashLength) {
    return InvalidArgument("the password hash is missing or too long");
  }

  // Step 2: append AccountPasswordChanged and store the hash in the same
  // transaction, so the sequencer's synced group commit writes both or neither.
  uint64_t seq = 0;
  Status status = sequencer_->Run([&](Transaction& tx) -> Status {
    auto existing = LoadAccount(tx, change.account);
    if (!existing.ok()) return existing.status();
    if (!existing->has_value()) return NotFound("account " + change.account + " not found");
    ledger::AccountPasswordChanged event{change.account, change.by_admin, change.sessions_revoked};
    auto entry = tx.Append(PrincipalDraft(event, by, change.account));
    if (!entry.ok()) return entry.status();
    tx.Put(Cf::kCredentials, change.account, hash.view());
    seq = entry->seq;
    return Status::Ok();
  });
  if (status.code() == Code::kUnavailable) {
    // Fail closed: without its ledger event the new password never takes effect.
    return Unavailable("the ledger cannot record this password change right now, so the "
                       "password of account " + change.account +
                       " was not changed; try again later");
  }
  if (!status.ok()) return status;
  Log()->info("password of account {} {} by {} (ledger seq {}, {} sessions revoked)",
              change.account, change.by_admin ? "reset" : "changed", by.name, seq,
              change.sessions_revoked);
  return seq;
}

Result<Policy> EscrowService::SetPolicy(const Principal& by, const PolicyUpdate& update) {
  ESCROW_RETURN_IF_ERROR(RequireAdmin(by, "changing the policy"));
  Policy result;
  Status status = sequencer_->Run([&](Transaction& tx) -> Status {
    auto current = LoadPolicy(tx);
    if (!current.ok()) return current.status();
    auto merged = MergePolicy(*current, update);
    if (!merged.ok()) return merged.status();

    auto entry = tx.Append(PrincipalDraft(ledger::PolicyChanged{*merged}, by, "policy"));
    if (!entry.ok()) return entry.status();
    if (current->reset_mode == "mdm" && merged->reset_mode != "mdm") {
      ESCROW_RETURN_IF_ERROR(InvalidateAllForPolicy(tx));
    }
    result = *merged;
    return Status::Ok();
  });
  if (!status.ok()) return status;
  Log()->info("policy changed by {}: reset_mode {}", by.name, result.reset_mode);
  return result;
}

Status EscrowService::EnsureInitialPolicy() {
  return sequencer_->Run([&](Transaction& tx) -> Status {
    auto recorded = HasRecordedPolicy(tx);
    if (!recorded.ok()) return recorded.status();
    if (*recorded) return Status::Ok();
    auto entry = tx.Append(internal::SystemDraft(ledger::PolicyChanged{Policy{}}, "policy"));
    return entry.status();
  });
}

// ---------------------------------------------------------------------------
// Admin device commands

Result<RegisteredDevice> EscrowService::RegisterDevice(const Principal& by,
                                                       const std::string& device_id,
                                                       const std::string& owner,
                                                       int64_t token_ttl_ns) {
  // Step 1: validate and make the token; only its digest is recorded.
  ESCROW_RETURN_IF_ERROR(RequireAdmin(by, "registering a device"));
  ESCROW_RETURN_IF_ERROR(ValidateDeviceId(device_id));
  ESCROW_RETURN_IF_ERROR(ValidateAccountName(owner));
  if (token_ttl_ns <= 0 || token_ttl_ns > kMaxEnrollmentTokenTtlNs) {
    return InvalidArgument("the token lifetime must be between 1 ns and " +
                           std::to_string(kMaxEnrollmentTokenTtlNs / 1'000'000'000) + " seconds");
  }
  crypto::SecretString raw(crypto::RandomBytes(kEnrollmentTokenBytes));
  RegisteredDevice registered{device_id, owner,
                              crypto::SecretString(internal::TokenToText(raw.view())), 0};
  const std::string digest = crypto::Sha256(raw.view());

  // Step 2: append EnrollmentTokenIssued. For an enrolled device the token
  // re-enrolls it (a wiped or re-imaged device); nothing changes until the
  // device presents the token. A retired device can never enroll again.
  Status status = sequencer_->Run([&](Transaction& tx) -> Status {
    auto device = LoadDevice(tx, device_id);
    if (!device.ok()) return device.status();
    if (device->has_value() && (*device)->state == Lifecycle::kRetired) {
      return Gone("device " + device_id + " is retired and cannot be enrolled again");
    }
    registered.expires_at_ns = tx.now_ns() + token_ttl_ns;
    ledger::EnrollmentTokenIssued event{device_id, owner, digest, registered.expires_at_ns};
    return tx.Append(PrincipalDraft(event, by, device_id)).status();
  });
  if (!status.ok()) return status;
  Log()->info("device {} registered for owner {} by {}", device_id, owner, by.name);
  return registered;
}

Status EscrowService::RequestRotation(const Principal& by, const std::string& device_id) {
  ESCROW_RETURN_IF_ERROR(RequireAdmin(by, "requesting a rotation"));
  ESCROW_RETURN_IF_ERROR(ValidateDeviceId(device_id));
  return sequencer_->Run([&](Transaction& tx) -> Status {
    auto device = LoadDevice(tx, device_id);
    if (!device.ok()) return device.status();
    if (!device->has_value()) return NotFound("device " + device_id + " is not registered");
    ESCROW_RETURN_IF_ERROR(internal::CheckEnrolled(**device));
    ledger::RotationRequested event{device_id, "admin"};
    return tx.Append(PrincipalDraft(event, by, device_id)).status();
  });
}

Status EscrowService::RetireDevice(const Principal& by, const std::string& device_id) {
  ESCROW_RETURN_IF_ERROR(RequireAdmin(by, "retiring a device"));
  ESCROW_RETURN_IF_ERROR(ValidateDeviceId(device_id));
  Status status = sequencer_->Run([&](Transaction& tx) -> Status {
    auto device = LoadDevice(tx, device_id);
    if (!device.ok()) return device.status();
    if (!device->has_value()) return NotFound("device " + device_id + " is not registered");
    const DeviceRecord& record = **device;
    if (record.state == Lifecycle::kRetired) return Gone("device " + device_id + " is already retired");

    // Retire, invalidate the current password and destroy the escrow key
    // (crypto-shredding): old envelopes can never be opened again.
    auto entry = tx.Append(PrincipalDraft(ledger::DeviceRetired{device_id}, by, device_id));
    if (!entry.ok()) return entry.status();
    ESCROW_RETURN_IF_ERROR(internal::InvalidateCurrent(tx, record, "retired"));
    if (!record.escrow_key_id.empty()) tx.Delete(Cf::kKeystore, record.escrow_key_id);
    return Status::Ok();
  });
  if (status.ok()) Log()->info("device {} retired by {}", device_id, by.name);
  return status;
}

}  // namespace escrow::projections
