#include "api/route_table.h"

namespace escrow::api {
namespace {

// Joins the names of the roles in set that pass keep: "a", "a or b", "a, b or c".
template <class Keep>
std::string JoinRoleNames(RoleSet set, Keep keep) {
  std::vector<std::string_view> names;
  for (Role role : kAllRoles) {
    if (set.Contains(role) && keep(role)) names.push_back(RoleName(role));
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += (i + 1 == names.size()) ? " or " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kPublic:
      return "public";
    case Role::kUser:
      return projections::kRoleUser;
    case Role::kHelpdesk:
      return projections::kRoleHelpdesk;
    case Role::kAdmin:
      return projections::kRoleAdmin;
    case Role::kAuditor:
      return projections::kRoleAuditor;
  }
  return "unknown";
}

RoleSet RolesOf(const projections::Principal& principal) {
  RoleSet out;
  for (Role role : kAllRoles) {
    if (role != Role::kPublic && principal.Has(RoleName(role))) out = out | role;
  }
  return out;
}

std::string DescribeRoles(RoleSet roles, RoleSet own_only) {
  if (roles.Contains(Role::kPublic)) return "public";
  std::string out;
  for (Role role : kAllRoles) {
    if (!roles.Contains(role)) continue;
    if (!out.empty()) out += ", ";
    out += RoleName(role);
    if (own_only.Contains(role)) out += " (own)";
  }
  return out.empty() ? "none" : out;
}

Status RouteDenied(const RouteAccess& route) {
  std::string everywhere =
      JoinRoleNames(route.roles, [&](Role role) { return !route.own_only.Contains(role); });
  std::string own =
      JoinRoleNames(route.roles, [&](Role role) { return route.own_only.Contains(role); });
  if (everywhere.empty() && own.empty()) {
    return PermissionDenied(std::string(route.method) + " " + std::string(route.pattern) +
                            " is open to no role");
  }
  std::string text = "this request requires the ";
  if (!everywhere.empty()) text += everywhere + " role";
  if (!everywhere.empty() && !own.empty()) text += ", or the ";
  if (!own.empty()) text += own + " role on own devices or records";
  return PermissionDenied(text);
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

}  // namespace escrow::api
