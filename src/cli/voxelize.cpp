// aptflow voxelize --input DATASET --range R [--edge E] [--drop-nonfinite] --out grid.h5:
// the whole-dataset composition grid (counts per ion type per voxel), MPI-parallel.
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/voxelize.hpp"
#include "aptflow/pipeline/roi.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {

struct VoxelizeArgs {
  std::string input;
  std::string range;
  std::string out;
  double edge = 1.0;
  bool drop_nonfinite = false;
  std::string roi;  // --roi box:... | cylinder:... (roi.hpp)
};

void run_voxelize(const VoxelizeArgs& a) {
  using Exec = Kokkos::DefaultHostExecutionSpace;
  const MPI_Comm comm = MPI_COMM_WORLD;
  // Every rank reads the range file (small) and a disjoint ion range of the dataset.
  const Roi roi = a.roi.empty() ? Roi() : parse_roi_spec(a.roi, "--roi");
  const RangeTable table = read_range_file(a.range);
  const auto dtable = make_device_range_table<Kokkos::HostSpace>(table);
  io::ReadOptions ropt;
  ropt.nonfinite = a.drop_nonfinite ? io::NonFinite::drop : io::NonFinite::error;
  io::ReadStats stats;
  const io::DatasetInfo info = io::probe_dataset(a.input);
  IonIndex first = 0;
  HostIonCloud cloud = io::read_dataset_mpi(comm, a.input, ropt, &stats, &first);
  if (roi.enabled()) (void)apply_roi(comm, cloud, first, roi, a.input);  // only the ions inside the ROI
  std::int64_t kept = cloud.size();
  MPI_Allreduce(MPI_IN_PLACE, &kept, 1, MPI_INT64_T, MPI_SUM, comm);  // collective
  if (kept == 0)
    throw InputError(a.input,
                     "no ions to voxelise (the file is empty or every ion was dropped); "
                     "check the input file");

  const Exec exec;
  apply_ranges(exec, cloud, dtable);
  exec.fence();
  CompositionSpec spec;
  spec.edge = a.edge;
  spec.num_types = static_cast<int>(table.num_types());
  // Each rank keeps its slab of z planes of the summed grid and writes it.
  const auto grid = voxelize_composition_mpi(exec, cloud, spec, comm, CompositionReduce::slabs);

  std::vector<std::string> names;
  for (const auto& t : table.ion_types) names.push_back(t.name);
  auto file = h5::File::create(a.out, comm);
  write_composition(file, grid, names, "/voxels");
  // Provenance (collective attribute writes: every rank passes the same values).
  const h5::Handle group = h5::open_object(file, "/voxels");
  h5::write_attr(group, "input_file", a.input);
  h5::write_attr(group, "input_format", std::string(io::format_name(info.format)));
  h5::write_attr(group, "input_ions", static_cast<std::int64_t>(info.ions));
  h5::write_attr(group, "voxelized_ions", kept);
  h5::write_attr(group, "nonfinite_dropped", static_cast<std::int64_t>(stats.dropped));
  h5::write_attr(group, "range_file", a.range);
  if (roi.enabled()) h5::write_attr(group, "roi", roi.describe());
  int ranks = 1;
  MPI_Comm_size(comm, &ranks);
  h5::write_attr(group, "mpi_ranks", static_cast<std::int64_t>(ranks));
  file.close();
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    const auto& g = grid.geometry;
    std::printf(
        "aptflow voxelize: %lld ions -> %lld x %lld x %lld voxels (z, y, x) of %g nm, %d ion types -> %s\n",
        static_cast<long long>(kept), static_cast<long long>(g.nz), static_cast<long long>(g.ny),
        static_cast<long long>(g.nx), g.edge, spec.num_types, a.out.c_str());
  }
}

}  // namespace

void register_voxelize(CLI::App& app) {
  auto args = std::make_shared<VoxelizeArgs>();
  auto* sub = app.add_subcommand(
      "voxelize",
      "Range a dataset and count the ions of every ion type on a regular voxel grid (MPI-parallel); "
      "writes /voxels/{counts,composition,origin,edge,species_names} to an HDF5 file");
  sub->add_option("--input,-i", args->input, "dataset file (POS, EPOS, APT or aptflow HDF5)")->required();
  sub->add_option("--range,-r", args->range, "range file (RRNG, RNG or ENV)")->required();
  sub->add_option("--out,-o", args->out, "output HDF5 file (overwritten)")->required();
  sub->add_option("--edge", args->edge, "voxel edge in nm (default 1.0)")->check(CLI::Range(1e-3, 1e4));
  sub->add_option(
      "--roi", args->roi,
      "region of interest: box:x0,y0,z0,x1,y1,z1 or cylinder:cx,cy,r[,z0,z1] (nm); only the ions inside "
      "are counted");
  sub->add_flag("--drop-nonfinite", args->drop_nonfinite,
                "drop ions with NaN/Inf coordinates or m/q (counted in the nonfinite_dropped attribute) "
                "instead of failing");
  sub->callback([args] { run_voxelize(*args); });
}

}  // namespace aptflow::cli
