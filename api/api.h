// Api: the JSON routes of the API listener (docs/api.md is the route table).
//
// escrowd passes Handle to http::Server. Each request is authenticated by its
// bearer token (api/auth.h), checked for the route's roles, and then served
// from the projections (reads) or through EscrowService (changes). Bad input
// gets the reply {"error": code, "message": text}. No exception leaves
// Handle: an unexpected one becomes a 500 reply and an error log line.
//
// Logger "api": info for account and policy changes, debug per request, warn
// for denials. Passwords, tokens and request bodies are never logged.
//
// Thread safety: Handle may run on many worker threads at once. The session
// records live in RocksDB, the counters in ApiMetrics, and the metrics source
// is guarded by metrics_mu_.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/auth.h"
#include "api/http/http.h"
#include "api/metrics.h"
#include "api/rate_limit.h"
#include "api/route_table.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/service.h"

namespace escrow::api {

// Limits on request fields, in bytes or items.
constexpr size_t kMaxDisplayNameLength = 128;
constexpr size_t kMaxFieldLength = 256;
constexpr size_t kMaxRolesPerAccount = 8;
constexpr size_t kMaxDeviceListLimit = 1000;
constexpr size_t kDefaultDeviceListLimit = 100;
constexpr size_t kMaxAuditLimit = 1000;
// Most ledger entries one GET /v1/ledger/entries returns.
constexpr uint64_t kMaxLedgerEntriesPerCall = 1000;
// Enrollment token lifetime: 7 days unless the request sets token_ttl_s, at most 90 days.
constexpr uint64_t kDefaultTokenTtlS = 7 * 24 * 3600;
constexpr uint64_t kMaxTokenTtlS = 90 * 24 * 3600;

// Returns the receipt of ledger entry seq: {"seq", "leaf_hash", "checkpoint",
// "tree_size", "proof", "root"}, the last four null until a checkpoint covers
// seq (api_ledger.cc).
Result<boost::json::object> LedgerReceipt(const ledger::Store& store, uint64_t seq);

class Api {
 public:
  struct Options {
    std::function<int64_t()> clock;  // Unix nanoseconds; empty means the system clock
    int64_t session_ttl_ns = kSessionTtlNs;
    // Writes a checkpoint of the committed ledger now and returns its note;
    // empty means POST /v1/checkpoints returns 503.
    std::function<Result<std::string>()> write_checkpoint;
    // scrypt cost log2 N of new password hashes, kMinPasswordLogN to
    // kMaxPasswordLogN (escrowd's --password-hash-log-n). Stored hashes keep
    // their own cost.
    uint64_t password_log_n = kScryptLogN;
    // Token-bucket limits on login, password change and retrieval.
    RateLimits rate_limits;
  };

  // All pointers must outlive the Api. sequencer supplies the committed seq
  // for /healthz and /metrics.
  Api(ledger::Store* store, projections::EscrowService* service, ledger::Sequencer* sequencer,
      Options options);

  http::Response Handle(const http::Request& request);

  // Appends source()'s Prometheus text to every /metrics reply (escrowd adds
  // the gateway counters this way). source runs on a worker thread.
  void SetMetricsSource(std::function<std::string()> source);

  // Returns the access rule of every route, in dispatch order.
  static std::vector<RouteAccess> RouteTable();

 private:
  // One matched request: the caller (null for anonymous routes) and the {id}
  // path segment, if the route has one.
  struct Call {
    const http::Request& request;
    const projections::Principal* principal;
    std::string id;
  };
  using RouteHandler = http::Response (Api::*)(const Call&);
  struct Route {
    std::string_view method;
    std::string_view pattern;  // "/v1/devices/{id}/timeline"
    std::string_view route_class;
    RoleSet roles;     // who may call; Dispatch rejects other callers with 403
    RoleSet own_only;  // roles limited to own devices or records; the handler checks
    RouteHandler handler;
  };
  static const Route kRoutes[];

  http::Response Dispatch(const http::Request& request, std::string* route_class,
                          std::string* actor);
  // Returns the reply to a retrieval that Dispatch denied for lack of a role:
  // a 429 when a retrieval rate limit is exhausted, else the 403 of denied
  // after recording RecoveryPasswordRetrievalDenied, because every denied
  // retrieval is a ledger event (api.cc).
  http::Response DenyRetrieval(const Call& call, const Status& denied);

  // Sessions, policy, accounts (api_accounts.cc).
  http::Response Login(const Call& call);
  http::Response Logout(const Call& call);
  http::Response GetSession(const Call& call);
  http::Response GetPolicy(const Call& call);
  http::Response PutPolicy(const Call& call);
  http::Response CreateAccount(const Call& call);
  http::Response ListAccounts(const Call& call);

  // Password change and admin reset (api_passwords.cc). Both revoke every
  // session of the account.
  http::Response ChangeOwnPassword(const Call& call);
  http::Response ResetAccountPassword(const Call& call);
  // Takes a token from by_address (key: client address) and by_principal
  // (key: principal_key). Returns a 429 reply with Retry-After, counted in
  // metrics under route, when either bucket is empty; nullopt otherwise.
  std::optional<http::Response> CheckRateLimits(std::string_view route,
                                                const http::Request& request,
                                                const std::string& principal_key,
                                                TokenBucketLimiter& by_address,
                                                TokenBucketLimiter& by_principal);
  // Counts a failed password check in metrics under its reason.
  void CountLoginFailure(LoginFailure failure);

  // Devices (api_devices.cc).
  http::Response RegisterDevice(const Call& call);
  http::Response ListDevices(const Call& call);
  http::Response GetDevice(const Call& call);
  http::Response GetTimeline(const Call& call);
  http::Response RequestRotation(const Call& call);
  http::Response RetireDevice(const Call& call);
  // Returns ok when principal may read device_id's state and timeline.
  Status CheckDeviceReadAccess(const projections::Principal& principal,
                               const std::string& device_id);

  // Retrieval (api_retrieve.cc).
  http::Response RetrievePassword(const Call& call);

  // Audit, ledger, health and metrics (api_audit.cc).
  http::Response QueryAudit(const Call& call);
  http::Response LedgerHead(const Call& call);
  http::Response Health(const Call& call);
  http::Response Metrics(const Call& call);

  // Read receipts, point-in-time state and the audit CSV export (api_lifecycle.cc).
  http::Response ListMyRetrievals(const Call& call);
  http::Response GetValidAt(const Call& call);
  // Returns records (AuditRecordToJson objects) as a text/csv attachment.
  static http::Response AuditCsvReply(const boost::json::array& records);

  // The web console's files (api_console.cc, api/console.h).
  http::Response RedirectToConsole(const Call& call);
  http::Response ServeConsoleIndex(const Call& call);
  http::Response ServeConsoleAsset(const Call& call);

  // Checkpoints, proofs, entries, export and receipts (api_ledger.cc).
  http::Response LatestCheckpoint(const Call& call);
  http::Response GetCheckpoint(const Call& call);
  http::Response WriteCheckpoint(const Call& call);
  // Ledger signing-key rotation (api_keys.cc).
  http::Response RotateSigningKey(const Call& call);
  http::Response GetInclusionProof(const Call& call);
  http::Response GetConsistencyProof(const Call& call);
  http::Response GetLedgerEntries(const Call& call);
  http::Response GetLedgerExport(const Call& call);
  http::Response GetReceipt(const Call& call);
  // The committed seq: from the sequencer, or the store when there is none.
  Result<uint64_t> CommittedSeq() const;
  // Fails with kInvalidArgument naming param when size is above the committed seq.
  Status CheckTreeSize(uint64_t size, std::string_view param) const;

  ledger::Store* store_;
  projections::EscrowService* service_;
  ledger::Sequencer* sequencer_;
  std::function<int64_t()> clock_;
  SessionManager sessions_;
  ApiRateLimiters rate_limiters_;
  ApiMetrics metrics_;

  std::function<Result<std::string>()> write_checkpoint_;

  std::mutex metrics_mu_;
  std::function<std::string()> metrics_source_;  // guarded by metrics_mu_
};

}  // namespace escrow::api
