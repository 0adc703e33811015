// Segmentation (method.md section 6): hand-made sub-cell, ion-label, DBSCAN,
// histogram and control cases; the whole host pipeline and DBSCAN on random
// clouds with dense blobs against tests/python/segment_ref.py; z slabs with
// halos simulated in one process (1, 2, 4, 7 slabs) against the serial result;
// the interpolated rule (smoothing, trilinear labels, local composition)
// against segment_ref.py interpolate, on layer pieces, and hand-made cases.
#include <fenv.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/kernels/composition.hpp"
#include "aptflow/pipeline/segment.hpp"
#include "test_util.hpp"

using namespace aptflow;

namespace {
using Exec = Kokkos::DefaultHostExecutionSpace;
using Mat = Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace>;
using Sums = Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace>;
using Labels = Kokkos::View<std::int32_t*, Kokkos::HostSpace>;
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

std::string reference_script() {
  auto p = test::source_dir() / "tests" / "python" / "segment_ref.py";
  return p.string();
}

#define REQUIRE_SCIPY()                                                 \
  do {                                                                  \
    if (!aptflow::test::python_has("numpy, scipy.spatial"))             \
      GTEST_SKIP() << test::python_exe()                                \
                   << " with numpy and scipy is missing: skipping the " \
                      "Python reference comparison";                    \
  } while (0)

template <class T>
void write_raw(const std::filesystem::path& p, const T* data, std::size_t n) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n * sizeof(T)));
}

template <class T>
std::vector<T> read_raw(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(f.good()) << "reading " << p;
  const auto bytes = static_cast<std::size_t>(f.tellg());
  std::vector<T> v(bytes / sizeof(T));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  return v;
}

void run_reference(const std::string& mode, const test::TempDir& dir) {
  auto r = test::run_command(test::python_exe() + " " + reference_script() + " " + mode + " " +
                             dir.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

WindowGrid make_grid(double ox, double oy, double oz, std::int64_t nx, std::int64_t ny, std::int64_t nz,
                     double edge = 1.0, double stride = 0.5) {
  WindowGrid g;
  g.origin[0] = ox;
  g.origin[1] = oy;
  g.origin[2] = oz;
  g.edge = edge;
  g.stride = stride;
  g.counts[0] = nx;
  g.counts[1] = ny;
  g.counts[2] = nz;
  return g;
}

Labels threshold(const Sums& sums, const std::vector<double>& t) {
  Kokkos::View<double*, Kokkos::HostSpace> tv("test.thresholds", t.size());
  for (std::size_t c = 0; c < t.size(); ++c) tv(c) = t[c];
  Labels lab("test.sublabel", sums.extent(0));
  threshold_subcells(Exec(), sums, tv, lab);
  return lab;
}

void expect_stats_equal_bits(const std::vector<DomainStats>& a, const std::vector<DomainStats>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t d = 0; d < a.size(); ++d) {
    EXPECT_EQ(a[d].id, b[d].id);
    EXPECT_EQ(a[d].name, b[d].name);
    EXPECT_EQ(a[d].cls, b[d].cls);
    EXPECT_EQ(a[d].ions, b[d].ions);
    EXPECT_EQ(a[d].core_ions, b[d].core_ions);
    EXPECT_EQ(0, std::memcmp(a[d].centroid, b[d].centroid, sizeof(a[d].centroid))) << "domain " << d;
    EXPECT_EQ(0, std::memcmp(a[d].gyration, b[d].gyration, sizeof(a[d].gyration))) << "domain " << d;
    EXPECT_EQ(0, std::memcmp(a[d].axes, b[d].axes, sizeof(a[d].axes))) << "domain " << d;
    EXPECT_EQ(a[d].rg, b[d].rg);
    EXPECT_EQ(a[d].volume, b[d].volume);
  }
}

void expect_stats_match_reference(const std::vector<DomainStats>& got, const nlohmann::json& ref,
                                  const DomainSpec& spec) {
  ASSERT_EQ(got.size(), ref.size());
  for (std::size_t d = 0; d < got.size(); ++d) {
    const auto& r = ref[d];
    const auto& s = got[d];
    EXPECT_EQ(s.id, r["id"].get<std::int64_t>());
    EXPECT_EQ(s.name, r["name"].get<std::int64_t>());
    EXPECT_EQ(s.cls, r["cls"].get<int>());
    EXPECT_EQ(s.ions, r["ions"].get<std::int64_t>());
    EXPECT_EQ(s.core_ions, r["core_ions"].get<std::int64_t>());
    EXPECT_NEAR(s.volume, r["volume"].get<double>(), 1e-12 * s.volume);
    EXPECT_NEAR(s.radius, r["radius"].get<double>(), 1e-12);
    EXPECT_NEAR(s.volume, double(s.ions) / (spec.atomic_density * spec.detection_efficiency), 1e-12);
    for (int a = 0; a < 3; ++a) {
      EXPECT_NEAR(s.centroid[a], r["centroid"][a].get<double>(), 2e-6);
      EXPECT_NEAR(s.gyration[a], r["gyration"][a].get<double>(), 2e-6);
    }
    EXPECT_NEAR(s.rg, r["rg"].get<double>(), 2e-6);
    // Axes up to sign, where the eigenvalue is well separated.
    for (int k = 0; k < 3; ++k) {
      const double gap = std::min(k > 0 ? s.gyration[k - 1] - s.gyration[k] : kInf,
                                  k < 2 ? s.gyration[k] - s.gyration[k + 1] : kInf);
      if (gap < 1e-3) continue;
      double dot = 0;
      for (int a = 0; a < 3; ++a) dot += s.axes[k][a] * r["axes"][k][a].get<double>();
      EXPECT_NEAR(std::abs(dot), 1.0, 1e-5) << "domain " << d << " axis " << k;
    }
  }
}

// Random labelled ions: sparse background plus dense Gaussian blobs, two
// classes, gids a random permutation (not the input order).
LabelledIons blob_ions(std::uint64_t seed, double lx, double ly, double lz, double background, int blobs,
                       int per_blob) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> gauss(0, 0.45);
  LabelledIons ions;
  const auto nbg = static_cast<std::int64_t>(background * lx * ly * lz);
  for (std::int64_t i = 0; i < nbg; ++i)
    ions.push_back(float(u(rng) * lx), float(u(rng) * ly), float(u(rng) * lz), 0, int(u(rng) * 2));
  for (int b = 0; b < blobs; ++b) {
    const double cx = u(rng) * lx, cy = u(rng) * ly, cz = u(rng) * lz;
    const int cls = b % 2;
    for (int k = 0; k < per_blob; ++k)
      ions.push_back(float(cx + gauss(rng)), float(cy + gauss(rng)), float(cz + gauss(rng)), 0, cls);
  }
  std::vector<std::int64_t> perm(ions.size());
  std::iota(perm.begin(), perm.end(), std::int64_t(1000));
  std::shuffle(perm.begin(), perm.end(), rng);
  ions.gid = perm;
  return ions;
}

// The slab part of ions: z in [lo - halo, hi + halo).
LabelledIons slab_part(const LabelledIons& all, const Slab& s) {
  LabelledIons p;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (double(all.z[i]) >= s.z_lo - s.halo && double(all.z[i]) < s.z_hi + s.halo)
      p.push_back(all.x[i], all.y[i], all.z[i], all.gid[i], all.cls[i]);
  return p;
}

struct Simulated {
  std::map<std::int64_t, std::int64_t> domain_of_gid;  // owned ions
  std::map<std::int64_t, std::uint8_t> core_of_gid;
  std::vector<DomainStats> stats;
};

// Ranks simulated in one process: the phases of SlabDbscan with the
// allgathers done by concatenation (in reverse rank order, to show that the
// order does not matter).
Simulated simulate_slabs(const LabelledIons& all, int ranks, const DomainSpec& spec, double z0, double z1) {
  const double halo = 2 * spec.eps + 0.01;
  std::vector<Slab> slabs(ranks);
  std::vector<LabelledIons> parts(ranks);
  for (int r = 0; r < ranks; ++r) {
    slabs[r].z_lo = r == 0 ? -kInf : z0 + (z1 - z0) * r / ranks;
    slabs[r].z_hi = r == ranks - 1 ? kInf : z0 + (z1 - z0) * (r + 1) / ranks;
    slabs[r].halo = ranks > 1 ? halo : 0;
    parts[r] = slab_part(all, slabs[r]);
  }
  std::vector<std::unique_ptr<SlabDbscan>> sd;
  for (int r = 0; r < ranks; ++r) sd.push_back(std::make_unique<SlabDbscan>(parts[r], slabs[r], spec));
  std::vector<LabelPair> pairs;
  for (int r = ranks - 1; r >= 0; --r)
    pairs.insert(pairs.end(), sd[r]->boundary_pairs().begin(), sd[r]->boundary_pairs().end());
  std::vector<DomainRoot> roots;
  for (int r = ranks - 1; r >= 0; --r) {
    const auto mine = sd[r]->resolve(pairs);
    roots.insert(roots.end(), mine.begin(), mine.end());
  }
  Simulated out;
  DomainMoments sum;
  for (int r = 0; r < ranks; ++r) {
    sd[r]->number(roots);
    const auto m = sd[r]->moments();
    if (r == 0)
      sum = m;
    else
      sum += m;
    for (std::size_t i = 0; i < parts[r].size(); ++i)
      if (slabs[r].owns(parts[r].z[i])) {
        EXPECT_EQ(out.domain_of_gid.count(parts[r].gid[i]), 0u);
        out.domain_of_gid[parts[r].gid[i]] = sd[r]->domain()[i];
        out.core_of_gid[parts[r].gid[i]] = sd[r]->core()[i];
      }
  }
  out.stats = domain_stats(sum, roots, spec);
  return out;
}

}  // namespace

// ------------------------------------------------------------------ sub-cells

TEST(SegmentSubcells, GeometryAndHandMadeSums) {
  const auto g = make_grid(1.0, -2.0, 0.5, 3, 2, 2);
  const auto sg = SubcellGrid::of(g);
  EXPECT_EQ(sg.span, 2);
  EXPECT_EQ(sg.counts[0], 4);
  EXPECT_EQ(sg.counts[1], 3);
  EXPECT_EQ(sg.counts[2], 3);
  EXPECT_DOUBLE_EQ(sg.centre(0, 0), 1.25);
  EXPECT_DOUBLE_EQ(sg.centre(1, 2), -0.75);
  EXPECT_DOUBLE_EQ(sg.centre(2, 1), 1.25);
  // Class 0: probability 1 everywhere, class 1: 0.5, class 2: 0.125 * (w % 8);
  // window (ix 0, iy 0, iz 0) is empty (NaN).
  Mat prob("test.prob", g.size(), 3);
  for (std::int64_t w = 0; w < g.size(); ++w) {
    prob(w, 0) = 1.0f;
    prob(w, 1) = 0.5f;
    prob(w, 2) = 0.125f * float(w % 8);
  }
  const std::int64_t empty = g.index(0, 0, 0);
  for (int c = 0; c < 3; ++c) prob(empty, c) = kNaN;
  Sums sums("test.sums", sg.cells(), 3);
  sum_subcell_probabilities(Exec(), g, prob, sums);
  for (std::int64_t jz = 0; jz < 3; ++jz)
    for (std::int64_t jy = 0; jy < 3; ++jy)
      for (std::int64_t jx = 0; jx < 4; ++jx) {
        // Covering windows per axis: i in {j - 1, j} inside [0, n).
        auto n_cover = [](std::int64_t j, std::int64_t n) { return int(j - 1 >= 0) + int(j <= n - 1); };
        const bool hits_empty = jx <= 1 && jy <= 1 && jz <= 1;
        const double count = n_cover(jx, 3) * n_cover(jy, 2) * n_cover(jz, 2) - (hits_empty ? 1 : 0);
        const std::int64_t s = sg.index(jx, jy, jz);
        EXPECT_DOUBLE_EQ(sums(s, 0), count) << jx << " " << jy << " " << jz;
        EXPECT_DOUBLE_EQ(sums(s, 1), 0.5 * count);
      }
  // Sub-cell (1, 1, 1): windows ix 0..1, iy 0..1, iz 0..1 = w 0, 1, 3, 4, 6, 7, 9, 10
  // minus the empty w 0: class 2 sums (1 + 3 + 4 + 6 + 7 + 1 + 2) / 8.
  EXPECT_DOUBLE_EQ(sums(sg.index(1, 1, 1), 2), 24.0 / 8.0);
  // Interior sub-cells (jx 1..2, jy 1, jz 1) have 8 windows, (1, 1, 1) includes the empty one: 7 and 8.
  EXPECT_DOUBLE_EQ(sums(sg.index(1, 1, 1), 0), 7.0);
  EXPECT_DOUBLE_EQ(sums(sg.index(2, 1, 1), 0), 8.0);

  // Thresholds: strict >; the passing class with the larger sum wins.
  auto lab = threshold(sums, {4.0, 3.75, kInf});
  for (std::int64_t s = 0; s < sg.cells(); ++s) {
    const int want = sums(s, 0) > 4.0 ? 0 : (sums(s, 1) > 3.75 ? 1 : -1);
    EXPECT_EQ(lab(s), want) << s;
  }
  EXPECT_EQ(lab(sg.index(2, 1, 1)), 0);
  EXPECT_EQ(lab(sg.index(2, 0, 1)), -1);  // 4 windows: sum exactly 4.0 does not pass
  lab = threshold(sums, {kInf, 3.75, kInf});
  EXPECT_EQ(lab(sg.index(2, 1, 1)), 1);   // 0.5 * 8 = 4.0 > 3.75
  EXPECT_EQ(lab(sg.index(1, 1, 1)), -1);  // 3.5
  lab = threshold(sums, {kInf, 2.0, 2.0});
  EXPECT_EQ(lab(sg.index(1, 1, 1)), 1);  // both pass: 3.5 > 3.0
  lab = threshold(sums, {kInf, 3.6, 2.0});
  EXPECT_EQ(lab(sg.index(1, 1, 1)), 2);  // only class 2 passes
}

TEST(SegmentSubcells, SpanOneCopiesAndBadStride) {
  const auto g = make_grid(0, 0, 0, 4, 3, 2, 0.5, 0.5);
  const auto sg = SubcellGrid::of(g);
  EXPECT_EQ(sg.span, 1);
  EXPECT_EQ(sg.cells(), g.size());
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0, 1);
  Mat prob("test.prob", g.size(), 2);
  for (std::int64_t w = 0; w < g.size(); ++w)
    for (int c = 0; c < 2; ++c) prob(w, c) = u(rng);
  Sums sums("test.sums", sg.cells(), 2);
  sum_subcell_probabilities(Exec(), g, prob, sums);
  for (std::int64_t w = 0; w < g.size(); ++w)
    for (int c = 0; c < 2; ++c) EXPECT_EQ(sums(w, c), double(prob(w, c)));
  EXPECT_THROW(SubcellGrid::of(make_grid(0, 0, 0, 2, 2, 2, 1.0, 0.3)), ConfigError);
  const auto empty = SubcellGrid::of(make_grid(0, 0, 0, 0, 2, 2));
  EXPECT_EQ(empty.cells(), 0);
}

TEST(SegmentIonLabels, HandMadeDistancesAndPriorities) {
  // 3 x 1 x 1 windows at origin 0: sub-cells 4 x 2 x 2, centres 0.25 + 0.5 j.
  const auto g = make_grid(0, 0, 0, 3, 1, 1);
  const auto sg = SubcellGrid::of(g);
  Sums sums("test.sums", sg.cells(), 2);
  Labels lab("test.sublabel", sg.cells());
  for (std::int64_t s = 0; s < sg.cells(); ++s) lab(s) = -1;
  // Sub-cell (1, 0, 0) centre (0.75, 0.25, 0.25): class 0, sum 4.5.
  // Sub-cell (2, 0, 0) centre (1.25, 0.25, 0.25): class 1, sum 5.0.
  // Sub-cell (3, 1, 1) centre (1.75, 0.75, 0.75): class 0, sum 5.0.
  lab(sg.index(1, 0, 0)) = 0;
  sums(sg.index(1, 0, 0), 0) = 4.5;
  lab(sg.index(2, 0, 0)) = 1;
  sums(sg.index(2, 0, 0), 1) = 5.0;
  lab(sg.index(3, 1, 1)) = 0;
  sums(sg.index(3, 1, 1), 0) = 5.0;
  HostIonCloud cloud(7, "test.ions");
  const float pts[7][3] = {
      {0.75f - 0.35f, 0.25f, 0.25f},  // 0.35 from (1,0,0) only: class 0
      {0.75f - 0.36f, 0.25f, 0.25f},  // 0.36: none
      {1.0f, 0.25f, 0.25f},           // 0.25 from both: class 1 (5.0 > 4.5)
      {1.5f, 0.5f, 0.5f},             // 0.433 from (2,0,0) and (3,1,1): none (radius 0.3535)
      {1.5f, 0.5f, 0.6f},             // (3,1,1): d2 = 0.0625*2 + 0.0225 = 0.1475 > 0.125: none
      {1.55f, 0.6f, 0.6f},            // (3,1,1): d2 = 0.04 + 0.0225 * 2 = 0.085: class 0
      {-5.0f, 0.25f, 0.25f},          // outside the grid: none
  };
  for (int i = 0; i < 7; ++i) {
    cloud.x(i) = pts[i][0];
    cloud.y(i) = pts[i][1];
    cloud.z(i) = pts[i][2];
  }
  Labels il("test.ionlabel", 7);
  label_ions(Exec(), sg, cloud, sums, lab, 0.3535, il);
  const int want[7] = {0, -1, 1, -1, -1, 0, -1};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(il(i), want[i]) << "ion " << i;
  // Equal sums: the lower class wins.
  sums(sg.index(2, 0, 0), 1) = 4.5;
  label_ions(Exec(), sg, cloud, sums, lab, 0.3535, il);
  EXPECT_EQ(il(2), 0);
  EXPECT_THROW(label_ions(Exec(), sg, cloud, sums, lab, -1.0, il), ConfigError);
}

// ------------------------------------------------------------------ DBSCAN

TEST(SegmentDbscan, HandMadeBorderNoiseAndLowestId) {
  DomainSpec spec;
  spec.min_samples = 4;
  LabelledIons ions;
  // Cluster A (gids 10..13) near x = 0, cluster B (gids 1..4) near x = 0.78:
  // four mutually close ions each, all core. P (gid 0) at x = 0.39 reaches
  // one ion of each: 3 neighbours with itself < 4, a border ion of both; it
  // joins B, whose name (1) is smaller: domain 0.
  ions.push_back(0.0f, 0, 0, 10, 0);
  ions.push_back(-0.1f, 0, 0, 11, 0);
  ions.push_back(-0.05f, 0.08f, 0, 12, 0);
  ions.push_back(-0.05f, -0.08f, 0, 13, 0);
  ions.push_back(0.78f, 0, 0, 1, 0);
  ions.push_back(0.88f, 0, 0, 2, 0);
  ions.push_back(0.83f, 0.08f, 0, 3, 0);
  ions.push_back(0.83f, -0.08f, 0, 4, 0);
  ions.push_back(0.39f, 0, 0, 0, 0);
  ions.push_back(5.0f, 5.0f, 5.0f, 20, 0);  // isolated: noise
  ions.push_back(0.39f, 0, 0, 21, 1);       // other class at P: isolated in its class
  const auto r = find_domains(ions, spec);
  const std::int64_t want[11] = {1, 1, 1, 1, 0, 0, 0, 0, 0, -1, -1};
  const std::uint8_t core[11] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
  for (int i = 0; i < 11; ++i) {
    EXPECT_EQ(r.domain[i], want[i]) << "ion " << i;
    EXPECT_EQ(r.core[i], core[i]) << "ion " << i;
  }
  ASSERT_EQ(r.domains.size(), 2u);
  EXPECT_EQ(r.domains[0].name, 1);
  EXPECT_EQ(r.domains[0].ions, 5);
  EXPECT_EQ(r.domains[0].core_ions, 4);
  EXPECT_EQ(r.domains[1].name, 10);
  EXPECT_EQ(r.domains[1].ions, 4);
  // Centroid of B + P, exact within the 2^-20 nm quantum.
  EXPECT_NEAR(r.domains[0].centroid[0], (0.78 + 0.88 + 0.83 + 0.83 + 0.39) / 5, 1e-6);

  // A chain at spacing 0.39 nm with min_samples 3: ends are border ions.
  LabelledIons chain;
  for (int k = 0; k < 5; ++k) chain.push_back(0.39f * k, 0, 0, k, 0);
  spec.min_samples = 3;
  const auto c = find_domains(chain, spec);
  for (int k = 0; k < 5; ++k) {
    EXPECT_EQ(c.domain[k], 0);
    EXPECT_EQ(c.core[k], k >= 1 && k <= 3 ? 1 : 0);
  }
  // Spacing just over eps: all noise.
  LabelledIons apart;
  for (int k = 0; k < 5; ++k) apart.push_back(0.401f * k, 0, 0, k, 0);
  const auto a = find_domains(apart, spec);
  for (int k = 0; k < 5; ++k) EXPECT_EQ(a.domain[k], -1);
  EXPECT_TRUE(a.domains.empty());
}

TEST(SegmentDbscan, RandomBlobsMatchReferenceAndSlabs) {
  REQUIRE_SCIPY();
  const DomainSpec spec;
  const auto ions = blob_ions(77, 14, 12, 24, 2.5, 40, 60);
  const auto serial = find_domains(ions, spec);
  // Python reference.
  test::TempDir dir;
  const std::size_t n = ions.size();
  std::vector<float> pos(3 * n);
  for (std::size_t i = 0; i < n; ++i) {
    pos[3 * i] = ions.x[i];
    pos[3 * i + 1] = ions.y[i];
    pos[3 * i + 2] = ions.z[i];
  }
  write_raw(dir / "pos.f32", pos.data(), pos.size());
  write_raw(dir / "gid.i64", ions.gid.data(), n);
  write_raw(dir / "cls.i32", ions.cls.data(), n);
  nlohmann::json meta = {{"eps", spec.eps},
                         {"min_samples", spec.min_samples},
                         {"density", spec.atomic_density},
                         {"efficiency", spec.detection_efficiency}};
  std::ofstream(dir / "meta.json") << meta.dump();
  run_reference("dbscan", dir);
  const auto ref_dom = read_raw<std::int64_t>(dir / "ref_domain.i64");
  const auto ref_core = read_raw<std::uint8_t>(dir / "ref_core.u8");
  ASSERT_EQ(ref_dom.size(), n);
  std::int64_t mism = 0, noise = 0, border = 0;
  for (std::size_t i = 0; i < n; ++i) {
    mism += serial.domain[i] != ref_dom[i] || serial.core[i] != ref_core[i];
    noise += serial.domain[i] < 0;
    border += serial.domain[i] >= 0 && !serial.core[i];
  }
  EXPECT_EQ(mism, 0);
  // The case is not trivial: many domains, noise and border ions.
  EXPECT_GT(serial.domains.size(), 30u);
  EXPECT_GT(noise, 100);
  EXPECT_GT(border, 50);
  nlohmann::json ref;
  std::ifstream(dir / "ref_stats.json") >> ref;
  expect_stats_match_reference(serial.domains, ref["domains"], spec);

  // z slabs with halos: same domains per gid, same stats to the bit.
  for (int ranks : {1, 2, 4, 7, 40}) {  // 40: slabs (0.6 nm) thinner than the halo
    SCOPED_TRACE("slabs " + std::to_string(ranks));
    const auto sim = simulate_slabs(ions, ranks, spec, 0.0, 24.0);
    ASSERT_EQ(sim.domain_of_gid.size(), n);
    std::int64_t bad = 0;
    for (std::size_t i = 0; i < n; ++i)
      bad += sim.domain_of_gid.at(ions.gid[i]) != serial.domain[i] ||
             sim.core_of_gid.at(ions.gid[i]) != serial.core[i];
    EXPECT_EQ(bad, 0);
    expect_stats_equal_bits(sim.stats, serial.domains);
  }
}

TEST(SegmentDbscan, SlabHaloMustCoverTwoEps) {
  const DomainSpec spec;
  LabelledIons ions;
  ions.push_back(0, 0, 0, 0, 0);
  Slab s;
  s.z_lo = 0;
  s.z_hi = 1;
  s.halo = 0.7;
  EXPECT_THROW(SlabDbscan(ions, s, spec), ConfigError);
  s.halo = 0.81;
  EXPECT_NO_THROW(SlabDbscan(ions, s, spec));
  DomainSpec bad;
  bad.eps = 0;
  EXPECT_THROW(find_domains(ions, bad), ConfigError);
}

// ------------------------------------------------------------------ histogram, control

TEST(SegmentHistogram, BinsEdgesAndOverflow) {
  std::vector<DomainStats> d;
  for (std::int64_t n : {0, 4, 5, 3, 159, 160, 161, 80}) {
    DomainStats s;
    s.ions = n;
    d.push_back(s);
  }
  const auto h = domain_size_histogram(d, SizeHistogramSpec{});
  ASSERT_EQ(h.counts.size(), 32u);
  EXPECT_EQ(h.counts[0], 3);   // 0, 3, 4
  EXPECT_EQ(h.counts[1], 1);   // 5
  EXPECT_EQ(h.counts[16], 1);  // 80
  EXPECT_EQ(h.counts[31], 2);  // 159, 160 (last bin closed)
  EXPECT_EQ(h.overflow, 1);
  EXPECT_EQ(h.underflow, 0);
  std::int64_t total = 0;
  for (auto c : h.counts) total += c;
  EXPECT_EQ(total, 7);
  EXPECT_THROW(domain_size_histogram(d, SizeHistogramSpec{0, 0, 160}), ConfigError);
}

TEST(SegmentControl, HandMadeAndReference) {
  auto c = compare_histograms({10, 0}, {0, 10});
  EXPECT_NEAR(c.pearson_r, -1.0, 1e-15);
  EXPECT_NEAR(c.chi2, 20.0, 1e-12);
  EXPECT_EQ(c.dof, 1);
  EXPECT_NEAR(c.contingency, std::sqrt(0.5), 1e-15);
  c = compare_histograms({10, 20, 30, 0}, {5, 10, 15, 0});
  EXPECT_NEAR(c.pearson_r, 1.0, 1e-15);
  EXPECT_NEAR(c.chi2, 0.0, 1e-12);
  EXPECT_EQ(c.dof, 2);
  EXPECT_TRUE(std::isnan(compare_histograms({1, 1}, {1, 2}).pearson_r));
  REQUIRE_SCIPY();
  std::mt19937 rng(9);
  std::poisson_distribution<int> pa(6.0), pb(4.0);
  std::vector<double> a(32), b(32);
  for (int k = 0; k < 32; ++k) {
    a[k] = k % 7 == 3 ? 0 : pa(rng) * (1 + k % 3);
    b[k] = k % 7 == 3 ? 0 : pb(rng) * (1 + k % 4);
  }
  test::TempDir dir;
  write_raw(dir / "a.f64", a.data(), a.size());
  write_raw(dir / "b.f64", b.data(), b.size());
  std::ofstream(dir / "meta.json") << "{}";
  run_reference("control", dir);
  nlohmann::json ref;
  std::ifstream(dir / "ref_control.json") >> ref;
  c = compare_histograms(a, b);
  EXPECT_NEAR(c.pearson_r, ref["pearson_r"].get<double>(), 1e-12);
  EXPECT_NEAR(c.chi2, ref["chi2"].get<double>(), 1e-9 * c.chi2);
  EXPECT_EQ(c.dof, ref["dof"].get<int>());
  EXPECT_NEAR(c.contingency, ref["contingency"].get<double>(), 1e-12);
}

// ------------------------------------------------------------------ whole pipeline

TEST(SegmentPipeline, RandomWindowsAndIonsMatchReference) {
  REQUIRE_SCIPY();
  std::mt19937_64 rng(314);
  std::uniform_real_distribution<double> u(0, 1);
  Box box;
  for (int a = 0; a < 3; ++a) {
    box.lo[a] = -1.0f;
    box.hi[a] = 9.0f + a;
  }
  const auto g = WindowGrid::over(box, 1.0, 0.5);
  const auto sg = SubcellGrid::of(g);
  // Blob centres of classes 1 (B2) and 2 (D0_3); probabilities from a softmax
  // of distance scores plus noise; 4 % of the windows empty.
  struct Blob {
    double c[3];
    int cls;
  };
  std::vector<Blob> blobs;
  for (int b = 0; b < 10; ++b)
    blobs.push_back({{-1 + u(rng) * 10, -1 + u(rng) * 11, -1 + u(rng) * 12}, 1 + b % 2});
  Mat prob("test.prob", g.size(), 3);
  for (std::int64_t w = 0; w < g.size(); ++w) {
    std::int64_t ix, iy, iz;
    g.unravel(w, ix, iy, iz);
    double score[3] = {1.0 + u(rng), 0.5 * u(rng), 0.5 * u(rng)};
    for (const auto& b : blobs) {
      const double dx = g.centre(0, ix) - b.c[0], dy = g.centre(1, iy) - b.c[1],
                   dz = g.centre(2, iz) - b.c[2];
      score[b.cls] += 4.0 * std::exp(-(dx * dx + dy * dy + dz * dz) / 2.0);
    }
    const double m = std::max({score[0], score[1], score[2]});
    double e[3], s = 0;
    for (int c = 0; c < 3; ++c) s += e[c] = std::exp(2.0 * (score[c] - m));
    const bool empty = u(rng) < 0.04;
    for (int c = 0; c < 3; ++c) prob(w, c) = empty ? kNaN : float(e[c] / s);
  }
  // Ions: background 3 / nm^3 plus a dense Gaussian cluster at each blob.
  std::vector<float> pos;
  std::normal_distribution<double> gauss(0, 0.5);
  for (int i = 0; i < 3 * 10 * 11 * 12; ++i)
    for (int a = 0; a < 3; ++a) pos.push_back(float(box.lo[a] + u(rng) * (box.hi[a] - box.lo[a])));
  for (const auto& b : blobs)
    for (int k = 0; k < 150; ++k)
      for (int a = 0; a < 3; ++a) pos.push_back(float(b.c[a] + gauss(rng)));
  const std::int64_t n = static_cast<std::int64_t>(pos.size() / 3);
  HostIonCloud cloud(n, "test.ions");
  for (std::int64_t i = 0; i < n; ++i) {
    cloud.x(i) = pos[3 * i];
    cloud.y(i) = pos[3 * i + 1];
    cloud.z(i) = pos[3 * i + 2];
  }
  auto spec = SegmentSpec::feal();
  spec.validate(3);
  Sums sums("test.sums", sg.cells(), 3);
  sum_subcell_probabilities(Exec(), g, prob, sums);
  const auto lab = threshold(sums, spec.thresholds);
  Labels il("test.ionlabel", n);
  label_ions(Exec(), sg, cloud, sums, lab, spec.ion_radius, il);
  const auto labelled = collect_labelled_ions(cloud, il);
  const auto dom = find_domains(labelled, spec.domains);
  const auto hist = domain_size_histogram(dom.domains, spec.domains.histogram);

  test::TempDir dir;
  write_raw(dir / "prob.f32", prob.data(), prob.size());
  write_raw(dir / "ions.f32", pos.data(), pos.size());
  nlohmann::json meta = {{"counts", {g.counts[0], g.counts[1], g.counts[2]}},
                         {"span", sg.span},
                         {"classes", 3},
                         {"thresholds", {1e300, 4.0, 3.75}},
                         {"origin", {sg.origin[0], sg.origin[1], sg.origin[2]}},
                         {"size", sg.size},
                         {"radius", spec.ion_radius},
                         {"eps", spec.domains.eps},
                         {"min_samples", spec.domains.min_samples},
                         {"density", spec.domains.atomic_density},
                         {"efficiency", spec.domains.detection_efficiency},
                         {"bins", spec.domains.histogram.bins},
                         {"lo", spec.domains.histogram.lo},
                         {"hi", spec.domains.histogram.hi}};
  std::ofstream(dir / "meta.json") << meta.dump();
  run_reference("pipeline", dir);

  const auto ref_sums = read_raw<double>(dir / "ref_sums.f64");
  ASSERT_EQ(ref_sums.size(), sums.size());
  double worst = 0;
  for (std::size_t k = 0; k < ref_sums.size(); ++k)
    worst = std::max(worst, std::abs(ref_sums[k] - sums.data()[k]));
  EXPECT_LT(worst, 1e-12);
  const auto ref_lab = read_raw<std::int32_t>(dir / "ref_sublabel.i32");
  ASSERT_EQ(ref_lab.size(), lab.size());
  std::int64_t mism = 0, passing[3] = {0, 0, 0};
  for (std::size_t k = 0; k < ref_lab.size(); ++k) {
    mism += ref_lab[k] != lab(k);
    if (lab(k) >= 0) ++passing[lab(k)];
  }
  EXPECT_EQ(mism, 0);
  EXPECT_EQ(passing[0], 0);
  EXPECT_GT(passing[1], 50);
  EXPECT_GT(passing[2], 50);
  const auto ref_il = read_raw<std::int32_t>(dir / "ref_ionlabel.i32");
  ASSERT_EQ(ref_il.size(), std::size_t(n));
  mism = 0;
  for (std::int64_t i = 0; i < n; ++i) mism += ref_il[i] != il(i);
  EXPECT_EQ(mism, 0);
  EXPECT_GT(labelled.size(), 1000u);
  const auto ref_dom = read_raw<std::int64_t>(dir / "ref_domain.i64");
  std::vector<std::int64_t> per_ion(n, -1);
  for (std::size_t k = 0; k < labelled.size(); ++k) per_ion[labelled.gid[k]] = dom.domain[k];
  mism = 0;
  for (std::int64_t i = 0; i < n; ++i) mism += ref_dom[i] != per_ion[i];
  EXPECT_EQ(mism, 0);
  EXPECT_GE(dom.domains.size(), 5u);
  nlohmann::json ref;
  std::ifstream(dir / "ref_stats.json") >> ref;
  expect_stats_match_reference(dom.domains, ref["domains"], spec.domains);
  ASSERT_EQ(ref["histogram"].size(), hist.counts.size());
  for (std::size_t b = 0; b < hist.counts.size(); ++b)
    EXPECT_EQ(hist.counts[b], ref["histogram"][b].get<std::int64_t>());
  EXPECT_EQ(hist.overflow, ref["overflow"].get<std::int64_t>());
}

// ------------------------------------------------------------------ interpolated rule

namespace {

using Dbl = Kokkos::View<double*, Kokkos::HostSpace>;
using I32 = Kokkos::View<std::int32_t*, Kokkos::HostSpace>;

SubcellGrid interp_grid() {
  SubcellGrid sg;
  sg.origin[0] = -1.3;
  sg.origin[1] = 0.7;
  sg.origin[2] = 2.1;
  sg.size = 0.5;
  sg.counts[0] = 9;
  sg.counts[1] = 7;
  sg.counts[2] = 11;
  return sg;
}

SubcellGrid hand_grid(std::int64_t mx, std::int64_t my, std::int64_t mz) {
  SubcellGrid sg;
  sg.size = 0.5;
  sg.counts[0] = mx;
  sg.counts[1] = my;
  sg.counts[2] = mz;
  return sg;
}

// The smoothed sums of the z layers [first, first + layers) of all.
Sums smooth_layers(const SubcellGrid& sg, const Sums& all, std::int64_t first, std::int64_t layers,
                   double sigma) {
  const std::int64_t plane = sg.counts[0] * sg.counts[1], nc = static_cast<std::int64_t>(all.extent(1));
  Sums in("test.smooth_in", layers * plane, nc), out("test.smooth_out", layers * plane, nc);
  for (std::int64_t s = 0; s < layers * plane; ++s)
    for (std::int64_t c = 0; c < nc; ++c) in(s, c) = all(first * plane + s, c);
  smooth_subcell_sums(Exec(), sg, first, layers, in, sigma, out);
  return out;
}

Dbl doubles(const std::vector<double>& v) {
  Dbl d("test.doubles", v.size());
  for (std::size_t k = 0; k < v.size(); ++k) d(k) = v[k];
  return d;
}

// Layer g of a grid of mz layers is exact when smoothed over the held layers
// [a, b) with reach T: its in-grid neighbourhood [g - T, g + T] is held.
// The test main traps FE_INVALID. Ordered comparisons of NaN positions in
// the cell list (bounds, cell coordinates, distances) raise the flag without
// making a NaN; local_composition on a cloud with NaN positions runs under this.
struct NoInvalidTrap {
  int old = fedisableexcept(FE_INVALID);
  NoInvalidTrap(const NoInvalidTrap&) = delete;
  NoInvalidTrap& operator=(const NoInvalidTrap&) = delete;
  NoInvalidTrap() = default;
  ~NoInvalidTrap() {
    feclearexcept(FE_INVALID);
    if (old & FE_INVALID) feenableexcept(FE_INVALID);
  }
};

bool exact_layer(std::int64_t g, std::int64_t a, std::int64_t b, int T, std::int64_t mz) {
  return std::max<std::int64_t>(0, g - T) >= a && std::min<std::int64_t>(mz - 1, g + T) < b;
}

}  // namespace

TEST(SegmentInterpolate, SmoothingMatchesReferenceAndLayerPieces) {
  REQUIRE_SCIPY();
  const auto sg = interp_grid();
  const std::int64_t plane = sg.counts[0] * sg.counts[1], mz = sg.counts[2];
  const int nc = 2;
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<double> u(0, 27);
  Sums sums("test.sums", sg.cells(), nc);
  for (std::int64_t s = 0; s < sg.cells(); ++s)
    for (int c = 0; c < nc; ++c) sums(s, c) = u(rng);
  const std::vector<double> sigmas = {0, 0.5 * sg.size, 1.0 * sg.size, 1.7 * sg.size};
  const int reach[4] = {0, 2, 3, 6};
  test::TempDir dir;
  write_raw(dir / "sums.f64", sums.data(), sums.size());
  nlohmann::json meta = {{"counts", {sg.counts[0], sg.counts[1], sg.counts[2]}},
                         {"classes", nc},
                         {"origin", {sg.origin[0], sg.origin[1], sg.origin[2]}},
                         {"size", sg.size},
                         {"sigmas", sigmas}};
  std::ofstream(dir / "meta.json") << meta.dump();
  run_reference("interpolate", dir);
  const std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> pieces = {
      {{0, 7}, {4, 11}}, {{0, 4}, {2, 9}, {6, 11}}, {{0, 11}}, {{5, 6}}};
  std::int64_t exact_total = 0, nan_total = 0;
  for (std::size_t k = 0; k < sigmas.size(); ++k) {
    SCOPED_TRACE("sigma " + std::to_string(sigmas[k]));
    const int T = smoothing_reach(sigmas[k], sg.size);
    EXPECT_EQ(T, reach[k]);
    const auto full = smooth_layers(sg, sums, 0, mz, sigmas[k]);
    const auto ref = read_raw<double>(dir / ("ref_smooth" + std::to_string(k) + ".f64"));
    ASSERT_EQ(ref.size(), full.size());
    double worst = 0, moved = 0;
    for (std::size_t q = 0; q < ref.size(); ++q) {
      worst = std::max(worst, std::abs(full.data()[q] - ref[q]) / std::abs(ref[q]));
      moved = std::max(moved, std::abs(full.data()[q] - sums.data()[q]));
    }
    EXPECT_LE(worst, 1e-12);
    if (T == 0)
      EXPECT_EQ(moved, 0.0);
    else
      EXPECT_GT(moved, 3.0);  // the smoothing did something
    // Pieces of z layers: exact layers bit-identical to the full grid, the others NaN.
    for (const auto& set : pieces)
      for (const auto& [a, b] : set) {
        const auto part = smooth_layers(sg, sums, a, b - a, sigmas[k]);
        std::int64_t bad = 0;
        for (std::int64_t g = a; g < b; ++g) {
          const bool exact = exact_layer(g, a, b, T, mz);
          (exact ? exact_total : nan_total) += 1;
          for (std::int64_t s = 0; s < plane; ++s)
            for (int c = 0; c < nc; ++c) {
              const double v = part((g - a) * plane + s, c), w = full(g * plane + s, c);
              bad += exact ? std::memcmp(&v, &w, sizeof v) != 0 : !std::isnan(v);
            }
        }
        EXPECT_EQ(bad, 0) << "layers [" << a << ", " << b << ")";
      }
  }
  EXPECT_GT(exact_total, 50);
  EXPECT_GT(nan_total, 30);
}

TEST(SegmentInterpolate, IonLabelsAndCompositionMatchReference) {
  REQUIRE_SCIPY();
  const auto sg = interp_grid();
  const std::int64_t mz = sg.counts[2];
  const int nc = 2;
  std::mt19937_64 rng(4242);
  std::uniform_real_distribution<double> u(0, 1);
  Sums sums("test.sums", sg.cells(), nc);
  for (std::int64_t s = 0; s < sg.cells(); ++s)
    for (int c = 0; c < nc; ++c) sums(s, c) = 27 * u(rng);
  const double sigma = sg.size;
  const auto field = smooth_layers(sg, sums, 0, mz, sigma);
  // Ions: uniform over the grid box grown by 0.5 nm (some outside), species
  // 0..3 (0 unranged), every 250th with a NaN coordinate.
  const std::int64_t n = 4000;
  HostIonCloud cloud(n, "test.ions");
  std::vector<float> pos(3 * n);
  std::int64_t beyond = 0, nans = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    bool out = false;
    for (int a = 0; a < 3; ++a) {
      const double lo = sg.origin[a] - 0.5, hi = sg.origin[a] + double(sg.counts[a]) * sg.size + 0.5;
      pos[3 * i + a] = float(lo + u(rng) * (hi - lo));
      out = out || pos[3 * i + a] < sg.origin[a] || pos[3 * i + a] > sg.origin[a] + sg.counts[a] * sg.size;
    }
    if (i % 250 == 17) {
      pos[3 * i + i % 3] = kNaN;
      ++nans;
    } else {
      beyond += out;
    }
    cloud.x(i) = pos[3 * i];
    cloud.y(i) = pos[3 * i + 1];
    cloud.z(i) = pos[3 * i + 2];
    cloud.species(i) = static_cast<Species>(rng() % 4);
  }
  EXPECT_GT(beyond, 500);
  // Composition: solute species 2, radius 1.2 nm.
  const double radius = 1.2, weight = 6.0, ion_weight = 1.5;
  Kokkos::View<std::uint8_t*, Kokkos::HostSpace> solute("test.solute", 4);
  solute(2) = 1;
  I32 ranged("test.ranged", n), near("test.near", n);
  {
    NoInvalidTrap guard;
    local_composition(Exec(), cloud, solute, radius, ranged, near);
  }
  std::int64_t tot = 0, sol = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    tot += cloud.species(i) != 0;
    sol += cloud.species(i) == 2;
  }
  const double f = double(sol) / double(tot);
  Dbl evidence("test.evidence", n);
  for (std::int64_t i = 0; i < n; ++i) {
    evidence(i) = cloud.species(i) == 2 ? ion_weight : 0.0;
    if (ranged(i) > 0) evidence(i) += weight * (double(near(i)) / double(ranged(i)) - f);
  }
  const std::vector<std::vector<double>> thresholds = {{kInf, 14.0}, {14.3, 13.9}};
  std::vector<I32> labels;
  for (const auto& t : thresholds) {
    labels.emplace_back("test.ionlabel", n);
    EXPECT_EQ(
        label_ions_interpolated(Exec(), sg, 0, mz, cloud, field, doubles(t), evidence, 1, labels.back()), 0);
  }

  test::TempDir dir;
  write_raw(dir / "sums.f64", sums.data(), sums.size());
  write_raw(dir / "ions.f32", pos.data(), pos.size());
  write_raw(dir / "species.u16", cloud.species.data(), static_cast<std::size_t>(n));
  nlohmann::json thr = nlohmann::json::array();
  for (const auto& t : thresholds) {
    nlohmann::json row = nlohmann::json::array();
    for (double v : t) row.push_back(std::isinf(v) ? 1e300 : v);
    thr.push_back(row);
  }
  nlohmann::json meta = {{"counts", {sg.counts[0], sg.counts[1], sg.counts[2]}},
                         {"classes", nc},
                         {"origin", {sg.origin[0], sg.origin[1], sg.origin[2]}},
                         {"size", sg.size},
                         {"sigmas", {sigma}},
                         {"ions", true},
                         {"solute", {2}},
                         {"radius", radius},
                         {"weight", weight},
                         {"ion_weight", ion_weight},
                         {"f", f},
                         {"evidence_class", 1},
                         {"label_field", 0},
                         {"thresholds", thr}};
  std::ofstream(dir / "meta.json") << meta.dump();
  run_reference("interpolate", dir);

  // Composition counts: exact.
  const auto ref_ranged = read_raw<std::int32_t>(dir / "ref_ranged.i32");
  const auto ref_solute = read_raw<std::int32_t>(dir / "ref_solute.i32");
  const auto ref_ev = read_raw<double>(dir / "ref_evidence.f64");
  ASSERT_EQ(ref_ranged.size(), std::size_t(n));
  ASSERT_EQ(ref_solute.size(), std::size_t(n));
  ASSERT_EQ(ref_ev.size(), std::size_t(n));
  std::int64_t mism = 0, zero_ranged = 0;
  double worst_ev = 0, lo_frac = 1, hi_frac = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    mism += ranged(i) != ref_ranged[i] || near(i) != ref_solute[i];
    worst_ev = std::max(worst_ev, std::abs(evidence(i) - ref_ev[i]));
    zero_ranged += ranged(i) == 0;
    if (ranged(i) > 0) {
      lo_frac = std::min(lo_frac, double(near(i)) / ranged(i));
      hi_frac = std::max(hi_frac, double(near(i)) / ranged(i));
    }
  }
  EXPECT_EQ(mism, 0);
  EXPECT_LT(worst_ev, 1e-12);
  EXPECT_EQ(zero_ranged, nans);  // only the NaN ions have no ranged ion near them
  EXPECT_LT(lo_frac, f - 0.05);  // the evidence varies from ion to ion
  EXPECT_GT(hi_frac, f + 0.05);

  // Labels: equal to the reference except where a score is within 1e-9 of a
  // threshold or of the other class's score.
  const auto ref_score = read_raw<double>(dir / "ref_score.f64");
  ASSERT_EQ(ref_score.size(), std::size_t(n * nc));
  for (std::size_t k = 0; k < thresholds.size(); ++k) {
    SCOPED_TRACE("thresholds " + std::to_string(k));
    const auto ref = read_raw<std::int32_t>(dir / ("ref_label" + std::to_string(k) + ".i32"));
    ASSERT_EQ(ref.size(), std::size_t(n));
    std::int64_t bad = 0, close = 0, per_class[2] = {0, 0}, none = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double s0 = ref_score[2 * i], s1 = ref_score[2 * i + 1];
      bool near_tie = false;
      for (int c = 0; c < nc; ++c)
        near_tie = near_tie || (std::isfinite(thresholds[k][c]) && !std::isnan(ref_score[2 * i + c]) &&
                                std::abs(ref_score[2 * i + c] - thresholds[k][c]) < 1e-9);
      if (!std::isnan(s0) && !std::isnan(s1) && std::abs(s0 - s1) < 1e-9) near_tie = true;
      if (near_tie) {
        ++close;
        continue;
      }
      bad += labels[k](i) != ref[i];
      if (labels[k](i) >= 0)
        ++per_class[labels[k](i)];
      else
        ++none;
      if (std::isnan(double(pos[3 * i])) || std::isnan(double(pos[3 * i + 1])) ||
          std::isnan(double(pos[3 * i + 2])))
        EXPECT_EQ(labels[k](i), -1);
    }
    EXPECT_EQ(bad, 0);
    EXPECT_LE(close, 2);
    EXPECT_GT(none, n / 10);
    EXPECT_GT(per_class[1], n / 10);
    if (k == 0)
      EXPECT_EQ(per_class[0], 0);
    else
      EXPECT_GT(per_class[0], n / 20);
  }

  // Layer pieces: an ion whose two z layers are not both exact in the piece
  // counts as outside (label -1); the others get the full grid's label.
  const auto zl = read_raw<std::int64_t>(dir / "ref_zlayers.i64");
  ASSERT_EQ(zl.size(), std::size_t(2 * n));
  const int T = smoothing_reach(sigma, sg.size);
  std::int64_t outside_total = 0;
  for (const auto& [a, b] :
       std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 7}, {3, 11}, {1, 11}, {0, 11}}) {
    SCOPED_TRACE("layers [" + std::to_string(a) + ", " + std::to_string(b) + ")");
    const auto part = smooth_layers(sg, sums, a, b - a, sigma);
    I32 lab("test.ionlabel_part", n);
    const auto outside =
        label_ions_interpolated(Exec(), sg, a, b - a, cloud, part, doubles(thresholds[1]), evidence, 1, lab);
    std::int64_t want = 0, bad = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (zl[2 * i] < 0) {  // NaN position: not counted
        bad += lab(i) != -1;
        continue;
      }
      bool held = true;
      for (int e = 0; e < 2; ++e)
        held = held && zl[2 * i + e] >= a && zl[2 * i + e] < b && exact_layer(zl[2 * i + e], a, b, T, mz);
      want += !held;
      bad += held ? lab(i) != labels[1](i) : lab(i) != -1;
    }
    EXPECT_EQ(outside, want);
    EXPECT_EQ(bad, 0);
    outside_total += outside;
    if (a == 0 && b == mz) EXPECT_EQ(outside, 0);
  }
  EXPECT_GT(outside_total, n / 2);
}

TEST(SegmentInterpolate, HandMadeConstantPointAndBorder) {
  // A constant field stays constant, at the borders too.
  {
    const auto sg = hand_grid(5, 4, 6);
    Sums sums("test.sums", sg.cells(), 2);
    for (std::int64_t s = 0; s < sg.cells(); ++s) {
      sums(s, 0) = 3.7;
      sums(s, 1) = 0.25;
    }
    for (double sigma : {0.3 * sg.size, 1.0 * sg.size, 1.7 * sg.size}) {
      const auto out = smooth_layers(sg, sums, 0, sg.counts[2], sigma);
      double worst = 0;
      for (std::int64_t s = 0; s < sg.cells(); ++s)
        worst = std::max({worst, std::abs(out(s, 0) - 3.7) / 3.7, std::abs(out(s, 1) - 0.25) / 0.25});
      EXPECT_LT(worst, 1e-14) << "sigma " << sigma;
    }
  }
  // One non-zero sub-cell (1, 1, 2) of class 1, no smoothing: its value at
  // its centre, half of it halfway to a neighbour, an eighth at the corner.
  const auto sg = hand_grid(4, 3, 5);
  Sums sums("test.sums", sg.cells(), 2);
  sums(sg.index(1, 1, 2), 1) = 8.0;
  const auto field = smooth_layers(sg, sums, 0, sg.counts[2], 0.0);
  for (std::int64_t s = 0; s < sg.cells(); ++s) EXPECT_EQ(field(s, 1), sums(s, 1));
  // label of a single ion at p with thresholds t and evidence e for class 1.
  auto label_at = [&](const Sums& fld, float x, float y, float z, std::vector<double> t, double e = 0) {
    HostIonCloud one(1, "test.one");
    one.x(0) = x;
    one.y(0) = y;
    one.z(0) = z;
    Dbl ev("test.ev", 1);
    ev(0) = e;
    I32 lab("test.lab", 1);
    EXPECT_EQ(label_ions_interpolated(Exec(), sg, 0, sg.counts[2], one, fld, doubles(t), ev, 1, lab), 0);
    return lab(0);
  };
  // value v exactly: passes v - 1e-12, not v (strict >).
  auto expect_value = [&](const Sums& fld, float x, float y, float z, int cls, double v) {
    std::vector<double> below = {kInf, kInf}, at = {kInf, kInf};
    below[cls] = v - 1e-12;
    at[cls] = v;
    EXPECT_EQ(label_at(fld, x, y, z, below), cls) << x << " " << y << " " << z << " want " << v;
    EXPECT_EQ(label_at(fld, x, y, z, at), -1) << x << " " << y << " " << z << " want " << v;
  };
  expect_value(field, 0.75f, 0.75f, 1.25f, 1, 8.0);   // centre
  expect_value(field, 1.0f, 0.75f, 1.25f, 1, 4.0);    // halfway to (2, 1, 2)
  expect_value(field, 0.75f, 0.75f, 1.5f, 1, 4.0);    // halfway to (1, 1, 3)
  expect_value(field, 0.75f, 0.5f, 1.25f, 1, 4.0);    // halfway to (1, 0, 2)
  expect_value(field, 1.0f, 1.0f, 1.5f, 1, 1.0);      // corner of 8 centres
  expect_value(field, 0.875f, 0.75f, 1.25f, 1, 6.0);  // a quarter of the way
  // Evidence is added to class 1 only.
  EXPECT_EQ(label_at(field, 0.75f, 0.75f, 1.25f, {kInf, 8.25}, 0.5), 1);
  EXPECT_EQ(label_at(field, 0.75f, 0.75f, 1.25f, {kInf, 8.25}, 0.2), -1);
  EXPECT_EQ(label_at(field, 0.75f, 0.75f, 1.25f, {-1.0, kInf}, 0.5), 0);  // class 0 has 0 > -1
  // Both pass: the larger score; equal scores: the lower class.
  EXPECT_EQ(label_at(field, 0.75f, 0.75f, 1.25f, {-1.0, 0.0}), 1);
  EXPECT_EQ(label_at(field, 0.75f, 0.75f, 1.25f, {-1.0, 0.0}, -8.0), 0);
  EXPECT_EQ(label_at(field, 0.75f, 0.75f, 1.25f, {-1.0, -1.0}, -8.0), 0);
  EXPECT_EQ(label_at(field, 0.75f, 0.75f, 1.25f, {-1.0, -1.0}, -7.5), 1);
  EXPECT_EQ(label_at(field, kNaN, 0.75f, 1.25f, {-1.0, -1.0}), -1);

  // A ramp jx + 10 jy + 100 jz in class 0: beyond the grid, the border value.
  Sums ramp("test.ramp", sg.cells(), 2);
  for (std::int64_t jz = 0; jz < sg.counts[2]; ++jz)
    for (std::int64_t jy = 0; jy < sg.counts[1]; ++jy)
      for (std::int64_t jx = 0; jx < sg.counts[0]; ++jx)
        ramp(sg.index(jx, jy, jz), 0) = jx + 10 * jy + 100 * jz;
  expect_value(ramp, 1000.0f, 0.75f, 1.25f, 0, 3 + 10 + 200);        // far side in x
  expect_value(ramp, -50.0f, 0.75f, 1.25f, 0, 0 + 10 + 200);         // below x
  expect_value(ramp, 0.1f, 0.75f, 1.25f, 0, 0 + 10 + 200);           // inside, before the first centre
  expect_value(ramp, 1.95f, 0.75f, 1.25f, 0, 3 + 10 + 200);          // inside, after the last centre
  expect_value(ramp, 1.0f, 9.0f, 1.25f, 0, 1.5 + 20 + 200);          // beyond y, between x centres
  expect_value(ramp, 1.0f, 0.75f, 40.0f, 0, 1.5 + 10 + 400);         // beyond z
  expect_value(ramp, 1.0f, 0.75f, -40.0f, 0, 1.5 + 10 + 0);          // below z
  expect_value(ramp, 9.0f, -9.0f, 99.0f, 0, 3 + 0 + 400);            // a far corner
  expect_value(ramp, 0.625f, 0.875f, 1.125f, 0, 0.75 + 12.5 + 175);  // interior, every axis

  // The reach and its errors.
  EXPECT_EQ(smoothing_reach(0.0, 0.5), 0);
  EXPECT_EQ(smoothing_reach(0.5, 0.5), 3);
  EXPECT_EQ(smoothing_reach(0.51, 0.5), 4);
  EXPECT_EQ(smoothing_reach(0.5 * 16 / 3, 0.5), 16);
  EXPECT_THROW(smoothing_reach(-0.1, 0.5), ConfigError);
  EXPECT_THROW(smoothing_reach(std::numeric_limits<double>::quiet_NaN(), 0.5), ConfigError);
  EXPECT_THROW(smoothing_reach(kInf, 0.5), ConfigError);
  EXPECT_THROW(smoothing_reach(3.0, 0.5), ConfigError);  // 18 sub-cells
  try {
    smoothing_reach(-1.0, 0.5);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "segment.smoothing");
  }
  Sums out("test.out", sg.cells(), 2);
  EXPECT_THROW(smooth_subcell_sums(Exec(), sg, 0, sg.counts[2], sums, -1.0, out), ConfigError);
  HostIonCloud one(1, "test.one");
  I32 r("test.r", 1), s("test.s", 1);
  Kokkos::View<std::uint8_t*, Kokkos::HostSpace> solute("test.solute", 2);
  EXPECT_THROW(local_composition(Exec(), one, solute, 0.0, r, s), ConfigError);
  EXPECT_THROW(local_composition(Exec(), one, solute, -1.0, r, s), ConfigError);
  EXPECT_THROW(local_composition(Exec(), one, solute, std::numeric_limits<double>::quiet_NaN(), r, s),
               ConfigError);
}

// ------------------------------------------------------------------ published rules

TEST(SegmentPublished, EmptyWindowVetoMakesTheSumNaN) {
  // The published code adds NaN (an empty window's probability): the sum is
  // NaN and NaN > threshold is false. Rule "veto" reproduces it; "zero" adds 0.
  const auto g = make_grid(0.0, 0.0, 0.0, 3, 3, 3);
  const auto sg = SubcellGrid::of(g);
  Mat prob("test.prob", g.size(), 2);
  for (std::int64_t w = 0; w < g.size(); ++w) {
    prob(w, 0) = 0.1f;
    prob(w, 1) = 0.9f;
  }
  const std::int64_t empty = g.index(1, 1, 1);
  prob(empty, 0) = prob(empty, 1) = kNaN;
  Sums zero("zero", sg.cells(), 2), veto("veto", sg.cells(), 2);
  sum_subcell_probabilities(Exec(), g, prob, zero, EmptyWindow::zero);
  sum_subcell_probabilities(Exec(), g, prob, veto, EmptyWindow::veto);
  int vetoed = 0;
  for (std::int64_t jz = 0; jz < sg.counts[2]; ++jz)
    for (std::int64_t jy = 0; jy < sg.counts[1]; ++jy)
      for (std::int64_t jx = 0; jx < sg.counts[0]; ++jx) {
        const std::int64_t s = sg.index(jx, jy, jz);
        // Sub-cell j is covered by windows j - 1 and j: the empty window 1 covers j = 1, 2.
        const bool covered = jx >= 1 && jx <= 2 && jy >= 1 && jy <= 2 && jz >= 1 && jz <= 2;
        if (covered) {
          EXPECT_TRUE(std::isnan(veto(s, 1))) << s;
          ++vetoed;
        } else {
          EXPECT_EQ(veto(s, 1), zero(s, 1)) << s;
        }
      }
  EXPECT_EQ(vetoed, 8);
  EXPECT_DOUBLE_EQ(zero(sg.index(2, 2, 2), 1), 7 * double(0.9f));  // 8 windows, one empty: 6.3 > 3.75
  auto lz = threshold(zero, {kInf, 3.75});
  auto lv = threshold(veto, {kInf, 3.75});
  EXPECT_EQ(lz(sg.index(2, 2, 2)), 1);
  EXPECT_EQ(lv(sg.index(2, 2, 2)), -1);
  EXPECT_EQ(lv(sg.index(3, 3, 3)), lz(sg.index(3, 3, 3)));
  EXPECT_EQ(parse_empty_window("veto"), EmptyWindow::veto);
  EXPECT_THROW(parse_empty_window("nan"), ConfigError);
  SegmentSpec spec = SegmentSpec::cocrni();
  spec.empty_window = EmptyWindow::veto;
  spec.rule = IonRule::interpolate;
  EXPECT_THROW(spec.validate(2), ConfigError);
}

TEST(SegmentPublished, OverflowInTheLastBin) {
  std::vector<DomainStats> d;
  for (std::int64_t n : {0, 4, 159, 160, 161, 400, 80}) {
    DomainStats s;
    s.ions = n;
    d.push_back(s);
  }
  SizeHistogramSpec spec;
  spec.overflow_in_last_bin = true;  // published: sizes clipped to 160 before numpy.histogram
  const auto h = domain_size_histogram(d, spec);
  EXPECT_EQ(h.counts[31], 4);  // 159, 160, 161, 400
  EXPECT_EQ(h.overflow, 2);    // still reported
  EXPECT_EQ(domain_size_histogram(d, SizeHistogramSpec{}).counts[31], 2);
  EXPECT_TRUE(parse_histogram_overflow("last_bin"));
  EXPECT_FALSE(parse_histogram_overflow("drop"));
  EXPECT_THROW(parse_histogram_overflow("clip"), ConfigError);
  DomainSpec ds;
  ds.histogram.bins = 0;
  EXPECT_THROW(ds.validate(), ConfigError);
}

TEST(SegmentPublished, StatisticsOfThePublishedAnalysis) {
  // real a, control b; chi2 over the bins with b >= 1: (4-2)^2/2 + (1-1)^2/1 + (0-3)^2/3 = 2 + 0 + 3 = 5
  // (the bin with b = 0 is left out); mean total = (a 5 + 9) ... (sum a + sum b) / 2 = (9 + 6) / 2 = 7.5.
  const std::vector<double> a{4, 1, 0, 4}, b{2, 1, 3, 0};
  const auto c = compare_histograms(a, b);
  EXPECT_EQ(c.published_bins, 3);
  EXPECT_NEAR(c.chi2_published, 5.0, 1e-14);
  EXPECT_NEAR(c.contingency_published, std::sqrt(5.0 / (5.0 + 7.5)), 1e-15);
  // Pearson r is the same statistic in both: the sample correlation.
  const double ma = 9.0 / 4, mb = 6.0 / 4;
  double sab = 0, saa = 0, sbb = 0;
  for (int k = 0; k < 4; ++k) {
    sab += (a[k] - ma) * (b[k] - mb);
    saa += (a[k] - ma) * (a[k] - ma);
    sbb += (b[k] - mb) * (b[k] - mb);
  }
  EXPECT_NEAR(c.pearson_r, sab / std::sqrt(saa * sbb), 1e-15);
  // No control bin >= 1 and nothing counted: cq undefined.
  EXPECT_TRUE(std::isnan(compare_histograms({0, 0}, {0, 0}).contingency_published));
}
