// Named spdlog loggers, one per module ("ledger", "api", "gateway", ...).
//
// Thread safety: safe from any thread (spdlog's registry is synchronized).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace escrow {

// Returns the logger called name, creating a colored stderr logger if needed.
std::shared_ptr<spdlog::logger> Logger(const std::string& name);

}  // namespace escrow

namespace escrow::ledger {
using escrow::Logger;
}
