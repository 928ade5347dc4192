#include "api/json_body.h"

#include <openssl/crypto.h>

namespace escrow::api {
namespace {

namespace json = boost::json;

Status WrongType(std::string_view field, std::string_view expected) {
  return InvalidArgument("field \"" + std::string(field) + "\" must be " + std::string(expected));
}

Status TooLong(std::string_view field, size_t max_length) {
  return InvalidArgument("field \"" + std::string(field) + "\" is longer than " +
                         std::to_string(max_length) + " bytes");
}

const json::value* Find(const json::object& object, std::string_view field) {
  auto it = object.find(field);
  if (it == object.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

}  // namespace

Result<json::object> ParseBodyObject(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object();
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec) return InvalidArgument("request body is not valid JSON: " + ec.message());
  if (!value.is_object()) return InvalidArgument("request body must be a JSON object");
  return std::move(value.as_object());
}

Status CheckKnownFields(const json::object& object,
                        std::initializer_list<std::string_view> known) {
  for (const auto& item : object) {
    bool found = false;
    for (std::string_view name : known) found = found || item.key() == name;
    if (!found) return InvalidArgument("unknown field \"" + std::string(item.key()) + "\"");
  }
  return Status::Ok();
}

Result<std::optional<std::string>> OptionalString(const json::object& object,
                                                  std::string_view field, size_t max_length) {
  const json::value* value = Find(object, field);
  if (value == nullptr) return std::optional<std::string>();
  if (!value->is_string()) return WrongType(field, "a string");
  if (value->as_string().size() > max_length) return TooLong(field, max_length);
  return std::optional<std::string>(std::string(value->as_string()));
}

Result<std::optional<bool>> OptionalBool(const json::object& object, std::string_view field) {
  const json::value* value = Find(object, field);
  if (value == nullptr) return std::optional<bool>();
  if (!value->is_bool()) return WrongType(field, "true or false");
  return std::optional<bool>(value->as_bool());
}

Result<std::optional<uint64_t>> OptionalUint(const json::object& object,
                                             std::string_view field) {
  const json::value* value = Find(object, field);
  if (value == nullptr) return std::optional<uint64_t>();
  if (value->is_uint64()) return std::optional<uint64_t>(value->as_uint64());
  if (value->is_int64() && value->as_int64() >= 0) {
    return std::optional<uint64_t>(static_cast<uint64_t>(value->as_int64()));
  }
  return WrongType(field, "a non-negative integer");
}

Result<std::optional<std::vector<std::string>>> OptionalStringList(const json::object& object,
                                                                   std::string_view field,
                                                                   size_t max_items,
                                                                   size_t max_length) {
  const json::value* value = Find(object, field);
  if (value == nullptr) return std::optional<std::vector<std::string>>();
  if (!value->is_array()) return WrongType(field, "a list of strings");
  const json::array& array = value->as_array();
  if (array.size() > max_items) {
    return InvalidArgument("field \"" + std::string(field) + "\" has more than " +
                           std::to_string(max_items) + " items");
  }
  std::vector<std::string> out;
  for (const json::value& item : array) {
    if (!item.is_string()) return WrongType(field, "a list of strings");
    if (item.as_string().size() > max_length) return TooLong(field, max_length);
    out.emplace_back(item.as_string());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Result<std::string> RequiredString(const json::object& object, std::string_view field,
                                   size_t max_length) {
  auto value = OptionalString(object, field, max_length);
  if (!value.ok()) return value.status();
  if (!value->has_value() || (*value)->empty()) {
    return InvalidArgument("missing field \"" + std::string(field) + "\"");
  }
  return std::move(**value);
}

Result<crypto::SecretString> TakeSecretString(json::object& object, std::string_view field,
                                              size_t max_length) {
  auto it = object.find(field);
  if (it == object.end() || it->value().is_null()) {
    return InvalidArgument("missing field \"" + std::string(field) + "\"");
  }
  if (!it->value().is_string()) return WrongType(field, "a string");
  json::string& text = it->value().as_string();
  crypto::SecretString out(std::string(text.data(), text.size()));
  OPENSSL_cleanse(text.data(), text.size());
  if (out.empty()) return InvalidArgument("missing field \"" + std::string(field) + "\"");
  if (out.size() > max_length) return TooLong(field, max_length);
  return out;
}

}  // namespace escrow::api
