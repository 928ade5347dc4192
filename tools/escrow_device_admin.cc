#include "tools/escrow_device_admin.h"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <array>

#include "device-gateway/device_client.h"
#include "device-gateway/json_fields.h"

namespace escrow::device {
namespace {

namespace json = boost::json;

// Deepest nesting expected in an API reply.
constexpr size_t kReplyJsonDepth = 16;
// A retrieval reply is under 1 KiB; it is parsed in a stack buffer of this
// size that is wiped afterwards, because it contains the recovery password.
constexpr size_t kSecretReplyArenaBytes = 8 * 1024;

}  // namespace

ApiSession::~ApiSession() {
  // Best effort: a session left open expires on the server.
  if (!token_.empty()) (void)Logout();
}

Result<http::Response> ApiSession::Send(const std::string& method, const std::string& target,
                                        const std::string& body) {
  std::map<std::string, std::string> headers;
  if (!token_.empty()) headers["Authorization"] = "Bearer " + token_.str();
  auto response = client_->Send(method, target, body, headers);
  if (auto it = headers.find("Authorization"); it != headers.end()) crypto::Cleanse(it->second);

  if (!response.ok()) return response.status();
  // Creation routes return 201, the others 200.
  if (response->status / 100 != 2) return StatusFromReply(*response);
  return response;
}

Status ApiSession::Login(const std::string& username, const crypto::SecretString& password) {
  token_.Wipe();
  json::object body;
  body["username"] = username;
  body["password"] = password.view();
  crypto::SecretString text(json::serialize(body));
  auto response = Send("POST", "/v1/sessions", text.str());
  if (!response.ok()) return response.status();

  crypto::SecretString reply_body(std::move(response->body));
  auto reply = gateway::ParseJsonObject(reply_body.view(), kReplyJsonDepth);
  if (!reply.ok()) return reply.status();
  auto token = gateway::GetString(*reply, "token");
  if (!token.ok()) return token.status();
  token_ = crypto::SecretString(std::move(token).value());
  return Status::Ok();
}

Status ApiSession::Logout() {
  if (token_.empty()) return Status::Ok();
  auto response = Send("DELETE", "/v1/sessions", "");
  token_.Wipe();
  return response.status();
}

Status ApiSession::CreateAccount(const std::string& username,
                                 const crypto::SecretString& password, std::string_view role) {
  json::object body;
  body["username"] = username;
  body["password"] = password.view();
  body["roles"] = json::array{json::value(role)};
  body["display_name"] = username;
  crypto::SecretString text(json::serialize(body));
  return Send("POST", "/v1/accounts", text.str()).status();
}

Result<crypto::SecretString> ApiSession::RegisterDevice(const std::string& device_id,
                                                        const std::string& owner) {
  json::object body;
  body["device_id"] = device_id;
  body["owner"] = owner;
  auto response = Send("POST", "/v1/devices", json::serialize(body));
  if (!response.ok()) return response.status();

  crypto::SecretString reply_body(std::move(response->body));
  auto reply = gateway::ParseJsonObject(reply_body.view(), kReplyJsonDepth);
  if (!reply.ok()) return reply.status();
  auto token = gateway::GetString(*reply, "enrollment_token");
  if (!token.ok()) return token.status();
  return crypto::SecretString(std::move(token).value());
}

Result<crypto::SecretString> ApiSession::RetrieveRecoveryPassword(const std::string& device_id,
                                                                  std::string_view channel,
                                                                  std::string_view reason) {
  json::object body;
  body["channel"] = channel;
  body["reason"] = reason;
  auto response = Send("POST", fmt::format("/v1/devices/{}/recovery-password:retrieve", device_id),
                       json::serialize(body));
  if (!response.ok()) return response.status();
  crypto::SecretString reply_body(std::move(response->body));

  // Parse in an arena that is wiped afterwards, because the tree contains the password.
  alignas(16) std::array<unsigned char, kSecretReplyArenaBytes> arena{};
  Result<crypto::SecretString> out = Internal("retrieval reply was not parsed");
  {
    json::monotonic_resource resource(arena.data(), arena.size());
    json::parse_options options;
    options.max_depth = kReplyJsonDepth;
    json::error_code ec;
    json::value reply = json::parse(reply_body.view(), ec, &resource, options);
    const json::value* password = ec || !reply.is_object()
                                      ? nullptr
                                      : reply.as_object().if_contains("recovery_password");
    if (password != nullptr && password->is_string()) {
      out = crypto::SecretString(std::string(password->as_string()));
    } else {
      out = InvalidArgument("retrieval reply has no \"recovery_password\" string");
    }
  }
  OPENSSL_cleanse(arena.data(), arena.size());
  return out;
}

Result<json::object> ApiSession::GetDevice(const std::string& device_id) {
  auto response = Send("GET", fmt::format("/v1/devices/{}", device_id), "");
  if (!response.ok()) return response.status();
  auto reply = gateway::ParseJsonObject(response->body, kReplyJsonDepth);
  if (!reply.ok()) return reply.status();

  // Accept the state either as the reply itself or wrapped in "device".
  if (const json::value* device = reply->if_contains("device"); device && device->is_object()) {
    return device->as_object();
  }
  return reply;
}

}  // namespace escrow::device
