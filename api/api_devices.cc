// Api routes for device registration, listing, state, timeline, rotation
// and retirement. None of these replies contains a password or an envelope.
#include <boost/json.hpp>

#include "api/api.h"
#include "api/json_body.h"
#include "api/route_util.h"
#include "api/views.h"
#include "ledger/log.h"
#include "projections/queries.h"

namespace escrow::api {

namespace json = boost::json;
using projections::kRoleAdmin;
using projections::kRoleAuditor;
using projections::kRoleHelpdesk;
using projections::kRoleUser;

namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

std::string QueryValue(const http::Request& request, const std::string& name) {
  auto it = request.query.find(name);
  return it == request.query.end() ? std::string() : it->second;
}

Result<size_t> ParseLimit(const std::string& text, size_t default_limit, size_t max_limit) {
  if (text.empty()) return default_limit;
  if (text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgument("query parameter \"limit\" must be a positive integer");
  }
  size_t limit = std::stoul(text);
  if (limit == 0 || limit > max_limit) {
    return InvalidArgument("query parameter \"limit\" must be between 1 and " +
                           std::to_string(max_limit));
  }
  return limit;
}

// Returns the seq of the newest entry of type about device_id, or 0.
uint64_t NewestEntrySeq(const ledger::Store& store, const std::string& device_id,
                        ledger::EventType type) {
  auto timeline = projections::DeviceTimeline(store, device_id);
  if (!timeline.ok()) return 0;
  for (auto it = timeline->rbegin(); it != timeline->rend(); ++it) {
    if (it->type == static_cast<uint16_t>(type)) return it->seq;
  }
  return 0;
}

}  // namespace

Status Api::CheckDeviceReadAccess(const projections::Principal& principal,
                                  const std::string& device_id) {
  ESCROW_RETURN_IF_ERROR(projections::ValidateDeviceId(device_id));
  if (HasAnyRole(principal, {kRoleHelpdesk, kRoleAdmin, kRoleAuditor})) return Status::Ok();
  if (!principal.Has(kRoleUser)) {
    return RequireAnyRole(principal, {kRoleHelpdesk, kRoleAdmin, kRoleAuditor, kRoleUser});
  }

  // An owner sees their own device. A missing device gets the same reply as
  // another user's, so a user cannot probe which device ids exist.
  auto device = projections::GetDevice(*store_, device_id);
  if (!device.ok()) return device.status();
  if (device->has_value() && (*device)->owner == principal.name) return Status::Ok();
  return PermissionDenied("device " + device_id + " is not one of your devices");
}

http::Response Api::RegisterDevice(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);

  // Step 1: read and check the fields.
  auto body = ParseBodyObject(call.request.body);
  if (!body.ok()) return ErrorReply(body.status());
  Status known = CheckKnownFields(*body, {"device_id", "owner", "token_ttl_s"});
  if (!known.ok()) return ErrorReply(known);
  auto device_id = RequiredString(*body, "device_id", kMaxFieldLength);
  if (!device_id.ok()) return ErrorReply(device_id.status());
  Status id_ok = projections::ValidateDeviceId(*device_id);
  if (!id_ok.ok()) return ErrorReply(id_ok);
  auto owner = RequiredString(*body, "owner", kMaxFieldLength);
  if (!owner.ok()) return ErrorReply(owner.status());
  auto owner_account = projections::GetAccount(*store_, *owner);
  if (!owner_account.ok()) return ErrorReply(owner_account.status());
  if (!owner_account->has_value()) {
    return ErrorReply(InvalidArgument("owner account \"" + *owner +
                                      "\" does not exist; create it first (escrowctl "
                                      "add-account --username " + *owner + " --roles user)"));
  }
  auto ttl = OptionalUint(*body, "token_ttl_s");
  if (!ttl.ok()) return ErrorReply(ttl.status());
  uint64_t ttl_s = ttl->value_or(kDefaultTokenTtlS);
  if (ttl_s == 0 || ttl_s > kMaxTokenTtlS) {
    return ErrorReply(InvalidArgument("field \"token_ttl_s\" must be between 1 and " +
                                      std::to_string(kMaxTokenTtlS) + " seconds"));
  }

  // Step 2: register it; the token is shown once and not logged.
  auto registered = service_->RegisterDevice(*call.principal, *device_id, *owner,
                                             static_cast<int64_t>(ttl_s) * kNanosPerSecond);
  if (!registered.ok()) return ErrorReply(registered.status());
  Logger("api")->info("device {} registered for owner {} by {}", *device_id, *owner,
                      call.principal->name);

  json::object reply;
  reply["device_id"] = registered->device_id;
  reply["owner"] = registered->owner;
  PutTime(reply, "expires_at", registered->expires_at_ns);
  return SecretJsonReply(201, reply, "enrollment_token", registered->enrollment_token.view());
}

http::Response Api::ListDevices(const Call& call) {
  // Step 1: build the filter; a plain user sees only their own devices.
  projections::DeviceFilter filter;
  filter.owner = QueryValue(call.request, "owner");
  filter.id_prefix = QueryValue(call.request, "prefix");
  filter.after = QueryValue(call.request, "after");
  auto limit = ParseLimit(QueryValue(call.request, "limit"), kDefaultDeviceListLimit,
                          kMaxDeviceListLimit);
  if (!limit.ok()) return ErrorReply(limit.status());
  filter.limit = *limit;
  if (!HasAnyRole(*call.principal, {kRoleHelpdesk, kRoleAdmin, kRoleAuditor})) {
    if (!call.principal->Has(kRoleUser)) {
      return ErrorReply(RequireAnyRole(*call.principal,
                                       {kRoleHelpdesk, kRoleAdmin, kRoleAuditor, kRoleUser}));
    }
    if (!filter.owner.empty() && filter.owner != call.principal->name) {
      return ErrorReply(PermissionDenied(
          "listing another owner's devices requires the helpdesk, admin or auditor role"));
    }
    filter.owner = call.principal->name;
  }

  // Step 2: list.
  auto devices = projections::ListDevices(*store_, filter);
  if (!devices.ok()) return ErrorReply(devices.status());
  json::array list;
  for (const auto& device : *devices) list.emplace_back(DeviceToJson(device));
  json::object reply;
  reply["devices"] = std::move(list);
  if (devices->size() == filter.limit) reply["next_after"] = devices->back().device_id;
  return JsonReply(200, reply);
}

http::Response Api::GetDevice(const Call& call) {
  Status allowed = CheckDeviceReadAccess(*call.principal, call.id);
  if (!allowed.ok()) return ErrorReply(allowed);
  auto device = projections::GetDevice(*store_, call.id);
  if (!device.ok()) return ErrorReply(device.status());
  if (!device->has_value()) return ErrorReply(NotFound("device " + call.id + " not found"));
  return JsonReply(200, DeviceToJson(**device));
}

http::Response Api::GetTimeline(const Call& call) {
  Status allowed = CheckDeviceReadAccess(*call.principal, call.id);
  if (!allowed.ok()) return ErrorReply(allowed);
  auto timeline = projections::DeviceTimeline(*store_, call.id);
  if (!timeline.ok()) return ErrorReply(timeline.status());
  if (timeline->empty()) return ErrorReply(NotFound("device " + call.id + " not found"));
  json::array entries;
  for (const auto& entry : *timeline) entries.emplace_back(TimelineEntryToJson(entry));
  json::object reply;
  reply["device_id"] = call.id;
  reply["entries"] = std::move(entries);
  return JsonReply(200, reply);
}

http::Response Api::RequestRotation(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  Status id_ok = projections::ValidateDeviceId(call.id);
  if (!id_ok.ok()) return ErrorReply(id_ok);
  Status done = service_->RequestRotation(*call.principal, call.id);
  if (!done.ok()) return ErrorReply(done);
  Logger("api")->info("rotation of device {} requested by {}", call.id, call.principal->name);

  // NOTE: the service does not return the seq, so this reads the newest
  // matching entry. Two concurrent requests for one device may both see the later one.
  json::object reply;
  reply["seq"] = NewestEntrySeq(*store_, call.id, ledger::EventType::kRotationRequested);
  return JsonReply(200, reply);
}

http::Response Api::RetireDevice(const Call& call) {
  Status allowed = RequireAnyRole(*call.principal, {kRoleAdmin});
  if (!allowed.ok()) return ErrorReply(allowed);
  Status id_ok = projections::ValidateDeviceId(call.id);
  if (!id_ok.ok()) return ErrorReply(id_ok);
  Status done = service_->RetireDevice(*call.principal, call.id);
  if (!done.ok()) return ErrorReply(done);
  Logger("api")->info("device {} retired by {}", call.id, call.principal->name);

  json::object reply;
  reply["seq"] = NewestEntrySeq(*store_, call.id, ledger::EventType::kDeviceRetired);
  return JsonReply(200, reply);
}

}  // namespace escrow::api
