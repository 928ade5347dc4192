// Login lockout: after kMaxLoginFailures failed logins within
// kLoginFailureWindowNs, an account name is locked for kLoginLockoutNs.
//
// Counters are keyed on the normalized account name (NormalizeAccountName),
// so "ALICE" and the fullwidth "ａｌｉｃｅ" count against "alice". Names that
// have no account are counted and locked exactly like existing ones, so
// neither the replies nor the metrics reveal whether an account exists.
//
// State is in memory only: a restart clears every counter and lockout. The
// per-address login rate limit (api/rate_limit.h) still bounds guessing right
// after a restart.
//
// Thread safety: LoginLockout is safe from any thread; mu_ guards its map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace escrow::api {

constexpr int kMaxLoginFailures = 5;
constexpr int64_t kLoginLockoutNs = int64_t{15} * 60 * 1'000'000'000;
// Failures further apart than this start a new count.
constexpr int64_t kLoginFailureWindowNs = kLoginLockoutNs;
// Most account names tracked at once. At the cap, expired entries are dropped
// first, then the entry with the oldest failure.
constexpr size_t kMaxLockoutEntries = 100'000;

// Returns the login form of an account name: ASCII letters lower-cased and
// fullwidth forms U+FF01..U+FF5E mapped to ASCII U+0021..U+007E. Other bytes,
// including invalid UTF-8, are kept, so such a name still fails
// projections::ValidateAccountName afterwards.
std::string NormalizeAccountName(std::string_view name);

class LoginLockout {
 public:
  explicit LoginLockout(size_t max_entries = kMaxLockoutEntries);

  // Returns true while name is locked at now_ns.
  bool IsLocked(const std::string& name, int64_t now_ns);

  // Counts one failed login of name. Returns true when this failure locks it.
  // Failures while name is locked are not counted and do not extend the lock.
  bool RecordFailure(const std::string& name, int64_t now_ns);

  // Clears name's counter and lock, after a successful login or a password reset.
  void Clear(const std::string& name);

 private:
  struct Entry {
    int failures = 0;
    int64_t last_failure_ns = 0;
    int64_t locked_until_ns = 0;
  };

  void MakeRoomLocked(int64_t now_ns);

  const size_t max_entries_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
};

}  // namespace escrow::api
