#include "aptflow/pipeline/device_stages.hpp"

#include <string>
#include <type_traits>

#include "aptflow/core/bounds.hpp"
#include "aptflow/kernels/cell_list.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/nn/device_model.hpp"

namespace aptflow {

namespace {

using HostExec = Kokkos::DefaultHostExecutionSpace;
using DevExec = Kokkos::DefaultExecutionSpace;

// The counts on execution space Exec. A host Exec with the CPU algorithms
// reads the host cloud in place; otherwise the positions and species are
// copied into Exec's memory once and the team-per-window algorithm runs.
template <class Exec>
class ExecWindowCounter final : public WindowCounter {
 public:
  using Mem = typename Exec::memory_space;

  ExecWindowCounter(const HostIonCloud& host, const std::vector<std::pair<int, int>>& species,
                    const WindowGrid& grid, const WindowSpec& wspec, const SdmSpec& spec,
                    SdmAlgorithm algorithm)
      : grid_(grid), wspec_(wspec), spec_(spec), algorithm_(algorithm) {
    const IonCloud<Mem> cloud = on_exec(host);
    const CellGrid cg = make_cell_grid(cloud_bounds(exec_, cloud), spec.r_cut);
    for (const auto& [sa, sb] : species) cells_.push_back(build_sdm_cells(exec_, cloud, cg, sa, sb));
  }

  void count(std::size_t pair, std::int64_t first, const Rows& out, const Counts& centres) override {
    const auto m = static_cast<std::int64_t>(out.extent(0));
    if constexpr (std::is_same_v<Mem, Kokkos::HostSpace>) {
      compute_window_sdms(exec_, cells_.at(pair), grid_, wspec_, spec_, first, m, out, centres, algorithm_);
    } else {
      if (static_cast<std::int64_t>(rows_.extent(0)) != m || rows_.extent(1) != out.extent(1)) {
        rows_ = decltype(rows_)("aptflow::classify::device_sdms", m, out.extent(1));
        centres_ = decltype(centres_)("aptflow::classify::device_centres", m);
      }
      compute_window_sdms(exec_, cells_.at(pair), grid_, wspec_, spec_, first, m, rows_, centres_,
                          algorithm_);
      Kokkos::deep_copy(exec_, out, rows_);
      Kokkos::deep_copy(exec_, centres, centres_);
    }
    exec_.fence();
  }

 private:
  static IonCloud<Mem> on_exec(const HostIonCloud& host) {
    if constexpr (std::is_same_v<Mem, Kokkos::HostSpace>) {
      return host;
    } else {
      IonCloud<Mem> d;  // positions and species only: what the SDMs read
      d.x = decltype(d.x)(Kokkos::view_alloc("aptflow::classify::device_ions.x", Kokkos::WithoutInitializing),
                          host.size());
      d.y = decltype(d.y)(Kokkos::view_alloc("aptflow::classify::device_ions.y", Kokkos::WithoutInitializing),
                          host.size());
      d.z = decltype(d.z)(Kokkos::view_alloc("aptflow::classify::device_ions.z", Kokkos::WithoutInitializing),
                          host.size());
      d.species = decltype(d.species)(
          Kokkos::view_alloc("aptflow::classify::device_ions.species", Kokkos::WithoutInitializing),
          host.size());
      Kokkos::deep_copy(d.x, host.x);
      Kokkos::deep_copy(d.y, host.y);
      Kokkos::deep_copy(d.z, host.z);
      Kokkos::deep_copy(d.species, host.species);
      return d;
    }
  }

  Exec exec_;
  WindowGrid grid_;
  WindowSpec wspec_;
  SdmSpec spec_;
  SdmAlgorithm algorithm_;
  std::vector<SdmCells<Mem>> cells_;
  Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem> rows_;
  Kokkos::View<std::int64_t*, Mem> centres_;
};

}  // namespace

std::unique_ptr<WindowCounter> make_window_counter(bool device, const HostIonCloud& cloud,
                                                   const std::vector<std::pair<int, int>>& species,
                                                   const WindowGrid& grid, const WindowSpec& wspec,
                                                   const SdmSpec& spec) {
  if (!device)
    return std::make_unique<ExecWindowCounter<HostExec>>(cloud, species, grid, wspec, spec,
                                                         SdmAlgorithm::automatic);
  return std::make_unique<ExecWindowCounter<DevExec>>(cloud, species, grid, wspec, spec, SdmAlgorithm::team);
}

struct DeviceEnsemble::Impl {
  using Net = nn::DeviceModel<DevExec>;
  std::vector<std::unique_ptr<Net>> nets;
  Net::Matrix x, y;  // the last block's input and output
};

DeviceEnsemble::DeviceEnsemble(const std::vector<nn::Model>& models) : impl_(std::make_unique<Impl>()) {
  const DevExec exec;
  for (const auto& m : models) impl_->nets.push_back(std::make_unique<Impl::Net>(exec, m));
  for (const auto& net : impl_->nets) {
    Impl* impl = impl_.get();
    Impl::Net* n = net.get();
    forwards_.emplace_back([impl, n](const float* x, std::int64_t rows, float* y) {
      const std::int64_t in = n->input_size(), out = n->output_size();
      if (static_cast<std::int64_t>(impl->x.extent(0)) != rows ||
          static_cast<std::int64_t>(impl->x.extent(1)) != in)
        impl->x = Impl::Net::Matrix("aptflow::classify::device_rows", rows, in);
      if (static_cast<std::int64_t>(impl->y.extent(0)) != rows ||
          static_cast<std::int64_t>(impl->y.extent(1)) != out)
        impl->y = Impl::Net::Matrix("aptflow::classify::device_probabilities", rows, out);
      const Kokkos::View<const float**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> hx(
          x, rows, in);
      const Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged> hy(y, rows,
                                                                                                      out);
      Kokkos::deep_copy(impl->x, hx);
      n->predict(impl->x, impl->y, rows);
      Kokkos::deep_copy(hy, impl->y);
    });
  }
}

DeviceEnsemble::~DeviceEnsemble() = default;

std::optional<GemmPath> DeviceEnsemble::gemm_path() const {
  std::optional<GemmPath> p;
  for (const auto& net : impl_->nets)
    if (net->gemm_path()) p = net->gemm_path();
  return p;
}

}  // namespace aptflow
