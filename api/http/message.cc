// Request accessors and the JSON response builders.
#include <boost/json.hpp>

#include "api/http/http.h"

namespace escrow::http {

std::string Request::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Response ErrorResponse(const Status& status) {
  return ErrorResponse(HttpStatusOf(status.code()), status.CodeName(), status.message());
}

Response ErrorResponse(int http_status, const std::string& error,
                       const std::string& message) {
  // Boost.JSON escapes quotes and control characters in the message.
  boost::json::object body;
  body["error"] = error;
  body["message"] = message;
  return JsonResponse(http_status, boost::json::serialize(body));
}

Response JsonResponse(int status, std::string body) {
  Response response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(body);
  return response;
}

}  // namespace escrow::http
