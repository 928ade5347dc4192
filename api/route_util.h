// Helpers shared by the route files of Api (api_*.cc). Not a public header.
//
// Thread safety: pure functions.
#pragma once

#include <boost/json.hpp>
#include <initializer_list>
#include <string_view>

#include "api/http/http.h"
#include "ledger/crypto.h"
#include "ledger/status.h"
#include "projections/service.h"

namespace escrow::api {

// Returns a JSON reply; every API reply carries Cache-Control: no-store.
http::Response JsonReply(int status, const boost::json::object& body);
http::Response ErrorReply(const Status& status);

// Returns a JSON reply of public_fields plus one secret string field. The
// secret's only copies are in wiped buffers and in the returned body.
http::Response SecretJsonReply(int status, const boost::json::object& public_fields,
                               std::string_view secret_field, std::string_view secret_value);

bool HasAnyRole(const projections::Principal& principal,
                std::initializer_list<std::string_view> roles);
// Fails with kPermissionDenied naming the roles when principal has none of them.
Status RequireAnyRole(const projections::Principal& principal,
                      std::initializer_list<std::string_view> roles);

}  // namespace escrow::api
