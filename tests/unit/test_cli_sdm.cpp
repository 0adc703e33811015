// aptflow sdm: the feature file of the CLI equals direct kernel calls on the
// same dataset (whole cloud and window grids).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "aptflow/core/config.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/features.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/windows.hpp"
#include "aptflow/synth/specimen.hpp"
#include "test_util.hpp"

using namespace aptflow;

namespace {

struct Specimen {
  std::string pos, rrng;
};

Specimen make_specimen(const test::TempDir& dir) {
  // The shipped specimen config, small, with one domain (count instead of number_density).
  std::ifstream in(test::source_dir() / "configs" / "synth" / "specimen_alli_l12.toml");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const std::string nd = "number_density = 1.5e-3";
  const auto at = text.find(nd);
  EXPECT_NE(at, std::string::npos);
  if (at != std::string::npos) text.replace(at, nd.size(), "count = 1");
  auto cfg = Config::from_string(text);
  cfg.apply_overrides({"specimen.size=[6.0, 5.0, 7.0]", "domains.delta_prime.radius=1.5"});
  const auto f = synth::write_specimen(MPI_COMM_SELF, cfg, (dir / "spec").string());
  return {f.pos, f.rrng};
}

std::string sdm_cmd(const Specimen& s, const std::string& args, const std::string& out) {
  return test::aptflow_exe() + " sdm -i " + s.pos + " -r " + s.rrng + " " + args + " -o " + out + " 2>&1";
}

}  // namespace

TEST(CliSdm, MatchesDirectKernelCalls) {
  test::TempDir dir;
  const auto s = make_specimen(dir);
  HostIonCloud cloud = io::read_dataset(s.pos);
  const auto table = read_range_file(s.rrng);
  const Kokkos::DefaultHostExecutionSpace exec;
  apply_ranges(exec, cloud, make_device_range_table<Kokkos::HostSpace>(table));
  exec.fence();
  const int al = table.species_of("Al"), li = table.species_of("Li");
  ASSERT_GT(al, 0);
  ASSERT_GT(li, 0);
  const Box box = cloud_bounds(exec, cloud);

  // Whole cloud, zx.
  {
    const auto out = (dir / "none.h5").string();
    const auto r = test::run_command(sdm_cmd(s, "--pair Li-Al -k zx -w none", out));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    SdmSpec spec = SdmSpec::zx();
    Kokkos::View<std::int64_t*, Kokkos::HostSpace> ref("ref", spec.size());
    compute_sdm(exec, cloud, spec, li, al, ref);
    const auto got = io::read_features(out, "zx", "Li-Al");
    ASSERT_EQ(got.size(), std::size_t(spec.size()));
    std::int64_t total = 0;
    for (std::size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k], float(ref(k))) << k;
      total += ref(k);
    }
    EXPECT_GT(total, 1000);
    const auto info = io::read_feature_info(out);
    EXPECT_EQ(info.layout.samples, 1);
    EXPECT_FALSE(info.layout.windows);
  }
  // Window grids, z, two pairs, both variants, small chunks (several rounds).
  for (const std::string variant : {"feal", "cocrni"}) {
    const auto out = (dir / (variant + ".h5")).string();
    const auto r = test::run_command(sdm_cmd(
        s,
        "--pair Al-Al --pair Li-Al -k z -w " + variant + " --set windows.stride=0.75 --set windows.chunk=37",
        out));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const WindowGrid grid = WindowGrid::over(box, 1.0, 0.75);
    const WindowSpec ws = variant == "feal" ? WindowSpec::feal(1.0) : WindowSpec::cocrni(1.0);
    const SdmSpec spec = SdmSpec::z();
    const CellGrid cg = make_cell_grid(box, spec.r_cut);
    const auto info = io::read_feature_info(out);
    ASSERT_EQ(info.layout.samples, grid.size());
    EXPECT_EQ(info.layout.window_grid.variant, variant);
    EXPECT_EQ(info.layout.window_grid.counts[2], grid.counts[2]);
    const std::int64_t n = grid.size();
    for (const auto& [a, b, name] : {std::tuple{al, al, "Al-Al"}, std::tuple{li, al, "Li-Al"}}) {
      const auto cells = build_sdm_cells(exec, cloud, cg, a, b);
      Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace> ref("ref", n, spec.size());
      Kokkos::View<std::int64_t*, Kokkos::HostSpace> cnt("cnt", n);
      compute_window_sdms(exec, cells, grid, ws, spec, 0, n, ref, cnt);
      const auto got = io::read_features(out, "z", name);
      ASSERT_EQ(got.size(), std::size_t(n * spec.size()));
      std::int64_t total = 0;
      for (std::int64_t w = 0; w < n; ++w)
        for (std::int64_t k = 0; k < spec.size(); ++k) {
          ASSERT_EQ(got[w * spec.size() + k], float(ref(w, k))) << variant << " " << name << " window " << w;
          total += ref(w, k);
        }
      EXPECT_GT(total, 1000);
      auto f = h5::File::open(out);
      const auto nc = h5::read<std::int64_t>(f, std::string("windows/centre_ions/") + name);
      for (std::int64_t w = 0; w < n; ++w) ASSERT_EQ(nc[w], cnt(w));
    }
    for (std::int64_t w = 0; w < n; w += 7) {
      std::int64_t ix, iy, iz;
      grid.unravel(w, ix, iy, iz);
      EXPECT_EQ(info.centres[3 * w], grid.centre_f(0, ix));
      EXPECT_EQ(info.centres[3 * w + 1], grid.centre_f(1, iy));
      EXPECT_EQ(info.centres[3 * w + 2], grid.centre_f(2, iz));
    }
  }
}

TEST(CliSdm, ErrorsAreOneLineWithTheAvailableNames) {
  test::TempDir dir;
  const auto s = make_specimen(dir);
  auto r = test::run_command(sdm_cmd(s, "--pair Fe-Al", (dir / "x.h5").string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("ion type 'Fe' is not in the range file"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Al, Li, Mg"), std::string::npos) << r.output;
  r = test::run_command(sdm_cmd(s, "--pair Al-Al --set windows.typo=1", (dir / "x.h5").string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("windows.typo"), std::string::npos) << r.output;
  r = test::run_command(sdm_cmd(s, "--pair Al-Al -k q", (dir / "x.h5").string()));
  EXPECT_EQ(r.exit_code, 2);
  r = test::run_command(sdm_cmd(s, "--pair Al-Al -w square", (dir / "x.h5").string()));
  EXPECT_EQ(r.exit_code, 2);
}
