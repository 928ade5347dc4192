#include "device-gateway/json_fields.h"

#include <fmt/format.h>

#include "ledger/crypto.h"

namespace escrow::gateway {
namespace {

Result<const boost::json::value*> Find(const boost::json::object& object,
                                       std::string_view name) {
  const boost::json::value* value = object.if_contains(name);
  if (value == nullptr) return InvalidArgument(fmt::format("field \"{}\" is missing", name));
  return value;
}

}  // namespace

Result<boost::json::object> ParseJsonObject(std::string_view text, size_t max_depth) {
  boost::json::parse_options options;
  options.max_depth = max_depth;

  boost::json::error_code ec;
  boost::json::value value = boost::json::parse(text, ec, {}, options);
  if (ec) return InvalidArgument(fmt::format("malformed JSON body: {}", ec.message()));
  if (!value.is_object()) return InvalidArgument("the JSON body must be an object");
  return std::move(value.as_object());
}

Result<std::string> GetString(const boost::json::object& object, std::string_view name) {
  auto value = Find(object, name);
  if (!value.ok()) return value.status();
  if (!(*value)->is_string()) {
    return InvalidArgument(fmt::format("field \"{}\" must be a string", name));
  }
  return std::string((*value)->as_string());
}

Result<uint64_t> GetUint(const boost::json::object& object, std::string_view name) {
  auto value = Find(object, name);
  if (!value.ok()) return value.status();
  if ((*value)->is_uint64()) return (*value)->as_uint64();
  if ((*value)->is_int64() && (*value)->as_int64() >= 0) {
    return static_cast<uint64_t>((*value)->as_int64());
  }
  return InvalidArgument(fmt::format("field \"{}\" must be an unsigned integer", name));
}

Result<bool> GetBool(const boost::json::object& object, std::string_view name) {
  auto value = Find(object, name);
  if (!value.ok()) return value.status();
  if (!(*value)->is_bool()) {
    return InvalidArgument(fmt::format("field \"{}\" must be true or false", name));
  }
  return (*value)->as_bool();
}

Result<std::string> GetBase64(const boost::json::object& object, std::string_view name,
                              size_t expected_size) {
  auto text = GetString(object, name);
  if (!text.ok()) return text.status();
  auto bytes = crypto::Base64Decode(*text);
  if (!bytes.ok()) return InvalidArgument(fmt::format("field \"{}\" is not valid base64", name));
  if (expected_size != 0 && bytes->size() != expected_size) {
    return InvalidArgument(fmt::format("field \"{}\" must decode to {} bytes, not {}", name,
                                       expected_size, bytes->size()));
  }
  return std::move(bytes).value();
}

}  // namespace escrow::gateway
