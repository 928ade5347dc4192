#include "api/http/request_guard.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace escrow::http {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kHttp11 = "HTTP/1.1";
constexpr std::string_view kChunked = "chunked";

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string_view TrimSpaceAndTab(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

bool IsDecimal(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return std::isdigit(c) != 0;
  });
}

// Every LF must follow a CR, and every CR must precede an LF.
Status CheckLineEndings(std::string_view header) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == '\n' && (i == 0 || header[i - 1] != '\r')) {
      return InvalidArgument("request header has a line ending in a bare LF; end lines with CRLF");
    }
    if (header[i] == '\r' && (i + 1 == header.size() || header[i + 1] != '\n')) {
      return InvalidArgument("request header has a bare CR; end lines with CRLF");
    }
  }
  return Status::Ok();
}

// The framing fields of one header, as sent.
struct Framing {
  std::string_view version;                       // "HTTP/1.1" from the request line
  std::vector<std::string_view> content_lengths;  // every comma-separated element
  std::vector<std::string_view> transfer_encodings;  // one value per header line
};

// Collects the framing fields. Requires CRLF line endings (CheckLineEndings).
Result<Framing> ReadFraming(std::string_view header) {
  Framing framing;
  size_t line_end = header.find(kCrlf);
  std::string_view request_line = header.substr(0, line_end);
  size_t last_space = request_line.rfind(' ');
  if (last_space != std::string_view::npos) framing.version = request_line.substr(last_space + 1);

  for (size_t start = line_end + kCrlf.size(); start < header.size();) {
    line_end = header.find(kCrlf, start);
    std::string_view line = header.substr(start, line_end - start);
    start = line_end + kCrlf.size();
    if (line.empty()) break;  // the blank line ending the header

    // A continuation line would join the previous field's value, which
    // another server in the chain may not do.
    if (line.front() == ' ' || line.front() == '\t') {
      return InvalidArgument(
          "request header has obs-fold (a line starting with a space or tab); "
          "send each field on one line");
    }

    // Names with spaces before the colon are left to the parser, which rejects them.
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    std::string_view value = TrimSpaceAndTab(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "content-length")) {
      for (size_t begin = 0; begin <= value.size();) {
        size_t comma = std::min(value.find(',', begin), value.size());
        framing.content_lengths.push_back(TrimSpaceAndTab(value.substr(begin, comma - begin)));
        begin = comma + 1;
      }
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      framing.transfer_encodings.push_back(value);
    }
  }
  return framing;
}

// Strips leading zeros, so that "05" and "5" compare equal.
std::string_view WithoutLeadingZeros(std::string_view digits) {
  size_t nonzero = digits.find_first_not_of('0');
  return nonzero == std::string_view::npos ? std::string_view("0") : digits.substr(nonzero);
}

// Every Content-Length element must be a decimal number, and all must be equal.
Status CheckContentLength(const Framing& framing) {
  for (std::string_view length : framing.content_lengths) {
    if (!IsDecimal(length)) {
      return InvalidArgument("request has an invalid Content-Length; expected a decimal number");
    }
    if (WithoutLeadingZeros(length) != WithoutLeadingZeros(framing.content_lengths.front())) {
      return InvalidArgument("request has two different Content-Length values");
    }
  }
  return Status::Ok();
}

Status CheckTransferEncoding(const Framing& framing) {
  if (framing.transfer_encodings.empty()) return Status::Ok();
  if (!framing.content_lengths.empty()) {
    return InvalidArgument("request has both Content-Length and Transfer-Encoding; send one");
  }
  if (framing.version != kHttp11) {
    return InvalidArgument(
        "Transfer-Encoding is not allowed before HTTP/1.1; send Content-Length in an HTTP/1.0 "
        "request");
  }
  if (framing.transfer_encodings.size() != 1 || framing.transfer_encodings.front() != kChunked) {
    return InvalidArgument(
        "Transfer-Encoding other than \"chunked\" is not supported; use Content-Length or "
        "\"Transfer-Encoding: chunked\"");
  }
  return Status::Ok();
}

}  // namespace

HeaderScan ScanForHeaderEnd(std::string_view received, size_t max_header_bytes) {
  HeaderScan scan;

  // The header ends at the first LF that is followed by LF or by CRLF.
  for (size_t lf = received.find('\n'); lf != std::string_view::npos;
       lf = received.find('\n', lf + 1)) {
    size_t end = 0;
    if (lf + 1 < received.size() && received[lf + 1] == '\n') {
      end = lf + 2;
    } else if (lf + 2 < received.size() && received.substr(lf + 1, 2) == kCrlf) {
      end = lf + 3;
    } else if (lf + 1 >= max_header_bytes) {
      break;
    } else {
      continue;
    }
    scan.state = end <= max_header_bytes ? HeaderScan::State::kComplete
                                         : HeaderScan::State::kTooLarge;
    scan.header_bytes = end;
    return scan;
  }

  if (received.size() >= max_header_bytes) scan.state = HeaderScan::State::kTooLarge;
  return scan;
}

Status CheckRawHeader(std::string_view header) {
  ESCROW_RETURN_IF_ERROR(CheckLineEndings(header));
  auto framing = ReadFraming(header);
  if (!framing.ok()) return framing.status();
  ESCROW_RETURN_IF_ERROR(CheckTransferEncoding(*framing));
  ESCROW_RETURN_IF_ERROR(CheckContentLength(*framing));
  return Status::Ok();
}

}  // namespace escrow::http
