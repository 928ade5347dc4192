// File permissions and core dumps of a real escrowd started with umask 000:
// the keys stay 0600 in a 0700 folder, nothing in the data directory is
// readable by other users, and the process cannot write a core dump.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/http/http.h"
#include "tests/test_support.h"

namespace escrow {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kAdminPassword = "permissions-test-admin-password";
constexpr mode_t kKeyFileMode = 0600;
constexpr mode_t kPrivateDirMode = 0700;
constexpr mode_t kGroupAndOtherBits = 0077;
constexpr mode_t kOtherBits = 0007;
constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kStopTimeout = std::chrono::seconds(30);
constexpr auto kPollInterval = std::chrono::milliseconds(50);

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// escrowd started through `sh -c 'umask 000; exec escrowd ...'`, so the
// process inherits a umask that would make every new file world-writable.
class EscrowdUnderUmask000 {
 public:
  EscrowdUnderUmask000(const std::string& data_dir, const std::string& work_dir)
      : ports_file_(work_dir + "/ports.json"), log_path_(work_dir + "/escrowd.log") {
    const std::vector<std::string> argv = {
        "/bin/sh", "-c", "umask 000; exec \"$0\" \"$@\"", testing::BinaryPath("escrowd"),
        "--data-dir", data_dir, "--api-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0",
        "--ports-file", ports_file_};
    pid_ = ::fork();
    if (pid_ == 0) ExecChild(argv);
  }

  ~EscrowdUnderUmask000() { Stop(); }

  // Waits for the ports file. Returns false when escrowd exited or timed out.
  bool WaitUntilListening() {
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (pid_ <= 0 || ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      json::error_code ec;
      json::value ports = json::parse(ReadText(ports_file_), ec);
      if (!ec && ports.is_object()) {
        api_port_ = static_cast<uint16_t>(ports.at("api").to_number<int>());
        return true;
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    return false;
  }

  // Sends SIGTERM and returns the exit status, or -1 when escrowd did not
  // exit normally in time (it is then killed).
  int Stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
  }

  pid_t pid() const { return pid_; }
  uint16_t api_port() const { return api_port_; }
  const std::string& log_path() const { return log_path_; }

 private:
  [[noreturn]] void ExecChild(const std::vector<std::string>& argv) {
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::setenv("ESCROW_ADMIN_PASSWORD", kAdminPassword, 1);
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }

  std::string ports_file_;
  std::string log_path_;
  pid_t pid_ = -1;
  uint16_t api_port_ = 0;
};

// Returns the soft and hard values of one line of /proc/PID/limits, e.g.
// {"0", "0"} or {"unlimited", "unlimited"}, or {} when the line is missing.
std::vector<std::string> ProcLimit(pid_t pid, const std::string& name) {
  std::istringstream limits(ReadText("/proc/" + std::to_string(pid) + "/limits"));
  std::string line;
  while (std::getline(limits, line)) {
    if (line.rfind(name, 0) != 0) continue;
    std::istringstream values(line.substr(name.size()));
    std::string soft, hard;
    values >> soft >> hard;
    return {soft, hard};
  }
  return {};
}

mode_t ModeOf(const fs::path& path) {
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

std::string Octal(mode_t mode) {
  std::ostringstream out;
  out << std::oct << mode;
  return out.str();
}

// Writes some ledger entries, so RocksDB creates its WAL and tables.
void WriteSomeEntries(uint16_t api_port, const std::string& ca_file) {
  http::Client api("127.0.0.1", api_port, std::chrono::seconds(30),
                   http::ClientTls::WithCaFile(ca_file));
  auto login = api.Send("POST", "/v1/sessions",
                        json::serialize(json::object{{"username", "admin"},
                                                     {"password", kAdminPassword}}));
  REQUIRE(login.ok());
  REQUIRE(login->status == 200);
  const std::string token(json::parse(login->body).at("token").as_string());
  const std::map<std::string, std::string> headers = {{"Authorization", "Bearer " + token}};

  auto account = api.Send("POST", "/v1/accounts",
                          R"({"username": "alice", "password": "alice-password", "roles": ["user"]})",
                          headers);
  REQUIRE(account.ok());
  CHECK(account->status == 201);
  auto device = api.Send("POST", "/v1/devices", R"({"device_id": "phone-1", "owner": "alice"})",
                         headers);
  REQUIRE(device.ok());
  CHECK(device->status == 201);
  auto checkpoint = api.Send("POST", "/v1/checkpoints", "", headers);
  REQUIRE(checkpoint.ok());
  CHECK(checkpoint->status == 201);
}

}  // namespace

TEST_CASE("escrowd disables core dumps", "[permissions]") {
  testing::TempDir dir;
  EscrowdUnderUmask000 server(dir.path() + "/data", dir.path());
  REQUIRE(server.WaitUntilListening());
  INFO(ReadText(server.log_path()));

  // The pid is escrowd itself, because sh replaced itself with exec.
  const std::string proc = "/proc/" + std::to_string(server.pid());
  CHECK(ReadText(proc + "/comm") == "escrowd\n");

  const std::vector<std::string> core_limit = ProcLimit(server.pid(), "Max core file size");
  REQUIRE(core_limit.size() == 2);
  CHECK(core_limit[0] == "0");
  CHECK(core_limit[1] == "0");
  CHECK(server.Stop() == 0);
}

TEST_CASE("escrowd keeps files private under umask 000", "[permissions]") {
  testing::TempDir dir;
  const std::string data_dir = dir.path() + "/data";
  {
    EscrowdUnderUmask000 server(data_dir, dir.path());
    REQUIRE(server.WaitUntilListening());
    INFO(ReadText(server.log_path()));
    WriteSomeEntries(server.api_port(), data_dir + "/keys/tls-ca.pem");
    REQUIRE(server.Stop() == 0);
  }

  // DATA_DIR/keys: the folder and any subfolder 0700, every file 0600.
  const fs::path keys = fs::path(data_dir) / "keys";
  REQUIRE(fs::is_directory(keys));
  CHECK(Octal(ModeOf(keys)) == Octal(kPrivateDirMode));
  size_t key_files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(keys)) {
    INFO(entry.path().string());
    if (entry.is_directory()) {
      CHECK(Octal(ModeOf(entry.path())) == Octal(kPrivateDirMode));
    } else {
      CHECK(Octal(ModeOf(entry.path())) == Octal(kKeyFileMode));
      key_files++;
    }
  }
  // At least the ledger signing key and the master key.
  CHECK(key_files >= 2);

  // DATA_DIR/db: not readable by other users.
  const fs::path db = fs::path(data_dir) / "db";
  REQUIRE(fs::is_directory(db));
  CHECK((ModeOf(db) & kOtherBits) == 0);

  // Everything escrowd created: no bit for group or others.
  CHECK((ModeOf(data_dir) & kGroupAndOtherBits) == 0);
  size_t entries = 0;
  for (const auto& entry : fs::recursive_directory_iterator(data_dir)) {
    INFO(entry.path().string() << " has mode " << Octal(ModeOf(entry.path())));
    CHECK((ModeOf(entry.path()) & kGroupAndOtherBits) == 0);
    entries++;
  }
  CHECK(entries > key_files);
}

}  // namespace escrow
