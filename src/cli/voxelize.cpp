// aptflow voxelize --input DATASET --range R [--edge E] [--drop-nonfinite]
//   [--set transform.KEY=VALUE] --out grid.h5:
// the whole-dataset composition grid (counts per ion type per voxel), MPI-parallel
// over z slabs (pipeline/voxelize.hpp).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "aptflow/core/runtime.hpp"
#include "aptflow/pipeline/voxelize.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {

struct VoxelizeArgs {
  std::string input;
  std::string range;
  std::string out;
  double edge = 1.0;
  bool drop_nonfinite = false;
  std::string roi;                // --roi box:... | cylinder:... (pipeline/roi.hpp)
  std::vector<std::string> sets;  // --set transform.KEY=VALUE
  std::string device = "auto";    // --device
};

void run(const VoxelizeArgs& a) {
  VoxelizeOptions o;
  o.input = a.input;
  o.range = a.range;
  o.output = a.out;
  o.edge = a.edge;
  o.drop_nonfinite = a.drop_nonfinite;
  if (!a.roi.empty()) o.roi = parse_roi_spec(a.roi, "--roi");
  o.align = parse_align_overrides(a.sets);  // before anything is read or written
  o.device = parse_device_choice("--device", a.device);
  const VoxelizeSummary s = run_voxelize(MPI_COMM_WORLD, o);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    const auto& g = s.geometry;
    std::printf(
        "aptflow voxelize: %lld ions -> %lld x %lld x %lld voxels (z, y, x) of %g nm, %d ion types -> %s "
        "(counted on the %s)\n",
        static_cast<long long>(s.ions), static_cast<long long>(g.nz), static_cast<long long>(g.ny),
        static_cast<long long>(g.nx), g.edge, g.channels - 1, a.out.c_str(), s.device.c_str());
    if (s.alignment.mode != AlignSpec::Mode::none) std::printf("%s\n", describe(s.alignment).c_str());
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
  sub->add_option("--set", args->sets,
                  "key=value: transform.align (\"none\", \"auto\" or [tilt, azimuth] in degrees) and, with "
                  "auto, transform.cone, transform.species, transform.tile, transform.min_score, "
                  "transform.r_cut, transform.bin, transform.subsamples (docs/alignment.md)");
  sub->add_flag("--drop-nonfinite", args->drop_nonfinite,
                "drop ions with NaN/Inf coordinates or m/q (counted in the nonfinite_dropped attribute) "
                "instead of failing");
  sub->add_option("--device", args->device,
                  "where the ranging and the counts run: auto (the GPU when this build has a GPU backend), "
                  "host or gpu (one GPU per MPI rank of a node; the same integers everywhere)")
      ->capture_default_str();
  sub->callback([args] { run(*args); });
}

}  // namespace aptflow::cli
