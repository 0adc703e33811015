// Distributed composition grid (np 1, 2, 4): sum_slab_rows against a serial
// sum on random ordered row ranges (ties, gaps, ranks without rows), and
// run_voxelize (read, range, z slabs, boundary planes, one parallel file)
// against the serial kernel on the whole cloud, whatever the number of ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <random>
#include <vector>

#include "aptflow/core/bounds.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/dist/slab_rows.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/voxelize.hpp"
#include "aptflow/pipeline/voxelize.hpp"
#include "ranged_cloud.hpp"
#include "test_util.hpp"

namespace {

using aptflow::HostIonCloud;
using Exec = Kokkos::DefaultHostExecutionSpace;

// Random row ranges in rank order as z slabs make them: each rank's first row
// is at or after the previous holding rank's last row; some ranks hold none.
TEST(SlabRowsMpi, SumsEqualSerialSum) {
  const int p = aptflow::test::world_size(), me = aptflow::test::world_rank();
  const std::int64_t L = 3;
  for (unsigned trial = 0; trial < 40; ++trial) {
    std::mt19937 rng(100 + trial);  // the same on every rank
    const std::int64_t total = 1 + rng() % 12;
    std::vector<std::int64_t> first(p, 0), rows(p, 0);
    std::int64_t at = 0;
    for (int r = 0; r < p; ++r) {
      if (rng() % 4 == 0 || at >= total) continue;                               // no rows
      const std::int64_t b = std::min<std::int64_t>(total - 1, at + rng() % 3);  // gaps allowed
      const std::int64_t e = std::min<std::int64_t>(total, b + 1 + rng() % 4);
      first[r] = b, rows[r] = e - b;
      at = rng() % 2 ? e - 1 : e;  // the next rank may share the boundary row
    }
    // Values of rank r's row k: a function of (trial, r, k, j).
    auto value = [&](int r, std::int64_t k, std::int64_t j) {
      return (trial + 1) * 1000003 * (r + 1) + 7 * k + j;
    };
    std::vector<std::int64_t> held(static_cast<std::size_t>(rows[me] * L));
    for (std::int64_t k = 0; k < rows[me]; ++k)
      for (std::int64_t j = 0; j < L; ++j) held[k * L + j] = value(me, first[me] + k, j);
    const auto got = aptflow::dist::sum_slab_rows(MPI_COMM_WORLD, total, L, first[me], rows[me], held.data());
    // Owned ranges tile [0, total) in rank order.
    std::vector<std::int64_t> f(p), n(p);
    MPI_Allgather(&got.first, 1, MPI_INT64_T, f.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
    MPI_Allgather(&got.rows, 1, MPI_INT64_T, n.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
    std::int64_t next = 0;
    bool any = false;
    for (int r = 0; r < p; ++r) {
      if (n[r] == 0) continue;
      EXPECT_EQ(f[r], next) << "trial " << trial << " rank " << r;
      next = f[r] + n[r];
      any = true;
    }
    if (any) EXPECT_EQ(next, total) << "trial " << trial;
    ASSERT_EQ(got.values.size(), static_cast<std::size_t>(got.rows * L));
    for (std::int64_t k = got.first; k < got.first + got.rows; ++k)
      for (std::int64_t j = 0; j < L; ++j) {
        std::int64_t want = 0;
        for (int r = 0; r < p; ++r)
          if (k >= first[r] && k < first[r] + rows[r]) want += value(r, k, j);
        EXPECT_EQ(got.values[(k - got.first) * L + j], want) << "trial " << trial << " row " << k;
      }
  }
}

TEST(SlabRowsMpi, UnorderedRangesAreABug) {
  const int p = aptflow::test::world_size(), me = aptflow::test::world_rank();
  if (p < 2) GTEST_SKIP() << "needs two ranks";
  // Rank 0 holds rows [5, 8), rank 1 rows [0, 2): not the order of z slabs.
  const std::int64_t first = me == 0 ? 5 : (me == 1 ? 0 : 0), rows = me == 0 ? 3 : (me == 1 ? 2 : 0);
  std::vector<std::int64_t> held(static_cast<std::size_t>(rows), 1);
  EXPECT_THROW(aptflow::dist::sum_slab_rows(MPI_COMM_WORLD, 8, 1, first, rows, held.data()),
               aptflow::InternalError);
}

// A random cloud (the same on every rank) with z in [zlo, zhi).
HostIonCloud cloud_of(std::int64_t n, float zlo, float zhi, unsigned seed) {
  return aptflow::test::ranged_random_cloud(n, -9.5f, 6.25f, -3.0f, 8.0f, zlo, zhi, seed, "test.whole");
}

// run_voxelize on POS + RRNG written by rank 0 equals the serial kernel on
// the whole ranged cloud: a deep specimen (slabs many planes thick) and a
// thin one (every rank's ions in the same one or two planes).
TEST(VoxelizeMpi, FileEqualsSerialGrid) {
  aptflow::test::TempDir dir;
  const aptflow::RangeTable table = aptflow::test::three_type_table();
  const auto rrng = (dir / "t.rrng").string();
  struct Case {
    std::int64_t n;
    float zlo, zhi;
    double edge;
  };
  for (const Case& k : {Case{20000, 11.0f, 40.0f, 0.8}, Case{3001, 2.0f, 2.9f, 1.0}}) {
    HostIonCloud whole = cloud_of(k.n, k.zlo, k.zhi, 2024 + static_cast<unsigned>(k.n));
    const auto pos = (dir / "t.pos").string();
    const auto out = (dir / "t.h5").string();
    if (aptflow::test::world_rank() == 0) {
      aptflow::io::write_pos(pos, whole);
      aptflow::write_rrng(rrng, table);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    // The host path and the device path (`--device gpu`: ranging and counts on
    // Kokkos::DefaultExecutionSpace; here a host space): the same file.
    for (const bool device : {false, true}) {
      SCOPED_TRACE(device ? "device path" : "host path");
      aptflow::VoxelizeOptions o;
      o.input = pos;
      o.range = rrng;
      o.output = out;
      o.edge = k.edge;
      o.test_device_path = device;
      const auto s = aptflow::run_voxelize(MPI_COMM_WORLD, o);
      EXPECT_EQ(s.ions, k.n);
      EXPECT_EQ(s.device, aptflow::have_gpu_backend() ? "gpu" : device ? "default execution space" : "host");

      // The serial reference: the whole cloud ranged and counted on one grid.
      const auto ranged = aptflow::io::read_dataset(pos);
      aptflow::apply_ranges(Exec(), ranged, aptflow::make_device_range_table<Kokkos::HostSpace>(table));
      const auto serial = aptflow::voxelize_composition(Exec(), ranged, aptflow::CompositionSpec{k.edge, 3});
      const auto& g = serial.geometry;
      EXPECT_EQ(s.geometry.nz, g.nz);
      auto f = aptflow::h5::File::open(out);
      std::vector<hsize_t> shape;
      const auto counts = aptflow::h5::read<std::int64_t>(f, "/voxels/counts", &shape);
      EXPECT_EQ(shape, (std::vector<hsize_t>{hsize_t(g.nz), hsize_t(g.ny), hsize_t(g.nx), 4}));
      ASSERT_EQ(counts.size(), serial.counts.size());
      std::int64_t mismatches = 0, total = 0;
      for (std::size_t v = 0; v < counts.size(); ++v) {
        mismatches += counts[v] != serial.counts.data()[v];
        total += counts[v];
      }
      EXPECT_EQ(mismatches, 0);
      EXPECT_EQ(total, k.n);
      EXPECT_EQ(aptflow::h5::read<double>(f, "/voxels/origin"),
                (std::vector<double>{g.origin[0], g.origin[1], g.origin[2]}));
      EXPECT_EQ(aptflow::h5::read_strings(f, "/voxels/species_names"),
                (std::vector<std::string>{"unranged", "Al", "Mg", "Ni"}));
      f.close();
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
}

}  // namespace
