// The API calls escrow-device makes as an administrator or a device owner
// (docs/api.md): sessions, accounts, device registration, retrieval and
// device state.
//
// Thread safety: an ApiSession and its http::Client belong to one thread.
#pragma once

#include <boost/json.hpp>

#include <string>
#include <string_view>

#include "api/http/http.h"
#include "ledger/crypto.h"
#include "ledger/status.h"

namespace escrow::device {

class ApiSession {
 public:
  // client must outlive the session.
  explicit ApiSession(http::Client* client) : client_(client) {}
  ~ApiSession();
  ApiSession(const ApiSession&) = delete;
  ApiSession& operator=(const ApiSession&) = delete;

  // POST /v1/sessions. Replaces any session this object held.
  Status Login(const std::string& username, const crypto::SecretString& password);
  // DELETE /v1/sessions; does nothing without a session.
  Status Logout();

  // POST /v1/accounts with one role.
  Status CreateAccount(const std::string& username, const crypto::SecretString& password,
                       std::string_view role);
  // POST /v1/devices; returns the one-time enrollment token.
  Result<crypto::SecretString> RegisterDevice(const std::string& device_id,
                                              const std::string& owner);
  // POST /v1/devices/{id}/recovery-password:retrieve; returns the password
  // as the API formats it (12345-67890-12345-67890).
  Result<crypto::SecretString> RetrieveRecoveryPassword(const std::string& device_id,
                                                        std::string_view channel,
                                                        std::string_view reason);
  // GET /v1/devices/{id}: the device state object.
  Result<boost::json::object> GetDevice(const std::string& device_id);

 private:
  // Sends with the session token; returns the response or its error Status.
  Result<http::Response> Send(const std::string& method, const std::string& target,
                              const std::string& body);

  http::Client* client_;
  crypto::SecretString token_;
};

}  // namespace escrow::device
