// RRNG (IVAS / AP Suite, Cameca): an INI file with two sections.
//   [Ions]    Number=<n>   Ion<k>=<name>          (the ion list; mostly elements)
//   [Ranges]  Number=<m>   Range<k>=<lo> <hi> Vol:<nm^3> <El>:<count>... [Name:<name>] Color:<RRGGBB>
// A molecular ion lists several elements (Ni:1 O:1); an ion unknown to the
// user has only Name:<name>. Keys are case-insensitive, ';' and '#' start
// comment lines, other sections are skipped with a warning. Range<k> numbers
// are informative only: every Range line is read, in file order (real files
// repeat or skip numbers), and their count must equal Number=.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>

#include "io/range_file_detail.hpp"

namespace aptflow {

namespace {

using detail::iequals;
using detail::trim;

bool is_hex6(std::string_view s) {
  if (s.size() != 6) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// "Ion12" with prefix "Ion": true when the rest is a number.
bool numbered_key(std::string_view key, std::string_view prefix) {
  if (!detail::starts_with_icase(key, prefix) || key.size() == prefix.size()) return false;
  for (char c : key.substr(prefix.size()))
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

void parse_range_line(std::string_view value, std::int64_t line, detail::RangeTableBuilder& b) {
  const std::string& src = b.source();
  const auto tok = detail::split_ws(value);
  if (tok.size() < 3)
    throw InputError::at_line(
        src, line,
        "range line needs '<lo> <hi> <Element>:<count>...' (or Name:<ion>); found too few "
        "fields: fix or remove the line");
  const double lo = detail::parse_mass(tok[0], src, line, "lower bound");
  const double hi = detail::parse_mass(tok[1], src, line, "upper bound");
  if (!(lo < hi))
    throw InputError::at_line(
        src, line, fmt::format("lower bound {} is not below upper bound {}; a range needs lo < hi", lo, hi));
  Composition comp;
  std::string name, color;
  double volume = 0;
  for (std::size_t i = 2; i < tok.size(); ++i) {
    const auto t = tok[i];
    const auto colon = t.find(':');
    if (colon == std::string_view::npos || colon == 0)
      throw InputError::at_line(src, line,
                                fmt::format("unexpected field '{}' in a range line; expected Key:Value "
                                            "(Vol:, Color:, Name: or <Element>:<count>)",
                                            std::string(t)));
    const auto key = t.substr(0, colon);
    const auto val = t.substr(colon + 1);
    if (iequals(key, "Vol")) {
      const auto v = detail::parse_number(val);
      if (!v || *v < 0)
        throw InputError::at_line(
            src, line, fmt::format("Vol:{} is not a volume (a finite number >= 0, nm^3)", std::string(val)));
      volume = *v;
    } else if (iequals(key, "Color") || iequals(key, "Colour")) {
      if (!is_hex6(val))
        throw InputError::at_line(
            src, line,
            fmt::format("Color:{} is not a colour; expected six hex digits RRGGBB", std::string(val)));
      color = std::string(val);
      for (auto& c : color) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    } else if (iequals(key, "Name")) {
      if (val.empty()) throw InputError::at_line(src, line, "Name: without a name; write Name:<ion name>");
      name = std::string(val);
    } else {
      const std::string el(key);
      if (!is_element_symbol(el))
        throw InputError::at_line(
            src, line,
            fmt::format("'{}' is not a chemical element symbol (in '{}'); write "
                        "<Element>:<count> such as Fe:1, or Name:<ion> for a custom ion",
                        el, std::string(t)));
      const auto count = detail::parse_count(val);
      if (!count || *count < 0 || *count > kMaxAtomsPerElement)
        throw InputError::at_line(src, line,
                                  fmt::format("element count '{}' is not a whole number >= 0 (in '{}')",
                                              std::string(val), std::string(t)));
      if (*count > 0) comp.emplace_back(el, static_cast<int>(*count));
    }
  }
  if (comp.empty() && name.empty())
    throw InputError::at_line(
        src, line, "range names no ion: give <Element>:<count> (e.g. Fe:1) or Name:<ion> for a custom ion");
  const int type = b.intern_type(comp, name, color, volume, line);
  b.add_range(lo, hi, type, line);
}

}  // namespace

RangeTable parse_rrng_string(const std::string& text, const std::string& source, const RangeOptions& opt) {
  const auto lines = detail::split_lines(text, source);
  detail::RangeTableBuilder b(source, opt);
  enum class Section { none, ions, ranges, other };
  Section sec = Section::none;
  std::int64_t ions_header = 0, ranges_header = 0, first_content = 0, last_line = 1;
  std::int64_t ions_number = -1, ranges_number = -1, ions_number_line = 0, ranges_number_line = 0;
  std::int64_t n_ions = 0, n_ranges = 0;
  for (const auto& l : lines) {
    last_line = l.number;
    const auto t = trim(l.text);
    if (t.empty() || t.front() == ';' || t.front() == '#') continue;
    if (first_content == 0) first_content = l.number;
    if (t.front() == '[') {
      if (t.back() != ']')
        throw InputError::at_line(source, l.number,
                                  "section header without closing ']'; write [Ions] or [Ranges]");
      const auto name = trim(t.substr(1, t.size() - 2));
      if (iequals(name, "Ions")) {
        if (ions_header)
          throw InputError::at_line(
              source, l.number,
              fmt::format("second [Ions] section (the first is at line {}); merge them", ions_header));
        ions_header = l.number;
        sec = Section::ions;
      } else if (iequals(name, "Ranges")) {
        if (ranges_header)
          throw InputError::at_line(
              source, l.number,
              fmt::format("second [Ranges] section (the first is at line {}); merge them", ranges_header));
        ranges_header = l.number;
        sec = Section::ranges;
      } else {
        spdlog::warn("range file '{}': line {}: skipping unknown section [{}]", source, l.number,
                     std::string(name));
        sec = Section::other;
      }
      continue;
    }
    if (sec == Section::other) continue;
    if (sec == Section::none)
      throw InputError::at_line(
          source, l.number,
          "text before the first section; an RRNG file starts with [Ions]: is this an RRNG file?");
    const auto eq = t.find('=');
    if (eq == std::string_view::npos)
      throw InputError::at_line(
          source, l.number,
          fmt::format("unexpected line '{}'; expected Key=Value in section [{}]",
                      std::string(t.substr(0, 60)), sec == Section::ions ? "Ions" : "Ranges"));
    const auto key = trim(t.substr(0, eq));
    const auto value = trim(t.substr(eq + 1));
    if (iequals(key, "Number")) {
      auto& num = sec == Section::ions ? ions_number : ranges_number;
      auto& num_line = sec == Section::ions ? ions_number_line : ranges_number_line;
      if (num >= 0)
        throw InputError::at_line(
            source, l.number,
            fmt::format("second Number= in this section (the first is at line {})", num_line));
      const auto v = detail::parse_integer(value);
      if (!v || *v < 0)
        throw InputError::at_line(
            source, l.number,
            fmt::format("Number={} is not a count (a whole number >= 0)", std::string(value)));
      num = *v;
      num_line = l.number;
    } else if (sec == Section::ions && numbered_key(key, "Ion")) {
      if (value.empty())
        throw InputError::at_line(source, l.number, "ion without a name; write Ion<k>=<name>");
      b.declare(std::string(value));
      ++n_ions;
    } else if (sec == Section::ranges && numbered_key(key, "Range")) {
      parse_range_line(value, l.number, b);
      ++n_ranges;
    } else {
      throw InputError::at_line(
          source, l.number,
          fmt::format("unexpected key '{}' in section [{}]; expected Number, {}<k>", std::string(key),
                      sec == Section::ions ? "Ions" : "Ranges", sec == Section::ions ? "Ion" : "Range"));
    }
  }
  if (first_content == 0)
    throw InputError::at_line(source, 1, "file is empty (or only white space); expected an RRNG range file");
  if (!ions_header)
    throw InputError::at_line(source, first_content,
                              "no [Ions] section; an RRNG file needs [Ions] and [Ranges]");
  if (!ranges_header)
    throw InputError::at_line(
        source, last_line, "no [Ranges] section; an RRNG file needs [Ions] and [Ranges] (truncated file?)");
  if (ions_number < 0)
    throw InputError::at_line(source, ions_header,
                              "[Ions] has no Number= line; add Number=<count of Ion lines>");
  if (ranges_number < 0)
    throw InputError::at_line(source, ranges_header,
                              "[Ranges] has no Number= line; add Number=<count of Range lines>");
  if (ions_number != n_ions)
    throw InputError::at_line(
        source, ions_number_line,
        fmt::format("Number={} but {} Ion lines follow in [Ions]; correct Number", ions_number, n_ions));
  if (ranges_number != n_ranges)
    throw InputError::at_line(
        source, ranges_number_line,
        fmt::format("Number={} but {} Range lines follow in [Ranges] (truncated file?); "
                    "correct Number",
                    ranges_number, n_ranges));
  return b.finish(ranges_header);
}

}  // namespace aptflow
