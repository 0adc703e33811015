#include "aptflow/core/error.hpp"

#include <fmt/format.h>

namespace aptflow {

namespace {
std::string format_input(const std::string& file, InputError::Where where, std::int64_t loc,
                         const std::string& reason) {
  switch (where) {
    case InputError::Where::byte:
      return fmt::format("'{}': at byte {}: {}", file, loc, reason);
    case InputError::Where::line:
      return fmt::format("'{}': line {}: {}", file, loc, reason);
    case InputError::Where::none:
      break;
  }
  return fmt::format("'{}': {}", file, reason);
}
}  // namespace

InputError::InputError(std::string file, Where where, std::int64_t location, std::string reason)
    : Error(format_input(file, where, location, reason)),
      file_(std::move(file)),
      reason_(std::move(reason)),
      where_(where),
      location_(location) {}

InputError::InputError(std::string file, std::string reason)
    : InputError(std::move(file), Where::none, kNoLocation, std::move(reason)) {}

InputError InputError::at_byte(std::string file, std::int64_t offset, std::string reason) {
  return InputError(std::move(file), Where::byte, offset, std::move(reason));
}

InputError InputError::at_line(std::string file, std::int64_t line, std::string reason) {
  return InputError(std::move(file), Where::line, line, std::move(reason));
}

ConfigError::ConfigError(std::string key, std::string reason)
    : Error(fmt::format("config key '{}': {}", key, reason)),
      key_(std::move(key)),
      reason_(std::move(reason)) {}

void assertion_failed(const char* expr, const char* file, int line, const std::string& msg) {
  throw InternalError(fmt::format(
      "internal error at {}:{}: assertion '{}' failed: {} (this is a bug in aptflow, please report it)", file,
      line, expr, msg));
}

}  // namespace aptflow
