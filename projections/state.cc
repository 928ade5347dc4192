#include "projections/state.h"

#include <algorithm>

namespace escrow::projections {

const char* LifecycleName(Lifecycle state) {
  switch (state) {
    case Lifecycle::kRegistered: return "registered";
    case Lifecycle::kEnrolled: return "enrolled";
    case Lifecycle::kPending: return "pending";
    case Lifecycle::kActive: return "active";
    case Lifecycle::kUsed: return "used";
    case Lifecycle::kRetired: return "retired";
  }
  return "unknown";
}

bool AccountRecord::HasRole(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

}  // namespace escrow::projections
