#include "tests/api_stack.h"

#include <catch2/catch.hpp>

#include "ledger/envelope.h"
#include "projections/projector.h"

namespace escrow::testing {
namespace json = boost::json;

ApiStack::ApiStack(Options options) : now_ns_(options.start_ns) {
  // Step 1: the data directory and its keys.
  auto store = ledger::Store::Open(data_dir());
  REQUIRE(store.ok());
  store_ = std::move(*store);
  auto signing = ledger::SigningKey::LoadOrCreate(store_->keys_dir());
  REQUIRE(signing.ok());
  signing_.emplace(std::move(*signing));
  auto master = ledger::MasterKey::LoadOrCreate(store_->keys_dir());
  REQUIRE(master.ok());
  master_.emplace(std::move(*master));

  // Step 2: the sequencer and the escrow service with its first policy.
  sequencer_ = std::make_unique<ledger::Sequencer>(store_.get(), &*signing_, projections::Apply,
                                                   ledger::Sequencer::Options{});
  REQUIRE(sequencer_->Start().ok());
  service_ = std::make_unique<projections::EscrowService>(store_.get(), sequencer_.get(),
                                                          &*master_);
  REQUIRE(service_->EnsureInitialPolicy().ok());
  checkpointer_ = std::make_unique<ledger::Checkpointer>(store_.get(), &*signing_,
                                                         ledger::Checkpointer::Options{});

  // Step 3: the Api on a loopback port, and a client for it.
  api::Api::Options api_options;
  api_options.clock = [this] { return now_ns_.load(); };
  api_options.password_log_n = options.password_log_n;
  api_options.rate_limits = options.rate_limits;
  api_options.write_checkpoint = [this] { return checkpointer_->WriteNow(); };
  api_ = std::make_unique<api::Api>(store_.get(), service_.get(), sequencer_.get(), api_options);
  server_ = std::make_unique<http::Server>(
      "api", [this](const http::Request& r) { return api_->Handle(r); }, http::ServerLimits{});
  REQUIRE(server_->Listen("127.0.0.1", 0).ok());
  client_ = std::make_unique<http::Client>("127.0.0.1", server_->port());
}

ApiStack::~ApiStack() { Shutdown(); }

void ApiStack::Shutdown() {
  client_.reset();
  if (server_) server_->Stop();
  server_.reset();
  api_.reset();
  service_.reset();
  checkpointer_.reset();
  if (sequencer_) sequencer_->Stop();
  sequencer_.reset();
  store_.reset();
}

ApiReply ApiStack::Send(const std::string& method, const std::string& target,
                        const std::string& body, const std::string& token) {
  std::map<std::string, std::string> headers;
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  auto response = client_->Send(method, target, body, headers);
  REQUIRE(response.ok());
  ApiReply reply;
  reply.status = response->status;
  reply.raw = response->body;
  reply.headers = response->headers;
  boost::system::error_code ec;
  json::value parsed = json::parse(reply.raw, ec);
  if (!ec && parsed.is_object()) reply.body = parsed.as_object();
  return reply;
}

void ApiStack::EscrowDevice(const std::string& device_id, const std::string& owner,
                            const std::string& digits) {
  auto registered = service_->RegisterDevice(api::SystemPrincipal(), device_id, owner,
                                             int64_t{3600} * 1'000'000'000);
  REQUIRE(registered.ok());
  crypto::KeyPair device_key = crypto::GenerateEd25519();

  projections::EnrollRequest enroll;
  enroll.enrollment_token = registered->enrollment_token.str();
  enroll.os_version = "7.0";
  enroll.client_version = "1.0";
  enroll.device_public_key = device_key.public_key;
  enroll.origin = SignedOrigin(device_key, device_id, 1, "/gw/v1/enroll");
  auto enrolled = service_->Enroll(enroll);
  REQUIRE(enrolled.ok());

  auto envelope = ledger::SealRecoveryPassword(enrolled->escrow_public_key, device_id, 1, digits);
  REQUIRE(envelope.ok());
  projections::EscrowRequest escrow;
  escrow.generation = 1;
  escrow.envelope = *envelope;
  escrow.origin = SignedOrigin(device_key, device_id, 2, "/gw/v1/recovery-password");
  REQUIRE(service_->Escrow(escrow).ok());
}

projections::DeviceOrigin ApiStack::SignedOrigin(const crypto::KeyPair& key,
                                                 const std::string& device_id, uint64_t counter,
                                                 const std::string& path) {
  std::string body = json::serialize(json::object{{"device_id", device_id}, {"counter", counter}});
  projections::DeviceOrigin origin;
  origin.device_id = device_id;
  origin.counter = counter;
  origin.request_bytes = "POST " + path + "\n" + body;
  auto signature = crypto::Ed25519Sign(key.private_key.view(),
                                       "escrow-gateway/v1\nPOST\n" + path + "\n" + body);
  REQUIRE(signature.ok());
  origin.signature = *signature;
  return origin;
}

}  // namespace escrow::testing
