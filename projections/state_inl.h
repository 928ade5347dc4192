// Template definitions for projections/state.h. Include state.h, not this file.
#pragma once

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <sstream>

namespace escrow::projections {

template <class T>
std::string EncodeRecord(const T& record) {
  std::ostringstream os;
  {
    cereal::PortableBinaryOutputArchive archive(os);
    archive(const_cast<T&>(record));
  }
  return std::move(os).str();
}

template <class T>
escrow::Result<T> DecodeRecord(std::string_view bytes) {
  // cereal reports truncation by throwing; the exception stops here.
  try {
    std::istringstream is{std::string(bytes)};
    T record;
    {
      cereal::PortableBinaryInputArchive archive(is);
      archive(record);
    }
    if (is.peek() != std::char_traits<char>::eof()) {
      return InvalidArgument("trailing bytes after a projection record");
    }
    return record;
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed projection record: ") + e.what());
  }
}

}  // namespace escrow::projections
