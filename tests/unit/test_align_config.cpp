// transform.align (include/aptflow/pipeline/align.hpp): parsing and its
// errors, a fixed pole turned onto z, "auto" on a tilted synthetic lattice
// (globally and per column), the round trip back to input coordinates and the
// record in a result file.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "aptflow/core/error.hpp"
#include "aptflow/pipeline/align.hpp"
#include "aptflow/synth/specimen.hpp"
#include "pole_fixtures.hpp"
#include "test_util.hpp"

using namespace aptflow;

namespace {

std::string key_of(const std::string& toml) {
  try {
    const auto cfg = Config::from_string(toml);
    (void)parse_align(cfg);
  } catch (const ConfigError& e) {
    return e.key();
  }
  return "";
}

RangeTable al_table() {
  RangeTable t;
  IonType al;
  al.name = "Al";
  al.composition = {{"Al", 1}};
  t.ion_types.push_back(al);
  t.ranges.push_back(MassRange{26.5, 27.5, 0, 0});
  return t;
}

HostIonCloud tilted(double tilt, double az, double sx, double sy, double sz) {
  return test::tilted_al_lattice(tilt, az, {sx, sy, sz}, 0.4);
}

}  // namespace

TEST(AlignConfig, ParsesTheThreeForms) {
  EXPECT_EQ(parse_align(Config::from_string("")).mode, AlignSpec::Mode::none);
  EXPECT_EQ(parse_align(Config::from_string("[transform]\nalign = \"none\"")).mode, AlignSpec::Mode::none);
  const auto a = parse_align(
      Config::from_string("[transform]\nalign = \"auto\"\ncone = 20\ntile = 10\nspecies = [\"Al\"]"));
  EXPECT_EQ(a.mode, AlignSpec::Mode::autodetect);
  EXPECT_EQ(a.pole.cone_deg, 20);
  EXPECT_EQ(a.pole.tile, 10);
  EXPECT_EQ(a.species, std::vector<std::string>{"Al"});
  const auto f = parse_align(Config::from_string("[transform]\nalign = [5.5, 270]"));
  EXPECT_EQ(f.mode, AlignSpec::Mode::fixed);
  EXPECT_EQ(f.tilt_deg, 5.5);
  EXPECT_EQ(f.azimuth_deg, 270);
  // Keys are marked used: check_all_used passes.
  const auto cfg =
      Config::from_string("[transform]\nalign = \"auto\"\nmin_score = 20\nr_cut = 1.2\nbin = 0.02");
  (void)parse_align(cfg);
  EXPECT_NO_THROW(cfg.check_all_used());
}

TEST(AlignConfig, ErrorsNameTheKey) {
  EXPECT_EQ(key_of("[transform]\nalign = \"yes\""), "transform.align");
  EXPECT_EQ(key_of("[transform]\nalign = [50.0, 0.0]"), "transform.align");
  EXPECT_EQ(key_of("[transform]\nalign = [5.0]"), "transform.align");
  EXPECT_EQ(key_of("[transform]\nalign = 3"), "transform.align");
  EXPECT_EQ(key_of("[transform]\nalign = \"auto\"\ncone = 60"), "transform.cone");
  EXPECT_EQ(key_of("[transform]\nalign = \"auto\"\nbin = 0.07"), "transform.bin");
  EXPECT_EQ(key_of("[transform]\nalign = \"auto\"\ntile = 1.0"), "transform.tile");
  EXPECT_EQ(key_of("[transform]\nalign = \"auto\"\nsubsamples = 1"), "transform.subsamples");
  EXPECT_EQ(key_of("[transform]\nalign = [2.0, 0.0]\ntile = 10"), "transform.tile");
  EXPECT_EQ(key_of("[transform]\ncone = 10"), "transform.cone");
}

TEST(AlignResolve, FixedPoleIsTurnedOntoZAboutTheCentre) {
  auto cloud = tilted(3.0, 60.0, 6, 6, 6);
  const HostIonCloud orig(cloud.size());
  Kokkos::deep_copy(orig.x, cloud.x);
  Kokkos::deep_copy(orig.y, cloud.y);
  Kokkos::deep_copy(orig.z, cloud.z);
  const auto spec = parse_align(Config::from_string("[transform]\nalign = [3.0, 60.0]"));
  const Alignment a = resolve_alignment(MPI_COMM_SELF, cloud, spec, al_table(), "mem");
  EXPECT_FALSE(a.is_identity());
  const auto z = a.rotation.turn(pole_direction(3.0, 60.0));
  EXPECT_NEAR(z[2], 1, 1e-12);
  apply_alignment(a, cloud);
  for (IonIndex i = 0; i < cloud.size(); i += 97) {
    const auto back = to_input_frame(a, {cloud.x(i), cloud.y(i), cloud.z(i)});
    EXPECT_NEAR(back[0], orig.x(i), 2e-5);
    EXPECT_NEAR(back[1], orig.y(i), 2e-5);
    EXPECT_NEAR(back[2], orig.z(i), 2e-5);
  }
  const auto none = resolve_alignment(MPI_COMM_SELF, cloud, AlignSpec{}, al_table(), "mem");
  EXPECT_TRUE(none.is_identity());
}

TEST(AlignResolve, AutoFindsThePoleAndTheAlignedLatticeIsOnZ) {
  auto cloud = tilted(6.0, 150.0, 12, 12, 12);
  for (IonIndex i = 0; i < cloud.size(); ++i) cloud.species(i) = 1;
  const auto spec = parse_align(Config::from_string("[transform]\nalign = \"auto\"\nsubsamples = 4"));
  const Alignment a = resolve_alignment(MPI_COMM_SELF, cloud, spec, al_table(), "mem");
  EXPECT_NEAR(a.tilt_deg, 6.0, 0.3);
  apply_alignment(a, cloud);
  // After the rotation the pole lies on z: aptflow pole on the aligned ions finds tilt ~ 0.
  pole::PoleOptions o;
  o.subsamples = 4;
  const auto r = pole::find_pole(MPI_COMM_SELF, cloud, o);
  EXPECT_LT(r.pole.tilt_deg, 0.3);
  // The record.
  test::TempDir dir;
  {
    auto f = h5::File::create((dir / "a.h5").string());
    write_alignment(f, "/entry1/alignment", a);
  }
  auto f = h5::File::open((dir / "a.h5").string());
  const auto rot = h5::read<double>(f, "/entry1/alignment/rotation");
  ASSERT_EQ(rot.size(), 12u);
  const auto pk = a.rotation.pack();
  for (int k = 0; k < 12; ++k) EXPECT_EQ(rot[static_cast<std::size_t>(k)], pk[static_cast<std::size_t>(k)]);
  const auto g = h5::open_object(f, "/entry1/alignment");
  EXPECT_EQ(h5::read_attr_string(g, "mode"), "auto");
}

TEST(AlignResolve, AutoPerColumnUsesEachColumnsPole) {
  auto cloud = tilted(4.0, 0.0, 26, 16, 12);  // centres over about 19 x 9 x 5 nm: two 10 nm columns
  const auto spec =
      parse_align(Config::from_string("[transform]\nalign = \"auto\"\ntile = 10\nsubsamples = 4"));
  const Alignment a = resolve_alignment(MPI_COMM_SELF, cloud, spec, al_table(), "mem");
  ASSERT_TRUE(a.per_tile);
  EXPECT_EQ(a.tiles.n[0], 2);
  EXPECT_EQ(a.tiles.n[1], 1);
  EXPECT_EQ(a.tiles.n[2], 1);
  ASSERT_EQ(a.tiles.rotations.size(), 2u);
  for (std::size_t t = 0; t < 2; ++t) {
    EXPECT_EQ(a.found.tiles.status[t], pole::TileStatus::measured);
    const auto z = a.tiles.rotations[t].turn(pole_direction(4.0, 0.0));
    EXPECT_NEAR(z[2], 1, 1e-5);
    EXPECT_NEAR(a.tiles.rotations[t].centre[0], a.tiles.origin[0] + (t + 0.5) * a.tiles.edge[0], 1e-12);
  }
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> which("which", cloud.size());
  const float x0 = cloud.x(0);
  apply_alignment(a, cloud, which);
  EXPECT_EQ(which(0), x0 < a.tiles.origin[0] + a.tiles.edge[0] ? 0 : 1);
}
