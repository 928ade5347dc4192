// The gateway handler: routing, the shared checks every device request goes
// through (gateway.h lists their order), and metrics. Route bodies and
// replies are in gateway_routes.cc.
#include "device-gateway/gateway.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <optional>

#include "device-gateway/gateway_routes.h"
#include "device-gateway/json_fields.h"
#include "projections/queries.h"
#include "ledger/crypto.h"

namespace escrow::gateway {
namespace {

constexpr std::string_view kReplayMessagePrefix = "replayed request";

struct Context {
  ledger::Store* store;
  projections::EscrowService* service;
  GatewayMetrics* metrics;
};

std::optional<Route> RouteOf(std::string_view path) {
  if (path == kEnrollPath) return Route::kEnroll;
  if (path == kCheckInPath) return Route::kCheckIn;
  if (path == kRecoveryPasswordPath) return Route::kRecoveryPassword;
  if (path == kEventsPath) return Route::kEvents;
  return std::nullopt;
}

http::Response MethodNotAllowed(const std::string& method) {
  boost::json::object body;
  body["error"] = "method_not_allowed";
  body["message"] = fmt::format("method {} is not allowed: the gateway accepts only POST",
                                method.substr(0, 16));
  http::Response response = http::JsonResponse(405, boost::json::serialize(body));
  response.headers["Allow"] = "POST";
  return response;
}

// Fails with kUnauthenticated unless the header carries a valid signature by
// public_key over the request.
Status VerifySignature(const http::Request& request, std::string_view public_key,
                       std::string* signature) {
  std::string header = request.Header(std::string(kSignatureHeader));
  if (header.empty()) return Unauthenticated("missing X-Device-Signature header");

  auto decoded = crypto::Base64Decode(header);
  if (!decoded.ok() || decoded->size() != crypto::kEd25519SignatureSize) {
    return Unauthenticated("X-Device-Signature must be base64 of a 64-byte Ed25519 signature");
  }
  std::string message = SigningMessage(request.method, request.path, request.body);
  if (!crypto::Ed25519Verify(public_key, message, *decoded)) {
    return Unauthenticated("invalid device signature");
  }
  *signature = std::move(decoded).value();
  return Status::Ok();
}

// Returns the key that must have signed the request: the enrolling key for
// enroll, else the key recorded at enrollment.
Result<std::string> SignerKey(const Context& context, const ParsedRequest& parsed) {
  if (parsed.route == Route::kEnroll) return parsed.enroll.device_public_key;

  auto device = projections::GetDevice(*context.store, parsed.device_id);
  if (!device.ok()) return device.status();
  if (!device->has_value()) {
    return NotFound(fmt::format("device {} is not registered", parsed.device_id));
  }
  if ((*device)->device_public_key.empty()) {
    return Unauthenticated(fmt::format("device {} has not enrolled yet", parsed.device_id));
  }
  return (*device)->device_public_key;
}

// Rejects a counter that is not above the last accepted one before the
// command is queued. The service repeats this check inside its transaction,
// which is the check that counts when two requests race.
Status CheckCounter(const Context& context, const ParsedRequest& parsed) {
  if (parsed.route == Route::kEnroll) return Status::Ok();  // enroll resets the counter

  auto last = projections::LastAcceptedCounter(*context.store, parsed.device_id);
  if (!last.ok()) return last.status();
  if (!last->has_value()) return Status::Ok();
  return projections::CheckCounterGrows(parsed.counter, **last);
}

bool IsReplay(const Status& status) {
  return status.code() == Code::kConflict &&
         status.message().starts_with(kReplayMessagePrefix);
}

// Runs the checks of one device request and the service call. Returns the
// reply; device_id is set once the body has been parsed, for the log line.
http::Response RunDeviceRequest(const Context& context, Route route,
                                const http::Request& request, std::string* device_id) {
  auto log = GatewayLogger();

  // Body: size, JSON, common and route fields.
  if (request.body.size() > kMaxBodyBytes) {
    return http::ErrorResponse(Status(
        Code::kTooLarge, fmt::format("request body is larger than {} bytes", kMaxBodyBytes)));
  }
  auto parsed = ParseDeviceRequest(route, request.body);
  if (!parsed.ok()) return http::ErrorResponse(parsed.status());
  *device_id = parsed->device_id;

  // Signature over the exact bytes received.
  auto signer = SignerKey(context, *parsed);
  if (!signer.ok()) return http::ErrorResponse(signer.status());
  projections::DeviceOrigin origin;
  Status signature = VerifySignature(request, *signer, &origin.signature);
  if (!signature.ok()) {
    context.metrics->rejected_signature++;
    log->warn("device {}: {} rejected: {}", *device_id, request.path, signature.message());
    return http::ErrorResponse(signature);
  }

  // Replay check, then the service call.
  Status outcome = CheckCounter(context, *parsed);
  if (outcome.ok()) {
    origin.device_id = *device_id;
    origin.counter = parsed->counter;
    origin.request_bytes = OriginRequestBytes(request.method, request.path, request.body);
    auto reply = CallService(context.service, std::move(parsed).value(), std::move(origin));
    if (reply.ok()) return http::JsonResponse(200, std::move(reply).value());
    outcome = reply.status();
  }
  if (IsReplay(outcome)) {
    context.metrics->replayed++;
    log->warn("device {}: {} rejected: {}", *device_id, request.path, outcome.message());
  }
  return http::ErrorResponse(outcome);
}

http::Response Handle(const Context& context, const http::Request& request) {
  std::optional<Route> route = RouteOf(request.path);
  if (!route) {
    return http::ErrorResponse(NotFound("no gateway route for this path"));
  }
  if (request.method != "POST") return MethodNotAllowed(request.method);

  std::string device_id = "(unparsed)";
  http::Response response = RunDeviceRequest(context, *route, request, &device_id);
  GatewayLogger()->debug("device {}: {} -> {}", device_id, request.path, response.status);
  return response;
}

}  // namespace

std::shared_ptr<spdlog::logger> GatewayLogger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("gateway")) return existing;
    try {
      return spdlog::stdout_color_mt("gateway");
    } catch (const spdlog::spdlog_ex&) {
      return spdlog::get("gateway");  // another module registered it meanwhile
    }
  }();
  return logger;
}

std::string SigningMessage(std::string_view method, std::string_view path,
                           std::string_view body) {
  return fmt::format("{}{}\n{}\n{}", kSignatureDomain, method, path, body);
}

std::string OriginRequestBytes(std::string_view method, std::string_view path,
                               std::string_view body) {
  return fmt::format("{} {}\n{}", method, path, body);
}

void GatewayMetrics::CountResponse(int status) {
  size_t slot = kTrackedStatuses.size() - 1;
  for (size_t i = 0; i + 1 < kTrackedStatuses.size(); ++i) {
    if (kTrackedStatuses[i] == status) slot = i;
  }
  responses[slot]++;
}

std::string GatewayMetrics::PrometheusText() const {
  std::string text;
  text += "# TYPE escrow_gateway_requests_total counter\n";
  text += fmt::format("escrow_gateway_requests_total {}\n", requests.load());
  text += "# TYPE escrow_gateway_rejected_signatures_total counter\n";
  text += fmt::format("escrow_gateway_rejected_signatures_total {}\n",
                      rejected_signature.load());
  text += "# TYPE escrow_gateway_replayed_requests_total counter\n";
  text += fmt::format("escrow_gateway_replayed_requests_total {}\n", replayed.load());
  text += "# TYPE escrow_gateway_responses_total counter\n";
  for (size_t i = 0; i < kTrackedStatuses.size(); ++i) {
    std::string label = kTrackedStatuses[i] == 0 ? "other" : std::to_string(kTrackedStatuses[i]);
    text += fmt::format("escrow_gateway_responses_total{{status=\"{}\"}} {}\n", label,
                        responses[i].load());
  }
  return text;
}

http::Handler MakeGatewayHandler(ledger::Store* store, projections::EscrowService* service) {
  return MakeGatewayHandler(store, service, nullptr);
}

http::Handler MakeGatewayHandler(ledger::Store* store, projections::EscrowService* service,
                                 GatewayMetrics* metrics) {
  // Without caller-owned metrics, the handler owns a private set.
  std::shared_ptr<GatewayMetrics> owned;
  if (metrics == nullptr) {
    owned = std::make_shared<GatewayMetrics>();
    metrics = owned.get();
  }
  Context context{store, service, metrics};
  return [context, owned](const http::Request& request) {
    context.metrics->requests++;
    http::Response response;
    try {
      response = Handle(context, request);
    } catch (const std::exception& e) {
      GatewayLogger()->error("{} failed with an exception: {}", request.path, e.what());
      response = http::ErrorResponse(Internal("internal error"));
    }
    context.metrics->CountResponse(response.status);
    return response;
  };
}

}  // namespace escrow::gateway
