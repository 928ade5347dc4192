#include "api/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace escrow::api {

RateLimits RateLimits::Unlimited() {
  RateLimits limits;
  limits.login_per_address.capacity = 0;
  limits.login_per_account.capacity = 0;
  limits.retrieve_per_address.capacity = 0;
  limits.retrieve_per_principal.capacity = 0;
  return limits;
}

TokenBucketLimiter::TokenBucketLimiter(TokenBucketConfig config, size_t max_keys)
    : config_(config), max_keys_(std::max<size_t>(max_keys, 1)) {}

void TokenBucketLimiter::RefillLocked(Bucket& bucket, int64_t now_ns) const {
  // A clock that moved backwards adds nothing.
  if (now_ns <= bucket.updated_ns) return;
  double gained = static_cast<double>(now_ns - bucket.updated_ns) /
                  static_cast<double>(std::max<int64_t>(config_.refill_interval_ns, 1));
  bucket.tokens = std::min(static_cast<double>(config_.capacity), bucket.tokens + gained);
  bucket.updated_ns = now_ns;
}

void TokenBucketLimiter::MakeRoomLocked(int64_t now_ns) {
  // Step 1: a full bucket behaves like a missing one, so dropping it loses nothing.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    RefillLocked(it->second, now_ns);
    if (it->second.tokens >= config_.capacity) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  if (buckets_.size() < max_keys_) return;

  // Step 2: still at the cap, so drop the least recently used bucket.
  // NOTE: a client that touches max_keys_ other keys first can reset one
  // bucket this way; the per-address limit makes that slow.
  auto oldest = std::min_element(buckets_.begin(), buckets_.end(), [](const auto& a, const auto& b) {
    return a.second.updated_ns < b.second.updated_ns;
  });
  buckets_.erase(oldest);
}

TokenBucketLimiter::Decision TokenBucketLimiter::Take(const std::string& key, int64_t now_ns) {
  Decision decision;
  if (config_.capacity == 0) return decision;

  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) MakeRoomLocked(now_ns);
    Bucket fresh;
    fresh.tokens = config_.capacity;
    fresh.updated_ns = now_ns;
    it = buckets_.emplace(key, fresh).first;
  }
  Bucket& bucket = it->second;
  RefillLocked(bucket, now_ns);

  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    bucket.rejecting = false;
    return decision;
  }

  // Rejected: report the wait for the missing fraction of one token.
  double missing_ns = (1.0 - bucket.tokens) * static_cast<double>(config_.refill_interval_ns);
  decision.allowed = false;
  decision.retry_after_s =
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(missing_ns / kNsPerSecond)));
  decision.first_rejection = !bucket.rejecting;
  bucket.rejecting = true;
  return decision;
}

}  // namespace escrow::api
