// Device gateway: the HTTP handler behind the gateway listener.
//
// Routes (docs/protocol.md is the wire contract):
//   POST /gw/v1/enroll             EscrowService::Enroll
//   POST /gw/v1/check-in           EscrowService::CheckIn
//   POST /gw/v1/recovery-password  EscrowService::Escrow
//   POST /gw/v1/events             EscrowService::ReportDeviceEvent
//
// Every request is checked in this order, and the first failure is the reply:
//   1. known path (404), method POST (405), body size (413);
//   2. JSON object within the depth limit, `device_id` valid, `counter` an
//      unsigned integer, route fields present and typed (400);
//   3. `X-Device-Signature` is base64 of a 64-byte Ed25519 signature over
//      "escrow-gateway/v1\n" METHOD "\n" PATH "\n" BODY (401). The key is the
//      body's `device_public_key` for enroll, otherwise the key recorded at
//      enrollment (unknown device 404, device not enrolled yet 401);
//   4. the service call. The service enforces the counter inside its
//      transaction; the gateway checks it beforehand as well, so a replay is
//      rejected (409) without queueing a command.
//
// Thread safety: the handler is stateless apart from GatewayMetrics, whose
// counters are atomic, so it may run on many worker threads at once.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/http/http.h"
#include "ledger/store.h"
#include "projections/service.h"

namespace escrow::gateway {

inline constexpr std::string_view kEnrollPath = "/gw/v1/enroll";
inline constexpr std::string_view kCheckInPath = "/gw/v1/check-in";
inline constexpr std::string_view kRecoveryPasswordPath = "/gw/v1/recovery-password";
inline constexpr std::string_view kEventsPath = "/gw/v1/events";

inline constexpr std::string_view kSignatureHeader = "x-device-signature";
inline constexpr std::string_view kSignatureDomain = "escrow-gateway/v1\n";

// Largest request body the gateway parses. An envelope is 81 bytes (108 in
// base64), so a valid body is well under 1 KiB.
inline constexpr size_t kMaxBodyBytes = 16 * 1024;
// Largest request header a device sends is well under 1 KiB.
inline constexpr size_t kMaxHeaderBytes = 8 * 1024;
// Deepest JSON nesting accepted. Valid bodies are flat objects (depth 1).
inline constexpr size_t kMaxJsonDepth = 4;

// Returns the bytes a device signs for one request:
// "escrow-gateway/v1\n" METHOD "\n" PATH "\n" BODY.
std::string SigningMessage(std::string_view method, std::string_view path,
                           std::string_view body);
// Returns the bytes recorded as a ledger entry's origin: METHOD " " PATH "\n" BODY.
std::string OriginRequestBytes(std::string_view method, std::string_view path,
                               std::string_view body);

// Counters for /metrics. Statuses outside kTrackedStatuses count as "other".
struct GatewayMetrics {
  static constexpr std::array<int, 13> kTrackedStatuses = {
      200, 400, 401, 403, 404, 405, 409, 410, 413, 429, 500, 503, 0};

  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> rejected_signature{0};
  std::atomic<uint64_t> replayed{0};
  // responses[i] counts replies with status kTrackedStatuses[i]; the last
  // slot (status 0) counts every other status.
  std::array<std::atomic<uint64_t>, kTrackedStatuses.size()> responses{};

  void CountResponse(int status);
  // Returns the counters in Prometheus text format, names prefixed
  // "escrow_gateway_".
  std::string PrometheusText() const;
};

// Returns the gateway handler. store and service must outlive the handler.
// metrics may be null; when set, it must outlive the handler too.
http::Handler MakeGatewayHandler(ledger::Store* store, projections::EscrowService* service);
http::Handler MakeGatewayHandler(ledger::Store* store, projections::EscrowService* service,
                                 GatewayMetrics* metrics);

}  // namespace escrow::gateway
