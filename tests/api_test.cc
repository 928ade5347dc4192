// The API over real HTTP on 127.0.0.1: sessions, role checks, retrieval,
// audit of denials, list routes without secrets, errors and metrics. The
// stack is real: RocksDB in a temp dir, the sequencer, EscrowService and
// http::Server; only the session clock is injected.
#include "api/api.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <boost/json.hpp>
#include <cstdlib>
#include <memory>
#include <optional>

#include "api/auth.h"
#include "api/http/http.h"
#include "api/time_format.h"
#include "ledger/envelope.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/projector.h"
#include "projections/service.h"
#include "tests/test_support.h"

using namespace escrow;
namespace json = boost::json;

namespace {

constexpr int64_t kStartNs = 1'700'000'000'000'000'000;
constexpr const char* kDigits = "12345678901234567890";
constexpr const char* kFormatted = "12345-67890-12345-67890";
constexpr const char* kPassword = "correct horse battery";

struct Reply {
  int status = 0;
  std::string raw;
  json::object body;
};

// The whole API stack on one data directory.
class ApiStack {
 public:
  ApiStack() {
    auto store = ledger::Store::Open(dir_.path());
    REQUIRE(store.ok());
    store_ = std::move(*store);
    auto signing = ledger::SigningKey::LoadOrCreate(store_->keys_dir());
    REQUIRE(signing.ok());
    signing_.emplace(std::move(*signing));
    auto master = ledger::MasterKey::LoadOrCreate(store_->keys_dir());
    REQUIRE(master.ok());
    master_.emplace(std::move(*master));

    sequencer_ = std::make_unique<ledger::Sequencer>(store_.get(), &*signing_,
                                                     projections::Apply,
                                                     ledger::Sequencer::Options{});
    REQUIRE(sequencer_->Start().ok());
    service_ = std::make_unique<projections::EscrowService>(store_.get(), sequencer_.get(),
                                                            &*master_);
    REQUIRE(service_->EnsureInitialPolicy().ok());

    api::Api::Options options;
    options.clock = [this] { return now_ns_.load(); };
    options.password_log_n = api::kMinPasswordLogN;  // cheap hashes keep the test fast
    api_ = std::make_unique<api::Api>(store_.get(), service_.get(), sequencer_.get(), options);
    server_ = std::make_unique<http::Server>(
        "api", [this](const http::Request& r) { return api_->Handle(r); }, http::ServerLimits{});
    REQUIRE(server_->Listen("127.0.0.1", 0).ok());
    client_ = std::make_unique<http::Client>("127.0.0.1", server_->port());
  }

  ~ApiStack() {
    client_.reset();
    server_->Stop();
    sequencer_->Stop();
  }

  void AddAccount(const std::string& name, std::vector<std::string> roles) {
    Status s = service_->CreateAccount(api::SystemPrincipal(), name, roles, name,
                                       api::HashPassword(kPassword, api::kMinPasswordLogN));
    REQUIRE(s.ok());
  }

  // Registers, enrolls and escrows generation 1 of digits for device_id.
  void EscrowDevice(const std::string& device_id, const std::string& owner,
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
    auto escrowed = service_->Escrow(escrow);
    REQUIRE(escrowed.ok());
  }

  Reply Send(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& token = "") {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto response = client_->Send(method, target, body, headers);
    REQUIRE(response.ok());
    Reply reply;
    reply.status = response->status;
    reply.raw = response->body;
    boost::system::error_code ec;
    json::value parsed = json::parse(reply.raw, ec);
    if (!ec && parsed.is_object()) reply.body = parsed.as_object();
    return reply;
  }

  std::string Login(const std::string& name, const std::string& password = kPassword) {
    Reply reply = Send("POST", "/v1/sessions",
                       json::serialize(json::object{{"username", name}, {"password", password}}));
    REQUIRE(reply.status == 200);
    return std::string(reply.body.at("token").as_string());
  }

  Reply Retrieve(const std::string& token, const std::string& device_id,
                 const std::string& body) {
    return Send("POST", "/v1/devices/" + device_id + "/recovery-password:retrieve", body, token);
  }

  // Creates admin, owners alice and bob, helpdesk helen, auditor audrey, and
  // escrows kDigits for alice's device "phone-1".
  void PopulateStandardFleet() {
    AddAccount("admin", {"admin"});
    AddAccount("alice", {"user"});
    AddAccount("bob", {"user"});
    AddAccount("helen", {"helpdesk"});
    AddAccount("audrey", {"auditor"});
    EscrowDevice("phone-1", "alice", kDigits);
  }

  void AdvanceClock(int64_t ns) { now_ns_ += ns; }
  ledger::Store* store() { return store_.get(); }
  projections::EscrowService* service() { return service_.get(); }
  api::Api* api() { return api_.get(); }

 private:
  static projections::DeviceOrigin SignedOrigin(const crypto::KeyPair& key,
                                                const std::string& device_id, uint64_t counter,
                                                const std::string& path) {
    std::string body = json::serialize(json::object{{"device_id", device_id}, {"counter", counter}});
    projections::DeviceOrigin origin;
    origin.device_id = device_id;
    origin.counter = counter;
    origin.request_bytes = "POST " + path + "\n" + body;
    auto signature =
        crypto::Ed25519Sign(key.private_key.view(), "escrow-gateway/v1\nPOST\n" + path + "\n" + body);
    REQUIRE(signature.ok());
    origin.signature = *signature;
    return origin;
  }

  testing::TempDir dir_;
  std::unique_ptr<ledger::Store> store_;
  std::optional<ledger::SigningKey> signing_;
  std::optional<ledger::MasterKey> master_;
  std::unique_ptr<ledger::Sequencer> sequencer_;
  std::unique_ptr<projections::EscrowService> service_;
  std::atomic<int64_t> now_ns_{kStartNs};
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Client> client_;
};

std::string Message(const Reply& reply) {
  auto it = reply.body.find("message");
  return it == reply.body.end() ? std::string() : std::string(it->value().as_string());
}

std::string LoginBody(const std::string& name, const std::string& password) {
  return json::serialize(json::object{{"username", name}, {"password", password}});
}

}  // namespace

TEST_CASE("password hash format and verification") {
  std::string hash = api::HashPassword("s3cret-pass");
  CHECK(hash.rfind("scrypt$17$8$1$", 0) == 0);
  CHECK(api::VerifyPassword("s3cret-pass", hash));
  CHECK_FALSE(api::VerifyPassword("s3cret-pasS", hash));
  CHECK_FALSE(api::VerifyPassword("s3cret-pass", "scrypt$15$8$1$bad"));
  CHECK_FALSE(api::VerifyPassword("s3cret-pass", "scrypt$40$8$1$AAAA$AAAA"));
  CHECK(api::HashPassword("s3cret-pass") != hash);  // fresh salt
}

TEST_CASE("RFC 3339 times parse and format") {
  CHECK(api::FormatRfc3339(kStartNs) == "2023-11-14T22:13:20Z");
  CHECK(api::FormatRfc3339(kStartNs + 500'000'000) == "2023-11-14T22:13:20.5Z");
  auto parsed = api::ParseTime("2023-11-14T22:13:20Z", "since");
  REQUIRE(parsed.ok());
  CHECK(*parsed == kStartNs);
  auto offset = api::ParseTime("2023-11-15T00:13:20.25+02:00", "since");
  REQUIRE(offset.ok());
  CHECK(*offset == kStartNs + 250'000'000);
  auto unix_ns = api::ParseTime("1700000000000000000", "until");
  REQUIRE(unix_ns.ok());
  CHECK(*unix_ns == kStartNs);
  CHECK_FALSE(api::ParseTime("2999-01-01T00:00:00Z", "until").ok());
  CHECK_FALSE(api::ParseTime("99999999999999999999", "until").ok());
  auto bad = api::ParseTime("yesterday", "until");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("\"until\"") != std::string::npos);
}

TEST_CASE("login returns a working session") {
  ApiStack stack;
  stack.AddAccount("alice", {"user"});
  Reply login = stack.Send("POST", "/v1/sessions", LoginBody("alice", kPassword));
  REQUIRE(login.status == 200);
  CHECK(login.body.at("username").as_string() == "alice");
  CHECK(login.body.at("roles").as_array().size() == 1);
  CHECK(login.body.at("expires_at_ns").as_int64() == kStartNs + api::kSessionTtlNs);
  std::string token(login.body.at("token").as_string());
  CHECK(token.size() == 43);  // 32 bytes in base64url without padding

  Reply session = stack.Send("GET", "/v1/session", "", token);
  REQUIRE(session.status == 200);
  CHECK(session.body.at("username").as_string() == "alice");
}

TEST_CASE("login failures are indistinguishable") {
  ApiStack stack;
  stack.AddAccount("alice", {"user"});
  Reply wrong = stack.Send("POST", "/v1/sessions", LoginBody("alice", "not the password"));
  Reply unknown = stack.Send("POST", "/v1/sessions", LoginBody("mallory", "not the password"));
  CHECK(wrong.status == 401);
  CHECK(unknown.status == 401);
  CHECK(wrong.raw == unknown.raw);
  CHECK(Message(wrong) == std::string(api::kInvalidLoginMessage));
  CHECK_THAT(Message(wrong), Catch::StartsWith("invalid username or password;"));
}

TEST_CASE("requests without a valid session are rejected") {
  ApiStack stack;
  CHECK(stack.Send("GET", "/v1/session").status == 401);
  CHECK(stack.Send("GET", "/v1/session", "", "not-a-token").status == 401);
  CHECK(stack.Send("GET", "/v1/session", "", std::string(43, 'A')).status == 401);
}

TEST_CASE("logout revokes the session") {
  ApiStack stack;
  stack.AddAccount("alice", {"user"});
  std::string token = stack.Login("alice");
  REQUIRE(stack.Send("GET", "/v1/session", "", token).status == 200);
  Reply logout = stack.Send("DELETE", "/v1/sessions", "", token);
  CHECK(logout.status == 200);
  Reply after = stack.Send("GET", "/v1/session", "", token);
  CHECK(after.status == 401);
  CHECK(Message(after).find("sign in") != std::string::npos);
}

TEST_CASE("session expires after its TTL") {
  ApiStack stack;
  stack.AddAccount("alice", {"user"});
  std::string token = stack.Login("alice");
  stack.AdvanceClock(api::kSessionTtlNs - 1);
  CHECK(stack.Send("GET", "/v1/session", "", token).status == 200);
  stack.AdvanceClock(1);
  Reply expired = stack.Send("GET", "/v1/session", "", token);
  CHECK(expired.status == 401);
  CHECK(Message(expired) == "session expired; sign in again");
}

TEST_CASE("owner retrieves own password with self-service on") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string alice = stack.Login("alice");
  Reply reply = stack.Retrieve(alice, "phone-1", R"({"channel":"portal"})");
  REQUIRE(reply.status == 200);
  CHECK(reply.body.at("recovery_password").as_string() == kFormatted);
  CHECK(reply.body.at("device_id").as_string() == "phone-1");
  CHECK(reply.body.at("generation").as_int64() == 1);
  CHECK(reply.body.at("armed").as_bool() == false);
  CHECK(reply.body.at("status").as_string() == "not yet active on the device");
  CHECK(reply.body.at("audit_seq").as_int64() > 0);
}

TEST_CASE("retrieval by another user is denied") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string bob = stack.Login("bob");
  Reply reply = stack.Retrieve(bob, "phone-1", "{}");
  CHECK(reply.status == 403);
  CHECK(Message(reply).find("helpdesk role") != std::string::npos);
  CHECK(Message(reply).find("owner") != std::string::npos);
  CHECK(reply.raw.find(kDigits) == std::string::npos);
}

TEST_CASE("help desk retrieval requires a reason") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string helen = stack.Login("helen");

  SECTION("without a reason") {
    Reply reply = stack.Retrieve(helen, "phone-1", R"({"channel":"console"})");
    CHECK(reply.status == 400);
    CHECK(Message(reply).find("reason") != std::string::npos);
  }
  SECTION("with a reason") {
    Reply reply = stack.Retrieve(helen, "phone-1", R"({"reason":"TICKET-42","channel":"cli"})");
    REQUIRE(reply.status == 200);
    CHECK(reply.body.at("recovery_password").as_string() == kFormatted);
  }
  SECTION("with a line break in the reason") {
    Reply reply = stack.Retrieve(helen, "phone-1", R"({"reason":"T-1\nforged row"})");
    CHECK(reply.status == 400);
    CHECK(Message(reply) ==
          "field \"reason\" must not contain control characters such as line breaks");
    CHECK(reply.raw.find(kDigits) == std::string::npos);
  }
}

TEST_CASE("unknown device looks like another owner's to a user") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string bob = stack.Login("bob");
  Reply missing = stack.Retrieve(bob, "no-such-device", "{}");
  Reply other = stack.Retrieve(bob, "phone-1", "{}");
  CHECK(missing.status == 403);
  CHECK(Message(missing) == Message(other));
}

TEST_CASE("auditor may not retrieve a password") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string audrey = stack.Login("audrey");
  Reply reply = stack.Retrieve(audrey, "phone-1", R"({"reason":"curious"})");
  CHECK(reply.status == 403);
  CHECK(Message(reply).find("requires the helpdesk role") != std::string::npos);
}

TEST_CASE("owner is denied when self-service is off") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string admin = stack.Login("admin");
  Reply policy = stack.Send("PUT", "/v1/policy", R"({"self_service_recovery":false})", admin);
  REQUIRE(policy.status == 200);
  CHECK(policy.body.at("self_service_recovery").as_bool() == false);

  std::string alice = stack.Login("alice");
  Reply reply = stack.Retrieve(alice, "phone-1", "{}");
  CHECK(reply.status == 403);
  CHECK(Message(reply).find("self-service recovery is disabled") != std::string::npos);
}

TEST_CASE("every denial is in the audit view") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string bob = stack.Login("bob");
  std::string helen = stack.Login("helen");
  std::string audrey = stack.Login("audrey");
  REQUIRE(stack.Retrieve(bob, "phone-1", "{}").status == 403);
  REQUIRE(stack.Retrieve(helen, "phone-1", "{}").status == 400);
  REQUIRE(stack.Retrieve(audrey, "phone-1", R"({"reason":"curious"})").status == 403);
  REQUIRE(stack.Retrieve(helen, "phone-1", R"({"reason":"TICKET-7"})").status == 200);

  Reply audit = stack.Send("GET", "/v1/audit?denied=1", "", audrey);
  REQUIRE(audit.status == 200);
  const json::array& records = audit.body.at("records").as_array();
  REQUIRE(records.size() == 3);
  std::vector<std::string> actors;
  for (const json::value& record : records) {
    CHECK(record.at("denied").as_bool());
    CHECK(record.at("device_id").as_string() == "phone-1");
    CHECK_FALSE(record.at("denial_reason").as_string().empty());
    actors.emplace_back(record.at("actor").as_string());
  }
  std::sort(actors.begin(), actors.end());
  CHECK(actors == std::vector<std::string>{"audrey", "bob", "helen"});

  Reply all = stack.Send("GET", "/v1/audit?device=phone-1", "", audrey);
  REQUIRE(all.status == 200);
  CHECK(all.body.at("records").as_array().size() == 4);
  Reply by_actor = stack.Send("GET", "/v1/audit?actor=helen", "", audrey);
  REQUIRE(by_actor.status == 200);
  CHECK(by_actor.body.at("records").as_array().size() == 2);
}

TEST_CASE("audit view checks role and time filters") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string helen = stack.Login("helen");
  std::string audrey = stack.Login("audrey");
  REQUIRE(stack.Retrieve(helen, "phone-1", R"({"reason":"T-1"})").status == 200);

  Reply denied = stack.Send("GET", "/v1/audit", "", helen);
  CHECK(denied.status == 403);
  CHECK(Message(denied).find("auditor") != std::string::npos);

  Reply future = stack.Send("GET", "/v1/audit?since=2200-01-01T00:00:00Z", "", audrey);
  REQUIRE(future.status == 200);
  CHECK(future.body.at("records").as_array().empty());
  Reply past = stack.Send("GET", "/v1/audit?since=0&until=2200-01-01T00:00:00Z", "", audrey);
  REQUIRE(past.status == 200);
  CHECK(past.body.at("records").as_array().size() == 1);
  Reply bad = stack.Send("GET", "/v1/audit?since=tuesday", "", audrey);
  CHECK(bad.status == 400);
  CHECK(Message(bad).find("since") != std::string::npos);
}

TEST_CASE("list routes never contain the password") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string helen = stack.Login("helen");
  std::string audrey = stack.Login("audrey");
  std::string alice = stack.Login("alice");
  REQUIRE(stack.Retrieve(helen, "phone-1", R"({"reason":"T-1"})").status == 200);

  std::vector<Reply> replies = {
      stack.Send("GET", "/v1/devices", "", helen),
      stack.Send("GET", "/v1/devices", "", alice),
      stack.Send("GET", "/v1/devices/phone-1", "", helen),
      stack.Send("GET", "/v1/devices/phone-1/timeline", "", audrey),
      stack.Send("GET", "/v1/audit", "", audrey),
  };
  for (const Reply& reply : replies) {
    CHECK(reply.status == 200);
    CHECK(reply.raw.find(kDigits) == std::string::npos);
    CHECK(reply.raw.find(kFormatted) == std::string::npos);
    CHECK(reply.raw.find("envelope\":\"") == std::string::npos);
  }
  CHECK(replies[0].body.at("devices").as_array().size() == 1);
  CHECK(replies[2].body.at("state").as_string() == "pending");
  CHECK(replies[3].body.at("entries").as_array().size() >= 4);
}

TEST_CASE("users see only their own devices") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  stack.EscrowDevice("tablet-9", "bob", "99999888887777766666");
  std::string alice = stack.Login("alice");
  std::string bob = stack.Login("bob");

  Reply mine = stack.Send("GET", "/v1/devices", "", alice);
  REQUIRE(mine.status == 200);
  REQUIRE(mine.body.at("devices").as_array().size() == 1);
  CHECK(mine.body.at("devices").as_array()[0].at("device_id").as_string() == "phone-1");

  Reply other = stack.Send("GET", "/v1/devices/phone-1", "", bob);
  CHECK(other.status == 403);
  Reply missing = stack.Send("GET", "/v1/devices/no-such-device", "", bob);
  CHECK(missing.status == 403);
  CHECK(Message(other).find("not one of your devices") != std::string::npos);
  Reply others = stack.Send("GET", "/v1/devices?owner=alice", "", bob);
  CHECK(others.status == 403);
}

TEST_CASE("admin routes require the admin role") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string helen = stack.Login("helen");
  std::string admin = stack.Login("admin");
  std::string body = R"({"username":"carol","password":"long enough pw","roles":["user"]})";

  Reply denied = stack.Send("POST", "/v1/accounts", body, helen);
  CHECK(denied.status == 403);
  CHECK(Message(denied) == "this request requires the admin role");

  Reply created = stack.Send("POST", "/v1/accounts", body, admin);
  REQUIRE(created.status == 201);
  CHECK(created.body.at("username").as_string() == "carol");
  CHECK(created.raw.find("long enough pw") == std::string::npos);
  Reply listed = stack.Send("GET", "/v1/accounts", "", admin);
  REQUIRE(listed.status == 200);
  CHECK(listed.body.at("accounts").as_array().size() == 6);
  CHECK(stack.Login("carol", "long enough pw").size() == 43);

  Reply device = stack.Send("POST", "/v1/devices", R"({"device_id":"laptop-3","owner":"carol"})",
                            admin);
  REQUIRE(device.status == 201);
  CHECK(device.body.at("enrollment_token").as_string().size() == 43);
  Reply rotation = stack.Send("POST", "/v1/devices/phone-1/rotation", "", admin);
  REQUIRE(rotation.status == 200);
  CHECK(rotation.body.at("seq").as_int64() > 0);
}

TEST_CASE("malformed input is a 400 naming the problem") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  std::string admin = stack.Login("admin");

  Reply not_json = stack.Send("POST", "/v1/sessions", "{bad");
  CHECK(not_json.status == 400);
  CHECK(Message(not_json).find("not valid JSON") != std::string::npos);
  Reply wrong_type = stack.Send("PUT", "/v1/policy", R"({"self_service_recovery":"yes"})", admin);
  CHECK(wrong_type.status == 400);
  CHECK(Message(wrong_type).find("self_service_recovery") != std::string::npos);
  Reply unknown = stack.Send("PUT", "/v1/policy", R"({"self_service":true})", admin);
  CHECK(unknown.status == 400);
  CHECK(Message(unknown).find("self_service") != std::string::npos);
  Reply bad_channel =
      stack.Retrieve(stack.Login("helen"), "phone-1", R"({"reason":"x","channel":"fax"})");
  CHECK(bad_channel.status == 400);
  CHECK(Message(bad_channel).find("channel") != std::string::npos);
  Reply method = stack.Send("PATCH", "/v1/policy", "{}", admin);
  CHECK(method.status == 405);
  CHECK(stack.Send("GET", "/v1/nothing-here", "", admin).status == 404);
}

TEST_CASE("health and metrics report counters") {
  ApiStack stack;
  stack.PopulateStandardFleet();
  stack.api()->SetMetricsSource([] { return std::string("escrow_gateway_test_total 7\n"); });
  std::string alice = stack.Login("alice");
  (void)stack.Send("POST", "/v1/sessions", LoginBody("alice", "wrong password"));
  REQUIRE(stack.Retrieve(alice, "phone-1", "{}").status == 200);

  Reply health = stack.Send("GET", "/healthz");
  REQUIRE(health.status == 200);
  CHECK(health.body.at("status").as_string() == "ok");
  CHECK(health.body.at("seq").as_int64() > 0);

  Reply metrics = stack.Send("GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.raw.find("escrow_api_requests_total{route=\"retrieve\",status=\"200\"} 1") !=
        std::string::npos);
  CHECK(metrics.raw.find("escrow_retrievals_total 1") != std::string::npos);
  CHECK(metrics.raw.find("escrow_logins_total{result=\"ok\"} 1") != std::string::npos);
  CHECK(metrics.raw.find("escrow_logins_total{result=\"failed\"} 1") != std::string::npos);
  CHECK(metrics.raw.find("escrow_ledger_seq ") != std::string::npos);
  CHECK(metrics.raw.find("escrow_gateway_test_total 7") != std::string::npos);
}

TEST_CASE("bootstrap admin is created once") {
  ApiStack stack;
  ::unsetenv("ESCROW_ADMIN_PASSWORD");
  auto first = api::EnsureBootstrapAdmin(stack.store(), stack.service());
  REQUIRE(first.ok());
  REQUIRE(first->has_value());
  CHECK((*first)->size() == api::kGeneratedPasswordLength);
  std::string token = stack.Login("admin", **first);
  Reply session = stack.Send("GET", "/v1/session", "", token);
  CHECK(session.body.at("roles").as_array().size() == 3);

  auto second = api::EnsureBootstrapAdmin(stack.store(), stack.service());
  REQUIRE(second.ok());
  CHECK_FALSE(second->has_value());
}
