// Input validation and Principal helpers declared in projections/service.h.
#include <algorithm>
#include <charconv>

#include "projections/service.h"

namespace escrow::projections {
namespace {

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Splits "6.1.4" into its numeric parts; fails on an empty or non-numeric part.
Result<std::vector<uint64_t>> ParseVersion(std::string_view version) {
  if (version.empty()) return InvalidArgument("the version is empty");
  std::vector<uint64_t> parts;
  size_t start = 0;
  while (start <= version.size()) {
    size_t dot = version.find('.', start);
    if (dot == std::string_view::npos) dot = version.size();
    std::string_view part = version.substr(start, dot - start);
    uint64_t number = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), number);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size()) {
      return InvalidArgument("invalid version \"" + std::string(version) +
                             "\": expected numbers separated by dots, such as 6.1.4");
    }
    parts.push_back(number);
    start = dot + 1;
  }
  return parts;
}

// Quotes untrusted text for an error message: printable ASCII stays, other
// bytes (also the quote and the backslash) become \xNN, and text is cut after
// kMaxDeviceIdLength bytes, so a message or log line can never be forged.
std::string QuoteUntrusted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMaxDeviceIdLength; i++) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7f && byte != '"' && byte != '\\') {
      out.push_back(static_cast<char>(byte));
    } else {
      out += "\\x";
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  if (text.size() > kMaxDeviceIdLength) out += "...";
  return out + "\"";
}

}  // namespace

Status ValidateDeviceId(std::string_view device_id) {
  if (device_id.empty() || device_id.size() > kMaxDeviceIdLength) {
    return InvalidArgument("a device id must be 1 to " + std::to_string(kMaxDeviceIdLength) +
                           " characters long");
  }
  if (!IsLowerAlnum(device_id.front()) || !std::all_of(device_id.begin(), device_id.end(), IsIdChar)) {
    return InvalidArgument("invalid device id " + QuoteUntrusted(device_id) +
                           ": use a-z, 0-9, '.', '_' and '-', starting with a letter or digit; "
                           "upper case is rejected, not folded");
  }
  return Status::Ok();
}

Status CheckCounterGrows(uint64_t counter, uint64_t last_counter) {
  if (counter > last_counter) return Status::Ok();
  return Conflict("replayed request: counter " + std::to_string(counter) +
                  " is not greater than the last accepted counter " +
                  std::to_string(last_counter));
}

Status ValidateAccountName(std::string_view name) {
  if (name.empty() || name.size() > kMaxAccountNameLength) {
    return InvalidArgument("an account name must be 1 to " +
                           std::to_string(kMaxAccountNameLength) + " characters long");
  }
  if (!std::all_of(name.begin(), name.end(), IsIdChar)) {
    return InvalidArgument("invalid account name \"" + std::string(name) +
                           "\": use a-z, 0-9, '.', '_' and '-'");
  }
  return Status::Ok();
}

Result<int> CompareVersions(std::string_view a, std::string_view b) {
  auto left = ParseVersion(a);
  if (!left.ok()) return left.status();
  auto right = ParseVersion(b);
  if (!right.ok()) return right.status();

  // Missing parts count as zero, so 6.1 equals 6.1.0.
  const size_t n = std::max(left->size(), right->size());
  for (size_t i = 0; i < n; i++) {
    const uint64_t x = i < left->size() ? (*left)[i] : 0;
    const uint64_t y = i < right->size() ? (*right)[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

bool Principal::Has(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

}  // namespace escrow::projections
