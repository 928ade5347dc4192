// Counters of the API listener, rendered in the Prometheus text format.
//
// Thread safety: every method is safe from any thread; the labeled counters
// are guarded by mu_, the other counters are atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace escrow::api {

class ApiMetrics {
 public:
  void CountRequest(const std::string& route_class, int status);
  void CountRetrieval() { retrievals_.fetch_add(1, std::memory_order_relaxed); }
  void CountDeniedRetrieval() { denied_retrievals_.fetch_add(1, std::memory_order_relaxed); }
  void CountLogin(bool ok) {
    (ok ? logins_ok_ : logins_failed_).fetch_add(1, std::memory_order_relaxed);
  }

  // Counts a rejected login or password change. reason is one of
  // "invalid_credentials" (unknown account or wrong password, which the
  // server does not distinguish), "locked", "rate_limited" or "invalid_request".
  void CountLoginRejected(const std::string& reason);
  // Counts a 429 reply. route is "login", "password" or "retrieve"; key is
  // "address" or "principal".
  void CountRateLimited(const std::string& route, const std::string& key);
  // Counts an account name reaching the login lockout.
  void CountLockout() { lockouts_.fetch_add(1, std::memory_order_relaxed); }

  // Returns every metric, prefixed "escrow_", with ledger_seq as a gauge.
  std::string Render(uint64_t ledger_seq) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // guarded by mu_
  std::map<std::string, uint64_t> login_rejections_;  // by reason; guarded by mu_
  std::map<std::pair<std::string, std::string>, uint64_t> rate_limited_;  // guarded by mu_
  std::atomic<uint64_t> lockouts_{0};
  std::atomic<uint64_t> retrievals_{0};
  std::atomic<uint64_t> denied_retrievals_{0};
  std::atomic<uint64_t> logins_ok_{0};
  std::atomic<uint64_t> logins_failed_{0};
};

}  // namespace escrow::api
