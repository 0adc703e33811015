#pragma once
// One pass of aptflow classify over a cloud (internal to src/pipeline):
// the z-slab decomposition and halo, the windows in rounds (SDM features ->
// preprocessing -> CNN, with the stop check), the sub-cell layers and ion
// labels, the domains. classify.cpp sequences the real run and the shuffled
// m/q control runs from these stages; Context holds what does not change
// between them.
#include <mpi.h>

#include <Kokkos_Core.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "aptflow/core/range_table.hpp"
#include "aptflow/core/sdm_spec.hpp"
#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/halo.hpp"
#include "aptflow/dist/window_ownership.hpp"
#include "aptflow/io/classify_checkpoint.hpp"
#include "aptflow/kernels/segment.hpp"
#include "aptflow/kernels/windows.hpp"
#include "aptflow/nn/model.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "aptflow/pipeline/device_stages.hpp"
#include "aptflow/pipeline/roi.hpp"
#include "aptflow/pipeline/segment.hpp"
#include "aptflow/sdm/preprocess.hpp"
#include "mean_sdm.hpp"
#include "progress.hpp"

namespace aptflow::detail {

// Everything that does not change between the real and the control runs.
struct ClassifyContext {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, nranks = 1;
  const ClassifyOptions* opt = nullptr;
  std::vector<nn::Model> models;
  RangeTable table;
  std::vector<std::pair<int, int>> species;  // per pair (channel): centre and neighbour species
  SdmSpec spec = SdmSpec::z();
  WindowSpec wspec;
  std::int64_t K = 0, bins = 0;
  // segment.composition: the class that gets the evidence (-1: none) and,
  // per species id of table, 1 for the solute ion types.
  int evidence_class = -1;
  std::vector<std::uint8_t> solute;
  std::string input_sha, range_sha;
  std::vector<std::string> model_sha;
  // Preprocessing of the window z-SDMs (prep.mode: experimental, minmax_only or none).
  sdm::PreprocessSpec prep;
  Progress* progress = nullptr;
  Kokkos::DefaultHostExecutionSpace exec;
  // --device: where the window counts and the CNN run; ensemble: the models
  // on the device (device path only).
  DeviceSelection device;
  bool device_path = false;
  std::unique_ptr<DeviceEnsemble> ensemble;

  // "experimental (cocrni background 23:69, published clipping)", "minmax_only", "none".
  std::string prep_text() const;
  // What identifies a run in its checkpoint (io/classify_checkpoint.hpp).
  io::CheckpointIdentity identity(const WindowGrid& grid) const;
  io::CheckpointShape checkpoint_shape(const WindowGrid& grid) const {
    return {grid.size(), K, static_cast<std::int64_t>(species.size()) * bins};
  }
};

// Collective: loads the models and the range table into c, resolves the
// species, the preprocessing and the device; every configuration error on
// every rank at once. Returns why the preprocessing was chosen.
std::string setup_classify(ClassifyContext& c);
// Collective: c.input_sha, range_sha and model_sha (read on rank 0).
void hash_classify_inputs(ClassifyContext& c);

// The cloud of a shuffled m/q control run (docs/classify.md): positions of
// cloud, m/q values permuted over all ranks by seed, ranged again. Collective.
HostIonCloud shuffled_cloud(const ClassifyContext& c, const HostIonCloud& cloud, IonIndex first_ion,
                            std::uint64_t seed);

// The per-ion results of the ions this rank read, in input order (-1: outside
// the region of interest or unlabelled), and this rank's labelled ions per class.
struct IonResults {
  std::vector<std::int32_t> cls_in;
  std::vector<std::int64_t> dom_in;
  std::vector<std::int64_t> per_class;
};

// This rank's sub-cell layers [first, first + count): sums (float) and labels.
struct SubcellRows {
  std::int64_t first = 0, count = 0;
  std::vector<float> sum;
  std::vector<std::int32_t> label;
};

// One pass of the pipeline over a cloud: decomposition, windows (in rounds,
// with the stop check), sub-cells, ion labels, domains. Collective stages.
struct ClassifyPass {
  explicit ClassifyPass(ClassifyContext& ctx) : c(ctx) {}
  ClassifyContext& c;
  dist::ZSlabDecomposition dec;
  dist::LocalIons local;
  WindowGrid grid;
  dist::WindowSlab mine;
  double h = 0;
  std::vector<float> prob;         // owned windows x K
  std::vector<std::uint8_t> done;  // owned windows: probability known
  MeanSdm msdm;                    // this rank's windows (rank 0: plus the checkpoint's)
  std::int64_t computed = 0;       // windows computed by this call, this rank
  bool stopped = false;
  // Sub-cells: local layers [layer_first, layer_first + layers) of the global
  // sub-cell grid sg; this rank writes the layers [sc_first, sc_end).
  SubcellGrid sg;
  std::int64_t layer_first = 0, layers = 0, sc_first = 0, sc_end = 0;
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> sums;
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> sub_label, ion_label;
  DomainResult dom;
  std::vector<std::int64_t> where;  // local index of each labelled ion

  // cloud: taken over (its memory freed during the sample sort) unless the
  // caller keeps another handle to the same Views.
  void decompose(HostIonCloud&& cloud, IonIndex first_ion);
  // Probabilities of the owned windows in rounds; `stopped` when a stop was
  // requested. resume_from: a checkpoint whose identity was checked, or "".
  void windows(const std::string& label, const std::string& resume_from);
  // Sub-cell sums and labels of the owned layers, the label of every local ion.
  void segment();
  void domains();
  // Collective (back to input order); frees the per-ion state of the pass.
  IonResults take_ion_results(const RoiSelection& roi);
  SubcellRows subcell_rows() const;

 private:
  double composition_reach() const;
  void load_checkpoint(const std::string& path);
  // The local ions where the pass's stages run (made on first use; the
  // device path copies them to the device then).
  const StageIons& stage_ions();
  double solute_fraction() const;
  std::unique_ptr<StageIons> ions;
};

}  // namespace aptflow::detail
