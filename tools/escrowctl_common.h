// Shared pieces of escrowctl: parsed settings, the API session and output.
//
// Thread safety: escrowctl is single-threaded; none of these types is shared.
#pragma once

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/http/http.h"
#include "ledger/crypto.h"
#include "ledger/status.h"
#include "ledger/verify.h"

namespace escrow::ctl {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Timeout of one HTTP request to the server.
constexpr int kRequestTimeoutMs = 60'000;

// Everything the command line and the environment set, already merged.
struct Settings {
  std::string command;
  std::string server;  // host:port
  std::string ca_file;  // PEM CA that issued the server certificate; empty: system roots
  std::string user;
  std::optional<std::string> password;  // login password; wiped by main at exit
  bool json = false;

  std::map<std::string, std::string> values;  // command options by long name
  bool HasValue(const std::string& name) const { return values.count(name) > 0; }
  std::string Value(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  }
};

// A usage error: the message is printed with the usage hint and exit code 2.
struct UsageError {
  std::string message;
};

// A signed-in API session: logs in on Open and out on destruction.
class ApiSession {
 public:
  static Result<std::unique_ptr<ApiSession>> Open(const Settings& settings);
  ~ApiSession();
  ApiSession(const ApiSession&) = delete;
  ApiSession& operator=(const ApiSession&) = delete;

  // Sends one request with the session token. A non-2xx reply becomes a
  // Status carrying the server's message.
  Result<boost::json::object> Call(const std::string& method, const std::string& target,
                                   const std::string& body = "");
  // Like Call, but returns the raw reply (for non-JSON bodies such as the
  // ledger export).
  Result<http::Response> CallRaw(const std::string& method, const std::string& target);

 private:
  ApiSession(http::Client client, crypto::SecretString token)
      : client_(std::move(client)), token_(std::move(token)) {}

  http::Client client_;
  crypto::SecretString token_;
};

// Reads a password from the terminal with echo off. Fails when there is no terminal.
Result<crypto::SecretString> PromptPassword(const std::string& prompt);

// Percent-encodes a query parameter value.
std::string UrlEncode(const std::string& value);

// Prints rows as left-aligned columns under a header line.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// Pairs of an API field or query parameter name and the escrowctl option
// that sets it, e.g. {"token_ttl_s", "--token-ttl"}.
using FlagNames = std::vector<std::pair<std::string, std::string>>;

// Returns a server error message with the API names in it replaced by their
// options: every quoted name after "field " or "query parameter ", and bare
// names that contain an underscore (plain words such as "reason" stay).
std::string WithFlagNames(std::string message, const FlagNames& names);

// Returns the string, integer or bool at object[key] as text ("" when absent).
std::string Text(const boost::json::object& object, const std::string& key);

// Command entry points; each returns the process exit code.
int RunServerCommand(const Settings& settings);
int RunVerify(const Settings& settings);
int RunRebuildProjections(const Settings& settings);

// Ledger audit commands (escrowctl_ledger.cc, escrowctl_replay.cc).
int RunVerifyInclusion(const Settings& settings);
int RunVerifyConsistency(const Settings& settings);
int RunExport(const Settings& settings);
int RunVerifyExport(const Settings& settings);
int RunVerifyCheckpoint(const Settings& settings);
int RunReplay(const Settings& settings);
// Verify options with a progress line (entries per second), redrawn in place
// with \r on stderr. With settings.json, or when stderr is not a terminal,
// the options have no progress callback.
ledger::VerifyOptions VerifyOptionsWithProgress(const Settings& settings);
// Prints a verification report (text or JSON) and returns the exit code.
// Without settings.json, it also writes one summary line to stderr.
int PrintVerifyReport(const Settings& settings, const ledger::VerifyReport& report,
                      double seconds);

// Lifecycle and read-receipt commands (escrowctl_lifecycle.cc).
int RequestRotation(ApiSession& session, const Settings& settings);
int WriteCheckpoint(ApiSession& session, const Settings& settings);
int RetireDevice(ApiSession& session, const Settings& settings);  // needs --yes
int ShowValidAt(ApiSession& session, const Settings& settings);
int ShowReceipts(ApiSession& session, const Settings& settings);

// Key commands (escrowctl_keys.cc).
int RotateLedgerSigningKey(ApiSession& session, const Settings& settings);
int RunProtectMasterKey(const Settings& settings);  // offline, --data-dir

}  // namespace escrow::ctl
