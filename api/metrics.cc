#include "api/metrics.h"

#include <fmt/format.h>

namespace escrow::api {

void ApiMetrics::CountRequest(const std::string& route_class, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route_class, status}];
}

void ApiMetrics::CountLoginRejected(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++login_rejections_[reason];
}

void ApiMetrics::CountRateLimited(const std::string& route, const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  ++rate_limited_[{route, key}];
}

std::string ApiMetrics::Render(uint64_t ledger_seq) const {
  std::string out;
  out += "# HELP escrow_api_requests_total API requests by route class and HTTP status.\n";
  out += "# TYPE escrow_api_requests_total counter\n";
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, count] : requests_) {
      out += fmt::format("escrow_api_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                         key.first, key.second, count);
    }
  }

  out += "# HELP escrow_retrievals_total Recovery passwords handed out.\n";
  out += "# TYPE escrow_retrievals_total counter\n";
  out += fmt::format("escrow_retrievals_total {}\n", retrievals_.load());
  out += "# HELP escrow_retrievals_denied_total Retrievals denied and recorded in the ledger.\n";
  out += "# TYPE escrow_retrievals_denied_total counter\n";
  out += fmt::format("escrow_retrievals_denied_total {}\n", denied_retrievals_.load());

  out += "# HELP escrow_logins_total Login attempts by result.\n";
  out += "# TYPE escrow_logins_total counter\n";
  out += fmt::format("escrow_logins_total{{result=\"ok\"}} {}\n", logins_ok_.load());
  out += fmt::format("escrow_logins_total{{result=\"failed\"}} {}\n", logins_failed_.load());

  out += "# HELP escrow_login_rejected_total Rejected logins and password changes by reason.\n";
  out += "# TYPE escrow_login_rejected_total counter\n";
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [reason, count] : login_rejections_) {
      out += fmt::format("escrow_login_rejected_total{{reason=\"{}\"}} {}\n", reason, count);
    }
  }
  out += "# HELP escrow_rate_limited_total Requests rejected with 429 by route and limit key.\n";
  out += "# TYPE escrow_rate_limited_total counter\n";
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, count] : rate_limited_) {
      out += fmt::format("escrow_rate_limited_total{{route=\"{}\",key=\"{}\"}} {}\n", key.first,
                         key.second, count);
    }
  }
  out += "# HELP escrow_login_lockouts_total Account names locked after repeated failed logins.\n";
  out += "# TYPE escrow_login_lockouts_total counter\n";
  out += fmt::format("escrow_login_lockouts_total {}\n", lockouts_.load());

  out += "# HELP escrow_ledger_seq Last committed ledger sequence number.\n";
  out += "# TYPE escrow_ledger_seq gauge\n";
  out += fmt::format("escrow_ledger_seq {}\n", ledger_seq);
  return out;
}

}  // namespace escrow::api
