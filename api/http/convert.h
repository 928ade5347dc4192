// Internal to the HTTP server: conversion between Beast messages and the
// library's Request and Response.
#pragma once

#include <boost/beast/http.hpp>

#include "api/http/http.h"

namespace escrow::http::internal {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;
using BeastResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Moves the body out of message. Fails with kInvalidArgument when the target
// is not in origin form (a path with an optional query).
Result<Request> ToRequest(BeastRequest&& message, const std::string& remote_address);

// Moves the body out of response and sets Content-Type, Content-Length,
// Cache-Control: no-store and the response's own headers.
BeastResponse ToBeastResponse(Response&& response, unsigned version, bool keep_alive);

}  // namespace escrow::http::internal
