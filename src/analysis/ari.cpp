// Adjusted Rand index (Hubert and Arabie, J. Classification 2, 1985) from the
// contingency table of two labelings.
#include <fmt/format.h>

#include <map>
#include <utility>

#include "aptflow/analysis/meta.hpp"
#include "aptflow/core/error.hpp"

namespace aptflow::analysis {

double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b) {
  if (a.size() != b.size() || a.empty())
    throw InputError(
        "adjusted_rand_index input",
        fmt::format("labelings of {} and {} samples; pass two non-empty labelings of the same samples",
                    a.size(), b.size()));
  std::map<std::pair<int, int>, double> cell;
  std::map<int, double> row, col;
  for (std::size_t i = 0; i < a.size(); ++i) {
    cell[{a[i], b[i]}] += 1.0;
    row[a[i]] += 1.0;
    col[b[i]] += 1.0;
  }
  auto pairs = [](double m) { return 0.5 * m * (m - 1.0); };
  double index = 0.0, sum_a = 0.0, sum_b = 0.0;
  for (const auto& [key, m] : cell) index += pairs(m);
  for (const auto& [key, m] : row) sum_a += pairs(m);
  for (const auto& [key, m] : col) sum_b += pairs(m);
  const double total = pairs(static_cast<double>(a.size()));
  if (total == 0.0) return 1.0;  // one sample: a single (trivial) partition
  const double expected = sum_a * sum_b / total;
  const double max_index = 0.5 * (sum_a + sum_b);
  // The denominator vanishes only when both labelings are the same trivial partition
  // (one cluster, or all singletons).
  if (max_index == expected) return 1.0;
  return (index - expected) / (max_index - expected);
}

}  // namespace aptflow::analysis
