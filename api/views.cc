#include "api/views.h"

#include "api/time_format.h"
#include "ledger/crypto.h"
#include "ledger/events.h"

namespace escrow::api {

namespace json = boost::json;

void PutTime(json::object& object, std::string_view name, int64_t unix_ns) {
  object[std::string(name) + "_ns"] = unix_ns;
  object[name] = unix_ns == 0 ? std::string() : FormatRfc3339(unix_ns);
}

std::string_view PasswordStatus(bool generation_valid, bool armed) {
  if (!generation_valid) return "no valid recovery password";
  return armed ? "active on the device" : "not yet active on the device";
}

json::object PolicyToJson(const projections::Policy& policy) {
  json::object out;
  out["reset_mode"] = policy.reset_mode;
  out["self_service_recovery"] = policy.self_service_recovery;
  out["rotate_after_retrieval"] = policy.rotate_after_retrieval;
  out["check_in_interval_s"] = policy.check_in_interval_s;
  out["min_os_version"] = policy.min_os_version;
  return out;
}

json::object AccountToJson(const projections::AccountRecord& account) {
  json::object out;
  out["username"] = account.name;
  json::array roles;
  for (const std::string& role : account.roles) roles.emplace_back(role);
  out["roles"] = std::move(roles);
  out["display_name"] = account.display_name;
  PutTime(out, "created_at", account.created_ns);
  return out;
}

json::object DeviceToJson(const projections::DeviceRecord& device) {
  json::object out;
  out["device_id"] = device.device_id;
  out["owner"] = device.owner;
  out["state"] = projections::LifecycleName(device.state);
  out["client_installed"] = device.client_installed;
  out["os_version"] = device.os_version;
  out["client_version"] = device.client_version;
  out["escrow_key_id"] = device.escrow_key_id;
  out["generation"] = device.generation;
  out["generation_valid"] = device.generation_valid;
  out["armed"] = device.armed;
  out["password_status"] =
      device.state == projections::Lifecycle::kUsed
          ? std::string_view("used on the device; still valid until the device escrows a new one")
          : PasswordStatus(device.generation_valid, device.armed);
  out["escrow_seq"] = device.escrow_seq;
  out["last_reset_generation"] = device.last_reset_generation;
  PutTime(out, "last_reset_at", device.last_reset_ns);
  out["rotation_requested"] = device.rotation_requested;
  PutTime(out, "registered_at", device.registered_ns);
  PutTime(out, "enrolled_at", device.enrolled_ns);
  PutTime(out, "updated_at", device.updated_ns);
  out["retrievals"] = device.retrievals;
  return out;
}

json::object AuditRecordToJson(const projections::AuditRecord& record) {
  json::object out;
  out["seq"] = record.seq;
  PutTime(out, "time", record.time_ns);
  out["device_id"] = record.device_id;
  out["actor"] = record.actor;
  out["denied"] = record.denied;
  out["generation"] = record.generation;
  out["channel"] = record.channel;
  out["reason"] = record.reason;
  out["denial_reason"] = record.denial_reason;
  return out;
}

json::object TimelineEntryToJson(const ledger::Entry& entry) {
  json::object out = ledger::EntryToJson(entry);
  out["time"] = FormatRfc3339(entry.time_ns);
  out["time_ns"] = entry.time_ns;
  return out;
}

}  // namespace escrow::api
