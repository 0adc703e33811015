#include "aptflow/pipeline/device_stages.hpp"

#include <optional>
#include <string>
#include <type_traits>

#include "aptflow/core/bounds.hpp"
#include "aptflow/kernels/cell_list.hpp"
#include "aptflow/kernels/composition.hpp"
#include "aptflow/kernels/preprocess.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/segment.hpp"
#include "aptflow/nn/device_model.hpp"

namespace aptflow {

namespace {

using HostExec = Kokkos::DefaultHostExecutionSpace;
using DevExec = Kokkos::DefaultExecutionSpace;

// A copy of v in Mem (v itself when Mem can read it).
template <class Mem, class View>
auto in_space(const View& v) {
  return Kokkos::create_mirror_view_and_copy(Mem(), v);
}

// v's values in host memory (v itself when it is there).
template <class View>
auto on_host(const View& v) {
  auto h = Kokkos::create_mirror_view(v);
  Kokkos::deep_copy(h, v);
  return h;
}

// The counts on execution space Exec: the CPU algorithms on a host Exec,
// the team-per-window algorithm otherwise (the positions are already in
// Exec's memory: StageIons).
template <class Exec>
class ExecWindowCounter final : public WindowCounter {
 public:
  using Mem = typename Exec::memory_space;

  ExecWindowCounter(const IonCloud<Mem>& cloud, const std::vector<std::pair<int, int>>& species,
                    const WindowGrid& grid, const WindowSpec& wspec, const SdmSpec& spec,
                    SdmAlgorithm algorithm)
      : grid_(grid), wspec_(wspec), spec_(spec), algorithm_(algorithm) {
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

  sdm::FeatureRows features(std::int64_t first, std::int64_t m, const sdm::PreprocessSpec& prep) override {
    const auto C = static_cast<std::int64_t>(cells_.size());
    const std::int64_t B = spec_.size();
    if (algorithm_ != SdmAlgorithm::team)  // the host path: sdm/features.hpp on the host counts
      return sdm::compute_features(
          m, C, B,
          [&](std::size_t ch, const sdm::SdmRows& o, const sdm::CentreCounts& cc) {
            count(ch, first, o, cc);
          },
          prep, sdm::EmptyRule::nan);
    // The device path: the same stage with every step on Exec (in Exec's
    // memory, also where that is the host's: how the tests run this code).
    // The chain and its weights (a few microseconds: made per call, so any prep goes).
    sdm::PreprocessKernel kernel = sdm::preprocess_kernel(prep, static_cast<std::size_t>(B));
    const Kokkos::View<const double*, Mem> hat =
        in_space<Mem>(Kokkos::View<double*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(kernel.hat.data(),
                                                                                        kernel.hat.size()));
    if (static_cast<std::int64_t>(rows_.extent(0)) != m || static_cast<std::int64_t>(rows_.extent(1)) != B) {
      rows_ = decltype(rows_)("aptflow::classify::device_sdms", m, B);
      centres_ = decltype(centres_)("aptflow::classify::device_centres", m);
    }
    if (static_cast<std::int64_t>(values_.extent(0)) != m ||
        static_cast<std::int64_t>(values_.extent(1)) != B)
      values_ = decltype(values_)("aptflow::classify::device_features", m, B);
    sdm::FeatureRows f;
    f.samples = m;
    f.channels = C;
    f.bins = B;
    f.values.resize(static_cast<std::size_t>(C * m * B));
    f.centres.resize(static_cast<std::size_t>(C * m));
    const auto rows = rows_;
    const auto centres = centres_;
    const auto values = values_;
    for (std::int64_t ch = 0; ch < C; ++ch) {
      compute_window_sdms(exec_, cells_.at(static_cast<std::size_t>(ch)), grid_, wspec_, spec_, first, m,
                          rows, centres, algorithm_);
      curve::counts_to_rows(exec_, rows, centres, values);
      curve::preprocess_rows(exec_, values, kernel.chain, hat, Kokkos::View<curve::ClipResult*, Mem>());
      Kokkos::deep_copy(
          exec_,
          Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
              f.values.data() + ch * m * B, m, B),
          values);
      Kokkos::deep_copy(exec_,
                        Kokkos::View<std::int64_t*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                            f.centres.data() + ch * m, m),
                        centres);
    }
    exec_.fence();
    return f;
  }

 private:
  Exec exec_;
  WindowGrid grid_;
  WindowSpec wspec_;
  SdmSpec spec_;
  SdmAlgorithm algorithm_;
  std::vector<SdmCells<Mem>> cells_;
  Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem> rows_;
  Kokkos::View<std::int64_t*, Mem> centres_;
  Kokkos::View<float**, Kokkos::LayoutRight, Mem> values_;
};

// The segment stage on Exec (run_segment_stage).
template <class Exec>
SegmentStageOutput segment_on(const Exec& exec, const IonCloud<typename Exec::memory_space>& cloud,
                              const SegmentStageInput& in) {
  using Mem = typename Exec::memory_space;
  const SegmentSpec& sp = *in.spec;
  const auto K = in.prob.extent(1);
  const std::int64_t cells = SubcellGrid::of(in.local_grid).cells();
  // (Typed: a device mirror's type names its layout; the kernels take the plain View types.)
  const Kokkos::View<float**, Kokkos::LayoutRight, Mem> prob = in_space<Mem>(in.prob);
  Kokkos::View<double*, Kokkos::HostSpace> thr_host("aptflow::classify::thresholds", K);
  for (std::size_t k = 0; k < K; ++k) thr_host(k) = sp.thresholds.at(k);
  const Kokkos::View<double*, Mem> thr = in_space<Mem>(thr_host);
  Kokkos::View<double**, Kokkos::LayoutRight, Mem> sums("aptflow::classify::sums", cells, K);
  Kokkos::View<std::int32_t*, Mem> sub_label("aptflow::classify::subcell_label", cells),
      ion_label("aptflow::classify::ion_label", cloud.size());
  SegmentStageOutput out;
  sum_subcell_probabilities(exec, in.local_grid, prob, sums, sp.empty_window);
  if (sp.rule == IonRule::subcell) {
    threshold_subcells(exec, sums, thr, sub_label);
    out.outside = label_ions_layers(exec, in.sg, in.layer_first, in.layers, cloud, sums, sub_label,
                                    sp.ion_radius, ion_label);
  } else {
    // The written sub-cell labels threshold the smoothed sums (layers at
    // least T inside the held ones are exact; the others are not written).
    Kokkos::View<double**, Kokkos::LayoutRight, Mem> field("aptflow::classify::smoothed", cells, K);
    smooth_subcell_sums(exec, in.sg, in.layer_first, in.layers, sums, sp.smoothing, field);
    threshold_subcells(exec, field, thr, sub_label);
    Kokkos::View<double*, Mem> evidence;
    if (sp.composition.enabled()) {
      const IonIndex n = cloud.size();
      Kokkos::View<std::uint8_t*, Kokkos::HostSpace> solute_host("aptflow::classify::solute",
                                                                 in.solute.size());
      for (std::size_t s = 0; s < in.solute.size(); ++s) solute_host(s) = in.solute[s];
      const Kokkos::View<std::uint8_t*, Mem> solute = in_space<Mem>(solute_host);
      Kokkos::View<std::int32_t*, Mem> ranged("aptflow::classify::ranged_near", n),
          near("aptflow::classify::solute_near", n);
      local_composition(exec, cloud, solute, sp.composition.radius, ranged, near);
      evidence = decltype(evidence)("aptflow::classify::evidence", n);
      composition_evidence(exec, cloud.species, solute, ranged, near, in.solute_fraction,
                           sp.composition.weight, sp.composition.ion_weight, evidence);
    }
    out.outside = label_ions_interpolated(exec, in.sg, in.layer_first, in.layers, cloud, field, thr, evidence,
                                          in.evidence_class, ion_label);
  }
  out.sums = on_host(sums);
  out.subcell_label = on_host(sub_label);
  out.ion_label = on_host(ion_label);
  return out;
}

}  // namespace

struct StageIons::Impl {
  bool device = false;
  HostIonCloud host;
  IonCloud<DevExec::memory_space> dev;  // positions and species only: what the stages read
};

StageIons::StageIons(bool device, const HostIonCloud& cloud) : impl_(std::make_unique<Impl>()) {
  impl_->device = device;
  impl_->host = cloud;
  if (!device) return;
  IonCloud<DevExec::memory_space>& d = impl_->dev;
  d.x = in_space<DevExec::memory_space>(cloud.x);
  d.y = in_space<DevExec::memory_space>(cloud.y);
  d.z = in_space<DevExec::memory_space>(cloud.z);
  d.species = in_space<DevExec::memory_space>(cloud.species);
}

StageIons::~StageIons() = default;

bool StageIons::device() const { return impl_->device; }

std::unique_ptr<WindowCounter> make_window_counter(const StageIons& ions,
                                                   const std::vector<std::pair<int, int>>& species,
                                                   const WindowGrid& grid, const WindowSpec& wspec,
                                                   const SdmSpec& spec) {
  const auto& i = ions.impl();
  if (!i.device)
    return std::make_unique<ExecWindowCounter<HostExec>>(i.host, species, grid, wspec, spec,
                                                         SdmAlgorithm::automatic);
  return std::make_unique<ExecWindowCounter<DevExec>>(i.dev, species, grid, wspec, spec, SdmAlgorithm::team);
}

namespace {
template <class Exec>
void cloud_sdm_on(const IonCloud<typename Exec::memory_space>& cloud, int sa, int sb, const SdmSpec& spec,
                  const SdmCentreRange& centres, SdmAlgorithm algorithm,
                  const Kokkos::View<std::int64_t*, Kokkos::HostSpace>& out) {
  const Exec exec;
  const CellGrid cg = make_cell_grid(cloud_bounds(exec, cloud), spec.r_cut);
  const Kokkos::View<std::int64_t*, typename Exec::memory_space> counts =
      Kokkos::create_mirror_view(typename Exec::memory_space(), out);
  compute_sdm(exec, build_sdm_cells(exec, cloud, cg, sa, sb), spec, counts, algorithm, centres);
  Kokkos::deep_copy(exec, out, counts);
  exec.fence();
}
}  // namespace

void range_ions(bool device, const HostIonCloud& cloud, const RangeTable& table) {
  if (!device) {
    const HostExec exec;
    apply_ranges(exec, cloud, make_device_range_table<Kokkos::HostSpace>(table));
    exec.fence();
    return;
  }
  // m/q and species only (what the ranging reads and writes), in the
  // device's memory (separate Views also where that is the host's).
  using Mem = DevExec::memory_space;
  const DevExec exec;
  IonCloud<Mem> d;
  d.mq = decltype(d.mq)(Kokkos::view_alloc("aptflow::range::device_mq", Kokkos::WithoutInitializing),
                        cloud.mq.extent(0));
  d.species = decltype(d.species)(
      Kokkos::view_alloc("aptflow::range::device_species", Kokkos::WithoutInitializing), cloud.mq.extent(0));
  Kokkos::deep_copy(exec, d.mq, cloud.mq);
  apply_ranges(exec, d, make_device_range_table<Mem>(table));
  Kokkos::deep_copy(exec, cloud.species, d.species);
  exec.fence();
}

CompositionGrid<Kokkos::HostSpace> voxelize_on(bool device, const HostIonCloud& cloud,
                                               const CompositionGeometry& geometry, std::int64_t z_begin,
                                               std::int64_t planes) {
  if (!device) return voxelize_composition(HostExec(), cloud, geometry, z_begin, planes);
  const StageIons ions(true, cloud);
  const auto g = voxelize_composition(DevExec(), ions.impl().dev, geometry, z_begin, planes);
  CompositionGrid<Kokkos::HostSpace> h;
  h.geometry = g.geometry;
  h.z_begin = g.z_begin;
  h.counts = on_host(g.counts);
  return h;
}

void count_cloud_sdm(const StageIons& ions, int species_a, int species_b, const SdmSpec& spec,
                     const SdmCentreRange& centres,
                     const Kokkos::View<std::int64_t*, Kokkos::HostSpace>& out) {
  const auto& i = ions.impl();
  if (!i.device)
    return cloud_sdm_on<HostExec>(i.host, species_a, species_b, spec, centres, SdmAlgorithm::automatic, out);
  cloud_sdm_on<DevExec>(i.dev, species_a, species_b, spec, centres, SdmAlgorithm::team, out);
}

SegmentStageOutput run_segment_stage(const StageIons& ions, const SegmentStageInput& in) {
  const auto& i = ions.impl();
  if (!i.device) return segment_on(HostExec(), i.host, in);
  return segment_on(DevExec(), i.dev, in);
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
