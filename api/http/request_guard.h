// Request smuggling defences: checks on the raw bytes of a request header,
// run by the server before Boost.Beast's parser reads them.
//
// The session reads until the blank line that ends the header (at most
// max_header_bytes, else 431), runs CheckRawHeader on exactly those bytes, and
// responds 400 and closes the connection when it fails. Only then does the
// parser read the same bytes from the same buffer, so both see one request.
//
// Each defence, and what Boost 1.81's request_parser does without it (found
// by feeding it the bytes; tests/http_limits_test.cc sends them over a
// socket):
//
//   input                                    Beast 1.81 alone     here
//   ---------------------------------------  -------------------  -----------
//   Content-Length and Transfer-Encoding     400 "bad Transfer-   400, named
//                                            Encoding" (either
//                                            order)
//   two different Content-Length headers,    400 "multiple        400, named
//   or "5, 6" in one header                  Content-Length"
//   the same Content-Length twice ("5, 5")   accepted             accepted
//   obs-fold (line starting with SP or HT)   accepted, folded     400
//                                            into the previous
//                                            value
//   bare LF ending a header line             400 "bad value" or   400
//                                            "bad version", but
//                                            "\r\n\n" at the end
//                                            waits for more bytes
//   bare CR inside a header                  400 "bad line        400, named
//                                            ending"
//   Transfer-Encoding on HTTP/1.0            accepted, decoded    400
//                                            as chunked
//   Transfer-Encoding other than "chunked"   accepted; "gzip",    400
//   ("gzip", "chunked, chunked", "Chunked")  "chunked, chunked"
//                                            framed as no body,
//                                            the rest read as the
//                                            next request
//
// Transfer-Encoding must be exactly "chunked" (lower case, one header, one
// coding), the narrowest framing any proxy in front agrees on.
//
// NOTE: only the header is checked here. In a chunked body, Beast 1.81
// rejects a bare LF after chunk data ("bad chunk"), but a bare LF ending the
// last chunk or the trailer makes it wait for more bytes, which ends in 408.
// Trailer fields (obs-fold included) are accepted and then dropped.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

#include "ledger/status.h"

namespace escrow::http {

// Result of ScanForHeaderEnd: the state of the next request's header in the
// bytes received so far.
struct HeaderScan {
  enum class State {
    kNeedMore,  // no blank line yet, and fewer than max_header_bytes received
    kComplete,  // header_bytes is the header's size, blank line included
    kTooLarge,  // the header is longer than max_header_bytes (431)
  };
  State state = State::kNeedMore;
  size_t header_bytes = 0;
};

// Finds the end of the request header at the start of received, which is
// the first empty line. A bare LF also ends a line here, so that
// CheckRawHeader can reject it with a 400 instead of the server waiting for
// bytes that never come. Runs in O(received.size()).
HeaderScan ScanForHeaderEnd(std::string_view received, size_t max_header_bytes);

// Checks a complete request header (request line, fields and the blank
// line, as found by ScanForHeaderEnd) for the smuggling inputs in the table
// above. Returns kInvalidArgument with a message naming the reason, which
// the server sends in its 400 response. A header that passes may still be
// rejected by the parser, which does the full syntax check.
Status CheckRawHeader(std::string_view header);

}  // namespace escrow::http
