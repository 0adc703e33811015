#pragma once
// Helpers of the per-backend kernel tests (tests/kernels/tst_*.hpp): host
// data -> Views of TEST_MEMSPACE and back. Each tst_*.hpp is compiled once
// per enabled Kokkos backend (tests/CMakeLists.txt), with TEST_EXECSPACE and
// TEST_CATEGORY (the gtest suite name: serial, openmp, cuda) defined.
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "unit/test_sdm_reference.hpp"

namespace aptflow::test {

// The ions of p in memory space Mem.
template <class Mem>
IonCloud<Mem> to_cloud(const PlainCloud& p) {
  const HostIonCloud h = to_ion_cloud(p);
  IonCloud<Mem> c(h.size(), "test::cloud");
  Kokkos::deep_copy(c.x, h.x);
  Kokkos::deep_copy(c.y, h.y);
  Kokkos::deep_copy(c.z, h.z);
  Kokkos::deep_copy(c.mq, h.mq);
  Kokkos::deep_copy(c.species, h.species);
  return c;
}

// A View's contents on the host, flattened (LayoutRight order).
template <class V>
std::vector<typename V::non_const_value_type> host_vector(const V& v) {
  const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  return std::vector<typename V::non_const_value_type>(h.data(), h.data() + h.size());
}

// A 1D View of Mem holding values.
template <class T, class Mem>
Kokkos::View<T*, Mem> device_view(const std::vector<T>& values, const char* label = "test::values") {
  Kokkos::View<T*, Mem> v(std::string(label), values.size());
  const auto h = Kokkos::create_mirror_view(v);
  for (std::size_t i = 0; i < values.size(); ++i) h(i) = values[i];
  Kokkos::deep_copy(v, h);
  return v;
}

}  // namespace aptflow::test
