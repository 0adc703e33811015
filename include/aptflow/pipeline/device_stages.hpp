#pragma once
// The stages of a classify pass that can run on a GPU (issue 13, `--device`,
// docs/classify.md "GPU"; `aptflow sdm --device` and `aptflow voxelize
// --device` use the counts, the ranging and the voxelisation): the ranging,
// the voxelisation, the window z-SDM counts of every species pair, the
// whole-cloud SDMs,
// the CNN ensemble's forward passes, and the segment stage (sub-cell sums,
// thresholds, smoothing, local composition, ion labels).
//
// On the host (`--device host`): the host execution space with the CPU
// algorithms of compute_window_sdms, and Model::predict.
// On the device (`--device gpu`): Kokkos::DefaultExecutionSpace. The pass's
// ion positions and species go to the device once (StageIons) and serve both
// the window counts and the segment stage; the cell list of every pair is
// built there; each block of windows is counted there by the team-per-window
// algorithm, its features are made and preprocessed there (the same kernel
// as the host's, kernels/preprocess.hpp), the network's batch is assembled
// there (kernels/window_batch.hpp), every activation stays there
// (nn::DeviceModel), the ensemble's mean and the mean SDM's per-class sums
// are made there, and only the probabilities and those sums (classes x
// pairs x bins integers) come back (WindowCounter::classify). For the
// segment stage the gathered window probabilities go to
// the device; the sub-cell sums and labels and the ion labels come back.
//
// Both paths give the same integer counts and the same sums and labels for the
// same probabilities (double arithmetic in the same order; CUDA builds use
// -fmad=false); probabilities differ by the GEMM libraries' rounding only. In
// builds without a GPU the device path runs on the default (host) execution
// space with the device algorithms, which is how the tests compare it with
// the host path.
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/range_table.hpp"
#include "aptflow/kernels/gemm.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/voxelize.hpp"
#include "aptflow/kernels/window_batch.hpp"
#include "aptflow/kernels/windows.hpp"
#include "aptflow/nn/model.hpp"
#include "aptflow/nn/predict.hpp"
#include "aptflow/pipeline/segment.hpp"
#include "aptflow/sdm/features.hpp"

namespace aptflow {

class DeviceEnsemble;

// What WindowCounter::classify gives back for a chunk of m windows.
struct WindowChunk {
  std::vector<float> probabilities;       // m x classes; NaN rows: done or not classified (empty)
  std::vector<__int128> class_sum;        // classes x (pairs x bins): detail::MeanSdm's fixed-point sums
  std::vector<std::int64_t> class_count;  // classes: windows per argmax class (window_class)
};

// The window z-SDM counts of classify's windows, one species pair at a time.
class WindowCounter {
 public:
  using Rows = Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace>;
  using Counts = Kokkos::View<std::int64_t*, Kokkos::HostSpace>;
  virtual ~WindowCounter() = default;
  // compute_window_sdms of windows [first, first + out.extent(0)) of pair
  // `pair` (an index into the species pairs given at construction): counts
  // into out, centre ions into centres (host memory; overwritten).
  virtual void count(std::size_t pair, std::int64_t first, const Rows& out, const Counts& centres) = 0;
  // The features stage (sdm/features.hpp: counts -> float rows -> NaN rows
  // for windows without centre ions -> the preprocessing of prep) of windows
  // [first, first + m), every pair a channel, on the host from count()'s
  // counts: sdm::compute_features(..., prep, EmptyRule::nan).
  virtual sdm::FeatureRows features(std::int64_t first, std::int64_t m, const sdm::PreprocessSpec& prep) = 0;
  // The windows stage of the device path for windows [first, first + m),
  // which lie in one of the network's aligned batches of `block` rows
  // (nn::predict_ensemble_aligned): the features as above but made on the
  // device (kernels/preprocess.hpp), the batch
  // (done[k] != 0 or a non-finite value: the window is left out, its row
  // zeros), the ensemble's forward passes and mean, and the mean SDM's sums
  // per argmax class, all in the memory of the ensemble's execution space.
  // The same bits as features() + predict_ensemble_aligned(models,
  // ensemble.forwards(), ...) + MeanSdm::add per classified window.
  // InternalError on a counter whose space is not the ensemble's.
  virtual WindowChunk classify(std::int64_t first, std::int64_t m, const std::uint8_t* done,
                               const sdm::PreprocessSpec& prep, const DeviceEnsemble& ensemble,
                               std::int64_t block) = 0;
};

// A pass's local ions (owned + halo) where its stages run: on the host path
// the host cloud itself; on the device path a copy of the positions and
// species in the device's memory, made once at construction.
class StageIons {
 public:
  StageIons(bool device, const HostIonCloud& cloud);
  ~StageIons();
  StageIons(const StageIons&) = delete;
  StageIons& operator=(const StageIons&) = delete;
  bool device() const;
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// species: (centre, neighbour) species ids per pair. The counter keeps its
// own cell lists (copies of the positions): ions may go before it.
std::unique_ptr<WindowCounter> make_window_counter(const StageIons& ions,
                                                   const std::vector<std::pair<int, int>>& species,
                                                   const WindowGrid& grid, const WindowSpec& wspec,
                                                   const SdmSpec& spec);

// species of cloud from its m/q and table (kernels/ranging.hpp): on the host,
// or on the device (m/q go there, the species come back). Fenced.
void range_ions(bool device, const HostIonCloud& cloud, const RangeTable& table);

// The composition counts of cloud on the z planes [z_begin, z_begin +
// planes) of geometry (kernels/voxelize.hpp voxelize_composition): on the
// host, or on the device (positions and species go there, the counts come
// back). Host memory.
CompositionGrid<Kokkos::HostSpace> voxelize_on(bool device, const HostIonCloud& cloud,
                                               const CompositionGeometry& geometry, std::int64_t z_begin,
                                               std::int64_t planes);

// The whole-cloud SDM of the pair (species_a, species_b) with the centre
// ions [centres.begin, centres.end) of ions (kernels/sdm.hpp compute_sdm; the
// CPU algorithm on the host path, the device algorithm with privatised
// histograms on the device path) into out (host memory; overwritten).
void count_cloud_sdm(const StageIons& ions, int species_a, int species_b, const SdmSpec& spec,
                     const SdmCentreRange& centres,
                     const Kokkos::View<std::int64_t*, Kokkos::HostSpace>& out);

// The segment stage of a pass (kernels/segment.hpp, kernels/composition.hpp)
// on the space of ions: the sub-cell sums of the local sub-cell layers
// [layer_first, layer_first + layers) of sg from the gathered window layers
// (local_grid, prob: local_grid.size() x classes), their labels (thresholds
// of the sums, or of the smoothed sums under the interpolate rule) and the
// label of every ion of ions (the subcell or interpolate rule; the local
// composition evidence when spec.composition is enabled, with solute per
// species id and the dataset's solute fraction).
struct SegmentStageInput {
  const SegmentSpec* spec = nullptr;
  SubcellGrid sg;
  std::int64_t layer_first = 0, layers = 0;
  WindowGrid local_grid;
  Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> prob;
  int evidence_class = -1;
  std::vector<std::uint8_t> solute;
  double solute_fraction = 0;
};
struct SegmentStageOutput {
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> sums;  // local sub-cells x classes
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> subcell_label;         // local sub-cells
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> ion_label;             // ions
  std::int64_t outside = 0;  // ions that needed a sub-cell layer not held (label -1)
};
SegmentStageOutput run_segment_stage(const StageIons& ions, const SegmentStageInput& in);

// The forward passes of an ensemble on Kokkos::DefaultExecutionSpace
// (nn::DeviceModel: the parameters go to the device once, at construction).
class DeviceEnsemble {
 public:
  explicit DeviceEnsemble(const std::vector<nn::Model>& models);
  ~DeviceEnsemble();
  DeviceEnsemble(const DeviceEnsemble&) = delete;
  DeviceEnsemble& operator=(const DeviceEnsemble&) = delete;
  // One per model, for nn::predict_ensemble_aligned: x is copied to the
  // device, y back.
  const std::vector<nn::Forward>& forwards() const { return forwards_; }
  // The GEMM path of the last forward pass (none before the first).
  std::optional<GemmPath> gemm_path() const;

  using Rows = Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::DefaultExecutionSpace::memory_space>;
  using Sums = Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::DefaultExecutionSpace::memory_space>;
  std::int64_t models() const;
  std::int64_t outputs() const;  // floats per row of the output
  // sum(r, :) += model_i(x(r, :)) for each model i in order (double: the
  // host's additions), x.extent(0) rows per forward pass; device memory.
  void add_forwards(const Rows& x, const Sums& sum) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<nn::Forward> forwards_;
};

}  // namespace aptflow
