// The web console: static files under /console/ on the API listener, and the
// Origin check that keeps other web sites from sending state-changing requests.
//
// The files in api/console/ are compiled into the binary at build time
// (api/embed_console.cmake writes console_assets.cc), so escrowd serves them
// with no file system access and no external request.
//
// Thread safety: the asset table is immutable, and the functions keep no state.
#pragma once

#include <span>
#include <string_view>

#include "api/http/http.h"
#include "ledger/status.h"

namespace escrow::api {

// One embedded console file, served at /console/NAME.
struct ConsoleAsset {
  std::string_view name;          // "portal.html"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
};

// Returns every embedded file, sorted by name (defined in the generated console_assets.cc).
std::span<const ConsoleAsset> ConsoleAssets();

// Returns the embedded file called name, or null.
const ConsoleAsset* FindConsoleAsset(std::string_view name);

// Content-Security-Policy of every console page: no inline script or style
// and no request to another origin.
inline constexpr std::string_view kConsoleContentSecurityPolicy =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// Rejects (kPermissionDenied) a POST, PUT, PATCH or DELETE whose Origin header
// is present and names another origin than the Host header. Browsers send
// Origin on such requests; escrowctl and other non-browser clients send none
// and pass. Logs a warning per rejection. The bearer token in the
// Authorization header is the main CSRF protection, because a cross-site
// request cannot attach it.
Status CheckBrowserOrigin(const http::Request& request);

}  // namespace escrow::api
