// MPI composition grid: every rank voxelises its share of one random cloud;
// the summed grid (all / slabs) and the parallel HDF5 file must equal the
// serial grid of the whole cloud, whatever the number of ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <random>
#include <vector>

#include "aptflow/kernels/voxelize.hpp"
#include "test_util.hpp"

namespace {

using aptflow::HostIonCloud;
using Exec = Kokkos::DefaultHostExecutionSpace;

// The same cloud on every rank (fixed seed).
HostIonCloud whole_cloud(std::int64_t n) {
  HostIonCloud c(n, "test.whole");
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<float> ux(-9.5f, 6.25f), uy(-3.0f, 8.0f), uz(11.0f, 40.0f);
  std::uniform_int_distribution<int> us(0, 3);
  for (std::int64_t i = 0; i < n; ++i) {
    c.x(i) = ux(rng);
    c.y(i) = uy(rng);
    c.z(i) = uz(rng);
    c.mq(i) = 1.0f;
    c.species(i) = static_cast<aptflow::Species>(us(rng));
  }
  return c;
}

// This rank's share: ions i with i % p == r, except that the last rank of
// three or more gets nothing (a rank without ions must still take part).
HostIonCloud my_share(const HostIonCloud& all, int rank, int size) {
  const int owners = size >= 3 ? size - 1 : size;
  std::vector<std::int64_t> mine;
  if (rank < owners)
    for (std::int64_t i = rank; i < all.size(); i += owners) mine.push_back(i);
  HostIonCloud c(static_cast<std::int64_t>(mine.size()), "test.share");
  for (std::size_t k = 0; k < mine.size(); ++k) {
    c.x(k) = all.x(mine[k]);
    c.y(k) = all.y(mine[k]);
    c.z(k) = all.z(mine[k]);
    c.mq(k) = all.mq(mine[k]);
    c.species(k) = all.species(mine[k]);
  }
  return c;
}

TEST(VoxelMpi, CompositionIsRankIndependent) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  auto all = whole_cloud(20000);
  auto share = my_share(all, rank, size);
  const aptflow::CompositionSpec spec{0.8, 3};
  auto serial = aptflow::voxelize_composition(Exec(), all, spec);
  const auto& g = serial.geometry;
  const std::int64_t plane = g.ny * g.nx * g.channels;

  auto full =
      aptflow::voxelize_composition_mpi(Exec(), share, spec, MPI_COMM_WORLD, aptflow::CompositionReduce::all);
  EXPECT_EQ(full.geometry.nx, g.nx);
  EXPECT_EQ(full.geometry.ny, g.ny);
  EXPECT_EQ(full.geometry.nz, g.nz);
  for (int a = 0; a < 3; ++a) EXPECT_EQ(full.geometry.origin[a], g.origin[a]);
  ASSERT_TRUE(full.whole());
  ASSERT_EQ(full.counts.size(), serial.counts.size());
  std::int64_t mismatches = 0;
  for (std::size_t k = 0; k < serial.counts.size(); ++k)
    mismatches += full.counts.data()[k] != serial.counts.data()[k];
  EXPECT_EQ(mismatches, 0);

  auto slab = aptflow::voxelize_composition_mpi(Exec(), share, spec, MPI_COMM_WORLD,
                                                aptflow::CompositionReduce::slabs);
  EXPECT_EQ(slab.z_begin, g.nz * rank / size);
  EXPECT_EQ(slab.planes(), g.nz * (rank + 1) / size - g.nz * rank / size);
  mismatches = 0;
  for (std::int64_t k = 0; k < slab.planes() * plane; ++k)
    mismatches += slab.counts.data()[k] != serial.counts.data()[slab.z_begin * plane + k];
  EXPECT_EQ(mismatches, 0);

  // Parallel HDF5: both a replicated whole grid and slabs give the serial file.
  aptflow::test::TempDir dir;
  const std::vector<std::string> names{"Ni", "Al", "Cr"};
  for (const auto* grid : {&full, &slab}) {
    const auto path = (dir / "vox.h5").string();
    {
      auto f = aptflow::h5::File::create(path, MPI_COMM_WORLD);
      aptflow::write_composition(f, *grid, names);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    auto f = aptflow::h5::File::open(path);
    auto counts = aptflow::h5::read<std::int64_t>(f, "/voxels/counts");
    ASSERT_EQ(counts.size(), serial.counts.size());
    mismatches = 0;
    for (std::size_t k = 0; k < counts.size(); ++k) mismatches += counts[k] != serial.counts.data()[k];
    EXPECT_EQ(mismatches, 0);
    auto comp = aptflow::h5::read<float>(f, "/voxels/composition");
    ASSERT_EQ(comp.size(), static_cast<std::size_t>(g.voxels() * 3));
    for (std::int64_t v = 0; v < g.voxels(); v += 7) {
      const std::int64_t* c = serial.counts.data() + v * 4;
      const std::int64_t ranged = c[1] + c[2] + c[3];
      if (ranged > 0) EXPECT_FLOAT_EQ(comp[v * 3 + 1], float(double(c[2]) / double(ranged)));
    }
    EXPECT_EQ(aptflow::h5::read_strings(f, "/voxels/species_names"),
              (std::vector<std::string>{"unranged", "Ni", "Al", "Cr"}));
    f.close();
    MPI_Barrier(MPI_COMM_WORLD);
  }
}

}  // namespace
