// aptflow pole over MPI: every rank holds a share of one bent, tilted
// synthetic specimen (the last of three or more ranks holds none); the pole,
// its scan and the tile map must equal the serial result of the whole cloud
// bit for bit, the global tilt must be within 0.3 deg of the truth and the
// local map must follow the bend (SpecimenGenerator::plane_normal).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "aptflow/io/h5.hpp"
#include "aptflow/pipeline/pole.hpp"
#include "aptflow/synth/specimen.hpp"
#include "test_util.hpp"

namespace {

using namespace aptflow;

constexpr double kPi = 3.14159265358979323846;

const synth::SpecimenGenerator& generator() {
  static const synth::SpecimenGenerator gen(Config::from_string(R"(
seed = 2150
[specimen]
size = [30.0, 18.0, 16.0]
[orientation]
tilt = [3.0, 0.0]
bend = [0.3, 0.0]
[matrix]
structure = "A1"
a = 0.405
species = { A = { Al = 0.9, Li = 0.1 } }
[artefacts]
sigma_xy = 0.4
sigma_z = 0.03
efficiency = 0.5
[ions]
mass = { Al = 27.0, Li = 7.0 }
)"));
  return gen;
}

HostIonCloud share_of(const HostIonCloud& all, int rank, int size) {
  const int owners = size >= 3 ? size - 1 : size;
  std::vector<IonIndex> mine;
  if (rank < owners)
    for (IonIndex i = rank; i < all.size(); i += owners) mine.push_back(i);
  HostIonCloud c(static_cast<IonIndex>(mine.size()));
  for (std::size_t k = 0; k < mine.size(); ++k) {
    c.x(k) = all.x(mine[k]);
    c.y(k) = all.y(mine[k]);
    c.z(k) = all.z(mine[k]);
    c.mq(k) = all.mq(mine[k]);
    c.species(k) = all.species(mine[k]);
  }
  return c;
}

bool same_bytes(const pole::PoleEstimate& a, const pole::PoleEstimate& b) {
  const auto pa = a.pack(), pb = b.pack();
  return std::memcmp(pa.data(), pb.data(), sizeof(pa)) == 0;
}

double angle_deg(const pole::Vec3& a, const pole::Vec3& b) {
  const double d = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  return std::acos(std::min(1.0, std::abs(d))) * 180 / kPi;
}

}  // namespace

TEST(PoleMpi, SameResultOnAnyRankCountAndTheMapFollowsTheBend) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const auto& gen = generator();
  const HostIonCloud all = gen.generate_slab(0, gen.num_slabs()).ions;
  pole::PoleOptions o;
  o.tile = 6;
  o.subsamples = 3;
  o.r_cut = 1.5;  // n = 120 bins per axis: a quicker test
  o.min_tile_ions = 2000;
  const auto par = pole::find_pole(MPI_COMM_WORLD, share_of(all, rank, size), o);
  ASSERT_TRUE(par.has_tiles);
  EXPECT_EQ(par.ions, all.size());

  if (rank == 0) {
    const auto ser = pole::find_pole(MPI_COMM_SELF, all, o);
    EXPECT_TRUE(same_bytes(par.pole, ser.pole));
    EXPECT_EQ(par.scan.score_at_best_q.size(), ser.scan.score_at_best_q.size());
    EXPECT_EQ(0, std::memcmp(par.scan.score_at_best_q.data(), ser.scan.score_at_best_q.data(),
                             ser.scan.score_at_best_q.size() * sizeof(double)));
    ASSERT_EQ(par.tiles.size(), ser.tiles.size());
    for (std::int64_t t = 0; t < ser.tiles.size(); ++t) {
      EXPECT_TRUE(same_bytes(par.tiles.tiles[static_cast<std::size_t>(t)],
                             ser.tiles.tiles[static_cast<std::size_t>(t)]))
          << "tile " << t;
      EXPECT_EQ(par.tiles.ions[static_cast<std::size_t>(t)], ser.tiles.ions[static_cast<std::size_t>(t)]);
      EXPECT_EQ(0, std::memcmp(par.tiles.centroid[static_cast<std::size_t>(t)].data(),
                               ser.tiles.centroid[static_cast<std::size_t>(t)].data(), 3 * sizeof(double)));
    }
  }
  EXPECT_NEAR(par.pole.spacing_nm, 0.2025, 0.002);
  // Tiles: 6 x 6 nm columns over the centres (about 22 x 10 nm): each measured
  // tile within 0.3 deg of the true normal at its centre, and the tilt grows by
  // 0.3 deg per nm along x.
  const auto& tm = par.tiles;
  ASSERT_EQ(tm.n[0], 4);
  ASSERT_EQ(tm.n[1], 2);
  ASSERT_EQ(tm.n[2], 1);
  EXPECT_GE(tm.measured, 6);
  for (std::int64_t t = 0; t < tm.size(); ++t) {
    const auto& e = tm.tiles[static_cast<std::size_t>(t)];
    if (tm.status[static_cast<std::size_t>(t)] != pole::TileStatus::measured) continue;
    // Truth at the centroid of the tile's centres (inside the tile's box).
    const auto& c = tm.centroid[static_cast<std::size_t>(t)];
    EXPECT_GE(c[0], tm.origin[0] + (t % 4) * tm.edge[0]);
    EXPECT_LE(c[0], tm.origin[0] + (t % 4 + 1) * tm.edge[0]);
    const auto truth = gen.plane_normal({0, 0, 1}, c);
    EXPECT_LT(angle_deg(e.direction, truth), 0.3) << "tile " << t << " tilt " << e.tilt_deg;
    EXPECT_TRUE(std::isfinite(e.uncertainty_deg));
  }
  ASSERT_EQ(tm.status[0], pole::TileStatus::measured);
  ASSERT_EQ(tm.status[2], pole::TileStatus::measured);
  const double slope =
      (tm.tiles[2].tilt_deg - tm.tiles[0].tilt_deg) / (tm.centroid[2][0] - tm.centroid[0][0]);
  EXPECT_NEAR(slope, 0.3, 0.03);
  // Global: one peak for a lattice that turns across x; it lies among the
  // local poles (weighted towards the smaller tilts, whose peaks are blurred less).
  double lo = 90, hi = 0;
  for (std::int64_t t = 0; t < tm.size(); ++t)
    if (tm.status[static_cast<std::size_t>(t)] == pole::TileStatus::measured) {
      lo = std::min(lo, tm.tiles[static_cast<std::size_t>(t)].tilt_deg);
      hi = std::max(hi, tm.tiles[static_cast<std::size_t>(t)].tilt_deg);
    }
  EXPECT_GE(par.pole.tilt_deg, lo);
  EXPECT_LE(par.pole.tilt_deg, hi);

  // The file: written collectively, read back on rank 0.
  std::string path;
  if (rank == 0)
    path = (std::filesystem::temp_directory_path() / fmt::format("pole_mpi_{}.h5", size)).string();
  int len = static_cast<int>(path.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  path.resize(static_cast<std::size_t>(len));
  MPI_Bcast(path.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
  pole::write_pole_file(MPI_COMM_WORLD, path, par, "mem.pos", "mem.rrng", {"Al", "Li"});
  if (rank == 0) {
    auto f = h5::File::open(path);
    EXPECT_EQ(h5::read<double>(f, "/pole/tilt_deg")[0], par.pole.tilt_deg);
    std::vector<hsize_t> shape;
    const auto tilt = h5::read<double>(f, "/pole/tiles/tilt_deg", &shape);
    EXPECT_EQ(shape, (std::vector<hsize_t>{1, 2, 4}));
    EXPECT_EQ(tilt[5], tm.tiles[5].tilt_deg);
    const auto st = h5::read<std::int8_t>(f, "/pole/tiles/status");
    EXPECT_EQ(st[0], 0);
    f.close();
    EXPECT_TRUE(std::filesystem::exists(pole::xdmf_path_for(path)));
    std::filesystem::remove(path);
    std::filesystem::remove(pole::xdmf_path_for(path));
  }
}
