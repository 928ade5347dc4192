#include "device-gateway/gateway_routes.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "device-gateway/gateway.h"
#include "device-gateway/json_fields.h"
#include "ledger/envelope.h"

namespace escrow::gateway {
namespace {

namespace json = boost::json;

// Maximum length of a free-text field (OS version, client version).
constexpr size_t kMaxTextFieldLength = 64;
// Maximum enrollment token length. Tokens from RegisterDevice are 43 characters.
constexpr size_t kMaxTokenLength = 128;

Result<std::string> GetText(const json::object& body, std::string_view name,
                            size_t max_length) {
  auto text = GetString(body, name);
  if (!text.ok()) return text.status();
  if (text->empty() || text->size() > max_length) {
    return InvalidArgument(
        fmt::format("field \"{}\" must be 1 to {} characters long", name, max_length));
  }
  return text;
}

Status ParseEnroll(const json::object& body, ParsedRequest& parsed) {
  auto token = GetText(body, "enrollment_token", kMaxTokenLength);
  if (!token.ok()) return token.status();
  parsed.enrollment_token = crypto::SecretString(std::move(token).value());

  auto os_version = GetText(body, "os_version", kMaxTextFieldLength);
  if (!os_version.ok()) return os_version.status();
  auto client_version = GetText(body, "client_version", kMaxTextFieldLength);
  if (!client_version.ok()) return client_version.status();
  auto key = GetBase64(body, "device_public_key", crypto::kEd25519KeySize);
  if (!key.ok()) return key.status();

  parsed.enroll.os_version = std::move(os_version).value();
  parsed.enroll.client_version = std::move(client_version).value();
  parsed.enroll.device_public_key = std::move(key).value();
  return Status::Ok();
}

Status ParseCheckIn(const json::object& body, ParsedRequest& parsed) {
  auto installed = GetBool(body, "client_installed");
  if (!installed.ok()) return installed.status();
  auto generation = GetUint(body, "generation");
  if (!generation.ok()) return generation.status();
  auto armed = GetBool(body, "armed");
  if (!armed.ok()) return armed.status();

  parsed.check_in.client_installed = *installed;
  parsed.check_in.generation = *generation;
  parsed.check_in.armed = *armed;
  return Status::Ok();
}

Status ParseEscrow(const json::object& body, ParsedRequest& parsed) {
  auto generation = GetUint(body, "generation");
  if (!generation.ok()) return generation.status();
  if (*generation == 0) return InvalidArgument("field \"generation\" must be at least 1");
  auto envelope = GetBase64(body, "envelope", 0);
  if (!envelope.ok()) return envelope.status();
  ESCROW_RETURN_IF_ERROR(ledger::CheckEnvelopeShape(*envelope));

  parsed.escrow.generation = *generation;
  parsed.escrow.envelope = std::move(envelope).value();
  return Status::Ok();
}

Result<projections::DeviceEventKind> ParseEventKind(std::string_view name) {
  using Kind = projections::DeviceEventKind;
  if (name == "armed") return Kind::kArmed;
  if (name == "reset") return Kind::kReset;
  if (name == "client_installed") return Kind::kClientInstalled;
  if (name == "client_removed") return Kind::kClientRemoved;
  return InvalidArgument(
      "field \"event\" must be one of armed, reset, client_installed, client_removed");
}

Status ParseEvent(const json::object& body, ParsedRequest& parsed) {
  using Kind = projections::DeviceEventKind;
  auto name = GetString(body, "event");
  if (!name.ok()) return name.status();
  auto kind = ParseEventKind(*name);
  if (!kind.ok()) return kind.status();
  parsed.event.kind = *kind;

  // armed and reset name the generation they concern; the client events may omit it.
  bool needs_generation = *kind == Kind::kArmed || *kind == Kind::kReset;
  if (needs_generation || body.contains("generation")) {
    auto generation = GetUint(body, "generation");
    if (!generation.ok()) return generation.status();
    parsed.event.generation = *generation;
  }
  if (*kind == Kind::kClientInstalled) {
    auto version = GetText(body, "client_version", kMaxTextFieldLength);
    if (!version.ok()) return version.status();
    parsed.event.client_version = std::move(version).value();
  }
  return Status::Ok();
}

json::object PolicyJson(const projections::Policy& policy) {
  json::object object;
  object["reset_mode"] = policy.reset_mode;
  object["self_service_recovery"] = policy.self_service_recovery;
  object["rotate_after_retrieval"] = policy.rotate_after_retrieval;
  object["check_in_interval_s"] = policy.check_in_interval_s;
  object["min_os_version"] = policy.min_os_version;
  return object;
}

json::array ActionsJson(const std::vector<std::string>& actions) {
  json::array array;
  for (const std::string& action : actions) array.emplace_back(action);
  return array;
}

Result<std::string> CallEnroll(projections::EscrowService* service, ParsedRequest& parsed) {
  parsed.enroll.enrollment_token = parsed.enrollment_token.str();
  auto result = service->Enroll(parsed.enroll);
  crypto::Cleanse(parsed.enroll.enrollment_token);
  if (!result.ok()) return result.status();

  json::object reply;
  reply["escrow_public_key"] = crypto::Base64Encode(result->escrow_public_key);
  reply["escrow_key_id"] = result->escrow_key_id;
  reply["policy"] = PolicyJson(result->policy);
  reply["seq"] = result->seq;
  reply["generation"] = result->generation;
  return json::serialize(reply);
}

Result<std::string> CallCheckIn(projections::EscrowService* service, ParsedRequest& parsed) {
  auto result = service->CheckIn(parsed.check_in);
  if (!result.ok()) return result.status();

  json::object reply;
  reply["policy"] = PolicyJson(result->policy);
  reply["actions"] = ActionsJson(result->actions);
  reply["server_generation"] = result->server_generation;
  reply["server_time_ns"] = result->server_time_ns;
  reply["escrow_public_key"] = crypto::Base64Encode(result->escrow_public_key);
  return json::serialize(reply);
}

Result<std::string> CallEscrow(projections::EscrowService* service, ParsedRequest& parsed) {
  auto result = service->Escrow(parsed.escrow);
  if (!result.ok()) return result.status();

  json::object reply;
  reply["generation"] = result->generation;
  reply["seq"] = result->seq;
  reply["already_escrowed"] = result->already_escrowed;
  return json::serialize(reply);
}

Result<std::string> CallEvent(projections::EscrowService* service, ParsedRequest& parsed) {
  auto result = service->ReportDeviceEvent(parsed.event);
  if (!result.ok()) return result.status();

  json::object reply;
  reply["seq"] = result->seq;
  reply["actions"] = ActionsJson(result->actions);
  return json::serialize(reply);
}

}  // namespace

Result<ParsedRequest> ParseDeviceRequest(Route route, std::string_view body) {
  auto object = ParseJsonObject(body, kMaxJsonDepth);
  if (!object.ok()) return object.status();

  ParsedRequest parsed;
  parsed.route = route;
  auto device_id = GetString(*object, "device_id");
  if (!device_id.ok()) return device_id.status();
  ESCROW_RETURN_IF_ERROR(projections::ValidateDeviceId(*device_id));
  parsed.device_id = std::move(device_id).value();
  auto counter = GetUint(*object, "counter");
  if (!counter.ok()) return counter.status();
  parsed.counter = *counter;

  switch (route) {
    case Route::kEnroll: ESCROW_RETURN_IF_ERROR(ParseEnroll(*object, parsed)); break;
    case Route::kCheckIn: ESCROW_RETURN_IF_ERROR(ParseCheckIn(*object, parsed)); break;
    case Route::kRecoveryPassword: ESCROW_RETURN_IF_ERROR(ParseEscrow(*object, parsed)); break;
    case Route::kEvents: ESCROW_RETURN_IF_ERROR(ParseEvent(*object, parsed)); break;
  }
  return parsed;
}

Result<std::string> CallService(projections::EscrowService* service, ParsedRequest parsed,
                                projections::DeviceOrigin origin) {
  switch (parsed.route) {
    case Route::kEnroll:
      parsed.enroll.origin = std::move(origin);
      return CallEnroll(service, parsed);
    case Route::kCheckIn:
      parsed.check_in.origin = std::move(origin);
      return CallCheckIn(service, parsed);
    case Route::kRecoveryPassword:
      parsed.escrow.origin = std::move(origin);
      return CallEscrow(service, parsed);
    case Route::kEvents:
      parsed.event.origin = std::move(origin);
      return CallEvent(service, parsed);
  }
  return Internal("unknown gateway route");
}

}  // namespace escrow::gateway
