// Accounts and sessions over real HTTP on 127.0.0.1: password hash cost,
// identical login failures, lockout and its name normalization, password
// change and admin reset revoking sessions, rate limits with 429 and
// Retry-After, rejection metrics, and exact principal matching. The stack is
// real (RocksDB in a temp dir, the sequencer, EscrowService, http::Server);
// only the Api clock is injected, so tests can move time.
#include <catch2/catch.hpp>

#include <atomic>
#include <boost/json.hpp>
#include <memory>
#include <optional>

#include "api/api.h"
#include "api/auth.h"
#include "api/http/http.h"
#include "api/login_lockout.h"
#include "api/password_hash.h"
#include "api/rate_limit.h"
#include "ledger/envelope.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/projector.h"
#include "projections/service.h"
#include "tests/api_stack.h"
#include "tests/test_support.h"

using namespace escrow;
namespace json = boost::json;

namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
constexpr const char* kDigits = "12345678901234567890";
constexpr const char* kPassword = "correct horse battery";
constexpr const char* kNewPassword = "new staple battery";
// The cheapest allowed cost, so each hash in these tests takes milliseconds.
constexpr uint64_t kTestLogN = api::kMinPasswordLogN;

using Reply = testing::ApiReply;

// The API stack with the account, device and login helpers of these tests.
class AuthStack : public testing::ApiStack {
 public:
  explicit AuthStack(api::RateLimits limits = api::RateLimits::Unlimited())
      : ApiStack(Options{limits}) {}

  void AddAccount(const std::string& name, std::vector<std::string> roles) {
    Status s = service().CreateAccount(api::SystemPrincipal(), name, roles, name,
                                       api::HashPassword(kPassword, kTestLogN));
    REQUIRE(s.ok());
  }

  // Registers, enrolls and escrows generation 1 of kDigits for device_id.
  void EscrowDevice(const std::string& device_id, const std::string& owner) {
    ApiStack::EscrowDevice(device_id, owner, kDigits);
  }

  Reply TryLogin(const std::string& name, const std::string& password) {
    return Send("POST", "/v1/sessions",
                json::serialize(json::object{{"username", name}, {"password", password}}));
  }

  std::string Login(const std::string& name, const std::string& password = kPassword) {
    Reply reply = TryLogin(name, password);
    REQUIRE(reply.status == 200);
    return std::string(reply.body.at("token").as_string());
  }

  Reply Retrieve(const std::string& token, const std::string& device_id) {
    return Send("POST", "/v1/devices/" + device_id + "/recovery-password:retrieve",
                R"({"channel":"portal"})", token);
  }
};

std::string ChangePasswordBody(const std::string& current, const std::string& replacement) {
  return json::serialize(
      json::object{{"current_password", current}, {"new_password", replacement}});
}

std::string MetricsText(AuthStack& stack) { return stack.Send("GET", "/metrics").raw; }

// Returns the headers that must match between two failure replies: all but Date.
std::map<std::string, std::string> StableHeaders(const Reply& reply) {
  std::map<std::string, std::string> headers = reply.headers;
  headers.erase("date");
  return headers;
}

}  // namespace

TEST_CASE("new password hashes name log N 17 by default") {
  std::string hash = api::HashPassword("s3cret-pass");
  CHECK(hash.rfind("scrypt$17$8$1$", 0) == 0);
  CHECK(api::VerifyPassword("s3cret-pass", hash));
  CHECK_FALSE(api::VerifyPassword("s3cret-pasS", hash));
  CHECK(api::Api::Options{}.password_log_n == 17);

  SECTION("a lower configured cost is named in the hash and still verifies") {
    std::string cheap = api::HashPassword("s3cret-pass", kTestLogN);
    CHECK(cheap.rfind("scrypt$14$8$1$", 0) == 0);
    CHECK(api::VerifyPassword("s3cret-pass", cheap));
  }
  SECTION("a cost below the minimum is raised to it") {
    CHECK(api::HashPassword("s3cret-pass", 4).rfind("scrypt$14$", 0) == 0);
    CHECK_FALSE(api::ValidatePasswordLogN(13).ok());
    CHECK(api::ValidatePasswordLogN(14).ok());
    CHECK(api::ValidatePasswordLogN(17).ok());
    CHECK_FALSE(api::ValidatePasswordLogN(19).ok());
  }
}

TEST_CASE("accounts created through the API use the configured cost") {
  AuthStack stack;
  stack.AddAccount("admin", {"admin"});
  std::string admin = stack.Login("admin");
  Reply created = stack.Send(
      "POST", "/v1/accounts",
      R"({"username":"carol","password":"carol-password","roles":["user"]})", admin);
  REQUIRE(created.status == 201);
  auto stored = stack.store()->Get(ledger::Cf::kCredentials, "carol");
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  CHECK((*stored)->rfind("scrypt$14$8$1$", 0) == 0);
}

TEST_CASE("failed logins are byte-identical") {
  AuthStack stack;
  stack.AddAccount("alice", {"user"});
  stack.AddAccount("bob", {"user"});
  for (int i = 0; i < api::kMaxLoginFailures; ++i) stack.TryLogin("bob", "wrong password");

  Reply unknown = stack.TryLogin("nobody", kPassword);
  Reply wrong = stack.TryLogin("alice", "wrong password");
  Reply locked = stack.TryLogin("bob", kPassword);  // right password, locked account

  CHECK(unknown.status == 401);
  CHECK(wrong.status == 401);
  CHECK(locked.status == 401);
  CHECK(unknown.raw == wrong.raw);
  CHECK(unknown.raw == locked.raw);
  CHECK(StableHeaders(unknown) == StableHeaders(wrong));
  CHECK(StableHeaders(unknown) == StableHeaders(locked));
  CHECK(unknown.body.at("message").as_string() == api::kInvalidLoginMessage);
}

TEST_CASE("lockout starts at the fifth failure and ends after 15 minutes") {
  AuthStack stack;
  stack.AddAccount("alice", {"user"});

  // Four failures do not lock, and a success clears the count.
  for (int i = 0; i < api::kMaxLoginFailures - 1; ++i) {
    CHECK(stack.TryLogin("alice", "wrong password").status == 401);
  }
  CHECK(stack.TryLogin("alice", kPassword).status == 200);

  // Five failures in a row lock, even against the right password.
  for (int i = 0; i < api::kMaxLoginFailures; ++i) {
    CHECK(stack.TryLogin("alice", "wrong password").status == 401);
  }
  CHECK(stack.TryLogin("alice", kPassword).status == 401);

  stack.AdvanceClock(api::kLoginLockoutNs - kSecondNs);
  CHECK(stack.TryLogin("alice", kPassword).status == 401);

  stack.AdvanceClock(kSecondNs);
  CHECK(stack.TryLogin("alice", kPassword).status == 200);
}

TEST_CASE("case and fullwidth variants share one lockout counter") {
  AuthStack stack;
  stack.AddAccount("alice", {"user"});

  CHECK(api::NormalizeAccountName("ALICE") == "alice");
  CHECK(api::NormalizeAccountName("\xEF\xBD\x81\xEF\xBD\x8C\xEF\xBD\x89\xEF\xBD\x83\xEF\xBD\x85") ==
        "alice");  // fullwidth "ａｌｉｃｅ"
  CHECK(api::NormalizeAccountName("\xEF\xBC\xA1lice") == "alice");  // fullwidth "Ａ"
  CHECK(api::NormalizeAccountName("al\xC3\xAF" "ce") == "al\xC3\xAF" "ce");  // "ï" is kept

  SECTION("a variant with the right password signs in as alice") {
    Reply reply = stack.TryLogin("ALICE", kPassword);
    REQUIRE(reply.status == 200);
    CHECK(reply.body.at("username").as_string() == "alice");
  }
  SECTION("failures under variants lock alice") {
    const std::vector<std::string> variants = {
        "ALICE", "\xEF\xBD\x81\xEF\xBD\x8C\xEF\xBD\x89\xEF\xBD\x83\xEF\xBD\x85", "Alice",
        "\xEF\xBC\xA1\xEF\xBC\xAC\xEF\xBC\xA9\xEF\xBC\xA3\xEF\xBC\xA5", "aLiCe"};
    REQUIRE(variants.size() == static_cast<size_t>(api::kMaxLoginFailures));
    for (const std::string& variant : variants) {
      CHECK(stack.TryLogin(variant, "wrong password").status == 401);
    }
    CHECK(stack.TryLogin("alice", kPassword).status == 401);
  }
  SECTION("variants cannot be created as separate accounts") {
    stack.AddAccount("admin", {"admin"});
    std::string admin = stack.Login("admin");
    for (const std::string name :
         {"Alice", "\xEF\xBD\x81\xEF\xBD\x8C\xEF\xBD\x89\xEF\xBD\x83\xEF\xBD\x85"}) {
      Reply created = stack.Send(
          "POST", "/v1/accounts",
          json::serialize(json::object{{"username", name}, {"password", "long enough pw"}}),
          admin);
      CHECK(created.status == 400);
    }
  }
}

TEST_CASE("password change revokes every old session") {
  AuthStack stack;
  stack.AddAccount("alice", {"user"});
  std::string first = stack.Login("alice");
  std::string second = stack.Login("alice");

  SECTION("wrong current password is rejected and changes nothing") {
    Reply reply = stack.Send("POST", "/v1/me/password",
                             ChangePasswordBody("wrong password", kNewPassword), first);
    CHECK(reply.status == 403);
    CHECK(reply.body.at("message").as_string() == api::kWrongCurrentPasswordMessage);
    CHECK(stack.Send("GET", "/v1/session", "", first).status == 200);
    CHECK(stack.TryLogin("alice", kPassword).status == 200);
  }
  SECTION("a too short new password is rejected") {
    Reply reply =
        stack.Send("POST", "/v1/me/password", ChangePasswordBody(kPassword, "short"), first);
    CHECK(reply.status == 400);
    CHECK(stack.Send("GET", "/v1/session", "", first).status == 200);
  }
  SECTION("success returns a fresh session and revokes the others") {
    Reply reply = stack.Send("POST", "/v1/me/password",
                             ChangePasswordBody(kPassword, kNewPassword), first);
    REQUIRE(reply.status == 200);
    CHECK(reply.body.at("sessions_revoked").as_bool());
    std::string fresh(reply.body.at("token").as_string());

    Reply old_first = stack.Send("GET", "/v1/session", "", first);
    CHECK(old_first.status == 401);
    CHECK(old_first.body.at("message").as_string().find("password changed") != std::string::npos);
    CHECK(stack.Send("GET", "/v1/session", "", second).status == 401);
    CHECK(stack.Send("GET", "/v1/session", "", fresh).status == 200);
    CHECK(stack.TryLogin("alice", kPassword).status == 401);
    CHECK(stack.TryLogin("alice", kNewPassword).status == 200);
  }
}

TEST_CASE("admin password reset revokes the account's sessions") {
  AuthStack stack;
  stack.AddAccount("admin", {"admin"});
  stack.AddAccount("alice", {"user"});
  std::string admin = stack.Login("admin");
  std::string alice = stack.Login("alice");
  const std::string body = json::serialize(json::object{{"new_password", kNewPassword}});

  SECTION("reset by an admin") {
    Reply reply = stack.Send("POST", "/v1/accounts/alice/password", body, admin);
    REQUIRE(reply.status == 200);
    CHECK(reply.body.at("username").as_string() == "alice");
    CHECK(stack.Send("GET", "/v1/session", "", alice).status == 401);
    CHECK(stack.Send("GET", "/v1/session", "", admin).status == 200);
    CHECK(stack.TryLogin("alice", kPassword).status == 401);
    CHECK(stack.TryLogin("alice", kNewPassword).status == 200);
  }
  SECTION("reset clears a lockout") {
    for (int i = 0; i < api::kMaxLoginFailures; ++i) stack.TryLogin("alice", "wrong password");
    REQUIRE(stack.TryLogin("alice", kNewPassword).status == 401);
    REQUIRE(stack.Send("POST", "/v1/accounts/alice/password", body, admin).status == 200);
    CHECK(stack.TryLogin("alice", kNewPassword).status == 200);
  }
  SECTION("unknown account is 404") {
    CHECK(stack.Send("POST", "/v1/accounts/nobody/password", body, admin).status == 404);
  }
  SECTION("a user may not reset another account") {
    CHECK(stack.Send("POST", "/v1/accounts/admin/password", body, alice).status == 403);
    CHECK(stack.Send("GET", "/v1/session", "", admin).status == 200);
  }
}

TEST_CASE("login rate limit gives 429 then recovers") {
  api::RateLimits limits = api::RateLimits::Unlimited();

  SECTION("per client address") {
    limits.login_per_address = {3, 10 * kSecondNs};
    AuthStack stack(limits);
    stack.AddAccount("alice", {"user"});
    CHECK(stack.TryLogin("u1", "wrong password").status == 401);
    CHECK(stack.TryLogin("u2", "wrong password").status == 401);
    CHECK(stack.TryLogin("u3", "wrong password").status == 401);

    Reply limited = stack.TryLogin("alice", kPassword);
    CHECK(limited.status == 429);
    CHECK(limited.headers["retry-after"] == "10");
    CHECK(limited.body.at("error").as_string() == "too_many_requests");
    CHECK(limited.body.at("message").as_string().find("client address") != std::string::npos);

    stack.AdvanceClock(10 * kSecondNs);
    CHECK(stack.TryLogin("alice", kPassword).status == 200);
    CHECK(MetricsText(stack).find("escrow_rate_limited_total{route=\"login\",key=\"address\"} 1") !=
          std::string::npos);
  }
  SECTION("per account name, variants included") {
    limits.login_per_account = {2, 6 * kSecondNs};
    AuthStack stack(limits);
    stack.AddAccount("alice", {"user"});
    CHECK(stack.TryLogin("alice", "wrong password").status == 401);
    CHECK(stack.TryLogin("ALICE", "wrong password").status == 401);
    Reply limited = stack.TryLogin("alice", kPassword);
    CHECK(limited.status == 429);
    CHECK(limited.headers["retry-after"] == "6");
    CHECK(stack.TryLogin("bob", "wrong password").status == 401);  // another name is not limited

    stack.AdvanceClock(6 * kSecondNs);
    CHECK(stack.TryLogin("alice", kPassword).status == 200);
  }
}

TEST_CASE("retrieval rate limit gives 429 without a ledger event") {
  api::RateLimits limits = api::RateLimits::Unlimited();
  limits.retrieve_per_principal = {2, 3 * kSecondNs};
  AuthStack stack(limits);
  stack.AddAccount("alice", {"user"});
  stack.AddAccount("audrey", {"auditor"});
  stack.EscrowDevice("phone-a", "alice");
  std::string alice = stack.Login("alice");
  std::string audrey = stack.Login("audrey");

  CHECK(stack.Retrieve(alice, "phone-a").status == 200);
  CHECK(stack.Retrieve(alice, "phone-a").status == 200);
  Reply head_before = stack.Send("GET", "/v1/ledger/head", "", audrey);
  REQUIRE(head_before.status == 200);

  Reply limited = stack.Retrieve(alice, "phone-a");
  CHECK(limited.status == 429);
  CHECK(limited.headers["retry-after"] == "3");
  CHECK(limited.raw.find(kDigits) == std::string::npos);
  CHECK(limited.body.at("message").as_string().find("account") != std::string::npos);

  Reply head_after = stack.Send("GET", "/v1/ledger/head", "", audrey);
  CHECK(head_after.body.at("seq") == head_before.body.at("seq"));

  stack.AdvanceClock(3 * kSecondNs);
  CHECK(stack.Retrieve(alice, "phone-a").status == 200);
  CHECK(MetricsText(stack).find(
            "escrow_rate_limited_total{route=\"retrieve\",key=\"principal\"} 1") !=
        std::string::npos);
}

TEST_CASE("metrics count every login rejection by reason") {
  api::RateLimits limits = api::RateLimits::Unlimited();
  limits.login_per_address = {8, 60 * kSecondNs};
  AuthStack stack(limits);
  stack.AddAccount("alice", {"user"});

  // Eight attempts use up the address bucket; the malformed one takes no token.
  stack.TryLogin("nobody", kPassword);  // invalid_credentials
  for (int i = 0; i < api::kMaxLoginFailures; ++i) stack.TryLogin("alice", "wrong password");
  stack.TryLogin("alice", kPassword);                              // locked
  stack.Send("POST", "/v1/sessions", R"({"username":"alice"})");  // invalid_request
  stack.TryLogin("alice", kPassword);                              // locked
  stack.TryLogin("alice", kPassword);                              // rate_limited

  std::string metrics = MetricsText(stack);
  CHECK(metrics.find("escrow_login_rejected_total{reason=\"invalid_credentials\"} 6") !=
        std::string::npos);
  CHECK(metrics.find("escrow_login_rejected_total{reason=\"locked\"} 2") != std::string::npos);
  CHECK(metrics.find("escrow_login_rejected_total{reason=\"invalid_request\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("escrow_login_rejected_total{reason=\"rate_limited\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("escrow_login_lockouts_total 1") != std::string::npos);
  CHECK(metrics.find("escrow_rate_limited_total{route=\"login\",key=\"address\"} 1") !=
        std::string::npos);
}

TEST_CASE("principals are compared exactly: alice never matches malice") {
  AuthStack stack;
  stack.AddAccount("alice", {"user"});
  stack.AddAccount("malice", {"user"});
  stack.AddAccount("audrey", {"auditor"});
  stack.EscrowDevice("phone-a", "alice");
  stack.EscrowDevice("phone-m", "malice");
  std::string alice = stack.Login("alice");
  std::string malice = stack.Login("malice");
  std::string audrey = stack.Login("audrey");

  // Each owner retrieves their own device, so both have audit records.
  REQUIRE(stack.Retrieve(alice, "phone-a").status == 200);
  REQUIRE(stack.Retrieve(malice, "phone-m").status == 200);

  SECTION("neither owner reads or retrieves the other's device") {
    CHECK(stack.Send("GET", "/v1/devices/phone-m", "", alice).status == 403);
    CHECK(stack.Send("GET", "/v1/devices/phone-a", "", malice).status == 403);
    Reply alice_takes = stack.Retrieve(alice, "phone-m");
    CHECK(alice_takes.status == 403);
    CHECK(alice_takes.raw.find("recovery_password") == std::string::npos);
    Reply malice_takes = stack.Retrieve(malice, "phone-a");
    CHECK(malice_takes.status == 403);
    CHECK(malice_takes.raw.find("recovery_password") == std::string::npos);
  }
  SECTION("each owner's device list holds only their own device") {
    Reply list = stack.Send("GET", "/v1/devices", "", alice);
    REQUIRE(list.status == 200);
    CHECK(list.raw.find("phone-a") != std::string::npos);
    CHECK(list.raw.find("phone-m") == std::string::npos);
  }
  SECTION("audit filter actor=alice returns no record of malice") {
    Reply audit = stack.Send("GET", "/v1/audit?actor=alice", "", audrey);
    REQUIRE(audit.status == 200);
    const json::array& records = audit.body.at("records").as_array();
    CHECK_FALSE(records.empty());
    for (const json::value& record : records) {
      CHECK(record.at("actor").as_string() == "alice");
    }
    Reply other = stack.Send("GET", "/v1/audit?actor=malice", "", audrey);
    REQUIRE(other.status == 200);
    CHECK_FALSE(other.body.at("records").as_array().empty());
    for (const json::value& record : other.body.at("records").as_array()) {
      CHECK(record.at("actor").as_string() == "malice");
    }
  }
}
