#include "api/time_format.h"

#include <cstdint>
#include <ctime>

#include <fmt/format.h>

namespace escrow::api {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr size_t kMaxFractionDigits = 9;
// Times from this many seconds after 1970 on do not fit int64 nanoseconds (year 2262).
constexpr int64_t kMaxSeconds = INT64_MAX / kNanosPerSecond;

// Reads exactly `digits` decimal digits at *pos and advances it.
bool ReadNumber(std::string_view text, size_t* pos, size_t digits, int* out) {
  if (*pos + digits > text.size()) return false;
  int value = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *pos += digits;
  *out = value;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char a, char b = '\0') {
  if (*pos >= text.size()) return false;
  char c = text[*pos];
  if (c != a && (b == '\0' || c != b)) return false;
  ++*pos;
  return true;
}

Status BadTime(std::string_view field) {
  return InvalidArgument("query parameter \"" + std::string(field) +
                         "\" must be Unix nanoseconds or an RFC 3339 time such as "
                         "2024-05-01T12:00:00Z");
}

Status OutOfRange(std::string_view field) {
  return InvalidArgument("query parameter \"" + std::string(field) +
                         "\" is outside the range of Unix nanoseconds, 1970 to 2262");
}

}  // namespace

std::string FormatRfc3339(int64_t unix_ns) {
  int64_t seconds = unix_ns / kNanosPerSecond;
  int64_t nanos = unix_ns % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    seconds -= 1;
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (nanos != 0) {
    std::string fraction = fmt::format("{:09}", nanos);
    while (fraction.back() == '0') fraction.pop_back();
    out += "." + fraction;
  }
  return out + "Z";
}

Result<int64_t> ParseTime(std::string_view text, std::string_view field) {
  // Step 1: all digits means Unix nanoseconds.
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    uint64_t value = 0;
    for (char c : text) {
      value = value * 10 + static_cast<uint64_t>(c - '0');
      if (value > static_cast<uint64_t>(INT64_MAX) || text.size() > 19) return OutOfRange(field);
    }
    return static_cast<int64_t>(value);
  }

  // Step 2: date and time, YYYY-MM-DDTHH:MM:SS.
  size_t pos = 0;
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadNumber(text, &pos, 4, &year) || !Expect(text, &pos, '-') ||
      !ReadNumber(text, &pos, 2, &month) || !Expect(text, &pos, '-') ||
      !ReadNumber(text, &pos, 2, &day) || !Expect(text, &pos, 'T', 't') ||
      !ReadNumber(text, &pos, 2, &hour) || !Expect(text, &pos, ':') ||
      !ReadNumber(text, &pos, 2, &minute) || !Expect(text, &pos, ':') ||
      !ReadNumber(text, &pos, 2, &second)) {
    return BadTime(field);
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    return BadTime(field);
  }

  // Step 3: optional fraction, up to nanoseconds.
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < kMaxFractionDigits) nanos = nanos * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return BadTime(field);
    for (size_t i = digits; i < kMaxFractionDigits; ++i) nanos *= 10;
  }

  // Step 4: zone, Z or +HH:MM / -HH:MM.
  int64_t offset_s = 0;
  if (Expect(text, &pos, 'Z', 'z')) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!ReadNumber(text, &pos, 2, &oh) || !Expect(text, &pos, ':') ||
        !ReadNumber(text, &pos, 2, &om) || oh > 23 || om > 59) {
      return BadTime(field);
    }
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    return BadTime(field);
  }
  if (pos != text.size()) return BadTime(field);

  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  int64_t seconds = static_cast<int64_t>(timegm(&tm)) - offset_s;
  if (seconds < 0 || seconds >= kMaxSeconds) return OutOfRange(field);
  return seconds * kNanosPerSecond + nanos;
}

}  // namespace escrow::api
