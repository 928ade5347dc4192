#include "api/password_hash.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/log.h"

namespace escrow::api {
namespace {

constexpr std::string_view kScryptScheme = "scrypt";
// Maximum digits of a cost field accepted when parsing a stored hash.
constexpr size_t kMaxCostDigits = 6;

std::vector<std::string_view> SplitDollar(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find('$', start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::optional<uint64_t> ParseSmallUint(std::string_view text) {
  if (text.empty() || text.size() > kMaxCostDigits) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

}  // namespace

Status ValidatePasswordLogN(uint64_t log_n) {
  if (log_n >= kMinPasswordLogN && log_n <= kMaxPasswordLogN) return Status::Ok();
  return InvalidArgument("the password hash cost log2 N must be " +
                         std::to_string(kMinPasswordLogN) + " to " +
                         std::to_string(kMaxPasswordLogN) + ", not " + std::to_string(log_n));
}

Status CheckPasswordLength(std::string_view password, std::string_view field) {
  if (password.size() >= kMinPasswordLength && password.size() <= kMaxPasswordLength) {
    return Status::Ok();
  }
  return InvalidArgument("field \"" + std::string(field) + "\" must be " +
                         std::to_string(kMinPasswordLength) + " to " +
                         std::to_string(kMaxPasswordLength) + " bytes long");
}

std::string HashPassword(std::string_view password, uint64_t log_n) {
  log_n = std::clamp(log_n, kMinPasswordLogN, kMaxPasswordLogN);
  std::string salt = crypto::RandomBytes(kPasswordSaltBytes);
  auto key = crypto::Scrypt(password, salt, uint64_t{1} << log_n, kScryptR, kScryptP,
                            kPasswordHashBytes);
  // With valid parameters scrypt fails only when OpenSSL cannot allocate its
  // memory, and then no account can be created safely.
  if (!key.ok()) {
    Logger("api")->critical("password hashing failed: {}", key.status().ToString());
    std::abort();
  }
  return std::string(kScryptScheme) + "$" + std::to_string(log_n) + "$" +
         std::to_string(kScryptR) + "$" + std::to_string(kScryptP) + "$" +
         crypto::Base64Encode(salt) + "$" + crypto::Base64Encode(key->view());
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  // Step 1: parse scheme, cost, salt and expected key.
  std::vector<std::string_view> parts = SplitDollar(encoded);
  if (parts.size() != 6 || parts[0] != kScryptScheme) return false;
  auto log_n = ParseSmallUint(parts[1]);
  auto r = ParseSmallUint(parts[2]);
  auto p = ParseSmallUint(parts[3]);
  if (!log_n || !r || !p) return false;
  if (*log_n < 1 || *log_n > kMaxScryptLogN || *r < 1 || *r > kMaxScryptR || *p < 1 ||
      *p > kMaxScryptP) {
    return false;
  }
  auto salt = crypto::Base64Decode(parts[4]);
  auto expected = crypto::Base64Decode(parts[5]);
  if (!salt.ok() || !expected.ok() || expected->empty()) return false;

  // Step 2: derive the key from the candidate and compare in constant time.
  auto key = crypto::Scrypt(password, *salt, uint64_t{1} << *log_n, *r, *p, expected->size());
  if (!key.ok()) return false;
  return crypto::ConstantTimeEqual(key->view(), *expected);
}

void RunDummyPasswordCheck(std::string_view password, uint64_t log_n) {
  // One hash of a random password per cost, made on first use.
  static std::mutex mu;
  static std::map<uint64_t, std::string> hashes;  // guarded by mu
  log_n = std::clamp(log_n, kMinPasswordLogN, kMaxPasswordLogN);
  std::string hash;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = hashes.find(log_n);
    if (it == hashes.end()) {
      it = hashes.emplace(log_n, HashPassword(crypto::RandomBytes(kPasswordSaltBytes), log_n)).first;
    }
    hash = it->second;
  }
  (void)VerifyPassword(password, hash);
}

}  // namespace escrow::api
