#include "api/http/convert.h"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>

namespace escrow::http::internal {
namespace http = boost::beast::http;

namespace {

std::string ToLower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

}  // namespace

Result<Request> ToRequest(BeastRequest&& message, const std::string& remote_address) {
  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  request.remote_address = remote_address;

  // Path and decoded query parameters.
  auto url = boost::urls::parse_origin_form(request.target);
  if (!url) {
    return InvalidArgument("invalid request target: expected a path such as /v1/devices");
  }
  request.path = std::string(url->encoded_path());
  for (const auto& param : url->params()) {
    request.query.emplace(param.key, param.value);
  }

  // Headers with lower-case names; a repeated header becomes one list value.
  for (const auto& field : message) {
    std::string name = ToLower(field.name_string());
    auto [it, inserted] = request.headers.emplace(name, std::string(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second += field.value();
    }
  }

  request.body = std::move(message.body());
  return request;
}

BeastResponse ToBeastResponse(Response&& response, unsigned version, bool keep_alive) {
  BeastResponse message;
  message.result(static_cast<unsigned>(response.status));
  message.version(version);
  for (const auto& [name, value] : response.headers) {
    message.set(name, value);
  }
  message.set(http::field::content_type, response.content_type);
  message.set(http::field::cache_control, "no-store");
  message.keep_alive(keep_alive);
  message.body() = std::move(response.body);
  message.prepare_payload();
  return message;
}

}  // namespace escrow::http::internal
