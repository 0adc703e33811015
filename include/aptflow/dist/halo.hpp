#pragma once
// Halo exchange for the z-slab decomposition: each rank receives copies of
// the ions of other ranks with z in [z_lo - h, z_lo) and [z_hi, z_hi + h)
// (from as many ranks as those intervals touch when slabs are thinner than
// h). With h = halo_width(sdm, windows) every window whose centre lies in the
// rank's slab sees, among the rank's owned + halo ions, every ion that its SDM
// can use, so window SDMs computed per rank equal those of the whole cloud.
#include <Kokkos_Core.hpp>
#include <cstdint>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/sdm_spec.hpp"
#include "aptflow/core/window_grid.hpp"
#include "aptflow/dist/decomposition.hpp"

namespace aptflow::dist {

// Owned and halo ions of one rank, sorted by (z, global index): halo ions
// from lower slabs, then the owned ions (in ZSlabDecomposition::owned()
// order), then halo ions from higher slabs. Every ion appears once.
struct LocalIons {
  HostIonCloud cloud;
  Kokkos::View<IonIndex*, Kokkos::HostSpace> index;  // global input index
  IonIndex owned_begin = 0, owned_end = 0;           // owned ions: [owned_begin, owned_end)
  double width = 0;                                  // halo width h, nm

  IonIndex size() const { return cloud.size(); }
  bool is_owned(IonIndex i) const { return i >= owned_begin && i < owned_end; }
  IonIndex halo_count() const { return size() - (owned_end - owned_begin); }
};

// Halo width for window SDMs (nm): r_cut + the window reach (the larger of the
// centre and neighbour sphere radii) + 1e-3 nm for the float32 rounding of
// window centres and distances. FeAl defaults: 1.5 + 0.5; CoCrNi: 1.5 + 0.75.
double halo_width(const SdmSpec& sdm, const WindowSpec& windows);

// Collective over decomposition.comm(): exchange halos of width h >= 0 (nm;
// ConfigError "dist.halo_width" otherwise).
LocalIons exchange_halo(const ZSlabDecomposition& decomposition, double h);

}  // namespace aptflow::dist
