#include "projections/projector.h"

#include <algorithm>

#include "ledger/crypto.h"
#include "projections/layout.h"
#include "projections/tx_state.h"

namespace escrow::projections {
namespace {

using ledger::Cf;
using ledger::Entry;
using ledger::EventType;
using ledger::Transaction;

std::string AtSeq(const Entry& entry) { return "ledger entry " + std::to_string(entry.seq); }

// Returns true for events whose subject is a device id, which go into the device's timeline.
bool IsDeviceEvent(uint16_t type) {
  switch (static_cast<EventType>(type)) {
    case EventType::kEnrollmentTokenIssued:
    case EventType::kDeviceEnrolled:
    case EventType::kClientInstalled:
    case EventType::kClientRemoved:
    case EventType::kRecoveryPasswordEscrowed:
    case EventType::kRecoveryPasswordArmed:
    case EventType::kRecoveryPasswordRetrieved:
    case EventType::kRecoveryPasswordRetrievalDenied:
    case EventType::kDeviceResetReported:
    case EventType::kRecoveryPasswordInvalidated:
    case EventType::kRotationRequested:
    case EventType::kDeviceRetired:
      return true;
    default:
      return false;
  }
}

// Loads the device, lets update change it, and stores it with updated_ns set.
// An event about a device without a record means the ledger is inconsistent.
template <class Update>
Status UpdateDevice(Transaction& tx, const Entry& entry, std::string_view device_id,
                    Update update) {
  auto device = LoadDevice(tx, device_id);
  if (!device.ok()) return device.status();
  if (!device->has_value()) {
    return Internal(AtSeq(entry) + " refers to device " + std::string(device_id) +
                    ", which has no record");
  }
  DeviceRecord& record = **device;
  update(record);
  record.updated_ns = entry.time_ns;
  StoreDevice(tx, record);
  return Status::Ok();
}

void PutAuditRecord(Transaction& tx, const AuditRecord& record) {
  const std::string value = EncodeRecord(record);
  tx.Put(Cf::kProjectionAudit, layout::AuditByDeviceKey(record.device_id, record.seq), value);
  tx.Put(Cf::kProjectionAudit, layout::AuditByActorKey(record.actor, record.seq), value);
  tx.Put(Cf::kProjectionAudit, layout::AuditByTimeKey(record.time_ns, record.seq), value);
}

// ---------------------------------------------------------------------------
// Policy, accounts and enrollment tokens

Status OnPolicyChanged(const Entry&, const ledger::PolicyChanged& e, Transaction& tx) {
  tx.Put(Cf::kProjectionPolicy, layout::kPolicyKey, EncodeRecord(e.policy));
  return Status::Ok();
}

std::vector<std::string> SortedUnique(std::vector<std::string> roles) {
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  return roles;
}

Status OnAccountCreated(const Entry& entry, const ledger::AccountCreated& e, Transaction& tx) {
  AccountRecord account;
  account.name = e.account;
  account.roles = SortedUnique(e.roles);
  account.display_name = e.display_name;
  account.created_ns = entry.time_ns;
  tx.Put(Cf::kProjectionAccounts, account.name, EncodeRecord(account));
  return Status::Ok();
}

Status ChangeRole(const Entry& entry, const std::string& name, const std::string& role,
                  bool grant, Transaction& tx) {
  auto account = LoadAccount(tx, name);
  if (!account.ok()) return account.status();
  if (!account->has_value()) {
    return Internal(AtSeq(entry) + " changes a role of unknown account " + name);
  }
  std::vector<std::string>& roles = (*account)->roles;
  if (grant) {
    roles.push_back(role);
  } else {
    roles.erase(std::remove(roles.begin(), roles.end(), role), roles.end());
  }
  roles = SortedUnique(std::move(roles));
  tx.Put(Cf::kProjectionAccounts, name, EncodeRecord(**account));
  return Status::Ok();
}

// A password change leaves the account record as it is: the hash lives in the
// credentials column family, outside the projections. The account must exist.
Status OnAccountPasswordChanged(const Entry& entry, const ledger::AccountPasswordChanged& e,
                                Transaction& tx) {
  auto account = LoadAccount(tx, e.account);
  if (!account.ok()) return account.status();
  if (!account->has_value()) {
    return Internal(AtSeq(entry) + " changes the password of unknown account " + e.account);
  }
  return Status::Ok();
}

Status MarkDeviceTokensUsed(Transaction& tx, const std::string& device_id);

Status OnTokenIssued(const Entry& entry, const ledger::EnrollmentTokenIssued& e,
                     Transaction& tx) {
  auto device = LoadDevice(tx, e.device_id);
  if (!device.ok()) return device.status();
  const bool known = device->has_value();

  // Step 1: a new token revokes the older ones of the device (also the
  // re-enrollment tokens of an enrolled device), then the token and its
  // per-device index are stored.
  if (known) {
    ESCROW_RETURN_IF_ERROR(MarkDeviceTokensUsed(tx, e.device_id));
  }
  TokenRecord token{e.device_id, e.owner, e.expires_at_ns, false};
  tx.Put(Cf::kProjectionTokens, e.token_digest, EncodeRecord(token));
  tx.Put(Cf::kProjectionTokens, layout::DeviceTokenKey(e.device_id, e.token_digest), "");

  // Step 2: a new device starts as Registered. A device that has not
  // enrolled yet may get a new owner; an enrolled device keeps its record
  // until it re-enrolls with the token (DeviceEnrolled carries the owner).
  if (known && (*device)->state != Lifecycle::kRegistered) return Status::Ok();
  DeviceRecord record = device->value_or(DeviceRecord{});
  if (known && record.owner != e.owner) {
    tx.Delete(Cf::kProjectionAudit, layout::OwnerKey(record.owner, record.device_id));
  }
  record.device_id = e.device_id;
  record.owner = e.owner;
  record.state = Lifecycle::kRegistered;
  record.registered_ns = entry.time_ns;
  record.updated_ns = entry.time_ns;
  StoreDevice(tx, record);
  tx.Put(Cf::kProjectionAudit, layout::OwnerKey(record.owner, record.device_id), "");
  return Status::Ok();
}

// Marks every token issued for device_id used, so none of them enrolls again.
Status MarkDeviceTokensUsed(Transaction& tx, const std::string& device_id) {
  const std::string prefix = layout::DeviceTokensPrefix(device_id);
  std::vector<std::string> digests;
  auto it = tx.NewIterator(Cf::kProjectionTokens);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    // Index keys are exactly prefix + 32-byte digest; a bare digest key never is.
    if (it->key().size() != prefix.size() + crypto::kSha256Size) continue;
    digests.emplace_back(it->key().data() + prefix.size(), crypto::kSha256Size);
  }
  if (!it->status().ok()) return ledger::FromRocks(it->status(), "scan enrollment tokens");

  for (const std::string& digest : digests) {
    auto token = LoadToken(tx, digest);
    if (!token.ok()) return token.status();
    if (!token->has_value() || (*token)->used) continue;
    (*token)->used = true;
    tx.Put(Cf::kProjectionTokens, digest, EncodeRecord(**token));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Device lifecycle

Status OnDeviceEnrolled(const Entry& entry, const ledger::DeviceEnrolled& e, Transaction& tx) {
  auto before = LoadDevice(tx, e.device_id);
  if (!before.ok()) return before.status();
  // Re-enrollment may hand the device to a new owner (the token's owner).
  if (before->has_value() && (*before)->owner != e.owner) {
    tx.Delete(Cf::kProjectionAudit, layout::OwnerKey((*before)->owner, e.device_id));
    tx.Put(Cf::kProjectionAudit, layout::OwnerKey(e.owner, e.device_id), "");
  }
  Status updated = UpdateDevice(tx, entry, e.device_id, [&](DeviceRecord& d) {
    d.state = Lifecycle::kEnrolled;
    d.owner = e.owner;
    d.armed = false;
    d.os_version = e.os_version;
    d.client_version = e.client_version;
    d.device_public_key = e.device_public_key;
    d.escrow_public_key = e.escrow_public_key;
    d.escrow_key_id = e.escrow_key_id;
    d.enrolled_ns = entry.time_ns;
  });
  if (!updated.ok()) return updated;
  return MarkDeviceTokensUsed(tx, e.device_id);
}

Status OnClientInstalled(const Entry& entry, const ledger::ClientInstalled& e, Transaction& tx) {
  return UpdateDevice(tx, entry, e.device_id, [&](DeviceRecord& d) {
    d.client_installed = true;
    d.client_version = e.client_version;
  });
}

Status OnClientRemoved(const Entry& entry, const ledger::ClientRemoved& e, Transaction& tx) {
  return UpdateDevice(tx, entry, e.device_id, [](DeviceRecord& d) { d.client_installed = false; });
}

Status OnEscrowed(const Entry& entry, const ledger::RecoveryPasswordEscrowed& e, Transaction& tx) {
  return UpdateDevice(tx, entry, e.device_id, [&](DeviceRecord& d) {
    d.state = Lifecycle::kPending;
    d.generation = e.generation;
    d.generation_valid = true;
    d.armed = false;
    d.escrow_seq = entry.seq;
    d.envelope_digest = e.envelope_digest;
    d.rotation_requested = false;
  });
}

Status OnArmed(const Entry& entry, const ledger::RecoveryPasswordArmed& e, Transaction& tx) {
  return UpdateDevice(tx, entry, e.device_id, [&](DeviceRecord& d) {
    if (e.generation != d.generation) return;
    d.armed = true;
    if (d.state == Lifecycle::kPending) d.state = Lifecycle::kActive;
  });
}

Status OnResetReported(const Entry& entry, const ledger::DeviceResetReported& e,
                       Transaction& tx) {
  return UpdateDevice(tx, entry, e.device_id, [&](DeviceRecord& d) {
    d.last_reset_generation = e.generation;
    d.last_reset_ns = entry.time_ns;
    // The used generation stays valid until the device escrows the next one.
    if (e.generation == d.generation && d.state != Lifecycle::kRetired) d.state = Lifecycle::kUsed;
  });
}

Status OnInvalidated(const Entry& entry, const ledger::RecoveryPasswordInvalidated& e,
                     Transaction& tx) {
  return UpdateDevice(tx, entry, e.device_id, [&](DeviceRecord& d) {
    // Invalidating an older generation (superseded) leaves the current one alone.
    if (e.generation != d.generation) return;
    d.generation_valid = false;
    d.armed = false;
    // Without a valid password the device is back to "enrolled, nothing escrowed".
    if (d.state != Lifecycle::kRetired && d.state != Lifecycle::kRegistered) {
      d.state = Lifecycle::kEnrolled;
    }
  });
}

Status OnRotationRequested(const Entry& entry, const ledger::RotationRequested& e,
                           Transaction& tx) {
  return UpdateDevice(tx, entry, e.device_id, [](DeviceRecord& d) { d.rotation_requested = true; });
}

Status OnRetired(const Entry& entry, const ledger::DeviceRetired& e, Transaction& tx) {
  return UpdateDevice(tx, entry, e.device_id, [](DeviceRecord& d) {
    d.state = Lifecycle::kRetired;
    d.generation_valid = false;
    d.armed = false;
  });
}

// ---------------------------------------------------------------------------
// Retrieval audit

Status OnRetrieved(const Entry& entry, const ledger::RecoveryPasswordRetrieved& e,
                   Transaction& tx) {
  Status updated = UpdateDevice(tx, entry, e.device_id, [](DeviceRecord& d) { d.retrievals++; });
  if (!updated.ok()) return updated;
  PutAuditRecord(tx, AuditRecord{entry.seq, entry.time_ns, e.device_id, entry.actor_id, false,
                                 e.generation, e.channel, e.reason, ""});
  return Status::Ok();
}

Status OnRetrievalDenied(const Entry& entry, const ledger::RecoveryPasswordRetrievalDenied& e,
                         Transaction& tx) {
  PutAuditRecord(tx, AuditRecord{entry.seq, entry.time_ns, e.device_id, entry.actor_id, true, 0,
                                 e.channel, e.reason, e.denial_reason});
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Dispatch

template <class Event, class Handler>
Status Decoded(const Entry& entry, Transaction& tx, Handler handler) {
  auto event = ledger::DecodePayload<Event>(entry.payload);
  if (!event.ok()) return Internal(AtSeq(entry) + ": " + event.status().message());
  return handler(entry, *event, tx);
}

Status ApplyPayload(const Entry& entry, Transaction& tx) {
  using namespace ledger;
  switch (static_cast<EventType>(entry.type)) {
    case EventType::kPolicyChanged: return Decoded<PolicyChanged>(entry, tx, OnPolicyChanged);
    case EventType::kEnrollmentTokenIssued:
      return Decoded<EnrollmentTokenIssued>(entry, tx, OnTokenIssued);
    case EventType::kDeviceEnrolled: return Decoded<DeviceEnrolled>(entry, tx, OnDeviceEnrolled);
    case EventType::kClientInstalled:
      return Decoded<ClientInstalled>(entry, tx, OnClientInstalled);
    case EventType::kClientRemoved: return Decoded<ClientRemoved>(entry, tx, OnClientRemoved);
    case EventType::kRecoveryPasswordEscrowed:
      return Decoded<RecoveryPasswordEscrowed>(entry, tx, OnEscrowed);
    case EventType::kRecoveryPasswordArmed:
      return Decoded<RecoveryPasswordArmed>(entry, tx, OnArmed);
    case EventType::kRecoveryPasswordRetrieved:
      return Decoded<RecoveryPasswordRetrieved>(entry, tx, OnRetrieved);
    case EventType::kRecoveryPasswordRetrievalDenied:
      return Decoded<RecoveryPasswordRetrievalDenied>(entry, tx, OnRetrievalDenied);
    case EventType::kDeviceResetReported:
      return Decoded<DeviceResetReported>(entry, tx, OnResetReported);
    case EventType::kRecoveryPasswordInvalidated:
      return Decoded<RecoveryPasswordInvalidated>(entry, tx, OnInvalidated);
    case EventType::kRotationRequested:
      return Decoded<RotationRequested>(entry, tx, OnRotationRequested);
    case EventType::kDeviceRetired: return Decoded<DeviceRetired>(entry, tx, OnRetired);
    case EventType::kSigningKeyRotated: return Status::Ok();  // no projection state
    case EventType::kAccountCreated: return Decoded<AccountCreated>(entry, tx, OnAccountCreated);
    case EventType::kRoleGranted:
      return Decoded<RoleGranted>(entry, tx, [](const Entry& en, const RoleGranted& e,
                                                Transaction& t) {
        return ChangeRole(en, e.account, e.role, true, t);
      });
    case EventType::kRoleRevoked:
      return Decoded<RoleRevoked>(entry, tx, [](const Entry& en, const RoleRevoked& e,
                                                Transaction& t) {
        return ChangeRole(en, e.account, e.role, false, t);
      });
    case EventType::kAccountPasswordChanged:
      return Decoded<AccountPasswordChanged>(entry, tx, OnAccountPasswordChanged);
  }
  return Internal(AtSeq(entry) + " has unknown event type " + std::to_string(entry.type));
}

}  // namespace

Status Apply(const ledger::Entry& entry, ledger::Transaction& tx) {
  Status applied = ApplyPayload(entry, tx);
  if (!applied.ok()) return applied;

  if (IsDeviceEvent(entry.type) && !entry.subject.empty()) {
    tx.Put(Cf::kProjectionAudit, layout::TimelineKey(entry.subject, entry.seq), "");
  }
  tx.Put(Cf::kProjectionMeta, layout::kLastAppliedSeqKey, layout::Uint64Be(entry.seq));
  return Status::Ok();
}

}  // namespace escrow::projections
