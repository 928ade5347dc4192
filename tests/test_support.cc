#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace escrow::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/escrow-test-XXXXXX";
  char* made = ::mkdtemp(pattern.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  if (std::getenv("ESCROW_KEEP_TEST_DIRS") != nullptr) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

LedgerDir::LedgerDir()
    : store(ledger::Store::Open(dir.path())),
      key(store.ok() ? ledger::SigningKey::LoadOrCreate((*store)->keys_dir())
                     : Result<ledger::SigningKey>(store.status())) {
  REQUIRE(store.ok());
  REQUIRE(key.ok());
}

std::string BinaryPath(const std::string& name) {
  return std::string(ESCROW_BINARY_DIR) + "/tools/" + name;
}

std::string SourcePath(const std::string& relative) {
  return std::string(ESCROW_SOURCE_DIR) + "/" + relative;
}

namespace {

// Forks and execs argv with extra environment; stdout and stderr go to out_path.
pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const std::string& out_path) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::close(fd);
  }
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

EscrowdProcess::~EscrowdProcess() { Stop(); }

bool EscrowdProcess::Start(const std::string& data_dir, const std::string& admin_password,
                           const std::vector<std::string>& extra_args) {
  log_path_ = data_dir + "/escrowd.log";
  std::string ports_file = data_dir + "/ports.json";
  fs::create_directories(data_dir);
  fs::remove(ports_file);
  std::vector<std::string> argv = {BinaryPath("escrowd"), "--data-dir",  data_dir,
                                   "--api-listen",        "127.0.0.1:0", "--gateway-listen",
                                   "127.0.0.1:0",         "--ports-file", ports_file,
                                   // Cheap password hashes keep account setup fast.
                                   "--password-hash-log-n", "14"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  pid_ = Spawn(argv, {{"ESCROW_ADMIN_PASSWORD", admin_password}}, log_path_);
  if (pid_ < 0) return false;

  // Wait up to 30 s for the ports file, failing early if escrowd exits.
  for (int i = 0; i < 300; i++) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::string text = Slurp(ports_file);
    if (!text.empty()) {
      boost::system::error_code ec;
      auto value = boost::json::parse(text, ec);
      if (!ec && value.is_object()) {
        api_port_ = static_cast<uint16_t>(value.at("api").to_number<int>());
        gateway_port_ = static_cast<uint16_t>(value.at("gateway").to_number<int>());
        ca_file_ = data_dir + "/keys/tls-ca.pem";
        ::setenv("ESCROW_CA_FILE", ca_file_.c_str(), 1);
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Stop();
  return false;
}

http::Client EscrowdProcess::ApiClient() const {
  return http::Client("127.0.0.1", api_port_, std::chrono::seconds(60),
                      http::ClientTls::WithCaFile(ca_file_));
}

http::Client EscrowdProcess::GatewayClient() const {
  return http::Client("127.0.0.1", gateway_port_, std::chrono::seconds(60),
                      http::ClientTls::WithCaFile(ca_file_));
}

int EscrowdProcess::Stop() {
  if (pid_ < 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 300; i++) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env, int timeout_s) {
  CommandResult result;
  char path_template[] = "/tmp/escrow-cmd-XXXXXX";
  int fd = ::mkstemp(path_template);
  if (fd < 0) return result;
  ::close(fd);
  std::string out_path = path_template;
  pid_t pid = Spawn(argv, env, out_path);
  int status = 0;
  bool done = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      done = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  result.output = Slurp(out_path);
  fs::remove(out_path);
  return result;
}

}  // namespace escrow::testing
