#pragma once
// Length-prefixed fields in a byte string, for messages between the ranks of
// one job (any bytes survive, unlike JSON, which needs valid UTF-8): the error
// image of dist/collective, the archive's work list.
#include <cstdint>
#include <cstring>
#include <string>

#include "aptflow/core/error.hpp"

namespace aptflow::dist::detail {

struct Packer {
  std::string buf;
  void put(std::int64_t v) { buf.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void put(const std::string& s) {
    put(static_cast<std::int64_t>(s.size()));
    buf += s;
  }
};

// Reads what a Packer wrote, in the same order; InternalError when the
// message is shorter than its fields claim.
struct Unpacker {
  const std::string& buf;
  std::size_t pos = 0;
  std::int64_t i64() {
    std::int64_t v = 0;
    if (pos + sizeof v > buf.size()) throw InternalError("dist: truncated message (a bug, please report)");
    std::memcpy(&v, buf.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string str() {
    const std::int64_t n = i64();
    if (n < 0 || pos + static_cast<std::size_t>(n) > buf.size())
      throw InternalError("dist: truncated message (a bug, please report)");
    std::string s = buf.substr(pos, static_cast<std::size_t>(n));
    pos += static_cast<std::size_t>(n);
    return s;
  }
};

}  // namespace aptflow::dist::detail
