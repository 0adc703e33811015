// HDF5 layout of a composition grid; see include/aptflow/io/composition.hpp.
#include "aptflow/io/composition.hpp"

#include <fmt/format.h>

#include <limits>

#include "aptflow/core/error.hpp"

namespace aptflow::io {

void write_composition(const h5::File& file, const CompositionRows& g,
                       const std::vector<std::string>& type_names, const std::string& group) {
  if (static_cast<int>(type_names.size()) + 1 != g.channels)
    throw InternalError(fmt::format("write_composition: {} type names for a grid of {} ion types",
                                    type_names.size(), g.channels - 1));
  if (g.z_begin < 0 || g.planes < 0 || g.z_begin + g.planes > g.nz || (g.planes > 0 && !g.counts))
    throw InternalError(fmt::format("write_composition: planes [{}, {}) do not fit a grid of {} planes",
                                    g.z_begin, g.z_begin + g.planes, g.nz));
  if (!file.parallel() && (g.z_begin != 0 || g.planes != g.nz))
    throw InternalError(
        fmt::format("write_composition '{}': the z planes [{}, {}) of {} cannot be written to a serial "
                    "file: pass the whole grid or a parallel file",
                    file.path(), g.z_begin, g.z_begin + g.planes, g.nz));
  const int C = g.channels;
  const hsize_t nz = g.nz, ny = g.ny, nx = g.nx;

  // Collective creates and writes (each rank passes its own rows).
  h5::create_dataset<std::int64_t>(file, group + "/counts", {nz, ny, nx, hsize_t(C)});
  h5::write_rows<std::int64_t>(file, group + "/counts", g.z_begin, g.planes, g.counts);

  // Fractions over ranged ions (channels 1..C-1); NaN where a voxel holds none.
  const int T = C - 1;
  if (T > 0) {
    const std::int64_t voxels = g.planes * g.ny * g.nx;
    std::vector<float> comp(static_cast<std::size_t>(voxels * T));
    for (std::int64_t v = 0; v < voxels; ++v) {
      const std::int64_t* c = g.counts + v * C;
      std::int64_t ranged = 0;
      for (int k = 1; k < C; ++k) ranged += c[k];
      for (int k = 1; k < C; ++k)
        comp[v * T + (k - 1)] =
            ranged > 0 ? static_cast<float>(static_cast<double>(c[k]) / static_cast<double>(ranged))
                       : std::numeric_limits<float>::quiet_NaN();
    }
    h5::create_dataset<float>(file, group + "/composition", {nz, ny, nx, hsize_t(T)});
    h5::write_rows<float>(file, group + "/composition", g.z_begin, g.planes, comp.data());
  }

  h5::write<double>(file, group + "/origin", {g.origin[0], g.origin[1], g.origin[2]});
  h5::write<double>(file, group + "/edge", {g.edge});
  std::vector<std::string> names{"unranged"};
  names.insert(names.end(), type_names.begin(), type_names.end());
  h5::write_strings(file, group + "/species_names", names);
  auto grp = h5::open_object(file, group);
  h5::write_attr(grp, "layout",
                 std::string("counts[z][y][x][species], composition[z][y][x][type] (species = type + 1); "
                             "voxel (iz, iy, ix) spans origin + (ix, iy, iz) * edge .. + edge"));
  h5::write_attr(grp, "units", std::string("nm"));
}

}  // namespace aptflow::io
