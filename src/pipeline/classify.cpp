// aptflow classify: the whole pipeline of method.md sections 2-6 under the
// z-slab decomposition (docs/classify.md, docs/parallel.md).
#include "aptflow/pipeline/classify.hpp"

#include <fmt/format.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cfenv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/comm.hpp"
#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/gather.hpp"
#include "aptflow/dist/halo.hpp"
#include "aptflow/dist/window_ownership.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/segment.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/nn/predict.hpp"
#include "aptflow/pipeline/truth.hpp"
#include "aptflow/sdm/preprocess.hpp"

namespace aptflow {

namespace {

using Clock = std::chrono::steady_clock;
using HostExec = Kokkos::DefaultHostExecutionSpace;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Run a step on every rank; an exception on any rank is raised on every rank
// (the lowest failing rank rethrows its own, the others an Error with its
// message), so that no rank is left waiting in a later collective.
template <class F>
void collective_step(MPI_Comm comm, F&& step) {
  std::exception_ptr err;
  try {
    step();
  } catch (...) {
    err = std::current_exception();
  }
  if (!dist::any_rank(comm, err != nullptr)) return;
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int mine = err ? rank : size, first = size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  std::string msg;
  if (rank == first) {
    try {
      std::rethrow_exception(err);
    } catch (const std::exception& e) {
      msg = e.what();
    } catch (...) {
      msg = "unknown error";
    }
  }
  long len = static_cast<long>(msg.size());
  MPI_Bcast(&len, 1, MPI_LONG, first, comm);
  msg.resize(static_cast<std::size_t>(len));
  MPI_Bcast(msg.data(), static_cast<int>(len), MPI_CHAR, first, comm);
  if (rank == first) std::rethrow_exception(err);
  throw Error(fmt::format("rank {}: {}", first, msg));
}

int lookup_species(const RangeTable& table, const std::string& name, const std::string& range_path) {
  const int id = find_species(table, name);
  if (id > 0) return id;
  std::vector<std::string> names;
  for (const auto& t : table.ion_types) names.push_back(t.name);
  throw ConfigError("pair", fmt::format("ion type '{}' is not in the range file {} (ion types there: {}): "
                                        "use one of those names",
                                        name, range_path, fmt::join(names, ", ")));
}

// Per-row preprocessing as the model's features prescribe (empty rows stay NaN).
void preprocess_rows(const sdm::CurveRows& rows, const nn::ModelFeatures& f) {
  if (rows.extent(0) == 0 || f.normalisation == "none") return;
  if (f.preprocessing == "minmax_only") {
    sdm::minmax_normalise(rows, sdm::ConstantCurve::nan);
  } else if (f.preprocessing == "experimental") {
    const auto v = f.variant == "feal" ? sdm::Variant::feal : sdm::Variant::cocrni;
    sdm::preprocess(rows, sdm::PreprocessSpec::of(v, sdm::PreprocessMode::experimental));
  } else {
    throw ConfigError("model", fmt::format("the model asks for preprocessing '{}'; classify knows "
                                           "minmax_only and experimental: fix the model's features",
                                           f.preprocessing));
  }
}

void nx_class(const h5::File& f, const std::string& group, const std::string& cls) {
  auto g = h5::ensure_group(f, group);
  h5::write_attr(g, "NX_class", cls);
}

}  // namespace

ClassifyOptions parse_classify_config(const Config& cfg) {
  ClassifyOptions o;
  o.input = cfg.get_string("input");
  o.range = cfg.get_string("range");
  o.output = cfg.get_string("output");
  if (!cfg.has("model"))
    throw ConfigError("model", "missing: give a model file or a list of them (ensemble)");
  const auto* node = cfg.table().at_path("model").node();
  if (node && node->is_array())
    o.models = cfg.get_strings("model");
  else
    o.models = {cfg.get_string("model")};
  if (o.models.empty()) throw ConfigError("model", "empty list: give at least one model file");
  o.pair = cfg.get_string("pair", o.pair);
  const auto dash = o.pair.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == o.pair.size())
    throw ConfigError("pair", fmt::format("'{}' is not of the form A-B (e.g. \"Al-Al\")", o.pair));
  o.variant = parse_window_variant(cfg.get_string("windows.variant", "cocrni"), "windows.variant");
  o.edge = cfg.get_double("windows.edge", o.edge);
  o.stride = cfg.get_double("windows.stride", o.stride);
  if (!(o.edge > 0) || !(o.stride > 0) || !std::isfinite(o.edge) || !std::isfinite(o.stride))
    throw ConfigError("windows.edge", "edge and stride must be positive numbers of nm (paper: 1.0, 0.5)");
  o.chunk = cfg.get_int("windows.chunk", o.chunk);
  if (o.chunk < 1) throw ConfigError("windows.chunk", "must be >= 1 (windows per pass)");
  o.segment = o.variant == WindowVariant::feal ? SegmentSpec::feal() : SegmentSpec::cocrni();
  o.segment.thresholds = cfg.get_doubles("segment.thresholds", o.segment.thresholds);
  o.segment.ion_radius = cfg.get_double("segment.ion_radius", o.stride / 2 * 1.414);
  auto& d = o.segment.domains;
  d.eps = cfg.get_double("domains.eps", d.eps);
  d.min_samples = static_cast<int>(cfg.get_int("domains.min_samples", d.min_samples));
  d.atomic_density = cfg.get_double("domains.atomic_density", d.atomic_density);
  d.detection_efficiency = cfg.get_double("domains.detection_efficiency", d.detection_efficiency);
  o.progress = cfg.get_bool("progress", true);
  o.truth = cfg.get_string("truth", "");
  cfg.check_all_used();
  {
    // toml++ prints inf thresholds with an operation that raises FE_INVALID;
    // print in non-stop mode so that callers trapping FE_INVALID (the test
    // harness) are not stopped, then restore their environment unchanged.
    std::fenv_t env;
    std::feholdexcept(&env);
    o.config_text = cfg.to_toml();
    std::fesetenv(&env);
  }
  return o;
}

ClassifySummary run_classify(MPI_Comm comm, const ClassifyOptions& opt) {
  const auto t_all = Clock::now();
  int rank = 0, nranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &nranks);
  std::vector<std::pair<std::string, double>> prof;
  auto t = Clock::now();
  auto stage = [&](const char* name) {
    prof.emplace_back(name, since(t));
    t = Clock::now();
  };
  const HostExec exec;

  // ---- models, range table, species (rank-local; errors on all ranks)
  std::vector<nn::Model> models;
  RangeTable table;
  int sa = 0, sb = 0;
  SdmSpec spec = SdmSpec::z();
  WindowSpec wspec =
      opt.variant == WindowVariant::feal ? WindowSpec::feal(opt.edge) : WindowSpec::cocrni(opt.edge);
  std::int64_t n_classes = 0;
  collective_step(comm, [&] {
    nn::KerasImportOptions keras;
    nn::ModelFeatures kf;
    kf.kind = "z";
    kf.pairs = {opt.pair};
    kf.bins = {spec.size()};
    kf.variant = to_string(opt.variant);
    keras.features = kf;
    for (const auto& path : opt.models) models.push_back(nn::load_model(path, keras));
    const auto& m0 = models.front();
    if (m0.features.kind != "z")
      throw ConfigError("model",
                        fmt::format("{} takes {} features; classify computes z-SDMs: use a z-SDM model",
                                    opt.models.front(), m0.features.kind));
    if (!m0.features.pairs.empty() && m0.features.pairs != std::vector<std::string>{opt.pair})
      throw ConfigError(
          "pair", fmt::format("pair '{}' but the model {} was trained on {}: set pair to match", opt.pair,
                              opt.models.front(), fmt::join(m0.features.pairs, ", ")));
    if (m0.input_shape() != nn::Shape{spec.size(), 1} && m0.input_shape() != nn::Shape{spec.size()})
      throw ConfigError("model",
                        fmt::format("{} expects input {}; classify gives one {}-bin z-SDM per window",
                                    opt.models.front(), nn::shape_string(m0.input_shape()), spec.size()));
    for (const auto& m : models)
      if (m.input_shape() != m0.input_shape() || m.output_shape() != m0.output_shape())
        throw ConfigError("model", fmt::format("ensemble members differ ({} vs {}): combine models of one "
                                               "architecture",
                                               m.source, m0.source));
    n_classes = nn::shape_size(m0.output_shape());
    opt.segment.validate(static_cast<int>(n_classes));
    if (!(opt.segment.domains.eps > 0)) throw ConfigError("domains.eps", "must be positive");
    table = read_range_file(opt.range);
    const auto dash = opt.pair.find('-');
    sa = lookup_species(table, opt.pair.substr(0, dash), opt.range);
    sb = lookup_species(table, opt.pair.substr(dash + 1), opt.range);
  });
  stage("setup");

  // ---- read, range, decompose, halo
  IonIndex first_ion = 0;
  HostIonCloud cloud = io::read_dataset_mpi(comm, opt.input, {}, nullptr, &first_ion);
  apply_ranges(exec, cloud, make_device_range_table<Kokkos::HostSpace>(table));
  exec.fence();
  stage("read+range");
  dist::ZSlabDecomposition dec = dist::decompose_z(comm, cloud, first_ion);
  const double h = std::max(dist::halo_width(spec, wspec), 2.0 * opt.segment.domains.eps * (1 + 1e-6) + 1e-3);
  dist::LocalIons local = dist::exchange_halo(dec, h);
  const WindowGrid grid = dist::global_window_grid(dec, opt.edge, opt.stride);
  const dist::WindowSlab mine = dist::owned_windows(dec, grid);
  stage("decompose+halo");

  // ---- window SDMs -> preprocessing -> ensemble probabilities (owned windows)
  const std::int64_t K = n_classes, bins = spec.size();
  std::vector<float> prob(static_cast<std::size_t>(mine.count * K), kNaN);
  std::int64_t empty_local = 0;
  collective_step(comm, [&] {
    wspec.validate(grid);
    if (mine.count == 0) return;
    const Box box = cloud_bounds(exec, local.cloud);
    const auto cells = build_sdm_cells(exec, local.cloud, make_cell_grid(box, spec.r_cut), sa, sb);
    const auto t0 = Clock::now();
    auto last_report = t0;
    for (std::int64_t w0 = 0; w0 < mine.count; w0 += opt.chunk) {
      const std::int64_t m = std::min(opt.chunk, mine.count - w0);
      Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace> o("aptflow::classify::sdms", m,
                                                                             bins);
      Kokkos::View<std::int64_t*, Kokkos::HostSpace> c("aptflow::classify::centres", m);
      compute_window_sdms(exec, cells, grid, wspec, spec, mine.first + w0, m, o, c);
      nn::Tensor x(nn::Shape{m, bins, 1});
      for (std::int64_t k = 0; k < m; ++k)
        for (std::int64_t q = 0; q < bins; ++q)
          x.data[k * bins + q] = c(k) > 0 ? static_cast<float>(o(k, q)) : kNaN;
      preprocess_rows(sdm::CurveRows(x.data.data(), m, bins), models.front().features);
      if (models.front().input_shape().size() == 1) x.shape = {m, bins};
      const nn::Prediction p = nn::predict_ensemble(models, x, opt.chunk);
      empty_local += p.empty;
      std::copy(p.probabilities.begin(), p.probabilities.end(), prob.begin() + w0 * K);
      const auto now = Clock::now();
      if (opt.progress && rank == 0 && std::chrono::duration<double>(now - last_report).count() > 3.0) {
        last_report = now;
        const double done = static_cast<double>(w0 + m), el = since(t0);
        const double rate = done / std::max(el, 1e-9);
        std::fprintf(stderr, "aptflow classify: rank 0 windows %lld/%lld (%.0f/s, ETA %.0f s; %d ranks)\n",
                     static_cast<long long>(w0 + m), static_cast<long long>(mine.count), rate,
                     (static_cast<double>(mine.count) - done) / std::max(rate, 1e-9), nranks);
      }
    }
  });
  stage("windows+predict");

  // ---- the whole probability map on every rank (it is small: windows x classes)
  std::vector<int> rcounts(static_cast<std::size_t>(nranks)), displs(static_cast<std::size_t>(nranks));
  for (int r = 0; r < nranks; ++r) {
    const auto s = dist::owned_windows(dec, grid, r);
    if (s.count * K > std::numeric_limits<int>::max() || s.first * K > std::numeric_limits<int>::max())
      throw ResourceError("classify: the probability map exceeds 2^31 values; use a larger windows.stride");
    rcounts[static_cast<std::size_t>(r)] = static_cast<int>(s.count * K);
    displs[static_cast<std::size_t>(r)] = static_cast<int>(s.first * K);
  }
  Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> map("aptflow::classify::probability",
                                                                    grid.size(), K);
  MPI_Allgatherv(prob.data(), static_cast<int>(prob.size()), MPI_FLOAT, map.data(), rcounts.data(),
                 displs.data(), MPI_FLOAT, comm);
  std::int64_t empty_windows = 0;
  MPI_Allreduce(&empty_local, &empty_windows, 1, MPI_INT64_T, MPI_SUM, comm);

  // ---- sub-cells, thresholds, ion labels (owned + halo ions)
  const SubcellGrid sg = SubcellGrid::of(grid);
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> sums("aptflow::classify::sums", sg.cells(),
                                                                      K);
  Kokkos::View<double*, Kokkos::HostSpace> thr("aptflow::classify::thresholds", K);
  for (std::int64_t c = 0; c < K; ++c) thr(c) = opt.segment.thresholds[static_cast<std::size_t>(c)];
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> sub_label("aptflow::classify::subcell_label", sg.cells());
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> ion_label("aptflow::classify::ion_label", local.size());
  sum_subcell_probabilities(exec, grid, map, sums);
  threshold_subcells(exec, sums, thr, sub_label);
  label_ions(exec, sg, local.cloud, sums, sub_label, opt.segment.ion_radius, ion_label);
  stage("subcells+labels");

  // ---- DBSCAN domains over the slabs
  LabelledIons ions;
  std::vector<std::int64_t> where;  // local index of each labelled ion
  for (IonIndex i = 0; i < local.size(); ++i)
    if (ion_label(i) >= 0) {
      ions.push_back(local.cloud.x(i), local.cloud.y(i), local.cloud.z(i), local.index(i), ion_label(i));
      where.push_back(i);
    }
  Slab slab;
  if (rank > 0) slab.z_lo = dec.z_lo();
  if (rank < nranks - 1) slab.z_hi = dec.z_hi();
  slab.halo = h;
  const DomainResult dom = find_domains_mpi(dec.comm(), ions, slab, opt.segment.domains);
  stage("domains");

  // ---- per-ion results back to input order
  const IonIndex n_owned = local.owned_end - local.owned_begin;
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> cls_owned("aptflow::classify::class", n_owned);
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> dom_owned("aptflow::classify::domain", n_owned);
  for (IonIndex i = 0; i < n_owned; ++i) {
    cls_owned(i) = ion_label(local.owned_begin + i);
    dom_owned(i) = -1;
  }
  for (std::size_t k = 0; k < where.size(); ++k)
    if (local.is_owned(where[k])) dom_owned(where[k] - local.owned_begin) = dom.domain[k];
  const auto cls_in = dist::to_input_order<std::int32_t>(
      dec, Kokkos::View<const std::int32_t*, Kokkos::HostSpace>(cls_owned));
  const auto dom_in = dist::to_input_order<std::int64_t>(
      dec, Kokkos::View<const std::int64_t*, Kokkos::HostSpace>(dom_owned));
  ClassifySummary sum;
  sum.ions = dec.global_count();
  sum.windows = grid.size();
  sum.empty_windows = empty_windows;
  sum.domains = static_cast<std::int64_t>(dom.domains.size());
  std::vector<std::int64_t> per_class(static_cast<std::size_t>(K), 0);
  for (IonIndex i = 0; i < n_owned; ++i)
    if (cls_owned(i) >= 0) ++per_class[static_cast<std::size_t>(cls_owned(i))];
  sum.ions_per_class.assign(per_class.size(), 0);
  MPI_Allreduce(per_class.data(), sum.ions_per_class.data(), static_cast<int>(K), MPI_INT64_T, MPI_SUM, comm);
  for (auto v : sum.ions_per_class) sum.labelled_ions += v;
  stage("gather");

  // ---- output
  {
    auto f = h5::File::create(opt.output, comm);
    nx_class(f, "/entry1", "NXentry");
    nx_class(f, "/entry1/windows", "NXdata");
    nx_class(f, "/entry1/ions", "NXdata");
    nx_class(f, "/entry1/domains", "NXcollection");
    nx_class(f, "/entry1/profiling", "NXcollection");
    const auto nx = static_cast<hsize_t>(grid.counts[0]), ny = static_cast<hsize_t>(grid.counts[1]),
               nz = static_cast<hsize_t>(grid.counts[2]);
    h5::create_dataset<float>(f, "/entry1/windows/probability", {nz, ny, nx, static_cast<hsize_t>(K)});
    h5::write_rows(f, "/entry1/windows/probability", static_cast<hsize_t>(mine.iz_begin),
                   static_cast<hsize_t>(mine.iz_end - mine.iz_begin), prob.data());
    {
      auto ds = h5::open_object(f, "/entry1/windows/probability");
      h5::write_attr(ds, "class_names", models.front().output_names());
      h5::write_attr(ds, "origin", std::vector<double>{grid.origin[0], grid.origin[1], grid.origin[2]});
      h5::write_attr(ds, "edge", grid.edge);
      h5::write_attr(ds, "stride", grid.stride);
      h5::write_attr(ds, "variant", to_string(opt.variant));
    }
    const auto n = static_cast<hsize_t>(dec.global_count());
    h5::create_dataset<std::int32_t>(f, "/entry1/ions/class", {n});
    h5::create_dataset<std::int64_t>(f, "/entry1/ions/domain_id", {n});
    h5::write_rows(f, "/entry1/ions/class", static_cast<hsize_t>(dec.input_first()),
                   static_cast<hsize_t>(dec.input_count()), cls_in.data());
    h5::write_rows(f, "/entry1/ions/domain_id", static_cast<hsize_t>(dec.input_first()),
                   static_cast<hsize_t>(dec.input_count()), dom_in.data());
    const std::size_t nd = dom.domains.size();
    std::vector<std::int64_t> id(nd), ionsn(nd), core(nd);
    std::vector<std::int32_t> dcls(nd);
    std::vector<double> vol(nd), rad(nd), rg(nd), cen(nd * 3), gyr(nd * 3);
    for (std::size_t k = 0; k < nd; ++k) {
      const auto& d = dom.domains[k];
      id[k] = d.id;
      dcls[k] = d.cls;
      ionsn[k] = d.ions;
      core[k] = d.core_ions;
      vol[k] = d.volume;
      rad[k] = d.radius;
      rg[k] = d.rg;
      for (int a = 0; a < 3; ++a) {
        cen[k * 3 + a] = d.centroid[a];
        gyr[k * 3 + a] = d.gyration[a];
      }
    }
    h5::write(f, "/entry1/domains/id", id);
    h5::write(f, "/entry1/domains/class", dcls);
    h5::write(f, "/entry1/domains/ions", ionsn);
    h5::write(f, "/entry1/domains/core_ions", core);
    h5::write(f, "/entry1/domains/volume", vol);
    h5::write(f, "/entry1/domains/radius", rad);
    h5::write(f, "/entry1/domains/radius_of_gyration", rg);
    h5::write(f, "/entry1/domains/centroid", cen, {static_cast<hsize_t>(nd), 3});
    h5::write(f, "/entry1/domains/gyration", gyr, {static_cast<hsize_t>(nd), 3});
    h5::write_strings(f, "/entry1/config", {opt.config_text});
    stage("write");
    std::vector<std::string> names;
    std::vector<double> secs, secs_max;
    for (const auto& [k, v] : prof) {
      names.push_back(k);
      secs.push_back(v);
    }
    secs_max.resize(secs.size());
    MPI_Allreduce(secs.data(), secs_max.data(), static_cast<int>(secs.size()), MPI_DOUBLE, MPI_MAX, comm);
    h5::write_strings(f, "/entry1/profiling/stage", names);
    h5::write(f, "/entry1/profiling/seconds_max", secs_max);
    {
      auto pg = h5::open_object(f, "/entry1/profiling");
      h5::write_attr(pg, "ranks", static_cast<std::int64_t>(nranks));
    }
    f.close();
  }
  collective_step(comm, [&] {  // ground truth of a synthetic specimen (docs/classify.md)
    if (opt.truth.empty() || rank != 0) return;
    const TruthComparison tc = compare_with_truth(opt.output, opt.truth);
    write_truth_comparison(opt.output, tc);
    std::fputs(format_truth_comparison(tc).c_str(), stdout);
  });
  sum.seconds = since(t_all);
  return sum;
}

}  // namespace aptflow
