// escrowctl commands that work on a data directory without a server.
#include <chrono>
#include <filesystem>
#include <iostream>

#include "ledger/crypto.h"
#include "ledger/keys.h"
#include "ledger/store.h"
#include "ledger/verify.h"
#include "projections/projector.h"
#include "tools/escrowctl_common.h"

namespace escrow::ctl {

namespace json = boost::json;

namespace {

std::string RequireDataDir(const Settings& settings) {
  std::string dir = settings.Value("data-dir");
  if (dir.empty()) {
    throw UsageError{settings.command == "verify"
                         ? std::string("verify needs --data-dir DIR or --ledger FILE")
                         : settings.command + " needs --data-dir DIR"};
  }
  return dir;
}

int Fail(const std::string& message) {
  std::cerr << "escrowctl: " << message << "\n";
  return kExitFailure;
}

}  // namespace

// verify --data-dir DIR: read-only, so it may run next to a live server.
// verify --ledger FILE checks an export instead (escrowctl_ledger.cc).
int RunVerify(const Settings& settings) {
  if (settings.HasValue("ledger")) return RunVerifyExport(settings);
  // Step 1: open the database read-only and load the trust anchor.
  std::string dir = RequireDataDir(settings);
  ledger::Store::Options options;
  options.read_only = true;
  options.create_if_missing = false;
  options.mmap_reads = true;  // verify reads every table file once, start to end
  auto store = ledger::Store::Open(dir, options);
  if (!store.ok()) return Fail("cannot open " + dir + ": " + store.status().message());
  auto public_key = ledger::LoadLedgerPublicKey((*store)->keys_dir());
  if (!public_key.ok()) {
    return Fail("cannot load the ledger public key: " + public_key.status().message());
  }

  // Step 2: re-hash and check every entry, with a progress line on stderr.
  auto started = std::chrono::steady_clock::now();
  ledger::VerifyReport report =
      ledger::VerifyLedger(**store, *public_key, VerifyOptionsWithProgress(settings));
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return PrintVerifyReport(settings, report, seconds);
}

// rebuild-projections --data-dir DIR [--replace]: needs the server stopped.
int RunRebuildProjections(const Settings& settings) {
  std::string dir = RequireDataDir(settings);
  bool replace = settings.HasValue("replace");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir + "/db", ec)) {
    return Fail("rebuilding projections in " + dir + " failed: " + dir +
                "/db not found; --data-dir must name escrowd's data directory");
  }
  auto report = projections::RebuildProjections(dir, replace);
  if (!report.ok()) {
    // The usual cause with an existing database is a running escrowd holding its lock.
    return Fail("rebuilding projections in " + dir + " failed: " + report.status().message() +
                " (stop escrowd first; the rebuild needs the database to itself)");
  }

  if (settings.json) {
    json::object out;
    out["entries"] = report->entries;
    out["equal"] = report->equal;
    out["first_difference"] = report->first_difference;
    out["replaced"] = replace;
    std::cout << json::serialize(out) << "\n";
  } else if (report->equal) {
    std::cout << "Rebuilt projections from " << report->entries
              << " entries: equal to the stored projections.\n";
    if (replace) std::cout << "Nothing to replace: the stored projections were left as they are.\n";
  } else {
    std::cout << "Rebuilt projections from " << report->entries
              << " entries: they differ from the stored projections at "
              << report->first_difference << ".\n";
    if (replace) std::cout << "The stored projections were replaced by the rebuilt ones.\n";
  }
  return report->equal ? kExitOk : kExitFailure;
}

}  // namespace escrow::ctl
