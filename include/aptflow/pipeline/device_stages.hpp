#pragma once
// The stages of classify's windows pass that can run on a GPU (issue 13,
// `--device`, docs/classify.md "GPU"): the window z-SDM counts of every
// species pair and the CNN ensemble's forward passes.
//
// On the host (`--device host`): the host execution space with the CPU
// algorithms of compute_window_sdms, and Model::predict.
// On the device (`--device gpu`): Kokkos::DefaultExecutionSpace. The ion
// positions go to the device once; the cell list of every pair is built
// there; each block of windows is counted there by the team-per-window
// algorithm and only its integer counts come back. The preprocessing runs on
// the host between the two stages; the preprocessed rows go to the device,
// every activation stays there (nn::DeviceModel) and only the probabilities
// come back.
//
// Both paths give the same integer counts; probabilities differ by the GEMM
// libraries' rounding only. In builds without a GPU the device path runs on
// the default (host) execution space with the device algorithms, which is how
// the tests compare it with the host path.
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/kernels/gemm.hpp"
#include "aptflow/kernels/windows.hpp"
#include "aptflow/nn/model.hpp"
#include "aptflow/nn/predict.hpp"

namespace aptflow {

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
};

// species: (centre, neighbour) species ids per pair. The cloud must outlive
// a host counter (a device counter keeps its own copy of the positions).
std::unique_ptr<WindowCounter> make_window_counter(bool device, const HostIonCloud& cloud,
                                                   const std::vector<std::pair<int, int>>& species,
                                                   const WindowGrid& grid, const WindowSpec& wspec,
                                                   const SdmSpec& spec);

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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<nn::Forward> forwards_;
};

}  // namespace aptflow
