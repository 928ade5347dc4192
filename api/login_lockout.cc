#include "api/login_lockout.h"

#include <algorithm>

namespace escrow::api {
namespace {

// UTF-8 of U+FF01..U+FF5E: EF BC 81..EF BC BF, then EF BD 80..EF BD 9E.
constexpr unsigned char kFullwidthLead = 0xEF;
constexpr char32_t kFullwidthFirst = 0xFF01;
constexpr char32_t kFullwidthLast = 0xFF5E;
constexpr char32_t kFullwidthToAsciiOffset = 0xFF01 - 0x21;

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::string NormalizeAccountName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size(); ++i) {
    auto lead = static_cast<unsigned char>(name[i]);
    if (lead == kFullwidthLead && i + 2 < name.size() &&
        IsContinuation(static_cast<unsigned char>(name[i + 1])) &&
        IsContinuation(static_cast<unsigned char>(name[i + 2]))) {
      char32_t code = (char32_t{lead & 0x0Fu} << 12) |
                      (char32_t{static_cast<unsigned char>(name[i + 1]) & 0x3Fu} << 6) |
                      char32_t{static_cast<unsigned char>(name[i + 2]) & 0x3Fu};
      if (code >= kFullwidthFirst && code <= kFullwidthLast) {
        out.push_back(LowerAscii(static_cast<char>(code - kFullwidthToAsciiOffset)));
        i += 2;
        continue;
      }
    }
    out.push_back(LowerAscii(name[i]));
  }
  return out;
}

LoginLockout::LoginLockout(size_t max_entries) : max_entries_(std::max<size_t>(max_entries, 1)) {}

bool LoginLockout::IsLocked(const std::string& name, int64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  return it != entries_.end() && now_ns < it->second.locked_until_ns;
}

bool LoginLockout::RecordFailure(const std::string& name, int64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    if (entries_.size() >= max_entries_) MakeRoomLocked(now_ns);
    it = entries_.emplace(name, Entry{}).first;
  }
  Entry& entry = it->second;
  if (now_ns < entry.locked_until_ns) return false;

  // A failure after a quiet window, or after a lock ran out, starts a new count.
  if (entry.failures > 0 && now_ns - entry.last_failure_ns > kLoginFailureWindowNs) {
    entry.failures = 0;
  }
  entry.failures++;
  entry.last_failure_ns = now_ns;
  if (entry.failures < kMaxLoginFailures) return false;

  entry.failures = 0;
  entry.locked_until_ns = now_ns + kLoginLockoutNs;
  return true;
}

void LoginLockout::Clear(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(name);
}

void LoginLockout::MakeRoomLocked(int64_t now_ns) {
  // Step 1: drop entries that are neither locked nor inside a failure window.
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Entry& entry = it->second;
    bool idle = now_ns >= entry.locked_until_ns &&
                now_ns - entry.last_failure_ns > kLoginFailureWindowNs;
    it = idle ? entries_.erase(it) : std::next(it);
  }
  if (entries_.size() < max_entries_) return;

  // Step 2: still full, so drop the entry with the oldest failure.
  // NOTE: a client that fails max_entries_ other names first can clear one
  // name's counter this way; the per-address login rate limit makes that slow.
  auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
    return a.second.last_failure_ns < b.second.last_failure_ns;
  });
  entries_.erase(oldest);
}

}  // namespace escrow::api
