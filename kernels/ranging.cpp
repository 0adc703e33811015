// Host side of ranging: element composition from species counts. The Kokkos
// kernels are templates in include/aptflow/kernels/ranging.hpp.
#include "aptflow/kernels/ranging.hpp"

#include <fmt/format.h>

namespace aptflow {

std::map<std::string, double> element_composition(const RangeTable& table,
                                                  const std::vector<std::int64_t>& counts) {
  if (counts.size() != table.ion_types.size() + 1)
    throw InputError(
        table.source.empty() ? std::string("<range table>") : table.source,
        fmt::format("element_composition: {} species counts for {} ion types; expected one per ion type "
                    "plus the unranged count",
                    counts.size(), table.ion_types.size()));
  // Sum atoms exactly in integers, divide once.
  std::map<std::string, long double> atoms;
  long double total = 0;
  for (std::size_t k = 0; k < table.ion_types.size(); ++k) {
    const std::int64_t ions = counts[k + 1];
    if (ions < 0)
      throw InputError(table.source, fmt::format("element_composition: negative count {} for '{}'", ions,
                                                 table.ion_types[k].name));
    for (const auto& [el, n] : table.ion_types[k].composition) {
      const long double a = static_cast<long double>(ions) * n;
      atoms[el] += a;
      total += a;
    }
  }
  std::map<std::string, double> frac;
  if (total <= 0) return frac;
  for (const auto& [el, a] : atoms)
    if (a > 0) frac[el] = static_cast<double>(a / total);
  return frac;
}

}  // namespace aptflow
