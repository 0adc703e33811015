#pragma once
// Range files: the m/q intervals (Da) that assign each ion to an ion type.
// Formats: RRNG (IVAS / AP Suite, Cameca), RNG (ORNL / Oxford, with the IVAS
// "polyatomic extension"), ENV (GPM Rouen). The format is detected from the
// content; the extension is only a fall-back. docs/range-files.md describes the
// formats and the conventions applied here:
//  - an interval is [lo, hi): lo inclusive, hi exclusive, so ranges that only
//    touch (hi of one == lo of the next) do not overlap;
//  - ion types are identified by their element composition (Ni:1 O:1 is "NiO"
//    wherever it appears); a custom ion with no composition by its name;
//  - identical repeated ranges are merged (one warning), overlapping ranges of
//    the same ion type are merged into their union (warning), overlapping
//    ranges of different ion types are an InputError naming both lines unless
//    RangeOptions::overlap is OverlapPolicy::first_wins.
// All parse errors are aptflow::InputError with file and line.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aptflow/core/range_table.hpp"

namespace aptflow {

enum class RangeFormat { automatic, rrng, rng, env };

enum class OverlapPolicy {
  error,       // overlapping ranges of different ion types: InputError naming both lines
  first_wins,  // every m/q goes to the earliest line (in file order) whose range holds it;
               // later ranges are clipped (or dropped when nothing is left), with a warning
};

struct RangeOptions {
  OverlapPolicy overlap = OverlapPolicy::error;
  RangeFormat format = RangeFormat::automatic;  // automatic: detect from the content
};

using Composition = std::vector<std::pair<std::string, int>>;

// Read a range file. Throws InputError (missing, a directory, unreadable, not
// a range file, malformed: with the line number) on bad input.
RangeTable read_range_file(const std::string& path, const RangeOptions& opt = {});

// Parse text already in memory; `source` names it in messages and becomes
// RangeTable::source.
RangeTable parse_range_string(const std::string& text, const std::string& source,
                              const RangeOptions& opt = {});
RangeTable parse_rrng_string(const std::string& text, const std::string& source,
                             const RangeOptions& opt = {});
RangeTable parse_rng_string(const std::string& text, const std::string& source, const RangeOptions& opt = {});
RangeTable parse_env_string(const std::string& text, const std::string& source, const RangeOptions& opt = {});

// Which format the text looks like; `name_hint` (a file name) decides only
// when the content does not. Returns RangeFormat::automatic when neither does.
RangeFormat detect_range_format(const std::string& text, const std::string& name_hint = "");
const char* to_string(RangeFormat f);

// Write an RRNG file that read_range_file reads back to the same table (same
// ion types in the same order, bit-identical lo/hi). Throws ResourceError when
// the file cannot be written, InputError when the table is not sorted and
// non-overlapping or names an ion type out of range.
void write_rrng(const std::string& path, const RangeTable& table);
std::string format_rrng(const RangeTable& table);

// validate_range_table (the RangeTable invariants) lives in core/range_table.hpp.

// Species id (1-based; 0 when absent) of the ion type named `name`, or else
// of the ion type whose composition is that formula: "TiO" finds the ion type
// named "OTi" (Hill order) as well.
int find_species(const RangeTable& table, const std::string& name);

// ---- chemistry helpers

// Is this a chemical element symbol (H ... Og, plus D and T for the hydrogen
// isotopes that atom probe users range separately)?
bool is_element_symbol(const std::string& symbol);
// Parse a formula such as "Fe2O3", "CO2", "H", "ScH" into element counts in
// Hill order (repeated elements summed). std::nullopt when it is not a
// formula ("All", "X23", "un1", "52pt5").
std::optional<Composition> parse_formula(const std::string& text);
// Hill-order formula: C first, then H, then the others alphabetically (all
// alphabetical without carbon); counts of 1 omitted: {Ni:1, O:1} -> "NiO".
std::string formula_of(const Composition& composition);
// Sort into Hill order and sum repeated elements; drops zero counts.
Composition canonical_composition(Composition composition);

}  // namespace aptflow
