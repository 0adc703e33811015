#pragma once
// RangeTable: sorted, non-overlapping m/q intervals (Da) -> ion type.
// Species numbering used throughout aptflow: 0 = unranged, ion type k
// (0-based index into ion_types) has species id k + 1.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace aptflow {

// The most atoms of one element in one ion that a range table may hold (the
// count every range-file reader and writer accepts; a range file counting
// more names no real ion).
inline constexpr int kMaxAtomsPerElement = 10000;

struct IonType {
  std::string name;  // e.g. "Al", "NiO", "H2" (a custom RRNG "Name:" is kept as written)
  // Element decomposition: element symbol -> number of atoms of that element
  // in one ion (a molecular ion such as Ni:1 O:1 has two entries).
  // Stored in Hill order (C, H, then alphabetical; alphabetical when there is
  // no carbon). Empty for a custom ion known only by name (RRNG "Name:").
  std::vector<std::pair<std::string, int>> composition;
  std::string color;  // "RRGGBB" (upper-case hex) as given by the file, empty if none
  double volume = 0;  // atomic volume in nm^3 as given by the file (RRNG Vol:), 0 if unknown
};

struct MassRange {
  double lo = 0;          // Da, inclusive
  double hi = 0;          // Da, exclusive
  int ion_type = 0;       // 0-based index into RangeTable::ion_types
  std::int64_t line = 0;  // line in the source file (1-based), 0 if synthetic
};

struct RangeTable {
  std::string source;  // file name it was read from (for messages)
  std::vector<IonType> ion_types;
  std::vector<MassRange> ranges;  // sorted by lo, non-overlapping

  std::size_t num_types() const { return ion_types.size(); }
  // Species id (1-based) of the ion type with this name, 0 if not present.
  int species_of(const std::string& name) const {
    for (std::size_t k = 0; k < ion_types.size(); ++k)
      if (ion_types[k].name == name) return static_cast<int>(k) + 1;
    return 0;
  }
};

// Check the RangeTable invariants (ranges sorted by lo, lo < hi, finite,
// lo >= 0, non-overlapping, ion_type in range, unique non-empty names,
// composition counts in [1, kMaxAtomsPerElement], at most 65534 ion types). Throws InputError
// naming table.source.
void validate_range_table(const RangeTable& table);

}  // namespace aptflow
