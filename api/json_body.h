// Reading typed fields from JSON request bodies.
//
// Every failure is kInvalidArgument with a message naming the field, so a
// route can return it to the caller as is.
//
// Thread safety: pure functions.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/status.h"

namespace escrow::api {

// Maximum JSON nesting depth of a request body. The API's bodies are flat
// objects, some with a list of strings (depth 2).
inline constexpr size_t kMaxJsonDepth = 8;
// Maximum number of JSON values in a request body. Objects, arrays, strings,
// numbers, true, false and null each count one, and object keys do not.
inline constexpr size_t kMaxJsonElements = 1024;

// Checks that body is valid JSON within kMaxJsonDepth and kMaxJsonElements,
// without building the value, so a hostile body is rejected before it takes
// memory. An empty body passes. Fails with kInvalidArgument naming the limit.
Status CheckJsonLimits(std::string_view body);

// Parses body as a JSON object after CheckJsonLimits. An empty body is an
// empty object.
Result<boost::json::object> ParseBodyObject(std::string_view body);

// Fails naming the first field of object that is not in known.
Status CheckKnownFields(const boost::json::object& object,
                        std::initializer_list<std::string_view> known);

// Each getter returns nullopt when the field is absent or null, and fails when
// it has another type (or, for strings, is longer than max_length bytes).
Result<std::optional<std::string>> OptionalString(const boost::json::object& object,
                                                  std::string_view field, size_t max_length);
Result<std::optional<bool>> OptionalBool(const boost::json::object& object,
                                         std::string_view field);
Result<std::optional<uint64_t>> OptionalUint(const boost::json::object& object,
                                             std::string_view field);
Result<std::optional<std::vector<std::string>>> OptionalStringList(
    const boost::json::object& object, std::string_view field, size_t max_items,
    size_t max_length);

// Like OptionalString, but fails when the field is absent or empty.
Result<std::string> RequiredString(const boost::json::object& object, std::string_view field,
                                   size_t max_length);

// Moves a secret string field into a SecretString and overwrites the copy in
// object. Fails like RequiredString.
Result<crypto::SecretString> TakeSecretString(boost::json::object& object,
                                              std::string_view field, size_t max_length);

}  // namespace escrow::api
