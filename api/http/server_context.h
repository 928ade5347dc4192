// Internal to the HTTP server: the state shared by a Server and its sessions.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "api/http/http.h"

namespace escrow::http::internal {

// One open connection, as seen by the server that has to close it on Stop.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection. Safe from any thread: posts to the session's strand.
  virtual void Close() = 0;
};

// Handler, limits, worker pool, counters and the registry of open sessions.
// Sessions hold it by shared_ptr, so it outlives every session.
//
// Thread safety: safe from any thread. Counters are atomic; the session
// registry and the stopping flag are guarded by mutex_.
class ServerContext {
 public:
  ServerContext(std::string name, Handler handler, ServerLimits limits);

  const std::string& name() const { return name_; }
  const ServerLimits& limits() const { return limits_; }
  const Handler& handler() const { return handler_; }
  boost::asio::thread_pool& workers() { return workers_; }
  spdlog::logger& log() { return *log_; }

  // Registers a session so that CloseAll reaches it. Returns its id, or
  // nullopt once CloseAll has run (the caller must then drop the session).
  std::optional<uint64_t> Register(std::weak_ptr<SessionBase> session);
  void Unregister(uint64_t id);
  // Closes every registered session and rejects later registrations.
  void CloseAll();

  // Takes one of max_connections slots; false when all are taken.
  bool TryAdmit();
  void Release();

  void CountResponse() { requests_served_.fetch_add(1, std::memory_order_relaxed); }
  void CountConnection() { connections_accepted_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t requests_served() const { return requests_served_.load(); }
  uint64_t connections_accepted() const { return connections_accepted_.load(); }

 private:
  const std::string name_;
  const Handler handler_;
  const ServerLimits limits_;
  std::shared_ptr<spdlog::logger> log_;
  boost::asio::thread_pool workers_;

  std::atomic<size_t> admitted_{0};
  std::atomic<uint64_t> requests_served_{0};
  std::atomic<uint64_t> connections_accepted_{0};

  std::mutex mutex_;
  bool stopping_ = false;                                            // GUARDED_BY(mutex_)
  uint64_t next_id_ = 1;                                             // GUARDED_BY(mutex_)
  std::unordered_map<uint64_t, std::weak_ptr<SessionBase>> sessions_;  // GUARDED_BY(mutex_)
};

}  // namespace escrow::http::internal
