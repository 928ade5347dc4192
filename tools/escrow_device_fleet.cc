#include "tools/escrow_device_fleet.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "api/http/http.h"
#include "device-gateway/device_client.h"
#include "device-gateway/json_fields.h"
#include "tools/escrow_device_admin.h"

namespace escrow::device {
namespace {

namespace json = boost::json;

constexpr size_t kMaxReportedFailures = 5;
constexpr size_t kOwnerPasswordBytes = 18;  // 24 base64 characters
constexpr std::string_view kOwnerRole = "user";
constexpr std::string_view kRetrievalChannel = "portal";
constexpr std::string_view kRetrievalReason = "fleet simulation: owner forgot the PIN";
constexpr std::chrono::seconds kRequestTimeout{60};
constexpr size_t kProgressBarWidth = 40;
constexpr size_t kProgressLineSteps = 10;  // without a TTY: a line every 10%
constexpr uint64_t kFinalGeneration = 2;
constexpr std::string_view kFinalState = "active";

// One simulated device's run. Each element is written by one worker only.
struct DeviceRun {
  std::string device_id;
  DeviceIdentity identity;
  bool lifecycle_done = false;
  bool verified = false;
  bool retrieved = false;
  bool dropped_and_retried = false;
  std::string failure;  // the failing step and the error
};

// A worker thread's connections: one http::Client per server.
struct Worker {
  explicit Worker(const FleetOptions& options)
      : api(options.api.host, options.api.port, kRequestTimeout, options.api.tls),
        gateway(options.gateway.host, options.gateway.port, kRequestTimeout, options.gateway.tls),
        admin(&api) {}
  http::Client api;
  http::Client gateway;
  ApiSession admin;
  Status admin_login;
};

// Progress on stderr: a bar redrawn in place on a TTY, else a line per 10%.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(isatty(STDERR_FILENO) == 1) {}

  void Advance() {
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    if (tty_) {
      size_t filled = total_ == 0 ? kProgressBarWidth : done_ * kProgressBarWidth / total_;
      fmt::print(stderr, "\r[{}{}] {}/{} devices", std::string(filled, '#'),
                 std::string(kProgressBarWidth - filled, ' '), done_, total_);
      if (done_ == total_) fmt::print(stderr, "\n");
      return;
    }
    size_t step = total_ == 0 ? kProgressLineSteps : done_ * kProgressLineSteps / total_;
    if (step > reported_step_) {
      reported_step_ = step;
      fmt::print(stderr, "progress: {}/{} devices ({}%)\n", done_, total_,
                 done_ * 100 / total_);
    }
  }

 private:
  std::mutex mu_;
  const size_t total_;
  const bool tty_;
  size_t done_ = 0;           // guarded by mu_
  size_t reported_step_ = 0;  // guarded by mu_
};

// Prefixes a failure with the step that failed.
Status AtStep(std::string_view step, const Status& status) {
  if (status.ok()) return status;
  return Status(status.code(), fmt::format("{}: {}", step, status.message()));
}

// Admin: the owner's account and the device's enrollment token.
Result<crypto::SecretString> RegisterWithOwner(Worker& worker, const DeviceRun& run,
                                               const std::string& owner,
                                               const crypto::SecretString& owner_password) {
  ESCROW_RETURN_IF_ERROR(AtStep("admin login", worker.admin_login));
  ESCROW_RETURN_IF_ERROR(AtStep("create owner account",
                                worker.admin.CreateAccount(owner, owner_password, kOwnerRole)));
  auto token = worker.admin.RegisterDevice(run.device_id, owner);
  if (!token.ok()) return AtStep("register device", token.status());
  return token;
}

// Device: enroll, check in, escrow generation 1, arm.
Status EnrollAndArm(GatewayClient& device, const crypto::SecretString& token) {
  auto enrolled = device.Enroll(token);
  if (!enrolled.ok()) return AtStep("enroll", enrolled.status());
  auto check_in = device.CheckIn();
  if (!check_in.ok()) return AtStep("first check-in", check_in.status());
  if (!check_in->HasAction(kActionEscrowNewPassword)) {
    return FailedPrecondition("first check-in: the server did not ask for a recovery password");
  }
  auto escrowed = device.EscrowNewPassword();
  if (!escrowed.ok()) return AtStep("escrow generation 1", escrowed.status());
  auto armed = device.Arm();
  return AtStep("arm generation 1", armed.status());
}

// Owner: portal login and self-service retrieval.
Result<crypto::SecretString> RetrieveAsOwner(Worker& worker, const std::string& owner,
                                             const crypto::SecretString& owner_password,
                                             const std::string& device_id) {
  ApiSession session(&worker.api);
  ESCROW_RETURN_IF_ERROR(AtStep("owner login", session.Login(owner, owner_password)));
  auto password = session.RetrieveRecoveryPassword(device_id, kRetrievalChannel,
                                                   kRetrievalReason);
  if (!password.ok()) return AtStep("owner retrieval", password.status());
  ESCROW_RETURN_IF_ERROR(AtStep("owner logout", session.Logout()));
  return password;
}

// Device: escrow generation 2. With drop set, the first upload's connection
// is closed before the reply, and the retry sends the same envelope under a
// new counter, which the server accepts or reports as already escrowed.
Status EscrowSecondGeneration(Worker& worker, const FleetOptions& options,
                              GatewayClient& device, bool drop) {
  if (drop) {
    ESCROW_RETURN_IF_ERROR(AtStep("prepare generation 2", device.PreparePendingEscrow()));
    ESCROW_RETURN_IF_ERROR(AtStep("dropped upload of generation 2",
                                  device.SendPendingEscrowAndDrop(options.gateway.host,
                                                                  options.gateway.port)));
    worker.gateway.Close();
  }
  auto escrowed = device.EscrowNewPassword();
  if (!escrowed.ok()) return AtStep("escrow generation 2", escrowed.status());
  if (escrowed->generation != kFinalGeneration) {
    return Internal(fmt::format("escrow generation 2: the server confirmed generation {}",
                                escrowed->generation));
  }
  return Status::Ok();
}

Status RunLifecycle(Worker& worker, const FleetOptions& options, bool drop, DeviceRun& run) {
  const std::string owner = run.device_id + "-owner";
  crypto::SecretString owner_password(
      crypto::Base64Encode(crypto::RandomBytes(kOwnerPasswordBytes)));
  auto token = RegisterWithOwner(worker, run, owner, owner_password);
  if (!token.ok()) return token.status();

  run.identity = NewDeviceIdentity(run.device_id);
  run.identity.os_version = options.os_version;
  run.identity.client_version = options.client_version;
  GatewayClient device(&worker.gateway, &run.identity, "");
  ESCROW_RETURN_IF_ERROR(EnrollAndArm(device, *token));

  auto password = RetrieveAsOwner(worker, owner, owner_password, run.device_id);
  if (!password.ok()) return password.status();
  run.retrieved = true;

  // The owner types the retrieved password on the locked device.
  auto matches = device.CheckRecoveryPassword(password->view());
  if (!matches.ok()) return AtStep("check retrieved password", matches.status());
  if (!*matches) {
    return Internal("the retrieved password does not match the device's own hash");
  }
  auto reset = device.Reset(password->view(), /*escrow_next=*/false);
  if (!reset.ok()) return AtStep("reset", reset.status());
  if (!reset->check_in.HasAction(kActionEscrowNewPassword)) {
    return FailedPrecondition("check-in after reset: the server did not ask for a new password");
  }

  ESCROW_RETURN_IF_ERROR(EscrowSecondGeneration(worker, options, device, drop));
  run.dropped_and_retried = drop;
  return AtStep("arm generation 2", device.Arm().status());
}

// Compares the server's view of the device with the device's own.
Status VerifyDevice(Worker& worker, const DeviceRun& run) {
  auto state = worker.admin.GetDevice(run.device_id);
  if (!state.ok()) return AtStep("read device state", state.status());
  auto generation = gateway::GetUint(*state, "generation");
  auto armed = gateway::GetBool(*state, "armed");
  auto lifecycle = gateway::GetString(*state, "state");
  for (const Status* status : {&generation.status(), &armed.status(), &lifecycle.status()}) {
    if (!status->ok()) return AtStep("read device state", *status);
  }

  const DeviceIdentity& own = run.identity;
  bool server_expected =
      *generation == kFinalGeneration && *armed && *lifecycle == kFinalState;
  bool device_agrees = own.generation == *generation && own.armed == *armed;
  if (server_expected && device_agrees) return Status::Ok();
  return FailedPrecondition(fmt::format(
      "server shows generation {}, armed {}, state {}; the device holds generation {}, armed {}",
      *generation, *armed, *lifecycle, own.generation, own.armed));
}

// Runs task(worker, index) for every index in [0, count) on the workers'
// threads, each worker taking the next index until none is left.
void ForEachDevice(std::vector<std::unique_ptr<Worker>>& workers, size_t count,
                   const std::function<void(Worker&, size_t)>& task) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (auto& worker : workers) {
    threads.emplace_back([&next, &task, count, w = worker.get()] {
      for (size_t i = next++; i < count; i = next++) task(*w, i);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

struct Summary {
  size_t ok = 0;
  size_t failed = 0;
  size_t retrievals = 0;
  size_t dropped_and_retried = 0;
  double elapsed_s = 0;
  std::vector<const DeviceRun*> failures;
};

Summary Summarize(const std::vector<DeviceRun>& runs, double elapsed_s) {
  Summary summary;
  summary.elapsed_s = elapsed_s;
  for (const DeviceRun& run : runs) {
    if (run.retrieved) summary.retrievals++;
    if (run.dropped_and_retried) summary.dropped_and_retried++;
    if (run.verified) {
      summary.ok++;
    } else {
      summary.failed++;
      summary.failures.push_back(&run);
    }
  }
  return summary;
}

void PrintSummary(const Summary& summary, size_t devices, bool as_json) {
  double rate = summary.elapsed_s > 0 ? static_cast<double>(devices) / summary.elapsed_s : 0;
  if (as_json) {
    json::object out;
    out["devices"] = devices;
    out["ok"] = summary.ok;
    out["failed"] = summary.failed;
    out["retrievals"] = summary.retrievals;
    out["dropped_and_retried"] = summary.dropped_and_retried;
    out["elapsed_s"] = summary.elapsed_s;
    out["devices_per_s"] = rate;
    json::array failures;
    for (const DeviceRun* run : summary.failures) {
      failures.emplace_back(json::object{{"device_id", run->device_id}, {"reason", run->failure}});
    }
    out["failures"] = std::move(failures);
    fmt::print("{}\n", json::serialize(out));
    return;
  }
  fmt::print("devices: {} ok, {} failed\n", summary.ok, summary.failed);
  fmt::print("retrievals: {}\n", summary.retrievals);
  fmt::print("dropped and retried: {}\n", summary.dropped_and_retried);
  fmt::print("elapsed: {:.2f} s ({:.1f} devices/s)\n", summary.elapsed_s, rate);
}

void PrintFailures(const Summary& summary) {
  for (size_t i = 0; i < summary.failures.size() && i < kMaxReportedFailures; ++i) {
    fmt::print(stderr, "device {} failed: {}\n", summary.failures[i]->device_id,
               summary.failures[i]->failure);
  }
  if (summary.failures.size() > kMaxReportedFailures) {
    fmt::print(stderr, "... and {} more failed devices\n",
               summary.failures.size() - kMaxReportedFailures);
  }
}

}  // namespace

int RunFleet(const FleetOptions& options) {
  auto started = std::chrono::steady_clock::now();
  std::vector<DeviceRun> runs(options.devices);
  for (size_t i = 0; i < runs.size(); ++i) {
    runs[i].device_id = fmt::format("{}-{}", options.id_prefix, i + 1);
  }

  // One worker per thread, each with its own admin session.
  size_t thread_count = std::max<size_t>(1, std::min(options.concurrency, options.devices));
  std::vector<std::unique_ptr<Worker>> workers;
  for (size_t i = 0; i < thread_count; ++i) workers.push_back(std::make_unique<Worker>(options));
  ForEachDevice(workers, workers.size(), [&](Worker&, size_t i) {
    workers[i]->admin_login = workers[i]->admin.Login(options.admin_user, options.admin_password);
  });

  // Phase 1: every device's lifecycle. Device number i + 1 drops when it is
  // a multiple of drop_every.
  Progress progress(runs.size());
  ForEachDevice(workers, runs.size(), [&](Worker& worker, size_t i) {
    bool drop = options.drop_every != 0 && (i + 1) % options.drop_every == 0;
    Status status = RunLifecycle(worker, options, drop, runs[i]);
    runs[i].lifecycle_done = status.ok();
    if (!status.ok()) runs[i].failure = status.message();
    progress.Advance();
  });

  // Phase 2: the server's view of each device against the device's own.
  ForEachDevice(workers, runs.size(), [&](Worker& worker, size_t i) {
    if (!runs[i].lifecycle_done) return;
    Status status = VerifyDevice(worker, runs[i]);
    runs[i].verified = status.ok();
    if (!status.ok()) runs[i].failure = status.message();
  });
  workers.clear();  // logs the admin sessions out

  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  Summary summary = Summarize(runs, elapsed.count());
  PrintSummary(summary, runs.size(), options.json);
  PrintFailures(summary);
  return summary.failed == 0 ? 0 : 1;
}

}  // namespace escrow::device
