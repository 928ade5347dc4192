// escrowd: the Escrow Ledger server. One process with the embedded RocksDB
// ledger, the API listener and the device gateway listener.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/auth.h"
#include "api/http/http.h"
#include "api/http/tls.h"
#include "device-gateway/gateway.h"
#include "ledger/checkpointer.h"
#include "ledger/keys.h"
#include "ledger/log.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/projector.h"
#include "projections/service.h"

namespace po = boost::program_options;
using namespace escrow;

namespace {

constexpr const char* kDefaultApiListen = "127.0.0.1:8080";
constexpr const char* kDefaultGatewayListen = "127.0.0.1:8081";

struct Flags {
  std::string data_dir;
  std::string api_listen;
  std::string gateway_listen;
  std::string ports_file;
  std::string log_level;
  uint64_t checkpoint_every_entries = 0;
  int checkpoint_every_seconds = 0;
  std::string tls_cert;
  std::string tls_key;
  std::vector<std::string> tls_names;
  uint64_t password_log_n = 0;
  bool no_rate_limits = false;
};

// Exit code after --help: ParseFlags returns it to stop, and main maps it to 0.
constexpr int kExitHelp = -1;

// Returns 0 to go on, kExitHelp after --help, or 2 on a usage error.
int ParseFlags(int argc, char** argv, Flags& flags) {
  po::options_description options("escrowd options");
  options.add_options()("help,h", "print this help")(
      "data-dir", po::value(&flags.data_dir)->required(),
      "data directory: RocksDB in DIR/db, keys in DIR/keys (created if missing)")(
      "api-listen", po::value(&flags.api_listen)->default_value(kDefaultApiListen),
      "API listener HOST:PORT (port 0 picks a free port)")(
      "gateway-listen", po::value(&flags.gateway_listen)->default_value(kDefaultGatewayListen),
      "device gateway listener HOST:PORT (port 0 picks a free port)")(
      "ports-file", po::value(&flags.ports_file),
      "write {\"api\": PORT, \"gateway\": PORT} to this file once both listen")(
      "log-level", po::value(&flags.log_level)->default_value("info"),
      "trace, debug, info, warn or error")(
      "checkpoint-every-entries",
      po::value(&flags.checkpoint_every_entries)->default_value(1000),
      "write a signed checkpoint after this many new entries")(
      "checkpoint-every-seconds", po::value(&flags.checkpoint_every_seconds)->default_value(60),
      "write a signed checkpoint this often when there are new entries")(
      "tls-cert", po::value(&flags.tls_cert),
      "PEM certificate chain for both listeners (with --tls-key); without it escrowd "
      "uses a certificate from its own local CA in DIR/keys")(
      "tls-key", po::value(&flags.tls_key), "PEM private key of --tls-cert")(
      "tls-name", po::value(&flags.tls_names)->composing(),
      "extra DNS name or IP address for the generated certificate (repeatable); "
      "localhost, 127.0.0.1 and ::1 are always included")(
      "password-hash-log-n", po::value(&flags.password_log_n)->default_value(api::kScryptLogN),
      "scrypt cost of new account password hashes, N = 2^VALUE (14 to 18); values below "
      "17 are for tests and demos only")(
      "no-rate-limits", po::bool_switch(&flags.no_rate_limits),
      "turn off the login and retrieval rate limits (load tests and demos on one "
      "address only)");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, options), vm);
    if (vm.count("help")) {
      std::cout << "Usage: escrowd --data-dir DIR [options]\n\n"
                << options
                << "\nOn first start escrowd creates the account 'admin' (roles admin, helpdesk,\n"
                   "auditor). Its password is $ESCROW_ADMIN_PASSWORD if set; otherwise a\n"
                   "generated password is printed once to standard output.\n";
      return kExitHelp;
    }
    po::notify(vm);
    if (flags.tls_cert.empty() != flags.tls_key.empty()) {
      throw po::error("--tls-cert and --tls-key must be given together");
    }
    if (Status s = api::ValidatePasswordLogN(flags.password_log_n); !s.ok()) {
      throw po::error("--password-hash-log-n: " + s.message());
    }
  } catch (const po::error& e) {
    std::cerr << "escrowd: " << e.what() << "\n\n" << options << "\n";
    return 2;
  }
  return 0;
}

// Keeps secrets out of core dumps and away from ptrace by other users.
void DisableCoreDumps() {
  struct rlimit none = {0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

// Parses a listen address.
Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& flag,
                                                     const std::string& value) {
  auto host_port = http::ParseHostPort(value);
  if (!host_port.ok()) {
    return InvalidArgument("--" + flag + ": " + host_port.status().message());
  }
  return host_port;
}

// Returns the TLS files: the operator's, or the local CA's (created or
// reissued as needed).
Result<http::ServerTls> ServerTlsFiles(const Flags& flags, const std::string& keys_dir) {
  if (!flags.tls_cert.empty()) return http::ServerTls{flags.tls_cert, flags.tls_key};
  return http::EnsureLocalCertificates(keys_dir, flags.tls_names);
}

Status WritePortsFile(const std::string& path, uint16_t api_port, uint16_t gateway_port) {
  std::string text = "{\"api\": " + std::to_string(api_port) +
                     ", \"gateway\": " + std::to_string(gateway_port) + "}\n";
  return ledger::WriteSecretFile(path, text);
}

int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int signal_number = 0;
  sigwait(&set, &signal_number);
  return signal_number;
}

int Fail(const Status& status) {
  Logger("escrowd")->error("{}", status.message());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (int code = ParseFlags(argc, argv, flags); code != 0) return code == kExitHelp ? 0 : code;
  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  auto log = Logger("escrowd");
  DisableCoreDumps();
  ::umask(077);

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto api_addr = ParseListen("api-listen", flags.api_listen);
  if (!api_addr.ok()) return Fail(api_addr.status());
  auto gateway_addr = ParseListen("gateway-listen", flags.gateway_listen);
  if (!gateway_addr.ok()) return Fail(gateway_addr.status());

  // Step 1: storage and keys.
  auto store = ledger::Store::Open(flags.data_dir);
  if (!store.ok()) return Fail(store.status());
  auto signing_key = ledger::SigningKey::LoadOrCreate((*store)->keys_dir());
  if (!signing_key.ok()) return Fail(signing_key.status());
  auto master_key = ledger::MasterKey::LoadOrCreate((*store)->keys_dir());
  // Child processes never need the passphrase.
  ::unsetenv(ledger::kMasterPassphraseEnv);
  if (!master_key.ok()) return Fail(master_key.status());
  log->info("opened data directory {} (ledger key {})", flags.data_dir,
                  signing_key->key_id());

  // Step 2: the sequencer and the domain service.
  ledger::Sequencer sequencer(store->get(), &*signing_key, projections::Apply, {});
  if (Status s = sequencer.Start(); !s.ok()) return Fail(s);
  projections::EscrowService service(store->get(), &sequencer, &*master_key);
  if (Status s = service.EnsureInitialPolicy(); !s.ok()) return Fail(s);

  ledger::Checkpointer checkpointer(
      store->get(),
      [&sequencer](std::string_view key_id) { return sequencer.FindSigningKey(key_id); },
      {flags.checkpoint_every_entries, flags.checkpoint_every_seconds});
  checkpointer.Start();

  // Step 3: the listeners.
  api::Api::Options api_options;
  api_options.write_checkpoint = [&checkpointer] { return checkpointer.WriteNow(); };
  api_options.password_log_n = flags.password_log_n;
  if (flags.no_rate_limits) {
    api_options.rate_limits = api::RateLimits::Unlimited();
    log->warn("login and retrieval rate limits are off (--no-rate-limits)");
  }
  if (flags.password_log_n < api::kScryptLogN) {
    log->warn("new password hashes use scrypt N = 2^{}, below the default 2^{} "
              "(--password-hash-log-n)",
              flags.password_log_n, api::kScryptLogN);
  }
  api::Api api(store->get(), &service, &sequencer, std::move(api_options));
  gateway::GatewayMetrics gateway_metrics;
  api.SetMetricsSource([&gateway_metrics] { return gateway_metrics.PrometheusText(); });

  http::ServerLimits api_limits;
  http::Server api_server("api", [&api](const http::Request& r) { return api.Handle(r); },
                          api_limits);
  http::ServerLimits gateway_limits;
  gateway_limits.max_body_bytes = gateway::kMaxBodyBytes;
  gateway_limits.max_header_bytes = gateway::kMaxHeaderBytes;
  http::Server gateway_server(
      "gateway", gateway::MakeGatewayHandler(store->get(), &service, &gateway_metrics),
      gateway_limits);

  auto tls = ServerTlsFiles(flags, (*store)->keys_dir());
  if (!tls.ok()) return Fail(tls.status());
  if (Status s = api_server.UseTls(*tls); !s.ok()) return Fail(s);
  if (Status s = gateway_server.UseTls(*tls); !s.ok()) return Fail(s);
  if (Status s = api_server.Listen(api_addr->first, api_addr->second); !s.ok()) return Fail(s);
  if (Status s = gateway_server.Listen(gateway_addr->first, gateway_addr->second); !s.ok()) {
    return Fail(s);
  }
  // The admin account is created only once both listeners are up, so a
  // failed start never consumes the one-time password display.
  auto admin_password = api::EnsureBootstrapAdmin(store->get(), &service, flags.password_log_n);
  if (!admin_password.ok()) return Fail(admin_password.status());
  if (admin_password->has_value()) {
    // Printed once to stdout for the operator; never written to the log.
    std::cout << "Created account 'admin' with password: " << **admin_password
              << "\nStore it now; it is not shown again.\n"
              << std::flush;
  }
  log->info("API listening on https://{}:{}, device gateway on https://{}:{}; clients "
            "verify the server with {}",
            api_addr->first, api_server.port(), gateway_addr->first, gateway_server.port(),
            flags.tls_cert.empty() ? (*store)->keys_dir() + "/" + http::kCaCertFile
                                   : "the CA that issued " + flags.tls_cert);
  if (!flags.ports_file.empty()) {
    if (Status s = WritePortsFile(flags.ports_file, api_server.port(), gateway_server.port());
        !s.ok()) {
      return Fail(s);
    }
  }

  // Step 4: run until SIGINT or SIGTERM, then stop in reverse order.
  int signal_number = WaitForSignal();
  log->info("received signal {}, stopping", signal_number);
  api_server.Stop();
  gateway_server.Stop();
  sequencer.Stop();
  checkpointer.Stop();
  // A final checkpoint covers everything written before the stop.
  if (auto note = checkpointer.WriteNow(); !note.ok()) {
    log->error("final checkpoint failed: {}", note.status().message());
  }
  log->info("stopped at seq {}", sequencer.committed_seq());
  return 0;
}
