// Shared helpers for the Catch2 tests: temporary directories and a running
// escrowd process on loopback with ports picked by the kernel.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/http/http.h"
#include "ledger/keys.h"
#include "ledger/store.h"

namespace escrow::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction unless ESCROW_KEEP_TEST_DIRS is set.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A fresh data directory with its Store open and its ledger signing key
// created. Tests take the parts with `auto& [dir, store, key] = fixture;`.
// The constructor fails the test (REQUIRE) when either cannot be made.
struct LedgerDir {
  LedgerDir();
  TempDir dir;
  Result<std::unique_ptr<ledger::Store>> store;
  Result<ledger::SigningKey> key;
};

// Path of a program built by this project, e.g. BinaryPath("escrowd").
std::string BinaryPath(const std::string& name);
// Path of a file in the source tree, e.g. SourcePath("tests/data/x").
std::string SourcePath(const std::string& relative);

// escrowd started as a child process on 127.0.0.1 with port 0 for both
// listeners. Start waits until escrowd has written its ports file. Both
// listeners speak TLS with the certificate of escrowd's local CA; Start also
// sets ESCROW_CA_FILE in this process's environment, so escrowctl and
// escrow-device started by the test verify the server with that CA.
class EscrowdProcess {
 public:
  EscrowdProcess() = default;
  ~EscrowdProcess();
  EscrowdProcess(const EscrowdProcess&) = delete;
  EscrowdProcess& operator=(const EscrowdProcess&) = delete;

  // Starts escrowd on data_dir with ESCROW_ADMIN_PASSWORD = admin_password.
  // Output goes to data_dir + "/escrowd.log". Returns false on failure.
  bool Start(const std::string& data_dir, const std::string& admin_password,
             const std::vector<std::string>& extra_args = {});
  // Sends SIGTERM and waits; returns the exit status (or -1).
  int Stop();

  uint16_t api_port() const { return api_port_; }
  uint16_t gateway_port() const { return gateway_port_; }
  std::string api_address() const { return "127.0.0.1:" + std::to_string(api_port_); }
  std::string gateway_address() const { return "127.0.0.1:" + std::to_string(gateway_port_); }
  std::string log_path() const { return log_path_; }
  // The generated CA certificate, DATA_DIR/keys/tls-ca.pem.
  std::string ca_file() const { return ca_file_; }
  // HTTPS clients of the two listeners that trust ca_file().
  http::Client ApiClient() const;
  http::Client GatewayClient() const;

 private:
  pid_t pid_ = -1;
  uint16_t api_port_ = 0;
  uint16_t gateway_port_ = 0;
  std::string log_path_;
  std::string ca_file_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs argv[0] with the given arguments and extra environment variables,
// waiting at most timeout_s seconds (then kills it and returns exit_code -1).
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {},
                         int timeout_s = 600);

}  // namespace escrow::testing
