// transform.align in sdm, voxelize and cluster (issue 15 item 2,
// docs/alignment.md section 7) through the executable, on a small specimen
// whose lattice is tilted by a known [tilt, azimuth]. With the fixed
// alignment [tilt, azimuth] each verb records the rotation (tilt, azimuth,
// R and the centre of the bounding box) and gives exactly the result of the
// same computation on the ions turned beforehand by the independent route
// (rotation_to_z of pole_direction about the centre of the bounding box,
// rotate_cloud): sdm the same integer window z-SDMs, voxelize the same counts
// (per species totals unchanged), cluster the same domains with centroids back
// in input coordinates. sdm and voxelize give the same bytes at np 1 and
// np 2; a bad transform value exits 2 naming the key and writes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aptflow/core/bounds.hpp"
#include "aptflow/core/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/features.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/align.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/voxelize.hpp"
#include "aptflow/kernels/windows.hpp"
#include "aptflow/pipeline/align.hpp"
#include "aptflow/pipeline/segment.hpp"
#include "aptflow/synth/specimen.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
namespace h5 = aptflow::h5;
namespace io = aptflow::io;
using aptflow::HostIonCloud;
using aptflow::test::run_command;
using aptflow::test::TempDir;
using Exec = Kokkos::DefaultHostExecutionSpace;

constexpr double kTilt = 6.0, kAzimuth = 40.0;
const std::string kAlign = "--set 'transform.align=[6.0, 40.0]'";

// mpirun for a child job without this process's own MPI job variables.
// A small Al-Li-Mg specimen with two L1_2 domains, its <002> pole tilted by
// [kTilt, kAzimuth] (configs/synth/demo_specimen.toml).
aptflow::synth::SpecimenFiles tilted_specimen(const TempDir& dir) {
  auto cfg =
      aptflow::Config::from_file((aptflow::test::source_dir() / "configs/synth/demo_specimen.toml").string());
  cfg.apply_overrides({"specimen.size=[7.0, 7.0, 9.0]", "domains.delta_prime.count=2", "name=\"aln\"",
                       "orientation.tilt=[6.0, 40.0]"});
  return aptflow::synth::write_specimen(MPI_COMM_SELF, cfg, (dir / "spec").string());
}

// The ions as read and ranged.
HostIonCloud ranged(const std::string& pos, const aptflow::RangeTable& table) {
  HostIonCloud c = io::read_dataset(pos);
  aptflow::apply_ranges(Exec(), c, aptflow::make_device_range_table<Kokkos::HostSpace>(table));
  Exec().fence();
  return c;
}

// The independent route: rotation_to_z of the pole about the centre of the bounding box.
aptflow::Rotation expected_rotation(const HostIonCloud& c) {
  const aptflow::Box b = aptflow::cloud_bounds(Exec(), c);
  return aptflow::rotation_to_z(aptflow::pole_direction(kTilt, kAzimuth),
                                {0.5 * (double(b.lo[0]) + b.hi[0]), 0.5 * (double(b.lo[1]) + b.hi[1]),
                                 0.5 * (double(b.lo[2]) + b.hi[2])});
}

HostIonCloud turned_copy(const HostIonCloud& c, const aptflow::Rotation& rot) {
  HostIonCloud t(c.size(), "turned");
  for (aptflow::IonIndex i = 0; i < c.size(); ++i)
    t.x(i) = c.x(i), t.y(i) = c.y(i), t.z(i) = c.z(i), t.mq(i) = c.mq(i), t.species(i) = c.species(i);
  aptflow::rotate_cloud(Exec(), t, rot);
  return t;
}

// The recorded alignment at `path`: mode fixed, the pole's tilt and azimuth, R and the centre.
void expect_alignment(const std::string& file, const std::string& path, const aptflow::Rotation& rot) {
  SCOPED_TRACE(file + ":" + path);
  auto f = h5::File::open(file);
  ASSERT_TRUE(h5::exists(f, path));
  const auto g = h5::open_object(f, path);
  EXPECT_EQ(h5::read_attr_string(g, "mode"), "fixed");
  EXPECT_NEAR(h5::read_attr_double(g, "tilt_deg"), kTilt, 1e-9);
  EXPECT_NEAR(h5::read_attr_double(g, "azimuth_deg"), kAzimuth, 1e-9);
  EXPECT_EQ(h5::read_attr_int(g, "per_tile"), 0);
  const auto rec = h5::read<double>(f, path + "/rotation");
  const auto packed = rot.pack();
  ASSERT_EQ(rec.size(), 12u);
  for (std::size_t k = 0; k < 12; ++k) EXPECT_NEAR(rec[k], packed[k], 1e-12) << k;
  const auto pole = h5::read<double>(f, path + "/pole");
  const auto n = aptflow::pole_direction(kTilt, kAzimuth);
  ASSERT_EQ(pole.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) EXPECT_NEAR(pole[k], n[k], 1e-12);
}

template <class T>
std::vector<T> read_all(const std::string& file, const std::string& path) {
  auto f = h5::File::open(file);
  return h5::read<T>(f, path);
}

// A bad transform value: exit 2, one line naming the key, no output file.
void expect_rejected(const std::string& cmd, const std::string& out, const std::string& key) {
  SCOPED_TRACE(cmd);
  const auto r = run_command(cmd);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(key), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

// The aligned runs a1 and a2 record `rot` under path, the plain run nothing.
void expect_recorded(const std::string& a1, const std::string& a2, const std::string& plain,
                     const std::string& path, const aptflow::Rotation& rot) {
  expect_alignment(a1, path, rot);
  expect_alignment(a2, path, rot);
  auto f = h5::File::open(plain);
  EXPECT_FALSE(h5::exists(f, path));
}

// `base` with each (--set value, key named in the error): exit 2, nothing in out.
void expect_sets_rejected(const std::string& base, const std::string& out,
                          const std::vector<std::pair<std::string, std::string>>& sets) {
  for (const auto& [set, key] : sets)
    expect_rejected(base + "--set " + set + " -o " + aptflow::test::shell_quote(out) + " 2>&1", out, key);
}

}  // namespace

TEST(AlignVerbs, SetAssignmentsParseOnlyTransformKeys) {
  auto s = aptflow::parse_align_overrides({});
  EXPECT_EQ(s.mode, aptflow::AlignSpec::Mode::none);
  s = aptflow::parse_align_overrides({"transform.align=[5.0, 30.0]"});
  EXPECT_EQ(s.mode, aptflow::AlignSpec::Mode::fixed);
  EXPECT_EQ(s.tilt_deg, 5.0);
  EXPECT_EQ(s.azimuth_deg, 30.0);
  s = aptflow::parse_align_overrides({"transform.align=auto", "transform.cone=20"});
  EXPECT_EQ(s.mode, aptflow::AlignSpec::Mode::autodetect);
  EXPECT_EQ(s.pole.cone_deg, 20);
  auto key_of = [](const std::vector<std::string>& sets) {
    try {
      (void)aptflow::parse_align_overrides(sets);
    } catch (const aptflow::ConfigError& e) {
      return e.key();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(key_of({"transform.align=sideways"}), "transform.align");
  EXPECT_EQ(key_of({"transform.align=[50.0, 0.0]"}), "transform.align");
  EXPECT_EQ(key_of({"transform.align=[5.0, 0.0]", "transform.cone=20"}), "transform.cone");
  EXPECT_EQ(key_of({"windows.edge=2"}), "windows.edge");
  EXPECT_EQ(key_of({"transform.typo=1"}), "transform.typo");
}

// domains_to_input_frame: centroid by R^T about the centre, axes by R^T
// (largest |component| positive again), the rest unchanged.
TEST(AlignVerbs, DomainsMapBackToInputCoordinates) {
  aptflow::Alignment a;
  a.mode = aptflow::AlignSpec::Mode::fixed;
  a.rotation = aptflow::rotation_to_z(aptflow::pole_direction(kTilt, kAzimuth), {1.0, 2.0, 3.0});
  const double p[3] = {4.0, -1.0, 7.5};
  const double u[3] = {0.6, -0.8, 0.0};  // an axis in input coordinates
  aptflow::DomainStats d;
  d.ions = 17;
  d.rg = 0.7;
  double x = p[0], y = p[1], z = p[2];
  a.rotation.apply(x, y, z);
  d.centroid[0] = x, d.centroid[1] = y, d.centroid[2] = z;
  double e[3] = {u[0], u[1], u[2]};
  {
    double ox = 0, oy = 0, oz = 0, ex = e[0], ey = e[1], ez = e[2];
    a.rotation.apply(ox, oy, oz);
    a.rotation.apply(ex, ey, ez);
    e[0] = ex - ox, e[1] = ey - oy, e[2] = ez - oz;  // back: u, whose largest |component| is negative
  }
  for (int k = 0; k < 3; ++k) d.axes[0][k] = e[k];
  std::vector<aptflow::DomainStats> ds{d};
  aptflow::domains_to_input_frame(a, ds);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(ds[0].centroid[k], p[k], 1e-12) << k;
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(ds[0].axes[0][k], -u[k], 1e-12) << k;  // flipped: 0.8 > 0
  EXPECT_EQ(ds[0].ions, 17);
  EXPECT_EQ(ds[0].rg, 0.7);
  // none: untouched.
  std::vector<aptflow::DomainStats> same{d};
  aptflow::domains_to_input_frame(aptflow::Alignment{}, same);
  EXPECT_EQ(same[0].centroid[0], d.centroid[0]);
}

TEST(AlignVerbs, SdmWindowsAreThoseOfTheTurnedIons) {
  TempDir dir;
  const auto files = tilted_specimen(dir);
  const auto table = aptflow::read_range_file(files.rrng);
  const HostIonCloud as_read = ranged(files.pos, table);
  const auto rot = expected_rotation(as_read);
  const HostIonCloud turned = turned_copy(as_read, rot);

  const std::string args = " sdm -i " + aptflow::test::shell_quote(files.pos) + " -r " +
                           aptflow::test::shell_quote(files.rrng) +
                           " --pair Al-Al --pair Li-Al -k z -w feal --set windows.stride=1.0 "
                           "--set windows.chunk=53 ";
  const auto a1 = (dir / "a1.h5").string(), a2 = (dir / "a2.h5").string(),
             plain = (dir / "plain.h5").string();
  auto r = run_command(aptflow::test::aptflow_exe() + args + kAlign + " -o " +
                       aptflow::test::shell_quote(a1) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("align (fixed): pole at tilt 6.000 deg, azimuth 40.00 deg"), std::string::npos)
      << r.output;
  r = run_command(aptflow::test::child_mpirun(2) + aptflow::test::aptflow_exe() + args + kAlign + " -o " +
                  aptflow::test::shell_quote(a2) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(aptflow::test::aptflow_exe() + args + " -o " + aptflow::test::shell_quote(plain) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // Reference: the turned ions, windows over their bounding box.
  const aptflow::Box box = aptflow::cloud_bounds(Exec(), turned);
  const aptflow::WindowGrid grid = aptflow::WindowGrid::over(box, 1.0, 1.0);
  const aptflow::SdmSpec spec = aptflow::SdmSpec::z();
  const aptflow::CellGrid cg = aptflow::make_cell_grid(box, spec.r_cut);
  const auto ws = aptflow::WindowSpec::feal(1.0);
  const std::int64_t n = grid.size();
  const auto info = io::read_feature_info(a1);
  ASSERT_EQ(info.layout.samples, n);
  for (int a = 0; a < 3; ++a) EXPECT_EQ(info.layout.window_grid.origin[a], grid.origin[a]);
  for (const auto& [sa, sb, name] : {std::tuple{"Al", "Al", "Al-Al"}, std::tuple{"Li", "Al", "Li-Al"}}) {
    SCOPED_TRACE(name);
    const auto cells =
        aptflow::build_sdm_cells(Exec(), turned, cg, table.species_of(sa), table.species_of(sb));
    Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace> ref("ref", n, spec.size());
    Kokkos::View<std::int64_t*, Kokkos::HostSpace> cnt("cnt", n);
    aptflow::compute_window_sdms(Exec(), cells, grid, ws, spec, 0, n, ref, cnt);
    const auto got = io::read_features(a1, "z", name);
    ASSERT_EQ(got.size(), static_cast<std::size_t>(n * spec.size()));
    std::int64_t mismatches = 0, total = 0;
    for (std::int64_t w = 0; w < n; ++w)
      for (std::int64_t k = 0; k < spec.size(); ++k) {
        mismatches += got[static_cast<std::size_t>(w * spec.size() + k)] != float(ref(w, k));
        total += ref(w, k);
      }
    EXPECT_EQ(mismatches, 0);
    EXPECT_GT(total, 1000);
    // np 1 and np 2: the same bytes.
    const auto got2 = io::read_features(a2, "z", name);
    ASSERT_EQ(got2.size(), got.size());
    EXPECT_EQ(std::memcmp(got.data(), got2.data(), got.size() * sizeof(float)), 0);
    const auto c1 = read_all<std::int64_t>(a1, std::string("windows/centre_ions/") + name);
    EXPECT_EQ(c1, read_all<std::int64_t>(a2, std::string("windows/centre_ions/") + name));
    for (std::int64_t w = 0; w < n; ++w) ASSERT_EQ(c1[static_cast<std::size_t>(w)], cnt(w));
    // The ions as read give other windows (the comparison is not vacuous).
    const auto p = io::read_features(plain, "z", name);
    EXPECT_TRUE(p.size() != got.size() || std::memcmp(p.data(), got.data(), got.size() * sizeof(float)) != 0);
  }
  EXPECT_EQ(read_all<float>(a1, "windows/centre"), read_all<float>(a2, "windows/centre"));
  expect_recorded(a1, a2, plain, "/alignment", rot);

  // Whole dataset (--windows none): the alignment is recorded there too.
  const auto whole = (dir / "whole.h5").string();
  r = run_command(aptflow::test::aptflow_exe() + " sdm -i " + aptflow::test::shell_quote(files.pos) + " -r " +
                  aptflow::test::shell_quote(files.rrng) + " --pair Al-Al -w none " + kAlign + " -o " +
                  aptflow::test::shell_quote(whole) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_alignment(whole, "/alignment", rot);

  // Bad values: exit 2 naming the key, nothing written.
  const auto bad = (dir / "bad.h5").string();
  expect_sets_rejected(aptflow::test::aptflow_exe() + args, bad,
                       {{"transform.align=sideways", "transform.align"},
                        {"'transform.align=[60.0, 0.0]'", "transform.align"}});
  expect_rejected(aptflow::test::aptflow_exe() + args + kAlign + " --set transform.cone=20 -o " +
                      aptflow::test::shell_quote(bad) + " 2>&1",
                  bad, "transform.cone");
}

TEST(AlignVerbs, VoxelizeCountsAreThoseOfTheTurnedIons) {
  TempDir dir;
  const auto files = tilted_specimen(dir);
  const auto table = aptflow::read_range_file(files.rrng);
  const HostIonCloud as_read = ranged(files.pos, table);
  const auto rot = expected_rotation(as_read);
  const HostIonCloud turned = turned_copy(as_read, rot);
  const int types = static_cast<int>(table.num_types());

  const std::string args = " voxelize -i " + aptflow::test::shell_quote(files.pos) + " -r " +
                           aptflow::test::shell_quote(files.rrng) + " --edge 0.8 " + kAlign + " -o ";
  const auto g1 = (dir / "g1.h5").string(), g2 = (dir / "g2.h5").string(),
             plain = (dir / "plain.h5").string();
  auto r = run_command(aptflow::test::aptflow_exe() + args + aptflow::test::shell_quote(g1) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("align (fixed)"), std::string::npos) << r.output;
  r = run_command(aptflow::test::child_mpirun(2) + aptflow::test::aptflow_exe() + args +
                  aptflow::test::shell_quote(g2) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(aptflow::test::aptflow_exe() + " voxelize -i " + aptflow::test::shell_quote(files.pos) +
                  " -r " + aptflow::test::shell_quote(files.rrng) + " --edge 0.8 -o " +
                  aptflow::test::shell_quote(plain) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const auto ref = aptflow::voxelize_composition(Exec(), turned, aptflow::CompositionSpec{0.8, types});
  const auto& g = ref.geometry;
  const auto c1 = read_all<std::int64_t>(g1, "/voxels/counts");
  const auto c2 = read_all<std::int64_t>(g2, "/voxels/counts");
  const auto cp = read_all<std::int64_t>(plain, "/voxels/counts");
  ASSERT_EQ(c1.size(), ref.counts.size());
  std::int64_t mismatches = 0;
  for (std::size_t k = 0; k < c1.size(); ++k) mismatches += c1[k] != ref.counts.data()[k];
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(c1, c2);  // np 1 and np 2
  EXPECT_NE(c1, cp);  // the ions as read fill another grid
  const auto origin = read_all<double>(g1, "/voxels/origin");
  for (int a = 0; a < 3; ++a) EXPECT_EQ(origin[static_cast<std::size_t>(a)], g.origin[a]);
  EXPECT_EQ(read_all<double>(g2, "/voxels/origin"), origin);
  // Totals per channel (unranged + each ion type): unchanged by the rotation.
  const std::size_t ch = static_cast<std::size_t>(g.channels);
  std::vector<std::int64_t> t1(ch, 0), tp(ch, 0);
  for (std::size_t k = 0; k < c1.size(); ++k) t1[k % ch] += c1[k];
  for (std::size_t k = 0; k < cp.size(); ++k) tp[k % ch] += cp[k];
  EXPECT_EQ(t1, tp);
  std::int64_t total = 0;
  for (auto v : t1) total += v;
  EXPECT_EQ(total, as_read.size());
  expect_recorded(g1, g2, plain, "/voxels/alignment", rot);

  const auto bad = (dir / "bad.h5").string();
  const std::string base = aptflow::test::aptflow_exe() + " voxelize -i " +
                           aptflow::test::shell_quote(files.pos) + " -r " +
                           aptflow::test::shell_quote(files.rrng) + " ";
  expect_sets_rejected(base, bad,
                       {{"transform.align=sideways", "transform.align"},
                        {"'transform.align=[5.0]'", "transform.align"},
                        {"windows.edge=2", "windows.edge"}});
  expect_rejected(aptflow::test::child_mpirun(2) + base + "--set transform.align=sideways -o " +
                      aptflow::test::shell_quote(bad) + " 2>&1",
                  bad, "transform.align");
}

TEST(AlignVerbs, ClusterDomainsAndCentroidsInInputCoordinates) {
  TempDir dir;
  const auto files = tilted_specimen(dir);
  const auto table = aptflow::read_range_file(files.rrng);
  const auto rot = expected_rotation(ranged(files.pos, table));

  const std::string args = " cluster " + aptflow::test::shell_quote(files.pos) + " --range " +
                           aptflow::test::shell_quote(files.rrng) +
                           " --species Li,Mg --eps 0.5 --min-samples 4 --json ";
  const auto a1 = (dir / "a1.h5").string(), a2 = (dir / "a2.h5").string(),
             plain = (dir / "plain.h5").string();
  auto r = run_command(aptflow::test::aptflow_exe() + args + kAlign + " -o " +
                       aptflow::test::shell_quote(a1) + " 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j.at("alignment").at("mode"), "fixed");
  EXPECT_NEAR(j.at("alignment").at("tilt_deg").get<double>(), kTilt, 1e-9);
  r = run_command(aptflow::test::child_mpirun(2) + aptflow::test::aptflow_exe() + args + kAlign + " -o " +
                  aptflow::test::shell_quote(a2) + " 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(aptflow::test::aptflow_exe() + args + " -o " + aptflow::test::shell_quote(plain) +
                  " 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(nlohmann::json::parse(r.output).contains("alignment"));

  // DBSCAN does not see a rotation: the same domains, per ion in input order.
  const auto d1 = read_all<std::int64_t>(a1, "/entry1/ions/domain_id");
  EXPECT_EQ(d1, read_all<std::int64_t>(plain, "/entry1/ions/domain_id"));
  EXPECT_EQ(d1, read_all<std::int64_t>(a2, "/entry1/ions/domain_id"));
  EXPECT_EQ(read_all<float>(a1, "/entry1/ions/position"), read_all<float>(plain, "/entry1/ions/position"));
  const auto n1 = read_all<std::int64_t>(a1, "/entry1/domains/ions");
  EXPECT_EQ(n1, read_all<std::int64_t>(plain, "/entry1/domains/ions"));
  ASSERT_GE(n1.size(), 2u);
  // Centroids in input coordinates: those of the unaligned run.
  const auto ca = read_all<double>(a1, "/entry1/domains/centroid"),
             cp = read_all<double>(plain, "/entry1/domains/centroid"),
             c2 = read_all<double>(a2, "/entry1/domains/centroid");
  ASSERT_EQ(ca.size(), cp.size());
  ASSERT_EQ(ca.size(), c2.size());
  double moved = 0;  // where the aligned frame would have put them
  for (std::size_t k = 0; k < ca.size(); ++k) {
    EXPECT_NEAR(ca[k], cp[k], 1e-3) << k;
    EXPECT_NEAR(c2[k], cp[k], 1e-3) << k;
  }
  for (std::size_t k = 0; k + 2 < cp.size(); k += 3) {
    double x = cp[k], y = cp[k + 1], z = cp[k + 2];
    rot.apply(x, y, z);
    moved = std::max({moved, std::abs(x - cp[k]), std::abs(y - cp[k + 1]), std::abs(z - cp[k + 2])});
  }
  EXPECT_GT(moved, 1e-2);  // the check above would see centroids left in the aligned frame
  expect_recorded(a1, a2, plain, "/entry1/alignment", rot);

  const auto bad = (dir / "bad.h5").string();
  const std::string base = aptflow::test::aptflow_exe() + " cluster " +
                           aptflow::test::shell_quote(files.pos) + " --range " +
                           aptflow::test::shell_quote(files.rrng) + " ";
  expect_sets_rejected(base, bad,
                       {{"transform.align=sideways", "transform.align"},
                        {"'transform.align=[5.0, 1.0, 2.0]'", "transform.align"},
                        {"roi.box=[0,0,0,1,1,1]", "roi.box"}});
}
