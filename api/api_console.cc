// The web console routes: GET / and /console redirect to /console/, and
// /console/{name} serves one embedded file with the console's security headers.
#include <algorithm>
#include <cctype>
#include <string>

#include "api/api.h"
#include "api/console.h"
#include "api/route_util.h"
#include "ledger/log.h"

namespace escrow::api {
namespace {

constexpr std::string_view kConsoleHome = "/console/";
constexpr std::string_view kConsoleIndex = "index.html";

// Adds the headers every console file carries.
void AddConsoleHeaders(http::Response& response) {
  response.headers["Content-Security-Policy"] = std::string(kConsoleContentSecurityPolicy);
  response.headers["X-Content-Type-Options"] = "nosniff";
  response.headers["Referrer-Policy"] = "no-referrer";
  response.headers["X-Frame-Options"] = "DENY";
  // The pages are small; no-store keeps an old console from outliving an upgrade.
  response.headers["Cache-Control"] = "no-store";
}

http::Response AssetReply(const ConsoleAsset& asset) {
  http::Response response;
  response.status = 200;
  response.content_type = std::string(asset.content_type);
  response.body = std::string(asset.body);
  AddConsoleHeaders(response);
  return response;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsStateChanging(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

}  // namespace

const ConsoleAsset* FindConsoleAsset(std::string_view name) {
  for (const ConsoleAsset& asset : ConsoleAssets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

Status CheckBrowserOrigin(const http::Request& request) {
  if (!IsStateChanging(request.method)) return Status::Ok();
  const std::string origin = request.Header("origin");
  if (origin.empty()) return Status::Ok();

  // An origin is "scheme://host[:port]"; its authority must equal the Host header.
  std::string authority;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (origin.starts_with(scheme)) authority = origin.substr(scheme.size());
  }
  const std::string host = request.Header("host");
  if (authority.empty() || host.empty() || Lower(authority) != Lower(host)) {
    Logger("api")->warn("rejected cross-origin {} {} from {}: Origin {} Host {}", request.method,
                        request.path, request.remote_address, origin.substr(0, 128),
                        host.substr(0, 128));
    return PermissionDenied("cross-origin request rejected: Origin " + origin.substr(0, 128) +
                            " is not this server's origin; use the console served by escrowd");
  }
  return Status::Ok();
}

http::Response Api::RedirectToConsole(const Call&) {
  http::Response response;
  response.status = 302;
  response.content_type = "text/plain; charset=utf-8";
  response.headers["Location"] = std::string(kConsoleHome);
  response.body = "The web console is at /console/\n";
  AddConsoleHeaders(response);
  return response;
}

http::Response Api::ServeConsoleIndex(const Call&) {
  const ConsoleAsset* asset = FindConsoleAsset(kConsoleIndex);
  if (asset == nullptr) return ErrorReply(NotFound("this build has no web console"));
  return AssetReply(*asset);
}

http::Response Api::ServeConsoleAsset(const Call& call) {
  const ConsoleAsset* asset = FindConsoleAsset(call.id);
  if (asset == nullptr) {
    http::Response response = ErrorReply(
        NotFound("no console file named " + call.id.substr(0, 64) + "; the console starts at /console/"));
    AddConsoleHeaders(response);
    return response;
  }
  return AssetReply(*asset);
}

}  // namespace escrow::api
