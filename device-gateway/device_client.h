// GatewayClient: a device's side of the gateway protocol (docs/protocol.md).
//
// Every request carries the device id and a counter one above the last one
// sent. The counter is saved to the state file before the request leaves, so
// a device that crashes mid-request never sends the same counter twice.
// Every change the server confirms (enrollment, generation, armed) is saved
// too. With an empty state path the identity lives only in memory (fleet).
// Enrollment and every check-in schedule the next check-in on the device's
// virtual clock (identity.clock_ns + the policy's check_in_interval_s).
//
// Thread safety: a GatewayClient, its DeviceIdentity and its http::Client
// belong to one thread at a time.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/http/http.h"
#include "device-gateway/device_identity.h"
#include "ledger/events.h"
#include "ledger/status.h"

namespace escrow::device {

inline constexpr std::string_view kActionEscrowNewPassword = "escrow_new_password";

struct EnrollReply {
  std::string escrow_key_id;
  ledger::Policy policy;
  uint64_t seq = 0;
  uint64_t generation = 0;  // the server's last generation; > 0 after a re-enrollment
};

struct CheckInReply {
  ledger::Policy policy;
  std::vector<std::string> actions;
  uint64_t server_generation = 0;
  int64_t server_time_ns = 0;
  bool HasAction(std::string_view action) const;
};

struct EscrowReply {
  uint64_t generation = 0;
  uint64_t seq = 0;
  bool already_escrowed = false;
};

struct EventReply {
  uint64_t seq = 0;
  std::vector<std::string> actions;
};

// The steps Reset performed after the password matched.
struct ResetReply {
  EventReply reset;
  CheckInReply check_in;
  bool escrowed = false;  // a next generation was escrowed
  EscrowReply escrow;     // set when escrowed
};

class GatewayClient {
 public:
  // http, identity must outlive the client. state_path "" = do not persist.
  GatewayClient(http::Client* http, DeviceIdentity* identity, std::string state_path);

  // Enrolls with a one-time token from the admin. Stores the escrow key.
  Result<EnrollReply> Enroll(const crypto::SecretString& token);
  // Reports client state, generation and armed; returns policy and actions.
  Result<CheckInReply> CheckIn();

  // Escrows the next generation: prepares a pending upload (20 random
  // digits sealed for generation + 1, kept only as a scrypt hash) unless one
  // is already pending, then uploads it. On success the pending generation
  // becomes the current one, not armed yet.
  Result<EscrowReply> EscrowNewPassword();
  // Creates the pending upload without sending it, if none is pending.
  Status PreparePendingEscrow();
  // Sends the pending upload over its own connection to host:port and closes
  // the connection without reading the reply: a session that drops after
  // the upload left. The server may or may not have committed it.
  Status SendPendingEscrowAndDrop(const std::string& host, uint16_t port);

  Result<EventReply> Arm();
  Result<EventReply> ReportEvent(std::string_view event, uint64_t generation);

  // Checks a typed recovery password against the local scrypt hash.
  Result<bool> CheckRecoveryPassword(std::string_view input) const;
  // Checks the password (kInvalidArgument "recovery password does not match"
  // on a mismatch), reports the reset of the current generation, checks in
  // and, when escrow_next is set and the check-in reply lists
  // escrow_new_password, escrows the next generation.
  Result<ResetReply> Reset(std::string_view input, bool escrow_next);

  const DeviceIdentity& identity() const { return *identity_; }
  // Writes the identity to the state file (nothing when the path is "").
  Status Save();

 private:
  // Builds a signed request for path with the common fields added to body.
  struct SignedRequest {
    std::string body;
    std::map<std::string, std::string> headers;
  };
  Result<SignedRequest> Sign(std::string_view path, boost::json::object body);
  // Signs, sends and parses the JSON reply; a non-200 reply becomes its Status.
  Result<boost::json::object> Call(std::string_view path, boost::json::object body);
  Result<EscrowReply> UploadPending();
  // Sets the next scheduled check-in to the virtual clock + interval_s.
  void ScheduleNextCheckIn(uint64_t interval_s);

  http::Client* http_;
  DeviceIdentity* identity_;
  std::string state_path_;
};

// Converts a gateway or API error reply ({"error", "message"}) to a Status.
Status StatusFromReply(const http::Response& response);

}  // namespace escrow::device
