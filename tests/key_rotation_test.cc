// Ledger signing-key rotation. The sequencer switches keys once the
// SigningKeyRotated entry commits, and checkpoints use the key in force at
// their tree size. Verify follows the history from the first key and rejects
// forged rotations. A running escrowd rotates through escrowctl.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <boost/json.hpp>

#include <fstream>
#include <sstream>

#include "ledger/checkpoint.h"
#include "ledger/checkpointer.h"
#include "ledger/crypto.h"
#include "ledger/entry.h"
#include "ledger/events.h"
#include "ledger/key_rotation.h"
#include "ledger/keys.h"
#include "ledger/merkle.h"
#include "ledger/sequencer.h"
#include "ledger/verify.h"
#include "tests/test_support.h"

using namespace escrow;
using namespace escrow::ledger;
namespace json = boost::json;

namespace {

constexpr const char* kAdminPassword = "admin-password-1";

// Appends n PolicyChanged entries, one command each.
void AppendPolicies(Sequencer& sequencer, int n) {
  for (int i = 0; i < n; i++) {
    Status s = sequencer.Run([](Transaction& tx) -> Status {
      auto e = tx.Append(MakeDraft(PolicyChanged{Policy{}}, ActorKind::kAccount, "admin", "policy"));
      return e.status();
    });
    REQUIRE(s.ok());
  }
}

// Appends one event draft as its own command, bypassing AppendKeyRotation,
// so the sequencer keeps its key: the way a forger would write the ledger.
uint64_t AppendRaw(Sequencer& sequencer, const EventDraft& draft) {
  uint64_t seq = 0;
  Status s = sequencer.Run([&](Transaction& tx) -> Status {
    auto e = tx.Append(draft);
    if (e.ok()) seq = e->seq;
    return e.status();
  });
  REQUIRE(s.ok());
  return seq;
}

EventDraft RotationDraft(const SigningKeyRotated& event) {
  return MakeDraft(event, ActorKind::kAccount, "admin", std::string(kSigningKeySubject));
}

Entry ReadEntryAt(const Store& store, uint64_t seq) {
  auto bytes = store.ReadEntry(seq);
  REQUIRE(bytes.ok());
  REQUIRE(bytes->has_value());
  auto decoded = DecodeEntry(**bytes);
  REQUIRE(decoded.ok());
  return decoded->entry;
}

int FileMode(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 0777);
}

json::object LastJson(const std::string& output) {
  std::istringstream lines(output);
  std::string line;
  json::object found;
  while (std::getline(lines, line)) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (!ec && v.is_object()) found = v.as_object();
  }
  return found;
}

std::string Str(const json::object& object, const char* key) {
  return std::string(object.at(key).as_string());
}

}  // namespace

TEST_CASE("rotation hands signing to the new key") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  const std::string keys_dir = (*store)->keys_dir();
  Sequencer sequencer(store->get(), &*key, Applier{}, {});
  REQUIRE(sequencer.Start().ok());
  Checkpointer checkpointer(
      store->get(), [&sequencer](std::string_view id) { return sequencer.FindSigningKey(id); },
      {});
  AppendPolicies(sequencer, 2);

  auto rotation = RotateSigningKey(sequencer, ActorKind::kAccount, "admin");
  REQUIRE(rotation.ok());
  CHECK(rotation->seq == 3);
  CHECK(rotation->old_key_id == key->key_id());
  CHECK(rotation->new_key_id != key->key_id());
  CHECK(sequencer.signing_key()->key_id() == rotation->new_key_id);

  // A checkpoint of the tree that ends with the rotation uses the new key.
  auto note = checkpointer.WriteNow();
  REQUIRE(note.ok());
  std::string origin = CheckpointOrigin(key->public_key());
  CHECK(OpenNote(*note, origin, rotation->new_public_key).ok());
  CHECK_FALSE(OpenNote(*note, origin, key->public_key()).ok());

  AppendPolicies(sequencer, 2);
  CHECK(ReadEntryAt(**store, 3).key_id == key->key_id());
  CHECK(ReadEntryAt(**store, 4).key_id == rotation->new_key_id);
  CHECK(ReadEntryAt(**store, 5).key_id == rotation->new_key_id);
  REQUIRE(checkpointer.WriteNow().ok());

  auto report = VerifyLedger(**store, key->public_key());
  INFO(report.error);
  CHECK(report.ok);
  CHECK(report.entries == 5);
  CHECK(report.checkpoints == 2);

  // Key files: the trust anchor stays, the current key and the history change.
  CHECK(LoadLedgerPublicKey(keys_dir).value() == key->public_key());
  CHECK(SigningKey::Load(keys_dir).value().key_id() == rotation->new_key_id);
  CHECK_FALSE(FileExists(keys_dir + "/ledger-signing.next"));
  CHECK(FileMode(keys_dir + "/ledger-signing.key") == 0600);
  CHECK(FileMode(keys_dir + "/ledger-signing.history") == 0600);
  auto history = ReadSigningKeyHistory(keys_dir);
  REQUIRE(history.ok());
  REQUIRE(history->size() == 2);
  CHECK((*history)[0].key_id == key->key_id());
  CHECK((*history)[0].rotation_seq == 0);
  CHECK((*history)[1].key_id == rotation->new_key_id);
  CHECK((*history)[1].public_key == rotation->new_public_key);
  CHECK((*history)[1].rotation_seq == 3);
}

TEST_CASE("two rotations in a row chain from the first key") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  Sequencer sequencer(store->get(), &*key, Applier{}, {});
  REQUIRE(sequencer.Start().ok());
  AppendPolicies(sequencer, 1);
  auto first = RotateSigningKey(sequencer, ActorKind::kAccount, "admin");
  REQUIRE(first.ok());
  auto second = RotateSigningKey(sequencer, ActorKind::kAccount, "admin");
  REQUIRE(second.ok());
  CHECK(second->old_key_id == first->new_key_id);
  AppendPolicies(sequencer, 1);

  CHECK(ReadEntryAt(**store, 3).key_id == first->new_key_id);
  CHECK(ReadEntryAt(**store, 4).key_id == second->new_key_id);
  auto report = VerifyLedger(**store, key->public_key());
  INFO(report.error);
  CHECK(report.ok);
  CHECK(ReadSigningKeyHistory((*store)->keys_dir()).value().size() == 3);
}

TEST_CASE("restart signs with the rotated key") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  const std::string keys_dir = (*store)->keys_dir();
  const std::string old_key_file = ReadFile(keys_dir + "/ledger-signing.key").value();
  const std::string old_history_file = ReadFile(keys_dir + "/ledger-signing.history").value();
  std::string new_key_id;
  {
    Sequencer sequencer(store->get(), &*key, Applier{}, {});
    REQUIRE(sequencer.Start().ok());
    auto rotation = RotateSigningKey(sequencer, ActorKind::kAccount, "admin");
    REQUIRE(rotation.ok());
    new_key_id = rotation->new_key_id;
  }

  SECTION("keys/ledger-signing.key already contains the new key") {
    auto reloaded = SigningKey::LoadOrCreate(keys_dir);
    REQUIRE(reloaded.ok());
    CHECK(reloaded->key_id() == new_key_id);
    Sequencer sequencer(store->get(), &*reloaded, Applier{}, {});
    REQUIRE(sequencer.Start().ok());
    AppendPolicies(sequencer, 1);
    CHECK(ReadEntryAt(**store, 2).key_id == new_key_id);
  }
  SECTION("a crash before the key file was renamed is finished at start") {
    // The files as they were between the commit and the rename.
    const std::string new_key_file = ReadFile(keys_dir + "/ledger-signing.key").value();
    REQUIRE(WriteSecretFile(keys_dir + "/ledger-signing.next", new_key_file).ok());
    REQUIRE(WriteSecretFile(keys_dir + "/ledger-signing.key", old_key_file).ok());
    REQUIRE(WriteSecretFile(keys_dir + "/ledger-signing.history", old_history_file).ok());

    auto reloaded = SigningKey::LoadOrCreate(keys_dir);
    REQUIRE(reloaded.ok());
    CHECK(reloaded->key_id() == key->key_id());
    Sequencer sequencer(store->get(), &*reloaded, Applier{}, {});
    Status started = sequencer.Start();
    INFO(started.message());
    REQUIRE(started.ok());
    CHECK(sequencer.signing_key()->key_id() == new_key_id);
    AppendPolicies(sequencer, 1);
    CHECK(ReadEntryAt(**store, 2).key_id == new_key_id);

    CHECK_FALSE(FileExists(keys_dir + "/ledger-signing.next"));
    CHECK(ReadFile(keys_dir + "/ledger-signing.key").value() == new_key_file);
    auto history = ReadSigningKeyHistory(keys_dir);
    REQUIRE(history.ok());
    REQUIRE(history->size() == 2);
    CHECK((*history)[1].key_id == new_key_id);
    CHECK((*history)[1].rotation_seq == 1);
  }
  SECTION("an unrelated key is rejected at start") {
    SigningKey other = SigningKey::Generate();
    Sequencer sequencer(store->get(), &other, Applier{}, {});
    Status started = sequencer.Start();
    CHECK(started.code() == Code::kFailedPrecondition);
    CHECK(started.message().find(new_key_id) != std::string::npos);
  }
}

TEST_CASE("verify rejects forged rotations") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  Sequencer sequencer(store->get(), &*key, Applier{}, {});
  REQUIRE(sequencer.Start().ok());
  AppendPolicies(sequencer, 2);
  SigningKey next = SigningKey::Generate();

  SECTION("new_key_signature by another key") {
    SigningKey stranger = SigningKey::Generate();
    auto event = MakeSigningKeyRotated(*key, next).value();
    event.new_key_signature = stranger.Sign(key->key_id()).value();
    uint64_t seq = AppendRaw(sequencer, RotationDraft(event));
    AppendPolicies(sequencer, 1);

    auto report = VerifyLedger(**store, key->public_key());
    CHECK_FALSE(report.ok);
    CHECK(report.first_bad_seq == seq);
    CHECK(report.error.find("new_key_signature does not verify") != std::string::npos);
    CHECK(report.entries == seq - 1);
  }
  SECTION("new_key_signature over another message") {
    auto event = MakeSigningKeyRotated(*key, next).value();
    event.new_key_signature = next.Sign("ed25519:0000000000000000").value();
    uint64_t seq = AppendRaw(sequencer, RotationDraft(event));

    auto report = VerifyLedger(**store, key->public_key());
    CHECK(report.first_bad_seq == seq);
  }
  SECTION("entries after the rotation signed with the old key") {
    uint64_t seq = AppendRaw(sequencer, RotationDraft(MakeSigningKeyRotated(*key, next).value()));
    AppendPolicies(sequencer, 2);

    auto report = VerifyLedger(**store, key->public_key());
    CHECK_FALSE(report.ok);
    CHECK(report.first_bad_seq == seq + 1);
    CHECK(report.error == "signed by key " + key->key_id() + ", expected " + next.key_id());
  }
  SECTION("an entry after the rotation names the new key but the old key signed it") {
    uint64_t seq = AppendRaw(sequencer, RotationDraft(MakeSigningKeyRotated(*key, next).value()));
    AppendPolicies(sequencer, 1);
    Entry e = ReadEntryAt(**store, seq + 1);
    e.key_id = next.key_id();
    e.signature = key->Sign(SignatureMessage(LeafHash(EncodeBody(e)))).value();
    REQUIRE((*store)->Put(Cf::kLedger, SeqKey(seq + 1), EncodeEntry(e)).ok());

    auto report = VerifyLedger(**store, key->public_key());
    CHECK(report.first_bad_seq == seq + 1);
    CHECK(report.error == "signature does not verify");
  }
  SECTION("a rotation to the key already in force") {
    auto event = MakeSigningKeyRotated(*key, *key).value();
    uint64_t seq = AppendRaw(sequencer, RotationDraft(event));

    auto report = VerifyLedger(**store, key->public_key());
    CHECK(report.first_bad_seq == seq);
    CHECK(report.error.find("already in force") != std::string::npos);
  }
}

TEST_CASE("verify checks checkpoints with the key in force") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  Sequencer sequencer(store->get(), &*key, Applier{}, {});
  REQUIRE(sequencer.Start().ok());
  AppendPolicies(sequencer, 2);
  auto rotation = RotateSigningKey(sequencer, ActorKind::kAccount, "admin");
  REQUIRE(rotation.ok());
  AppendPolicies(sequencer, 1);
  std::shared_ptr<const SigningKey> new_key = sequencer.FindSigningKey(rotation->new_key_id);
  REQUIRE(new_key != nullptr);
  std::string origin = CheckpointOrigin(key->public_key());

  // Writes a checkpoint note of the real root at tree size `size`, signed by signer.
  auto write_checkpoint = [&](uint64_t size, const SigningKey& signer) {
    MerkleTreeBuilder tree;
    for (uint64_t seq = 1; seq <= size; seq++) {
      auto bytes = (*store)->ReadEntry(seq).value().value();
      REQUIRE(tree.Append(LeafHash(DecodeEntry(bytes).value().body)).ok());
    }
    Checkpoint c;
    c.origin = origin;
    c.tree_size = size;
    c.root_hash = tree.root();
    c.time_ns = 1;
    auto note = SignNote(CheckpointText(c), origin, signer);
    REQUIRE(note.ok());
    REQUIRE((*store)->Put(Cf::kCheckpoints, SeqKey(size), *note).ok());
  };

  SECTION("correct keys on both sides of the rotation") {
    write_checkpoint(2, *key);
    write_checkpoint(3, *new_key);
    write_checkpoint(4, *new_key);
    auto report = VerifyLedger(**store, key->public_key());
    INFO(report.error);
    CHECK(report.ok);
    CHECK(report.checkpoints == 3);
  }
  SECTION("the old key after the rotation") {
    write_checkpoint(3, *key);
    auto report = VerifyLedger(**store, key->public_key());
    CHECK_FALSE(report.ok);
    CHECK(report.first_bad_seq == 3);
    CHECK(report.error.find("checkpoint at tree size 3") != std::string::npos);
  }
  SECTION("the new key before the rotation") {
    write_checkpoint(2, *new_key);
    auto report = VerifyLedger(**store, key->public_key());
    CHECK_FALSE(report.ok);
    CHECK(report.error.find("checkpoint at tree size 2") != std::string::npos);
  }
}

TEST_CASE("escrowctl rotate-signing-key on a live escrowd") {
  testing::TempDir dir;
  const std::string keys_dir = dir.path() + "/keys";
  const std::string ctl = testing::BinaryPath("escrowctl");
  testing::EscrowdProcess server;
  REQUIRE(server.Start(dir.path(), kAdminPassword));
  // escrowctl's environment for a user, trusting escrowd's local CA.
  auto user_env = [&server](const std::string& user, const std::string& password) {
    return std::map<std::string, std::string>{{"ESCROW_SERVER", server.api_address()},
                                              {"ESCROW_USER", user},
                                              {"ESCROW_PASSWORD", password},
                                              {"ESCROW_CA_FILE", server.ca_file()}};
  };
  auto admin_env = [&user_env] { return user_env("admin", kAdminPassword); };
  // add-account as admin, with the new account's password in ESCROW_NEW_PASSWORD.
  auto add_account = [&](const std::string& name, const std::string& role,
                         const std::string& password) {
    auto env = admin_env();
    env["ESCROW_NEW_PASSWORD"] = password;
    return testing::RunCommand({ctl, "add-account", "--username", name, "--roles", role}, env);
  };
  const std::string first_public_key = LoadLedgerPublicKey(keys_dir).value();

  // Step 1: an auditor may not rotate; an admin may.
  auto added = add_account("aud1", "auditor", "auditor-password-1");
  REQUIRE(added.exit_code == 0);
  auto denied =
      testing::RunCommand({ctl, "rotate-signing-key"}, user_env("aud1", "auditor-password-1"));
  CHECK(denied.exit_code == 1);
  CHECK(denied.output.find("admin") != std::string::npos);

  auto rotated = testing::RunCommand({ctl, "rotate-signing-key", "--json"}, admin_env());
  INFO(rotated.output);
  REQUIRE(rotated.exit_code == 0);
  json::object reply = LastJson(rotated.output);
  const std::string new_key_id = Str(reply, "new_key_id");
  const uint64_t rotation_seq = reply.at("seq").to_number<uint64_t>();
  CHECK(Str(reply, "old_key_id") == KeyIdOf(first_public_key));
  CHECK(new_key_id != KeyIdOf(first_public_key));

  // Step 2: later entries and checkpoints use the new key.
  auto more = add_account("hd1", "helpdesk", "helpdesk-password-1");
  REQUIRE(more.exit_code == 0);
  auto checkpoint = testing::RunCommand({ctl, "checkpoint", "--json"}, admin_env());
  INFO(checkpoint.output);
  REQUIRE(checkpoint.exit_code == 0);
  std::string note = Str(LastJson(checkpoint.output), "note");
  auto new_public_key = crypto::HexDecode(Str(reply, "new_public_key")).value();
  CHECK(OpenNote(note, CheckpointOrigin(first_public_key), new_public_key).ok());
  REQUIRE(server.Stop() == 0);

  {
    auto store = Store::Open(dir.path());
    REQUIRE(store.ok());
    CHECK(ReadEntryAt(**store, rotation_seq).key_id == KeyIdOf(first_public_key));
    CHECK(ReadEntryAt(**store, rotation_seq + 1).key_id == new_key_id);
  }
  CHECK(LoadLedgerPublicKey(keys_dir).value() == first_public_key);
  CHECK(SigningKey::Load(keys_dir).value().key_id() == new_key_id);

  // Step 3: verify the data directory and an export, trusting the first key.
  auto verified = testing::RunCommand({ctl, "verify", "--data-dir", dir.path(), "--json"}, {});
  INFO(verified.output);
  CHECK(verified.exit_code == 0);
  CHECK(LastJson(verified.output).at("checkpoints").to_number<int64_t>() >= 1);
  std::string export_path = dir.path() + "/ledger.export";
  auto exported =
      testing::RunCommand({ctl, "export", "--data-dir", dir.path(), "--out", export_path}, {});
  REQUIRE(exported.exit_code == 0);
  auto verified_export = testing::RunCommand(
      {ctl, "verify", "--ledger", export_path, "--public-key", keys_dir + "/ledger-signing.pub"},
      {});
  INFO(verified_export.output);
  CHECK(verified_export.exit_code == 0);

  // Step 4: after a restart escrowd still signs with the new key.
  REQUIRE(server.Start(dir.path(), kAdminPassword));
  auto after_restart = add_account("hd2", "helpdesk", "helpdesk-password-2");
  REQUIRE(after_restart.exit_code == 0);
  REQUIRE(server.Stop() == 0);
  {
    auto store = Store::Open(dir.path());
    REQUIRE(store.ok());
    uint64_t last = (*store)->LastSeq().value();
    CHECK(last > rotation_seq + 1);
    CHECK(ReadEntryAt(**store, last).key_id == new_key_id);
  }
  auto verified_again =
      testing::RunCommand({ctl, "verify", "--data-dir", dir.path()}, {});
  INFO(verified_again.output);
  CHECK(verified_again.exit_code == 0);
}

TEST_CASE("escrowctl verify names the seq of a forged rotation") {
  testing::LedgerDir fixture;
  auto& [dir, store, key] = fixture;
  uint64_t seq = 0;
  {
    Sequencer sequencer(store->get(), &*key, Applier{}, {});
    REQUIRE(sequencer.Start().ok());
    AppendPolicies(sequencer, 2);
    SigningKey next = SigningKey::Generate();
    auto event = MakeSigningKeyRotated(*key, next).value();
    event.new_key_signature = SigningKey::Generate().Sign(key->key_id()).value();
    seq = AppendRaw(sequencer, RotationDraft(event));
  }
  store->reset();

  auto result = testing::RunCommand(
      {testing::BinaryPath("escrowctl"), "verify", "--data-dir", dir.path()}, {});
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("verification failed at seq " + std::to_string(seq)) !=
        std::string::npos);
}
