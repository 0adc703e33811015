// aptflow pole (include/aptflow/pipeline/pole.hpp): the folded-histogram
// geometry and the Fourier sums against brute force on random inputs, folded
// histograms against brute-force pairs, the search on tilted synthetic
// lattices (tilt within 0.3 deg), random clouds (no periodicity), the Python
// reference tests/python/pole_ref.py (score and peak), options and errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/kernels/align.hpp"
#include "aptflow/pipeline/pole.hpp"
#include "aptflow/synth/specimen.hpp"
#include "pole_fixtures.hpp"
#include "test_util.hpp"

using namespace aptflow;
using namespace aptflow::pole;

namespace {

constexpr double kPi = 3.14159265358979323846;

double angle_deg(const Vec3& a, const Vec3& b) {
  const double d = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const double na = std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
  const double nb = std::sqrt(b[0] * b[0] + b[1] * b[1] + b[2] * b[2]);
  return std::acos(std::min(1.0, std::abs(d) / (na * nb))) * 180 / kPi;
}

HostIonCloud lattice_cloud(double tilt, double azimuth, const std::array<double, 3>& size, double sxy,
                           double sz, double eta, std::uint64_t seed) {
  return test::tilted_al_lattice(tilt, azimuth, size, sxy, sz, eta, seed);
}

// The pole of a whole cloud in one process (the MPI driver on MPI_COMM_SELF).
PoleResult analyse(const HostIonCloud& cloud, const PoleOptions& o) {
  return find_pole(MPI_COMM_SELF, cloud, o);
}

}  // namespace

TEST(PoleGeometry, KeptBinsMirrorsAndWeights) {
  const double rc = 0.6, b = 0.1;
  const auto g = SpectrumGeometry::make(rc, b);
  ASSERT_EQ(g->n, 12);
  // Brute force: a bin of the upper half is kept iff some point of it lies
  // within rc (relative tolerance 1e-6 on rc^2).
  std::size_t expect = 0;
  for (int iz = 6; iz < 12; ++iz)
    for (int iy = 0; iy < 12; ++iy)
      for (int ix = 0; ix < 12; ++ix) {
        double d2 = 0;
        for (int i : {ix, iy, iz}) {
          const double lo = -rc + i * b, hi = lo + b;
          const double c = std::clamp(0.0, lo, hi);
          d2 += c * c;
        }
        expect += d2 <= rc * rc * (1 + 1e-6) ? 1 : 0;  // the documented tolerance
      }
  EXPECT_EQ(g->size(), expect);
  for (std::size_t i = 0; i < g->size(); ++i) {
    const std::int64_t f = g->flat[i], m = g->mirror[i];
    const int ix = f % 12, iy = (f / 12) % 12, iz = static_cast<int>(f / 144);
    const int mx = m % 12, my = (m / 12) % 12, mz = static_cast<int>(m / 144);
    EXPECT_GE(iz, 6);
    EXPECT_NEAR(g->centre(mx), -g->centre(ix), 1e-12);
    EXPECT_NEAR(g->centre(my), -g->centre(iy), 1e-12);
    EXPECT_NEAR(g->centre(mz), -g->centre(iz), 1e-12);
    const double r2 = g->cx[i] * g->cx[i] + g->cy[i] * g->cy[i] + g->cz[i] * g->cz[i];
    const double w = r2 < rc * rc ? std::pow(1 - r2 / (rc * rc), 2) : 0.0;
    EXPECT_NEAR(g->w[i], w, 1e-14);
  }
  // The taper's transform falls to half at hwhm (checked by its own definition:
  // 4 pi integral w r^2 sinc(k r) dr, here by a plain Riemann sum).
  auto ft = [&](double k) {
    double s = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
      const double r = (i + 0.5) * rc / n, u = 1 - r * r / (rc * rc);
      s += u * u * r * r * (k * r == 0 ? 1.0 : std::sin(k * r) / (k * r));
    }
    return s;
  };
  EXPECT_NEAR(ft(g->hwhm) / ft(0), 0.5, 1e-6);
}

TEST(PoleSpectrum, GridAndPointMatchTheDirectSum) {
  const auto g = SpectrumGeometry::make(0.9, 0.05);
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<std::int64_t> count(0, 1000);
  std::vector<std::int64_t> h(g->size());
  for (auto& v : h) v = count(rng);
  const PairSpectrum s(g, h);
  auto direct = [&](const Vec3& k) {
    long double acc = 0;
    for (std::size_t i = 0; i < g->size(); ++i)
      acc += static_cast<long double>(h[i]) * g->w[i] *
             std::cos(k[0] * g->cx[i] + k[1] * g->cy[i] + k[2] * g->cz[i]);
    auto sinc = [](double x) { return x == 0 ? 1.0 : std::sin(x) / x; };
    return static_cast<double>(acc) / (sinc(k[0] * 0.025) * sinc(k[1] * 0.025) * sinc(k[2] * 0.025));
  };
  double tot = 0, n2 = 0;
  std::int64_t pairs = 0;
  for (std::size_t i = 0; i < g->size(); ++i) {
    tot += h[i] * g->w[i];
    n2 += h[i] * g->w[i] * g->w[i];
    pairs += h[i];
  }
  EXPECT_NEAR(s.total(), tot, 1e-9 * tot);
  EXPECT_NEAR(s.noise(), std::sqrt(n2), 1e-9 * std::sqrt(n2));
  EXPECT_EQ(s.pairs(), pairs);
  std::uniform_real_distribution<double> u(-40, 40);
  std::vector<double> kx{u(rng), u(rng), u(rng)}, ky{u(rng), u(rng)}, kz{u(rng), u(rng), u(rng), u(rng)};
  std::vector<double> out;
  s.grid(kx, ky, kz, out);
  ASSERT_EQ(out.size(), 24u);
  for (std::size_t c = 0; c < kz.size(); ++c)
    for (std::size_t b = 0; b < ky.size(); ++b)
      for (std::size_t a = 0; a < kx.size(); ++a) {
        const Vec3 k{kx[a], ky[b], kz[c]};
        const double ref = direct(k);
        EXPECT_NEAR(out[(c * ky.size() + b) * kx.size() + a], ref, 1e-9 * tot) << a << " " << b << " " << c;
        EXPECT_NEAR(s.at(k), ref, 1e-9 * tot);
      }
  EXPECT_NEAR(s.at({0, 0, 0}), tot, 1e-9 * tot);
}

TEST(PoleSpectrum, FoldedHistogramMatchesBruteForcePairs) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(0.0f, 3.0f);
  const IonIndex n = 1500;
  HostIonCloud cloud(n);
  for (IonIndex i = 0; i < n; ++i) {
    cloud.x(i) = u(rng);
    cloud.y(i) = u(rng);
    cloud.z(i) = 1.5f * u(rng);
    cloud.species(i) = 1;
  }
  const double rc = 0.8, bw = 0.05;
  const auto g = SpectrumGeometry::make(rc, bw);
  const Kokkos::DefaultHostExecutionSpace exec;
  const auto cells = build_cell_list(exec, cloud, make_cell_grid(cloud_bounds(exec, cloud), rc), -1);
  std::vector<IonIndex> centres;
  for (IonIndex i = 0; i < n; i += 3) centres.push_back(i);
  const auto h = folded_histogram(cloud, cells, *g, centres);
  // Brute force with the float32 rules of docs/sdm.md.
  const int nb = g->n;
  std::vector<std::int64_t> full(static_cast<std::size_t>(nb) * nb * nb, 0);
  const float rcf = static_cast<float>(rc), lo = static_cast<float>(-rc), w = static_cast<float>(bw);
  for (IonIndex i : centres)
    for (IonIndex j = 0; j < n; ++j) {
      if (j == i) continue;
      const float dx = cloud.x(j) - cloud.x(i), dy = cloud.y(j) - cloud.y(i), dz = cloud.z(j) - cloud.z(i);
      if (!((dx * dx + dy * dy) + dz * dz <= rcf * rcf)) continue;
      const auto kx = static_cast<std::int64_t>(std::floor((dx - lo) / w));
      const auto ky = static_cast<std::int64_t>(std::floor((dy - lo) / w));
      const auto kz = static_cast<std::int64_t>(std::floor((dz - lo) / w));
      if (kx < 0 || ky < 0 || kz < 0 || kx >= nb || ky >= nb || kz >= nb) continue;
      ++full[static_cast<std::size_t>((kz * nb + ky) * nb + kx)];
    }
  std::int64_t total = 0, folded_total = 0;
  for (auto v : full) total += v;
  for (std::size_t i = 0; i < g->size(); ++i) {
    EXPECT_EQ(h[i],
              full[static_cast<std::size_t>(g->flat[i])] + full[static_cast<std::size_t>(g->mirror[i])]);
    folded_total += h[i];
  }
  EXPECT_GT(total, 10000);
  EXPECT_EQ(folded_total, total);  // every pair lands in a kept bin or its mirror
}

TEST(PoleEstimate, RecoversTheTiltOfSyntheticLattices) {
  PoleOptions o;
  struct Case {
    double tilt, azimuth, sigma_xy;
  };
  // At sigma_xy = 0.5 nm a 16 nm cube holds too few pairs beyond about 5 deg
  // (the (002) peak falls as exp(-(q sin(tilt) sigma_xy)^2); docs/alignment.md).
  for (const Case c : {Case{0.0, 0.0, 0.5}, Case{3.0, 30.0, 0.5}, Case{7.5, 200.0, 0.3}}) {
    const auto cloud =
        lattice_cloud(c.tilt, c.azimuth, {16, 16, 16}, c.sigma_xy, 0.03, 0.5, 900 + std::uint64_t(c.tilt));
    const PoleResult r = analyse(cloud, o);
    const PoleEstimate& e = r.pole;
    ASSERT_TRUE(e.found) << "tilt " << c.tilt << " score " << e.score;
    EXPECT_EQ(r.ions, cloud.size());
    EXPECT_GT(r.centres, cloud.size() / 20);
    EXPECT_LT(r.centres, cloud.size() / 2);  // the outer r_cut + margin is not used for centres
    const Vec3 truth = pole_direction(c.tilt, c.azimuth);
    EXPECT_LT(angle_deg(e.direction, truth), 0.3) << "tilt " << c.tilt;
    EXPECT_NEAR(e.tilt_deg, c.tilt, 0.3);
    if (c.tilt > 1) EXPECT_NEAR(std::remainder(e.azimuth_deg - c.azimuth, 360.0), 0.0, 5.0);
    EXPECT_NEAR(e.spacing_nm, 0.2025, 0.002);
    EXPECT_GT(e.score, 50);
    EXPECT_GT(e.contrast, 0.02);
    EXPECT_EQ(e.subsamples_used, o.subsamples);
    EXPECT_TRUE(std::isfinite(e.uncertainty_deg));
    EXPECT_GT(e.uncertainty_deg, 0);
    EXPECT_LT(e.uncertainty_deg, 0.5);
    // The scan's best direction is near the refined one.
    EXPECT_LT(angle_deg(r.scan.best_k, e.direction), 3 * 180 / kPi * r.scan.step + 0.5);
  }
}

TEST(PoleEstimate, RegionOfInterestSelectsCentresOnly) {
  const auto cloud = lattice_cloud(3.0, 250.0, {16, 16, 16}, 0.4, 0.03, 0.5, 61);
  PoleOptions o;
  o.subsamples = 3;
  const PoleResult all = analyse(cloud, o);
  o.roi = parse_roi_spec("cylinder:8,8,2.5");  // a column of radius 2.5 nm through the middle
  const PoleResult col = analyse(cloud, o);
  EXPECT_EQ(col.ions, all.ions);  // neighbours: every ion
  EXPECT_LT(col.centres, all.centres / 2);
  EXPECT_GT(col.centres, 1000);
  EXPECT_LT(angle_deg(col.pole.direction, pole_direction(3.0, 250.0)), 0.3);
  o.roi = parse_roi_spec("box:100,100,0,101,101,1");  // outside the specimen
  EXPECT_THROW((void)analyse(cloud, o), InputError);
}

TEST(PoleEstimate, UniformRandomCloudHasNoPeriodicity) {
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const IonIndex n = 120000;
  HostIonCloud cloud(n);
  for (IonIndex i = 0; i < n; ++i) {
    cloud.x(i) = 16 * u(rng);
    cloud.y(i) = 16 * u(rng);
    cloud.z(i) = 16 * u(rng);
    cloud.species(i) = 1;
  }
  PoleOptions o;
  o.source = "random.pos";
  try {
    (void)analyse(cloud, o);
    ADD_FAILURE() << "a pole was found in a random cloud";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("random.pos"), std::string::npos) << m;
    EXPECT_NE(m.find("no lattice-plane periodicity"), std::string::npos) << m;
    EXPECT_NE(m.find("best score"), std::string::npos) << m;
  }
}

TEST(PoleEstimate, HeavyLateralBlurStillGivesTheTiltAtLowContrast) {
  // sigma_xy 0.8 nm blurs a 2 deg tilted (002) plane family by 0.03 nm along
  // its normal: the peak is weaker but stays where it was.
  const auto cloud = lattice_cloud(2.0, 120.0, {16, 16, 16}, 0.8, 0.03, 0.5, 31);
  PoleOptions o;
  const PoleEstimate e = analyse(cloud, o).pole;
  ASSERT_TRUE(e.found) << e.score;
  EXPECT_LT(angle_deg(e.direction, pole_direction(2.0, 120.0)), 0.3);
}

TEST(PoleReference, ScoreAndPeakAgreeWithPython) {
  if (!aptflow::test::python_has("numpy, scipy.spatial, scipy.optimize"))
    GTEST_SKIP() << test::python_exe() << " with numpy and scipy is missing";
  const auto cloud = lattice_cloud(4.0, 30.0, {6, 6, 8}, 0.3, 0.03, 0.5, 77);
  PoleOptions o;
  o.r_cut = 1.5;  // fewer pairs for the Python sums
  o.bin = 0.025;  // the definition at a fine bin (the exact pair sum is compared too)
  const Kokkos::DefaultHostExecutionSpace exec;
  const auto cells = build_cell_list(exec, cloud, make_cell_grid(cloud_bounds(exec, cloud), o.r_cut), -1);
  const auto g = SpectrumGeometry::make(o.r_cut, o.bin);
  std::vector<IonIndex> all(static_cast<std::size_t>(cloud.size()));
  for (IonIndex i = 0; i < cloud.size(); ++i) all[static_cast<std::size_t>(i)] = i;
  const PairSpectrum s(g, folded_histogram(cloud, cells, *g, all));
  const PoleEstimate e =
      estimate_pole(s, {}, o.cone_deg, 2 * kPi / o.spacing_max, 2 * kPi / o.spacing_min, o.min_score);
  ASSERT_TRUE(e.found);
  test::TempDir dir;
  {
    std::ofstream f(dir / "cloud.bin", std::ios::binary);
    for (IonIndex i = 0; i < cloud.size(); ++i) {
      const float p[3] = {cloud.x(i), cloud.y(i), cloud.z(i)};
      f.write(reinterpret_cast<const char*>(p), sizeof(p));
    }
  }
  std::vector<Vec3> ks{e.k, {0, 0, 0}, {1.3, -2.0, 30.0}, {5.0, 5.0, 25.0}, {0.5, 0.2, 15.5}, {-3, 1, 44}};
  {
    std::ofstream f(dir / "k.txt");
    for (const auto& k : ks) f << fmt::format("{:.17g} {:.17g} {:.17g}\n", k[0], k[1], k[2]);
  }
  const std::string script = (test::source_dir() / "tests/python/pole_ref.py").string();
  auto r =
      test::run_command(fmt::format("{} {} score {} {} {} {}", test::python_exe(), script,
                                    (dir / "cloud.bin").string(), o.r_cut, o.bin, (dir / "k.txt").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["pairs"].get<std::int64_t>(), s.pairs());
  for (std::size_t i = 0; i < ks.size(); ++i) {
    const double mine = s.at(ks[i]);
    EXPECT_NEAR(mine, j["binned"][i].get<double>(), 1e-9 * s.total()) << "k " << i;
    // The binned score (bin correction applied) against the exact pair sum:
    // within 1 % of P(0) (measured: below 0.3 %).
    EXPECT_NEAR(mine, j["exact"][i].get<double>(), 0.01 * s.total()) << "k " << i;
  }
  // The peak of the exact pair sum (Nelder-Mead from aptflow's peak).
  r = test::run_command(fmt::format("{} {} peak {} {} {:.17g} {:.17g} {:.17g}", test::python_exe(), script,
                                    (dir / "cloud.bin").string(), o.r_cut, e.k[0], e.k[1], e.k[2]));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto p = nlohmann::json::parse(r.output);
  const Vec3 kp{p["k"][0].get<double>(), p["k"][1].get<double>(), p["k"][2].get<double>()};
  EXPECT_LT(angle_deg(kp, e.k), 0.05) << "python " << kp[0] << " " << kp[1] << " " << kp[2];
  const double qp = std::sqrt(kp[0] * kp[0] + kp[1] * kp[1] + kp[2] * kp[2]);
  EXPECT_NEAR(2 * kPi / qp, e.spacing_nm, 2e-4);
}

TEST(PoleOptions, ValidationNamesTheOption) {
  auto key_of = [](PoleOptions o) {
    try {
      o.validate();
    } catch (const ConfigError& e) {
      return e.key();
    }
    return std::string();
  };
  PoleOptions o;
  EXPECT_EQ(key_of(o), "");
  o.cone_deg = 46;
  EXPECT_EQ(key_of(o), "--cone");
  o = {};
  o.margin = -1;
  EXPECT_EQ(key_of(o), "--margin");
  o = {};
  o.cone_deg = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(key_of(o), "--cone");
  o = {};
  o.cone_deg = 0;
  EXPECT_EQ(key_of(o), "--cone");
  o = {};
  o.bin = 0.04;  // 2 * 2 / 0.04 = 100 ok
  EXPECT_EQ(key_of(o), "");
  o.bin = 4.0 / 105;  // 105: odd
  EXPECT_EQ(key_of(o), "--bin");
  o.bin = 0.03;  // 133.3: not whole
  EXPECT_EQ(key_of(o), "--bin");
  o = {};
  o.spacing_min = 0.7;
  EXPECT_EQ(key_of(o), "--spacing");
  o = {};
  o.subsamples = 1;
  EXPECT_EQ(key_of(o), "--subsamples");
  o = {};
  o.tile = 2;
  EXPECT_EQ(key_of(o), "--tile");
  o = {};
  o.tile_z = 10;
  EXPECT_EQ(key_of(o), "--tile-z");
}

TEST(PoleEstimate, PackRoundTrips) {
  PoleEstimate e;
  e.found = true;
  e.direction = {0.1, 0.2, 0.97};
  e.k = {3, 4, 30};
  e.tilt_deg = 12.5;
  e.azimuth_deg = 63;
  e.spacing_nm = 0.2;
  e.uncertainty_deg = 0.01;
  e.score = 99;
  e.centres = 123456789012;
  e.pairs = 9876543210123;
  e.subsamples_used = 7;
  const auto p = e.pack();
  const auto f = PoleEstimate::unpack(p.data());
  const auto q = f.pack();
  EXPECT_EQ(0, std::memcmp(q.data(), p.data(), sizeof(p)));  // NaN fields too
  EXPECT_EQ(f.centres, e.centres);
  EXPECT_EQ(f.pairs, e.pairs);
  EXPECT_TRUE(f.found);
}
