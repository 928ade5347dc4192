// Typed access to the fields of a flat JSON object, for gateway requests and
// the device client's parsing of gateway and API replies.
//
// Every accessor fails with kInvalidArgument naming the field, so the error
// can go to the caller unchanged. None of them throws.
//
// Thread safety: pure functions.
#pragma once

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/status.h"

namespace escrow::gateway {

// Parses text as a JSON object no deeper than max_depth. Fails on malformed
// JSON, on a value that is not an object and on nesting beyond max_depth.
Result<boost::json::object> ParseJsonObject(std::string_view text, size_t max_depth);

Result<std::string> GetString(const boost::json::object& object, std::string_view name);
// Accepts a JSON integer in [0, 2^64).
Result<uint64_t> GetUint(const boost::json::object& object, std::string_view name);
Result<bool> GetBool(const boost::json::object& object, std::string_view name);
// Decodes a base64 string field. expected_size 0 accepts any length.
Result<std::string> GetBase64(const boost::json::object& object, std::string_view name,
                              size_t expected_size);

}  // namespace escrow::gateway
