// The whole API stack in one test process: RocksDB in a temporary data
// directory, the sequencer, EscrowService, a checkpointer for
// POST /v1/checkpoints, and the Api behind an http::Server on 127.0.0.1
// (port picked by the kernel). Only the Api's clock is injected, so tests
// can move time.
//
// Thread safety: an ApiStack is used by the test's thread, and the server
// handles requests on its own threads.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "api/api.h"
#include "api/http/http.h"
#include "api/password_hash.h"
#include "api/rate_limit.h"
#include "ledger/checkpointer.h"
#include "ledger/crypto.h"
#include "ledger/keys.h"
#include "ledger/sequencer.h"
#include "ledger/store.h"
#include "projections/service.h"
#include "tests/test_support.h"

namespace escrow::testing {

// One HTTP reply: the status, the raw body, the headers, and the body parsed
// as a JSON object when it is one (empty otherwise).
struct ApiReply {
  int status = 0;
  std::string raw;
  std::map<std::string, std::string> headers;
  boost::json::object body;
};

class ApiStack {
 public:
  struct Options {
    api::RateLimits rate_limits = api::RateLimits::Unlimited();
    // The cheapest allowed cost, so each hash takes milliseconds.
    uint64_t password_log_n = api::kMinPasswordLogN;
    int64_t start_ns = 1'700'000'000'000'000'000;  // the clock's first value
  };

  // Opens the data directory, starts the sequencer and the server. Fails the
  // test (REQUIRE) when a step fails.
  explicit ApiStack(Options options);
  ApiStack() : ApiStack(Options{}) {}
  virtual ~ApiStack();
  ApiStack(const ApiStack&) = delete;
  ApiStack& operator=(const ApiStack&) = delete;

  // Stops the server and the sequencer and closes the database, so offline
  // tools can open it. Later calls do nothing.
  void Shutdown();

  // Sends one request, with `Authorization: Bearer token` unless token is empty.
  ApiReply Send(const std::string& method, const std::string& target,
                const std::string& body = "", const std::string& token = "");

  // Registers device_id for owner, enrolls it and escrows generation 1 of
  // digits, each step signed by a fresh device key as the gateway would.
  void EscrowDevice(const std::string& device_id, const std::string& owner,
                    const std::string& digits);

  // Returns the origin of a device request to path with this counter,
  // signed with key the way device-gateway signs requests.
  static projections::DeviceOrigin SignedOrigin(const crypto::KeyPair& key,
                                                const std::string& device_id, uint64_t counter,
                                                const std::string& path);

  void AdvanceClock(int64_t ns) { now_ns_ += ns; }

  ledger::Store* store() { return store_.get(); }
  ledger::Sequencer& sequencer() { return *sequencer_; }
  projections::EscrowService& service() { return *service_; }
  ledger::Checkpointer& checkpointer() { return *checkpointer_; }
  http::Client& client() { return *client_; }
  std::string data_dir() const { return dir_.path() + "/data"; }
  const std::string& root_dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::unique_ptr<ledger::Store> store_;
  std::optional<ledger::SigningKey> signing_;
  std::optional<ledger::MasterKey> master_;
  std::unique_ptr<ledger::Sequencer> sequencer_;
  std::unique_ptr<projections::EscrowService> service_;
  std::unique_ptr<ledger::Checkpointer> checkpointer_;
  std::atomic<int64_t> now_ns_;
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Client> client_;
};

}  // namespace escrow::testing
