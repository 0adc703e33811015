// The stages of one aptflow classify pass (classify_pass.hpp): decomposition
// and halo, windows in rounds, sub-cells and ion labels, domains.
#include "classify_pass.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <thread>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/dist/gather.hpp"
#include "aptflow/dist/shuffle.hpp"
#include "aptflow/kernels/composition.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/window_batch.hpp"
#include "aptflow/nn/predict.hpp"
#include "aptflow/sdm/features.hpp"

namespace aptflow::detail {

namespace {
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
}  // namespace

std::string ClassifyContext::prep_text() const {
  if (prep.mode != sdm::PreprocessMode::experimental) return sdm::preprocess_mode_name(prep.mode);
  return fmt::format("experimental (Savitzky-Golay {}/{}, background L:U {}:{}, {} clipping)",
                     prep.savgol.window, prep.savgol.order, prep.background.lo, prep.background.hi,
                     sdm::background_clip_name(prep.background.clip));
}

io::CheckpointIdentity ClassifyContext::identity(const WindowGrid& grid) const {
  io::CheckpointIdentity id;
  id.emplace_back("input file (SHA-256)", input_sha);
  id.emplace_back("range file (SHA-256)", range_sha);
  id.emplace_back("model files (SHA-256)", fmt::format("{}", fmt::join(model_sha, ",")));
  id.emplace_back("window grid",
                  fmt::format("origin {:.17g} {:.17g} {:.17g} counts {} {} {} edge {:.17g} "
                              "stride {:.17g} classes {} bins {}",
                              grid.origin[0], grid.origin[1], grid.origin[2], grid.counts[0], grid.counts[1],
                              grid.counts[2], grid.edge, grid.stride, K, bins));
  id.emplace_back("configuration", opt->config_text);
  return id;
}

// cloud: taken over (its memory freed during the sample sort) unless the
// caller keeps another handle to the same Views.
void ClassifyPass::decompose(HostIonCloud&& cloud, IonIndex first_ion) {
  dec = dist::decompose_z(c.comm, std::move(cloud), first_ion);
  h = std::max(dist::halo_width(c.spec, c.wspec),
               2.0 * c.opt->segment.domains.eps * (1 + 1e-6) + 1e-3 + composition_reach());
  local = dist::exchange_halo(dec, h);
  if (const auto& b = c.opt->window_box)  // windows.box: the published placement on a fixed box
    grid = WindowGrid::on_box(b->data(), b->data() + 3, c.opt->edge, c.opt->stride);
  else
    grid = dist::global_window_grid(dec, c.opt->edge, c.opt->stride);
  mine = dist::owned_windows(dec, grid);
  dec.release_owned_ions();  // local.cloud holds them (with the halo) from here on
}

// Halo depth whose ions lack part of their composition neighbourhood: the
// domains step ignores it (their labels could differ from the owner's).
double ClassifyPass::composition_reach() const {
  const auto& e = c.opt->segment.composition;
  return e.enabled() ? e.radius + 1e-3 : 0.0;
}

void ClassifyPass::load_checkpoint(const std::string& path) {
  dist::collective_step(c.comm, [&] {
    std::vector<__int128> s;
    std::vector<std::int64_t> n;
    io::read_classify_checkpoint(path, c.checkpoint_shape(grid), mine.first, mine.count, prob.data(),
                                 done.data(), c.rank == 0 ? &s : nullptr, &n);
    if (c.rank == 0) msdm.add(s, n);
  });
}

void ClassifyPass::windows(const std::string& label, const std::string& resume_from) {
  const std::int64_t K = c.K, bins = c.bins, chunk = c.opt->chunk;
  const auto C = static_cast<std::int64_t>(c.species.size());  // channels (pairs)
  prob.assign(static_cast<std::size_t>(mine.count * K), kNaN);
  done.assign(static_cast<std::size_t>(mine.count), 0);
  msdm.init(K, C * bins);
  if (!resume_from.empty()) load_checkpoint(resume_from);
  // Chunks: the network sees fixed batches of `chunk` rows, window w in row
  // w mod chunk of batch w / chunk (nn::predict_ensemble_aligned: rows of
  // other ranks' windows, of done and of empty windows hold zeros). OpenBLAS
  // results depend on the GEMM sizes and a row's place in them, so this keeps
  // the probabilities independent of the rank count and of a resume. A chunk
  // here: the owned windows [off, off + m) of one such batch, with at least
  // one not done.
  struct Chunk {
    std::int64_t off, m;
  };
  std::vector<Chunk> chunks;
  std::int64_t todo = 0;
  for (std::int64_t i = 0; i < mine.count; ++i) todo += done[static_cast<std::size_t>(i)] ? 0 : 1;
  if (mine.count > 0)
    for (std::int64_t b = mine.first / chunk; b * chunk < mine.first + mine.count; ++b) {
      const std::int64_t a = std::max(b * chunk, mine.first) - mine.first,
                         e = std::min((b + 1) * chunk, mine.first + mine.count) - mine.first;
      bool any = false;
      for (std::int64_t i = a; i < e && !any; ++i) any = !done[static_cast<std::size_t>(i)];
      if (any) chunks.push_back({a, e - a});
    }
  std::int64_t nloc = static_cast<std::int64_t>(chunks.size()), rounds = 0, todo_all = 0;
  MPI_Allreduce(&nloc, &rounds, 1, MPI_INT64_T, MPI_MAX, c.comm);
  MPI_Allreduce(&todo, &todo_all, 1, MPI_INT64_T, MPI_SUM, c.comm);
  const std::int64_t before = grid.size() - todo_all;
  c.progress->start(label, grid.size(), before);
  std::unique_ptr<WindowCounter> counter;  // the cell lists of every pair, on the host or the device
  dist::collective_step(c.comm, [&] {
    c.wspec.validate(grid);
    if (nloc == 0) return;
    counter = make_window_counter(stage_ions(), c.species, grid, c.wspec, c.spec);
  });
  const bool flat = c.models.front().input_shape().size() == 1;
  for (std::int64_t r = 0; r < rounds; ++r) {
    std::exception_ptr err;
    if (r < nloc) {
      try {
        if (r == 1 && c.rank == c.opt->test_fail_rank && label == "windows")
          throw InternalError(fmt::format("test: failure injected on rank {} in round 1", c.rank));
        const Chunk ch = chunks[static_cast<std::size_t>(r)];
        const std::int64_t off = ch.off, m = ch.m;
        if (c.ensemble) {
          // The device path: features, batch, network and the mean SDM's sums
          // on the device (WindowCounter::classify); the probabilities and the
          // sums come back.
          const WindowChunk w =
              counter->classify(mine.first + off, m, done.data() + off, c.prep, *c.ensemble, chunk);
          for (std::int64_t k = 0; k < m; ++k) {
            if (done[static_cast<std::size_t>(off + k)]) continue;
            const float* pk = w.probabilities.data() + k * K;
            std::copy(pk, pk + K, prob.data() + (off + k) * K);  // NaN for an empty window
            ++computed;
            done[static_cast<std::size_t>(off + k)] = 1;
          }
          msdm.add(w.class_sum, w.class_count);
        } else {
          // The features stage (sdm/features.hpp): counts, the empty rule, the preprocessing.
          const sdm::FeatureRows rows = counter->features(mine.first + off, m, c.prep);
          // The network's input is channels last. A window with an empty or constant
          // channel (NaN after preprocessing) is not classified, like an empty one;
          // done windows enter as NaN rows too: predict_ensemble_aligned leaves them out.
          nn::Tensor x(nn::Shape{m, bins, C});
          for (std::int64_t k = 0; k < m; ++k) {
            float* dst = x.data.data() + k * bins * C;
            const bool blank = done[static_cast<std::size_t>(off + k)] || rows.blank(k);
            for (std::int64_t ch = 0; ch < C; ++ch) {
              const float* src = rows.row(k, ch);
              for (std::int64_t q = 0; q < bins; ++q) dst[q * C + ch] = blank ? kNaN : src[q];
            }
          }
          if (flat) x.shape = {m, bins};
          const nn::Prediction p = nn::predict_ensemble_aligned(c.models, x, mine.first + off, chunk);
          for (std::int64_t k = 0; k < m; ++k) {
            if (done[static_cast<std::size_t>(off + k)]) continue;
            float* dst = prob.data() + (off + k) * K;
            const float* pk = p.probabilities.data() + k * K;
            std::copy(pk, pk + K, dst);  // NaN for an empty window
            ++computed;
            const std::int32_t best = window_class(pk, K);
            if (best >= 0) msdm.add(best, rows, k);
          }
          for (std::int64_t k = 0; k < m; ++k) done[static_cast<std::size_t>(off + k)] = 1;
        }
      } catch (...) {
        err = std::current_exception();
      }
    }
    if (c.opt->test_chunk_sleep_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(c.opt->test_chunk_sleep_ms));
    std::int64_t v[3] = {c.opt->stop && *c.opt->stop ? 1 : 0, computed, err ? 1 : 0}, g[3] = {0, 0, 0};
    MPI_Allreduce(v, g, 3, MPI_INT64_T, MPI_SUM, c.comm);
    if (g[2] > 0) dist::raise_first_error(c.comm, err);
    c.progress->update(before + g[1], r + 1 == rounds);
    if (g[0] > 0 && r + 1 < rounds) {
      stopped = true;
      c.progress->line(
          fmt::format("{}: stop requested after {} of {} windows", label, before + g[1], grid.size()));
      return;
    }
  }
}

void ClassifyPass::segment() {
  const ClassifyOptions& opt = *c.opt;
  dist::collective_step(c.comm, [&] {
    sg = SubcellGrid::of(grid);
    if (!(opt.segment.ion_radius > 0) || !std::isfinite(opt.segment.ion_radius))
      throw ConfigError("segment.ion_radius", "must be a positive number of nm (paper: 0.3535)");
  });
  const std::int64_t nz = grid.counts[2], msz = sg.counts[2], span = sg.span;
  const std::int64_t plane = grid.counts[0] * grid.counts[1];
  const std::int64_t K = c.K;
  // Sub-cell layers written by this rank: those of its window layers, and
  // the top k - 1 layers for the rank owning the last window layer.
  sc_first = sc_end = 0;
  if (mine.iz_end > mine.iz_begin) {
    sc_first = mine.iz_begin;
    sc_end = mine.iz_end == nz ? msz : mine.iz_end;
  }
  // Layers the owned + halo ions can reach (a superset of label_ions' range).
  std::int64_t ja = msz, jb = 0;
  if (local.size() > 0 && msz > 0) {
    double zmin = std::numeric_limits<double>::infinity(), zmax = -zmin;
    for (IonIndex i = 0; i < local.size(); ++i) {
      zmin = std::min(zmin, double(local.cloud.z(i)));
      zmax = std::max(zmax, double(local.cloud.z(i)));
    }
    // subcell rule: sub-cell centres within the ion radius; interpolate:
    // the two sub-cell layers around the ion.
    const double r = opt.segment.rule == IonRule::subcell ? opt.segment.ion_radius : 0.0;
    const double oz = sg.origin[2], s = sg.size;
    const double l = std::floor((zmin - r - oz) / s - 0.5) - 1, u = std::ceil((zmax + r - oz) / s - 0.5) + 1;
    if (!(u < 0) && !(l > double(msz - 1))) {
      ja = l < 0 ? 0 : static_cast<std::int64_t>(l);
      jb = u > double(msz - 1) ? msz : static_cast<std::int64_t>(u) + 1;
    }
  }
  if (sc_end > sc_first) {
    ja = std::min(ja, sc_first);
    jb = std::max(jb, sc_end);
  }
  // The smoothing (interpolate rule) reads T layers beyond those.
  const std::int64_t T =
      opt.segment.rule == IonRule::interpolate ? smoothing_reach(opt.segment.smoothing, sg.size) : 0;
  if (ja < jb) {
    ja = std::max<std::int64_t>(0, ja - T);
    jb = std::min(msz, jb + T);
  }
  std::int64_t iz0 = 0, iz1 = 0;  // window layers needed
  if (ja < jb) {
    iz0 = std::max<std::int64_t>(0, ja - span + 1);
    iz1 = std::min(nz, jb);
  }
  // Those window layers from their owners.
  WindowGrid lg = grid;
  lg.counts[2] = iz1 - iz0;
  lg.origin[2] = grid.origin[2] + double(iz0) * grid.stride;  // (the sums do not use it)
  Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> map(
      Kokkos::view_alloc("aptflow::classify::local_probability", Kokkos::WithoutInitializing), lg.size(), K);
  dist::gather_window_layers(c.comm, mine, plane, K, prob.data(), iz0, iz1, map.data(),
                             dec.max_records_per_message());
  const SubcellGrid lsg = SubcellGrid::of(lg);
  layer_first = iz0;
  layers = lsg.counts[2];
  if (ja < jb && iz0 + layers < jb)
    throw InternalError("classify: local sub-cell layers do not cover the ions");
  // The sums, sub-cell labels and ion labels on the pass's space (device_stages.hpp).
  SegmentStageInput in;
  in.spec = &opt.segment;
  in.sg = sg;
  in.layer_first = layer_first;
  in.layers = layers;
  in.local_grid = lg;
  in.prob = map;
  in.evidence_class = c.evidence_class;
  in.solute = c.solute;
  in.solute_fraction = solute_fraction();
  SegmentStageOutput out = run_segment_stage(stage_ions(), in);
  if (out.outside > 0) throw InternalError("classify: an ion needs a sub-cell layer this rank does not hold");
  sums = out.sums;
  sub_label = out.subcell_label;
  ion_label = out.ion_label;
}

const StageIons& ClassifyPass::stage_ions() {
  if (!ions) ions = std::make_unique<StageIons>(c.device_path, local.cloud);
  return *ions;
}

// The dataset's solute fraction over the ranged ions (owned ions: each once)
// for segment.composition; 0 without it. Collective.
double ClassifyPass::solute_fraction() const {
  if (!c.opt->segment.composition.enabled()) return 0.0;
  std::int64_t tot[2] = {0, 0};
  for (IonIndex i = local.owned_begin; i < local.owned_end; ++i) {
    const auto sp = local.cloud.species(i);
    if (sp == 0) continue;
    ++tot[0];
    tot[1] += sp < c.solute.size() && c.solute[sp] ? 1 : 0;
  }
  MPI_Allreduce(MPI_IN_PLACE, tot, 2, MPI_INT64_T, MPI_SUM, c.comm);
  return tot[0] > 0 ? double(tot[1]) / double(tot[0]) : 0.0;
}

void ClassifyPass::domains() {
  LabelledIons ions;
  where.clear();
  for (IonIndex i = 0; i < local.size(); ++i)
    if (ion_label(i) >= 0) {
      ions.push_back(local.cloud.x(i), local.cloud.y(i), local.cloud.z(i), local.index(i), ion_label(i));
      where.push_back(i);
    }
  Slab slab;
  if (c.rank > 0) slab.z_lo = dec.z_lo();
  if (c.rank < c.nranks - 1) slab.z_hi = dec.z_hi();
  slab.halo = h - composition_reach();
  dom = find_domains_mpi(dec.comm(), ions, slab, c.opt->segment.domains);
}

IonResults ClassifyPass::take_ion_results(const RoiSelection& roi) {
  const IonIndex n_owned = local.owned_end - local.owned_begin;
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> cls_owned("aptflow::classify::class", n_owned);
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> dom_owned("aptflow::classify::domain", n_owned);
  for (IonIndex i = 0; i < n_owned; ++i) {
    cls_owned(i) = ion_label(local.owned_begin + i);
    dom_owned(i) = -1;
  }
  for (std::size_t k = 0; k < where.size(); ++k)
    if (local.is_owned(where[k])) dom_owned(where[k] - local.owned_begin) = dom.domain[k];
  // Per-ion state of the pipeline is done with: free it before the exchange
  // back to input order (its buffers are the peak of the run otherwise).
  ions.reset();
  local = dist::LocalIons();
  ion_label = decltype(ion_label)();
  where = {};
  dom.domain = {};
  dom.core = {};
  IonResults r;
  {
    const auto cls_kept = dist::to_input_order<std::int32_t>(
        dec, Kokkos::View<const std::int32_t*, Kokkos::HostSpace>(cls_owned));
    const auto dom_kept = dist::to_input_order<std::int64_t>(
        dec, Kokkos::View<const std::int64_t*, Kokkos::HostSpace>(dom_owned));
    r.cls_in = expand_to_read<std::int32_t>(roi, cls_kept.data(), dec.input_count(), -1);
    r.dom_in = expand_to_read<std::int64_t>(roi, dom_kept.data(), dec.input_count(), -1);
  }
  r.per_class.assign(static_cast<std::size_t>(c.K), 0);
  for (IonIndex i = 0; i < n_owned; ++i)
    if (cls_owned(i) >= 0) ++r.per_class[static_cast<std::size_t>(cls_owned(i))];
  return r;
}

SubcellRows ClassifyPass::subcell_rows() const {
  SubcellRows r;
  r.first = sc_first;
  r.count = sc_end - sc_first;
  const std::int64_t splane = sg.counts[0] * sg.counts[1];
  const std::int64_t at = (sc_first - layer_first) * splane;
  r.sum.resize(static_cast<std::size_t>(r.count * splane * c.K));
  r.label.resize(static_cast<std::size_t>(r.count * splane));
  for (std::int64_t s = 0; s < r.count * splane; ++s) {
    r.label[static_cast<std::size_t>(s)] = sub_label(at + s);
    for (std::int64_t k = 0; k < c.K; ++k)
      r.sum[static_cast<std::size_t>(s * c.K + k)] = static_cast<float>(sums(at + s, k));
  }
  return r;
}

HostIonCloud shuffled_cloud(const ClassifyContext& c, const HostIonCloud& cloud, IonIndex first_ion,
                            std::uint64_t seed) {
  std::vector<float> mq(static_cast<std::size_t>(cloud.size()));
  for (IonIndex i = 0; i < cloud.size(); ++i) mq[static_cast<std::size_t>(i)] = cloud.mq(i);
  const auto shuffled = dist::shuffle_mq(c.comm, mq, first_ion, seed, 0);
  mq = {};
  HostIonCloud sc;
  sc.x = cloud.x;
  sc.y = cloud.y;
  sc.z = cloud.z;
  sc.mq = decltype(sc.mq)(Kokkos::view_alloc("aptflow::classify::shuffled_mq", Kokkos::WithoutInitializing),
                          cloud.size());
  sc.species = decltype(sc.species)("aptflow::classify::shuffled_species", cloud.size());
  for (IonIndex i = 0; i < cloud.size(); ++i) sc.mq(i) = shuffled[static_cast<std::size_t>(i)];
  apply_ranges(c.exec, sc, make_device_range_table<Kokkos::HostSpace>(c.table));
  c.exec.fence();
  return sc;
}

}  // namespace aptflow::detail
