// RNG (ORNL / Oxford; also written by IVAS):
//   <n_ions> <n_ranges>
//   <ion name>                      \  n_ions times
//   <short name> <r> <g> <b>        /  (colour components in [0, 1])
//   ----------- <short name 1> ... <short name n>
//   . <lo> <hi> [<vol>] <count 1> ... <count n>     n_ranges times
// A row with several non-zero counts (or a count > 1) is a molecular ion:
// ". 35.873 36.204 1 0 ... 1" with columns Fe ... O is FeO. A column whose
// name is a formula ("TiO", "H2") is a polyatomic column and contributes its
// composition times the count. A column that is not a formula ("All",
// "unknown") is a custom ion known only by its name.
// IVAS appends a "polyatomic extension" (3Depict calls the result Cameca's
// "double RNG"): after a line starting with "-" ("--- polyatomic extension")
// comes a second table of the same layout whose columns are the molecular
// ions; its rows normally restate main-table rows and merge with them
// silently when identical.
// Quirks of files in the wild that are accepted (docs/range-files.md):
//  - a colour line with a trailing parenthesised text, "Cd2 1.00 0.00 0.00 (Cd2)";
//  - a dash line without column names: the columns follow the ion order;
//  - a row whose counts are all 0 (3Depict drops it): dropped, one warning;
//  - counts written as decimals ("1.000"), decimal commas, '#' comment lines,
//    leading spaces.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "io/range_file_detail.hpp"

namespace aptflow {

namespace {

struct Column {
  std::string name;
  std::optional<Composition> composition;  // nullopt: custom ion
  std::string color;
};

class LineCursor {
 public:
  explicit LineCursor(const std::vector<detail::TextLine>& lines) : lines_(lines) {}
  // Next line that is neither blank nor a '#' comment, or nullptr at the end.
  const detail::TextLine* next() {
    while (pos_ < lines_.size()) {
      const auto& l = lines_[pos_++];
      const auto t = detail::trim(l.text);
      if (!t.empty() && t.front() != '#') return &l;
    }
    return nullptr;
  }
  std::int64_t last_number() const { return lines_.empty() ? 1 : lines_.back().number; }

 private:
  const std::vector<detail::TextLine>& lines_;
  std::size_t pos_ = 0;
};

const detail::TextLine& expect_line(LineCursor& cur, const std::string& src, const char* what) {
  const auto* l = cur.next();
  if (!l)
    throw InputError::at_line(src, cur.last_number(),
                              fmt::format("file ends where {} was expected (truncated file?)", what));
  return *l;
}

struct ZeroRows {
  std::int64_t count = 0;
  std::int64_t first_line = 0;
};

// One table: header, ions, column header, rows. `first` is its header line.
void parse_block(const detail::TextLine& first, LineCursor& cur, detail::RangeTableBuilder& b, bool restated,
                 ZeroRows& zero_rows) {
  const std::string& src = b.source();
  const auto head = detail::split_ws(first.text);
  const auto n_ions = head.size() == 2 ? detail::parse_integer(head[0]) : std::nullopt;
  const auto n_ranges = head.size() == 2 ? detail::parse_integer(head[1]) : std::nullopt;
  if (!n_ions || !n_ranges || *n_ions < 1 || *n_ranges < 0 || *n_ions > 65534)
    throw InputError::at_line(
        src, first.number,
        "expected the RNG header '<number of ions> <number of ranges>' (two whole numbers, at "
        "least one ion): is this an RNG file?");
  std::vector<Column> cols;
  for (std::int64_t i = 0; i < *n_ions; ++i) {
    const auto& name_line = expect_line(cur, src, "an ion name");
    const auto name_tok = detail::split_ws(name_line.text);
    if (name_tok[0].front() == '-')
      throw InputError::at_line(
          src, name_line.number,
          fmt::format("column header line reached after {} ion(s), but the first line of the "
                      "table announces {}; correct the ion count",
                      i, *n_ions));
    if (name_tok.size() != 1)
      throw InputError::at_line(
          src, name_line.number,
          fmt::format("expected the name of ion {} of {} alone on its line; found '{}'", i + 1, *n_ions,
                      std::string(detail::trim(name_line.text).substr(0, 60))));
    const auto& def = expect_line(cur, src, "an ion definition '<name> <r> <g> <b>'");
    const auto tok = detail::split_ws(def.text);
    // IVAS-style colour lines end with the formula in parentheses: "Cd2 1.00 0.00 0.00 (Cd2)".
    const bool trailing_note = tok.size() > 4 && tok[4].front() == '(' && tok.back().back() == ')';
    if (tok.size() != 4 && !trailing_note)
      throw InputError::at_line(
          src, def.number,
          fmt::format("expected '<short name> <red> <green> <blue>' (optionally followed by '(<text>)') "
                      "for ion {} of {}",
                      i + 1, *n_ions));
    double rgb[3];
    for (int c = 0; c < 3; ++c) {
      const auto v = detail::parse_number(tok[1 + c]);
      if (!v)
        throw InputError::at_line(
            src, def.number, fmt::format("colour component '{}' is not a number", std::string(tok[1 + c])));
      rgb[c] = *v;
    }
    Column col;
    col.name = std::string(tok[0]);
    col.composition = parse_formula(col.name);
    col.color = detail::hex_color(rgb[0], rgb[1], rgb[2]);
    b.declare(col.name);
    cols.push_back(std::move(col));
  }
  const auto& hdr = expect_line(cur, src, "the column header line '------ <ion names>'");
  const auto hdr_text = detail::trim(hdr.text);
  if (hdr_text.front() != '-')
    throw InputError::at_line(
        src, hdr.number,
        fmt::format("expected the column header line '------ <ion names>' after {} ions; "
                    "check the ion count in the first line",
                    *n_ions));
  const auto names = detail::split_ws(hdr_text.substr(
      hdr_text.find_first_not_of('-') == std::string_view::npos ? hdr_text.size()
                                                                : hdr_text.find_first_not_of('-')));
  // A dash line without names: the columns are the ions in the order defined above.
  if (!names.empty() && names.size() != cols.size())
    throw InputError::at_line(
        src, hdr.number,
        fmt::format("column header names {} ions but {} are defined above; correct the header", names.size(),
                    cols.size()));
  for (std::size_t c = 0; c < names.size() && !names.empty(); ++c)
    if (names[c] != cols[c].name) {
      spdlog::warn("range file '{}': line {}: column {} is headed '{}' but the ion is '{}'; using '{}'", src,
                   hdr.number, c + 1, std::string(names[c]), cols[c].name, cols[c].name);
      break;
    }

  for (std::int64_t i = 0; i < *n_ranges; ++i) {
    const auto& row = expect_line(cur, src, "a range row '. <lo> <hi> <counts>'");
    auto tok = detail::split_ws(row.text);
    if (!tok.empty() && tok[0] == ".") tok.erase(tok.begin());
    const std::size_t nc = cols.size();
    if (tok.size() != nc + 2 && tok.size() != nc + 3)
      throw InputError::at_line(
          src, row.number,
          fmt::format("expected '. <lo> <hi> [<vol>]' and {} ion counts, found {} fields (range "
                      "{} of {}); fix the row or the counts in the header",
                      nc, tok.size(), i + 1, *n_ranges));
    const double lo = detail::parse_mass(tok[0], src, row.number, "lower bound");
    const double hi = detail::parse_mass(tok[1], src, row.number, "upper bound");
    if (!(lo < hi))
      throw InputError::at_line(
          src, row.number,
          fmt::format("lower bound {} is not below upper bound {}; a range needs lo < hi", lo, hi));
    double volume = 0;
    const std::size_t first_count = tok.size() - nc;
    if (first_count == 3) {
      const auto v = detail::parse_number(tok[2]);
      if (!v || *v < 0)
        throw InputError::at_line(src, row.number,
                                  fmt::format("volume '{}' is not a number >= 0", std::string(tok[2])));
      volume = *v;
    }
    Composition comp;
    int custom = -1, n_nonzero = 0, last_nonzero = -1;
    std::int64_t custom_count = 0;
    for (std::size_t c = 0; c < nc; ++c) {
      const auto v = detail::parse_count(tok[first_count + c]);
      if (!v || *v < 0 || *v > kMaxAtomsPerElement)
        throw InputError::at_line(src, row.number,
                                  fmt::format("count '{}' for ion '{}' is not a whole number >= 0",
                                              std::string(tok[first_count + c]), cols[c].name));
      if (*v == 0) continue;
      ++n_nonzero;
      last_nonzero = static_cast<int>(c);
      if (!cols[c].composition) {
        custom = static_cast<int>(c);
        custom_count = *v;
        continue;
      }
      for (const auto& [el, k] : *cols[c].composition) {
        // A formula column (H2) times its count: the builder checks the sum per element.
        if (k * *v > kMaxAtomsPerElement)
          throw InputError::at_line(
              src, row.number,
              fmt::format("{} x '{}' holds {} {} atoms; at most {} atoms of one element "
                          "per ion are supported: fix the count",
                          *v, cols[c].name, k * *v, el, kMaxAtomsPerElement));
        comp.emplace_back(el, static_cast<int>(k * *v));
      }
    }
    if (n_nonzero == 0) {
      // 3Depict drops such rows; in a double RNG the polyatomic block may range them.
      if (zero_rows.count == 0) zero_rows.first_line = row.number;
      ++zero_rows.count;
      continue;
    }
    int type;
    if (custom >= 0) {
      if (n_nonzero != 1 || custom_count != 1)
        throw InputError::at_line(
            src, row.number,
            fmt::format("'{}' is not a chemical formula, so it cannot be combined with other "
                        "ions or counted more than once in a range; use a formula column",
                        cols[custom].name));
      type = b.intern_type({}, cols[custom].name, cols[custom].color, volume, row.number);
    } else {
      // The colour of a single-column ion; molecular rows have none of their own.
      const bool single = n_nonzero == 1 && detail::parse_count(tok[first_count + last_nonzero]) == 1;
      type = b.intern_type(comp, "", single ? cols[last_nonzero].color : "", volume, row.number);
    }
    b.add_range(lo, hi, type, row.number, restated);
  }
}

}  // namespace

RangeTable parse_rng_string(const std::string& text, const std::string& source, const RangeOptions& opt) {
  const auto lines = detail::split_lines(text, source);
  detail::RangeTableBuilder b(source, opt);
  LineCursor cur(lines);
  const auto* first = cur.next();
  if (!first)
    throw InputError::at_line(source, 1, "file is empty (or only white space); expected an RNG range file");
  ZeroRows zero_rows;
  parse_block(*first, cur, b, false, zero_rows);
  // Optional polyatomic extension blocks, each introduced by a '-' line.
  while (const auto* l = cur.next()) {
    const auto t = detail::trim(l->text);
    if (t.front() != '-')
      throw InputError::at_line(
          source, l->number,
          fmt::format("unexpected text '{}' after the range table; check the range count in the "
                      "table header",
                      std::string(t.substr(0, 60))));
    const auto* block = cur.next();
    if (!block)
      throw InputError::at_line(source, l->number,
                                "a '---' separator with no table after it (truncated polyatomic extension?)");
    parse_block(*block, cur, b, true, zero_rows);
  }
  if (zero_rows.count > 0)
    spdlog::warn("range file '{}': dropped {} range row(s) whose counts are all 0 (the first at line {})",
                 source, zero_rows.count, zero_rows.first_line);
  return b.finish(cur.last_number());
}

}  // namespace aptflow
