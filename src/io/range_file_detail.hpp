#pragma once
// Internals shared by the range file parsers (RRNG, RNG, ENV): text lines,
// strict number parsing, and the builder that applies the merge/overlap
// policies and produces a RangeTable.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/io/range_file.hpp"

namespace aptflow::detail {

struct TextLine {
  std::int64_t number = 0;  // 1-based
  std::string_view text;    // without the line ending
};

// Split into lines (LF, CRLF or lone CR endings; a UTF-8 byte order mark is
// dropped). Throws InputError for a NUL byte (binary file).
std::vector<TextLine> split_lines(std::string_view text, const std::string& source);

std::string_view trim(std::string_view s);
std::vector<std::string_view> split_ws(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool starts_with_icase(std::string_view s, std::string_view prefix);

// Strict parses of a whole token. parse_number accepts a decimal comma
// ("22,8615", written by IVAS under some locales) and rejects nan/inf.
std::optional<double> parse_number(std::string_view token);
std::optional<std::int64_t> parse_integer(std::string_view token);
// An atom count: a whole number, also written as a decimal ("1.000", "2,0":
// IVAS and some scripts write counts that way). std::nullopt for "1.5", "x".
std::optional<std::int64_t> parse_count(std::string_view token);

// A mass (Da) from a token: throws InputError at `line` unless it is a finite
// number >= 0. `what` names the field ("lower bound").
double parse_mass(std::string_view token, const std::string& source, std::int64_t line, const char* what);

// Colour helpers: "RRGGBB" from components in [0, 1] (clamped).
std::string hex_color(double r, double g, double b);

// Collects ion types and raw ranges in file order, then applies the policies.
class RangeTableBuilder {
 public:
  // label: what a "line" number means in messages ("line" for text files;
  // "ion" or "range" for ranging read from HDF5 groups).
  RangeTableBuilder(std::string source, RangeOptions opt, std::string label = "line")
      : source_(std::move(source)), opt_(opt), label_(std::move(label)) {}

  // Ion type by composition (non-empty) or else by custom name. Returns the
  // internal type id. `line` is used in messages (name clashes).
  int intern_type(const Composition& composition, const std::string& custom_name, const std::string& color,
                  double volume, std::int64_t line);
  // A name the file declares in its ion list (RRNG [Ions], RNG ion lines, ENV
  // element list): declared types come first in the result, in this order.
  void declare(const std::string& name);
  // lo < hi and both finite >= 0 must already be checked by the caller.
  // `restated`: a range of an RNG polyatomic extension block, which normally
  // repeats a range of the main block (merged silently when identical).
  void add_range(double lo, double hi, int type, std::int64_t line, bool restated = false);

  std::size_t num_ranges() const { return raw_.size(); }
  const std::string& source() const { return source_; }

  // Apply duplicate merging and the overlap policy; `last_line` is where a
  // file without ranges is reported.
  RangeTable finish(std::int64_t last_line);

 private:
  struct Raw {
    double lo, hi;
    int type;
    std::int64_t line;
    bool restated;
  };
  InputError error_at(std::int64_t where, const std::string& reason) const;
  std::string source_;
  RangeOptions opt_;
  std::string label_;
  std::vector<IonType> types_;
  std::vector<bool> custom_named_;
  std::map<std::string, int> by_key_;
  std::vector<std::string> declared_keys_;
  std::vector<Raw> raw_;
};

// Atomic number of an element symbol (H = 1 ... Og = 118; D and T are 1);
// 0 when it is not one. element_symbol(z) for 1..118, "" otherwise.
int atomic_number(const std::string& symbol);
std::string element_symbol(int z);

// Identity key of an ion type: composition formula, or "name:" + custom name.
std::string type_key(const Composition& composition, const std::string& custom_name);

}  // namespace aptflow::detail
