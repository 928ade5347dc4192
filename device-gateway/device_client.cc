#include "device-gateway/device_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "device-gateway/gateway.h"
#include "device-gateway/json_fields.h"
#include "ledger/envelope.h"

namespace escrow::device {
namespace {

namespace json = boost::json;

// Deepest nesting of a gateway reply (the policy object inside the reply).
constexpr size_t kReplyJsonDepth = 8;
constexpr std::string_view kPasswordMismatch = "recovery password does not match";

Result<ledger::Policy> ParsePolicy(const json::object& reply) {
  const json::value* value = reply.if_contains("policy");
  if (value == nullptr || !value->is_object()) {
    return InvalidArgument("gateway reply has no \"policy\" object");
  }
  const json::object& object = value->as_object();
  auto reset_mode = gateway::GetString(object, "reset_mode");
  auto self_service = gateway::GetBool(object, "self_service_recovery");
  auto rotate = gateway::GetBool(object, "rotate_after_retrieval");
  auto interval = gateway::GetUint(object, "check_in_interval_s");
  auto min_os = gateway::GetString(object, "min_os_version");
  for (const Status* status : {&reset_mode.status(), &self_service.status(), &rotate.status(),
                               &interval.status(), &min_os.status()}) {
    if (!status->ok()) return *status;
  }

  ledger::Policy policy;
  policy.reset_mode = std::move(reset_mode).value();
  policy.self_service_recovery = *self_service;
  policy.rotate_after_retrieval = *rotate;
  policy.check_in_interval_s = *interval;
  policy.min_os_version = std::move(min_os).value();
  return policy;
}

Result<std::vector<std::string>> ParseActions(const json::object& reply) {
  const json::value* value = reply.if_contains("actions");
  if (value == nullptr || !value->is_array()) {
    return InvalidArgument("gateway reply has no \"actions\" list");
  }
  std::vector<std::string> actions;
  for (const json::value& action : value->as_array()) {
    if (!action.is_string()) return InvalidArgument("gateway reply has a non-string action");
    actions.emplace_back(action.as_string());
  }
  return actions;
}

Code CodeFromName(std::string_view name) {
  for (int i = static_cast<int>(Code::kInvalidArgument); i <= static_cast<int>(Code::kInternal);
       ++i) {
    Status candidate(static_cast<Code>(i), "");
    if (name == candidate.CodeName()) return candidate.code();
  }
  return Code::kInternal;
}

}  // namespace

bool CheckInReply::HasAction(std::string_view action) const {
  return std::find(actions.begin(), actions.end(), action) != actions.end();
}

Status StatusFromReply(const http::Response& response) {
  auto object = gateway::ParseJsonObject(response.body, kReplyJsonDepth);
  if (object.ok()) {
    auto error = gateway::GetString(*object, "error");
    auto message = gateway::GetString(*object, "message");
    if (error.ok() && message.ok()) return Status(CodeFromName(*error), *message);
  }
  return Status(response.status >= 500 ? Code::kUnavailable : Code::kInternal,
                fmt::format("server replied with HTTP status {}", response.status));
}

GatewayClient::GatewayClient(http::Client* http, DeviceIdentity* identity,
                             std::string state_path)
    : http_(http), identity_(identity), state_path_(std::move(state_path)) {}

Status GatewayClient::Save() {
  if (state_path_.empty()) return Status::Ok();
  return SaveDeviceIdentity(*identity_, state_path_);
}

Result<GatewayClient::SignedRequest> GatewayClient::Sign(std::string_view path,
                                                          json::object body) {
  // The counter is saved before the request leaves, so it is never reused.
  identity_->counter++;
  ESCROW_RETURN_IF_ERROR(Save());
  body["device_id"] = identity_->device_id;
  body["counter"] = identity_->counter;

  SignedRequest request;
  request.body = json::serialize(body);
  auto signature = crypto::Ed25519Sign(identity_->private_key.view(),
                                       gateway::SigningMessage("POST", path, request.body));
  if (!signature.ok()) return signature.status();
  request.headers["X-Device-Signature"] = crypto::Base64Encode(*signature);
  return request;
}

Result<json::object> GatewayClient::Call(std::string_view path, json::object body) {
  auto request = Sign(path, std::move(body));
  if (!request.ok()) return request.status();

  auto response = http_->Send("POST", std::string(path), request->body, request->headers);
  if (!response.ok()) return response.status();
  if (response->status != 200) return StatusFromReply(*response);
  return gateway::ParseJsonObject(response->body, kReplyJsonDepth);
}

Result<EnrollReply> GatewayClient::Enroll(const crypto::SecretString& token) {
  json::object body;
  body["enrollment_token"] = token.view();
  body["os_version"] = identity_->os_version;
  body["client_version"] = identity_->client_version;
  body["device_public_key"] = crypto::Base64Encode(identity_->public_key);
  auto reply = Call(gateway::kEnrollPath, std::move(body));
  if (!reply.ok()) return reply.status();

  auto escrow_key = gateway::GetBase64(*reply, "escrow_public_key", crypto::kX25519KeySize);
  auto key_id = gateway::GetString(*reply, "escrow_key_id");
  auto seq = gateway::GetUint(*reply, "seq");
  auto policy = ParsePolicy(*reply);
  for (const Status* status :
       {&escrow_key.status(), &key_id.status(), &seq.status(), &policy.status()}) {
    if (!status->ok()) return *status;
  }

  // A re-enrolled device id continues the server's generation numbering.
  auto generation = gateway::GetUint(*reply, "generation");
  if (!generation.ok()) return generation.status();

  identity_->enrolled = true;
  identity_->escrow_public_key = std::move(escrow_key).value();
  identity_->escrow_key_id = *key_id;
  identity_->generation = *generation;
  identity_->password = PasswordHash{};
  identity_->armed = false;
  ScheduleNextCheckIn(policy->check_in_interval_s);
  ESCROW_RETURN_IF_ERROR(Save());
  return EnrollReply{std::move(key_id).value(), std::move(policy).value(), *seq, *generation};
}

Result<CheckInReply> GatewayClient::CheckIn() {
  json::object body;
  body["client_installed"] = identity_->client_installed;
  body["generation"] = identity_->generation;
  body["armed"] = identity_->armed;
  auto reply = Call(gateway::kCheckInPath, std::move(body));
  if (!reply.ok()) return reply.status();

  auto policy = ParsePolicy(*reply);
  auto actions = ParseActions(*reply);
  auto server_generation = gateway::GetUint(*reply, "server_generation");
  auto escrow_key = gateway::GetBase64(*reply, "escrow_public_key", 0);
  for (const Status* status : {&policy.status(), &actions.status(),
                               &server_generation.status(), &escrow_key.status()}) {
    if (!status->ok()) return *status;
  }

  CheckInReply out;
  out.policy = std::move(policy).value();
  out.actions = std::move(actions).value();
  out.server_generation = *server_generation;
  if (const json::value* time = reply->if_contains("server_time_ns"); time && time->is_int64()) {
    out.server_time_ns = time->as_int64();
  }
  // A re-keyed device learns its current escrow key here.
  if (escrow_key->size() == crypto::kX25519KeySize) {
    identity_->escrow_public_key = std::move(escrow_key).value();
  }
  // Every completed check-in schedules the next one on the virtual clock.
  ScheduleNextCheckIn(out.policy.check_in_interval_s);
  ESCROW_RETURN_IF_ERROR(Save());
  return out;
}

void GatewayClient::ScheduleNextCheckIn(uint64_t interval_s) {
  identity_->check_in_interval_s = interval_s;
  identity_->next_check_in_ns = identity_->clock_ns + interval_s * kNsPerSecond;
}

Status GatewayClient::PreparePendingEscrow() {
  uint64_t next = identity_->generation + 1;
  if (identity_->pending.generation == next) return Status::Ok();
  if (identity_->escrow_public_key.empty()) {
    return FailedPrecondition("the device has not enrolled, so it has no escrow key");
  }

  // Draw, seal and hash the digits; the SecretString wipes them on return.
  crypto::SecretString digits = crypto::RandomDigits(ledger::kRecoveryPasswordDigits);
  auto envelope = ledger::SealRecoveryPassword(identity_->escrow_public_key,
                                               identity_->device_id, next, digits.view());
  if (!envelope.ok()) return envelope.status();
  auto hash = HashRecoveryPassword(digits.view());
  if (!hash.ok()) return hash.status();

  identity_->pending = PendingEscrow{next, std::move(envelope).value(), std::move(hash).value()};
  return Save();
}

Result<EscrowReply> GatewayClient::UploadPending() {
  json::object body;
  body["generation"] = identity_->pending.generation;
  body["envelope"] = crypto::Base64Encode(identity_->pending.envelope);
  auto reply = Call(gateway::kRecoveryPasswordPath, std::move(body));
  if (!reply.ok()) return reply.status();

  auto generation = gateway::GetUint(*reply, "generation");
  auto seq = gateway::GetUint(*reply, "seq");
  auto already = gateway::GetBool(*reply, "already_escrowed");
  for (const Status* status : {&generation.status(), &seq.status(), &already.status()}) {
    if (!status->ok()) return *status;
  }

  // The server has the pending generation now, so it becomes the current one.
  identity_->generation = identity_->pending.generation;
  identity_->password = std::move(identity_->pending.password);
  identity_->armed = false;
  identity_->pending = PendingEscrow{};
  ESCROW_RETURN_IF_ERROR(Save());
  return EscrowReply{*generation, *seq, *already};
}

Result<EscrowReply> GatewayClient::EscrowNewPassword() {
  ESCROW_RETURN_IF_ERROR(PreparePendingEscrow());
  return UploadPending();
}

Status GatewayClient::SendPendingEscrowAndDrop(const std::string& host, uint16_t port) {
  if (identity_->pending.generation == 0) return FailedPrecondition("no escrow upload is pending");
  json::object body;
  body["generation"] = identity_->pending.generation;
  body["envelope"] = crypto::Base64Encode(identity_->pending.envelope);
  auto request = Sign(gateway::kRecoveryPasswordPath, std::move(body));
  if (!request.ok()) return request.status();

  std::string wire = fmt::format(
      "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\n"
      "X-Device-Signature: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      gateway::kRecoveryPasswordPath, host, port, request->headers["X-Device-Signature"],
      request->body.size(), request->body);

  // Write the whole request, then close without reading a byte of the reply.
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  boost::asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (!ec) boost::asio::connect(socket, endpoints, ec);
  if (!ec) boost::asio::write(socket, boost::asio::buffer(wire), ec);
  if (ec) {
    return Unavailable(fmt::format("cannot reach {}:{}: {}", host, port, ec.message()));
  }
  socket.close(ec);
  return Status::Ok();
}

Result<EventReply> GatewayClient::ReportEvent(std::string_view event, uint64_t generation) {
  json::object body;
  body["event"] = event;
  body["generation"] = generation;
  if (event == "client_installed") body["client_version"] = identity_->client_version;
  auto reply = Call(gateway::kEventsPath, std::move(body));
  if (!reply.ok()) return reply.status();

  auto seq = gateway::GetUint(*reply, "seq");
  if (!seq.ok()) return seq.status();
  auto actions = ParseActions(*reply);
  if (!actions.ok()) return actions.status();
  return EventReply{*seq, std::move(actions).value()};
}

Result<EventReply> GatewayClient::Arm() {
  if (identity_->generation == 0) {
    return FailedPrecondition("the device holds no recovery password to arm");
  }
  auto reply = ReportEvent("armed", identity_->generation);
  if (!reply.ok()) return reply.status();
  identity_->armed = true;
  ESCROW_RETURN_IF_ERROR(Save());
  return reply;
}

Result<bool> GatewayClient::CheckRecoveryPassword(std::string_view input) const {
  return MatchesRecoveryPassword(identity_->password, input);
}

Result<ResetReply> GatewayClient::Reset(std::string_view input, bool escrow_next) {
  auto matches = CheckRecoveryPassword(input);
  if (!matches.ok()) return matches.status();
  if (!*matches) return InvalidArgument(std::string(kPasswordMismatch));

  // The owner unlocked with generation g and set a new device password.
  ResetReply out;
  auto reset = ReportEvent("reset", identity_->generation);
  if (!reset.ok()) return reset.status();
  out.reset = std::move(reset).value();
  identity_->armed = false;
  ESCROW_RETURN_IF_ERROR(Save());

  // The check-in reply lists escrow_new_password when the used password must be replaced.
  auto check_in = CheckIn();
  if (!check_in.ok()) return check_in.status();
  out.check_in = std::move(check_in).value();
  if (escrow_next && out.check_in.HasAction(kActionEscrowNewPassword)) {
    auto escrow = EscrowNewPassword();
    if (!escrow.ok()) return escrow.status();
    out.escrowed = true;
    out.escrow = *escrow;
  }
  return out;
}

}  // namespace escrow::device
