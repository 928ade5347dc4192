// The master key file protected by ESCROW_MASTER_PASSPHRASE: round trip,
// wrong and missing passphrase, conversion of a plain file with escrowctl
// protect-master-key, and escrowd refusing to start without the right one.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>

#include "ledger/crypto.h"
#include "ledger/keys.h"
#include "tests/test_support.h"

using namespace escrow;
using namespace escrow::ledger;

namespace {

constexpr const char* kPassphrase = "correct horse battery staple";
constexpr std::string_view kAad = "device-1";

std::string Upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

int FileMode(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 0777);
}

// Returns escrowd's exit code and output for a start on data_dir with env.
// The master key cannot load in these cases, so escrowd exits on its own.
testing::CommandResult StartEscrowd(const std::string& data_dir,
                                    std::map<std::string, std::string> env) {
  env["ESCROW_ADMIN_PASSWORD"] = "admin-password-1";
  return testing::RunCommand({testing::BinaryPath("escrowd"), "--data-dir", data_dir,
                              "--api-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0"},
                             env, /*timeout_s=*/60);
}

}  // namespace

TEST_CASE("protected master key round trip") {
  testing::TempDir dir;
  const std::string keys_dir = dir.path() + "/keys";
  const std::string path = keys_dir + "/master.key";
  crypto::SecretString passphrase{std::string(kPassphrase)};

  auto created = MasterKey::LoadOrCreate(keys_dir, &passphrase);
  REQUIRE(created.ok());
  auto wrapped = created->Wrap(kAad, "escrow private key");
  REQUIRE(wrapped.ok());

  std::string text = ReadFile(path).value();
  CHECK(text.rfind("escrow-master-key-protected v1\nkdf scrypt n=131072 r=8 p=1 salt=", 0) == 0);
  CHECK(FileMode(path) == 0600);
  CHECK(IsMasterKeyProtected(keys_dir).value());

  SECTION("the right passphrase opens it") {
    auto reloaded = MasterKey::LoadOrCreate(keys_dir, &passphrase);
    REQUIRE(reloaded.ok());
    auto unwrapped = reloaded->Unwrap(kAad, *wrapped);
    REQUIRE(unwrapped.ok());
    CHECK(unwrapped->str() == "escrow private key");
  }
  SECTION("a wrong passphrase fails without echoing it") {
    crypto::SecretString wrong{std::string("wrong horse battery staple")};
    auto reloaded = MasterKey::LoadOrCreate(keys_dir, &wrong);
    REQUIRE_FALSE(reloaded.ok());
    CHECK(reloaded.status().code() == Code::kUnauthenticated);
    CHECK(reloaded.status().message().find("ESCROW_MASTER_PASSPHRASE is wrong") !=
          std::string::npos);
    CHECK(reloaded.status().message().find("wrong horse") == std::string::npos);
  }
  SECTION("no passphrase fails naming the variable") {
    auto reloaded = MasterKey::LoadOrCreate(keys_dir, nullptr);
    REQUIRE_FALSE(reloaded.ok());
    CHECK(reloaded.status().code() == Code::kFailedPrecondition);
    CHECK(reloaded.status().message().find("set ESCROW_MASTER_PASSPHRASE") != std::string::npos);
  }
  SECTION("changed scrypt parameters fail the tag") {
    std::string weaker = text;
    weaker.replace(weaker.find("n=131072"), 8, "n=65536");
    REQUIRE(WriteSecretFile(path, weaker).ok());
    auto reloaded = MasterKey::LoadOrCreate(keys_dir, &passphrase);
    CHECK(reloaded.status().code() == Code::kUnauthenticated);
  }
  SECTION("parameters below the minimum are rejected") {
    std::string weak = text;
    weak.replace(weak.find("n=131072"), 8, "n=1024");
    REQUIRE(WriteSecretFile(path, weak).ok());
    auto reloaded = MasterKey::LoadOrCreate(keys_dir, &passphrase);
    CHECK(reloaded.status().code() == Code::kInvalidArgument);
    CHECK(reloaded.status().message().find("out of range") != std::string::npos);
  }
}

TEST_CASE("plain master key with a passphrase set is rejected") {
  testing::TempDir dir;
  const std::string keys_dir = dir.path() + "/keys";
  REQUIRE(MasterKey::LoadOrCreate(keys_dir, nullptr).ok());
  crypto::SecretString passphrase{std::string(kPassphrase)};
  auto loaded = MasterKey::LoadOrCreate(keys_dir, &passphrase);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().message().find("protect-master-key") != std::string::npos);
  CHECK_FALSE(IsMasterKeyProtected(keys_dir).value());
}

TEST_CASE("short passphrase is rejected for a new key") {
  testing::TempDir dir;
  crypto::SecretString passphrase{std::string("short")};
  auto created = MasterKey::LoadOrCreate(dir.path() + "/keys", &passphrase);
  REQUIRE_FALSE(created.ok());
  CHECK(created.status().code() == Code::kInvalidArgument);
  CHECK_FALSE(FileExists(dir.path() + "/keys/master.key"));
}

TEST_CASE("escrowctl protect-master-key converts a plain key") {
  testing::TempDir dir;
  const std::string keys_dir = dir.path() + "/keys";
  const std::string path = keys_dir + "/master.key";
  auto plain = MasterKey::LoadOrCreate(keys_dir, nullptr);
  REQUIRE(plain.ok());
  auto wrapped = plain->Wrap(kAad, "escrow private key");
  REQUIRE(wrapped.ok());
  const std::string raw_hex = ReadFile(path).value().substr(0, 2 * crypto::kAesKeySize);
  const std::string raw = crypto::HexDecode(raw_hex).value();

  auto result = testing::RunCommand(
      {testing::BinaryPath("escrowctl"), "protect-master-key", "--data-dir", dir.path()},
      {{"ESCROW_MASTER_PASSPHRASE", kPassphrase}});
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find(kPassphrase) == std::string::npos);

  // The file no longer contains the key in hex (either case) or as raw bytes.
  std::string text = ReadFile(path).value();
  CHECK(text.find(raw_hex) == std::string::npos);
  CHECK(Upper(text).find(Upper(raw_hex)) == std::string::npos);
  CHECK(text.find(raw) == std::string::npos);
  CHECK(FileMode(path) == 0600);

  // The same key, so escrow keys wrapped before still open.
  crypto::SecretString passphrase{std::string(kPassphrase)};
  auto reloaded = MasterKey::LoadOrCreate(keys_dir, &passphrase);
  REQUIRE(reloaded.ok());
  auto unwrapped = reloaded->Unwrap(kAad, *wrapped);
  REQUIRE(unwrapped.ok());
  CHECK(unwrapped->str() == "escrow private key");

  SECTION("a second run finds it already protected") {
    auto again = testing::RunCommand(
        {testing::BinaryPath("escrowctl"), "protect-master-key", "--data-dir", dir.path()},
        {{"ESCROW_MASTER_PASSPHRASE", kPassphrase}});
    CHECK(again.exit_code == 1);
    CHECK(again.output.find("already protected") != std::string::npos);
  }
}

TEST_CASE("escrowd start with a protected master key") {
  testing::TempDir dir;
  crypto::SecretString passphrase{std::string(kPassphrase)};
  REQUIRE(MasterKey::LoadOrCreate(dir.path() + "/keys", &passphrase).ok());

  SECTION("without the variable") {
    auto result = StartEscrowd(dir.path(), {});
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("set ESCROW_MASTER_PASSPHRASE to start") != std::string::npos);
  }
  SECTION("with a wrong passphrase") {
    auto result = StartEscrowd(dir.path(), {{"ESCROW_MASTER_PASSPHRASE", "not the passphrase"}});
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("ESCROW_MASTER_PASSPHRASE is wrong") != std::string::npos);
    CHECK(result.output.find("not the passphrase") == std::string::npos);
  }
}

TEST_CASE("escrowd runs with the right passphrase") {
  testing::TempDir dir;
  crypto::SecretString passphrase{std::string(kPassphrase)};
  REQUIRE(MasterKey::LoadOrCreate(dir.path() + "/keys", &passphrase).ok());
  // EscrowdProcess passes its environment on, so the variable reaches escrowd.
  REQUIRE(::setenv("ESCROW_MASTER_PASSPHRASE", kPassphrase, 1) == 0);
  testing::EscrowdProcess server;
  bool started = server.Start(dir.path(), "admin-password-1");
  ::unsetenv("ESCROW_MASTER_PASSPHRASE");
  REQUIRE(started);
  CHECK(server.Stop() == 0);
}
