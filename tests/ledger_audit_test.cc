// The verifiable ledger end to end, on a data directory written by the real
// escrowd and escrow-device fleet. Proofs fetched from the API are checked by
// the real escrowctl. A tamper suite damages copies of the data directory, and
// a replay of the export is compared with the live projections.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "api/http/http.h"
#include "ledger/checkpoint.h"
#include "ledger/checkpointer.h"
#include "ledger/crypto.h"
#include "ledger/entry.h"
#include "ledger/keys.h"
#include "ledger/merkle.h"
#include "ledger/store.h"
#include "tests/test_support.h"

namespace escrow {
namespace {

namespace json = boost::json;
using ledger::Cf;

constexpr const char* kAdminPassword = "ledger-audit-admin-password";
constexpr int kDevices = 4;
// The entry every tamper case damages; the fleet writes far more than this.
constexpr uint64_t kTamperSeq = 5;

std::map<std::string, std::string> ClientEnvironment(const testing::EscrowdProcess& server) {
  return {{"ESCROW_SERVER", server.api_address()},
          {"ESCROW_GATEWAY", server.gateway_address()},
          {"ESCROW_USER", "admin"},
          {"ESCROW_PASSWORD", kAdminPassword}};
}

const std::vector<std::string> kServerArgs = {"--checkpoint-every-entries", "5",
                                              "--checkpoint-every-seconds", "1"};

// A data directory written by escrowd and a small fleet, with the server
// stopped (so a final checkpoint covers every entry). Built once per run.
struct FleetData {
  testing::TempDir dir;
  std::string data_dir;
  FleetData() : data_dir(dir.path() + "/data") {
    testing::EscrowdProcess server;
    REQUIRE(server.Start(data_dir, kAdminPassword, kServerArgs));
    testing::CommandResult fleet = testing::RunCommand(
        {testing::BinaryPath("escrow-device"), "fleet", "--devices", std::to_string(kDevices),
         "--id-prefix", "audit"},
        ClientEnvironment(server));
    INFO(fleet.output);
    REQUIRE(fleet.exit_code == 0);
    REQUIRE(server.Stop() == 0);
  }
};

const FleetData& Fleet() {
  static std::unique_ptr<FleetData> fleet;
  if (!fleet) fleet = std::make_unique<FleetData>();
  return *fleet;
}

// Copies the fleet data directory to dir/name and returns its path.
std::string CopyFleet(const testing::TempDir& dir, const std::string& name) {
  std::string copy = dir.path() + "/" + name;
  std::filesystem::copy(Fleet().data_dir, copy, std::filesystem::copy_options::recursive);
  return copy;
}

// Signs in as admin and sends GET requests with the token.
class AdminClient {
 public:
  explicit AdminClient(const testing::EscrowdProcess& server)
      : client_(server.ApiClient()) {
    json::object login{{"username", "admin"}, {"password", kAdminPassword}};
    auto reply = client_.Send("POST", "/v1/sessions", json::serialize(login));
    REQUIRE(reply.ok());
    REQUIRE(reply->status == 200);
    token_ = std::string(json::parse(reply->body).at("token").as_string());
  }
  http::Response Get(const std::string& target) {
    auto reply = client_.Send("GET", target, "", {{"Authorization", "Bearer " + token_}});
    REQUIRE(reply.ok());
    return *reply;
  }
  json::object GetJson(const std::string& target) {
    http::Response reply = Get(target);
    INFO(target << " -> " << reply.body);
    REQUIRE(reply.status == 200);
    return json::parse(reply.body).as_object();
  }

 private:
  http::Client client_;
  std::string token_;
};

std::string Str(const json::value& value) { return std::string(value.as_string()); }

std::string JoinProof(const json::value& proof) {
  std::string out;
  for (const auto& hash : proof.as_array()) out += (out.empty() ? "" : ",") + Str(hash);
  return out;
}

// Flips the first hex digit of a hash ('0' <-> '1', anything else -> '0').
std::string FlipHex(std::string hex) {
  hex[0] = hex[0] == '0' ? '1' : '0';
  return hex;
}

testing::CommandResult Escrowctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {testing::BinaryPath("escrowctl")};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::RunCommand(argv);
}

testing::CommandResult VerifyDataDir(const std::string& data_dir) {
  return Escrowctl({"verify", "--data-dir", data_dir});
}

std::unique_ptr<ledger::Store> OpenStore(const std::string& data_dir) {
  auto store = ledger::Store::Open(data_dir, ledger::Store::Options{false, false});
  REQUIRE(store.ok());
  return std::move(*store);
}

std::string ReadEntry(const ledger::Store& store, uint64_t seq) {
  auto bytes = store.ReadEntry(seq);
  REQUIRE(bytes.ok());
  REQUIRE(bytes->has_value());
  return **bytes;
}

void PutEntry(ledger::Store& store, const std::string& key, const std::string& bytes) {
  REQUIRE(store.Put(Cf::kLedger, key, bytes).ok());
}

}  // namespace

TEST_CASE("API proofs verify with escrowctl", "[audit]") {
  testing::TempDir dir;
  std::string data_dir = CopyFleet(dir, "proofs");
  testing::EscrowdProcess server;
  REQUIRE(server.Start(data_dir, kAdminPassword, kServerArgs));
  AdminClient admin(server);

  json::object latest = admin.GetJson("/v1/checkpoints/latest");
  uint64_t size = latest.at("tree_size").to_number<uint64_t>();
  REQUIRE(size > kTamperSeq);
  CHECK(admin.GetJson("/v1/checkpoints/" + std::to_string(size)).at("note") == latest.at("note"));

  SECTION("inclusion") {
    json::object proof = admin.GetJson("/v1/proofs/inclusion?seq=3&tree_size=" + std::to_string(size));
    CHECK(proof.at("leaf_index").to_number<uint64_t>() == 2);
    CHECK(proof.at("root") == latest.at("root"));
    std::vector<std::string> args = {"verify-inclusion", "--leaf-index", "2", "--tree-size",
                                     std::to_string(size), "--root", Str(proof.at("root")),
                                     "--proof", JoinProof(proof.at("proof"))};
    auto with_leaf = [&](const std::string& leaf) {
      std::vector<std::string> all = args;
      all.insert(all.end(), {"--leaf-hash", leaf});
      return Escrowctl(all);
    };
    testing::CommandResult good = with_leaf(Str(proof.at("leaf_hash")));
    INFO(good.output);
    CHECK(good.exit_code == 0);
    CHECK(good.output.find("holds") != std::string::npos);
    testing::CommandResult bad = with_leaf(FlipHex(Str(proof.at("leaf_hash"))));
    INFO(bad.output);
    CHECK(bad.exit_code == 1);
    CHECK(bad.output.find("does not hold") != std::string::npos);
  }
  SECTION("consistency, including the empty proof of equal sizes") {
    json::object proof = admin.GetJson("/v1/proofs/consistency?size1=5&size2=" + std::to_string(size));
    CHECK(proof.at("root2") == latest.at("root"));
    std::vector<std::string> args = {"verify-consistency", "--size1", "5", "--size2",
                                     std::to_string(size), "--root2", Str(proof.at("root2")),
                                     "--proof", JoinProof(proof.at("proof"))};
    auto with_root1 = [&](const std::string& root1) {
      std::vector<std::string> all = args;
      all.insert(all.end(), {"--root1", root1});
      return Escrowctl(all);
    };
    testing::CommandResult good = with_root1(Str(proof.at("root1")));
    INFO(good.output);
    CHECK(good.exit_code == 0);
    testing::CommandResult bad = with_root1(FlipHex(Str(proof.at("root1"))));
    INFO(bad.output);
    CHECK(bad.exit_code == 1);
    CHECK(bad.output.find("does not hold") != std::string::npos);

    std::string root = Str(latest.at("root"));
    testing::CommandResult same = Escrowctl({"verify-consistency", "--size1", std::to_string(size),
                                             "--size2", std::to_string(size), "--root1", root,
                                             "--root2", root, "--proof", ""});
    INFO(same.output);
    CHECK(same.exit_code == 0);
  }
  SECTION("receipts of retrievals verify against their checkpoint") {
    json::object audit = admin.GetJson("/v1/audit?limit=1");
    REQUIRE(audit.at("records").as_array().size() == 1);
    uint64_t seq = audit.at("records").as_array()[0].at("seq").to_number<uint64_t>();
    json::object receipt = admin.GetJson("/v1/receipts/" + std::to_string(seq)).at("receipt").as_object();
    REQUIRE(receipt.at("tree_size").is_number());
    std::vector<std::string> proof;
    for (const auto& hash : receipt.at("proof").as_array()) {
      proof.push_back(crypto::HexDecode(Str(hash)).value());
    }
    CHECK(ledger::VerifyInclusion(seq - 1, receipt.at("tree_size").to_number<uint64_t>(),
                                  crypto::HexDecode(Str(receipt.at("leaf_hash"))).value(), proof,
                                  crypto::HexDecode(Str(receipt.at("root"))).value())
              .ok());
    CHECK(Str(receipt.at("checkpoint")).find(std::to_string(receipt.at("tree_size").to_number<uint64_t>())) !=
          std::string::npos);
  }
  SECTION("bad parameters name the parameter") {
    http::Response above = admin.Get("/v1/proofs/inclusion?seq=1&tree_size=" + std::to_string(size + 100));
    CHECK(above.status == 400);
    CHECK(above.body.find("tree_size") != std::string::npos);
    http::Response missing = admin.Get("/v1/proofs/consistency?size1=2");
    CHECK(missing.status == 400);
    CHECK(missing.body.find("size2") != std::string::npos);
    http::Response wide = admin.Get("/v1/ledger/entries?from=1&to=5000");
    CHECK(wide.status == 400);
    CHECK(wide.body.find("\\\"to\\\"") != std::string::npos);
  }
  SECTION("entries by range carry stored bytes and decoded JSON") {
    json::object page = admin.GetJson("/v1/ledger/entries?from=2&to=4");
    REQUIRE(page.at("entries").as_array().size() == 3);
    const json::object& first = page.at("entries").as_array()[0].as_object();
    CHECK(first.at("seq").to_number<uint64_t>() == 2);
    std::string bytes = crypto::Base64Decode(Str(first.at("bytes"))).value();
    auto decoded = ledger::DecodeEntry(bytes);
    REQUIRE(decoded.ok());
    CHECK(decoded->entry.seq == 2);
  }
  REQUIRE(server.Stop() == 0);
}

TEST_CASE("verify names first tampered seq", "[audit]") {
  REQUIRE(VerifyDataDir(Fleet().data_dir).exit_code == 0);
  testing::TempDir dir;
  std::string data_dir = CopyFleet(dir, "tampered");
  std::string expected = "verification failed at seq " + std::to_string(kTamperSeq) + ":";
  {
    auto store = OpenStore(data_dir);
    std::string key = ledger::SeqKey(kTamperSeq);

    SECTION("a payload byte changed") {
      std::string bytes = ReadEntry(*store, kTamperSeq);
      auto decoded = ledger::DecodeEntry(bytes);
      REQUIRE(decoded.ok());
      REQUIRE(!decoded->entry.payload.empty());
      size_t at = bytes.find(decoded->entry.payload) + decoded->entry.payload.size() / 2;
      bytes[at] ^= 0x01;
      PutEntry(*store, key, bytes);
    }
    SECTION("an entry deleted") {
      REQUIRE(store->Delete(Cf::kLedger, key).ok());
    }
    SECTION("an entry inserted between two others") {
      // A key that sorts between seq 4 and seq 5, holding a copy of entry 4.
      PutEntry(*store, ledger::SeqKey(kTamperSeq - 1) + std::string(1, '\0'),
               ReadEntry(*store, kTamperSeq - 1));
    }
    SECTION("two entries reordered") {
      std::string a = ReadEntry(*store, kTamperSeq);
      std::string b = ReadEntry(*store, kTamperSeq + 1);
      PutEntry(*store, key, b);
      PutEntry(*store, ledger::SeqKey(kTamperSeq + 1), a);
    }
    SECTION("an entry re-signed with a different key") {
      std::string bytes = ReadEntry(*store, kTamperSeq);
      auto decoded = ledger::DecodeEntry(bytes);
      REQUIRE(decoded.ok());
      ledger::SigningKey other =
          ledger::SigningKey::FromPrivate(crypto::GenerateEd25519().private_key);
      std::string body(decoded->body);
      auto signature = other.Sign(ledger::SignatureMessage(ledger::LeafHash(body)));
      REQUIRE(signature.ok());
      PutEntry(*store, key, body + *signature);
    }
    SECTION("the tail truncated") {
      uint64_t last = store->LastSeq().value();
      for (uint64_t seq = kTamperSeq; seq <= last; ++seq) {
        REQUIRE(store->Delete(Cf::kLedger, ledger::SeqKey(seq)).ok());
      }
    }
  }
  testing::CommandResult verify = VerifyDataDir(data_dir);
  INFO(verify.output);
  CHECK(verify.exit_code == 1);
  CHECK(verify.output.find(expected) != std::string::npos);
}

TEST_CASE("replay equals live projections", "[audit]") {
  testing::TempDir dir;
  std::string data_dir = CopyFleet(dir, "replay");
  std::string file = dir.path() + "/ledger.escledg";
  testing::CommandResult exported = Escrowctl({"export", "--data-dir", data_dir, "--out", file});
  INFO(exported.output);
  REQUIRE(exported.exit_code == 0);

  testing::CommandResult verified = Escrowctl({"verify", "--ledger", file});
  INFO(verified.output);
  CHECK(verified.exit_code == 0);
  CHECK(verified.output.find("entries/s") != std::string::npos);

  std::string live_digest;
  uint64_t last = 0;
  uint64_t first_checkpoint = 0;
  {
    auto store = OpenStore(data_dir);
    live_digest = crypto::HexEncode(ledger::ProjectionDigest(*store, nullptr));
    last = store->LastSeq().value();
    auto it = store->NewIterator(Cf::kCheckpoints);
    it->SeekToFirst();
    REQUIRE(it->Valid());
    first_checkpoint = ledger::SeqFromKey(it->key().ToStringView());
  }
  REQUIRE(ledger::FirstCheckpointCovering(*OpenStore(data_dir), last).value().has_value());

  SECTION("whole ledger") {
    testing::CommandResult replay = Escrowctl({"replay", "--ledger", file, "--json"});
    INFO(replay.output);
    REQUIRE(replay.exit_code == 0);
    json::object out = json::parse(replay.output.substr(replay.output.rfind("{\"entries\""))).as_object();
    CHECK(out.at("entries").to_number<uint64_t>() == last);
    CHECK(Str(out.at("state_digest")) == live_digest);
    CHECK(Str(out.at("checkpoint")) == "state digest matches checkpoint at size " + std::to_string(last));
    CHECK(out.at("devices").as_array().size() == kDevices);
  }
  SECTION("up to the first checkpoint") {
    testing::CommandResult replay =
        Escrowctl({"replay", "--ledger", file, "--until-seq", std::to_string(first_checkpoint)});
    INFO(replay.output);
    CHECK(replay.exit_code == 0);
    CHECK(replay.output.find("state digest matches checkpoint at size " +
                             std::to_string(first_checkpoint)) != std::string::npos);
  }
  SECTION("a tampered export is rejected with the seq") {
    {
      auto store = OpenStore(data_dir);
      std::string bytes = ReadEntry(*store, kTamperSeq);
      bytes[bytes.size() - 1] ^= 0x01;  // a signature byte
      PutEntry(*store, ledger::SeqKey(kTamperSeq), bytes);
    }
    std::string bad = dir.path() + "/bad.escledg";
    REQUIRE(Escrowctl({"export", "--data-dir", data_dir, "--out", bad}).exit_code == 0);
    testing::CommandResult replay = Escrowctl({"replay", "--ledger", bad});
    INFO(replay.output);
    CHECK(replay.exit_code == 1);
    CHECK(replay.output.find("verification failed at seq " + std::to_string(kTamperSeq)) !=
          std::string::npos);
  }
}

}  // namespace escrow
