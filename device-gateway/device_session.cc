#include "device-gateway/device_session.h"

#include <fmt/format.h>

#include <limits>

namespace escrow::device {

Status EscrowIfDue(GatewayClient& client, DeviceIdentity& identity, SessionResult& result) {
  result.escrow_due = result.check_in.HasAction(kActionEscrowNewPassword);
  if (!result.escrow_due) return Status::Ok();

  if (identity.fail_next_session) {
    // The upload is sealed and kept, but the connection drops before it
    // leaves; the retry sends the same envelope.
    ESCROW_RETURN_IF_ERROR(client.PreparePendingEscrow());
    identity.fail_next_session = false;
    result.failed = true;
    return client.Save();
  }
  auto escrow = client.EscrowNewPassword();
  if (!escrow.ok()) return escrow.status();
  result.escrowed = true;
  result.escrow = *escrow;
  return Status::Ok();
}

Result<SessionResult> RunSession(GatewayClient& client, DeviceIdentity& identity, bool act) {
  SessionResult result;
  result.at_ns = identity.clock_ns;
  auto check_in = client.CheckIn();
  if (!check_in.ok()) return check_in.status();
  result.check_in = std::move(check_in).value();
  if (!act) {
    result.escrow_due = result.check_in.HasAction(kActionEscrowNewPassword);
    return result;
  }
  ESCROW_RETURN_IF_ERROR(EscrowIfDue(client, identity, result));
  return result;
}

Result<std::vector<SessionResult>> AdvanceClock(GatewayClient& client, DeviceIdentity& identity,
                                                uint64_t seconds) {
  // Step 1: compute the target time and check the number of sessions due.
  if (seconds > std::numeric_limits<uint64_t>::max() / kNsPerSecond - identity.clock_ns / kNsPerSecond) {
    return InvalidArgument("--seconds is too large");
  }
  const uint64_t target = identity.clock_ns + seconds * kNsPerSecond;
  if (identity.next_check_in_ns == 0) {
    identity.next_check_in_ns = identity.clock_ns + identity.check_in_interval_s * kNsPerSecond;
  }
  const uint64_t interval_ns = std::max<uint64_t>(identity.check_in_interval_s, 1) * kNsPerSecond;
  if (target >= identity.next_check_in_ns &&
      (target - identity.next_check_in_ns) / interval_ns + 1 > kMaxSessionsPerAdvance) {
    return InvalidArgument(fmt::format(
        "advancing {} s would run more than {} check-ins; advance in smaller steps", seconds,
        kMaxSessionsPerAdvance));
  }

  // Step 2: wake up at each scheduled check-in; each one schedules the next.
  std::vector<SessionResult> sessions;
  while (identity.next_check_in_ns <= target) {
    identity.clock_ns = identity.next_check_in_ns;
    auto session = RunSession(client, identity, /*act=*/true);
    if (!session.ok()) {
      ESCROW_RETURN_IF_ERROR(client.Save());
      return session.status();
    }
    sessions.push_back(std::move(session).value());
  }
  identity.clock_ns = target;
  ESCROW_RETURN_IF_ERROR(client.Save());
  return sessions;
}

Status FailNextSession(GatewayClient& client, DeviceIdentity& identity) {
  identity.fail_next_session = true;
  return client.Save();
}

Result<EventReply> RemoveClient(GatewayClient& client, DeviceIdentity& identity) {
  auto reply = client.ReportEvent("client_removed", identity.generation);
  if (!reply.ok()) return reply.status();
  identity.client_installed = false;
  identity.password = PasswordHash{};
  identity.armed = false;
  identity.pending = PendingEscrow{};
  ESCROW_RETURN_IF_ERROR(client.Save());
  return reply;
}

Result<EventReply> InstallClient(GatewayClient& client, DeviceIdentity& identity) {
  identity.client_installed = true;
  auto reply = client.ReportEvent("client_installed", identity.generation);
  if (!reply.ok()) {
    identity.client_installed = false;
    return reply.status();
  }
  ESCROW_RETURN_IF_ERROR(client.Save());
  return reply;
}

}  // namespace escrow::device
