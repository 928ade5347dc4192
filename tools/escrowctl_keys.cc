// escrowctl commands for the server's keys: rotate-signing-key (over the API)
// and protect-master-key (offline, on a data directory).
#include <cstdlib>
#include <iostream>

#include "ledger/keys.h"
#include "tools/escrowctl_common.h"

namespace escrow::ctl {

namespace json = boost::json;

namespace {

int Fail(const std::string& message) {
  std::cerr << "escrowctl: " << message << "\n";
  return kExitFailure;
}

// Reads the new passphrase from $ESCROW_MASTER_PASSPHRASE, or prompts twice on
// the terminal with echo off.
Result<crypto::SecretString> NewPassphrase() {
  const char* env = std::getenv(ledger::kMasterPassphraseEnv);
  if (env != nullptr && *env != '\0') return crypto::SecretString(std::string(env));
  auto first = PromptPassword("New master key passphrase: ");
  if (!first.ok()) {
    return InvalidArgument(std::string("no passphrase: set ") + ledger::kMasterPassphraseEnv +
                           " or run escrowctl on a terminal");
  }
  auto second = PromptPassword("Repeat the passphrase: ");
  if (!second.ok()) return second.status();
  if (!crypto::ConstantTimeEqual(first->view(), second->view())) {
    return InvalidArgument("the two passphrases differ; nothing was changed");
  }
  return std::move(*first);
}

}  // namespace

// rotate-signing-key: admin only.
int RotateLedgerSigningKey(ApiSession& session, const Settings& settings) {
  auto reply = session.Call("POST", "/v1/ledger/signing-key:rotate");
  if (!reply.ok()) return Fail(reply.status().message());
  if (settings.json) {
    std::cout << json::serialize(*reply) << "\n";
  } else {
    std::cout << "Ledger signing key rotated at seq " << Text(*reply, "seq") << ": "
              << Text(*reply, "old_key_id") << " replaced by " << Text(*reply, "new_key_id")
              << ".\nNew public key: " << Text(*reply, "new_public_key")
              << "\nAuditors keep trusting the first key (keys/ledger-signing.pub); verify "
                 "follows the rotation.\n";
  }
  return kExitOk;
}

// protect-master-key --data-dir DIR: the passphrase comes from
// $ESCROW_MASTER_PASSPHRASE or the terminal and is never printed.
int RunProtectMasterKey(const Settings& settings) {
  std::string dir = settings.Value("data-dir");
  if (dir.empty()) throw UsageError{"protect-master-key needs --data-dir DIR"};
  std::string keys_dir = dir + "/keys";
  if (!ledger::FileExists(keys_dir + "/master.key")) {
    return Fail(keys_dir + "/master.key does not exist; start escrowd once with " +
                ledger::kMasterPassphraseEnv + " set to create a protected key");
  }

  auto passphrase = NewPassphrase();
  if (!passphrase.ok()) return Fail(passphrase.status().message());
  Status protect = ledger::ProtectMasterKey(keys_dir, *passphrase);
  if (!protect.ok()) return Fail(protect.message());

  if (settings.json) {
    json::object out;
    out["path"] = keys_dir + "/master.key";
    out["kdf"] = "scrypt";
    out["n"] = ledger::kMasterKdfN;
    out["r"] = ledger::kMasterKdfR;
    out["p"] = ledger::kMasterKdfP;
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << "Protected " << keys_dir << "/master.key with a passphrase (scrypt N="
              << ledger::kMasterKdfN << ", r=" << ledger::kMasterKdfR
              << ", p=" << ledger::kMasterKdfP << ").\nescrowd now starts only with "
              << ledger::kMasterPassphraseEnv << " set to that passphrase.\n";
  }
  return kExitOk;
}

}  // namespace escrow::ctl
