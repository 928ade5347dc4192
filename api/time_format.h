// Times in API replies and queries: Unix nanoseconds and RFC 3339 in UTC.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/status.h"

namespace escrow::api {

// Returns e.g. "2024-05-01T12:00:00.123456789Z"; the fraction is omitted when zero.
std::string FormatRfc3339(int64_t unix_ns);

// Parses either a decimal Unix time in nanoseconds or an RFC 3339 time
// ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00.5+02:00"). field names the
// query parameter in the error message.
Result<int64_t> ParseTime(std::string_view text, std::string_view field);

}  // namespace escrow::api
