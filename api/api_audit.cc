// Api routes for the audit view, the ledger head, /healthz and /metrics.
#include <boost/json.hpp>

#include "api/api.h"
#include "api/route_util.h"
#include "api/time_format.h"
#include "api/views.h"
#include "ledger/entry.h"
#include "projections/queries.h"

namespace escrow::api {

namespace json = boost::json;
using projections::kRoleAdmin;
using projections::kRoleAuditor;

namespace {

std::string QueryValue(const http::Request& request, const std::string& name) {
  auto it = request.query.find(name);
  return it == request.query.end() ? std::string() : it->second;
}

Result<bool> ParseFlag(const std::string& text, std::string_view field) {
  if (text.empty() || text == "0" || text == "false") return false;
  if (text == "1" || text == "true") return true;
  return InvalidArgument("query parameter \"" + std::string(field) +
                         "\" must be 1, 0, true or false");
}

Result<projections::AuditFilter> ParseAuditFilter(const http::Request& request) {
  projections::AuditFilter filter;
  filter.device_id = QueryValue(request, "device");
  filter.actor = QueryValue(request, "actor");

  std::string since = QueryValue(request, "since");
  if (!since.empty()) {
    auto value = ParseTime(since, "since");
    if (!value.ok()) return value.status();
    filter.since_ns = *value;
  }
  std::string until = QueryValue(request, "until");
  if (!until.empty()) {
    auto value = ParseTime(until, "until");
    if (!value.ok()) return value.status();
    filter.until_ns = *value;
  }
  auto denied = ParseFlag(QueryValue(request, "denied"), "denied");
  if (!denied.ok()) return denied.status();
  filter.denied_only = *denied;

  std::string limit = QueryValue(request, "limit");
  if (!limit.empty()) {
    if (limit.size() > 9 || limit.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(limit) == 0 || std::stoul(limit) > kMaxAuditLimit) {
      return InvalidArgument("query parameter \"limit\" must be between 1 and " +
                             std::to_string(kMaxAuditLimit));
    }
    filter.limit = std::stoul(limit);
  }
  return filter;
}

}  // namespace

http::Response Api::QueryAudit(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAuditor, kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  auto filter = ParseAuditFilter(call.request);
  if (!filter.ok()) return ErrorReply(filter.status());
  std::string format = QueryValue(call.request, "format");
  if (!format.empty() && format != "json" && format != "csv") {
    return ErrorReply(InvalidArgument("query parameter \"format\" must be json or csv"));
  }

  // With both device and actor, query by device and keep the actor's records.
  std::string actor = filter->actor;
  if (!filter->device_id.empty()) filter->actor.clear();
  auto records = projections::QueryAudit(*store_, *filter);
  if (!records.ok()) return ErrorReply(records.status());

  json::array list;
  for (const auto& record : *records) {
    if (!actor.empty() && record.actor != actor) continue;
    list.emplace_back(AuditRecordToJson(record));
  }
  if (format == "csv") return AuditCsvReply(list);
  json::object reply;
  reply["records"] = std::move(list);
  return JsonReply(200, reply);
}

http::Response Api::LedgerHead(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAuditor, kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  auto seq = store_->LastSeq();
  if (!seq.ok()) return ErrorReply(seq.status());

  json::object reply;
  reply["seq"] = *seq;
  reply["leaf_hash"] = "";
  if (*seq > 0) {
    auto bytes = store_->ReadEntry(*seq);
    if (!bytes.ok()) return ErrorReply(bytes.status());
    if (!bytes->has_value()) return ErrorReply(Internal("ledger head entry is missing"));
    auto decoded = ledger::DecodeEntry(**bytes);
    if (!decoded.ok()) return ErrorReply(decoded.status());
    reply["leaf_hash"] = crypto::HexEncode(ledger::LeafHash(decoded->body));
    PutTime(reply, "time", decoded->entry.time_ns);
  }
  return JsonReply(200, reply);
}

http::Response Api::Health(const Call&) {
  json::object reply;
  reply["status"] = "ok";
  reply["seq"] = sequencer_ != nullptr ? sequencer_->committed_seq() : 0;
  // False while the ledger cannot commit; TryResume retries at most every
  // ledger::kResumeRetryInterval, so polling /healthz cannot hammer the disk.
  reply["ledger_writable"] = store_->TryResume();
  return JsonReply(200, reply);
}

http::Response Api::Metrics(const Call&) {
  uint64_t seq = sequencer_ != nullptr ? sequencer_->committed_seq() : 0;
  http::Response response;
  response.content_type = "text/plain; version=0.0.4";
  response.body = metrics_.Render(seq);
  std::function<std::string()> source;
  {
    std::lock_guard<std::mutex> lock(metrics_mu_);
    source = metrics_source_;
  }
  if (source) response.body += source();
  return response;
}

}  // namespace escrow::api
