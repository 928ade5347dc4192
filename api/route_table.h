// Route access rules and path matching for Api's route table (Api::kRoutes).
//
// Each route lists the roles that may call it as a RoleSet. Api::Dispatch
// rejects a caller that has none of them with 403 before the route's
// handler runs. A second RoleSet, own_only, marks the listed roles that reach
// only their own devices, or records they made themselves. The handler checks
// that ownership, because it depends on data. docs/api.md shows the same
// table, with the roles column written by DescribeRoles.
//
// Thread safety: pure functions and immutable values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/status.h"
#include "projections/service.h"

namespace escrow::api {

// The roles of the route table. kPublic stands for callers without a session.
enum class Role : uint8_t {
  kPublic = 1 << 0,
  kUser = 1 << 1,
  kHelpdesk = 1 << 2,
  kAdmin = 1 << 3,
  kAuditor = 1 << 4,
};

// Every Role, in the order the route table and docs/api.md list them.
inline constexpr Role kAllRoles[] = {Role::kPublic, Role::kUser, Role::kHelpdesk, Role::kAdmin,
                                     Role::kAuditor};

// The name of role as accounts and docs/api.md spell it ("user", "public").
std::string_view RoleName(Role role);

// A set of roles as a bit mask.
class RoleSet {
 public:
  constexpr RoleSet() = default;
  constexpr RoleSet(Role role) : bits_(static_cast<uint8_t>(role)) {}  // NOLINT: implicit on purpose

  constexpr RoleSet operator|(RoleSet other) const { return FromBits(bits_ | other.bits_); }
  constexpr RoleSet operator&(RoleSet other) const { return FromBits(bits_ & other.bits_); }
  constexpr bool operator==(const RoleSet&) const = default;
  constexpr bool Contains(Role role) const { return (bits_ & static_cast<uint8_t>(role)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }

 private:
  static constexpr RoleSet FromBits(unsigned bits) {
    RoleSet set;
    set.bits_ = static_cast<uint8_t>(bits);
    return set;
  }

  uint8_t bits_ = 0;
};

constexpr RoleSet operator|(Role a, Role b) { return RoleSet(a) | RoleSet(b); }

// Named role sets used by the route table.
inline constexpr RoleSet kPublicRoute = Role::kPublic;
inline constexpr RoleSet kNoRoles{};
inline constexpr RoleSet kAnyAccount = Role::kUser | Role::kHelpdesk | Role::kAdmin | Role::kAuditor;
inline constexpr RoleSet kStaff = Role::kHelpdesk | Role::kAdmin | Role::kAuditor;
inline constexpr RoleSet kAuditRoles = Role::kAdmin | Role::kAuditor;

// The access rule of one route, as Api::RouteTable returns it.
struct RouteAccess {
  std::string_view method;
  std::string_view pattern;  // "/v1/devices/{id}/timeline"
  RoleSet roles;             // who may call; kPublicRoute needs no session
  RoleSet own_only;          // roles in `roles` limited to own devices or records
};

// Returns the roles principal holds. Role names this table does not know are
// ignored, and kPublic is never included.
RoleSet RolesOf(const projections::Principal& principal);

// Returns the roles cell of docs/api.md for a route: "public", or the roles
// in kAllRoles order joined by ", ", each own-only role followed by " (own)".
// Example: "user (own), helpdesk, admin, auditor".
std::string DescribeRoles(RoleSet roles, RoleSet own_only);

// Returns the kPermissionDenied status of a caller without any of `roles`,
// naming the roles that may call the route, for example "this request
// requires the admin or auditor role", worded like RequireAnyRole.
Status RouteDenied(const RouteAccess& route);

// Splits "/a/b/c" into {"a", "b", "c"}; path must start with '/'.
std::vector<std::string_view> SplitPath(std::string_view path);

// Decodes %XX escapes, so "recovery-password%3Aretrieve" matches the ':' route.
std::string PercentDecode(std::string_view text);

// Matches path against pattern; "{id}" matches one non-empty segment, which
// is stored in *id.
bool MatchPattern(std::string_view pattern, const std::vector<std::string_view>& path,
                  std::string* id);

}  // namespace escrow::api
