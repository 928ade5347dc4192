#include "ledger/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace escrow {

std::shared_ptr<spdlog::logger> Logger(const std::string& name) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto logger = spdlog::get(name);
  if (!logger) logger = spdlog::stderr_color_mt(name);
  return logger;
}

}  // namespace escrow
