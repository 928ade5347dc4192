// Offline ledger verification: re-hashes every stored entry, checks every
// signature, the hash chain and that seq has no gaps.
//
// Thread safety: VerifyLedger reads only; it may run while the server writes,
// and then verifies the entries present when its iterator was created.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "ledger/store.h"

namespace escrow::ledger {

struct VerifyReport {
  bool ok = true;
  uint64_t entries = 0;
  uint64_t first_bad_seq = 0;  // 0 when ok
  std::string error;           // what failed at first_bad_seq
  std::string head_leaf_hash;  // leaf hash of the last good entry
};

// trusted_public_key: the first ledger signing key (keys/ledger-signing.pub).
// SigningKeyRotated entries hand trust to the next key. progress, if set, is
// called every 4096 entries with the count so far.
VerifyReport VerifyLedger(const Store& store, std::string_view trusted_public_key,
                          const std::function<void(uint64_t)>& progress = {});

}  // namespace escrow::ledger
