#include "aptflow/pipeline/device_stages.hpp"

#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include "aptflow/core/bounds.hpp"
#include "aptflow/core/error.hpp"
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

// v reallocated (label, extents n...) unless it already has those extents;
// the contents are not kept.
template <class V, class... Extents>
void fit(V& v, const char* label, Extents... n) {
  const std::size_t want[] = {static_cast<std::size_t>(n)...};
  for (std::size_t d = 0; d < sizeof...(n); ++d)
    if (v.extent(d) != want[d]) {
      v = V(std::string(label), static_cast<std::size_t>(n)...);
      return;
    }
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
      fit(rows_, "aptflow::classify::device_sdms", m, out.extent(1));
      fit(centres_, "aptflow::classify::device_centres", m);
      compute_window_sdms(exec_, cells_.at(pair), grid_, wspec_, spec_, first, m, rows_, centres_,
                          algorithm_);
      Kokkos::deep_copy(exec_, out, rows_);
      Kokkos::deep_copy(exec_, centres, centres_);
    }
    exec_.fence();
  }

  // sdm/features.hpp on the counts brought to the host (the device path
  // classifies with classify(), which keeps the rows on the device).
  sdm::FeatureRows features(std::int64_t first, std::int64_t m, const sdm::PreprocessSpec& prep) override {
    return sdm::compute_features(
        m, static_cast<std::int64_t>(cells_.size()), spec_.size(),
        [&](std::size_t ch, const sdm::SdmRows& o, const sdm::CentreCounts& cc) { count(ch, first, o, cc); },
        prep, sdm::EmptyRule::nan);
  }

  WindowChunk classify(std::int64_t first, std::int64_t m, const std::uint8_t* done,
                       const sdm::PreprocessSpec& prep, const DeviceEnsemble& ensemble,
                       std::int64_t block) override {
    if constexpr (std::is_same_v<Exec, DevExec>) {
      return classify_here(first, m, done, prep, ensemble, block);
    } else {
      throw InternalError("WindowCounter::classify: the counter is not on the ensemble's execution space");
    }
  }

 private:
  // The preprocessing chain of a call and its Savitzky-Golay weights in Mem
  // (a few microseconds: made per call, so any prep goes).
  struct Chain {
    sdm::PreprocessKernel kernel;
    Kokkos::View<const double*, Mem> hat;
    Chain(const sdm::PreprocessSpec& prep, std::int64_t bins)
        : kernel(sdm::preprocess_kernel(prep, static_cast<std::size_t>(bins))),
          hat(in_space<Mem>(Kokkos::View<double*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
              kernel.hat.data(), kernel.hat.size()))) {}
  };

  // Pair ch's preprocessed rows of windows [first, first + m) into values_
  // (m x bins, NaN rows for windows without centre ions), centre ions into
  // centres_; queued on exec_.
  void channel_rows(std::int64_t ch, std::int64_t first, std::int64_t m, const Chain& chain) {
    const std::int64_t B = spec_.size();
    fit(rows_, "aptflow::classify::device_sdms", m, B);
    fit(centres_, "aptflow::classify::device_centres", m);
    fit(values_, "aptflow::classify::device_features", m, B);
    compute_window_sdms(exec_, cells_.at(static_cast<std::size_t>(ch)), grid_, wspec_, spec_, first, m, rows_,
                        centres_, algorithm_);
    curve::counts_to_rows(exec_, rows_, centres_, values_);
    curve::preprocess_rows(exec_, values_, chain.kernel.chain, chain.hat,
                           Kokkos::View<curve::ClipResult*, Mem>());
  }

  WindowChunk classify_here(std::int64_t first, std::int64_t m, const std::uint8_t* done,
                            const sdm::PreprocessSpec& prep, const DeviceEnsemble& ensemble,
                            std::int64_t block) {
    using ConstRows = Kokkos::View<const float**, Kokkos::LayoutRight, Mem>;
    const auto C = static_cast<std::int64_t>(cells_.size());
    const std::int64_t B = spec_.size(), width = C * B, K = ensemble.outputs();
    const std::int64_t row0 = block > 0 ? first % block : -1;
    if (m < 1 || first < 0 || row0 < 0 || row0 + m > block)
      throw InternalError("WindowCounter::classify: the windows must lie in one batch of the network");
    WindowChunk out;
    out.probabilities.assign(static_cast<std::size_t>(m * K), std::numeric_limits<float>::quiet_NaN());
    out.class_sum.assign(static_cast<std::size_t>(K * width), 0);
    out.class_count.assign(static_cast<std::size_t>(K), 0);
    // The features of every pair, side by side: feat(k, ch * B + q).
    fit(feat_, "aptflow::classify::device_feature_rows", m, width);
    const Chain chain(prep, B);
    for (std::int64_t ch = 0; ch < C; ++ch) {
      channel_rows(ch, first, m, chain);
      Kokkos::deep_copy(exec_, Kokkos::subview(feat_, Kokkos::ALL, Kokkos::make_pair(ch * B, (ch + 1) * B)),
                        values_);
    }
    // The batch: the done flags go up (m bytes).
    fit(done_, "aptflow::classify::device_done", m);
    fit(valid_, "aptflow::classify::device_valid", m);
    fit(x_, "aptflow::classify::device_batch", block, width);
    Kokkos::deep_copy(exec_, done_,
                      Kokkos::View<const std::uint8_t*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(done, m));
    const std::int64_t n = assemble_window_batch<Exec, Mem>(exec_, feat_, done_, C, row0, x_, valid_);
    if (n == 0) return out;  // nothing to classify: the network is not run (as on the host)
    fit(sum_, "aptflow::classify::device_ensemble_sum", block, K);
    fit(prob_, "aptflow::classify::device_probabilities", m, K);
    fit(hi_, "aptflow::classify::device_class_sum_hi", K, width);
    fit(lo_, "aptflow::classify::device_class_sum_lo", K, width);
    Kokkos::deep_copy(exec_, sum_, 0.0);
    exec_.fence();
    ensemble.add_forwards(x_, sum_);
    ensemble_mean<Exec, Mem>(exec_, sum_, ensemble.models(), row0, valid_, prob_);
    class_feature_sums<Exec, Mem>(exec_, ConstRows(feat_), ConstRows(prob_), hi_, lo_);
    // Back: the probabilities and the sums.
    Kokkos::deep_copy(exec_,
                      Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(
                          out.probabilities.data(), m, K),
                      prob_);
    const auto hi = Kokkos::create_mirror_view(hi_), lo = Kokkos::create_mirror_view(lo_);
    Kokkos::deep_copy(exec_, hi, hi_);
    Kokkos::deep_copy(exec_, lo, lo_);
    exec_.fence();
    for (std::int64_t c = 0; c < K; ++c)
      for (std::int64_t j = 0; j < width; ++j)
        out.class_sum[static_cast<std::size_t>(c * width + j)] =
            static_cast<__int128>(hi(c, j)) * 2147483648 + static_cast<__int128>(lo(c, j));
    for (std::int64_t k = 0; k < m; ++k) {
      const std::int32_t c = window_class(out.probabilities.data() + k * K, K);
      if (c >= 0) ++out.class_count[static_cast<std::size_t>(c)];
    }
    return out;
  }

  Exec exec_;
  WindowGrid grid_;
  WindowSpec wspec_;
  SdmSpec spec_;
  SdmAlgorithm algorithm_;
  std::vector<SdmCells<Mem>> cells_;
  Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem> rows_;
  Kokkos::View<std::int64_t*, Mem> centres_;
  Kokkos::View<float**, Kokkos::LayoutRight, Mem> values_;
  // classify: the chunk's features, flags, batch, ensemble sum, probabilities, class sums
  Kokkos::View<float**, Kokkos::LayoutRight, Mem> feat_, x_, prob_;
  Kokkos::View<std::uint8_t*, Mem> done_, valid_;
  Kokkos::View<double**, Kokkos::LayoutRight, Mem> sum_;
  Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem> hi_, lo_;
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
      fit(impl->x, "aptflow::classify::device_rows", rows, in);
      fit(impl->y, "aptflow::classify::device_probabilities", rows, out);
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

std::int64_t DeviceEnsemble::models() const { return static_cast<std::int64_t>(impl_->nets.size()); }

std::int64_t DeviceEnsemble::outputs() const {
  return impl_->nets.empty() ? 0 : impl_->nets.front()->output_size();
}

void DeviceEnsemble::add_forwards(const Rows& x, const Sums& sum) const {
  const DevExec exec;
  const auto rows = static_cast<std::int64_t>(x.extent(0));
  for (const auto& net : impl_->nets) {
    fit(impl_->y, "aptflow::classify::device_probabilities", rows, net->output_size());
    net->predict(x, impl_->y, rows);
    add_model_outputs<DevExec, DevExec::memory_space>(exec, impl_->y, sum);
  }
  exec.fence();
}

std::optional<GemmPath> DeviceEnsemble::gemm_path() const {
  std::optional<GemmPath> p;
  for (const auto& net : impl_->nets)
    if (net->gemm_path()) p = net->gemm_path();
  return p;
}

}  // namespace aptflow
