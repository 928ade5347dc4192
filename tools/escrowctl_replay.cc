// escrowctl replay --ledger FILE [--until-seq S | --until-time T]: rebuilds
// the projections from an export in a scratch database, verifying every entry
// on the way, and prints the per-device state, the audit summary and the
// state digest. When a checkpoint exists at exactly the replayed size, its
// state line must equal the digest.
#include <rocksdb/comparator.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include "api/time_format.h"
#include "ledger/checkpoint.h"
#include "ledger/checkpointer.h"
#include "ledger/crypto.h"
#include "ledger/export.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "ledger/verify.h"
#include "projections/projector.h"
#include "projections/queries.h"
#include "tools/escrowctl_common.h"

namespace escrow::ctl {

namespace json = boost::json;

namespace {

// Entries applied to the scratch database per write.
constexpr uint64_t kReplayBatchEntries = 1000;
// Maximum digits of --until-seq, so that every value fits in uint64.
constexpr size_t kMaxDecimalDigits = 19;

int Fail(const std::string& message) {
  std::cerr << "escrowctl: " << message << "\n";
  return kExitFailure;
}

// Replay limit: the last entry applied has seq <= until_seq and time <= until_ns.
struct ReplayLimit {
  uint64_t until_seq = UINT64_MAX;
  int64_t until_ns = INT64_MAX;
};

ReplayLimit ParseLimit(const Settings& settings) {
  ReplayLimit limit;
  if (settings.HasValue("until-seq") && settings.HasValue("until-time")) {
    throw UsageError{"replay takes --until-seq or --until-time, not both"};
  }
  if (settings.HasValue("until-seq")) {
    std::string text = settings.Value("until-seq");
    if (text.empty() || text.size() > kMaxDecimalDigits ||
        text.find_first_not_of("0123456789") != std::string::npos) {
      throw UsageError{"--until-seq must be a whole number"};
    }
    limit.until_seq = std::stoull(text);
  }
  if (settings.HasValue("until-time")) {
    auto time = api::ParseTime(settings.Value("until-time"), "until-time");
    if (!time.ok()) throw UsageError{"--" + time.status().message()};
    limit.until_ns = *time;
  }
  return limit;
}

// Returns the tree size on a checkpoint note's second line, or 0.
uint64_t NoteTreeSize(const std::string& note) {
  size_t first = note.find('\n');
  if (first == std::string::npos) return 0;
  size_t second = note.find('\n', first + 1);
  std::string line = note.substr(first + 1, second - first - 1);
  if (line.empty() || line.size() > kMaxDecimalDigits ||
      line.find_first_not_of("0123456789") != std::string::npos) {
    return 0;
  }
  return std::stoull(line);
}

// Deletes the scratch database directory when the replay ends.
struct ScratchDir {
  std::string path;
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct ReplayResult {
  ledger::VerifyReport report;
  uint64_t applied = 0;
  Status apply_status;
  std::map<uint64_t, std::string> checkpoints;  // tree size -> note
};

// Streams the export: verifies each entry, then applies it to scratch.
Result<ReplayResult> ReplayExport(ledger::ExportReader& reader, ledger::Store& scratch,
                                  const ReplayLimit& limit) {
  ReplayResult result;
  ledger::VerifyOptions options;
  ledger::LedgerVerifier verifier(reader.public_key(), options);
  rocksdb::WriteBatchWithIndex batch(rocksdb::BytewiseComparator(), 0, true);

  auto on_checkpoint = [&](std::string note) {
    result.checkpoints.emplace(NoteTreeSize(note), std::move(note));
  };
  auto on_entry = [&](uint64_t seq, std::string bytes) -> bool {
    // Step 1: stop at the limit.
    if (seq > limit.until_seq) return false;
    auto decoded = ledger::DecodeEntry(bytes);
    if (decoded.ok() && decoded->entry.time_ns > limit.until_ns) return false;

    // Step 2: verify; checkpoints are registered just before the entry that
    // completes their tree, so none lies beyond the replayed range.
    auto [begin, end] = result.checkpoints.equal_range(seq);
    for (auto it = begin; it != end; ++it) verifier.AddCheckpoint(it->second);
    if (!verifier.AddEntry(seq, bytes)) return false;
    if (!decoded.ok()) return false;  // the verifier has recorded the failure

    // Step 3: apply, writing the scratch database in batches.
    const ledger::Entry& entry = decoded->entry;
    ledger::Transaction tx(&scratch, &batch, nullptr, entry.time_ns);
    result.apply_status = projections::Apply(entry, tx);
    if (!result.apply_status.ok()) return false;
    if (++result.applied % kReplayBatchEntries == 0) {
      result.apply_status = scratch.Write(batch.GetWriteBatch(), /*sync=*/false);
      batch.Clear();
      if (!result.apply_status.ok()) return false;
    }
    return true;
  };
  ESCROW_RETURN_IF_ERROR(reader.ReadAll(on_checkpoint, on_entry));
  result.report = verifier.Finish();
  if (result.report.ok && result.apply_status.ok()) {
    result.apply_status = scratch.Write(batch.GetWriteBatch(), /*sync=*/false);
  }
  return result;
}

// Per-device state and the retrieval summary of the replayed projections.
struct ReplaySummary {
  std::vector<projections::DeviceRecord> devices;
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_channel;  // retrievals, denials
};

Result<ReplaySummary> Summarize(const ledger::Store& scratch) {
  ReplaySummary summary;
  projections::DeviceFilter devices;
  devices.limit = SIZE_MAX;
  auto listed = projections::ListDevices(scratch, devices);
  if (!listed.ok()) return listed.status();
  summary.devices = std::move(*listed);
  projections::AuditFilter audit;
  audit.limit = SIZE_MAX;
  auto records = projections::QueryAudit(scratch, audit);
  if (!records.ok()) return records.status();
  for (const auto& record : *records) {
    auto& counts = summary.by_channel[record.channel];
    (record.denied ? counts.second : counts.first)++;
  }
  return summary;
}

// Compares the digest with the checkpoint at exactly the replayed size.
// Returns "" when there is none, else the verdict line; *matches is set.
std::string CheckpointVerdict(const ReplayResult& result, const std::string& digest,
                              bool* matches) {
  *matches = true;
  auto it = result.checkpoints.find(result.applied);
  if (it == result.checkpoints.end() || result.applied == 0) return "";
  size_t end = it->second.find("\n\n");
  auto checkpoint = ledger::ParseCheckpointText(
      std::string_view(it->second).substr(0, end == std::string::npos ? 0 : end + 1));
  std::string size = std::to_string(result.applied);
  *matches = checkpoint.ok() && checkpoint->projection_digest == digest;
  if (*matches) return "state digest matches checkpoint at size " + size;
  return "state digest does not match checkpoint at size " + size;
}

int PrintSummary(const Settings& settings, const ReplayResult& result,
                 const ReplaySummary& summary, const std::string& digest) {
  bool matches = true;
  std::string verdict = CheckpointVerdict(result, digest, &matches);
  if (settings.json) {
    json::object out;
    out["entries"] = result.applied;
    out["state_digest"] = crypto::HexEncode(digest);
    json::array devices;
    for (const auto& d : summary.devices) {
      devices.emplace_back(json::object{{"device_id", d.device_id},
                                        {"state", projections::LifecycleName(d.state)},
                                        {"generation", d.generation},
                                        {"retrievals", d.retrievals}});
    }
    out["devices"] = std::move(devices);
    json::object channels;
    for (const auto& [channel, counts] : summary.by_channel) {
      channels[channel] = json::object{{"retrievals", counts.first}, {"denials", counts.second}};
    }
    out["audit_by_channel"] = std::move(channels);
    out["checkpoint"] = verdict.empty() ? json::value(nullptr) : json::value(verdict);
    out["checkpoint_matches"] = matches;
    std::cout << json::serialize(out) << "\n";
    return matches ? kExitOk : kExitFailure;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : summary.devices) {
    rows.push_back({d.device_id, projections::LifecycleName(d.state),
                    std::to_string(d.generation), std::to_string(d.retrievals)});
  }
  PrintTable({"DEVICE", "STATE", "GENERATION", "RETRIEVALS"}, rows);
  std::cout << "\n";
  rows.clear();
  for (const auto& [channel, counts] : summary.by_channel) {
    rows.push_back({channel, std::to_string(counts.first), std::to_string(counts.second)});
  }
  PrintTable({"CHANNEL", "RETRIEVALS", "DENIALS"}, rows);
  std::cout << "\nReplayed " << result.applied << " entries.\n"
            << "State digest: " << crypto::HexEncode(digest) << "\n";
  if (!verdict.empty()) std::cout << verdict << "\n";
  return matches ? kExitOk : kExitFailure;
}

}  // namespace

int RunReplay(const Settings& settings) {
  // Step 1: open the export and a scratch database.
  std::string path = settings.Value("ledger");
  if (path.empty()) throw UsageError{"replay needs --ledger FILE"};
  ReplayLimit limit = ParseLimit(settings);
  auto reader = ledger::ExportReader::Open(path);
  if (!reader.ok()) return Fail("cannot read " + path + ": " + reader.status().message());
  ScratchDir scratch_dir{(std::filesystem::temp_directory_path() /
                          ("escrowctl-replay-" + crypto::HexEncode(crypto::RandomBytes(8))))
                             .string()};
  auto scratch = ledger::Store::Open(scratch_dir.path);
  if (!scratch.ok()) return Fail("cannot create a scratch database: " + scratch.status().message());

  // Step 2: verify and apply.
  auto result = ReplayExport(*reader, **scratch, limit);
  if (!result.ok()) return Fail("cannot read " + path + ": " + result.status().message());
  if (!result->report.ok) {
    std::cout << "verification failed at seq " << result->report.first_bad_seq << ": "
              << result->report.error << "\n";
    return kExitFailure;
  }
  if (!result->apply_status.ok()) {
    return Fail("applying entry " + std::to_string(result->applied + 1) +
                " failed: " + result->apply_status.message());
  }

  // Step 3: summarize and compare with the checkpoint.
  auto summary = Summarize(**scratch);
  if (!summary.ok()) return Fail("cannot read the replayed projections: " + summary.status().message());
  std::string digest = ledger::ProjectionDigest(**scratch, nullptr);
  return PrintSummary(settings, *result, *summary, digest);
}

}  // namespace escrow::ctl
