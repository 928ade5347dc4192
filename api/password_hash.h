// Account password hashes: scrypt with a random salt, encoded so that each
// hash names its own cost. Raising or lowering the cost later still verifies
// older hashes:
//
//   scrypt$<log2 N>$<r>$<p>$<salt, base64>$<32-byte key, base64>
//
// Thread safety: pure functions, except that RunDummyPasswordCheck caches one
// hash per cost behind a mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/status.h"

namespace escrow::api {

// Default scrypt cost for new hashes: N = 2^kScryptLogN, r, p. At log N 17
// and r 8 one hash needs 128 MiB of memory.
constexpr uint64_t kScryptLogN = 17;
constexpr uint64_t kScryptR = 8;
constexpr uint64_t kScryptP = 1;
// Range of the configurable cost for new hashes (Api::Options::password_log_n).
// crypto::Scrypt allows 512 MiB, which fits log N 18 at r 8 (256 MiB) but not 19.
constexpr uint64_t kMinPasswordLogN = 14;
constexpr uint64_t kMaxPasswordLogN = 18;
constexpr size_t kPasswordSaltBytes = 16;
constexpr size_t kPasswordHashBytes = 32;
// Upper bounds accepted when verifying a stored hash.
// NOTE: crypto::Scrypt caps memory at 512 MiB, so a stored hash above log N 18
// at r 8 fails to verify even though these bounds accept it.
constexpr uint64_t kMaxScryptLogN = 20;
constexpr uint64_t kMaxScryptR = 32;
constexpr uint64_t kMaxScryptP = 16;

// Length limits for account passwords, in bytes.
constexpr size_t kMinPasswordLength = 8;
constexpr size_t kMaxPasswordLength = 1024;

// Fails with kInvalidArgument unless log_n is in [kMinPasswordLogN, kMaxPasswordLogN].
Status ValidatePasswordLogN(uint64_t log_n);

// Fails with kInvalidArgument, naming field, unless password is
// kMinPasswordLength to kMaxPasswordLength bytes long.
Status CheckPasswordLength(std::string_view password, std::string_view field);

// Hashes password with scrypt at N = 2^log_n and a fresh random salt. log_n
// outside [kMinPasswordLogN, kMaxPasswordLogN] is clamped into that range.
std::string HashPassword(std::string_view password, uint64_t log_n = kScryptLogN);

// Checks password against an encoded hash in time that does not depend on
// where the keys differ. Returns false for a malformed hash or one whose cost
// exceeds the kMax* bounds.
bool VerifyPassword(std::string_view password, std::string_view encoded);

// Runs one scrypt at N = 2^log_n and discards the result, so a login for an
// unknown account takes as long as one with a wrong password.
void RunDummyPasswordCheck(std::string_view password, uint64_t log_n = kScryptLogN);

}  // namespace escrow::api
