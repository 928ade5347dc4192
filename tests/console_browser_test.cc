// The web console in a real browser: escrowd with a few enrolled devices,
// then tests/browser/console_test.mjs drives Debian's headless Chromium
// through playwright-core (tools/setup.sh installs both). Screenshots of
// every step go to BUILD_DIR/console-screenshots.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "api/http/http.h"
#include "device-gateway/device_identity.h"
#include "tests/test_support.h"

namespace escrow {
namespace {

namespace json = boost::json;

constexpr const char* kAdminPassword = "console-test-admin-password";
constexpr const char* kChromiumPath = "/usr/bin/chromium";
constexpr const char* kNodePath = "/usr/bin/node";
// Upper bound for the whole browser run, which normally takes well under a minute.
constexpr int kBrowserTimeoutS = 150;
constexpr int kFleetDevices = 3;

// One API call as the given session; fails the test unless the reply is 2xx.
json::object Call(http::Client& api, const std::string& token, const std::string& method,
                  const std::string& target, const std::string& body = "") {
  std::map<std::string, std::string> headers;
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  auto response = api.Send(method, target, body, headers);
  REQUIRE(response.ok());
  INFO(method << " " << target << " -> " << response->status << " " << response->body);
  REQUIRE(response->status / 100 == 2);
  return json::parse(response->body).as_object();
}

// escrowd with accounts for every role and two enrolled, armed devices whose
// state files hold the hash of the password each escrowed.
struct ConsoleFixture {
  testing::TempDir dir;
  testing::EscrowdProcess server;
  std::string admin_token;
  std::map<std::string, std::string> device_state;  // device id -> state file

  ConsoleFixture() {
    REQUIRE(server.Start(dir.path() + "/data", kAdminPassword));
    http::Client api = server.ApiClient();
    admin_token = std::string(
        Call(api, "", "POST", "/v1/sessions",
             json::serialize(json::object{{"username", "admin"}, {"password", kAdminPassword}}))
            .at("token")
            .as_string());
    CreateAccount(api, "alice", "user");
    CreateAccount(api, "bob", "user");
    CreateAccount(api, "hd", "helpdesk");
    CreateAccount(api, "aud", "auditor");
    EnrollDevice(api, "alice-phone", "alice");
    EnrollDevice(api, "bob-laptop", "bob");
    RunFleet();
  }

  // escrowd serves the API and the console over HTTPS with its own CA
  // (server.ca_file()); the browser ignores certificate errors instead.
  std::string BaseUrl() const { return "https://" + server.api_address(); }

  static std::string PasswordOf(const std::string& username) { return username + "-console-pw"; }

  void CreateAccount(http::Client& api, const std::string& username, const std::string& role) {
    json::object body{{"username", username},
                      {"password", PasswordOf(username)},
                      {"roles", json::array{json::string(role)}}};
    Call(api, admin_token, "POST", "/v1/accounts", json::serialize(body));
  }

  testing::CommandResult Device(std::vector<std::string> args) {
    args.insert(args.begin(), testing::BinaryPath("escrow-device"));
    return testing::RunCommand(args, {{"ESCROW_GATEWAY", server.gateway_address()}});
  }

  // Registers, enrolls, escrows and arms device_id for owner.
  void EnrollDevice(http::Client& api, const std::string& device_id, const std::string& owner) {
    json::object body{{"device_id", device_id}, {"owner", owner}};
    std::string token = std::string(
        Call(api, admin_token, "POST", "/v1/devices", json::serialize(body))
            .at("enrollment_token")
            .as_string());
    std::string state = dir.path() + "/" + device_id + ".json";
    for (std::vector<std::string> step :
         {std::vector<std::string>{"enroll", "--device", device_id, "--token", token},
          std::vector<std::string>{"check-in"}, std::vector<std::string>{"arm"}}) {
      step.insert(step.end(), {"--state", state});
      testing::CommandResult result = Device(step);
      INFO(step[0] << ": " << result.output);
      REQUIRE(result.exit_code == 0);
    }
    device_state[device_id] = state;
  }

  // A few more devices with their own owners, so the lists are not trivial.
  void RunFleet() {
    testing::CommandResult fleet = testing::RunCommand(
        {testing::BinaryPath("escrow-device"), "fleet", "--devices", std::to_string(kFleetDevices),
         "--id-prefix", "fleet", "--drop-every", "0"},
        {{"ESCROW_SERVER", server.api_address()},
         {"ESCROW_GATEWAY", server.gateway_address()},
         {"ESCROW_USER", "admin"},
         {"ESCROW_PASSWORD", kAdminPassword}});
    INFO(fleet.output);
    REQUIRE(fleet.exit_code == 0);
  }

  // Writes the accounts and devices for the Node script and returns the path.
  std::string WriteBrowserFixture() const {
    auto account = [](const std::string& username) {
      return json::object{{"username", username}, {"password", PasswordOf(username)}};
    };
    json::object owner = account("alice");
    owner["device"] = "alice-phone";
    json::object other = account("bob");
    other["device"] = "bob-laptop";
    json::object fixture{{"owner", owner},
                         {"other_owner", other},
                         {"helpdesk", account("hd")},
                         {"auditor", account("aud")},
                         {"admin", json::object{{"username", "admin"}, {"password", kAdminPassword}}}};
    std::string path = dir.path() + "/browser-fixture.json";
    std::ofstream(path) << json::serialize(fixture);
    return path;
  }
};

// Returns the {"step", "device", "password"} lines the Node script printed.
std::vector<json::object> RevealedPasswords(const std::string& output) {
  std::vector<json::object> lines;
  std::istringstream stream(output);
  std::string line;
  while (std::getline(stream, line)) {
    if (line.rfind("{\"step\"", 0) == 0) lines.push_back(json::parse(line).as_object());
  }
  return lines;
}

bool MatchesEscrowedPassword(const std::string& state_file, const std::string& password) {
  auto identity = device::LoadDeviceIdentity(state_file);
  REQUIRE(identity.ok());
  auto matches = device::MatchesRecoveryPassword(identity->password, password);
  REQUIRE(matches.ok());
  return *matches;
}

TEST_CASE("console files carry security headers", "[console]") {
  testing::TempDir dir;
  testing::EscrowdProcess server;
  REQUIRE(server.Start(dir.path() + "/data", kAdminPassword));
  http::Client api = server.ApiClient();

  auto index = api.Send("GET", "/console/", "");
  REQUIRE(index.ok());
  CHECK(index->status == 200);
  CHECK(index->headers["content-type"] == "text/html; charset=utf-8");
  CHECK(index->headers["content-security-policy"].find("default-src 'self'") == 0);
  CHECK(index->headers["x-content-type-options"] == "nosniff");
  CHECK(index->body.find("<script type=\"module\" src=\"signin.js\">") != std::string::npos);

  auto script = api.Send("GET", "/console/portal.js", "");
  REQUIRE(script.ok());
  CHECK(script->status == 200);
  CHECK(script->headers["content-type"] == "text/javascript; charset=utf-8");

  auto root = api.Send("GET", "/", "");
  REQUIRE(root.ok());
  CHECK(root->status == 302);
  CHECK(root->headers["location"] == "/console/");

  auto missing = api.Send("GET", "/console/missing.js", "");
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);
}

TEST_CASE("console pages share one header", "[console]") {
  testing::TempDir dir;
  testing::EscrowdProcess server;
  REQUIRE(server.Start(dir.path() + "/data", kAdminPassword));
  http::Client api = server.ApiClient();

  struct Page {
    std::string file, title, script;
  };
  const std::vector<Page> pages = {{"index.html", "Sign in", "signin.js"},
                                   {"portal.html", "My devices", "portal.js"},
                                   {"helpdesk.html", "Help desk", "helpdesk.js"},
                                   {"admin.html", "Admin", "admin.js"},
                                   {"audit.html", "Audit", "audit.js"}};
  auto count = [](const std::string& text, const std::string& part) {
    size_t found = 0;
    for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++found;
    return found;
  };

  for (const Page& page : pages) {
    INFO(page.file);
    auto reply = api.Send("GET", "/console/" + page.file, "");
    REQUIRE(reply.ok());
    REQUIRE(reply->status == 200);
    const std::string& html = reply->body;
    CHECK(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"));
    CHECK(html.ends_with("</main>\n</body>\n</html>\n"));
    CHECK(count(html, "<title>" + page.title + " - Escrow Ledger</title>") == 1);
    CHECK(count(html, "<h1>" + page.title + "</h1>") == 1);
    CHECK(count(html, "<header class=\"bar\"><span class=\"brand\">Escrow Ledger</span></header>") == 1);
    CHECK(count(html, "<link rel=\"stylesheet\" href=\"console.css\">") == 1);
    // The strict CSP forbids inline script and style: the page script is the only script.
    CHECK(count(html, "<script") == 1);
    CHECK(count(html, "<script type=\"module\" src=\"" + page.script + "\"></script>") == 1);
    CHECK(count(html, "<style") == 0);
    CHECK(count(html, "style=") == 0);
    // The build replaced every template field and removed the page line.
    CHECK(count(html, "@page_") == 0);
    CHECK(count(html, "<!-- page ") == 0);
  }

  // The template is a build input, not a served file.
  auto template_file = api.Send("GET", "/console/_page.html", "");
  REQUIRE(template_file.ok());
  CHECK(template_file->status == 404);
}

TEST_CASE("cross-origin state change is rejected", "[console]") {
  testing::TempDir dir;
  testing::EscrowdProcess server;
  REQUIRE(server.Start(dir.path() + "/data", kAdminPassword));
  http::Client api = server.ApiClient();
  const std::string login =
      json::serialize(json::object{{"username", "admin"}, {"password", kAdminPassword}});

  auto foreign = api.Send("POST", "/v1/sessions", login, {{"Origin", "http://attacker.test"}});
  REQUIRE(foreign.ok());
  CHECK(foreign->status == 403);
  CHECK(foreign->body.find("cross-origin request rejected") != std::string::npos);

  auto same = api.Send("POST", "/v1/sessions", login, {{"Origin", "https://" + server.api_address()}});
  REQUIRE(same.ok());
  CHECK(same->status == 200);

  // Non-browser clients send no Origin and are unaffected.
  auto plain = api.Send("POST", "/v1/sessions", login);
  REQUIRE(plain.ok());
  CHECK(plain->status == 200);
}

TEST_CASE("console in headless Chromium", "[console][browser]") {
  std::string script = testing::SourcePath("tests/browser/console_test.mjs");
  INFO("run tools/setup.sh to install chromium and the playwright-core package");
  REQUIRE(std::filesystem::exists(kChromiumPath));
  REQUIRE(std::filesystem::exists(testing::SourcePath("tests/browser/node_modules/playwright-core")));

  ConsoleFixture fixture;
  std::string screenshots = std::string(ESCROW_BINARY_DIR) + "/console-screenshots";
  std::filesystem::create_directories(screenshots);

  testing::CommandResult browser = testing::RunCommand(
      {kNodePath, script, fixture.BaseUrl(), fixture.WriteBrowserFixture(), screenshots}, {},
      kBrowserTimeoutS);
  INFO(browser.output);
  REQUIRE(browser.exit_code == 0);

  // Each revealed password is the one the device escrowed.
  std::vector<json::object> revealed = RevealedPasswords(browser.output);
  REQUIRE(revealed.size() == 2);
  CHECK(revealed[0].at("step") == "owner_reveal");
  CHECK(revealed[0].at("device") == "alice-phone");
  CHECK(revealed[1].at("step") == "helpdesk_reveal");
  CHECK(revealed[1].at("device") == "bob-laptop");
  for (const json::object& line : revealed) {
    std::string device_id(line.at("device").as_string());
    std::string password(line.at("password").as_string());
    CHECK(MatchesEscrowedPassword(fixture.device_state.at(device_id), password));
  }
  CHECK(std::filesystem::exists(screenshots + "/02-owner-password.png"));
  CHECK(std::filesystem::exists(screenshots + "/05-audit.png"));
  CHECK(std::filesystem::exists(screenshots + "/08-header-audit.png"));
}

}  // namespace
}  // namespace escrow
