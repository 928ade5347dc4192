#include "api/api.h"

#include <chrono>
#include <vector>

#include "api/console.h"
#include "api/json_body.h"
#include "api/route_table.h"
#include "api/route_util.h"
#include "ledger/log.h"

namespace escrow::api {
namespace {

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The channel recorded for a denied retrieval whose body names no valid one.
constexpr std::string_view kDefaultRetrievalChannel = "api";

bool HasControlCharacter(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

// The route table: which roles may call each route (docs/api.md shows the same
// table). The third column is the metrics label. In the roles column,
// kAnyAccount is every signed-in account and kPublicRoute needs no session.
// The own-only column lists the roles that reach only their own devices or
// records, and the handler checks that ownership. tests/authz_matrix_test.cc
// walks every row.
const Api::Route Api::kRoutes[] = {
    {"POST", "/v1/sessions", "sessions", kPublicRoute, kNoRoles, &Api::Login},
    {"DELETE", "/v1/sessions", "sessions", kAnyAccount, kNoRoles, &Api::Logout},
    {"GET", "/v1/session", "sessions", kAnyAccount, kNoRoles, &Api::GetSession},
    {"GET", "/v1/policy", "policy", kAnyAccount, kNoRoles, &Api::GetPolicy},
    {"PUT", "/v1/policy", "policy", Role::kAdmin, kNoRoles, &Api::PutPolicy},
    {"POST", "/v1/accounts", "accounts", Role::kAdmin, kNoRoles, &Api::CreateAccount},
    {"GET", "/v1/accounts", "accounts", Role::kAdmin, kNoRoles, &Api::ListAccounts},
    {"POST", "/v1/accounts/{id}/password", "accounts", Role::kAdmin, kNoRoles,
     &Api::ResetAccountPassword},
    {"POST", "/v1/me/password", "sessions", kAnyAccount, kNoRoles, &Api::ChangeOwnPassword},
    {"POST", "/v1/devices", "devices", Role::kAdmin, kNoRoles, &Api::RegisterDevice},
    {"GET", "/v1/devices", "devices", kStaff | Role::kUser, Role::kUser, &Api::ListDevices},
    {"GET", "/v1/devices/{id}", "devices", kStaff | Role::kUser, Role::kUser, &Api::GetDevice},
    {"GET", "/v1/devices/{id}/timeline", "devices", kStaff | Role::kUser, Role::kUser,
     &Api::GetTimeline},
    {"GET", "/v1/devices/{id}/valid-at", "devices", kStaff | Role::kUser, Role::kUser,
     &Api::GetValidAt},
    {"GET", "/v1/me/retrievals", "audit", kAnyAccount, kNoRoles, &Api::ListMyRetrievals},
    {"POST", "/v1/devices/{id}/recovery-password:retrieve", "retrieve",
     Role::kHelpdesk | Role::kUser, Role::kUser, &Api::RetrievePassword},
    {"POST", "/v1/devices/{id}/rotation", "devices", Role::kAdmin, kNoRoles,
     &Api::RequestRotation},
    {"POST", "/v1/devices/{id}/retire", "devices", Role::kAdmin, kNoRoles, &Api::RetireDevice},
    {"GET", "/v1/audit", "audit", kAuditRoles, kNoRoles, &Api::QueryAudit},
    {"GET", "/v1/ledger/head", "ledger", kAuditRoles, kNoRoles, &Api::LedgerHead},
    {"GET", "/v1/ledger/entries", "ledger", kAuditRoles, kNoRoles, &Api::GetLedgerEntries},
    {"GET", "/v1/ledger/export", "ledger", kAuditRoles, kNoRoles, &Api::GetLedgerExport},
    {"GET", "/v1/checkpoints/latest", "ledger", kAuditRoles, kNoRoles, &Api::LatestCheckpoint},
    {"POST", "/v1/checkpoints", "ledger", kAuditRoles, kNoRoles, &Api::WriteCheckpoint},
    {"POST", "/v1/ledger/signing-key:rotate", "ledger", Role::kAdmin, kNoRoles,
     &Api::RotateSigningKey},
    {"GET", "/v1/checkpoints/{id}", "ledger", kAuditRoles, kNoRoles, &Api::GetCheckpoint},
    {"GET", "/v1/proofs/inclusion", "ledger", kAuditRoles, kNoRoles, &Api::GetInclusionProof},
    {"GET", "/v1/proofs/consistency", "ledger", kAuditRoles, kNoRoles,
     &Api::GetConsistencyProof},
    {"GET", "/v1/receipts/{id}", "ledger", kAnyAccount, Role::kUser | Role::kHelpdesk,
     &Api::GetReceipt},
    {"GET", "/healthz", "health", kPublicRoute, kNoRoles, &Api::Health},
    {"GET", "/metrics", "metrics", kPublicRoute, kNoRoles, &Api::Metrics},
    // The web console's files are public; its pages call the /v1 routes above.
    {"GET", "/", "console", kPublicRoute, kNoRoles, &Api::RedirectToConsole},
    {"GET", "/console", "console", kPublicRoute, kNoRoles, &Api::RedirectToConsole},
    {"GET", "/console/", "console", kPublicRoute, kNoRoles, &Api::ServeConsoleIndex},
    {"GET", "/console/{id}", "console", kPublicRoute, kNoRoles, &Api::ServeConsoleAsset},
};

std::vector<RouteAccess> Api::RouteTable() {
  std::vector<RouteAccess> out;
  for (const Route& route : kRoutes) {
    out.push_back(RouteAccess{route.method, route.pattern, route.roles, route.own_only});
  }
  return out;
}

Api::Api(ledger::Store* store, projections::EscrowService* service,
         ledger::Sequencer* sequencer, Options options)
    : store_(store),
      service_(service),
      sequencer_(sequencer),
      clock_(options.clock ? std::move(options.clock) : std::function<int64_t()>(SystemNowNs)),
      sessions_(store, clock_, options.session_ttl_ns, options.password_log_n),
      rate_limiters_(options.rate_limits),
      write_checkpoint_(std::move(options.write_checkpoint)) {}

void Api::SetMetricsSource(std::function<std::string()> source) {
  std::lock_guard<std::mutex> lock(metrics_mu_);
  metrics_source_ = std::move(source);
}

http::Response Api::Handle(const http::Request& request) {
  auto started = std::chrono::steady_clock::now();
  std::string route_class = "unknown";
  std::string actor = "-";

  // Dispatch replies to bad input itself, so an exception here is a bug.
  http::Response response;
  try {
    response = Dispatch(request, &route_class, &actor);
  } catch (const std::exception& e) {
    Logger("api")->error("{} {} from {} failed with an exception: {}", request.method,
                         request.path, request.remote_address, e.what());
    response = ErrorReply(Internal("internal error; the server log has the details"));
  }

  metrics_.CountRequest(route_class, response.status);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count();
  Logger("api")->debug("{} {} from {} actor={} -> {} in {} us", request.method, request.path,
                       request.remote_address, actor, response.status, micros);
  return response;
}

http::Response Api::Dispatch(const http::Request& request, std::string* route_class,
                             std::string* actor) {
  // Step 1: find the route; a known path with another method is a 405.
  std::vector<std::string_view> path;
  std::string decoded = PercentDecode(request.path);
  if (decoded.empty() || decoded[0] != '/') return ErrorReply(NotFound("no such route"));
  path = SplitPath(decoded);
  const Route* route = nullptr;
  std::string id;
  std::string allowed;
  for (const Route& candidate : kRoutes) {
    std::string candidate_id;
    if (!MatchPattern(candidate.pattern, path, &candidate_id)) continue;
    if (candidate.method != request.method) {
      allowed += allowed.empty() ? "" : ", ";
      allowed += candidate.method;
      continue;
    }
    route = &candidate;
    id = std::move(candidate_id);
    break;
  }
  if (route == nullptr && !allowed.empty()) {
    boost::json::object body;
    body["error"] = "method_not_allowed";
    body["message"] = request.method + " is not allowed on " + decoded + "; use " + allowed;
    http::Response response = JsonReply(405, body);
    response.headers["Allow"] = allowed;
    return response;
  }
  if (route == nullptr) return ErrorReply(NotFound("no route for " + request.path));
  *route_class = std::string(route->route_class);

  // Step 1b: a browser may send a state-changing request only from this origin.
  if (Status origin = CheckBrowserOrigin(request); !origin.ok()) return ErrorReply(origin);
  // Step 1c: JSON depth and size limits hold before any authentication.
  if (Status limits = CheckJsonLimits(request.body); !limits.ok()) return ErrorReply(limits);

  // Step 2: public routes run without a session; the others authenticate.
  Call call{request, nullptr, std::move(id)};
  if (route->roles.Contains(Role::kPublic)) return (this->*(route->handler))(call);
  Result<projections::Principal> principal = sessions_.Authenticate(request);
  if (!principal.ok()) return ErrorReply(principal.status());
  call.principal = &*principal;
  *actor = principal->name;

  // Step 3: the caller must hold one of the route's roles. Ownership and
  // policy checks that depend on data stay in the handlers.
  if ((RolesOf(*principal) & route->roles).empty()) {
    Status denied = RouteDenied(RouteAccess{route->method, route->pattern, route->roles,
                                            route->own_only});
    Logger("api")->warn("{} {} by {} denied: the account holds none of the route's roles",
                        request.method, route->pattern, principal->name);
    if (route->handler == &Api::RetrievePassword) return DenyRetrieval(call, denied);
    return ErrorReply(denied);
  }

  // Step 4: run the handler.
  return (this->*(route->handler))(call);
}

http::Response Api::DenyRetrieval(const Call& call, const Status& denied) {
  // Step 1: the retrieval rate limits apply to denied callers too, so they
  // also cap how fast one caller can add denial events to the ledger.
  auto limited = CheckRateLimits("retrieve", call.request, call.principal->name,
                                 rate_limiters_.retrieve_by_address,
                                 rate_limiters_.retrieve_by_principal);
  if (limited.has_value()) return *limited;

  // Step 2: take the reason and channel from the body when they are valid.
  // The caller gets the 403 either way, so an invalid field only leaves the
  // default in the record.
  projections::RetrievalRequest request;
  request.device_id = call.id;
  request.channel = std::string(kDefaultRetrievalChannel);
  auto body = ParseBodyObject(call.request.body);
  if (body.ok()) {
    auto reason = OptionalString(*body, "reason", projections::kMaxReasonLength);
    if (reason.ok() && reason->has_value() && !HasControlCharacter(**reason)) {
      request.reason = **reason;
    }
    auto channel = OptionalString(*body, "channel", kMaxFieldLength);
    if (channel.ok() && channel->has_value()) request.channel = **channel;
  }

  // Step 3: the service records RecoveryPasswordRetrievalDenied. An unknown
  // device or an invalid device id records nothing.
  const auto kMissingRole = projections::RetrievalDenial::kRoleRequired;
  auto recorded = service_->RecordRetrievalDenied(*call.principal, request, kMissingRole);
  if (!recorded.ok() && recorded.status().code() == Code::kInvalidArgument) {
    // The channel is unknown, so record the denial under the default one.
    request.channel = std::string(kDefaultRetrievalChannel);
    recorded = service_->RecordRetrievalDenied(*call.principal, request, kMissingRole);
  }
  if (recorded.ok()) metrics_.CountDeniedRetrieval();
  if (recorded.status().code() == Code::kUnavailable) {
    Logger("api")->warn("denied retrieval for device {} by {} was not recorded: {}", call.id,
                        call.principal->name, recorded.status().message());
  }
  return ErrorReply(denied);
}

}  // namespace escrow::api
