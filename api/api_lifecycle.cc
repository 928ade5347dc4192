// Api routes for owner read receipts (GET /v1/me/retrievals), point-in-time
// queries (GET /v1/devices/{id}/valid-at) and the CSV form of the audit view.
#include <algorithm>
#include <boost/json.hpp>

#include "api/api.h"
#include "api/route_util.h"
#include "api/time_format.h"
#include "api/views.h"
#include "ledger/events.h"
#include "projections/queries.h"

namespace escrow::api {

namespace json = boost::json;
using ledger::EventType;

namespace {

constexpr std::string_view kAuditCsvHeader =
    "seq,time,device_id,actor,outcome,generation,channel,reason,denial_reason\r\n";
// Characters that make a spreadsheet read a cell as a formula.
constexpr std::string_view kFormulaPrefixes = "=+-@";

std::string QueryValue(const http::Request& request, const std::string& name) {
  auto it = request.query.find(name);
  return it == request.query.end() ? std::string() : it->second;
}

// Returns the text of a string, number or bool field, or "" for other values.
std::string CellText(const json::object& record, std::string_view key) {
  auto it = record.find(key);
  if (it == record.end()) return "";
  const json::value& value = it->value();
  if (value.is_string()) return std::string(value.as_string());
  if (value.is_bool()) return value.as_bool() ? "true" : "false";
  if (value.is_number()) return json::serialize(value);
  return "";
}

Result<size_t> ParseReceiptLimit(const std::string& text) {
  if (text.empty()) return kMaxAuditLimit;
  if (text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(text) == 0 || std::stoul(text) > kMaxAuditLimit) {
    return InvalidArgument("query parameter \"limit\" must be between 1 and " +
                           std::to_string(kMaxAuditLimit));
  }
  return std::stoul(text);
}

// ---------------------------------------------------------------------------
// Point in time: one device's recovery password state replayed up to a time.

struct PointInTime {
  bool enrolled = false;
  bool retired = false;
  uint64_t generation = 0;  // newest escrowed generation, 0 = none
  bool valid = false;
  bool armed = false;
  uint64_t valid_from_seq = 0;  // the RecoveryPasswordEscrowed entry of `generation`
  int64_t valid_from_ns = 0;
  uint64_t armed_seq = 0;
  uint64_t invalidated_seq = 0;  // set when `generation` was invalidated
  std::string invalidation_reason;
  uint64_t as_of_seq = 0;  // the newest entry replayed
};

template <class Event>
Result<Event> Payload(const ledger::Entry& entry) {
  auto event = ledger::DecodePayload<Event>(entry.payload);
  if (!event.ok()) {
    return Internal("ledger entry " + std::to_string(entry.seq) + " has a malformed payload: " +
                    event.status().message());
  }
  return event;
}

// Applies one timeline entry with the projector's rules for device state.
Status Apply(const ledger::Entry& entry, PointInTime& state) {
  switch (static_cast<EventType>(entry.type)) {
    case EventType::kDeviceEnrolled:
      state.enrolled = true;
      break;
    case EventType::kRecoveryPasswordEscrowed: {
      auto e = Payload<ledger::RecoveryPasswordEscrowed>(entry);
      if (!e.ok()) return e.status();
      state.generation = e->generation;
      state.valid = true;
      state.armed = false;
      state.valid_from_seq = entry.seq;
      state.valid_from_ns = entry.time_ns;
      state.armed_seq = 0;
      state.invalidated_seq = 0;
      state.invalidation_reason.clear();
      break;
    }
    case EventType::kRecoveryPasswordArmed: {
      auto e = Payload<ledger::RecoveryPasswordArmed>(entry);
      if (!e.ok()) return e.status();
      if (e->generation != state.generation || !state.valid) break;
      state.armed = true;
      state.armed_seq = entry.seq;
      break;
    }
    case EventType::kDeviceResetReported: {
      // The used generation stays valid until the next one is escrowed.
      auto e = Payload<ledger::DeviceResetReported>(entry);
      if (!e.ok()) return e.status();
      break;
    }
    case EventType::kRecoveryPasswordInvalidated: {
      auto e = Payload<ledger::RecoveryPasswordInvalidated>(entry);
      if (!e.ok()) return e.status();
      if (e->generation != state.generation || !state.valid) break;
      state.valid = false;
      state.armed = false;
      state.invalidated_seq = entry.seq;
      state.invalidation_reason = e->reason;
      break;
    }
    case EventType::kDeviceRetired:
      state.retired = true;
      if (state.valid) {
        state.invalidated_seq = entry.seq;
        state.invalidation_reason = "retired";
      }
      state.valid = false;
      state.armed = false;
      break;
    default:
      break;
  }
  state.as_of_seq = entry.seq;
  return Status::Ok();
}

// Returns the seq of the first entry after `from` that ends `generation`'s
// validity (its invalidation or the retirement), or 0 when it is still valid.
Result<uint64_t> ValidUntilSeq(const std::vector<ledger::Entry>& timeline, size_t from,
                               uint64_t generation) {
  for (size_t i = from; i < timeline.size(); ++i) {
    const ledger::Entry& entry = timeline[i];
    if (entry.type == static_cast<uint16_t>(EventType::kDeviceRetired)) return entry.seq;
    if (entry.type != static_cast<uint16_t>(EventType::kRecoveryPasswordInvalidated)) continue;
    auto e = Payload<ledger::RecoveryPasswordInvalidated>(entry);
    if (!e.ok()) return e.status();
    if (e->generation == generation) return entry.seq;
  }
  return uint64_t{0};
}

// Returns why no generation was valid. Requires state.valid == false.
std::string NoValidGenerationReason(const PointInTime& state) {
  if (!state.enrolled) return "the device had not enrolled yet";
  if (state.retired) return "the device was retired";
  if (state.generation == 0) return "no recovery password had been escrowed yet";
  return "generation " + std::to_string(state.generation) + " was invalidated (" +
         state.invalidation_reason + ") at seq " + std::to_string(state.invalidated_seq);
}

json::object PointInTimeToJson(const PointInTime& state, uint64_t valid_until_seq) {
  json::object out;
  out["valid"] = state.valid;
  out["generation"] = state.valid ? state.generation : 0;
  out["armed"] = state.valid && state.armed;
  out["status"] = PasswordStatus(state.valid, state.armed);
  out["as_of_seq"] = state.as_of_seq;
  if (!state.valid) {
    out["message"] = "no valid generation: " + NoValidGenerationReason(state);
    return out;
  }
  out["valid_from_seq"] = state.valid_from_seq;
  PutTime(out, "valid_from", state.valid_from_ns);
  out["valid_until_seq"] = valid_until_seq;  // 0: still valid now
  out["armed_seq"] = state.armed_seq;
  return out;
}

}  // namespace

std::string AuditRecordsToCsv(const json::array& records) {
  // RFC 4180: CRLF line ends, and a cell with a quote, comma or line break is
  // quoted with its quotes doubled.
  auto cell = [](std::string text) {
    if (!text.empty() && kFormulaPrefixes.find(text[0]) != std::string_view::npos) {
      text.insert(0, "'");
    }
    if (text.find_first_of("\",\r\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  };

  std::string csv(kAuditCsvHeader);
  for (const json::value& item : records) {
    if (!item.is_object()) continue;
    const json::object& r = item.as_object();
    bool denied = r.contains("denied") && r.at("denied").is_bool() && r.at("denied").as_bool();
    csv += cell(CellText(r, "seq")) + "," + cell(CellText(r, "time")) + "," +
           cell(CellText(r, "device_id")) + "," + cell(CellText(r, "actor")) + "," +
           (denied ? "denied" : "retrieved") + "," + cell(denied ? "" : CellText(r, "generation")) +
           "," + cell(CellText(r, "channel")) + "," + cell(CellText(r, "reason")) + "," +
           cell(CellText(r, "denial_reason")) + "\r\n";
  }
  return csv;
}

http::Response Api::AuditCsvReply(const json::array& records) {
  http::Response response;
  response.content_type = "text/csv; charset=utf-8";
  response.headers["Cache-Control"] = "no-store";
  response.headers["Content-Disposition"] = "attachment; filename=\"audit.csv\"";
  response.body = AuditRecordsToCsv(records);
  return response;
}

http::Response Api::ListMyRetrievals(const Call& call) {
  auto limit = ParseReceiptLimit(QueryValue(call.request, "limit"));
  if (!limit.ok()) return ErrorReply(limit.status());

  // Step 1: every device the caller owns, page by page.
  std::vector<std::string> device_ids;
  projections::DeviceFilter filter;
  filter.owner = call.principal->name;
  filter.limit = kMaxDeviceListLimit;
  while (true) {
    auto page = projections::ListDevices(*store_, filter);
    if (!page.ok()) return ErrorReply(page.status());
    for (const auto& device : *page) device_ids.push_back(device.device_id);
    if (page->size() < filter.limit) break;
    filter.after = page->back().device_id;
  }

  // Step 2: the retrievals and denials of each, newest `limit` in seq order.
  std::vector<projections::AuditRecord> records;
  for (const std::string& device_id : device_ids) {
    projections::AuditFilter audit;
    audit.device_id = device_id;
    // NOTE: QueryAudit returns the oldest kMaxAuditLimit records per device, so
    // newer receipts of a device with more retrievals than that are left out.
    audit.limit = kMaxAuditLimit;
    auto found = projections::QueryAudit(*store_, audit);
    if (!found.ok()) return ErrorReply(found.status());
    records.insert(records.end(), found->begin(), found->end());
  }
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.seq < b.seq; });
  if (records.size() > *limit) records.erase(records.begin(), records.end() - *limit);

  // Step 3: who, when, through which channel. The retriever's reason text
  // stays in the audit view, because a ticket note is internal to the help desk.
  json::array receipts;
  for (const auto& record : records) {
    json::object receipt;
    receipt["seq"] = record.seq;
    PutTime(receipt, "time", record.time_ns);
    receipt["device_id"] = record.device_id;
    receipt["actor"] = record.actor;
    receipt["channel"] = record.channel;
    receipt["outcome"] = record.denied ? "denied" : "retrieved";
    receipt["generation"] = record.generation;
    receipts.emplace_back(std::move(receipt));
  }
  json::object reply;
  reply["owner"] = call.principal->name;
  reply["retrievals"] = std::move(receipts);
  return JsonReply(200, reply);
}

http::Response Api::GetValidAt(const Call& call) {
  Status allowed = CheckDeviceReadAccess(*call.principal, call.id);
  if (!allowed.ok()) return ErrorReply(allowed);
  std::string time_text = QueryValue(call.request, "time");
  if (time_text.empty()) {
    return ErrorReply(InvalidArgument("query parameter \"time\" is missing. Give an RFC 3339 "
                                      "time or Unix nanoseconds"));
  }
  auto time_ns = ParseTime(time_text, "time");
  if (!time_ns.ok()) return ErrorReply(time_ns.status());

  // Step 1: replay the device's timeline up to and including time_ns.
  auto timeline = projections::DeviceTimeline(*store_, call.id);
  if (!timeline.ok()) return ErrorReply(timeline.status());
  if (timeline->empty()) return ErrorReply(NotFound("device " + call.id + " not found"));
  PointInTime state;
  size_t next = 0;
  for (; next < timeline->size() && (*timeline)[next].time_ns <= *time_ns; ++next) {
    Status applied = Apply((*timeline)[next], state);
    if (!applied.ok()) return ErrorReply(applied);
  }

  // Step 2: find where the valid generation's seq range ends, if it has ended.
  uint64_t valid_until_seq = 0;
  if (state.valid) {
    auto until = ValidUntilSeq(*timeline, next, state.generation);
    if (!until.ok()) return ErrorReply(until.status());
    valid_until_seq = *until;
  }

  json::object reply = PointInTimeToJson(state, valid_until_seq);
  reply["device_id"] = call.id;
  PutTime(reply, "time", *time_ns);
  return JsonReply(200, reply);
}

}  // namespace escrow::api
