// Device instantiations of the kernel templates. With a device backend
// (Kokkos CUDA, HIP or SYCL) the library compiles every kernel for
// Kokkos::DefaultExecutionSpace here, so building aptflow proves that they
// compile for the device (CI builds it against Kokkos CUDA, Hopper);
// classify's device path runs them through pipeline/device_stages.cpp, the
// other drivers on the host. Host-only builds compile nothing here. voxelize instantiates its
// own kernels (kernels/voxelize.cpp).
#include <Kokkos_Core.hpp>

#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP) || defined(KOKKOS_ENABLE_SYCL)
#include "aptflow/kernels/cell_list.hpp"
#include "aptflow/kernels/composition.hpp"
#include "aptflow/kernels/preprocess.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/segment.hpp"
#include "aptflow/kernels/windows.hpp"

namespace aptflow {

using DevExec = Kokkos::DefaultExecutionSpace;
using DevMem = DevExec::memory_space;
using DevCounts = Kokkos::View<std::int64_t*, DevMem>;
using DevRows = Kokkos::View<std::int64_t**, Kokkos::LayoutRight, DevMem>;
using DevMat = Kokkos::View<double**, Kokkos::LayoutRight, DevMem>;
using DevLabels = Kokkos::View<std::int32_t*, DevMem>;

// Cell list.
template Box cloud_bounds<DevExec, DevMem>(const DevExec&, const IonCloud<DevMem>&);
template CellList<DevMem> build_cell_list<DevExec, DevMem>(const DevExec&, const IonCloud<DevMem>&,
                                                           const CellGrid&, int, const std::string&);
// SDMs.
template SdmCells<DevMem> build_sdm_cells<DevExec, DevMem>(const DevExec&, const IonCloud<DevMem>&,
                                                           const CellGrid&, int, int);
template void compute_sdm<DevExec, DevMem>(const DevExec&, const SdmCells<DevMem>&, const SdmSpec&,
                                           const DevCounts&, SdmAlgorithm, const SdmCentreRange&);
template void compute_sdm<DevExec, DevMem>(const DevExec&, const IonCloud<DevMem>&, const SdmSpec&, int, int,
                                           const DevCounts&, SdmAlgorithm);
template void compute_sdm_of_centres<DevExec, DevMem>(const DevExec&, const IonCloud<DevMem>&,
                                                      const CellList<DevMem>&, const SdmSpec&,
                                                      const Kokkos::View<const std::int64_t*, DevMem>&,
                                                      const DevCounts&, SdmAlgorithm);
template void compute_window_sdms<DevExec, DevMem>(const DevExec&, const SdmCells<DevMem>&, const WindowGrid&,
                                                   const WindowSpec&, const SdmSpec&, std::int64_t,
                                                   std::int64_t, const DevRows&, const DevCounts&,
                                                   SdmAlgorithm);
// Sub-cells, labels, smoothing, local composition.
template void sum_subcell_probabilities<DevExec, DevMem>(
    const DevExec&, const WindowGrid&, const Kokkos::View<float**, Kokkos::LayoutRight, DevMem>&,
    const DevMat&, EmptyWindow);
template void threshold_subcells<DevExec, DevMem>(const DevExec&, const DevMat&,
                                                  const Kokkos::View<double*, DevMem>&, const DevLabels&);
template std::int64_t label_ions_layers<DevExec, DevMem>(const DevExec&, const SubcellGrid&, std::int64_t,
                                                         std::int64_t, const IonCloud<DevMem>&, const DevMat&,
                                                         const DevLabels&, double, const DevLabels&);
template void label_ions<DevExec, DevMem>(const DevExec&, const SubcellGrid&, const IonCloud<DevMem>&,
                                          const DevMat&, const DevLabels&, double, const DevLabels&);
template void smooth_subcell_sums<DevExec, DevMem>(const DevExec&, const SubcellGrid&, std::int64_t,
                                                   std::int64_t, const DevMat&, double, const DevMat&);
template std::int64_t label_ions_interpolated<DevExec, DevMem>(
    const DevExec&, const SubcellGrid&, std::int64_t, std::int64_t, const IonCloud<DevMem>&, const DevMat&,
    const Kokkos::View<double*, DevMem>&, const Kokkos::View<double*, DevMem>&, int, const DevLabels&);
template void local_composition<DevExec, DevMem>(const DevExec&, const IonCloud<DevMem>&,
                                                 const Kokkos::View<std::uint8_t*, DevMem>&, double,
                                                 const DevLabels&, const DevLabels&);
template void composition_evidence<DevExec, DevMem>(const DevExec&, const Kokkos::View<Species*, DevMem>&,
                                                    const Kokkos::View<std::uint8_t*, DevMem>&,
                                                    const DevLabels&, const DevLabels&, double, double,
                                                    double, const Kokkos::View<double*, DevMem>&);
// Preprocessing of feature rows.
template void curve::preprocess_rows<DevExec, DevMem>(
    const DevExec&, const Kokkos::View<float**, Kokkos::LayoutRight, DevMem>&, const curve::ChainSpec&,
    const Kokkos::View<const double*, DevMem>&, const Kokkos::View<curve::ClipResult*, DevMem>&,
    std::int64_t);
template void curve::counts_to_rows<DevExec, DevMem>(
    const DevExec&, const DevRows&, const DevCounts&,
    const Kokkos::View<float**, Kokkos::LayoutRight, DevMem>&);
// Ranging (kernels/ranging.hpp is device-ready: a bucketed lookup per ion).
template void apply_ranges<DevExec, DevMem, DevMem>(const DevExec&, const IonCloud<DevMem>&,
                                                    const DeviceRangeTable<DevMem>&);
template std::vector<std::int64_t> count_species<DevExec, DevMem>(const DevExec&, const IonCloud<DevMem>&,
                                                                  int);

}  // namespace aptflow
#endif
