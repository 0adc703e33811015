// Range files: front end (file checks, format detection), text helpers,
// chemistry helpers, RRNG writer and RangeTable validation. The parsers are in
// range_file_rrng.cpp, range_file_rng.cpp, range_file_env.cpp; the merge and
// overlap policies in range_file_builder.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "aptflow/io/detail/readers.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "io/range_file_detail.hpp"

namespace aptflow {

namespace detail {

std::vector<TextLine> split_lines(std::string_view text, const std::string& source) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
      static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF)
    text.remove_prefix(3);
  std::vector<TextLine> lines;
  std::size_t start = 0;
  std::int64_t number = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0')
      throw InputError::at_line(
          source, number, "contains a NUL byte: this is a binary file, not a range file (.rrng, .rng, .env)");
    if (c == '\n' || c == '\r') {
      lines.push_back({number++, text.substr(start, i - start)});
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < text.size()) lines.push_back({number, text.substr(start)});
  return lines;
}

std::string_view trim(std::string_view s) {
  const char* ws = " \t\v\f\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::optional<double> parse_number(std::string_view token) {
  if (token.empty() || token.size() > 64) return std::nullopt;
  std::string t(token);
  // A decimal comma (IVAS under a German locale writes "22,8615") when there
  // is no decimal point and exactly one comma.
  if (t.find('.') == std::string::npos && std::count(t.begin(), t.end(), ',') == 1)
    std::replace(t.begin(), t.end(), ',', '.');
  const char* first = t.data();
  const char* last = t.data() + t.size();
  if (*first == '+') ++first;  // from_chars does not take a leading '+'
  // Only plain decimal/scientific numbers: from_chars would also take
  // "nan", "inf" and "infinity".
  for (const char* p = first; p != last; ++p) {
    const char c = *p;
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == 'e' || c == 'E' ||
          c == '+'))
      return std::nullopt;
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (ec != std::errc() || ptr != last || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<std::int64_t> parse_integer(std::string_view token) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  const char* first = token.data();
  const char* last = token.data() + token.size();
  if (*first == '+') ++first;
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (ec != std::errc() || ptr != last || first == last) return std::nullopt;
  return v;
}

std::optional<std::int64_t> parse_count(std::string_view token) {
  if (auto i = parse_integer(token)) return i;
  const auto v = parse_number(token);
  if (!v || *v < -1e9 || *v > 1e9 || *v != std::floor(*v)) return std::nullopt;
  return static_cast<std::int64_t>(*v);
}

double parse_mass(std::string_view token, const std::string& source, std::int64_t line, const char* what) {
  const auto v = parse_number(token);
  if (!v)
    throw InputError::at_line(source, line,
                              fmt::format("{} '{}' is not a finite number; expected a mass-to-charge in Da",
                                          what, std::string(token)));
  if (*v < 0)
    throw InputError::at_line(
        source, line, fmt::format("{} {} is negative; mass-to-charge values must be >= 0 Da", what, *v));
  return *v;
}

std::string hex_color(double r, double g, double b) {
  auto c = [](double x) {
    const double y = std::clamp(x, 0.0, 1.0);
    return static_cast<int>(std::lround(y * 255.0));
  };
  return fmt::format("{:02X}{:02X}{:02X}", c(r), c(g), c(b));
}

std::string type_key(const Composition& composition, const std::string& custom_name) {
  if (!composition.empty()) return "f:" + formula_of(composition);
  return "name:" + custom_name;
}

}  // namespace detail

// ------------------------------------------------------------------ chemistry

namespace {
constexpr std::array<const char*, 120> kElements = {
    "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si", "P",
    "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn",
    "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru", "Rh",
    "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd",
    "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",  "Re",
    "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th",
    "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db",
    "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og", "D",  "T"};
}  // namespace

namespace detail {
int atomic_number(const std::string& symbol) {
  for (std::size_t i = 0; i < kElements.size(); ++i)
    if (symbol == kElements[i]) return i < 118 ? static_cast<int>(i) + 1 : 1;  // D, T: hydrogen
  return 0;
}
std::string element_symbol(int z) {
  return z >= 1 && z <= 118 ? kElements[static_cast<std::size_t>(z - 1)] : "";
}
}  // namespace detail

bool is_element_symbol(const std::string& symbol) {
  return std::any_of(kElements.begin(), kElements.end(), [&](const char* e) { return symbol == e; });
}

Composition canonical_composition(Composition composition) {
  std::map<std::string, std::int64_t> sum;
  for (const auto& [el, n] : composition) sum[el] += n;
  const bool has_carbon = sum.count("C") && sum["C"] != 0;
  Composition out;
  for (const auto& [el, n] : sum)
    if (n != 0) out.emplace_back(el, static_cast<int>(n));
  auto rank = [&](const std::string& el) {
    if (has_carbon && el == "C") return 0;
    if (has_carbon && el == "H") return 1;
    return 2;
  };
  std::sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    const int ra = rank(a.first), rb = rank(b.first);
    if (ra != rb) return ra < rb;
    return a.first < b.first;
  });
  return out;
}

std::string formula_of(const Composition& composition) {
  std::string s;
  for (const auto& [el, n] : composition) {
    s += el;
    if (n != 1) s += std::to_string(n);
  }
  return s;
}

std::optional<Composition> parse_formula(const std::string& text) {
  if (text.empty()) return std::nullopt;
  Composition comp;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    if (!std::isupper(static_cast<unsigned char>(text[i]))) return std::nullopt;
    std::size_t j = i + 1;
    while (j < n && std::islower(static_cast<unsigned char>(text[j]))) ++j;
    const std::string sym = text.substr(i, j - i);
    if (!is_element_symbol(sym)) return std::nullopt;
    std::size_t k = j;
    while (k < n && std::isdigit(static_cast<unsigned char>(text[k]))) ++k;
    int count = 1;
    if (k > j) {
      if (k - j > 4) return std::nullopt;
      count = std::stoi(text.substr(j, k - j));
      if (count == 0) return std::nullopt;
    }
    comp.emplace_back(sym, count);
    i = k;
  }
  return canonical_composition(std::move(comp));
}

int find_species(const RangeTable& table, const std::string& name) {
  if (const int s = table.species_of(name)) return s;
  if (const auto comp = parse_formula(name))
    for (std::size_t k = 0; k < table.ion_types.size(); ++k)
      if (table.ion_types[k].composition == *comp) return static_cast<int>(k) + 1;
  return 0;
}

// ------------------------------------------------------------------ detection

const char* to_string(RangeFormat f) {
  switch (f) {
    case RangeFormat::rrng:
      return "RRNG";
    case RangeFormat::rng:
      return "RNG";
    case RangeFormat::env:
      return "ENV";
    case RangeFormat::automatic:
      break;
  }
  return "automatic";
}

namespace {

std::string lower_extension(const std::string& name) {
  std::string ext = std::filesystem::path(name).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

RangeFormat detect_from_lines(const std::vector<detail::TextLine>& lines, const std::string& name_hint) {
  using detail::trim;
  // RRNG: INI sections.
  for (const auto& l : lines) {
    const auto t = trim(l.text);
    if (detail::iequals(t, "[Ions]") || detail::iequals(t, "[Ranges]")) return RangeFormat::rrng;
  }
  // The first lines that are not blank and not '#' comments.
  std::vector<std::string_view> content;
  bool starts_with_comment = false, seen_any = false;
  for (const auto& l : lines) {
    const auto t = trim(l.text);
    if (t.empty()) continue;
    if (!seen_any) starts_with_comment = t.front() == '#';
    seen_any = true;
    if (t.front() == '#') continue;
    content.push_back(t);
    if (content.size() >= 3) break;
  }
  if (!content.empty()) {
    // ENV: "Rev_2.0" version line.
    if (detail::starts_with_icase(content[0], "Rev_")) return RangeFormat::env;
    // "<ions> <ranges>", then an ion name alone on its line (RNG) or an
    // element line '<name> <r> <g> <b>' (ENV).
    const auto head = detail::split_ws(content[0]);
    if (head.size() == 2 && detail::parse_integer(head[0]) && detail::parse_integer(head[1])) {
      if (content.size() >= 2 && detail::split_ws(content[1]).size() == 1) return RangeFormat::rng;
      if (content.size() >= 2 && detail::split_ws(content[1]).size() >= 4) return RangeFormat::env;
    }
  }
  // GPM's ENV files open with '#' header comments.
  if (starts_with_comment) return RangeFormat::env;
  const std::string ext = lower_extension(name_hint);
  if (ext == ".rrng") return RangeFormat::rrng;
  if (ext == ".rng") return RangeFormat::rng;
  if (ext == ".env") return RangeFormat::env;
  return RangeFormat::automatic;
}

}  // namespace

RangeFormat detect_range_format(const std::string& text, const std::string& name_hint) {
  return detect_from_lines(detail::split_lines(text, name_hint.empty() ? "<text>" : name_hint), name_hint);
}

RangeTable parse_range_string(const std::string& text, const std::string& source, const RangeOptions& opt) {
  RangeFormat f = opt.format;
  if (f == RangeFormat::automatic) {
    const auto lines = detail::split_lines(text, source);
    std::int64_t first = 0;
    for (const auto& l : lines)
      if (!detail::trim(l.text).empty()) {
        first = l.number;
        break;
      }
    if (first == 0)
      throw InputError::at_line(
          source, 1, "file is empty (or only white space); expected a range file (.rrng, .rng, .env)");
    f = detect_from_lines(lines, source);
    if (f == RangeFormat::automatic)
      throw InputError::at_line(
          source, first,
          "not a recognised range file: expected RRNG ([Ions]/[Ranges] sections), RNG "
          "('<ions> <ranges>' header) or ENV (GPM Rouen); check that this is a range file");
  }
  switch (f) {
    case RangeFormat::rrng:
      return parse_rrng_string(text, source, opt);
    case RangeFormat::rng:
      return parse_rng_string(text, source, opt);
    case RangeFormat::env:
      return parse_env_string(text, source, opt);
    case RangeFormat::automatic:
      break;
  }
  throw InternalError("parse_range_string: unhandled range format");
}

RangeTable read_range_file(const std::string& path, const RangeOptions& opt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw InputError(path, "no such file; check the path to the range file");
  if (fs::is_directory(st))
    throw InputError(path, "is a directory, not a range file; give the .rrng, .rng or .env file itself");
  if (!fs::is_regular_file(st))
    throw InputError(path,
                     "is not a regular file (a pipe or device?); give a range file (.rrng, .rng, .env)");
  // A point-cloud file with ranging (NXapm, Cameca HDF5, aptflow HDF5) is a range source too.
  if (h5::is_hdf5(path)) {
    if (auto t = io::detail::read_dataset_ranges(path, opt)) return *t;
    throw InputError(path,
                     "HDF5 file without ranging definitions (no NXapm ranging/peak_identification, no Cameca "
                     "/ranges/range_N, no aptflow /ranges): give a range file (.rrng, .rng, .env)");
  }
  const auto size = fs::file_size(path, ec);
  constexpr std::uintmax_t kMaxBytes = 64ull << 20;
  if (!ec && size > kMaxBytes)
    throw InputError(
        path, fmt::format("is {} bytes; range files are small text files (at most {} bytes): wrong file?",
                          size, kMaxBytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot be opened for reading; check its permissions");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(path, "read failed (I/O error); check the file system");
  return parse_range_string(ss.str(), path, opt);
}

// ------------------------------------------------------------------ writing

std::string format_rrng(const RangeTable& t) {
  validate_range_table(t);
  const std::string src = t.source.empty() ? std::string("<range table>") : t.source;
  for (const auto& it : t.ion_types)
    for (char c : it.name)
      if (std::isspace(static_cast<unsigned char>(c)) || c == ':' || c == '=')
        throw InputError(
            src, fmt::format("ion type name '{}' contains white space, ':' or '='; RRNG cannot store it",
                             it.name));
  std::string out;
  out += "[Ions]\n";
  out += fmt::format("Number={}\n", t.ion_types.size());
  for (std::size_t k = 0; k < t.ion_types.size(); ++k)
    out += fmt::format("Ion{}={}\n", k + 1, t.ion_types[k].name);
  out += "[Ranges]\n";
  out += fmt::format("Number={}\n", t.ranges.size());
  for (std::size_t i = 0; i < t.ranges.size(); ++i) {
    const auto& r = t.ranges[i];
    const auto& it = t.ion_types[r.ion_type];
    // Shortest representation that reads back to the same double.
    out += fmt::format("Range{}={} {} Vol:{}", i + 1, r.lo, r.hi, it.volume);
    if (it.composition.empty() || it.name != formula_of(it.composition)) out += " Name:" + it.name;
    for (const auto& [el, n] : it.composition) out += fmt::format(" {}:{}", el, n);
    if (!it.color.empty()) out += " Color:" + it.color;
    out += "\n";
  }
  return out;
}

void write_rrng(const std::string& path, const RangeTable& table) {
  const std::string text = format_rrng(table);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    throw ResourceError(
        fmt::format("cannot create range file '{}'; check the directory and permissions", path));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) throw ResourceError(fmt::format("writing range file '{}' failed (disk full?)", path));
}

}  // namespace aptflow
