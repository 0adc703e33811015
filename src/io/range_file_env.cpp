// ENV (GPM Rouen "Environment file for 3D Atom Probe", Rev 2.0). Lines
// starting with '#' are comments; the meaningful lines are, in order:
//   Rev_2.0                                     (version, optional)
//   <n_elements> <n_ranges>
//   <name> <r> <g> <b>                          n_elements times (colour in [0, 1])
//   <name> <lo> <hi> <atomic volume> <increment>   n_ranges times
// followed by the instrument and reconstruction parameters (flight length,
// ICF, ...), which are not range data and are ignored. <name> is an element
// or a molecular ion formula ("MnO2", "Mn2O"); a name that is not a formula
// ("X23", "Hyd") is a custom ion. The atomic volume is taken to be in A^3
// (11.66 for a metal atom) and stored in nm^3; the increment (weight used for
// concentrations, 1.0 for one ion) is ignored.
#include <fmt/format.h>

#include <map>

#include "io/range_file_detail.hpp"

namespace aptflow {

RangeTable parse_env_string(const std::string& text, const std::string& source, const RangeOptions& opt) {
  const auto lines = detail::split_lines(text, source);
  detail::RangeTableBuilder b(source, opt);
  std::vector<const detail::TextLine*> content;
  for (const auto& l : lines) {
    const auto t = detail::trim(l.text);
    if (!t.empty() && t.front() != '#') content.push_back(&l);
  }
  const std::int64_t last = lines.empty() ? 1 : lines.back().number;
  if (content.empty())
    throw InputError::at_line(
        source, last,
        "no content besides comments; expected an ENV range file (element list and mass ranges)");
  std::size_t pos = 0;
  auto next = [&](const char* what) -> const detail::TextLine& {
    if (pos >= content.size())
      throw InputError::at_line(source, last,
                                fmt::format("file ends where {} was expected (truncated file?)", what));
    return *content[pos++];
  };
  if (detail::starts_with_icase(detail::trim(content[0]->text), "Rev_")) ++pos;
  const auto& head = next("'<number of elements> <number of ranges>'");
  const auto ht = detail::split_ws(head.text);
  const auto n_el = ht.size() == 2 ? detail::parse_integer(ht[0]) : std::nullopt;
  const auto n_rng = ht.size() == 2 ? detail::parse_integer(ht[1]) : std::nullopt;
  if (!n_el || !n_rng || *n_el < 1 || *n_rng < 1 || *n_el > 65534)
    throw InputError::at_line(
        source, head.number,
        "expected '<number of elements> <number of mass ranges>' (two whole numbers >= 1): is "
        "this an ENV file?");
  struct Ion {
    std::optional<Composition> composition;
    std::string color;
  };
  std::map<std::string, Ion> ions;
  for (std::int64_t i = 0; i < *n_el; ++i) {
    const auto& l = next("an element line '<name> <r> <g> <b>'");
    const auto tok = detail::split_ws(l.text);
    if (tok.size() != 4)
      throw InputError::at_line(
          source, l.number,
          fmt::format("expected '<name> <red> <green> <blue>' for element {} of {}", i + 1, *n_el));
    double rgb[3];
    for (int c = 0; c < 3; ++c) {
      const auto v = detail::parse_number(tok[1 + c]);
      if (!v)
        throw InputError::at_line(
            source, l.number, fmt::format("colour component '{}' is not a number", std::string(tok[1 + c])));
      rgb[c] = *v;
    }
    const std::string name(tok[0]);
    if (ions.count(name))
      throw InputError::at_line(source, l.number,
                                fmt::format("element '{}' is listed twice; remove one", name));
    ions[name] = {parse_formula(name), detail::hex_color(rgb[0], rgb[1], rgb[2])};
    b.declare(name);
  }
  for (std::int64_t i = 0; i < *n_rng; ++i) {
    const auto& l = next("a mass range line '<name> <lo> <hi> <volume> <increment>'");
    const auto tok = detail::split_ws(l.text);
    if (tok.size() < 3 || tok.size() > 5)
      throw InputError::at_line(
          source, l.number,
          fmt::format("expected '<name> <lo> <hi> <volume> <increment>' for mass range {} of {}", i + 1,
                      *n_rng));
    const std::string name(tok[0]);
    const auto it = ions.find(name);
    if (it == ions.end())
      throw InputError::at_line(
          source, l.number,
          fmt::format("mass range for '{}', which is not in the element list; add it there", name));
    const double lo = detail::parse_mass(tok[1], source, l.number, "lower bound");
    const double hi = detail::parse_mass(tok[2], source, l.number, "upper bound");
    if (!(lo < hi))
      throw InputError::at_line(
          source, l.number,
          fmt::format("lower bound {} is not below upper bound {}; a range needs lo < hi", lo, hi));
    double volume = 0;
    for (std::size_t k = 3; k < tok.size(); ++k) {
      const auto v = detail::parse_number(tok[k]);
      if (!v || *v < 0)
        throw InputError::at_line(
            source, l.number,
            fmt::format("'{}' is not a number >= 0 (atomic volume / increment)", std::string(tok[k])));
      if (k == 3) volume = *v * 1e-3;  // A^3 -> nm^3
    }
    const int type = it->second.composition
                         ? b.intern_type(*it->second.composition, "", it->second.color, volume, l.number)
                         : b.intern_type({}, name, it->second.color, volume, l.number);
    b.add_range(lo, hi, type, l.number);
  }
  return b.finish(content[pos - 1]->number);
}

}  // namespace aptflow
