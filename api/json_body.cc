#include "api/json_body.h"

#include <boost/json/basic_parser_impl.hpp>
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

// A boost::json::basic_parser handler that builds nothing and counts
// values, stopping the parse once there are more than kMaxJsonElements.
class ElementCounter {
 public:
  static constexpr size_t max_object_size = static_cast<size_t>(-1);
  static constexpr size_t max_array_size = static_cast<size_t>(-1);
  static constexpr size_t max_key_size = static_cast<size_t>(-1);
  static constexpr size_t max_string_size = static_cast<size_t>(-1);

  bool too_many() const { return elements_ > kMaxJsonElements; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code& ec) { return Count(ec); }
  bool on_array_end(size_t, json::error_code&) { return true; }
  bool on_object_begin(json::error_code& ec) { return Count(ec); }
  bool on_object_end(size_t, json::error_code&) { return true; }
  bool on_string_part(json::string_view, size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, size_t, json::error_code& ec) { return Count(ec); }
  bool on_key_part(json::string_view, size_t, json::error_code&) { return true; }
  bool on_key(json::string_view, size_t, json::error_code&) { return true; }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, json::error_code& ec) { return Count(ec); }
  bool on_uint64(uint64_t, json::string_view, json::error_code& ec) { return Count(ec); }
  bool on_double(double, json::string_view, json::error_code& ec) { return Count(ec); }
  bool on_bool(bool, json::error_code& ec) { return Count(ec); }
  bool on_null(json::error_code& ec) { return Count(ec); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  bool Count(json::error_code& ec) {
    if (++elements_ <= kMaxJsonElements) return true;
    ec = make_error_code(boost::system::errc::value_too_large);
    return false;
  }

  size_t elements_ = 0;
};

json::parse_options BodyParseOptions() {
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  return options;
}

bool IsBlank(std::string_view body) {
  return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

const json::value* Find(const json::object& object, std::string_view field) {
  auto it = object.find(field);
  if (it == object.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

}  // namespace

Status CheckJsonLimits(std::string_view body) {
  if (IsBlank(body)) return Status::Ok();
  json::basic_parser<ElementCounter> parser(BodyParseOptions());
  json::error_code ec;
  size_t consumed = parser.write_some(/*more=*/false, body.data(), body.size(), ec);
  if (!ec && consumed != body.size()) ec = json::error::extra_data;
  if (parser.handler().too_many()) {
    return InvalidArgument("request body has more than " + std::to_string(kMaxJsonElements) +
                           " JSON values");
  }
  if (ec == json::error::too_deep) {
    return InvalidArgument("request body nests JSON deeper than " +
                           std::to_string(kMaxJsonDepth) + " levels");
  }
  if (ec) return InvalidArgument("request body is not valid JSON: " + ec.message());
  return Status::Ok();
}

Result<json::object> ParseBodyObject(std::string_view body) {
  if (IsBlank(body)) return json::object();
  ESCROW_RETURN_IF_ERROR(CheckJsonLimits(body));
  json::error_code ec;
  json::value value = json::parse(body, ec, {}, BodyParseOptions());
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
