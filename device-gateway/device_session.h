// Device-management sessions on a simulated device's virtual clock, and the
// client removal and reinstall reports (escrow-device and the tests).
//
// A session is a check-in, followed by an escrow of the next generation when
// the reply lists escrow_new_password. With identity.fail_next_session set,
// the next escrow upload is lost with the connection: the device keeps the
// sealed upload as pending, the server keeps the used generation valid, and
// the device retries at its next scheduled check-in (+check_in_interval_s).
//
// Thread safety: like GatewayClient, the client and identity belong to one
// thread at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "device-gateway/device_client.h"

namespace escrow::device {

// advance-clock refuses steps that would run more sessions than this, so a
// typo cannot start millions of requests.
inline constexpr size_t kMaxSessionsPerAdvance = 1000;

struct SessionResult {
  uint64_t at_ns = 0;  // virtual time of the session
  CheckInReply check_in;
  bool escrow_due = false;  // the reply listed escrow_new_password
  bool escrowed = false;    // the next generation reached the server
  bool failed = false;      // the upload was lost (fail_next_session)
  EscrowReply escrow;       // set when escrowed
};

// Escrows the next generation when check_in lists escrow_new_password,
// honouring fail_next_session. Fills the escrow fields of result.
Status EscrowIfDue(GatewayClient& client, DeviceIdentity& identity, SessionResult& result);

// Runs one session now: check in, then EscrowIfDue unless act is false.
Result<SessionResult> RunSession(GatewayClient& client, DeviceIdentity& identity, bool act);

// Moves the virtual clock forward by seconds and runs every scheduled session
// that falls due on the way, like a device waking up. A session that fails
// at the server stops the advance with that error (the clock stays at the
// failed session's time).
Result<std::vector<SessionResult>> AdvanceClock(GatewayClient& client, DeviceIdentity& identity,
                                                uint64_t seconds);

// Marks the next escrow upload as lost and saves the state.
Status FailNextSession(GatewayClient& client, DeviceIdentity& identity);

// Reports client_removed and clears the stored recovery password hash,
// because without the client the lock screen no longer offers it.
Result<EventReply> RemoveClient(GatewayClient& client, DeviceIdentity& identity);
// Reports client_installed. The reply to the next check-in then lists
// escrow_new_password.
Result<EventReply> InstallClient(GatewayClient& client, DeviceIdentity& identity);

}  // namespace escrow::device
