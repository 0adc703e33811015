// aptflow sdm: SDM features of a dataset, whole or per window (method.md
// sections 2-3), written as a feature file (docs/file-layouts.md). Windows are
// split over MPI ranks in contiguous blocks; rows are written collectively,
// so the file does not depend on the number of ranks.
#include <fmt/format.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>

#include "aptflow/core/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/features.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/windows.hpp"
#include "aptflow/pipeline/align.hpp"
#include "aptflow/pipeline/roi.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {

struct SdmArgs {
  std::string input, range, kind = "z", windows = "feal", out;
  std::vector<std::string> pairs, sets;
};

void run_sdm(const SdmArgs& args) {
  int rank = 0, nranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  Config cfg = Config::from_string("", "--set");
  cfg.apply_overrides(args.sets);
  const SdmKind kind = parse_sdm_kind(args.kind, "--kind");
  SdmSpec spec = kind == SdmKind::z    ? SdmSpec::z()
                 : kind == SdmKind::zx ? SdmSpec::zx()
                                       : SdmSpec::cube(cfg.get_double("sdm.cube_range", 1.0),
                                                       cfg.get_double("sdm.cube_bin", 0.05));
  spec.r_cut = cfg.get_double("sdm.r_cut", spec.r_cut);
  spec.exclude = parse_sdm_exclude(cfg.get_string("sdm.exclude", "self"));
  spec.arithmetic = parse_sdm_arithmetic(cfg.get_string("sdm.arithmetic", "float32"));
  spec.finalize();
  const bool windowed = args.windows != "none";
  WindowVariant variant = WindowVariant::feal;
  if (windowed) variant = parse_window_variant(args.windows, "--windows");
  const double edge = cfg.get_double("windows.edge", 1.0), stride = cfg.get_double("windows.stride", 0.5);
  WindowSpec wspec = variant == WindowVariant::feal ? WindowSpec::feal(edge) : WindowSpec::cocrni(edge);
  wspec.centre_radius = static_cast<float>(cfg.get_double("windows.centre_radius", wspec.centre_radius));
  if (variant == WindowVariant::cocrni)
    wspec.neighbour_radius =
        static_cast<float>(cfg.get_double("windows.neighbour_radius", wspec.neighbour_radius));
  const std::int64_t chunk_cfg = cfg.get_int("windows.chunk", 0);
  std::vector<double> box_cfg;
  if (cfg.has("windows.box")) {
    box_cfg = cfg.get_doubles("windows.box");
    if (box_cfg.size() != 6)
      throw ConfigError("windows.box",
                        fmt::format("{} values: give [x0, y0, z0, x1, y1, z1] in nm", box_cfg.size()));
    if (!windowed) throw ConfigError("windows.box", "belongs to window SDMs: give --windows feal or cocrni");
    (void)WindowGrid::on_box(box_cfg.data(), box_cfg.data() + 3, edge,
                             stride);  // no window: error before reading
  }
  const Roi roi = parse_roi(cfg);
  const AlignSpec align_spec = parse_align(cfg);  // transform.* (docs/alignment.md)
  if (spec.arithmetic != SdmArithmetic::float32 && (!windowed || kind != SdmKind::z))
    throw ConfigError("sdm.arithmetic",
                      fmt::format("'{}' is implemented for window z-SDMs only: use --kind z with "
                                  "--windows feal or cocrni, or \"float32\"",
                                  to_string(spec.arithmetic)));
  cfg.check_all_used();

  const RangeTable table = read_range_file(args.range);
  std::vector<std::pair<int, int>> ids;
  std::vector<std::string> pair_names;
  auto lookup = [&](const std::string& name) {
    const int id = find_species(table, name);
    if (id > 0) return id;
    std::vector<std::string> names;
    for (const auto& t : table.ion_types) names.push_back(t.name);
    throw ConfigError("--pair",
                      fmt::format("ion type '{}' is not in the range file {} (ion types there: {}): "
                                  "use one of those names",
                                  name, args.range, fmt::join(names, ", ")));
  };
  if (args.pairs.empty()) throw ConfigError("--pair", "give at least one --pair A-B");
  for (const auto& p : args.pairs) {
    const auto dash = p.find('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == p.size())
      throw ConfigError("--pair", fmt::format("'{}' is not of the form A-B (e.g. --pair Fe-Fe)", p));
    ids.emplace_back(lookup(p.substr(0, dash)), lookup(p.substr(dash + 1)));
    pair_names.push_back(p);
  }

  HostIonCloud cloud = io::read_dataset(args.input);
  const Kokkos::DefaultHostExecutionSpace exec;
  apply_ranges(exec, cloud, make_device_range_table<Kokkos::HostSpace>(table));
  exec.fence();
  IonIndex roi_ions = cloud.size();
  if (roi.enabled()) {  // only the ions inside the region of interest take part
    const IonIndex all = cloud.size();
    cloud = select_ions(cloud, roi_mask(cloud, roi));
    roi_ions = cloud.size();
    if (roi_ions == 0)
      throw InputError(args.input,
                       fmt::format("the region of interest ({} = {}) holds none of its {} ions: move "
                                   "it inside the data (aptflow inspect prints the bounds)",
                                   roi.key, roi.describe(), all));
  }
  // transform.align: every rank holds the whole dataset (after the region of
  // interest, as in classify), so each resolves the rotation on its own
  // (MPI_COMM_SELF): the same ions give every rank the same rotation, whatever
  // the number of ranks. Windows are laid over the aligned ions.
  const Alignment align = resolve_alignment(MPI_COMM_SELF, cloud, align_spec, table, args.input);
  apply_alignment(align, cloud);
  if (align.mode != AlignSpec::Mode::none && rank == 0) std::fprintf(stderr, "%s\n", describe(align).c_str());
  const Box box = cloud_bounds(exec, cloud);

  io::FeatureLayout L;
  for (const auto& p : pair_names) L.channels.push_back({to_string(kind), p, spec.shape()});
  L.bins.emplace_back(to_string(kind), spec.left_edges());
  L.config_text = fmt::format(
      "input = \"{}\"\nrange = \"{}\"\nkind = \"{}\"\nwindows = \"{}\"\npairs = [\"{}\"]\n{}", args.input,
      args.range, args.kind, args.windows, fmt::join(pair_names, "\", \""), cfg.to_toml());
  const CellGrid cgrid = make_cell_grid(box, spec.r_cut);
  const std::size_t bins = static_cast<std::size_t>(spec.size());

  if (!windowed) {
    L.samples = 1;
    io::FeatureWriter w(args.out, L, MPI_COMM_WORLD);
    if (align.mode != AlignSpec::Mode::none) write_alignment(w.file(), "/alignment", align);
    Kokkos::View<std::int64_t*, Kokkos::HostSpace> out("aptflow::cli::sdm", bins);
    for (std::size_t c = 0; c < ids.size(); ++c) {
      std::vector<float> row(bins, 0.0f);
      if (rank == 0 && cloud.size() > 0) {
        compute_sdm(exec, build_sdm_cells(exec, cloud, cgrid, ids[c].first, ids[c].second), spec, out);
        for (std::size_t k = 0; k < bins; ++k) row[k] = static_cast<float>(out(k));
      }
      w.write_features(c, 0, rank == 0 ? 1 : 0, row.data());
    }
    w.close();
    if (rank == 0) std::printf("aptflow sdm: 1 row x %zu pairs -> %s\n", ids.size(), args.out.c_str());
    return;
  }

  const WindowGrid grid = box_cfg.empty()
                              ? WindowGrid::over(box, edge, stride)
                              : WindowGrid::on_box(box_cfg.data(), box_cfg.data() + 3, edge, stride);
  L.samples = grid.size();
  L.windows = true;
  auto& wg = L.window_grid;
  for (int a = 0; a < 3; ++a) {
    wg.origin[a] = grid.origin[a];
    wg.counts[a] = grid.counts[a];
  }
  wg.edge = grid.edge;
  wg.stride = grid.stride;
  wg.variant = to_string(variant);
  io::FeatureWriter w(args.out, L, MPI_COMM_WORLD);
  // Window centres stay in the aligned frame; /alignment maps them back.
  if (align.mode != AlignSpec::Mode::none) write_alignment(w.file(), "/alignment", align);

  std::vector<SdmCells<Kokkos::HostSpace>> cells;
  for (const auto& [a, b] : ids) cells.push_back(build_sdm_cells(exec, cloud, cgrid, a, b));
  const std::int64_t n = grid.size();
  const std::int64_t first = n * rank / nranks, last = n * (rank + 1) / nranks;
  const std::int64_t chunk =
      chunk_cfg > 0 ? chunk_cfg
                    : std::max<std::int64_t>(1, (std::int64_t(32) << 20) / std::int64_t(bins * 8));
  const std::int64_t my_rounds = (last - first + chunk - 1) / chunk;
  std::int64_t rounds = 0;
  MPI_Allreduce(&my_rounds, &rounds, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  for (std::int64_t r = 0; r < rounds; ++r) {
    const std::int64_t w0 = std::min(last, first + r * chunk), m = std::min(last, w0 + chunk) - w0;
    std::vector<float> centres(static_cast<std::size_t>(m * 3));
    for (std::int64_t k = 0; k < m; ++k) {
      std::int64_t ix, iy, iz;
      grid.unravel(w0 + k, ix, iy, iz);
      centres[3 * k] = grid.centre_f(0, ix);
      centres[3 * k + 1] = grid.centre_f(1, iy);
      centres[3 * k + 2] = grid.centre_f(2, iz);
    }
    w.write_centres(w0, m, centres.data());
    Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace> out("aptflow::cli::window_sdms", m,
                                                                             bins);
    Kokkos::View<std::int64_t*, Kokkos::HostSpace> counts("aptflow::cli::window_centres", m);
    for (std::size_t c = 0; c < ids.size(); ++c) {
      if (m > 0) compute_window_sdms(exec, cells[c], grid, wspec, spec, w0, m, out, counts);
      std::vector<float> rows(static_cast<std::size_t>(m) * bins);
      std::vector<std::int64_t> nc(static_cast<std::size_t>(m));
      for (std::int64_t k = 0; k < m; ++k) {
        nc[k] = counts(k);
        for (std::size_t q = 0; q < bins; ++q) rows[k * bins + q] = static_cast<float>(out(k, q));
      }
      w.write_features(c, w0, m, rows.data());
      w.write_centre_ions(pair_names[c], w0, m, nc.data());
    }
  }
  w.close();
  if (rank == 0)
    std::printf("aptflow sdm: %lld windows (%lld x %lld x %lld) x %zu pairs -> %s%s\n",
                static_cast<long long>(n), static_cast<long long>(grid.counts[0]),
                static_cast<long long>(grid.counts[1]), static_cast<long long>(grid.counts[2]), ids.size(),
                args.out.c_str(),
                roi.enabled() ? fmt::format(" ({} ions in the region of interest)", roi_ions).c_str() : "");
}

}  // namespace

void register_sdm(CLI::App& app) {
  auto args = std::make_shared<SdmArgs>();
  auto* sub = app.add_subcommand(
      "sdm",
      "Spatial distribution maps of a dataset: one SDM over all centre ions (--windows none) or one per "
      "window of a grid (feal: centre sphere, neighbours from the whole dataset; cocrni: both in the window "
      "sphere); output: feature file (docs/file-layouts.md)");
  sub->add_option("--input,-i", args->input, "dataset (POS, EPOS, APT or aptflow HDF5)")->required();
  sub->add_option("--range,-r", args->range, "range file (RRNG, RNG or ENV)")->required();
  sub->add_option("--pair,-p", args->pairs, "A-B pair of ion-type names of the range file (repeatable)")
      ->required();
  sub->add_option("--kind,-k", args->kind, "z (93 bins), zx (200 x 200) or 3d")->capture_default_str();
  sub->add_option("--windows,-w", args->windows, "feal, cocrni or none")->capture_default_str();
  sub->add_option(
      "--set", args->sets,
      "key=value: sdm.r_cut, sdm.cube_range, sdm.cube_bin, sdm.exclude, sdm.arithmetic, windows.edge, "
      "windows.stride, windows.centre_radius, windows.neighbour_radius, windows.chunk, windows.box, "
      "roi.box, roi.cylinder, roi.z, transform.align (\"none\", \"auto\" or [tilt, azimuth]), "
      "transform.cone, "
      "transform.species, transform.tile, transform.min_score, transform.r_cut, transform.bin, "
      "transform.subsamples (docs/cli.md, docs/alignment.md)");
  sub->add_option("--out,-o", args->out, "output feature file (HDF5)")->required();
  sub->callback([args] { run_sdm(*args); });
}

}  // namespace aptflow::cli
