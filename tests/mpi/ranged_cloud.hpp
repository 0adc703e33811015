#pragma once
// Fixtures of the MPI driver tests (voxelize, sdm): a random cloud whose m/q
// values fall in the ranges of a three-ion-type table (Al, Mg, Ni) or in none.
#include <cstdint>
#include <random>
#include <string>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/range_table.hpp"

namespace aptflow::test {

// The same cloud on every rank: x in [x0, x1), y in [y0, y1), z in [zlo, zhi);
// m/q of an unranged ion or of ion type 1..3 of three_type_table().
inline HostIonCloud ranged_random_cloud(std::int64_t n, float x0, float x1, float y0, float y1, float zlo,
                                        float zhi, unsigned seed, const std::string& label) {
  HostIonCloud c(n, label);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> ux(x0, x1), uy(y0, y1), uz(zlo, zhi);
  const float mq[4] = {5.0f, 13.5f, 27.0f, 58.2f};  // unranged, then ion types 1..3
  for (std::int64_t i = 0; i < n; ++i) {
    c.x(i) = ux(rng);
    c.y(i) = uy(rng);
    c.z(i) = uz(rng);
    c.mq(i) = mq[rng() % 4];
  }
  return c;
}

// Al [13, 14), Mg [26.5, 27.5), Ni [57.5, 58.5).
inline RangeTable three_type_table() {
  RangeTable table;
  table.source = "test";
  const char* names[3] = {"Al", "Mg", "Ni"};
  const double lo[3] = {13.0, 26.5, 57.5};
  for (int t = 0; t < 3; ++t) {
    IonType it;
    it.name = names[t];
    it.composition = {{names[t], 1}};
    table.ion_types.push_back(it);
    table.ranges.push_back({lo[t], lo[t] + 1.0, t, 0});
  }
  return table;
}

}  // namespace aptflow::test
