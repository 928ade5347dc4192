// escrow-device: the reference device client and fleet simulator.
//
// Single-device commands keep the device's state in a JSON file (--state)
// between runs; `fleet` simulates many devices in memory. Exit codes: 0 ok,
// 1 failure (the server's message is printed), 2 usage error.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>

#include "api/http/http.h"
#include "device-gateway/device_client.h"
#include "device-gateway/device_session.h"
#include "ledger/keys.h"
#include "tools/escrow_device_fleet.h"

namespace {

namespace po = boost::program_options;
using escrow::Result;
using escrow::Status;
using escrow::device::DeviceIdentity;
using escrow::device::Endpoint;
using escrow::device::GatewayClient;
using escrow::device::SessionResult;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr size_t kDefaultConcurrency = 32;
constexpr size_t kDefaultDropEvery = 10;
// Timeout of one request to the gateway.
constexpr std::chrono::seconds kDeviceRequestTimeout{30};

constexpr const char* kUsage =
    "usage: escrow-device COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  enroll     --device ID --token TOKEN --state FILE [--os-version V] [--client-version V]\n"
    "  check-in   --state FILE [--no-act]\n"
    "  arm        --state FILE\n"
    "  reset      --state FILE --recovery-password DIGITS\n"
    "  advance-clock  --state FILE --seconds N   run the check-ins due in N virtual seconds\n"
    "  fail-session   --state FILE   the next escrow upload is lost with the connection\n"
    "  remove-client  --state FILE   report that the password reset client was removed\n"
    "  install-client --state FILE   report that the client was installed again\n"
    "  fleet      --devices N --id-prefix P [--concurrency 32] [--drop-every 10] [--json]\n"
    "\n"
    "The gateway address comes from --gateway or ESCROW_GATEWAY (host:port). fleet\n"
    "also needs the API: --server or ESCROW_SERVER, and admin credentials --user and\n"
    "--password or ESCROW_USER and ESCROW_PASSWORD. Both are HTTPS: --ca-file or\n"
    "ESCROW_CA_FILE names the CA certificate that verifies the server.\n";

// A usage error: printed with the usage text, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Returns the option's value, else the environment variable's, else throws.
std::string OptionOrEnv(const po::variables_map& vm, const char* option, const char* env) {
  if (vm.count(option)) return vm[option].as<std::string>();
  if (const char* value = std::getenv(env); value != nullptr && *value != '\0') return value;
  throw UsageError(fmt::format("missing --{} (or the {} environment variable)", option, env));
}

std::string Required(const po::variables_map& vm, const char* option) {
  if (!vm.count(option)) throw UsageError(fmt::format("missing --{}", option));
  return vm[option].as<std::string>();
}

Endpoint EndpointOf(const po::variables_map& vm, const char* option, const char* env) {
  std::string text = OptionOrEnv(vm, option, env);
  auto parsed = escrow::http::ParseHostPort(text);
  if (!parsed.ok()) throw UsageError(fmt::format("--{}: {}", option, parsed.status().message()));
  std::string ca_file;
  if (vm.count("ca-file")) {
    ca_file = vm["ca-file"].as<std::string>();
  } else if (const char* value = std::getenv("ESCROW_CA_FILE"); value != nullptr) {
    ca_file = value;
  }
  return Endpoint{parsed->first, parsed->second, escrow::http::ClientTls::WithCaFile(ca_file)};
}

int Fail(const Status& status) {
  fmt::print(stderr, "escrow-device: {}\n", status.message());
  return kExitFailure;
}

void PrintPolicy(const escrow::ledger::Policy& policy) {
  fmt::print(
      "policy: reset_mode {}, self-service recovery {}, rotate after retrieval {}, "
      "check-in interval {} s, minimum OS version {}\n",
      policy.reset_mode, policy.self_service_recovery ? "on" : "off",
      policy.rotate_after_retrieval ? "on" : "off", policy.check_in_interval_s,
      policy.min_os_version);
}

void PrintActions(const std::vector<std::string>& actions) {
  std::string list;
  for (const std::string& action : actions) list += (list.empty() ? "" : ", ") + action;
  fmt::print("actions: {}\n", list.empty() ? "none" : list);
}

// Returns "(ledger seq N)", or a note that the server already had this fact
// and wrote nothing (seq 0).
std::string SeqNote(uint64_t seq) {
  if (seq == 0) return "(already recorded; nothing new written)";
  return fmt::format("(ledger seq {})", seq);
}

void PrintEscrow(const escrow::device::EscrowReply& reply) {
  fmt::print("escrowed recovery password generation {} (ledger seq {}{})\n", reply.generation,
             reply.seq, reply.already_escrowed ? ", already escrowed" : "");
}

// A device loaded from its state file with a gateway connection.
struct LoadedDevice {
  DeviceIdentity identity;
  escrow::http::Client http;
};

Result<std::unique_ptr<LoadedDevice>> LoadDevice(const po::variables_map& vm,
                                                 const std::string& state) {
  Endpoint gateway = EndpointOf(vm, "gateway", "ESCROW_GATEWAY");
  auto identity = escrow::device::LoadDeviceIdentity(state);
  if (!identity.ok()) return identity.status();
  if (!identity->enrolled) {
    return escrow::FailedPrecondition(fmt::format("device in {} has not enrolled", state));
  }
  return std::unique_ptr<LoadedDevice>(
      new LoadedDevice{std::move(identity).value(), escrow::http::Client(gateway.host, gateway.port, kDeviceRequestTimeout,
                                                                 gateway.tls)});
}

int RunEnroll(const po::variables_map& vm) {
  std::string device_id = Required(vm, "device");
  escrow::crypto::SecretString token(Required(vm, "token"));
  std::string state = Required(vm, "state");
  Endpoint gateway = EndpointOf(vm, "gateway", "ESCROW_GATEWAY");
  // A state file left by a failed enroll is reused. One that contains an
  // enrolled device is never overwritten, because its key is that device's.
  if (escrow::ledger::FileExists(state)) {
    auto existing = escrow::device::LoadDeviceIdentity(state);
    if (!existing.ok() || existing->enrolled) {
      return Fail(escrow::FailedPrecondition(fmt::format(
          "state file {} already holds an enrolled device: use a new --state file to enroll "
          "another device or to re-enroll this one",
          state)));
    }
  }

  DeviceIdentity identity = escrow::device::NewDeviceIdentity(device_id);
  identity.os_version = vm["os-version"].as<std::string>();
  identity.client_version = vm["client-version"].as<std::string>();
  escrow::http::Client http(gateway.host, gateway.port, kDeviceRequestTimeout, gateway.tls);
  GatewayClient client(&http, &identity, state);
  auto reply = client.Enroll(token);
  if (!reply.ok()) {
    // Nothing was enrolled: remove the half-written state so a retry can use the same file.
    std::remove(state.c_str());
    return Fail(reply.status());
  }

  fmt::print("enrolled device {} (escrow key {}, ledger seq {})\n", device_id,
             reply->escrow_key_id, reply->seq);
  PrintPolicy(reply->policy);
  return kExitOk;
}

// Prints what one session did.
void PrintSession(const SessionResult& session, uint64_t device_generation) {
  PrintPolicy(session.check_in.policy);
  PrintActions(session.check_in.actions);
  fmt::print("server generation {}, device generation {}\n", session.check_in.server_generation,
             device_generation);
  if (session.escrowed) PrintEscrow(session.escrow);
  if (session.failed) {
    fmt::print("session failed: the escrow upload was lost; retry at the next check-in\n");
  }
}

void PrintSchedule(const DeviceIdentity& identity) {
  fmt::print("virtual clock {} s, next check-in at {} s\n",
             identity.clock_ns / escrow::device::kNsPerSecond,
             identity.next_check_in_ns / escrow::device::kNsPerSecond);
}

int RunCheckIn(const po::variables_map& vm) {
  std::string state = Required(vm, "state");
  auto device = LoadDevice(vm, state);
  if (!device.ok()) return Fail(device.status());
  DeviceIdentity& identity = (*device)->identity;
  GatewayClient client(&(*device)->http, &identity, state);

  auto session = escrow::device::RunSession(client, identity, vm.count("no-act") == 0);
  if (!session.ok()) return Fail(session.status());
  PrintSession(*session, identity.generation);
  return kExitOk;
}

int RunAdvanceClock(const po::variables_map& vm) {
  std::string state = Required(vm, "state");
  if (!vm.count("seconds")) throw UsageError("missing --seconds");
  const uint64_t seconds = vm["seconds"].as<uint64_t>();
  auto device = LoadDevice(vm, state);
  if (!device.ok()) return Fail(device.status());
  DeviceIdentity& identity = (*device)->identity;
  GatewayClient client(&(*device)->http, &identity, state);

  auto sessions = escrow::device::AdvanceClock(client, identity, seconds);
  if (!sessions.ok()) return Fail(sessions.status());
  for (const SessionResult& session : *sessions) {
    fmt::print("check-in at {} s:\n", session.at_ns / escrow::device::kNsPerSecond);
    PrintSession(session, identity.generation);
  }
  fmt::print("{} check-in(s) ran\n", sessions->size());
  PrintSchedule(identity);
  return kExitOk;
}

int RunFailSession(const po::variables_map& vm) {
  std::string state = Required(vm, "state");
  auto device = LoadDevice(vm, state);
  if (!device.ok()) return Fail(device.status());
  GatewayClient client(&(*device)->http, &(*device)->identity, state);
  Status status = escrow::device::FailNextSession(client, (*device)->identity);
  if (!status.ok()) return Fail(status);
  fmt::print("the next escrow upload of device {} will be lost\n", (*device)->identity.device_id);
  return kExitOk;
}

int RunClientChange(const po::variables_map& vm, bool install) {
  std::string state = Required(vm, "state");
  auto device = LoadDevice(vm, state);
  if (!device.ok()) return Fail(device.status());
  DeviceIdentity& identity = (*device)->identity;
  GatewayClient client(&(*device)->http, &identity, state);
  auto reply = install ? escrow::device::InstallClient(client, identity)
                       : escrow::device::RemoveClient(client, identity);
  if (!reply.ok()) return Fail(reply.status());
  fmt::print("reported client {} {}\n", install ? "installed" : "removed", SeqNote(reply->seq));
  PrintActions(reply->actions);
  return kExitOk;
}

int RunArm(const po::variables_map& vm) {
  std::string state = Required(vm, "state");
  auto device = LoadDevice(vm, state);
  if (!device.ok()) return Fail(device.status());
  GatewayClient client(&(*device)->http, &(*device)->identity, state);

  auto reply = client.Arm();
  if (!reply.ok()) return Fail(reply.status());
  fmt::print("armed recovery password generation {} {}\n", client.identity().generation,
             SeqNote(reply->seq));
  return kExitOk;
}

int RunReset(const po::variables_map& vm) {
  std::string state = Required(vm, "state");
  escrow::crypto::SecretString password(
      OptionOrEnv(vm, "recovery-password", "ESCROW_RECOVERY_PASSWORD"));
  auto device = LoadDevice(vm, state);
  if (!device.ok()) return Fail(device.status());
  GatewayClient client(&(*device)->http, &(*device)->identity, state);

  uint64_t used = client.identity().generation;
  auto reply = client.Reset(password.view(), /*escrow_next=*/false);
  if (!reply.ok()) return Fail(reply.status());
  fmt::print("reset reported with recovery password generation {} (ledger seq {})\n", used,
             reply->reset.seq);

  // The session after the reset escrows the next generation, or fails.
  SessionResult session;
  session.at_ns = (*device)->identity.clock_ns;
  session.check_in = std::move(reply->check_in);
  Status escrowed = escrow::device::EscrowIfDue(client, (*device)->identity, session);
  if (!escrowed.ok()) return Fail(escrowed);
  PrintSession(session, client.identity().generation);
  PrintSchedule(client.identity());
  return kExitOk;
}

int RunFleetCommand(const po::variables_map& vm) {
  escrow::device::FleetOptions options;
  options.devices = vm.count("devices") ? vm["devices"].as<size_t>() : 0;
  if (options.devices == 0) throw UsageError("--devices must be at least 1");
  options.id_prefix = Required(vm, "id-prefix");
  options.concurrency = vm["concurrency"].as<size_t>();
  if (options.concurrency == 0) throw UsageError("--concurrency must be at least 1");
  options.drop_every = vm["drop-every"].as<size_t>();
  options.json = vm.count("json") > 0;
  options.gateway = EndpointOf(vm, "gateway", "ESCROW_GATEWAY");
  options.api = EndpointOf(vm, "server", "ESCROW_SERVER");
  options.admin_user = OptionOrEnv(vm, "user", "ESCROW_USER");
  options.admin_password =
      escrow::crypto::SecretString(OptionOrEnv(vm, "password", "ESCROW_PASSWORD"));
  options.os_version = vm["os-version"].as<std::string>();
  options.client_version = vm["client-version"].as<std::string>();
  return escrow::device::RunFleet(options);
}

po::options_description Options() {
  po::options_description options("options");
  options.add_options()
      ("help,h", "print this help")
      ("gateway", po::value<std::string>(), "device gateway host:port")
      ("ca-file", po::value<std::string>(),
       "PEM certificate of the CA that issued the server's TLS certificate (or "
       "$ESCROW_CA_FILE; default: the system's trusted CAs)")
      ("server", po::value<std::string>(), "API host:port (fleet)")
      ("user", po::value<std::string>(), "admin user name (fleet)")
      ("password", po::value<std::string>(), "admin password (fleet)")
      ("state", po::value<std::string>(), "device state file, created by enroll")
      ("device", po::value<std::string>(), "device id to enroll")
      ("token", po::value<std::string>(), "one-time enrollment token from the admin")
      ("os-version", po::value<std::string>()->default_value("6.1.4"), "OS version reported")
      ("client-version", po::value<std::string>()->default_value("1.0"),
       "client version reported")
      ("no-act", "check-in: only print the actions, do not perform them")
      ("recovery-password", po::value<std::string>(),
       "reset: the recovery password typed at the lock screen")
      ("seconds", po::value<uint64_t>(), "advance-clock: virtual seconds to advance")
      ("devices", po::value<size_t>(), "fleet: number of devices")
      ("id-prefix", po::value<std::string>(), "fleet: device ids are PREFIX-1 ... PREFIX-N")
      ("concurrency", po::value<size_t>()->default_value(kDefaultConcurrency),
       "fleet: worker threads")
      ("drop-every", po::value<size_t>()->default_value(kDefaultDropEvery),
       "fleet: every K-th device drops its first generation-2 upload (0 = never)")
      ("json", "fleet: print the summary as JSON");
  return options;
}

int Dispatch(const std::string& command, const po::variables_map& vm) {
  if (command == "enroll") return RunEnroll(vm);
  if (command == "check-in") return RunCheckIn(vm);
  if (command == "arm") return RunArm(vm);
  if (command == "reset") return RunReset(vm);
  if (command == "fleet") return RunFleetCommand(vm);
  if (command == "advance-clock") return RunAdvanceClock(vm);
  if (command == "fail-session") return RunFailSession(vm);
  if (command == "remove-client") return RunClientChange(vm, /*install=*/false);
  if (command == "install-client") return RunClientChange(vm, /*install=*/true);
  throw UsageError(fmt::format("unknown command \"{}\"", command));
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  po::options_description options = Options();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage << "\n" << options;
    return argc < 2 ? kExitUsage : kExitOk;
  }

  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc - 1, argv + 1).options(options).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << kUsage << "\n" << options;
      return kExitOk;
    }
    return Dispatch(argv[1], vm);
  } catch (const po::error& e) {
    std::cerr << "escrow-device: " << e.what() << "\n\n" << kUsage;
    return kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "escrow-device: " << e.what() << "\n\n" << kUsage;
    return kExitUsage;
  }
}
