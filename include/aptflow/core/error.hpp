#pragma once
// One error hierarchy for the whole library. The library never calls exit():
// the CLI turns an Error into a one-line message and a non-zero exit code.
// Messages say what failed and end with what to do.
#include <cstdint>
#include <stdexcept>
#include <string>

namespace aptflow {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Bad input data: names the file, where in it (byte offset or line), and why.
class InputError : public Error {
 public:
  static constexpr std::int64_t kNoLocation = -1;
  enum class Where { none, byte, line };

  InputError(std::string file, std::string reason);
  static InputError at_byte(std::string file, std::int64_t offset, std::string reason);
  static InputError at_line(std::string file, std::int64_t line, std::string reason);

  const std::string& file() const noexcept { return file_; }
  const std::string& reason() const noexcept { return reason_; }
  Where where() const noexcept { return where_; }
  std::int64_t location() const noexcept { return location_; }

 private:
  InputError(std::string file, Where where, std::int64_t location, std::string reason);
  std::string file_;
  std::string reason_;
  Where where_ = Where::none;
  std::int64_t location_ = kNoLocation;
};

// Bad configuration: names the key path (e.g. "synth.sigma_xy").
class ConfigError : public Error {
 public:
  ConfigError(std::string key, std::string reason);
  const std::string& key() const noexcept { return key_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string key_;
  std::string reason_;
};

// Out of memory, disk, devices; an MPI or HDF5 call that failed.
class ResourceError : public Error {
 public:
  using Error::Error;
};

// A broken invariant inside aptflow: a bug, please report.
class InternalError : public Error {
 public:
  using Error::Error;
};

[[noreturn]] void assertion_failed(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace aptflow

// Internal invariant check that reports file:line; active in all builds.
#define APTFLOW_ASSERT(cond, msg)                                               \
  do {                                                                          \
    if (!(cond)) ::aptflow::assertion_failed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)
