// aptflow voxelize over MPI: read, range, z slabs, planes, boundary sums,
// one parallel HDF5 file. See include/aptflow/pipeline/voxelize.hpp.
#include "aptflow/pipeline/voxelize.hpp"

#include <Kokkos_Core.hpp>
#include <utility>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/slab_rows.hpp"
#include "aptflow/io/composition.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/pipeline/device_stages.hpp"

namespace aptflow {

VoxelizeSummary run_voxelize(MPI_Comm comm, const VoxelizeOptions& o) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);

  // Every rank reads the range file (small), probes the dataset and reads a
  // disjoint block of its ions (errors agreed inside).
  const RangeTable table = read_range_file(o.range);
  const io::DatasetInfo info = io::probe_dataset(o.input);
  const DeviceSelection device = select_device(o.device, "--device");
  const bool device_path = device.gpu || o.test_device_path;
  io::ReadOptions ropt;
  ropt.nonfinite = o.drop_nonfinite ? io::NonFinite::drop : io::NonFinite::error;
  io::ReadStats stats;
  IonIndex first_ion = 0;
  HostIonCloud cloud = io::read_dataset_mpi(comm, o.input, ropt, &stats, &first_ion);
  if (o.roi.enabled())  // only the ions inside (numbered in input order over all ranks)
    first_ion = apply_roi(comm, cloud, first_ion, o.roi, o.input).first_kept;
  std::int64_t kept = cloud.size();
  MPI_Allreduce(MPI_IN_PLACE, &kept, 1, MPI_INT64_T, MPI_SUM, comm);  // collective
  if (kept == 0)
    throw InputError(o.input,
                     "no ions to voxelise (the file is empty or every ion was dropped); "
                     "check the input file");
  dist::collective_step(comm, [&] { range_ions(device_path, cloud, table); });
  // transform.align: collective over the disjoint blocks (global bounding box,
  // pole); the grid is laid over the aligned ions.
  const Alignment align = resolve_alignment(comm, cloud, o.align, table, o.input);
  apply_alignment(align, cloud);

  // The z slabs of classify; the read block is handed over (freed when packed).
  // One rank owns every ion: counts do not depend on the ions' order, so it
  // skips the sort (the exchange's 32-byte records would triple its memory).
  dist::ZSlabDecomposition d;
  if (size > 1) d = dist::decompose_z(comm, std::move(cloud), first_ion);
  const HostIonCloud& own = size > 1 ? d.owned() : cloud;
  CompositionSpec spec;
  spec.edge = o.edge;
  spec.num_types = static_cast<int>(table.num_types());
  const CompositionGeometry geometry = composition_geometry(dist::global_bounds(comm, own), spec);

  // Count on the planes this rank's ions touch (owned ions are sorted by z).
  std::int64_t z_begin = 0, planes = 0;
  if (size == 1) {
    planes = geometry.nz;
  } else if (own.size() > 0) {
    z_begin = geometry.plane_of(own.z(0));
    planes = geometry.plane_of(own.z(own.size() - 1)) - z_begin + 1;
  }
  CompositionGrid<Kokkos::HostSpace> local;
  dist::collective_step(comm, [&] { local = voxelize_on(device_path, own, geometry, z_begin, planes); });
  if (size > 1)  // counted: the ions are not needed for the sums and the file
    d.release_owned_ions();
  else
    cloud = HostIonCloud();
  const std::int64_t row = geometry.ny * geometry.nx * geometry.channels;
  dist::SlabRows mine =
      dist::sum_slab_rows(comm, geometry.nz, row, z_begin, planes, local.counts.data());  // collective
  local = {};

  std::vector<std::string> names;
  for (const auto& t : table.ion_types) names.push_back(t.name);
  io::CompositionRows rows;
  for (int a = 0; a < 3; ++a) rows.origin[a] = geometry.origin[a];
  rows.edge = geometry.edge;
  rows.nx = geometry.nx, rows.ny = geometry.ny, rows.nz = geometry.nz;
  rows.channels = geometry.channels;
  rows.z_begin = mine.first;
  rows.planes = mine.rows;
  rows.counts = mine.values.data();
  auto file = h5::File::create(o.output, comm);
  io::write_composition(file, rows, names, "/voxels");
  if (align.mode != AlignSpec::Mode::none) write_alignment(file, "/voxels/alignment", align);
  {
    // Provenance (collective attribute writes: every rank passes the same values).
    const h5::Handle group = h5::open_object(file, "/voxels");
    h5::write_attr(group, "input_file", o.input);
    h5::write_attr(group, "input_format", std::string(io::format_name(info.format)));
    h5::write_attr(group, "input_ions", static_cast<std::int64_t>(info.ions));
    h5::write_attr(group, "voxelized_ions", kept);
    h5::write_attr(group, "nonfinite_dropped", static_cast<std::int64_t>(stats.dropped));
    h5::write_attr(group, "range_file", o.range);
    if (o.roi.enabled()) h5::write_attr(group, "roi", o.roi.describe());
    h5::write_attr(group, "mpi_ranks", static_cast<std::int64_t>(size));
  }  // the group is closed before the file: a parallel file does not close with objects open
  file.close();

  VoxelizeSummary s;
  s.ions = kept;
  s.nonfinite_dropped = stats.dropped;
  s.geometry = geometry;
  s.alignment = align;
  s.device = device_path ? (device.gpu ? "gpu" : "default execution space") : "host";
  return s;
}

}  // namespace aptflow
