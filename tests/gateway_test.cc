#include "device-gateway/gateway.h"

#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <memory>
#include <string>

#include "api/http/http.h"
#include "device-gateway/device_client.h"
#include "ledger/crypto.h"
#include "ledger/envelope.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/projector.h"
#include "projections/service.h"
#include "tests/test_support.h"

namespace escrow {
namespace {

namespace json = boost::json;

constexpr int64_t kTokenTtlNs = int64_t{3600} * 1'000'000'000;

// The real stack in one process: Store in a temp dir, sequencer with the
// projections applier, the service, and the gateway on 127.0.0.1:0.
class GatewayStack {
 public:
  GatewayStack() {
    auto store = ledger::Store::Open(dir_.path());
    REQUIRE(store.ok());
    store_ = std::move(store).value();
    auto signing = ledger::SigningKey::LoadOrCreate(store_->keys_dir());
    REQUIRE(signing.ok());
    signing_ = std::make_unique<ledger::SigningKey>(std::move(signing).value());
    auto master = ledger::MasterKey::LoadOrCreate(store_->keys_dir());
    REQUIRE(master.ok());
    master_ = std::make_unique<ledger::MasterKey>(std::move(master).value());

    sequencer_ = std::make_unique<ledger::Sequencer>(store_.get(), signing_.get(),
                                                     projections::Apply,
                                                     ledger::Sequencer::Options{});
    REQUIRE(sequencer_->Start().ok());
    service_ = std::make_unique<projections::EscrowService>(store_.get(), sequencer_.get(),
                                                            master_.get());
    REQUIRE(service_->EnsureInitialPolicy().ok());

    server_ = std::make_unique<http::Server>(
        "gateway", gateway::MakeGatewayHandler(store_.get(), service_.get(), &metrics_),
        http::ServerLimits{});
    REQUIRE(server_->Listen("127.0.0.1", 0).ok());
    client_ = std::make_unique<http::Client>("127.0.0.1", server_->port());
  }

  ~GatewayStack() {
    server_->Stop();
    sequencer_->Stop();
  }

  // Registers device_id for owner "alice" and returns its enrollment token.
  crypto::SecretString Register(const std::string& device_id) {
    projections::Principal system{"system", {"admin"}};
    auto registered = service_->RegisterDevice(system, device_id, "alice", kTokenTtlNs);
    REQUIRE(registered.ok());
    return std::move(registered->enrollment_token);
  }

  // Registers and enrolls a device through the gateway.
  void Enroll(device::DeviceIdentity* identity) {
    crypto::SecretString token = Register(identity->device_id);
    device::GatewayClient device(client_.get(), identity, "");
    auto enrolled = device.Enroll(token);
    INFO(enrolled.status().ToString());
    REQUIRE(enrolled.ok());
  }

  // Retrieves the current recovery password as a help-desk technician.
  crypto::SecretString Retrieve(const std::string& device_id) {
    projections::Principal helpdesk{"tech-1", {"helpdesk"}};
    auto retrieval = service_->Retrieve(helpdesk, {device_id, "console", "ticket-1"});
    INFO(retrieval.status().ToString());
    REQUIRE(retrieval.ok());
    return std::move(retrieval->recovery_password);
  }

  uint64_t LastSeq() {
    auto seq = store_->LastSeq();
    REQUIRE(seq.ok());
    return *seq;
  }

  http::Client& client() { return *client_; }
  gateway::GatewayMetrics& metrics() { return metrics_; }

 private:
  testing::TempDir dir_;
  std::unique_ptr<ledger::Store> store_;
  std::unique_ptr<ledger::SigningKey> signing_;
  std::unique_ptr<ledger::MasterKey> master_;
  std::unique_ptr<ledger::Sequencer> sequencer_;
  std::unique_ptr<projections::EscrowService> service_;
  gateway::GatewayMetrics metrics_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Client> client_;
};

// Sends body to path, signed with signing_key (the device's own by default).
http::Response SignedPost(http::Client& client, std::string_view path, const json::object& body,
                          std::string_view signing_key) {
  std::string text = json::serialize(body);
  auto signature =
      crypto::Ed25519Sign(signing_key, gateway::SigningMessage("POST", path, text));
  REQUIRE(signature.ok());
  auto response = client.Send("POST", std::string(path), text,
                              {{"X-Device-Signature", crypto::Base64Encode(*signature)}});
  REQUIRE(response.ok());
  return std::move(response).value();
}

json::object CheckInBody(const device::DeviceIdentity& identity, uint64_t counter) {
  return json::object{{"device_id", identity.device_id}, {"counter", counter},
                      {"client_installed", true},        {"generation", identity.generation},
                      {"armed", identity.armed}};
}

json::object EscrowBody(const device::DeviceIdentity& identity, uint64_t counter,
                        uint64_t generation, std::string_view envelope) {
  return json::object{{"device_id", identity.device_id},
                      {"counter", counter},
                      {"generation", generation},
                      {"envelope", crypto::Base64Encode(envelope)}};
}

std::string SealedEnvelope(const device::DeviceIdentity& identity, uint64_t generation) {
  crypto::SecretString digits = crypto::RandomDigits(ledger::kRecoveryPasswordDigits);
  auto envelope = ledger::SealRecoveryPassword(identity.escrow_public_key, identity.device_id,
                                               generation, digits.view());
  REQUIRE(envelope.ok());
  return *envelope;
}

json::object ReplyObject(const http::Response& response) {
  json::value value = json::parse(response.body);
  REQUIRE(value.is_object());
  return value.as_object();
}

TEST_CASE("enroll checks the token", "[gateway]") {
  GatewayStack stack;

  SECTION("valid token") {
    device::DeviceIdentity identity = device::NewDeviceIdentity("phone-1");
    crypto::SecretString token = stack.Register("phone-1");
    device::GatewayClient device(&stack.client(), &identity, "");
    auto enrolled = device.Enroll(token);
    INFO(enrolled.status().ToString());
    REQUIRE(enrolled.ok());
    CHECK(identity.enrolled);
    CHECK(identity.escrow_public_key.size() == crypto::kX25519KeySize);
    CHECK(enrolled->escrow_key_id.starts_with("x25519:"));
    CHECK(enrolled->policy.reset_mode == "mdm");
    CHECK(enrolled->seq > 0);
  }

  SECTION("wrong token") {
    device::DeviceIdentity identity = device::NewDeviceIdentity("phone-2");
    crypto::SecretString real_token = stack.Register("phone-2");
    crypto::SecretString wrong_token(std::string(real_token.size(), 'A'));
    device::GatewayClient device(&stack.client(), &identity, "");
    uint64_t before = stack.LastSeq();
    auto enrolled = device.Enroll(wrong_token);
    REQUIRE_FALSE(enrolled.ok());
    CHECK(enrolled.status().code() == Code::kUnauthenticated);
    CHECK(stack.LastSeq() == before);
  }
}

TEST_CASE("foreign signature is rejected", "[gateway]") {
  GatewayStack stack;
  device::DeviceIdentity identity = device::NewDeviceIdentity("phone-1");
  stack.Enroll(&identity);

  crypto::KeyPair other = crypto::GenerateEd25519();
  http::Response response = SignedPost(stack.client(), gateway::kCheckInPath,
                                       CheckInBody(identity, identity.counter + 1),
                                       other.private_key.view());
  CHECK(response.status == 401);
  json::object reply = ReplyObject(response);
  CHECK(reply["error"] == "unauthenticated");
  CHECK(reply["message"] == "invalid device signature");
  CHECK(stack.metrics().rejected_signature == 1);

  SECTION("missing signature header") {
    auto unsigned_reply = stack.client().Send(
        "POST", std::string(gateway::kCheckInPath),
        json::serialize(CheckInBody(identity, identity.counter + 1)));
    REQUIRE(unsigned_reply.ok());
    CHECK(unsigned_reply->status == 401);
    CHECK(ReplyObject(*unsigned_reply)["message"] == "missing X-Device-Signature header");
  }
}

TEST_CASE("replayed counter writes nothing", "[gateway]") {
  GatewayStack stack;
  device::DeviceIdentity identity = device::NewDeviceIdentity("phone-1");
  stack.Enroll(&identity);

  json::object body = EscrowBody(identity, identity.counter + 1, 1, SealedEnvelope(identity, 1));
  http::Response first =
      SignedPost(stack.client(), gateway::kRecoveryPasswordPath, body, identity.private_key.view());
  REQUIRE(first.status == 200);
  uint64_t seq_after_first = stack.LastSeq();

  http::Response replay =
      SignedPost(stack.client(), gateway::kRecoveryPasswordPath, body, identity.private_key.view());
  CHECK(replay.status == 409);
  json::object reply = ReplyObject(replay);
  CHECK(reply["error"] == "conflict");
  CHECK(std::string(reply["message"].as_string()).starts_with("replayed request"));
  CHECK(stack.LastSeq() == seq_after_first);
  CHECK(stack.metrics().replayed == 1);
}

TEST_CASE("malformed request is 400", "[gateway]") {
  GatewayStack stack;
  device::DeviceIdentity identity = device::NewDeviceIdentity("phone-1");
  stack.Enroll(&identity);
  uint64_t before = stack.LastSeq();

  auto post_text = [&](const std::string& text) {
    auto signature = crypto::Ed25519Sign(
        identity.private_key.view(), gateway::SigningMessage("POST", gateway::kEventsPath, text));
    REQUIRE(signature.ok());
    auto response = stack.client().Send("POST", std::string(gateway::kEventsPath), text,
                                        {{"X-Device-Signature", crypto::Base64Encode(*signature)}});
    REQUIRE(response.ok());
    return std::move(response).value();
  };

  SECTION("not JSON") {
    http::Response response = post_text("{\"device_id\": \"phone-1\", ");
    CHECK(response.status == 400);
    CHECK(ReplyObject(response)["error"] == "invalid_argument");
  }
  SECTION("JSON array") {
    CHECK(post_text("[1, 2]").status == 400);
  }
  SECTION("nested too deep") {
    CHECK(post_text("{\"device_id\": [[[[[[1]]]]]]}").status == 400);
  }
  SECTION("negative counter") {
    http::Response response =
        post_text(R"({"device_id": "phone-1", "counter": -5, "event": "armed", "generation": 1})");
    CHECK(response.status == 400);
    CHECK(ReplyObject(response)["message"] == "field \"counter\" must be an unsigned integer");
  }
  SECTION("missing event") {
    http::Response response = post_text(R"({"device_id": "phone-1", "counter": 50})");
    CHECK(response.status == 400);
    CHECK(ReplyObject(response)["message"] == "field \"event\" is missing");
  }
  SECTION("invalid device id") {
    CHECK(post_text(R"({"device_id": "Phone 1", "counter": 50, "event": "armed"})").status ==
          400);
  }
  SECTION("bad envelope") {
    json::object body = EscrowBody(identity, 50, 1, "too short");
    CHECK(SignedPost(stack.client(), gateway::kRecoveryPasswordPath, body,
                     identity.private_key.view())
              .status == 400);
  }
  CHECK(stack.LastSeq() == before);
}

TEST_CASE("unknown device is 404", "[gateway]") {
  GatewayStack stack;
  device::DeviceIdentity stranger = device::NewDeviceIdentity("nobody-9");
  http::Response response = SignedPost(stack.client(), gateway::kCheckInPath,
                                       CheckInBody(stranger, 1), stranger.private_key.view());
  CHECK(response.status == 404);
  CHECK(ReplyObject(response)["error"] == "not_found");
}

TEST_CASE("unknown path, method and size", "[gateway]") {
  GatewayStack stack;

  auto unknown = stack.client().Send("POST", "/gw/v1/unknown", "{}");
  REQUIRE(unknown.ok());
  CHECK(unknown->status == 404);

  auto get = stack.client().Send("GET", std::string(gateway::kCheckInPath), "");
  REQUIRE(get.ok());
  CHECK(get->status == 405);
  CHECK(ReplyObject(*get)["error"] == "method_not_allowed");

  auto large = stack.client().Send("POST", std::string(gateway::kCheckInPath),
                                   std::string(gateway::kMaxBodyBytes + 1, ' '));
  REQUIRE(large.ok());
  CHECK(large->status == 413);
  CHECK(ReplyObject(*large)["error"] == "too_large");
}

TEST_CASE("identical escrow retry is idempotent", "[gateway]") {
  GatewayStack stack;
  device::DeviceIdentity identity = device::NewDeviceIdentity("phone-1");
  stack.Enroll(&identity);
  std::string envelope = SealedEnvelope(identity, 1);

  http::Response first = SignedPost(stack.client(), gateway::kRecoveryPasswordPath,
                                    EscrowBody(identity, identity.counter + 1, 1, envelope),
                                    identity.private_key.view());
  REQUIRE(first.status == 200);
  json::object first_reply = ReplyObject(first);
  CHECK(first_reply["already_escrowed"] == false);
  uint64_t seq_after_first = stack.LastSeq();

  http::Response retry = SignedPost(stack.client(), gateway::kRecoveryPasswordPath,
                                    EscrowBody(identity, identity.counter + 2, 1, envelope),
                                    identity.private_key.view());
  REQUIRE(retry.status == 200);
  json::object retry_reply = ReplyObject(retry);
  CHECK(retry_reply["already_escrowed"] == true);
  CHECK(retry_reply["generation"] == 1);
  CHECK(retry_reply["seq"] == first_reply["seq"]);
  CHECK(stack.LastSeq() == seq_after_first);
}

TEST_CASE("different envelope is a conflict", "[gateway]") {
  GatewayStack stack;
  device::DeviceIdentity identity = device::NewDeviceIdentity("phone-1");
  stack.Enroll(&identity);

  http::Response first = SignedPost(
      stack.client(), gateway::kRecoveryPasswordPath,
      EscrowBody(identity, identity.counter + 1, 1, SealedEnvelope(identity, 1)),
      identity.private_key.view());
  REQUIRE(first.status == 200);
  uint64_t seq_after_first = stack.LastSeq();

  http::Response other = SignedPost(
      stack.client(), gateway::kRecoveryPasswordPath,
      EscrowBody(identity, identity.counter + 2, 1, SealedEnvelope(identity, 1)),
      identity.private_key.view());
  CHECK(other.status == 409);
  CHECK(ReplyObject(other)["error"] == "conflict");
  CHECK(stack.LastSeq() == seq_after_first);
}

TEST_CASE("check-in requests password until escrowed", "[gateway]") {
  GatewayStack stack;
  device::DeviceIdentity identity = device::NewDeviceIdentity("phone-1");
  stack.Enroll(&identity);
  device::GatewayClient device(&stack.client(), &identity, "");

  auto before = device.CheckIn();
  REQUIRE(before.ok());
  CHECK(before->HasAction(device::kActionEscrowNewPassword));
  CHECK(before->server_generation == 0);

  auto escrowed = device.EscrowNewPassword();
  INFO(escrowed.status().ToString());
  REQUIRE(escrowed.ok());
  CHECK(escrowed->generation == 1);
  CHECK(identity.generation == 1);

  auto after = device.CheckIn();
  REQUIRE(after.ok());
  CHECK_FALSE(after->HasAction(device::kActionEscrowNewPassword));
  CHECK(after->server_generation == 1);
}

TEST_CASE("device client reset checks password", "[gateway]") {
  GatewayStack stack;
  device::DeviceIdentity identity = device::NewDeviceIdentity("phone-1");
  stack.Enroll(&identity);
  device::GatewayClient device(&stack.client(), &identity, "");
  REQUIRE(device.EscrowNewPassword().ok());
  REQUIRE(device.Arm().ok());
  CHECK(identity.armed);

  // The device keeps only a hash, so a wrong password must not match.
  auto wrong = device.Reset("00000-00000-00000-00000", true);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().message() == "recovery password does not match");
  CHECK(identity.generation == 1);

  auto malformed = device.CheckRecoveryPassword("12345");
  CHECK_FALSE(malformed.ok());

  // The retrieved password matches, and the reset escrows generation 2.
  crypto::SecretString retrieved = stack.Retrieve("phone-1");
  auto matches = device.CheckRecoveryPassword(retrieved.view());
  REQUIRE(matches.ok());
  CHECK(*matches);
  auto reset = device.Reset(retrieved.view(), true);
  INFO(reset.status().ToString());
  REQUIRE(reset.ok());
  CHECK(reset->reset.seq > 0);
  CHECK(reset->check_in.HasAction(device::kActionEscrowNewPassword));
  CHECK(reset->escrowed);
  CHECK(reset->escrow.generation == 2);
  CHECK(identity.generation == 2);
  CHECK_FALSE(identity.armed);
}

}  // namespace
}  // namespace escrow
