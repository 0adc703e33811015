// write_library gives the same bytes on any number of ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <fstream>
#include <sstream>

#include "aptflow/io/features.hpp"
#include "aptflow/synth/library.hpp"
#include "test_util.hpp"

using namespace aptflow;

namespace {}  // namespace

TEST(LibraryMpi, SameBytesAsSerial) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  test::TempDir dir;
  auto cfg = Config::from_file((test::source_dir() / "configs" / "synth" / "feal_bcc_b2_d03.toml").string());
  // 2 x 5 x 10 + 2 x 5 x 10 + 2 x 5 x 10 samples (over 32-sample chunks: several rounds per rank).
  cfg.apply_overrides({"grid.sigma_xy=[0.2, 0.6]",
                       "grid.eta=[0.2, 0.3, 0.4, 0.5, 0.6, 0.25, 0.35, 0.45, 0.55, 0.65]",
                       "classes.BCC.sigma_z=[0.02, 0.03, 0.04, 0.025, 0.035]",
                       "classes.B2.sigma_z=[0.03, 0.04, 0.05, 0.035, 0.045]",
                       "classes.D0_3.sigma_z=[0.01, 0.02, 0.03, 0.04, 0.015]", "classes.BCC.cells=[5, 5, 5]",
                       "classes.B2.cells=[5, 5, 5]", "classes.D0_3.cells=[3, 3, 3]"});
  const auto spec = synth::parse_library_config(cfg);
  const auto par = (dir / "par.h5").string(), ser = (dir / "ser.h5").string();
  const auto st = synth::write_library(MPI_COMM_WORLD, spec, par);
  EXPECT_EQ(st.samples, 300);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    synth::write_library(MPI_COMM_SELF, spec, ser);
    const auto a = aptflow::test::read_text(par), b = aptflow::test::read_text(ser);
    EXPECT_GT(a.size(), 300u * 93 * 2 * 4);
    EXPECT_TRUE(a == b) << "library bytes differ between the parallel and the serial run";
    const auto info = io::read_feature_info(par);
    EXPECT_EQ(info.labels.back(), 2);
    const auto rows = synth::library_sample_sdms(spec, synth::expand_library(spec)[299]);
    EXPECT_EQ(io::read_features(par, "z", "Al-Al", 299, 1), rows[1]);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(LibraryMpi, OccupancySameBytesAsSerial) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  test::TempDir dir;
  auto cfg = Config::from_file((test::source_dir() / "configs" / "synth" / "feal_bcc_b2_d03.toml").string());
  // 3 classes x 2 x 2 x 10 = 120 samples: z Fe-Fe, Al-Al and occupancy Fe, Al (8^3 voxels of a 2 nm cube).
  cfg.apply_overrides({"sdm.kinds=[\"z\", \"occupancy\"]", "library.occupancy.species=[\"Fe\", \"Al\"]",
                       "library.occupancy.grid=8", "grid.sigma_xy=[0.2, 0.6]",
                       "grid.eta=[0.2, 0.3, 0.4, 0.5, 0.6, 0.25, 0.35, 0.45, 0.55, 0.65]",
                       "classes.BCC.sigma_z=[0.02, 0.03]", "classes.B2.sigma_z=[0.03, 0.04]",
                       "classes.D0_3.sigma_z=[0.01, 0.02]", "classes.BCC.cells=[7, 7, 7]",
                       "classes.B2.cells=[7, 7, 7]", "classes.D0_3.cells=[4, 4, 4]"});
  const auto spec = synth::parse_library_config(cfg);
  const auto par = (dir / "par.h5").string(), ser = (dir / "ser.h5").string();
  EXPECT_EQ(synth::write_library(MPI_COMM_WORLD, spec, par).samples, 120);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    synth::write_library(MPI_COMM_SELF, spec, ser);
    const auto a = aptflow::test::read_text(par), b = aptflow::test::read_text(ser);
    EXPECT_GT(a.size(), 120u * 512 * 2 * 4);
    EXPECT_TRUE(a == b) << "occupancy library bytes differ between the parallel and the serial run";
    const auto rows = synth::library_sample_sdms(spec, synth::expand_library(spec)[77]);
    ASSERT_EQ(rows.size(), 4u);
    const auto fe = io::read_features(par, "occupancy", "Fe", 77, 1);
    EXPECT_EQ(fe, rows[2]);
    float total = 0;
    for (float v : fe) total += v;
    EXPECT_GT(total, 0.0f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}
