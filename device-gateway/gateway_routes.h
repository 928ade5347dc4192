// Internal to the gateway: per-route request parsing, the service calls and
// the JSON replies. gateway.cc does the checks shared by every route.
//
// Thread safety: pure functions apart from the service calls, which are
// thread-safe.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>

#include "ledger/crypto.h"
#include "ledger/status.h"
#include "projections/service.h"

namespace escrow::gateway {

enum class Route { kEnroll, kCheckIn, kRecoveryPassword, kEvents };

// A request body after parsing: the common fields and the fields of its
// route. Only the member matching `route` is filled in.
struct ParsedRequest {
  Route route = Route::kCheckIn;
  std::string device_id;
  uint64_t counter = 0;
  crypto::SecretString enrollment_token;
  projections::EnrollRequest enroll;  // enrollment_token stays empty until the call
  projections::CheckInRequest check_in;
  projections::EscrowRequest escrow;
  projections::DeviceEventRequest event;
};

// Parses and validates a body for route. Fails with kInvalidArgument naming
// the missing, mistyped or invalid field.
Result<ParsedRequest> ParseDeviceRequest(Route route, std::string_view body);

// Calls the service for a parsed, signature-checked request. Returns the
// JSON reply body, or the service's error.
Result<std::string> CallService(projections::EscrowService* service, ParsedRequest parsed,
                                projections::DeviceOrigin origin);

// The "gateway" spdlog logger, created on first use if no one registered it.
std::shared_ptr<spdlog::logger> GatewayLogger();

}  // namespace escrow::gateway
