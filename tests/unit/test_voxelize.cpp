// Voxelisation kernels against brute-force references (plain loops over all
// ions, voxel = floor((p - lower corner) / voxel edge)), exact equality.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/io/composition.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/kernels/voxelize.hpp"
#include "test_util.hpp"

namespace {

using aptflow::HostIonCloud;
using aptflow::Species;
using Exec = Kokkos::DefaultHostExecutionSpace;
using HostCentres = Kokkos::View<float* [3], Kokkos::LayoutRight, Kokkos::HostSpace>;

// Uniform random ions in [lo, hi) per axis with species 0..max_species.
HostIonCloud random_cloud(std::int64_t n, const float lo[3], const float hi[3], int max_species,
                          std::uint64_t seed) {
  HostIonCloud c(n, "test.cloud");
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> ux(lo[0], hi[0]), uy(lo[1], hi[1]), uz(lo[2], hi[2]);
  std::uniform_int_distribution<int> us(0, max_species);
  for (std::int64_t i = 0; i < n; ++i) {
    c.x(i) = ux(rng);
    c.y(i) = uy(rng);
    c.z(i) = uz(rng);
    c.mq(i) = 10.0f;
    c.species(i) = static_cast<Species>(us(rng));
  }
  return c;
}

// Brute force: out[((w*G + iz)*G + iy)*G + ix)*C + c].
std::vector<float> brute_windows(const HostIonCloud& cloud, const HostCentres& centres,
                                 const aptflow::WindowVoxelSpec& spec) {
  const int G = spec.grid, C = static_cast<int>(spec.species.size());
  const double E = spec.edge, h = E / G;
  const std::int64_t nw = centres.extent(0);
  std::vector<float> out(static_cast<std::size_t>(nw) * G * G * G * C, 0.0f);
  for (std::int64_t w = 0; w < nw; ++w) {
    const double lo[3] = {double(centres(w, 0)) - 0.5 * E, double(centres(w, 1)) - 0.5 * E,
                          double(centres(w, 2)) - 0.5 * E};
    for (std::int64_t i = 0; i < cloud.size(); ++i) {
      int ch = -1;
      for (int c = 0; c < C && ch < 0; ++c)
        if (spec.species[c] == cloud.species(i)) ch = c;
      if (ch < 0) continue;
      const double ix = std::floor((double(cloud.x(i)) - lo[0]) / h);
      const double iy = std::floor((double(cloud.y(i)) - lo[1]) / h);
      const double iz = std::floor((double(cloud.z(i)) - lo[2]) / h);
      if (ix < 0 || iy < 0 || iz < 0 || ix >= G || iy >= G || iz >= G) continue;
      out[(((w * G + std::int64_t(iz)) * G + std::int64_t(iy)) * G + std::int64_t(ix)) * C + ch] += 1.0f;
    }
  }
  return out;
}

void expect_windows_equal(const aptflow::WindowVoxels<Kokkos::HostSpace>& got,
                          const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  std::int64_t mismatches = 0, first = -1;
  double total = 0;
  for (std::size_t k = 0; k < want.size(); ++k) {
    total += want[k];
    if (got.data()[k] != want[k]) {
      if (first < 0) first = static_cast<std::int64_t>(k);
      ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0) << "first mismatch at flat index " << first << ": got " << got.data()[first]
                           << ", want " << want[first];
  EXPECT_GT(total, 0.0) << "reference is all zero: the test would not catch anything";
}

HostCentres random_centres(std::int64_t n, const float lo[3], const float hi[3], std::uint64_t seed) {
  HostCentres c("test.centres", n);
  std::mt19937_64 rng(seed);
  // Extend the box by 1 nm so some windows stick out of the data.
  std::uniform_real_distribution<float> ux(lo[0] - 1, hi[0] + 1), uy(lo[1] - 1, hi[1] + 1),
      uz(lo[2] - 1, hi[2] + 1);
  for (std::int64_t w = 0; w < n; ++w) {
    c(w, 0) = ux(rng);
    c(w, 1) = uy(rng);
    c(w, 2) = uz(rng);
  }
  return c;
}

TEST(VoxelWindows, MatchesBruteForceOnRandomCloud) {
  const float lo[3] = {-7.3f, 2.0f, -20.0f}, hi[3] = {5.1f, 11.0f, -8.0f};
  auto cloud = random_cloud(30000, lo, hi, 4, 1234);
  auto centres = random_centres(60, lo, hi, 99);
  // Windows centred exactly on ions: boundary cases of the cell range.
  for (int w = 0; w < 10; ++w)
    for (int a = 0; a < 3; ++a) centres(w, a) = (a == 0 ? cloud.x : a == 1 ? cloud.y : cloud.z)(w * 17);
  centres(59, 0) = 500.0f;  // far outside the data
  for (auto spec : {aptflow::WindowVoxelSpec{1.0, 16, {2, 1}}, aptflow::WindowVoxelSpec{2.0, 20, {3, 0, 7}},
                    aptflow::WindowVoxelSpec{0.7, 5, {4}}}) {
    SCOPED_TRACE(::testing::Message() << "edge " << spec.edge << " grid " << spec.grid);
    auto got = aptflow::voxelize_windows(Exec(), cloud, centres, spec);
    EXPECT_EQ(got.extent(0), 60u);
    EXPECT_EQ(got.extent(1), std::size_t(spec.grid));
    EXPECT_EQ(got.extent(4), spec.species.size());
    expect_windows_equal(got, brute_windows(cloud, centres, spec));
  }
}

TEST(VoxelWindows, ChunksReuseTheBinning) {
  const float lo[3] = {0, 0, 0}, hi[3] = {6, 6, 6};
  auto cloud = random_cloud(8000, lo, hi, 2, 7);
  aptflow::WindowVoxelSpec spec{1.5, 8, {1, 2}};
  aptflow::WindowVoxelizer<Exec> vox(Exec(), cloud, spec);
  std::int64_t expect_binned = 0;
  for (std::int64_t i = 0; i < cloud.size(); ++i) expect_binned += cloud.species(i) != 0;
  EXPECT_EQ(vox.binned_ions(), expect_binned);
  for (std::uint64_t chunk = 0; chunk < 3; ++chunk) {
    auto centres = random_centres(7 + chunk, lo, hi, 100 + chunk);
    auto out = vox.allocate(centres.extent(0));
    Kokkos::deep_copy(out, 123.0f);  // must be overwritten
    vox(centres, out);
    expect_windows_equal(out, brute_windows(cloud, centres, spec));
  }
}

TEST(VoxelWindows, SparseCloudGrowsTheCellList) {
  // Two clusters 2 um apart: a cell list of 0.5 nm cells would need ~6e10
  // cells; the voxelizer must enlarge its cells and stay exact.
  const float lo_a[3] = {0, 0, 0}, hi_a[3] = {4, 4, 4};
  const float lo_b[3] = {2000, 1500, 1800}, hi_b[3] = {2004, 1504, 1804};
  auto a = random_cloud(3000, lo_a, hi_a, 1, 5);
  auto b = random_cloud(3000, lo_b, hi_b, 1, 6);
  HostIonCloud cloud(6000, "test.two");
  for (std::int64_t i = 0; i < 6000; ++i) {
    const auto& s = i < 3000 ? a : b;
    const std::int64_t j = i % 3000;
    cloud.x(i) = s.x(j);
    cloud.y(i) = s.y(j);
    cloud.z(i) = s.z(j);
    cloud.species(i) = s.species(j);
  }
  aptflow::WindowVoxelSpec spec{0.5, 4, {1}};
  aptflow::WindowVoxelizer<Exec> vox(Exec(), cloud, spec);
  EXPECT_GT(vox.cell_edge(), 0.5);
  EXPECT_LE(vox.num_cells(), std::int64_t{1} << 22);
  // Centres on ions of both clusters (so windows are occupied) and random.
  HostCentres centres("test.centres", 8);
  auto ca = random_centres(2, lo_a, hi_a, 1), cb = random_centres(2, lo_b, hi_b, 2);
  const std::int64_t on_ion[4] = {10, 2000, 3010, 5999};
  for (int w = 0; w < 4; ++w) {
    centres(w, 0) = cloud.x(on_ion[w]);
    centres(w, 1) = cloud.y(on_ion[w]);
    centres(w, 2) = cloud.z(on_ion[w]);
  }
  for (int w = 0; w < 2; ++w)
    for (int k = 0; k < 3; ++k) {
      centres(w + 4, k) = ca(w, k);
      centres(w + 6, k) = cb(w, k);
    }
  auto out = vox.allocate(8);
  vox(centres, out);
  expect_windows_equal(out, brute_windows(cloud, centres, spec));
}

TEST(VoxelWindows, HandCheckedVoxelIndices) {
  // Window centred at (1, 2, 3), E = 2 nm, G = 4 (voxel edge 0.5 nm).
  HostIonCloud cloud(5, "test.hand");
  const float pos[5][3] = {
      {1.0f, 2.0f, 3.0f},   // centre -> voxel (2, 2, 2)
      {0.0f, 1.0f, 2.0f},   // lower corner -> voxel (0, 0, 0)
      {2.0f, 2.0f, 3.0f},   // upper x face -> outside
      {1.9f, 1.2f, 3.6f},   // -> ix 3, iy 0, iz 3
      {1.5f, 2.75f, 2.4f},  // -> ix 3 (on a face: upper voxel), iy 3, iz 0
  };
  for (int i = 0; i < 5; ++i) {
    cloud.x(i) = pos[i][0];
    cloud.y(i) = pos[i][1];
    cloud.z(i) = pos[i][2];
    cloud.species(i) = 1;
  }
  HostCentres centres("test.centres", 1);
  centres(0, 0) = 1.0f;
  centres(0, 1) = 2.0f;
  centres(0, 2) = 3.0f;
  auto out = aptflow::voxelize_windows(Exec(), cloud, centres, aptflow::WindowVoxelSpec{2.0, 4, {1}});
  float total = 0;
  for (std::size_t k = 0; k < out.size(); ++k) total += out.data()[k];
  EXPECT_EQ(total, 4.0f);
  EXPECT_EQ(out(0, 2, 2, 2, 0), 1.0f);  // (w, iz, iy, ix, c)
  EXPECT_EQ(out(0, 0, 0, 0, 0), 1.0f);
  EXPECT_EQ(out(0, 3, 0, 3, 0), 1.0f);
  EXPECT_EQ(out(0, 0, 3, 3, 0), 1.0f);
}

TEST(VoxelWindows, RejectsBadSpec) {
  const float lo[3] = {0, 0, 0}, hi[3] = {1, 1, 1};
  auto cloud = random_cloud(10, lo, hi, 1, 1);
  EXPECT_THROW(aptflow::WindowVoxelizer<Exec>(Exec(), cloud, {0.0, 16, {1}}), aptflow::ConfigError);
  EXPECT_THROW(aptflow::WindowVoxelizer<Exec>(Exec(), cloud, {1.0, 0, {1}}), aptflow::ConfigError);
  EXPECT_THROW(aptflow::WindowVoxelizer<Exec>(Exec(), cloud, {1.0, 16, {}}), aptflow::ConfigError);
}

// ------------------------------------------------------------ composition

struct RefGrid {
  double origin[3];
  std::int64_t n[3];                 // x, y, z
  std::vector<std::int64_t> counts;  // (z, y, x, channel)
};

RefGrid brute_composition(const HostIonCloud& cloud, double edge, int ntypes) {
  RefGrid r;
  const Kokkos::View<float*, Kokkos::HostSpace> coord[3] = {cloud.x, cloud.y, cloud.z};
  for (int a = 0; a < 3; ++a) {
    float lo = coord[a](0), hi = coord[a](0);
    for (std::int64_t i = 1; i < cloud.size(); ++i) {
      lo = std::min(lo, coord[a](i));
      hi = std::max(hi, coord[a](i));
    }
    r.origin[a] = std::floor(double(lo) / edge) * edge;
    if (r.origin[a] > lo) r.origin[a] -= edge;
    r.n[a] = std::int64_t(std::floor((double(hi) - r.origin[a]) / edge)) + 1;
  }
  const int C = ntypes + 1;
  r.counts.assign(std::size_t(r.n[0] * r.n[1] * r.n[2] * C), 0);
  for (std::int64_t i = 0; i < cloud.size(); ++i) {
    std::int64_t v[3];
    for (int a = 0; a < 3; ++a) v[a] = std::int64_t(std::floor((double(coord[a](i)) - r.origin[a]) / edge));
    r.counts[std::size_t(((v[2] * r.n[1] + v[1]) * r.n[0] + v[0]) * C + cloud.species(i))] += 1;
  }
  return r;
}

TEST(VoxelComposition, MatchesBruteForceOnRandomCloud) {
  const float lo[3] = {-13.7f, 0.3f, -2.0f}, hi[3] = {9.2f, 17.9f, 31.0f};
  auto cloud = random_cloud(40000, lo, hi, 4, 77);
  for (double edge : {1.0, 0.7, 2.5}) {
    SCOPED_TRACE(::testing::Message() << "edge " << edge);
    auto grid = aptflow::voxelize_composition(Exec(), cloud, aptflow::CompositionSpec{edge, 4});
    auto ref = brute_composition(cloud, edge, 4);
    const auto& g = grid.geometry;
    EXPECT_EQ(g.nx, ref.n[0]);
    EXPECT_EQ(g.ny, ref.n[1]);
    EXPECT_EQ(g.nz, ref.n[2]);
    for (int a = 0; a < 3; ++a) EXPECT_EQ(g.origin[a], ref.origin[a]);
    EXPECT_TRUE(grid.whole());
    ASSERT_EQ(grid.counts.size(), ref.counts.size());
    std::int64_t total = 0, mismatches = 0;
    for (std::size_t k = 0; k < ref.counts.size(); ++k) {
      total += grid.counts.data()[k];
      mismatches += grid.counts.data()[k] != ref.counts[k];
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(total, cloud.size());
  }
}

TEST(VoxelComposition, HandCheckedGrid) {
  HostIonCloud cloud(4, "test.hand");
  const float pos[4][3] = {
      {-0.5f, 0.0f, 2.0f}, {1.0f, 0.9f, 2.99f}, {0.99f, 0.1f, 3.0f}, {-0.5f, 0.2f, 2.5f}};
  const Species sp[4] = {1, 2, 0, 1};
  for (int i = 0; i < 4; ++i) {
    cloud.x(i) = pos[i][0];
    cloud.y(i) = pos[i][1];
    cloud.z(i) = pos[i][2];
    cloud.species(i) = sp[i];
  }
  auto grid = aptflow::voxelize_composition(Exec(), cloud, aptflow::CompositionSpec{1.0, 2});
  const auto& g = grid.geometry;
  EXPECT_EQ(g.origin[0], -1.0);
  EXPECT_EQ(g.origin[1], 0.0);
  EXPECT_EQ(g.origin[2], 2.0);
  EXPECT_EQ(g.nx, 3);  // -1..0, 0..1, 1..2 (x = 1.0 opens the third voxel)
  EXPECT_EQ(g.ny, 1);
  EXPECT_EQ(g.nz, 2);  // z = 3.0 opens the second plane
  EXPECT_EQ(g.channels, 3);
  EXPECT_EQ(grid.counts(0, 0, 0, 1), 2);  // both species-1 ions at x = -0.5, z in [2, 3)
  EXPECT_EQ(grid.counts(0, 0, 2, 2), 1);
  EXPECT_EQ(grid.counts(1, 0, 1, 0), 1);
  std::int64_t total = 0;
  for (std::size_t k = 0; k < grid.counts.size(); ++k) total += grid.counts.data()[k];
  EXPECT_EQ(total, 4);
}

TEST(VoxelComposition, RejectsSpeciesBeyondTheRangeTable) {
  const float lo[3] = {0, 0, 0}, hi[3] = {3, 3, 3};
  auto cloud = random_cloud(100, lo, hi, 2, 3);
  cloud.species(17) = 5;
  EXPECT_THROW(aptflow::voxelize_composition(Exec(), cloud, aptflow::CompositionSpec{1.0, 2}),
               aptflow::InputError);
  cloud.species(17) = 1;
  // A geometry that does not contain every ion.
  auto geometry = aptflow::composition_geometry(aptflow::Box{{0, 0, 0}, {1, 1, 1}}, {1.0, 2});
  EXPECT_THROW(aptflow::voxelize_composition(Exec(), cloud, geometry), aptflow::InputError);
}

TEST(VoxelComposition, WritesHdf5Layout) {
  const float lo[3] = {-2.2f, 1.0f, 5.0f}, hi[3] = {3.1f, 4.4f, 9.9f};
  auto cloud = random_cloud(3000, lo, hi, 3, 11);
  // Make some voxels hold only unranged ions: their composition is NaN.
  for (std::int64_t i = 0; i < cloud.size(); ++i)
    if (cloud.x(i) < -1.0f) cloud.species(i) = 0;
  auto grid = aptflow::voxelize_composition(Exec(), cloud, aptflow::CompositionSpec{1.0, 3});
  aptflow::test::TempDir dir;
  const auto path = (dir / "vox.h5").string();
  {
    auto f = aptflow::h5::File::create(path);
    aptflow::io::CompositionRows rows;
    const auto& g = grid.geometry;
    for (int a = 0; a < 3; ++a) rows.origin[a] = g.origin[a];
    rows.edge = g.edge;
    rows.nx = g.nx, rows.ny = g.ny, rows.nz = g.nz, rows.channels = g.channels;
    rows.planes = g.nz;
    rows.counts = grid.counts.data();
    aptflow::io::write_composition(f, rows, {"Fe", "Al", "Cr"});
  }
  auto f = aptflow::h5::File::open(path);
  std::vector<hsize_t> shape;
  auto counts = aptflow::h5::read<std::int64_t>(f, "/voxels/counts", &shape);
  const auto& g = grid.geometry;
  EXPECT_EQ(shape, (std::vector<hsize_t>{hsize_t(g.nz), hsize_t(g.ny), hsize_t(g.nx), 4}));
  ASSERT_EQ(counts.size(), grid.counts.size());
  for (std::size_t k = 0; k < counts.size(); ++k) ASSERT_EQ(counts[k], grid.counts.data()[k]) << k;
  auto comp = aptflow::h5::read<float>(f, "/voxels/composition", &shape);
  EXPECT_EQ(shape, (std::vector<hsize_t>{hsize_t(g.nz), hsize_t(g.ny), hsize_t(g.nx), 3}));
  std::int64_t nan_voxels = 0;
  for (std::int64_t v = 0; v < g.voxels(); ++v) {
    const std::int64_t ranged = counts[v * 4 + 1] + counts[v * 4 + 2] + counts[v * 4 + 3];
    for (int k = 0; k < 3; ++k) {
      const float c = comp[v * 3 + k];
      if (ranged == 0) {
        EXPECT_TRUE(std::isnan(c));
      } else {
        ASSERT_FALSE(std::isnan(c));
        EXPECT_NEAR(c, double(counts[v * 4 + 1 + k]) / double(ranged), 1e-7);
      }
    }
    nan_voxels += ranged == 0;
  }
  EXPECT_GT(nan_voxels, 0);
  EXPECT_EQ(aptflow::h5::read<double>(f, "/voxels/origin"),
            (std::vector<double>{g.origin[0], g.origin[1], g.origin[2]}));
  EXPECT_EQ(aptflow::h5::read<double>(f, "/voxels/edge"), (std::vector<double>{1.0}));
  EXPECT_EQ(aptflow::h5::read_strings(f, "/voxels/species_names"),
            (std::vector<std::string>{"unranged", "Fe", "Al", "Cr"}));

  // The file reads back in h5py with the documented layout.
  const std::string py = aptflow::test::python_exe();
  auto probe = aptflow::test::run_command(py + " -c 'import h5py, numpy'");
  if (probe.exit_code != 0) GTEST_SKIP() << "python3 with h5py/numpy missing: skipping the h5py check";
  auto r = aptflow::test::run_command(
      py + " -c \"import h5py, numpy as np; f = h5py.File('" + path +
      "', 'r'); c = f['voxels/counts'][()]; k = f['voxels/composition'][()]; "
      "r = c[..., 1:].sum(-1, keepdims=True); "
      "assert c.sum() == 3000, c.sum(); "
      "assert np.allclose(np.where(r > 0, c[..., 1:] / np.maximum(r, 1), np.nan), k, equal_nan=True); "
      "print('ok', c.shape)\"");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
