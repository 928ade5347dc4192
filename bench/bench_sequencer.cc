// Measures durable signed events per second through the sequencer into a
// real RocksDB data directory, with 1 and with 64 concurrent writers, next to
// the Ed25519 signing rate of this machine measured in the same run.
//
// Usage: bench_sequencer [DIR] [--events N]
// DIR defaults to a fresh directory under /tmp, removed afterwards.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/events.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/projector.h"

using namespace escrow;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Signs 64-byte messages for about one second; returns signatures per second.
double MeasureSigningRate(const ledger::SigningKey& key) {
  std::string message(64, 'm');
  uint64_t n = 0;
  auto start = Clock::now();
  while (Seconds(start) < 1.0) {
    for (int i = 0; i < 256; i++) {
      message[0] = static_cast<char>(n++);
      if (!key.Sign(message).ok()) std::abort();
    }
  }
  return static_cast<double>(n) / Seconds(start);
}

// Runs `writers` threads that together append `events` PolicyChanged events
// (applied to the projections like any event), each waiting for its own
// durable commit. Returns events per second.
double MeasureAppendRate(ledger::Sequencer& sequencer, int writers, int events,
                         uint64_t& groups) {
  uint64_t groups_before = sequencer.groups_committed();
  int per_writer = events / writers;
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; w++) {
    threads.emplace_back([&, w] {
      std::string actor = "bench-" + std::to_string(w);
      for (int i = 0; i < per_writer; i++) {
        ledger::PolicyChanged event;
        event.policy.check_in_interval_s = 60 + static_cast<uint64_t>(i);
        Status s = sequencer.Run([&](ledger::Transaction& tx) {
          auto e = tx.Append(
              ledger::MakeDraft(event, ledger::ActorKind::kAccount, actor, "policy"));
          return e.ok() ? Status::Ok() : e.status();
        });
        if (!s.ok()) {
          std::fprintf(stderr, "append failed: %s\n", s.ToString().c_str());
          std::exit(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  groups = sequencer.groups_committed() - groups_before;
  return static_cast<double>(per_writer) * writers / Seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int events = 4000;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "--events" && i + 1 < argc) {
      events = std::atoi(argv[++i]);
    } else {
      dir = arg;
    }
  }
  bool remove_dir = dir.empty();
  if (dir.empty()) {
    char tmpl[] = "/tmp/escrow-bench-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }

  auto store = ledger::Store::Open(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  auto key = ledger::SigningKey::LoadOrCreate((*store)->keys_dir());
  if (!key.ok()) return 1;

  ledger::Sequencer sequencer(store->get(), &*key, projections::Apply, {});
  if (!sequencer.Start().ok()) return 1;

  std::printf("data directory: %s (RocksDB, sync = true)\n", dir.c_str());
  std::printf("hardware threads: %u\n", std::thread::hardware_concurrency());
  double sign_rate = MeasureSigningRate(*key);
  std::printf("Ed25519 signing rate: %.0f signatures/s (one thread)\n", sign_rate);

  for (int writers : {1, 64}) {
    int n = writers == 1 ? std::max(200, events / 8) : events;
    uint64_t groups = 0;
    double rate = MeasureAppendRate(sequencer, writers, n, groups);
    std::printf("%2d writer(s): %.0f durable events/s (%d events in %llu group commits, %.1f per group)\n",
                writers, rate, n, static_cast<unsigned long long>(groups),
                groups == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(groups));
  }
  sequencer.Stop();
  store->reset();
  if (remove_dir) std::filesystem::remove_all(dir);
  return 0;
}
