// ParseHostPort and IsLoopback.
#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "api/http/http.h"

namespace escrow::http {
namespace {

constexpr unsigned kMaxPort = 65535;

std::string Quote(const std::string& text) { return "\"" + text + "\""; }

// Parses a decimal port from 0 to kMaxPort.
Result<uint16_t> ParsePort(const std::string& port_text, const std::string& text) {
  unsigned value = 0;
  const char* begin = port_text.data();
  const char* end = begin + port_text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (port_text.empty() || ec != std::errc() || ptr != end || value > kMaxPort) {
    return InvalidArgument("invalid port " + Quote(port_text) + " in " + Quote(text) +
                           ": expected a number from 0 to 65535");
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& text) {
  // An address pasted as a URL: "https://HOST:PORT/" names a HOST:PORT too.
  for (const char* scheme : {"https://", "http://"}) {
    std::string prefix(scheme);
    if (text.size() > prefix.size() && text.compare(0, prefix.size(), prefix) == 0) {
      std::string bare = text.substr(prefix.size());
      while (!bare.empty() && bare.back() == '/') bare.pop_back();
      if (bare.find('/') != std::string::npos) {
        return InvalidArgument("invalid address " + Quote(text) +
                               ": expected HOST:PORT without a path");
      }
      return ParseHostPort(bare);
    }
  }

  // A bracketed IPv6 host: "[::1]:80".
  std::string host;
  std::string rest;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) {
      return InvalidArgument("invalid address " + Quote(text) + ": missing \"]\"");
    }
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
  } else {
    size_t colon = text.find(':');
    if (colon != std::string::npos && text.find(':', colon + 1) != std::string::npos) {
      return InvalidArgument("invalid address " + Quote(text) +
                             ": write an IPv6 host in brackets, e.g. [::1]:8443");
    }
    host = text.substr(0, colon);
    rest = colon == std::string::npos ? std::string() : text.substr(colon);
  }

  // The port part: ":PORT".
  if (host.empty()) {
    return InvalidArgument("invalid address " + Quote(text) + ": missing host, expected HOST:PORT");
  }
  if (rest.empty() || rest.front() != ':') {
    return InvalidArgument("invalid address " + Quote(text) + ": missing port, expected HOST:PORT");
  }
  auto port = ParsePort(rest.substr(1), text);
  if (!port.ok()) return port.status();
  return std::make_pair(host, *port);
}

bool IsLoopback(const std::string& host) {
  std::string name = host;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "localhost") return true;

  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(name, ec);
  if (ec) return false;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6())
        .is_loopback();
  }
  return address.is_loopback();
}

}  // namespace escrow::http
