// Template definitions for ledger/events.h. Include events.h, not this file.
#pragma once

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <sstream>

namespace escrow::ledger {

template <class Event>
std::string EncodePayload(const Event& event) {
  std::ostringstream os;
  {
    cereal::PortableBinaryOutputArchive archive(os);
    archive(const_cast<Event&>(event));
  }
  return std::move(os).str();
}

template <class Event>
Result<Event> DecodePayload(std::string_view bytes) {
  // cereal reports truncation by throwing; the exception stops here.
  try {
    std::istringstream is{std::string(bytes)};
    Event event;
    {
      cereal::PortableBinaryInputArchive archive(is);
      archive(event);
    }
    if (is.peek() != std::char_traits<char>::eof()) {
      return InvalidArgument(std::string("trailing bytes after ") +
                             EventTypeName(static_cast<uint16_t>(Event::kType)) + " payload");
    }
    return event;
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed ") +
                           EventTypeName(static_cast<uint16_t>(Event::kType)) +
                           " payload: " + e.what());
  }
}

}  // namespace escrow::ledger
