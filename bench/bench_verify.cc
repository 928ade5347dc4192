// Measures, on a ledger of N entries (default 1,000,000) in a real data
// directory:
//   - inclusion and consistency proof generation per second from the stored
//     Merkle tree;
//   - full verify (hashes, chain, signatures on all cores) in entries per
//     second, next to `openssl speed ed25519`'s verify rate times the cores;
//   - integrity-only verify (hashes, chain, roots; no signatures).
//
// Usage: bench_verify [--entries N] [--dir DIR] [--mode all|integrity]
// Without --dir the ledger is built in a fresh directory under /tmp and
// removed afterwards. With --dir an existing ledger there is reused.
// --mode integrity measures only the integrity-only verify.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "ledger/events.h"
#include "ledger/keys.h"
#include "ledger/merkle.h"
#include "ledger/merkle_store.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "ledger/verify.h"

using namespace escrow;
using namespace escrow::ledger;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Appends entries in commands of 1000 until the ledger contains `target` entries.
void Fill(Store& store, const SigningKey& key, uint64_t target) {
  Sequencer sequencer(&store, &key, Applier{}, {});
  if (!sequencer.Start().ok()) std::exit(1);
  uint64_t have = sequencer.committed_seq();
  auto start = Clock::now();
  while (have < target) {
    uint64_t batch = std::min<uint64_t>(1000, target - have);
    Status s = sequencer.Run([&](Transaction& tx) {
      for (uint64_t i = 0; i < batch; i++) {
        RecoveryPasswordArmed event{"bench-" + std::to_string((have + i) % 100000), have + i};
        auto e = tx.Append(MakeDraft(event, ActorKind::kDevice, event.device_id, event.device_id));
        if (!e.ok()) return e.status();
      }
      return Status::Ok();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "fill failed: %s\n", s.ToString().c_str());
      std::exit(1);
    }
    have += batch;
    if (have % 100000 == 0) {
      std::fprintf(stderr, "  built %llu entries (%.0f/s)\n", static_cast<unsigned long long>(have),
                   static_cast<double>(have) / Seconds(start));
    }
  }
  sequencer.Stop();
}

// Returns the verify rate `openssl speed` prints for Ed25519, or 0.
double OpensslVerifyRate() {
  FILE* p = ::popen("openssl speed -seconds 3 ed25519 2>/dev/null", "r");
  if (p == nullptr) return 0;
  char line[512];
  double sign = 0, verify = 0;
  while (std::fgets(line, sizeof(line), p) != nullptr) {
    // e.g. " 253 bits EdDSA (Ed25519)   0.0000s   0.0001s  39000.0  13000.0"
    if (std::string(line).find("Ed25519") == std::string::npos) continue;
    std::string s(line);
    size_t paren = s.find(')');
    if (paren == std::string::npos) continue;
    double a, b;
    if (std::sscanf(s.c_str() + paren + 1, " %lfs %lfs %lf %lf", &a, &b, &sign, &verify) == 4) break;
  }
  ::pclose(p);
  return verify;
}

// Prints inclusion and consistency proofs per second from the stored tree.
void MeasureProofs(const Store& store) {
  uint64_t size = store.LastSeq().value();
  SubtreeRootAt stored = StoredSubtreeRoot(store);
  std::mt19937_64 rng(42);
  uint64_t proofs = 0;
  auto start = Clock::now();
  while (Seconds(start) < 2.0) {
    uint64_t index = rng() % size;
    if (!InclusionProofFromSubtrees(index, size, stored).ok()) std::exit(1);
    proofs++;
  }
  std::printf("inclusion proofs at tree size %llu: %.0f/s\n", static_cast<unsigned long long>(size),
              static_cast<double>(proofs) / Seconds(start));
  proofs = 0;
  start = Clock::now();
  while (Seconds(start) < 2.0) {
    uint64_t size1 = 1 + rng() % (size - 1);
    if (!ConsistencyProofFromSubtrees(size1, size, stored).ok()) std::exit(1);
    proofs++;
  }
  std::printf("consistency proofs to tree size %llu: %.0f/s\n",
              static_cast<unsigned long long>(size), static_cast<double>(proofs) / Seconds(start));
}

// Prints the full verify rate next to openssl's Ed25519 verify rate on all
// cores. Returns false when the verify fails.
bool MeasureFullVerify(const Store& store, const std::string& public_key, unsigned cores) {
  auto start = Clock::now();
  VerifyReport full = VerifyLedger(store, public_key);
  double full_rate = static_cast<double>(full.entries) / Seconds(start);
  if (!full.ok) {
    std::fprintf(stderr, "full verify failed at seq %llu: %s\n",
                 static_cast<unsigned long long>(full.first_bad_seq), full.error.c_str());
    return false;
  }
  double openssl = OpensslVerifyRate();
  std::printf("full verify: %.0f entries/s (%llu entries)\n", full_rate,
              static_cast<unsigned long long>(full.entries));
  std::printf("openssl speed ed25519 verify: %.0f/s per core; x %u cores = %.0f/s; "
              "full verify reaches %.0f%% of that\n",
              openssl, cores, openssl * cores,
              openssl > 0 ? 100.0 * full_rate / (openssl * cores) : 0.0);
  return true;
}

// Prints the integrity-only verify rate. Returns false when the verify fails.
bool MeasureIntegrityVerify(const Store& store, const std::string& public_key) {
  VerifyOptions integrity;
  integrity.check_signatures = false;
  auto start = Clock::now();
  VerifyReport fast = VerifyLedger(store, public_key, integrity);
  double fast_rate = static_cast<double>(fast.entries) / Seconds(start);
  if (!fast.ok) {
    std::fprintf(stderr, "integrity-only verify failed at seq %llu: %s\n",
                 static_cast<unsigned long long>(fast.first_bad_seq), fast.error.c_str());
    return false;
  }
  std::printf("integrity-only verify: %.0f entries/s (%llu entries)\n", fast_rate,
              static_cast<unsigned long long>(fast.entries));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t entries = 1'000'000;
  std::string dir;
  std::string mode = "all";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--entries") entries = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--dir") dir = argv[i + 1];
    else if (flag == "--mode") mode = argv[i + 1];
  }
  if (mode != "all" && mode != "integrity") {
    std::fprintf(stderr, "invalid --mode %s: expected all or integrity\n", mode.c_str());
    return 2;
  }
  bool remove_dir = dir.empty();
  if (dir.empty()) {
    char tmpl[] = "/tmp/escrow-bench-verify-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());

  auto store = Store::Open(dir);
  if (!store.ok()) return 1;
  auto key = SigningKey::LoadOrCreate((*store)->keys_dir());
  if (!key.ok()) return 1;
  std::printf("ledger: %s, %llu entries, %u hardware threads\n", dir.c_str(),
              static_cast<unsigned long long>(entries), cores);
  Fill(**store, *key, entries);
  // The server builds proofs from a store opened for writing.
  if (mode == "all") MeasureProofs(**store);

  // The verify measurements read the data directory the way `escrowctl verify
  // --data-dir` does: read-only, with the table files mapped.
  const std::string public_key = key->public_key();
  store->reset();
  Store::Options offline;
  offline.read_only = true;
  offline.create_if_missing = false;
  offline.mmap_reads = true;
  store = Store::Open(dir, offline);
  if (!store.ok()) return 1;
  if (mode == "all" && !MeasureFullVerify(**store, public_key, cores)) return 1;
  if (!MeasureIntegrityVerify(**store, public_key)) return 1;

  store->reset();
  if (remove_dir) std::filesystem::remove_all(dir);
  return 0;
}
