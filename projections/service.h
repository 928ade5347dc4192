// EscrowService: the domain rules. Each method validates one command against
// the projection state inside a sequencer transaction, appends its events and
// waits for the group commit.
//
// Device requests arrive here already signature-checked by the gateway. The
// service checks the per-device counter (operational CF "ctr\0" device_id)
// inside the same transaction, so a replay cannot slip between check and
// write.
//
// Thread safety: all methods are safe from any thread; state changes happen
// on the sequencer thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/state.h"

namespace escrow::projections {

constexpr std::string_view kRoleUser = "user";
constexpr std::string_view kRoleHelpdesk = "helpdesk";
constexpr std::string_view kRoleAdmin = "admin";
constexpr std::string_view kRoleAuditor = "auditor";
// The principal the server itself uses for bootstrap (first policy, first
// admin account). No account may take this name.
constexpr std::string_view kSystemPrincipal = "system";

// Input limits of the commands below.
constexpr uint64_t kMinCheckInIntervalS = 60;
constexpr uint64_t kMaxCheckInIntervalS = 7 * 24 * 3600;
constexpr size_t kEnrollmentTokenBytes = 32;
constexpr int64_t kMaxEnrollmentTokenTtlNs = int64_t{90} * 24 * 3600 * 1'000'000'000;
constexpr size_t kMaxReasonLength = 256;
constexpr size_t kMaxVersionLength = 64;
constexpr size_t kMaxDisplayNameLength = 128;
constexpr size_t kMaxPasswordHashLength = 1024;

// Device ids: 1 to 64 characters from [a-z0-9._-], starting with a letter or
// digit. Upper-case input is rejected, not folded, so one device has one id.
constexpr size_t kMaxDeviceIdLength = 64;
Status ValidateDeviceId(std::string_view device_id);
// Account names: 1 to 64 characters from [a-z0-9._-].
constexpr size_t kMaxAccountNameLength = 64;
Status ValidateAccountName(std::string_view name);

// Compares dotted version numbers numerically: 6.1.10 > 6.1.4. Returns
// negative, zero or positive; fails on a non-numeric part.
Result<int> CompareVersions(std::string_view a, std::string_view b);

// Returns kConflict "replayed request: ..." unless counter is greater than
// last_counter. The gateway and the service share it, so both reject alike.
Status CheckCounterGrows(uint64_t counter, uint64_t last_counter);

// An authenticated API caller.
struct Principal {
  std::string name;
  std::vector<std::string> roles;
  bool Has(std::string_view role) const;
};

// The signed request a device event came from, recorded as the entry's origin.
struct DeviceOrigin {
  std::string device_id;
  uint64_t counter = 0;
  std::string request_bytes;  // "METHOD PATH\n" + body, exactly as signed
  std::string signature;      // 64 bytes
};

struct PolicyUpdate {
  std::optional<std::string> reset_mode;
  std::optional<bool> self_service_recovery;
  std::optional<bool> rotate_after_retrieval;
  std::optional<uint64_t> check_in_interval_s;
  std::optional<std::string> min_os_version;
};

// Enrollment tokens: 32 random bytes, given out once as base64url without
// padding. The ledger and projection.tokens keep only the token digest,
// SHA-256 of the 32 decoded bytes (not of the base64url text).
struct RegisteredDevice {
  std::string device_id;
  std::string owner;
  crypto::SecretString enrollment_token;  // base64url of 32 random bytes; shown once
  int64_t expires_at_ns = 0;
};

struct EnrollRequest {
  DeviceOrigin origin;
  std::string enrollment_token;
  std::string os_version;
  std::string client_version;
  std::string device_public_key;  // 32 bytes, already proven by the request signature
};

struct EnrollResult {
  std::string escrow_public_key;
  std::string escrow_key_id;
  Policy policy;
  uint64_t seq = 0;
  // Highest generation escrowed for the device id, 0 for a new device. A
  // re-enrolled device continues the numbering: its next escrow is this + 1.
  uint64_t generation = 0;
};

struct CheckInRequest {
  DeviceOrigin origin;
  bool client_installed = true;
  uint64_t generation = 0;  // the generation the device has
  bool armed = false;
};

struct CheckInResult {
  Policy policy;
  std::vector<std::string> actions;  // e.g. "escrow_new_password"
  uint64_t server_generation = 0;
  int64_t server_time_ns = 0;
  std::string escrow_public_key;  // so a re-keyed device learns the current key
};

struct EscrowRequest {
  DeviceOrigin origin;
  uint64_t generation = 0;
  std::string envelope;  // raw bytes
};

struct EscrowResult {
  uint64_t generation = 0;
  uint64_t seq = 0;
  bool already_escrowed = false;  // identical retry: nothing written
};

enum class DeviceEventKind { kArmed, kReset, kClientInstalled, kClientRemoved };

struct DeviceEventRequest {
  DeviceOrigin origin;
  DeviceEventKind kind = DeviceEventKind::kArmed;
  uint64_t generation = 0;
  std::string client_version;  // for kClientInstalled
};

struct DeviceEventResult {
  uint64_t seq = 0;  // 0 when nothing was written (e.g. armed repeated)
  std::vector<std::string> actions;
};

struct RetrievalRequest {
  std::string device_id;
  std::string channel;  // "portal" | "console" | "cli" | "api"
  std::string reason;
};

// Why the API rejected a retrieval before EscrowService::Retrieve ran.
enum class RetrievalDenial {
  kRoleRequired,  // the caller has neither the helpdesk nor the user role
};

// The denial_reason of RetrievalDenial::kRoleRequired. Retrieve records the
// same text when its own rule finds a caller without either role.
constexpr std::string_view kRetrievalRoleRequiredMessage =
    "retrieving a recovery password requires the helpdesk role, or the user role as the "
    "device's owner";

// A password change to record with ChangeAccountPassword.
struct PasswordChange {
  std::string account;
  bool by_admin = false;          // an admin reset rather than the owner's own change
  uint64_t sessions_revoked = 0;  // sessions of the account that the change ends
};

// The retrieval's committed audit event and the envelope to open after it.
struct Retrieval {
  std::string device_id;
  uint64_t generation = 0;
  uint64_t audit_seq = 0;
  bool armed = false;
  std::string owner;
  crypto::SecretString recovery_password;  // 20 digits, opened only after commit
};

class EscrowService {
 public:
  EscrowService(ledger::Store* store, ledger::Sequencer* sequencer,
                const ledger::MasterKey* master_key);

  // Accounts and policy. The first SetPolicy/CreateAccount on an empty ledger
  // may come from the system principal (name "system", all roles).
  Status CreateAccount(const Principal& by, const std::string& name,
                       const std::vector<std::string>& roles, const std::string& display_name,
                       std::string password_hash);
  // Appends AccountPasswordChanged and stores password_hash as the account's
  // credential in the same synced write, so the new password works only once
  // its event is durable. An own change needs by.name == change.account, an
  // admin reset the admin role. Fails with kNotFound for an unknown account,
  // and with kUnavailable when the ledger cannot commit; then nothing changed.
  // Returns the seq of the event.
  Result<uint64_t> ChangeAccountPassword(const Principal& by, const PasswordChange& change,
                                         std::string password_hash);
  Result<Policy> SetPolicy(const Principal& by, const PolicyUpdate& update);
  // Writes the default policy if the ledger has none yet.
  Status EnsureInitialPolicy();

  // Admin registers a device id for an owner and receives a one-time token.
  Result<RegisteredDevice> RegisterDevice(const Principal& by, const std::string& device_id,
                                          const std::string& owner, int64_t token_ttl_ns);

  // Device gateway commands.
  Result<EnrollResult> Enroll(const EnrollRequest& request);
  Result<CheckInResult> CheckIn(const CheckInRequest& request);
  Result<EscrowResult> Escrow(const EscrowRequest& request);
  Result<DeviceEventResult> ReportDeviceEvent(const DeviceEventRequest& request);

  // Retrieval: records RecoveryPasswordRetrieved (or ...RetrievalDenied, then
  // returns the denial as an error) and, only after that commit, opens the
  // envelope. Owner: own device and self-service on. Help desk: any device,
  // reason required. Auditor and others: denied.
  Result<Retrieval> Retrieve(const Principal& by, const RetrievalRequest& request);
  // Records RecoveryPasswordRetrievalDenied for a retrieval that the API
  // rejected before calling Retrieve, with the same fields Retrieve records
  // for that case. Returns the seq of the event. Records nothing and fails
  // with kNotFound for an unknown device, and with kInvalidArgument for an
  // invalid request or a denial that contradicts the caller's roles.
  Result<uint64_t> RecordRetrievalDenied(const Principal& by, const RetrievalRequest& request,
                                         RetrievalDenial denial);

  Status RequestRotation(const Principal& by, const std::string& device_id);
  Status RetireDevice(const Principal& by, const std::string& device_id);

 private:
  ledger::Store* store_;
  ledger::Sequencer* sequencer_;
  const ledger::MasterKey* master_key_;
};

}  // namespace escrow::projections
