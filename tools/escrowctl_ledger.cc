// escrowctl commands for auditors: offline proof checks, the ledger export,
// and verification of an export file. None of them trusts a running server:
// proofs and exports are checked against the hashes given on the command line
// or the trust anchor in the export.
#include <unistd.h>

#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "ledger/checkpoint.h"
#include "ledger/crypto.h"
#include "ledger/export.h"
#include "ledger/keys.h"
#include "ledger/merkle.h"
#include "ledger/store.h"
#include "ledger/verify.h"
#include "tools/escrowctl_common.h"

namespace escrow::ctl {

namespace json = boost::json;

namespace {

// Maximum digits of a decimal index or size, so that every value fits in uint64.
constexpr size_t kMaxDecimalDigits = 19;

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

int Fail(const std::string& message) {
  std::cerr << "escrowctl: " << message << "\n";
  return kExitFailure;
}

std::string Require(const Settings& settings, const std::string& option) {
  std::string value = settings.Value(option);
  if (value.empty()) throw UsageError{settings.command + " needs --" + option};
  return value;
}

uint64_t RequireNumber(const Settings& settings, const std::string& option) {
  std::string text = Require(settings, option);
  if (text.size() > kMaxDecimalDigits || text.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError{"--" + option + " must be a whole number"};
  }
  return std::stoull(text);
}

// Decodes one hex hash; a usage error names the option.
std::string HexHash(const std::string& hex, const std::string& option) {
  auto bytes = crypto::HexDecode(hex);
  if (!bytes.ok() || bytes->size() != ledger::kMerkleHashSize) {
    throw UsageError{"--" + option + " must be " + std::to_string(2 * ledger::kMerkleHashSize) +
                     " hex digits"};
  }
  return *bytes;
}

// Parses --proof "HEX,HEX,...": an empty or absent value is an empty proof.
std::vector<std::string> ProofHashes(const Settings& settings) {
  std::vector<std::string> proof;
  std::string text = settings.Value("proof");
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    proof.push_back(HexHash(text.substr(start, end - start), "proof (each hash)"));
    start = end + 1;
  }
  return proof;
}

// Prints the outcome of a proof check and returns the exit code.
int ReportProof(const Settings& settings, const Status& status, const std::string& what) {
  if (settings.json) {
    json::object out;
    out["ok"] = status.ok();
    if (!status.ok()) out["error"] = status.message();
    std::cout << json::serialize(out) << "\n";
  } else if (status.ok()) {
    std::cout << what << " holds.\n";
  } else {
    std::cout << what << " does not hold: " << status.message() << "\n";
  }
  return status.ok() ? kExitOk : kExitFailure;
}

// Writes bytes to path through a temporary file and a rename.
Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.good()) return Unavailable("cannot write " + temporary);
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) return Unavailable("cannot rename " + temporary + " to " + path + ": " + ec.message());
  return Status::Ok();
}

int ExportFromDataDir(const Settings& settings, const std::string& out_path) {
  std::string dir = settings.Value("data-dir");
  ledger::Store::Options options;
  options.read_only = true;
  options.create_if_missing = false;
  auto store = ledger::Store::Open(dir, options);
  if (!store.ok()) return Fail("cannot open " + dir + ": " + store.status().message());
  auto public_key = ledger::LoadLedgerPublicKey((*store)->keys_dir());
  if (!public_key.ok()) {
    return Fail("cannot load the ledger public key: " + public_key.status().message());
  }
  auto summary = ledger::WriteExport(**store, *public_key, out_path);
  if (!summary.ok()) return Fail("export failed: " + summary.status().message());
  if (settings.json) {
    json::object out;
    out["file"] = out_path;
    out["entries"] = summary->entries;
    out["checkpoints"] = summary->checkpoints;
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << "Exported " << summary->entries << " entries and " << summary->checkpoints
              << " checkpoints to " << out_path << ".\n";
  }
  return kExitOk;
}

int ExportFromServer(const Settings& settings, const std::string& out_path) {
  if (settings.server.empty()) {
    throw UsageError{"export needs --data-dir DIR, or --server HOST:PORT and --user"};
  }
  if (settings.user.empty()) throw UsageError{"no user: pass --user or set ESCROW_USER"};
  auto session = ApiSession::Open(settings);
  if (!session.ok()) return Fail(session.status().message());
  auto reply = (*session)->CallRaw("GET", "/v1/ledger/export");
  if (!reply.ok()) return Fail(reply.status().message());
  Status written = WriteFileAtomically(out_path, reply->body);
  if (!written.ok()) return Fail(written.message());
  if (settings.json) {
    json::object out;
    out["file"] = out_path;
    out["bytes"] = reply->body.size();
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << "Exported the ledger of " << settings.server << " to " << out_path << " ("
              << reply->body.size() << " bytes).\n";
  }
  return kExitOk;
}

}  // namespace

ledger::VerifyOptions VerifyOptionsWithProgress(const Settings& settings) {
  ledger::VerifyOptions options;
  // A log file or pipe gets no carriage-return updates, only the summary line.
  if (settings.json || !StderrIsTerminal()) return options;
  auto started = std::chrono::steady_clock::now();
  options.progress = [started](uint64_t entries) {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    double rate = seconds > 0 ? static_cast<double>(entries) / seconds : 0;
    std::fprintf(stderr, "\rverified %llu entries (%.0f entries/s)   ",
                 static_cast<unsigned long long>(entries), rate);
    std::fflush(stderr);
  };
  return options;
}

int PrintVerifyReport(const Settings& settings, const ledger::VerifyReport& report,
                      double seconds) {
  std::string head = crypto::HexEncode(report.head_leaf_hash);
  if (settings.json) {
    json::object out;
    out["ok"] = report.ok;
    out["entries"] = report.entries;
    out["checkpoints"] = report.checkpoints;
    out["head_leaf_hash"] = head;
    out["root"] = crypto::HexEncode(report.root_hash);
    if (!report.ok) {
      out["first_bad_seq"] = report.first_bad_seq;
      out["error"] = report.error;
    }
    std::cout << json::serialize(out) << "\n";
    return report.ok ? kExitOk : kExitFailure;
  }
  // On a terminal the summary overwrites the progress line, so it starts with \r.
  double rate = seconds > 0 ? static_cast<double>(report.entries) / seconds : 0;
  std::fprintf(stderr, "%sverified %llu entries in %.2f s (%.0f entries/s)\n",
               StderrIsTerminal() ? "\r" : "", static_cast<unsigned long long>(report.entries),
               seconds, rate);
  if (report.ok) {
    std::cout << "Verified " << report.entries << (report.entries == 1 ? " entry" : " entries")
              << " and " << report.checkpoints
              << (report.checkpoints == 1 ? " checkpoint.\n" : " checkpoints.\n")
              << "Head leaf hash: " << (head.empty() ? "(empty ledger)" : head) << "\n"
              << "Root: " << crypto::HexEncode(report.root_hash) << "\n";
  } else {
    std::cout << "verification failed at seq " << report.first_bad_seq << ": " << report.error
              << "\n";
  }
  return report.ok ? kExitOk : kExitFailure;
}

// verify-inclusion --leaf-index I --tree-size N --leaf-hash HEX --root HEX --proof HEX,...
int RunVerifyInclusion(const Settings& settings) {
  uint64_t index = RequireNumber(settings, "leaf-index");
  uint64_t size = RequireNumber(settings, "tree-size");
  std::string leaf = HexHash(Require(settings, "leaf-hash"), "leaf-hash");
  std::string root = HexHash(Require(settings, "root"), "root");
  std::vector<std::string> proof = ProofHashes(settings);
  Status status = ledger::VerifyInclusion(index, size, leaf, proof, root);
  return ReportProof(settings, status,
                     "Inclusion of leaf " + std::to_string(index) + " in the tree of size " +
                         std::to_string(size));
}

// verify-consistency --size1 M --size2 N --root1 HEX --root2 HEX --proof HEX,...
int RunVerifyConsistency(const Settings& settings) {
  uint64_t size1 = RequireNumber(settings, "size1");
  uint64_t size2 = RequireNumber(settings, "size2");
  std::string root1 = HexHash(Require(settings, "root1"), "root1");
  std::string root2 = HexHash(Require(settings, "root2"), "root2");
  std::vector<std::string> proof = ProofHashes(settings);
  Status status = ledger::VerifyConsistency(size1, size2, root1, root2, proof);
  return ReportProof(settings, status,
                     "Consistency of the tree of size " + std::to_string(size1) +
                         " with the tree of size " + std::to_string(size2));
}

// export --out FILE, from --data-dir DIR (read-only) or from --server.
int RunExport(const Settings& settings) {
  std::string out_path = Require(settings, "out");
  if (settings.HasValue("data-dir")) return ExportFromDataDir(settings, out_path);
  return ExportFromServer(settings, out_path);
}

// verify --ledger FILE: the export's own key is the trust anchor.
namespace {

// Reads --public-key: 64 hex digits, or the path of a file holding them
// (such as the server's keys/ledger-signing.pub).
Result<std::string> TrustedPublicKey(const Settings& settings) {
  std::string value = settings.Value("public-key");
  std::string hex = value;
  if (value.size() != 2 * crypto::kEd25519KeySize) {
    auto text = ledger::ReadFile(value);
    if (!text.ok()) {
      return InvalidArgument("--public-key must be 64 hex digits or a readable key file: " +
                             text.status().message());
    }
    hex = *text;
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
  }
  auto key = crypto::HexDecode(hex);
  if (!key.ok() || key->size() != crypto::kEd25519KeySize) {
    return InvalidArgument("--public-key does not hold a 32-byte Ed25519 key in hex");
  }
  return std::move(*key);
}

}  // namespace

int RunVerifyCheckpoint(const Settings& settings) {
  std::string path = Require(settings, "note");
  if (!settings.HasValue("public-key")) throw UsageError{"verify-checkpoint needs --public-key"};
  auto key = TrustedPublicKey(settings);
  if (!key.ok()) return Fail(key.status().message());
  auto note = ledger::ReadFile(path);
  if (!note.ok()) return Fail("cannot read " + path + ": " + note.status().message());

  std::string origin = note->substr(0, note->find('\n'));
  auto text = ledger::OpenNote(*note, origin, *key);
  if (!text.ok()) return Fail("checkpoint signature check failed: " + text.status().message());
  auto checkpoint = ledger::ParseCheckpointText(*text);
  if (!checkpoint.ok()) return Fail("malformed checkpoint: " + checkpoint.status().message());

  json::object out;
  out["origin"] = checkpoint->origin;
  out["tree_size"] = checkpoint->tree_size;
  out["root"] = crypto::HexEncode(checkpoint->root_hash);
  out["time_ns"] = checkpoint->time_ns;
  out["state_digest"] = crypto::HexEncode(checkpoint->projection_digest);
  if (settings.json) {
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << "Checkpoint signature holds (origin " << checkpoint->origin << ").\n"
              << "Tree size " << checkpoint->tree_size << ", root "
              << crypto::HexEncode(checkpoint->root_hash) << "\n";
  }
  return kExitOk;
}

int RunVerifyExport(const Settings& settings) {
  std::string path = Require(settings, "ledger");
  auto reader = ledger::ExportReader::Open(path);
  if (!reader.ok()) return Fail("cannot read " + path + ": " + reader.status().message());
  if (settings.HasValue("public-key")) {
    auto key = TrustedPublicKey(settings);
    if (!key.ok()) return Fail(key.status().message());
    if (*key != reader->public_key()) {
      return Fail("the export's ledger public key " + crypto::HexEncode(reader->public_key()) +
                  " is not the trusted key " + crypto::HexEncode(*key));
    }
  }
  // The export carries its own trust anchor: print it for comparison with
  // the server's keys/ledger-signing.pub.
  if (!settings.json) {
    std::cout << "Ledger public key in the export: " << crypto::HexEncode(reader->public_key())
              << "\n";
  }
  auto started = std::chrono::steady_clock::now();
  auto report = ledger::VerifyExport(path, VerifyOptionsWithProgress(settings));
  if (!report.ok()) return Fail("cannot read " + path + ": " + report.status().message());
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return PrintVerifyReport(settings, *report, seconds);
}

}  // namespace escrow::ctl
