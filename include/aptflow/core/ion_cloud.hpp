#pragma once
// IonCloud: the point cloud of one APT dataset, structure of arrays in Kokkos
// Views. Positions in nm (z is the specimen axis / analysis direction),
// mass-to-charge in Da, species = ion type index from a RangeTable
// (0 = unranged). Ion counts are 64-bit everywhere.
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <limits>
#include <string>

namespace aptflow {

using IonIndex = std::int64_t;
using Species = std::uint16_t;

// Optional per-ion extras carried by EPOS and AP Suite APT files. A View of
// extent 0 means "not present in the file".
template <class MemorySpace>
struct IonExtras {
  Kokkos::View<float*, MemorySpace> tof;                        // ns
  Kokkos::View<float*, MemorySpace> v_dc;                       // kV
  Kokkos::View<float*, MemorySpace> v_pulse;                    // kV
  Kokkos::View<float*, MemorySpace> x_det;                      // mm
  Kokkos::View<float*, MemorySpace> y_det;                      // mm
  Kokkos::View<std::uint32_t*, MemorySpace> pulses_since_last;  // EPOS "deltaP"
  Kokkos::View<std::uint32_t*, MemorySpace> multiplicity;       // ions in this pulse
};

template <class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
struct IonCloud {
  using memory_space = MemorySpace;

  Kokkos::View<float*, MemorySpace> x, y, z, mq;
  Kokkos::View<Species*, MemorySpace> species;
  IonExtras<MemorySpace> extras;

  IonCloud() = default;
  explicit IonCloud(IonIndex n, const std::string& label = "aptflow::ions")
      : x(Kokkos::view_alloc(label + ".x", Kokkos::WithoutInitializing), n),
        y(Kokkos::view_alloc(label + ".y", Kokkos::WithoutInitializing), n),
        z(Kokkos::view_alloc(label + ".z", Kokkos::WithoutInitializing), n),
        mq(Kokkos::view_alloc(label + ".mq", Kokkos::WithoutInitializing), n),
        species(label + ".species", n) {}

  IonIndex size() const { return static_cast<IonIndex>(x.extent(0)); }
  bool has_extras() const { return extras.tof.extent(0) == x.extent(0) && x.extent(0) > 0; }

  // Allocate the EPOS/APT extras (tof, voltages, detector coordinates, ...).
  void allocate_extras(const std::string& label = "aptflow::ions") {
    const IonIndex n = size();
    extras.tof = decltype(extras.tof)(label + ".tof", n);
    extras.v_dc = decltype(extras.v_dc)(label + ".v_dc", n);
    extras.v_pulse = decltype(extras.v_pulse)(label + ".v_pulse", n);
    extras.x_det = decltype(extras.x_det)(label + ".x_det", n);
    extras.y_det = decltype(extras.y_det)(label + ".y_det", n);
    extras.pulses_since_last = decltype(extras.pulses_since_last)(label + ".pulses_since_last", n);
    extras.multiplicity = decltype(extras.multiplicity)(label + ".multiplicity", n);
  }
};

using HostIonCloud = IonCloud<Kokkos::HostSpace>;

// Axis-aligned bounding box in nm. The bounds of no ions are the empty box
// (lo = +inf, hi = -inf on every axis: the identity of merge), never a box at
// the origin; core/bounds.hpp computes and merges bounds.
struct Box {
  float lo[3] = {0, 0, 0};
  float hi[3] = {0, 0, 0};

  static Box empty() {
    constexpr float inf = std::numeric_limits<float>::infinity();
    return Box{{inf, inf, inf}, {-inf, -inf, -inf}};
  }
  // True when some axis has lo > hi (the bounds of no ions).
  bool is_empty() const { return !(lo[0] <= hi[0] && lo[1] <= hi[1] && lo[2] <= hi[2]); }
};

}  // namespace aptflow
