// aptflow sdm over MPI: read, range, region of interest, alignment, z slabs
// + halo, per-rank SDMs, one parallel feature file. See
// include/aptflow/pipeline/sdm.hpp.
#include "aptflow/pipeline/sdm.hpp"

#include <fmt/format.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <memory>
#include <utility>

#include "aptflow/core/bounds.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/halo.hpp"
#include "aptflow/dist/window_ownership.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/features.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/pipeline/device_stages.hpp"
#include "aptflow/sdm/features.hpp"

namespace aptflow {

namespace {

using Exec = Kokkos::DefaultHostExecutionSpace;

// The species ids of the "A-B" pairs (ConfigError "--pair" naming the range
// file's ion types otherwise).
std::vector<std::pair<int, int>> pair_ids(const RangeTable& table, const SdmOptions& o) {
  auto lookup = [&](const std::string& name) {
    const int id = find_species(table, name);
    if (id > 0) return id;
    std::vector<std::string> names;
    for (const auto& t : table.ion_types) names.push_back(t.name);
    throw ConfigError("--pair",
                      fmt::format("ion type '{}' is not in the range file {} (ion types there: {}): "
                                  "use one of those names",
                                  name, o.range, fmt::join(names, ", ")));
  };
  if (o.pairs.empty()) throw ConfigError("--pair", "give at least one --pair A-B");
  std::vector<std::pair<int, int>> ids;
  for (const auto& p : o.pairs) {
    const auto dash = p.find('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == p.size())
      throw ConfigError("--pair", fmt::format("'{}' is not of the form A-B (e.g. --pair Fe-Fe)", p));
    ids.emplace_back(lookup(p.substr(0, dash)), lookup(p.substr(dash + 1)));
  }
  return ids;
}

// This rank's owned + halo ions. One rank owns every ion: the read cloud as
// it is (counts do not depend on the ions' order; the sort's records would
// triple the memory).
struct RankSlab {
  dist::ZSlabDecomposition dec;
  HostIonCloud cloud;  // owned + halo
  IonIndex owned_begin = 0, owned_end = 0;
};

RankSlab decompose(MPI_Comm comm, HostIonCloud&& read, IonIndex first_ion, double halo) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  RankSlab s;
  if (size == 1) {
    s.cloud = std::move(read);
    s.owned_end = s.cloud.size();
    return s;
  }
  s.dec = dist::decompose_z(comm, std::move(read), first_ion);  // the read block is freed when packed
  dist::LocalIons local = dist::exchange_halo(s.dec, halo);
  s.dec.release_owned_ions();  // local.cloud holds them (with the halo) from here on
  s.cloud = std::move(local.cloud);
  s.owned_begin = local.owned_begin;
  s.owned_end = local.owned_end;
  return s;
}

}  // namespace

SdmSummary run_sdm(MPI_Comm comm, const SdmOptions& o) {
  const Exec exec;
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const SdmSpec& spec = o.spec;
  const SdmKind kind = spec.kind;
  // windows.box: no window is an error before anything is read.
  WindowGrid box_grid;
  if (o.box) box_grid = WindowGrid::on_box(o.box->data(), o.box->data() + 3, o.edge, o.stride);

  // Every rank reads the range file (small) and resolves the pairs.
  RangeTable table;
  std::vector<std::pair<int, int>> ids;
  DeviceSelection device;
  dist::collective_step(comm, [&] {
    device = select_device(o.device, "--device");
    table = read_range_file(o.range);
    ids = pair_ids(table, o);
  });
  const bool device_path = device.gpu || o.test_device_path;

  // A disjoint block of ions per rank (errors agreed inside), ranged; the
  // region of interest keeps the ions inside (numbered in input order).
  IonIndex first_ion = 0;
  HostIonCloud cloud = io::read_dataset_mpi(comm, o.input, {}, nullptr, &first_ion);
  dist::collective_step(comm, [&] {
    apply_ranges(exec, cloud, make_device_range_table<Kokkos::HostSpace>(table));
    exec.fence();
  });
  const RoiSelection roi = apply_roi(comm, cloud, first_ion, o.roi, o.input);
  first_ion = roi.first_kept;
  // transform.align: resolved over all ranks' blocks (the same rotation on any
  // number of ranks, docs/alignment.md); windows are laid over the aligned ions.
  const Alignment align = resolve_alignment(comm, cloud, o.align, table, o.input);
  apply_alignment(align, cloud);
  const Box box = dist::global_bounds(comm, cloud);  // exact: the serial bounds of all ions

  SdmSummary sum;
  sum.device = device_path ? (device.gpu ? "gpu" : "default execution space") : "host";
  sum.ions = roi.kept_total;
  sum.alignment = align;
  const WindowGrid grid = !o.windowed ? WindowGrid()
                          : o.box     ? box_grid
                                      : WindowGrid::over(box, o.edge, o.stride);
  if (o.windowed) dist::collective_step(comm, [&] { o.wspec.validate(grid); });
  // The halo: every ion an owned centre's pairs (whole dataset) or an owned
  // window's SDM can use; + 1e-3 nm for float32 rounding, as dist::halo_width.
  const double halo = o.windowed ? dist::halo_width(spec, o.wspec) : spec.r_cut + 1e-3;
  RankSlab slab = decompose(comm, std::move(cloud), first_ion, halo);
  const HostIonCloud& local = slab.cloud;
  const IonIndex n_local = local.size();

  io::FeatureLayout L;
  for (const auto& p : o.pairs) L.channels.push_back({to_string(kind), p, spec.shape()});
  L.bins.emplace_back(to_string(kind), spec.left_edges());
  L.config_text = o.config_text;
  const std::size_t bins = static_cast<std::size_t>(spec.size());

  if (!o.windowed) {
    // Each rank: the pairs of its owned centres; exact int64 sums over ranks.
    std::vector<std::vector<std::int64_t>> hist(ids.size(), std::vector<std::int64_t>(bins, 0));
    dist::collective_step(comm, [&] {
      if (slab.owned_end == slab.owned_begin) return;
      Kokkos::View<std::int64_t*, Kokkos::HostSpace> out("aptflow::sdm::whole", bins);
      const StageIons ions(device_path, local);  // on the device path: copied there once
      for (std::size_t c = 0; c < ids.size(); ++c) {
        count_cloud_sdm(ions, ids[c].first, ids[c].second, spec,
                        SdmCentreRange{slab.owned_begin, slab.owned_end}, out);
        for (std::size_t k = 0; k < bins; ++k) hist[c][k] = out(k);
      }
    });
    slab = RankSlab();  // counted: the ions are not needed for the sums and the file
    for (auto& h : hist)
      MPI_Allreduce(MPI_IN_PLACE, h.data(), static_cast<int>(bins), MPI_INT64_T, MPI_SUM, comm);
    L.samples = 1;
    io::FeatureWriter w(o.output, L, comm);
    if (align.mode != AlignSpec::Mode::none) write_alignment(w.file(), "/alignment", align);
    for (std::size_t c = 0; c < ids.size(); ++c) {
      std::vector<float> row(bins, 0.0f);
      for (std::size_t k = 0; k < bins; ++k) row[k] = static_cast<float>(hist[c][k]);
      w.write_features(c, 0, rank == 0 ? 1 : 0, row.data());
    }
    w.close();
    sum.rows = 1;
    return sum;
  }

  // The windows whose float32 centre z lies in this rank's slab: contiguous
  // z planes, hence contiguous window indices.
  dist::WindowSlab mine;
  if (size == 1) {
    mine.iz_end = grid.counts[2];
    mine.count = grid.size();
  } else {
    mine = dist::owned_windows(slab.dec, grid);
  }
  L.samples = grid.size();
  L.windows = true;
  auto& wg = L.window_grid;
  for (int a = 0; a < 3; ++a) {
    wg.origin[a] = grid.origin[a];
    wg.counts[a] = grid.counts[a];
  }
  wg.edge = grid.edge;
  wg.stride = grid.stride;
  wg.variant = to_string(o.variant);

  std::unique_ptr<WindowCounter> counter;  // the cell lists of every pair, on the host or the device
  dist::collective_step(comm, [&] {
    if (mine.count == 0 || n_local == 0) return;
    counter = make_window_counter(StageIons(device_path, local), ids, grid, o.wspec, spec);
  });
  slab = RankSlab();  // the cell lists hold the positions the windows need
  io::FeatureWriter w(o.output, L, comm);
  // Window centres stay in the aligned frame; /alignment maps them back.
  if (align.mode != AlignSpec::Mode::none) write_alignment(w.file(), "/alignment", align);

  const std::int64_t first = mine.first, last = mine.first + mine.count;
  const std::int64_t chunk =
      o.chunk > 0 ? o.chunk : std::max<std::int64_t>(1, (std::int64_t(32) << 20) / std::int64_t(bins * 8));
  const std::int64_t my_rounds = (last - first + chunk - 1) / chunk;
  std::int64_t rounds = 0;
  MPI_Allreduce(&my_rounds, &rounds, 1, MPI_INT64_T, MPI_MAX, comm);
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
    // The features stage (sdm/features.hpp): raw counts, empty windows kept
    // (zeros), no preprocessing: a feature file stores the counts.
    sdm::FeatureRows f;
    dist::collective_step(comm, [&] {
      f = sdm::compute_features(
          m, static_cast<std::int64_t>(ids.size()), static_cast<std::int64_t>(bins),
          [&](std::size_t c, const sdm::SdmRows& out, const sdm::CentreCounts& counts) {
            if (m == 0 || !counter) {  // no ion within reach: empty windows (zeros)
              Kokkos::deep_copy(out, std::int64_t(0));
              Kokkos::deep_copy(counts, std::int64_t(0));
              return;
            }
            counter->count(c, w0, out, counts);
          },
          sdm::PreprocessSpec::none(), sdm::EmptyRule::keep, static_cast<int>(spec.shape().size()));
    });
    for (std::size_t c = 0; c < ids.size(); ++c) {
      w.write_features(c, w0, m, f.channel(static_cast<std::int64_t>(c)));
      w.write_centre_ions(o.pairs[c], w0, m, f.centres.data() + static_cast<std::int64_t>(c) * m);
    }
  }
  w.close();
  sum.rows = grid.size();
  sum.grid = grid;
  return sum;
}

}  // namespace aptflow
