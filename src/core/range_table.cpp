// RangeTable invariants (include/aptflow/core/range_table.hpp).
#include <fmt/format.h>

#include <cmath>
#include <set>

#include "aptflow/core/error.hpp"
#include "aptflow/core/range_table.hpp"

namespace aptflow {

void validate_range_table(const RangeTable& t) {
  const std::string src = t.source.empty() ? std::string("<range table>") : t.source;
  if (t.ion_types.size() > 65534u)
    throw InputError(
        src, fmt::format("{} ion types; species ids are 16-bit, at most 65534 ion types are supported",
                         t.ion_types.size()));
  std::set<std::string> names;
  for (std::size_t k = 0; k < t.ion_types.size(); ++k) {
    const auto& it = t.ion_types[k];
    if (it.name.empty()) throw InputError(src, fmt::format("ion type {} has an empty name", k));
    if (!names.insert(it.name).second)
      throw InputError(src, fmt::format("two ion types are named '{}'; names must be unique", it.name));
    for (const auto& [el, n] : it.composition)
      if (n <= 0 || n > kMaxAtomsPerElement || el.empty())
        throw InputError(src,
                         fmt::format("ion type '{}' has an invalid composition entry {}:{}", it.name, el, n));
  }
  for (std::size_t i = 0; i < t.ranges.size(); ++i) {
    const auto& r = t.ranges[i];
    if (!std::isfinite(r.lo) || !std::isfinite(r.hi) || r.lo < 0 || !(r.lo < r.hi))
      throw InputError(
          src, fmt::format("range {} [{}, {}) is not a valid interval (need 0 <= lo < hi)", i, r.lo, r.hi));
    if (r.ion_type < 0 || static_cast<std::size_t>(r.ion_type) >= t.ion_types.size())
      throw InputError(src, fmt::format("range {} refers to ion type {} but there are {}", i, r.ion_type,
                                        t.ion_types.size()));
    if (i > 0 && t.ranges[i - 1].hi > r.lo)
      throw InputError(src, fmt::format("ranges {} [{}, {}) and {} [{}, {}) are not sorted and disjoint",
                                        i - 1, t.ranges[i - 1].lo, t.ranges[i - 1].hi, i, r.lo, r.hi));
  }
}

}  // namespace aptflow
