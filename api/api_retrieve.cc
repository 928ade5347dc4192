// Api route POST /v1/devices/{id}/recovery-password:retrieve.
//
// EscrowService::Retrieve decides who may retrieve and records either
// RecoveryPasswordRetrieved or RecoveryPasswordRetrievalDenied before it
// returns. This route does no role check of its own, because a denied attempt
// must reach the ledger too. Rate limits (api/rate_limit.h) apply first.
#include <boost/json.hpp>

#include "api/api.h"
#include "api/json_body.h"
#include "api/route_util.h"
#include "ledger/envelope.h"
#include "ledger/log.h"

namespace escrow::api {

namespace json = boost::json;

namespace {

constexpr std::string_view kDefaultChannel = "api";
constexpr std::string_view kChannels[] = {"portal", "console", "cli", "api"};
constexpr std::string_view kArmedStatus = "active on the device";
constexpr std::string_view kNotArmedStatus = "not yet active on the device";
constexpr std::string_view kNotYoursMessage = projections::kRetrievalRoleRequiredMessage;

// The request was checked before the service saw it, so these codes come from
// the service's decision, which it has recorded as RecoveryPasswordRetrievalDenied.
bool IsRecordedDenial(Code code) {
  return code == Code::kPermissionDenied || code == Code::kInvalidArgument ||
         code == Code::kFailedPrecondition || code == Code::kGone;
}

Result<projections::RetrievalRequest> ParseRetrieval(const http::Request& request,
                                                     const std::string& device_id) {
  auto body = ParseBodyObject(request.body);
  if (!body.ok()) return body.status();
  ESCROW_RETURN_IF_ERROR(CheckKnownFields(*body, {"reason", "channel"}));
  auto reason = OptionalString(*body, "reason", projections::kMaxReasonLength);
  if (!reason.ok()) return reason.status();
  auto channel = OptionalString(*body, "channel", kMaxFieldLength);
  if (!channel.ok()) return channel.status();

  if (reason->has_value()) {
    for (unsigned char c : **reason) {
      // A line break in a reason could forge an extra row in a text audit report.
      if (c < 0x20 || c == 0x7f) {
        return InvalidArgument(
            "field \"reason\" must not contain control characters such as line breaks");
      }
    }
  }

  projections::RetrievalRequest out;
  out.device_id = device_id;
  out.reason = reason->value_or("");
  out.channel = channel->value_or(std::string(kDefaultChannel));
  bool known = false;
  for (std::string_view name : kChannels) known = known || out.channel == name;
  if (!known) {
    return InvalidArgument("field \"channel\" must be portal, console, cli or api");
  }
  return out;
}

}  // namespace

http::Response Api::RetrievePassword(const Call& call) {
  // Step 0: limit retrievals per client address and per principal. A 429
  // writes no ledger event, so a flood cannot grow the ledger.
  auto limited = CheckRateLimits("retrieve", call.request, call.principal->name,
                                 rate_limiters_.retrieve_by_address,
                                 rate_limiters_.retrieve_by_principal);
  if (limited.has_value()) return *limited;

  // Step 1: check the input.
  Status id_ok = projections::ValidateDeviceId(call.id);
  if (!id_ok.ok()) return ErrorReply(id_ok);
  auto request = ParseRetrieval(call.request, call.id);
  if (!request.ok()) return ErrorReply(request.status());

  // Step 2: the service commits the audit event, then opens the envelope.
  auto retrieval = service_->Retrieve(*call.principal, *request);
  if (!retrieval.ok() && retrieval.status().code() == Code::kNotFound &&
      !call.principal->Has(projections::kRoleHelpdesk) &&
      !call.principal->Has(projections::kRoleAdmin) &&
      !call.principal->Has(projections::kRoleAuditor)) {
    // A plain user gets the same error for an unknown device as for someone
    // else's, so owners cannot probe which device ids exist.
    return ErrorReply(PermissionDenied(std::string(kNotYoursMessage)));
  }
  if (!retrieval.ok()) {
    if (IsRecordedDenial(retrieval.status().code())) {
      metrics_.CountDeniedRetrieval();
      Logger("api")->warn("retrieval for device {} by {} via {} denied: {}", call.id,
                          call.principal->name, request->channel, retrieval.status().message());
    }
    return ErrorReply(retrieval.status());
  }
  metrics_.CountRetrieval();
  Logger("api")->debug("recovery password of device {} generation {} retrieved by {} via {} "
                      "(audit seq {})",
                      call.id, retrieval->generation, call.principal->name, request->channel,
                      retrieval->audit_seq);

  // Step 3: reply; the formatted password lives only in wiped buffers and the body.
  json::object reply;
  reply["device_id"] = retrieval->device_id;
  reply["generation"] = retrieval->generation;
  reply["armed"] = retrieval->armed;
  reply["status"] = retrieval->armed ? kArmedStatus : kNotArmedStatus;
  reply["audit_seq"] = retrieval->audit_seq;
  // The receipt proves the audit event is in the ledger once a checkpoint
  // covers it; GET /v1/receipts/{seq} returns it again later.
  auto receipt = LedgerReceipt(*store_, retrieval->audit_seq);
  if (receipt.ok()) {
    reply["receipt"] = std::move(*receipt);
  } else {
    Logger("api")->warn("no receipt for audit seq {}: {}", retrieval->audit_seq,
                        receipt.status().message());
    reply["receipt"] = nullptr;
  }
  crypto::SecretString formatted =
      ledger::FormatRecoveryPassword(retrieval->recovery_password.view());
  return SecretJsonReply(200, reply, "recovery_password", formatted.view());
}

}  // namespace escrow::api
