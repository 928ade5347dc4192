// escrowctl: the command-line tool for help desk, admins and auditors.
//
// Server commands sign in to the API (--server, --user, --password or
// ESCROW_SERVER, ESCROW_USER, ESCROW_PASSWORD), act and sign out. verify and
// rebuild-projections work offline on a data directory.
//
// Exit codes: 0 success, 1 failure (the server's message is printed), 2 usage error.
#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>
#include <set>

#include "ledger/log.h"
#include "tools/escrowctl_common.h"

namespace po = boost::program_options;
using namespace escrow::ctl;

namespace {

constexpr const char* kUsage = R"(usage: escrowctl COMMAND [options]

Server commands (sign in with --server HOST:PORT --user NAME, password from
--password, $ESCROW_PASSWORD or a prompt):
  get-recovery-password --device ID [--reason TICKET]
              (--reason is required for accounts with the helpdesk role)
  add-account --username U [--password P] [--roles user,helpdesk] [--display-name N]
              (for add-account, --password is the new account's password: it may
               also come from $ESCROW_NEW_PASSWORD or a prompt, and the signing-in
               password then comes from $ESCROW_PASSWORD or a prompt)
  accounts
  change-password [--new-password P]
              (your own password; the new one may also come from
               $ESCROW_NEW_PASSWORD or a prompt; your other sessions end)
  reset-password --username U [--new-password P]
              (admin: sets another account's password, ends its sessions and
               clears its lockout)
  add-device --device ID --owner U [--token-ttl SECONDS]
  set-policy [--reset-mode disabled|mdm|exchange] [--self-service on|off]
             [--rotate-after-retrieval on|off] [--check-in-interval SECONDS]
             [--min-os-version V]
  policy
  devices [--owner U] [--prefix P] [--limit N] [--after ID]
  device --device ID
  timeline --device ID
  audit [--device ID] [--actor A] [--since T] [--until T] [--denied] [--limit N] [--csv]
        (T is RFC 3339, e.g. 2024-05-01T12:00:00Z, or Unix nanoseconds. Prints
         the oldest N matching records, oldest first; N is 1 to 1000, default
         1000. For later records, move --since forward)
  entries --from A [--to B] [--type EVENT]
        (ledger entries A to B, at most 1000, e.g. --type AccountPasswordChanged
         for every password change and reset; auditor or admin)
  valid-at --device ID --time T   (the generation valid at T, and whether it was armed)
  receipts [--limit N]            (retrievals of your own devices' passwords: the
                                   newest N, printed oldest first; N is 1 to 1000,
                                   default 1000)
  request-rotation --device ID
  retire --device ID --yes        (irreversible: destroys the device's escrow key)
  checkpoint                      (sign a checkpoint of the ledger now; auditor or admin)
  rotate-signing-key              (new ledger signing key from the next entry on; admin)

Offline commands:
  verify --data-dir DIR | --ledger FILE [--public-key HEX|FILE]
      (re-hashes every entry, checks signatures, the chain and every checkpoint;
       names the first bad seq; --public-key makes --ledger require that key)
  verify-checkpoint --note FILE --public-key HEX|FILE
      (checks a signed checkpoint note and prints its tree size and root)
  verify-inclusion --leaf-index I --tree-size N --leaf-hash HEX --root HEX
                   --proof HEX,HEX,...
  verify-consistency --size1 M --size2 N --root1 HEX --root2 HEX --proof HEX,...
      (an empty --proof is allowed; exit 0 when the proof holds, 1 when not)
  export --out FILE (--data-dir DIR | --server HOST:PORT --user NAME)
  replay --ledger FILE [--until-seq S | --until-time T]
  rebuild-projections --data-dir DIR [--replace]
  protect-master-key --data-dir DIR
      (encrypts keys/master.key under the passphrase in $ESCROW_MASTER_PASSPHRASE,
       or one typed twice on the terminal; escrowd then needs that variable)

Every command that prints data accepts --json.
)";

const std::set<std::string> kOfflineCommands = {"verify", "rebuild-projections"};
const std::set<std::string> kFlagOptions = {"denied", "replace", "csv", "yes"};

po::options_description AllOptions() {
  po::options_description options("options");
  options.add_options()
      ("help,h", "print this help")
      ("command", po::value<std::string>(), "the command to run")
      ("server", po::value<std::string>(), "API address HOST:PORT (or $ESCROW_SERVER)")
      ("ca-file", po::value<std::string>(),
       "PEM certificate of the CA that issued the server's TLS certificate (or "
       "$ESCROW_CA_FILE; default: the system's trusted CAs)")
      ("user", po::value<std::string>(), "account to sign in as (or $ESCROW_USER)")
      ("password", po::value<std::string>(), "sign-in password (or $ESCROW_PASSWORD)")
      ("json", "print JSON")
      ("device", po::value<std::string>(), "device id")
      ("reason", po::value<std::string>(), "retrieval reason, e.g. a ticket id")
      ("username", po::value<std::string>(), "add-account, reset-password: the account name")
      ("roles", po::value<std::string>(), "comma-separated roles: user, helpdesk, admin, auditor")
      ("display-name", po::value<std::string>(), "display name of the new account")
      ("owner", po::value<std::string>(), "device owner (account name)")
      ("token-ttl", po::value<std::string>(), "enrollment token lifetime in seconds")
      ("reset-mode", po::value<std::string>(), "disabled, mdm or exchange")
      ("self-service", po::value<std::string>(), "self-service recovery: on or off")
      ("rotate-after-retrieval", po::value<std::string>(), "on or off")
      ("check-in-interval", po::value<std::string>(), "device check-in interval in seconds")
      ("min-os-version", po::value<std::string>(), "minimum device OS version, e.g. 6.1.4")
      ("prefix", po::value<std::string>(), "device id prefix")
      ("limit", po::value<std::string>(),
       "maximum number of results: devices lists the first N ids, audit the oldest N "
       "records, receipts the newest N")
      ("after", po::value<std::string>(), "list devices after this id")
      ("actor", po::value<std::string>(), "audit records of this account")
      ("since", po::value<std::string>(), "audit records at or after this time")
      ("until", po::value<std::string>(), "audit records before this time")
      ("denied", "only denied retrievals")
      ("csv", "audit: print RFC 4180 CSV")
      ("time", po::value<std::string>(), "valid-at: RFC 3339 time or Unix nanoseconds")
      ("new-password", po::value<std::string>(),
       "change-password, reset-password: the new password (or $ESCROW_NEW_PASSWORD)")
      ("from", po::value<std::string>(), "entries: first seq")
      ("to", po::value<std::string>(), "entries: last seq (at most from + 999)")
      ("type", po::value<std::string>(), "entries: only this event type")
      ("yes", "retire: confirm the irreversible retirement")
      ("data-dir", po::value<std::string>(), "escrowd data directory")
      ("replace", "replace the stored projections with the rebuilt ones")
      ("ledger", po::value<std::string>(), "ledger export file")
      ("public-key", po::value<std::string>(),
       "trusted ledger public key: 64 hex digits or a file such as keys/ledger-signing.pub")
      ("note", po::value<std::string>(), "file holding a signed checkpoint note")
      ("out", po::value<std::string>(), "file to write")
      ("leaf-index", po::value<std::string>(), "0-based leaf index (seq - 1)")
      ("tree-size", po::value<std::string>(), "Merkle tree size")
      ("leaf-hash", po::value<std::string>(), "leaf hash, hex")
      ("root", po::value<std::string>(), "Merkle root, hex")
      ("proof", po::value<std::string>(), "proof hashes, hex, comma-separated")
      ("size1", po::value<std::string>(), "older tree size")
      ("size2", po::value<std::string>(), "newer tree size")
      ("root1", po::value<std::string>(), "root of the older tree, hex")
      ("root2", po::value<std::string>(), "root of the newer tree, hex")
      ("until-seq", po::value<std::string>(), "replay up to this seq")
      ("until-time", po::value<std::string>(), "replay entries up to this time");
  return options;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

// Merges the parsed options and the environment into Settings.
Settings ToSettings(const po::variables_map& vm) {
  Settings settings;
  if (!vm.count("command")) throw UsageError{"no command given"};
  settings.command = vm["command"].as<std::string>();
  settings.json = vm.count("json") > 0;
  settings.server = vm.count("server") ? vm["server"].as<std::string>() : EnvOr("ESCROW_SERVER", "");
  settings.user = vm.count("user") ? vm["user"].as<std::string>() : EnvOr("ESCROW_USER", "");
  settings.ca_file =
      vm.count("ca-file") ? vm["ca-file"].as<std::string>() : EnvOr("ESCROW_CA_FILE", "");

  // For add-account, --password is the new account's password.
  bool new_account = settings.command == "add-account";
  if (vm.count("password") && !new_account) settings.password = vm["password"].as<std::string>();
  if (vm.count("password") && new_account) {
    settings.values["new-password"] = vm["password"].as<std::string>();
  }
  if (!settings.password) {
    std::string from_env = EnvOr("ESCROW_PASSWORD", "");
    if (!from_env.empty()) settings.password = from_env;
  }

  for (const auto& [name, value] : vm) {
    if (name == "command" || name == "server" || name == "user" || name == "password" ||
        name == "json" || name == "help" || name == "ca-file") {
      continue;
    }
    settings.values[name] = kFlagOptions.count(name) ? "1" : value.as<std::string>();
  }
  return settings;
}

int Run(int argc, char** argv) {
  // Step 1: parse the command line.
  po::options_description options = AllOptions();
  po::positional_options_description positional;
  positional.add("command", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << kUsage;
    return kExitOk;
  }
  Settings settings = ToSettings(vm);

  // Step 2: offline commands need no server.
  if (settings.command == "verify") return RunVerify(settings);
  if (settings.command == "rebuild-projections") return RunRebuildProjections(settings);
  if (settings.command == "verify-inclusion") return RunVerifyInclusion(settings);
  if (settings.command == "verify-consistency") return RunVerifyConsistency(settings);
  if (settings.command == "verify-checkpoint") return RunVerifyCheckpoint(settings);
  if (settings.command == "replay") return RunReplay(settings);
  if (settings.command == "protect-master-key") return RunProtectMasterKey(settings);
  if (settings.command == "export" && settings.HasValue("data-dir")) return RunExport(settings);

  // Step 3: server commands; ask for the password when none was given.
  if (!settings.password && !settings.user.empty() && !settings.server.empty()) {
    auto prompted = PromptPassword("Password for " + settings.user + ": ");
    if (!prompted.ok()) throw UsageError{"no password: pass --password or set ESCROW_PASSWORD"};
    settings.password = prompted->str();
  }
  int code = settings.command == "export" ? RunExport(settings) : RunServerCommand(settings);
  if (settings.password) escrow::crypto::Cleanse(*settings.password);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Library log lines (RocksDB open, rebuild) go to stderr, below warnings hidden.
  escrow::Logger("ledger")->set_level(spdlog::level::warn);
  escrow::Logger("projections")->set_level(spdlog::level::warn);
  try {
    return Run(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "escrowctl: " << e.message << "\nRun escrowctl --help for usage.\n";
    return kExitUsage;
  } catch (const po::error& e) {
    std::cerr << "escrowctl: " << e.what() << "\nRun escrowctl --help for usage.\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "escrowctl: " << e.what() << "\n";
    return kExitFailure;
  }
}
