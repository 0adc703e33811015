// `aptflow voxelize` through the executable: the grid file equals a direct
// serial voxelize_composition of the ranged cloud (ranged here by a linear
// scan of the ranges), carries the provenance attributes, and is identical
// at np 1 and np 2 (mpirun). Also: the README demo specimen
// (configs/synth/demo_specimen.toml) generates quickly with write_specimen
// and goes through inspect and voxelize.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "aptflow/core/config.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/voxelize.hpp"
#include "aptflow/synth/specimen.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
namespace io = aptflow::io;
namespace h5 = aptflow::h5;
using aptflow::HostIonCloud;
using aptflow::RangeTable;
using aptflow::test::run_command;
using aptflow::test::TempDir;
using Exec = Kokkos::DefaultHostExecutionSpace;

// mpirun for a child job: the variables of this process's own (singleton) MPI
// job must not leak into it.
RangeTable voxel_table() {
  RangeTable t;
  t.source = "test";
  t.ion_types = {{"Al", {{"Al", 1}}, "", 0}, {"Li", {{"Li", 1}}, "", 0}, {"Mg", {{"Mg", 1}}, "", 0}};
  t.ranges = {{6.7, 7.3, 1, 0}, {13.2, 13.8, 0, 0}, {23.7, 24.3, 2, 0}, {26.7, 27.3, 0, 0}};
  return t;
}

HostIonCloud voxel_cloud(std::int64_t n, unsigned seed) {
  HostIonCloud c(n, "test.cloud");
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> ux(-6.3f, 5.1f), uy(2.f, 9.5f), uz(-1.f, 17.f);
  std::normal_distribution<float> peak(0.f, 0.15f);
  std::uniform_real_distribution<float> bg(1.f, 40.f);
  const float masses[] = {27.f, 13.5f, 7.f, 24.f};
  for (std::int64_t i = 0; i < n; ++i) {
    c.x(i) = ux(rng), c.y(i) = uy(rng), c.z(i) = uz(rng);
    const int k = static_cast<int>(rng() % 6);
    c.mq(i) = k < 4 ? masses[k] + peak(rng) : bg(rng);
  }
  return c;
}

// Species by a linear scan of [lo, hi) (independent of the ranging kernel).
void range_linear(HostIonCloud& c, const RangeTable& t) {
  for (std::int64_t i = 0; i < c.size(); ++i) {
    c.species(i) = 0;
    for (const auto& r : t.ranges)
      if (c.mq(i) >= r.lo && c.mq(i) < r.hi) c.species(i) = static_cast<aptflow::Species>(r.ion_type + 1);
  }
}

TEST(CliVoxelize, GridEqualsSerialCallAndIsRankIndependent) {
  TempDir dir;
  const auto table = voxel_table();
  auto cloud = voxel_cloud(20000, 5);
  cloud.z(777) = std::numeric_limits<float>::quiet_NaN();  // dropped with --drop-nonfinite
  const auto pos = (dir / "in.pos").string(), rrng = (dir / "r.rrng").string();
  io::write_pos(pos, cloud);
  aptflow::write_rrng(rrng, table);

  const std::string args = " voxelize --input " + aptflow::test::shell_quote(pos) + " --range " +
                           aptflow::test::shell_quote(rrng) + " --edge 0.7 --drop-nonfinite --out ";
  const auto g1 = (dir / "g1.h5").string(), g2 = (dir / "g2.h5").string();
  auto r = run_command(aptflow::test::aptflow_exe() + args + aptflow::test::shell_quote(g1));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // One summary line (rank 0 only), naming the ions kept and the grid.
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("aptflow voxelize: 19999 ions -> "), std::string::npos) << r.output;
  r = run_command(aptflow::test::child_mpirun(2, false) + aptflow::test::aptflow_exe() + args +
                  aptflow::test::shell_quote(g2));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  // Reference: the cloud without ion 777, ranged by linear scan, voxelised serially.
  HostIonCloud kept(cloud.size() - 1, "kept");
  for (std::int64_t i = 0, k = 0; i < cloud.size(); ++i)
    if (i != 777)
      kept.x(k) = cloud.x(i), kept.y(k) = cloud.y(i), kept.z(k) = cloud.z(i), kept.mq(k++) = cloud.mq(i);
  range_linear(kept, table);
  const auto ref = aptflow::voxelize_composition(Exec(), kept, aptflow::CompositionSpec{0.7, 3});
  const auto& g = ref.geometry;

  std::vector<std::int64_t> first;
  for (const auto& path : {g1, g2}) {
    SCOPED_TRACE(path);
    auto f = h5::File::open(path);
    std::vector<hsize_t> shape;
    const auto counts = h5::read<std::int64_t>(f, "/voxels/counts", &shape);
    ASSERT_EQ(shape, (std::vector<hsize_t>{hsize_t(g.nz), hsize_t(g.ny), hsize_t(g.nx), 4}));
    std::int64_t mismatches = 0, total = 0;
    for (std::size_t k = 0; k < counts.size(); ++k) {
      mismatches += counts[k] != ref.counts.data()[k];
      total += counts[k];
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(total, kept.size());
    if (first.empty())
      first = counts;
    else
      EXPECT_EQ(counts, first);  // np 1 and np 2 identical
    const auto origin = h5::read<double>(f, "/voxels/origin");
    for (int a = 0; a < 3; ++a) EXPECT_EQ(origin[a], g.origin[a]);
    EXPECT_EQ(h5::read<double>(f, "/voxels/edge")[0], 0.7);
    EXPECT_EQ(h5::read_strings(f, "/voxels/species_names"),
              (std::vector<std::string>{"unranged", "Al", "Li", "Mg"}));
    const auto grp = h5::open_object(f, "/voxels");
    EXPECT_EQ(h5::read_attr_string(grp, "input_file"), pos);
    EXPECT_EQ(h5::read_attr_string(grp, "input_format"), "pos");
    EXPECT_EQ(h5::read_attr_int(grp, "input_ions"), cloud.size());
    EXPECT_EQ(h5::read_attr_int(grp, "voxelized_ions"), kept.size());
    EXPECT_EQ(h5::read_attr_int(grp, "nonfinite_dropped"), 1);
    EXPECT_EQ(h5::read_attr_string(grp, "range_file"), rrng);
    EXPECT_EQ(h5::read_attr_int(grp, "mpi_ranks"), path == g1 ? 1 : 2);  // mpirun really ran 2 ranks
  }

  // Without --drop-nonfinite the NaN is an input error: exit 2, one line, the record's byte offset.
  r = run_command(aptflow::test::aptflow_exe() + " voxelize --input " + aptflow::test::shell_quote(pos) +
                  " --range " + aptflow::test::shell_quote(rrng) + " --out " +
                  aptflow::test::shell_quote((dir / "g3.h5").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("at byte " + std::to_string(777 * 16)), std::string::npos) << r.output;
  // Missing required options: a CLI11 usage error.
  r = run_command(aptflow::test::aptflow_exe() + " voxelize --input " + aptflow::test::shell_quote(pos));
  EXPECT_GE(r.exit_code, 100) << r.output;
}

// --device (voxelize and sdm): host and auto run and say where the counts
// ran, with the same grid; gpu in a build without a GPU backend and an
// unknown choice are one-line errors, exit 2, nothing written.
TEST(CliVoxelize, DeviceChoice) {
  TempDir dir;
  const auto table = voxel_table();
  const auto pos = (dir / "in.pos").string(), rrng = (dir / "r.rrng").string();
  io::write_pos(pos, voxel_cloud(3000, 9));
  aptflow::write_rrng(rrng, table);
  const std::string where = aptflow::have_gpu_backend() ? "gpu" : "host";
  std::vector<std::int64_t> first;
  for (const std::string device : {"host", "auto"}) {
    const auto out = (dir / (device + ".h5")).string();
    const auto r = run_command(aptflow::test::aptflow_exe() + " voxelize -i " +
                               aptflow::test::shell_quote(pos) + " -r " + aptflow::test::shell_quote(rrng) +
                               " --device " + device + " -o " + aptflow::test::shell_quote(out));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("(counted on the " + (device == "host" ? std::string("host") : where) + ")"),
              std::string::npos)
        << r.output;
    auto f = h5::File::open(out);
    const auto counts = h5::read<std::int64_t>(f, "/voxels/counts");
    if (first.empty())
      first = counts;
    else
      EXPECT_EQ(counts, first);
  }
  const auto sdm_out = (dir / "sdm.h5").string();
  auto r = run_command(aptflow::test::aptflow_exe() + " sdm -i " + aptflow::test::shell_quote(pos) + " -r " +
                       aptflow::test::shell_quote(rrng) + " -p Al-Al --device host -o " +
                       aptflow::test::shell_quote(sdm_out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(counted on the host)"), std::string::npos) << r.output;
  for (const std::string verb : {"voxelize", "sdm"}) {
    const auto bad = (dir / ("bad_" + verb + ".h5")).string();
    const std::string base = aptflow::test::aptflow_exe() + " " + verb + " -i " +
                             aptflow::test::shell_quote(pos) + " -r " + aptflow::test::shell_quote(rrng) +
                             (verb == "sdm" ? " -p Al-Al" : "") + " -o " + aptflow::test::shell_quote(bad);
    r = run_command(base + " --device cuda");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("auto, host or gpu"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(bad));
    if (aptflow::have_gpu_backend()) continue;
    r = run_command(base + " --device gpu");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("test_backends.sh cuda-hopper90"), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(std::filesystem::exists(bad));
  }
}

TEST(CliVoxelize, DemoSpecimenGeneratesQuicklyAndRunsThroughTheCli) {
  TempDir dir;
  const auto cfg_path = (aptflow::test::source_dir() / "configs/synth/demo_specimen.toml").string();
  ASSERT_TRUE(fs::exists(cfg_path)) << cfg_path;
  const auto cfg = aptflow::Config::from_file(cfg_path);
  const auto t0 = std::chrono::steady_clock::now();
  const auto files = aptflow::synth::write_specimen(MPI_COMM_WORLD, cfg, dir.path().string());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("demo specimen: %lld ions, %lld domains, %.2f s\n", static_cast<long long>(files.num_ions),
              static_cast<long long>(files.num_domains), seconds);
  EXPECT_EQ(files.num_domains, 6);
  EXPECT_GT(files.num_ions, 100000);
  EXPECT_LT(files.num_ions, 300000);
  EXPECT_LT(seconds, 30.0);
  EXPECT_EQ(fs::file_size(files.pos), static_cast<std::uintmax_t>(files.num_ions) * 16);

  // inspect: every ion ranged, composition near the nominal one (matrix Al 0.90; L1_2 domains richer in Li).
  auto r = run_command(aptflow::test::aptflow_exe() + " inspect " + aptflow::test::shell_quote(files.pos) +
                       " --range " + aptflow::test::shell_quote(files.rrng) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j.at("ions").get<std::int64_t>(), files.num_ions);
  EXPECT_LT(j.at("unranged").get<std::int64_t>(), files.num_ions / 1000);
  EXPECT_NEAR(j.at("composition").at("Al").get<double>(), 0.88, 0.03);
  EXPECT_NEAR(j.at("composition").at("Li").get<double>(), 0.10, 0.03);
  EXPECT_NEAR(j.at("peaks")[0].at("mq").get<double>(), 27.0, 0.05);

  // voxelize: the grid holds every ion.
  const auto grid = (dir / "demo_grid.h5").string();
  r = run_command(aptflow::test::aptflow_exe() + " voxelize -i " + aptflow::test::shell_quote(files.pos) +
                  " -r " + aptflow::test::shell_quote(files.rrng) + " --edge 2 -o " +
                  aptflow::test::shell_quote(grid));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto f = h5::File::open(grid);
  std::int64_t total = 0;
  for (auto c : h5::read<std::int64_t>(f, "/voxels/counts")) total += c;
  EXPECT_EQ(total, files.num_ions);
}

}  // namespace
