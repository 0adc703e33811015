// aptflow pole INPUT --range R [--species A,B] [--roi ...] [--cone 15] [--tile 10] [--json] [--out F.h5]:
// the direction of the strongest lattice-plane periodicity near z (tilt,
// azimuth, plane spacing, uncertainties), globally and per tile; MPI-parallel.
// Design and accuracy: docs/alignment.md; options: docs/cli.md.
#include <fmt/format.h>

#include <Kokkos_Core.hpp>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/pipeline/pole.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {

struct PoleArgs {
  std::string input, range, out, roi, spacing;
  std::vector<std::string> species;
  pole::PoleOptions opt;
  bool json = false, drop_nonfinite = false;
};

void run_pole(PoleArgs& a) {
  const MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  auto& opt = a.opt;
  opt.source = a.input;
  if (!a.roi.empty()) opt.roi = parse_roi_spec(a.roi, "--roi");
  if (!a.spacing.empty()) {
    const auto s = pole::parse_numbers(a.spacing, "--spacing", "MIN,MAX in nm, e.g. 0.12,0.6");
    if (s.size() != 2)
      throw ConfigError("--spacing", "give two numbers MIN,MAX in nm, e.g. --spacing 0.12,0.6");
    opt.spacing_min = s[0];
    opt.spacing_max = s[1];
  }
  if (opt.tile > 0 && a.out.empty())
    throw ConfigError("--tile", "the tile map is written to an HDF5 file: give --out F.h5");
  opt.validate();

  const RangeTable table = read_range_file(a.range);
  std::vector<std::string> names;
  for (const auto& entry : a.species) {
    std::stringstream ss(entry);
    std::string name;
    while (std::getline(ss, name, ','))
      if (!name.empty()) names.push_back(name);
  }
  opt.species.clear();
  for (const auto& name : names) {
    const int id = find_species(table, name);
    if (id <= 0) {
      std::vector<std::string> known;
      for (const auto& t : table.ion_types) known.push_back(t.name);
      throw ConfigError("--species",
                        fmt::format("ion type '{}' is not in the range file {} (ion types there: {})", name,
                                    a.range, fmt::join(known, ", ")));
    }
    opt.species.push_back(id);
  }
  std::vector<std::string> used_names = names;
  if (used_names.empty())
    for (const auto& t : table.ion_types) used_names.push_back(t.name);

  io::ReadOptions ropt;
  ropt.nonfinite = a.drop_nonfinite ? io::NonFinite::drop : io::NonFinite::error;
  HostIonCloud cloud = io::read_dataset_mpi(comm, a.input, ropt);
  const Kokkos::DefaultHostExecutionSpace exec;
  apply_ranges(exec, cloud, make_device_range_table<Kokkos::HostSpace>(table));
  exec.fence();

  const pole::PoleResult r = pole::find_pole(comm, cloud, opt);
  if (!a.out.empty()) pole::write_pole_file(comm, a.out, r, a.input, a.range, used_names);
  if (rank == 0) {
    if (a.json) {
      std::printf("%s\n", pole::pole_json(r, a.input, used_names, a.out).c_str());
    } else {
      std::printf("%s", pole::pole_text(r, used_names).c_str());
      if (!a.out.empty())
        std::printf("  -> %s%s\n", a.out.c_str(),
                    r.has_tiles ? (" + " + pole::xdmf_path_for(a.out)).c_str() : "");
    }
    std::fflush(stdout);
  }
}

}  // namespace

void register_pole(CLI::App& app) {
  auto a = std::make_shared<PoleArgs>();
  auto* sub = app.add_subcommand(
      "pole",
      "Find the lattice pole near z: the direction of the strongest lattice-plane periodicity within a cone, "
      "with its plane spacing, tilt and azimuth and their uncertainties; with --tile a map of the local pole "
      "per tile (HDF5 + XDMF). MPI-parallel (docs/alignment.md)");
  sub->add_option("input", a->input, "dataset (POS, EPOS, APT or aptflow HDF5)")->required();
  sub->add_option("--range,-r", a->range, "range file (RRNG, RNG or ENV)")->required();
  sub->add_option("--species,-s", a->species,
                  "ion types (range-file names, comma-separated or repeated) used as centres and neighbours; "
                  "default: every ranged ion");
  sub->add_option("--roi", a->roi,
                  "region of interest of the centre ions (neighbours come from the whole dataset): "
                  "box:x0,y0,z0,x1,y1,z1 or cylinder:cx,cy,r[,z0,z1] (nm)");
  sub->add_option("--margin", a->opt.margin,
                  "centre ions lie at least r_cut + margin nm inside the occupied volume (edge effects)")
      ->capture_default_str();
  sub->add_option("--cone", a->opt.cone_deg, "search cone half-angle about z in degrees, at most 45")
      ->capture_default_str();
  sub->add_option("--tile", a->opt.tile,
                  "tile edge in nm for the local pole map (columns through z; 0: none)")
      ->capture_default_str();
  sub->add_option("--tile-z", a->opt.tile_z, "tile height in nm (3D tiles; 0: columns)")
      ->capture_default_str();
  sub->add_option("--min-tile-ions", a->opt.min_tile_ions,
                  "tiles with fewer selected ions are not measured; a median tile below it is an error")
      ->capture_default_str();
  sub->add_option("--r-cut", a->opt.r_cut, "neighbour sphere radius in nm")->capture_default_str();
  sub->add_option("--bin", a->opt.bin, "3D SDM bin in nm (2 r_cut / bin even)")->capture_default_str();
  sub->add_option("--spacing", a->spacing, "plane spacings searched, MIN,MAX in nm (default 0.12,0.6)");
  sub->add_option("--subsamples", a->opt.subsamples, "z blocks for the uncertainty (2..64)")
      ->capture_default_str();
  sub->add_option("--min-score", a->opt.min_score, "significance below which no periodicity is reported")
      ->capture_default_str();
  sub->add_option("--out,-o", a->out, "result file (HDF5, overwritten): /pole; with --tile also x.xdmf");
  sub->add_flag("--json", a->json, "print one JSON object on stdout");
  sub->add_flag("--drop-nonfinite", a->drop_nonfinite,
                "drop ions with NaN/Inf coordinates instead of failing");
  sub->callback([a] { run_pole(*a); });
}

}  // namespace aptflow::cli
