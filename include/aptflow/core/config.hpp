#pragma once
// Config: a TOML document plus command-line overrides (--set key=value), with
// typed getters that record which keys were read, so that an unknown key (a
// typo) is an error naming it. Key paths are dotted: "synth.sigma_xy".
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

// Declarations only: with Kokkos' CUDA backend every translation unit that
// includes Kokkos goes through nvcc, whose front end mistranslates toml++
// 3.3's table.h ("'__T0' was not declared"). Code that needs toml++'s
// definitions includes <toml++/toml.h> itself and must not include Kokkos
// (it is then compiled by the host compiler: cmake/AptflowDependencies.cmake).
#include <toml++/impl/forward_declarations.h>

namespace aptflow {

class Config {
 public:
  Config();
  Config(const Config& other);
  Config(Config&&) noexcept;
  Config& operator=(const Config& other);
  Config& operator=(Config&&) noexcept;
  ~Config();
  // Parse a TOML file; errors are InputError with the line number.
  static Config from_file(const std::string& path);
  static Config from_string(const std::string& text, const std::string& source = "<string>");

  // Apply "key=value" overrides. The value is parsed as a TOML value
  // (number, bool, string in quotes, array); a bare word is taken as a string.
  void apply_overrides(const std::vector<std::string>& assignments);
  void set(const std::string& key, const std::string& value_text);

  bool has(const std::string& key) const;
  // Typed getters; a wrong type is a ConfigError naming the key.
  double get_double(const std::string& key, std::optional<double> fallback = std::nullopt) const;
  std::int64_t get_int(const std::string& key, std::optional<std::int64_t> fallback = std::nullopt) const;
  bool get_bool(const std::string& key, std::optional<bool> fallback = std::nullopt) const;
  std::string get_string(const std::string& key, std::optional<std::string> fallback = std::nullopt) const;
  std::vector<double> get_doubles(const std::string& key,
                                  std::optional<std::vector<double>> fallback = std::nullopt) const;
  std::vector<std::int64_t> get_ints(const std::string& key,
                                     std::optional<std::vector<std::int64_t>> fallback = std::nullopt) const;
  // get_strings: an array of strings, or one string as a list of one.
  std::vector<std::string> get_strings(const std::string& key,
                                       std::optional<std::vector<std::string>> fallback = std::nullopt) const;
  // Names of the direct children of a table key ("" = root), sorted by name (toml++ order).
  std::vector<std::string> keys(const std::string& table_key) const;
  // Number of elements of an array-of-tables (e.g. [[sites]]); 0 if absent.
  std::size_t array_size(const std::string& key) const;
  // The type of a present key (false when absent).
  bool is_table(const std::string& key) const;
  bool is_number(const std::string& key) const;
  bool is_string(const std::string& key) const;
  bool is_array(const std::string& key) const;
  // Mark a key (and everything below it) as known without reading it.
  void mark_used(const std::string& key) const;

  // Throws ConfigError naming the first key present in the document that no
  // getter read. Call after a verb has read everything it needs.
  void check_all_used() const;

  const std::string& source() const { return source_; }
  // The document (needs <toml++/toml.h> to be used).
  const toml::table& table() const;
  // The effective config (after overrides) as TOML text, for provenance;
  // omit: root keys left out (e.g. run-control keys). Printed with
  // floating-point traps held (toml++ prints inf with an operation that
  // raises FE_INVALID), the caller's environment restored.
  std::string to_toml(const std::vector<std::string>& omit = {}) const;
  // The table at key (which must be a table) as a TOML document of its own.
  std::string table_to_toml(const std::string& key) const;

 private:
  const toml::node* find(const std::string& key) const;
  std::unique_ptr<toml::table> doc_;  // never null
  std::string source_;
  mutable std::set<std::string> used_;
};

}  // namespace aptflow
