// classify with transform.align (issue 15 part 2; docs/alignment.md section 7)
// at np 1, 2, 4: a fixed alignment [tilt, azimuth] gives exactly the result of
// classify without alignment on the same ions turned beforehand by the
// independent route (rotation_to_z about the centre of the bounding box,
// rotate_cloud, written to a POS file): the same per-ion classes and domain ids
// in input order, the same windows; the domain centroids are those of the
// turned run mapped back by R^T; /entry1/alignment records the rotation; the
// ions as read give other windows (the comparison is not vacuous). The
// config keys parse into ClassifyOptions::align.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <random>

#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/kernels/align.hpp"
#include "aptflow/nn/layers.hpp"
#include "aptflow/nn/model.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "aptflow/synth/specimen.hpp"
#include "classify_test_model.hpp"
#include "test_util.hpp"

namespace h5 = aptflow::h5;
namespace nn = aptflow::nn;

using aptflow::test::expect_same;
using aptflow::test::read_all;
using aptflow::test::small_model;

TEST(ClassifyAlign, ConfigKeysParseIntoTheOptions) {
  const std::string base = "input = \"a.pos\"\nrange = \"a.rrng\"\nmodel = \"m.h5\"\noutput = \"o.h5\"\n";
  auto o = aptflow::parse_classify_config(aptflow::Config::from_string(base));
  EXPECT_EQ(o.align.mode, aptflow::AlignSpec::Mode::none);
  o = aptflow::parse_classify_config(
      aptflow::Config::from_string(base + "[transform]\nalign = \"auto\"\ncone = 20\ntile = 10\n"));
  EXPECT_EQ(o.align.mode, aptflow::AlignSpec::Mode::autodetect);
  EXPECT_EQ(o.align.pole.cone_deg, 20);
  EXPECT_EQ(o.align.pole.tile, 10);
  o = aptflow::parse_classify_config(
      aptflow::Config::from_string(base + "[transform]\nalign = [5.0, 30.0]\n"));
  EXPECT_EQ(o.align.mode, aptflow::AlignSpec::Mode::fixed);
  EXPECT_EQ(o.align.tilt_deg, 5.0);
  EXPECT_EQ(o.align.azimuth_deg, 30.0);
  try {
    (void)aptflow::parse_classify_config(
        aptflow::Config::from_string(base + "[transform]\nalign = [5.0, 30.0]\ncone = 20\n"));
    ADD_FAILURE() << "cone with a fixed alignment accepted";
  } catch (const aptflow::ConfigError& e) {
    EXPECT_EQ(e.key(), "transform.cone");
  }
}

TEST(ClassifyAlign, FixedAlignmentEqualsClassifyOfTheTurnedIons) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  aptflow::test::TempDir dir;
  auto scfg =
      aptflow::Config::from_file((aptflow::test::source_dir() / "configs/synth/demo_specimen.toml").string());
  scfg.apply_overrides({"specimen.size=[7.0, 7.0, 9.0]", "domains.delta_prime.count=2", "name=\"aln\"",
                        "orientation.tilt=[6.0, 40.0]"});
  const auto files = aptflow::synth::write_specimen(MPI_COMM_WORLD, scfg, (dir / "spec").string());
  const std::string model = (dir / "m.h5").string(), turned = (dir / "turned.pos").string();
  const double tilt = 6.0, azimuth = 40.0;
  aptflow::Rotation rot;
  if (rank == 0) {
    nn::save_model(small_model(7), model);
    // The independent route: the whole cloud, its bounding box, the rotation, a POS file.
    auto cloud = aptflow::io::read_dataset(files.pos);
    double lo[3] = {1e300, 1e300, 1e300}, hi[3] = {-1e300, -1e300, -1e300};
    for (aptflow::IonIndex i = 0; i < cloud.size(); ++i) {
      const double p[3] = {cloud.x(i), cloud.y(i), cloud.z(i)};
      for (int a = 0; a < 3; ++a) {
        lo[a] = std::min(lo[a], p[a]);
        hi[a] = std::max(hi[a], p[a]);
      }
    }
    rot = aptflow::rotation_to_z(aptflow::pole_direction(tilt, azimuth),
                                 {0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), 0.5 * (lo[2] + hi[2])});
    aptflow::rotate_cloud(Kokkos::DefaultHostExecutionSpace(), cloud, rot);
    aptflow::io::write_pos(turned, cloud);
  }
  MPI_Barrier(MPI_COMM_WORLD);

  aptflow::ClassifyOptions o;
  o.range = files.rrng;
  o.models = {model};
  o.chunk = 97;
  o.segment = aptflow::SegmentSpec::cocrni();
  o.segment.thresholds = {std::numeric_limits<double>::infinity(), 3.6};
  o.progress = false;
  o.config_text = "test = true\n";
  const std::string a = (dir / "aligned.h5").string(), b = (dir / "turned.h5").string();
  o.input = files.pos;
  o.output = a;
  o.align.mode = aptflow::AlignSpec::Mode::fixed;
  o.align.tilt_deg = tilt;
  o.align.azimuth_deg = azimuth;
  const auto sa = aptflow::run_classify(MPI_COMM_WORLD, o);
  o.input = turned;
  o.output = b;
  o.align = {};
  const auto sb = aptflow::run_classify(MPI_COMM_WORLD, o);
  // Control: the ions as read, not turned, give other windows (the test can fail).
  const std::string c = (dir / "plain.h5").string();
  o.input = files.pos;
  o.output = c;
  (void)aptflow::run_classify(MPI_COMM_WORLD, o);
  if (rank != 0) return;
  {
    const auto pb = read_all<float>(b, "/entry1/windows/probability"),
               pc = read_all<float>(c, "/entry1/windows/probability");
    EXPECT_TRUE(pb.size() != pc.size() || std::memcmp(pb.data(), pc.data(), pb.size() * sizeof(float)) != 0);
  }
  EXPECT_EQ(sa.ions, sb.ions);
  EXPECT_EQ(sa.domains, sb.domains);
  EXPECT_GT(sa.labelled_ions, 0);
  EXPECT_GT(sa.domains, 0);
  expect_same<float>(a, b, "/entry1/windows/probability");
  expect_same<std::int32_t>(a, b, "/entry1/ions/class");
  expect_same<std::int64_t>(a, b, "/entry1/ions/domain_id");
  expect_same<std::int64_t>(a, b, "/entry1/domains/ions");
  // Centroids: the aligned run reports them in input coordinates.
  const auto ca = read_all<double>(a, "/entry1/domains/centroid"),
             cb = read_all<double>(b, "/entry1/domains/centroid");
  ASSERT_EQ(ca.size(), cb.size());
  const auto inv = rot.inverse();
  for (std::size_t k = 0; k + 2 < cb.size(); k += 3) {
    double x = cb[k], y = cb[k + 1], z = cb[k + 2];
    inv.apply(x, y, z);
    EXPECT_NEAR(ca[k], x, 1e-9);
    EXPECT_NEAR(ca[k + 1], y, 1e-9);
    EXPECT_NEAR(ca[k + 2], z, 1e-9);
  }
  // The rotation is recorded; the unaligned run records none.
  const auto rec = read_all<double>(a, "/entry1/alignment/rotation");
  const auto packed = rot.pack();
  ASSERT_EQ(rec.size(), 12u);
  for (int k = 0; k < 12; ++k)
    EXPECT_NEAR(rec[static_cast<std::size_t>(k)], packed[static_cast<std::size_t>(k)], 1e-12);
  auto fb = h5::File::open(b);
  EXPECT_FALSE(h5::exists(fb, "/entry1/alignment"));
}
