// Key builders for the projection and operational column families. The
// layouts are documented in projections/state.h and ledger/store.h. This
// header is private to the projections module.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace escrow::projections::layout {

// projection.meta and projection.policy keys.
constexpr std::string_view kLastAppliedSeqKey = "last_applied_seq";
constexpr std::string_view kPolicyKey = "policy";

// Returns value as 8 bytes big-endian, so keys sort numerically.
std::string Uint64Be(uint64_t value);
// Reads 8 bytes big-endian, or returns 0 when bytes is shorter than 8.
uint64_t ParseUint64Be(std::string_view bytes);

// projection.audit: retrievals and denials by device, by actor and by time.
std::string AuditByDevicePrefix(std::string_view device_id);
std::string AuditByActorPrefix(std::string_view actor);
std::string AuditByTimePrefix();
std::string AuditByDeviceKey(std::string_view device_id, uint64_t seq);
std::string AuditByActorKey(std::string_view actor, uint64_t seq);
std::string AuditByTimeKey(int64_t time_ns, uint64_t seq);

// projection.audit: every entry about a device, and devices by owner.
std::string TimelinePrefix(std::string_view device_id);
std::string TimelineKey(std::string_view device_id, uint64_t seq);
std::string OwnerPrefix(std::string_view owner);
std::string OwnerKey(std::string_view owner, std::string_view device_id);

// projection.tokens: the tokens issued for a device.
std::string DeviceTokensPrefix(std::string_view device_id);
std::string DeviceTokenKey(std::string_view device_id, std::string_view token_digest);

// operational: last accepted request counter and last check-in per device.
std::string CounterKey(std::string_view device_id);
std::string LastSeenKey(std::string_view device_id);

}  // namespace escrow::projections::layout
