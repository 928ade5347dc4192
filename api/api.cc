#include "api/api.h"

#include <chrono>
#include <vector>

#include "api/route_util.h"
#include "ledger/log.h"

namespace escrow::api {
namespace {

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 1;  // skip the leading '/'
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Decodes %XX escapes, so "recovery-password%3Aretrieve" matches the ':' route.
std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 &&
        hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Matches path against pattern; "{id}" matches one non-empty segment.
bool MatchPattern(std::string_view pattern, const std::vector<std::string_view>& path,
                  std::string* id) {
  std::vector<std::string_view> want = SplitPath(pattern);
  if (want.size() != path.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "{id}") {
      if (path[i].empty()) return false;
      *id = std::string(path[i]);
    } else if (want[i] != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

const Api::Route Api::kRoutes[] = {
    {"POST", "/v1/sessions", "sessions", false, &Api::Login},
    {"DELETE", "/v1/sessions", "sessions", true, &Api::Logout},
    {"GET", "/v1/session", "sessions", true, &Api::GetSession},
    {"GET", "/v1/policy", "policy", true, &Api::GetPolicy},
    {"PUT", "/v1/policy", "policy", true, &Api::PutPolicy},
    {"POST", "/v1/accounts", "accounts", true, &Api::CreateAccount},
    {"GET", "/v1/accounts", "accounts", true, &Api::ListAccounts},
    {"POST", "/v1/devices", "devices", true, &Api::RegisterDevice},
    {"GET", "/v1/devices", "devices", true, &Api::ListDevices},
    {"GET", "/v1/devices/{id}", "devices", true, &Api::GetDevice},
    {"GET", "/v1/devices/{id}/timeline", "devices", true, &Api::GetTimeline},
    {"GET", "/v1/devices/{id}/valid-at", "devices", true, &Api::GetValidAt},
    {"GET", "/v1/me/retrievals", "audit", true, &Api::ListMyRetrievals},
    {"POST", "/v1/devices/{id}/recovery-password:retrieve", "retrieve", true,
     &Api::RetrievePassword},
    {"POST", "/v1/devices/{id}/rotation", "devices", true, &Api::RequestRotation},
    {"POST", "/v1/devices/{id}/retire", "devices", true, &Api::RetireDevice},
    {"GET", "/v1/audit", "audit", true, &Api::QueryAudit},
    {"GET", "/v1/ledger/head", "ledger", true, &Api::LedgerHead},
    {"GET", "/v1/ledger/entries", "ledger", true, &Api::GetLedgerEntries},
    {"GET", "/v1/ledger/export", "ledger", true, &Api::GetLedgerExport},
    {"GET", "/v1/checkpoints/latest", "ledger", true, &Api::LatestCheckpoint},
    {"POST", "/v1/checkpoints", "ledger", true, &Api::WriteCheckpoint},
    {"GET", "/v1/checkpoints/{id}", "ledger", true, &Api::GetCheckpoint},
    {"GET", "/v1/proofs/inclusion", "ledger", true, &Api::GetInclusionProof},
    {"GET", "/v1/proofs/consistency", "ledger", true, &Api::GetConsistencyProof},
    {"GET", "/v1/receipts/{id}", "ledger", true, &Api::GetReceipt},
    {"GET", "/healthz", "health", false, &Api::Health},
    {"GET", "/metrics", "metrics", false, &Api::Metrics},
};

Api::Api(ledger::Store* store, projections::EscrowService* service,
         ledger::Sequencer* sequencer, Options options)
    : store_(store),
      service_(service),
      sequencer_(sequencer),
      clock_(options.clock ? std::move(options.clock) : std::function<int64_t()>(SystemNowNs)),
      sessions_(store, clock_, options.session_ttl_ns),
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

  // Step 2: authenticate when the route needs a signed-in caller.
  Call call{request, nullptr, std::move(id)};
  Result<projections::Principal> principal = Unauthenticated("not signed in");
  if (route->signed_in) {
    principal = sessions_.Authenticate(request);
    if (!principal.ok()) return ErrorReply(principal.status());
    call.principal = &*principal;
    *actor = principal->name;
  }

  // Step 3: run the handler.
  return (this->*(route->handler))(call);
}

}  // namespace escrow::api
