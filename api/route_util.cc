#include "api/route_util.h"

#include <string>

namespace escrow::api {

namespace json = boost::json;

http::Response JsonReply(int status, const json::object& body) {
  http::Response response = http::JsonResponse(status, json::serialize(body));
  response.headers["Cache-Control"] = "no-store";
  return response;
}

http::Response ErrorReply(const Status& status) {
  http::Response response = http::ErrorResponse(status);
  response.headers["Cache-Control"] = "no-store";
  return response;
}

http::Response SecretJsonReply(int status, const json::object& public_fields, std::string_view secret_field,
                               std::string_view secret_value) {
  // The secret is spliced in as text so no json::value ever contains it. It must
  // need no JSON escaping (digits, dashes and base64url do not).
  std::string head = json::serialize(public_fields);
  head.pop_back();  // the closing '}'
  crypto::SecretString body;
  body.mutable_str().reserve(head.size() + secret_field.size() + secret_value.size() + 8);
  body.mutable_str() += head;
  if (head.size() > 1) body.mutable_str() += ",";
  body.mutable_str() += "\"" + std::string(secret_field) + "\":\"";
  body.mutable_str() += secret_value;
  body.mutable_str() += "\"}";

  http::Response response;
  response.status = status;
  response.headers["Cache-Control"] = "no-store";
  // The body moves into the server's Beast response, which wipes it once written.
  response.body = std::move(body.mutable_str());
  return response;
}

bool HasAnyRole(const projections::Principal& principal,
                std::initializer_list<std::string_view> roles) {
  for (std::string_view role : roles) {
    if (principal.Has(role)) return true;
  }
  return false;
}

Status RequireAnyRole(const projections::Principal& principal,
                      std::initializer_list<std::string_view> roles) {
  if (HasAnyRole(principal, roles)) return Status::Ok();
  std::string names;
  size_t i = 0;
  for (std::string_view role : roles) {
    if (i > 0) names += (i + 1 == roles.size()) ? " or " : ", ";
    names += role;
    ++i;
  }
  return PermissionDenied("this request requires the " + names + " role");
}

}  // namespace escrow::api
