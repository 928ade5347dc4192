#include "ledger/events.h"

#include "ledger/crypto.h"

namespace escrow::ledger {
namespace json = boost::json;

const char* EventTypeName(uint16_t type) {
  switch (static_cast<EventType>(type)) {
    case EventType::kPolicyChanged: return "PolicyChanged";
    case EventType::kEnrollmentTokenIssued: return "EnrollmentTokenIssued";
    case EventType::kDeviceEnrolled: return "DeviceEnrolled";
    case EventType::kClientInstalled: return "ClientInstalled";
    case EventType::kClientRemoved: return "ClientRemoved";
    case EventType::kRecoveryPasswordEscrowed: return "RecoveryPasswordEscrowed";
    case EventType::kRecoveryPasswordArmed: return "RecoveryPasswordArmed";
    case EventType::kRecoveryPasswordRetrieved: return "RecoveryPasswordRetrieved";
    case EventType::kRecoveryPasswordRetrievalDenied: return "RecoveryPasswordRetrievalDenied";
    case EventType::kDeviceResetReported: return "DeviceResetReported";
    case EventType::kRecoveryPasswordInvalidated: return "RecoveryPasswordInvalidated";
    case EventType::kRotationRequested: return "RotationRequested";
    case EventType::kDeviceRetired: return "DeviceRetired";
    case EventType::kSigningKeyRotated: return "SigningKeyRotated";
    case EventType::kAccountCreated: return "AccountCreated";
    case EventType::kRoleGranted: return "RoleGranted";
    case EventType::kRoleRevoked: return "RoleRevoked";
    case EventType::kAccountPasswordChanged: return "AccountPasswordChanged";
  }
  return "Unknown";
}

namespace {

json::object PolicyJson(const Policy& p) {
  return {{"reset_mode", p.reset_mode},
          {"self_service_recovery", p.self_service_recovery},
          {"rotate_after_retrieval", p.rotate_after_retrieval},
          {"check_in_interval_s", p.check_in_interval_s},
          {"min_os_version", p.min_os_version}};
}

template <class Event, class Fn>
json::object Render(std::string_view payload, Fn fn) {
  auto event = DecodePayload<Event>(payload);
  if (!event.ok()) return {{"decode_error", event.status().message()}};
  return fn(*event);
}

}  // namespace

json::object PayloadToJson(uint16_t type, std::string_view payload) {
  using crypto::HexEncode;
  switch (static_cast<EventType>(type)) {
    case EventType::kPolicyChanged:
      return Render<PolicyChanged>(payload, [](const auto& e) {
        return json::object{{"policy", PolicyJson(e.policy)}};
      });
    case EventType::kEnrollmentTokenIssued:
      return Render<EnrollmentTokenIssued>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id},
                            {"owner", e.owner},
                            {"expires_at_ns", e.expires_at_ns}};
      });
    case EventType::kDeviceEnrolled:
      return Render<DeviceEnrolled>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id},
                            {"owner", e.owner},
                            {"os_version", e.os_version},
                            {"client_version", e.client_version},
                            {"device_public_key", HexEncode(e.device_public_key)},
                            {"escrow_public_key", HexEncode(e.escrow_public_key)},
                            {"escrow_key_id", e.escrow_key_id}};
      });
    case EventType::kClientInstalled:
      return Render<ClientInstalled>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id}, {"client_version", e.client_version}};
      });
    case EventType::kClientRemoved:
      return Render<ClientRemoved>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id}};
      });
    case EventType::kRecoveryPasswordEscrowed:
      return Render<RecoveryPasswordEscrowed>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id},
                            {"generation", e.generation},
                            {"envelope_digest", HexEncode(e.envelope_digest)},
                            {"envelope_size", e.envelope.size()},
                            {"escrow_key_id", e.escrow_key_id}};
      });
    case EventType::kRecoveryPasswordArmed:
      return Render<RecoveryPasswordArmed>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id}, {"generation", e.generation}};
      });
    case EventType::kRecoveryPasswordRetrieved:
      return Render<RecoveryPasswordRetrieved>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id},
                            {"generation", e.generation},
                            {"channel", e.channel},
                            {"reason", e.reason}};
      });
    case EventType::kRecoveryPasswordRetrievalDenied:
      return Render<RecoveryPasswordRetrievalDenied>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id},
                            {"channel", e.channel},
                            {"reason", e.reason},
                            {"denial_reason", e.denial_reason}};
      });
    case EventType::kDeviceResetReported:
      return Render<DeviceResetReported>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id}, {"generation", e.generation}};
      });
    case EventType::kRecoveryPasswordInvalidated:
      return Render<RecoveryPasswordInvalidated>(payload, [](const auto& e) {
        return json::object{
            {"device_id", e.device_id}, {"generation", e.generation}, {"reason", e.reason}};
      });
    case EventType::kRotationRequested:
      return Render<RotationRequested>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id}, {"cause", e.cause}};
      });
    case EventType::kDeviceRetired:
      return Render<DeviceRetired>(payload, [](const auto& e) {
        return json::object{{"device_id", e.device_id}};
      });
    case EventType::kSigningKeyRotated:
      return Render<SigningKeyRotated>(payload, [](const auto& e) {
        return json::object{{"new_key_id", e.new_key_id},
                            {"new_public_key", HexEncode(e.new_public_key)}};
      });
    case EventType::kAccountCreated:
      return Render<AccountCreated>(payload, [](const auto& e) {
        json::array roles;
        for (const auto& r : e.roles) roles.emplace_back(r);
        return json::object{
            {"account", e.account}, {"roles", roles}, {"display_name", e.display_name}};
      });
    case EventType::kRoleGranted:
      return Render<RoleGranted>(payload, [](const auto& e) {
        return json::object{{"account", e.account}, {"role", e.role}};
      });
    case EventType::kRoleRevoked:
      return Render<RoleRevoked>(payload, [](const auto& e) {
        return json::object{{"account", e.account}, {"role", e.role}};
      });
    case EventType::kAccountPasswordChanged:
      return Render<AccountPasswordChanged>(payload, [](const auto& e) {
        return json::object{{"account", e.account},
                            {"by_admin", e.by_admin},
                            {"sessions_revoked", e.sessions_revoked}};
      });
  }
  return {};
}

json::object EntryToJson(const Entry& entry) {
  return {{"seq", entry.seq},
          {"time_ns", entry.time_ns},
          {"type", EventTypeName(entry.type)},
          {"schema_version", entry.schema_version},
          {"actor_kind", ActorKindName(entry.actor_kind)},
          {"actor", entry.actor_id},
          {"subject", entry.subject},
          {"payload", PayloadToJson(entry.type, entry.payload)},
          {"device_signed", !entry.origin_signature.empty()},
          {"key_id", entry.key_id}};
}

}  // namespace escrow::ledger
