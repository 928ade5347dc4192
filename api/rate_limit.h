// Token-bucket rate limits for the API's login, password-change and
// retrieval routes, keyed by client address and by account name.
//
// State is in memory only, so a restart refills every bucket. Each bucket
// holds up to `capacity` tokens and gains one token every `refill_interval_ns`
// of the Api clock. A request takes one token or is rejected with the time
// until the next token.
//
// Thread safety: TokenBucketLimiter is safe from any thread; mu_ guards its map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace escrow::api {

constexpr int64_t kNsPerSecond = 1'000'000'000;

// Default limits. A login costs one scrypt run, so the login buckets also cap
// the CPU an anonymous client can spend.
// escrowctl signs in once per command, so the account limits leave room for
// scripts while still capping password guessing far below what the lockout
// allows.
// Logins from one client address: a burst of 60, then five per second.
constexpr uint32_t kLoginBurstPerAddress = 60;
constexpr int64_t kLoginRefillNsPerAddress = kNsPerSecond / 5;
// Logins as one account name (normalized): a burst of 30, then one per second.
constexpr uint32_t kLoginBurstPerAccount = 30;
constexpr int64_t kLoginRefillNsPerAccount = 1 * kNsPerSecond;
// Retrievals from one client address: a burst of 60, then two per second.
constexpr uint32_t kRetrieveBurstPerAddress = 60;
constexpr int64_t kRetrieveRefillNsPerAddress = kNsPerSecond / 2;
// Retrievals by one signed-in account: a burst of 30, then one per second.
constexpr uint32_t kRetrieveBurstPerPrincipal = 30;
constexpr int64_t kRetrieveRefillNsPerPrincipal = 1 * kNsPerSecond;

// Maximum number of keys one limiter tracks. At the cap, full buckets (which equal new
// ones) are dropped first, then the least recently used bucket.
constexpr size_t kMaxRateLimitKeys = 100'000;

struct TokenBucketConfig {
  uint32_t capacity = 0;  // 0 disables the limit
  int64_t refill_interval_ns = kNsPerSecond;
};

// The four limits of the Api (Api::Options::rate_limits).
struct RateLimits {
  TokenBucketConfig login_per_address{kLoginBurstPerAddress, kLoginRefillNsPerAddress};
  TokenBucketConfig login_per_account{kLoginBurstPerAccount, kLoginRefillNsPerAccount};
  TokenBucketConfig retrieve_per_address{kRetrieveBurstPerAddress, kRetrieveRefillNsPerAddress};
  TokenBucketConfig retrieve_per_principal{kRetrieveBurstPerPrincipal,
                                           kRetrieveRefillNsPerPrincipal};

  // Returns limits with every bucket disabled (capacity 0).
  static RateLimits Unlimited();
};

// One kind of bucket (for example "logins per client address"), one bucket per key.
class TokenBucketLimiter {
 public:
  struct Decision {
    bool allowed = true;
    // Whole seconds until the next token, at least 1; 0 when allowed.
    int64_t retry_after_s = 0;
    // True for the first rejection after an allowed request, so callers can
    // log one line per burst instead of one per rejected request.
    bool first_rejection = false;
  };

  explicit TokenBucketLimiter(TokenBucketConfig config, size_t max_keys = kMaxRateLimitKeys);

  // Takes one token from key's bucket at now_ns (Unix nanoseconds).
  Decision Take(const std::string& key, int64_t now_ns);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_ns = 0;
    bool rejecting = false;
  };

  void RefillLocked(Bucket& bucket, int64_t now_ns) const;
  void MakeRoomLocked(int64_t now_ns);

  const TokenBucketConfig config_;
  const size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
};

// The Api's four limiters, built from one RateLimits.
struct ApiRateLimiters {
  explicit ApiRateLimiters(const RateLimits& limits)
      : login_by_address(limits.login_per_address),
        login_by_account(limits.login_per_account),
        retrieve_by_address(limits.retrieve_per_address),
        retrieve_by_principal(limits.retrieve_per_principal) {}

  TokenBucketLimiter login_by_address;
  TokenBucketLimiter login_by_account;
  TokenBucketLimiter retrieve_by_address;
  TokenBucketLimiter retrieve_by_principal;
};

}  // namespace escrow::api
