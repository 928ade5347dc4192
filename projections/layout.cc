#include "projections/layout.h"

namespace escrow::projections::layout {
namespace {

std::string Join(std::string_view tag, std::string_view id) {
  std::string key(tag);
  key.push_back('\0');
  key.append(id);
  key.push_back('\0');
  return key;
}

}  // namespace

std::string Uint64Be(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; i--) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

uint64_t ParseUint64Be(std::string_view bytes) {
  if (bytes.size() < 8) return 0;
  uint64_t value = 0;
  for (size_t i = 0; i < 8; i++) value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  return value;
}

std::string AuditByDevicePrefix(std::string_view device_id) { return Join("d", device_id); }
std::string AuditByActorPrefix(std::string_view actor) { return Join("a", actor); }
std::string AuditByTimePrefix() { return std::string("t\0", 2); }

std::string AuditByDeviceKey(std::string_view device_id, uint64_t seq) {
  return AuditByDevicePrefix(device_id) + Uint64Be(seq);
}

std::string AuditByActorKey(std::string_view actor, uint64_t seq) {
  return AuditByActorPrefix(actor) + Uint64Be(seq);
}

std::string AuditByTimeKey(int64_t time_ns, uint64_t seq) {
  return AuditByTimePrefix() + Uint64Be(static_cast<uint64_t>(time_ns)) + Uint64Be(seq);
}

std::string TimelinePrefix(std::string_view device_id) { return Join("e", device_id); }

std::string TimelineKey(std::string_view device_id, uint64_t seq) {
  return TimelinePrefix(device_id) + Uint64Be(seq);
}

std::string OwnerPrefix(std::string_view owner) { return Join("o", owner); }

std::string OwnerKey(std::string_view owner, std::string_view device_id) {
  return OwnerPrefix(owner) + std::string(device_id);
}

std::string DeviceTokensPrefix(std::string_view device_id) { return Join("d", device_id); }

std::string DeviceTokenKey(std::string_view device_id, std::string_view token_digest) {
  return DeviceTokensPrefix(device_id) + std::string(token_digest);
}

std::string CounterKey(std::string_view device_id) { return std::string("ctr\0", 4) + std::string(device_id); }

std::string LastSeenKey(std::string_view device_id) {
  return std::string("seen\0", 5) + std::string(device_id);
}

}  // namespace escrow::projections::layout
