// Segmentation kernels on TEST_EXECSPACE against plain host loops written
// from the definitions in aptflow/kernels/segment.hpp and composition.hpp:
// sub-cell sums, thresholds, ion labels (subcell and interpolate rules),
// smoothing, local composition.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "aptflow/kernels/composition.hpp"
#include "aptflow/kernels/segment.hpp"
#include "kernel_test_util.hpp"

namespace {
using namespace aptflow;
using Exec = TEST_EXECSPACE;
using Mem = Exec::memory_space;
using Mat = Kokkos::View<double**, Kokkos::LayoutRight, Mem>;

struct Fixture {
  WindowGrid grid;
  SubcellGrid sg;
  int nc = 3;
  std::vector<float> prob;  // windows x classes, some rows NaN (empty windows)
  test::PlainCloud ions;
};

Fixture make_fixture(std::uint32_t seed) {
  Fixture f;
  Box box;
  box.lo[0] = 0.3f;
  box.hi[0] = 4.3f;
  box.lo[1] = -1.0f;
  box.hi[1] = 2.5f;
  box.lo[2] = 2.0f;
  box.hi[2] = 7.0f;
  f.grid = WindowGrid::over(box, 1.0, 0.5);
  f.sg = SubcellGrid::of(f.grid);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  f.prob.resize(static_cast<std::size_t>(f.grid.size() * f.nc));
  for (std::int64_t w = 0; w < f.grid.size(); ++w) {
    const bool empty = u(rng) < 0.1f;
    for (int c = 0; c < f.nc; ++c)
      f.prob[w * f.nc + c] = empty ? std::numeric_limits<float>::quiet_NaN() : u(rng);
  }
  std::uniform_real_distribution<float> ux(-0.5f, 5.0f), uy(-1.5f, 3.0f), uz(1.5f, 7.5f);
  for (int i = 0; i < 3000; ++i) f.ions.add(ux(rng), uy(rng), uz(rng), static_cast<Species>(i % 4));
  return f;
}

Mat to_mat(const std::vector<double>& v, std::int64_t rows, std::int64_t cols) {
  Mat m("test::mat", rows, cols);
  auto h = Kokkos::create_mirror_view(m);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) h(r, c) = v[r * cols + c];
  Kokkos::deep_copy(m, h);
  return m;
}

// Reference sums: plain loops over the covering windows, window order.
std::vector<double> reference_sums(const Fixture& f) {
  const auto& g = f.grid;
  const auto& sg = f.sg;
  std::vector<double> s(static_cast<std::size_t>(sg.cells() * f.nc), 0.0);
  for (std::int64_t jz = 0; jz < sg.counts[2]; ++jz)
    for (std::int64_t jy = 0; jy < sg.counts[1]; ++jy)
      for (std::int64_t jx = 0; jx < sg.counts[0]; ++jx)
        for (int c = 0; c < f.nc; ++c) {
          double acc = 0;
          for (std::int64_t iz = 0; iz < g.counts[2]; ++iz)
            for (std::int64_t iy = 0; iy < g.counts[1]; ++iy)
              for (std::int64_t ix = 0; ix < g.counts[0]; ++ix) {
                if (jx < ix || jx > ix + sg.span - 1 || jy < iy || jy > iy + sg.span - 1 || jz < iz ||
                    jz > iz + sg.span - 1)
                  continue;
                const float v = f.prob[g.index(ix, iy, iz) * f.nc + c];
                if (!std::isnan(v)) acc += v;
              }
          s[sg.index(jx, jy, jz) * f.nc + c] = acc;
        }
  return s;
}
}  // namespace

TEST(TEST_CATEGORY, segment_sums_thresholds_and_ion_labels_match_reference) {
  const Fixture f = make_fixture(5);
  const std::int64_t nw = f.grid.size(), ns = f.sg.cells();
  Kokkos::View<float**, Kokkos::LayoutRight, Mem> prob("prob", nw, f.nc);
  {
    auto h = Kokkos::create_mirror_view(prob);
    for (std::int64_t w = 0; w < nw; ++w)
      for (int c = 0; c < f.nc; ++c) h(w, c) = f.prob[w * f.nc + c];
    Kokkos::deep_copy(prob, h);
  }
  Mat sums("sums", ns, f.nc);
  sum_subcell_probabilities(Exec(), f.grid, prob, sums);
  const auto want_sums = reference_sums(f);
  EXPECT_EQ(test::host_vector(sums), want_sums);

  const std::vector<double> thr{3.0, 2.5, std::numeric_limits<double>::infinity()};
  const auto thresholds = test::device_view<double, Mem>(thr);
  Kokkos::View<std::int32_t*, Mem> label("label", ns);
  threshold_subcells(Exec(), sums, thresholds, label);
  std::vector<std::int32_t> want_label(ns, -1);
  for (std::int64_t s = 0; s < ns; ++s)
    for (int c = 0; c < f.nc; ++c)
      if (want_sums[s * f.nc + c] > thr[c] &&
          (want_label[s] < 0 || want_sums[s * f.nc + c] > want_sums[s * f.nc + want_label[s]]))
        want_label[s] = c;
  const auto got_label = test::host_vector(label);
  EXPECT_EQ(got_label, want_label);
  std::int64_t labelled = 0;
  for (auto l : want_label) labelled += l >= 0;
  EXPECT_GT(labelled, 10);
  EXPECT_LT(labelled, ns);

  // Ion labels, subcell rule: the labelled sub-cell centre within radius
  // whose own class sum is largest (ties: lower class).
  const auto cloud = test::to_cloud<Mem>(f.ions);
  Kokkos::View<std::int32_t*, Mem> ion_label("ion_label", cloud.size());
  const double radius = 0.3535;
  label_ions(Exec(), f.sg, cloud, sums, label, radius, ion_label);
  std::vector<std::int32_t> want_ions(f.ions.size(), -1);
  std::int64_t ion_labelled = 0;
  for (std::size_t i = 0; i < f.ions.size(); ++i) {
    double best_sum = 0;
    for (std::int64_t s = 0; s < ns; ++s) {
      const std::int32_t c = want_label[s];
      if (c < 0) continue;
      const std::int64_t jx = s % f.sg.counts[0], jy = (s / f.sg.counts[0]) % f.sg.counts[1],
                         jz = s / (f.sg.counts[0] * f.sg.counts[1]);
      const double dx = double(f.ions.x[i]) - f.sg.centre(0, jx),
                   dy = double(f.ions.y[i]) - f.sg.centre(1, jy),
                   dz = double(f.ions.z[i]) - f.sg.centre(2, jz);
      if ((dx * dx + dy * dy) + dz * dz > radius * radius) continue;
      const double v = want_sums[s * f.nc + c];
      if (want_ions[i] < 0 || v > best_sum || (v == best_sum && c < want_ions[i])) {
        want_ions[i] = c;
        best_sum = v;
      }
    }
    ion_labelled += want_ions[i] >= 0;
  }
  EXPECT_EQ(test::host_vector(ion_label), want_ions);
  EXPECT_GT(ion_labelled, 50);
}

TEST(TEST_CATEGORY, segment_smoothing_and_interpolated_labels_match_reference) {
  const Fixture f = make_fixture(9);
  const std::int64_t ns = f.sg.cells();
  const auto sums_h = reference_sums(f);
  const Mat sums = to_mat(sums_h, ns, f.nc);
  const double sigma = 0.5;
  Mat field("field", ns, f.nc);
  smooth_subcell_sums(Exec(), f.sg, 0, f.sg.counts[2], sums, sigma, field);
  const auto got = test::host_vector(field);
  // Direct 3D formula (renormalised Gaussian over the in-grid neighbours).
  const int T = smoothing_reach(sigma, f.sg.size);
  const double sc = sigma / f.sg.size;
  auto g = [&](std::int64_t d) { return std::exp(-double(d * d) / (2 * sc * sc)); };
  std::vector<double> want(got.size());
  double max_rel = 0;
  for (std::int64_t jz = 0; jz < f.sg.counts[2]; ++jz)
    for (std::int64_t jy = 0; jy < f.sg.counts[1]; ++jy)
      for (std::int64_t jx = 0; jx < f.sg.counts[0]; ++jx)
        for (int c = 0; c < f.nc; ++c) {
          double acc = 0, norm = 0;
          for (std::int64_t z = std::max<std::int64_t>(0, jz - T); z <= std::min(f.sg.counts[2] - 1, jz + T);
               ++z)
            for (std::int64_t y = std::max<std::int64_t>(0, jy - T);
                 y <= std::min(f.sg.counts[1] - 1, jy + T); ++y)
              for (std::int64_t x = std::max<std::int64_t>(0, jx - T);
                   x <= std::min(f.sg.counts[0] - 1, jx + T); ++x) {
                const double w = g(x - jx) * g(y - jy) * g(z - jz);
                acc += w * sums_h[f.sg.index(x, y, z) * f.nc + c];
                norm += w;
              }
          const std::int64_t k = f.sg.index(jx, jy, jz) * f.nc + c;
          want[k] = acc / norm;
          max_rel = std::max(max_rel, std::abs(got[k] - want[k]) / std::max(1.0, std::abs(want[k])));
        }
  EXPECT_LT(max_rel, 1e-12);

  // Interpolated labels: trilinear interpolation of the field, plus the
  // evidence for class 1, thresholded (the definition in segment.hpp).
  const std::vector<double> thr{2.0, 1.8, 2.2};
  std::vector<double> evidence(f.ions.size());
  for (std::size_t i = 0; i < evidence.size(); ++i) evidence[i] = 0.1 * double(i % 7);
  const auto cloud = test::to_cloud<Mem>(f.ions);
  Kokkos::View<std::int32_t*, Mem> ion_label("ion_label", cloud.size());
  const auto outside = label_ions_interpolated(Exec(), f.sg, 0, f.sg.counts[2], cloud, field,
                                               test::device_view<double, Mem>(thr),
                                               test::device_view<double, Mem>(evidence), 1, ion_label);
  EXPECT_EQ(outside, 0);
  std::vector<std::int32_t> want_label(f.ions.size(), -1);
  std::int64_t labelled = 0;
  for (std::size_t i = 0; i < f.ions.size(); ++i) {
    const double p[3] = {f.ions.x[i], f.ions.y[i], f.ions.z[i]};
    std::int64_t j[3], d[3];
    double fr[3];
    for (int a = 0; a < 3; ++a) {
      const double top = double(f.sg.counts[a] - 1);
      const double u = std::clamp((p[a] - f.sg.origin[a]) / f.sg.size - 0.5, 0.0, top);
      const double jf = std::min(std::floor(u), std::max(0.0, top - 1));
      j[a] = static_cast<std::int64_t>(jf);
      fr[a] = u - jf;
      d[a] = f.sg.counts[a] > 1 ? 1 : 0;
    }
    double best = 0;
    for (int c = 0; c < f.nc; ++c) {
      auto at = [&](int ox, int oy, int oz) {
        return got[f.sg.index(j[0] + ox * d[0], j[1] + oy * d[1], j[2] + oz * d[2]) * f.nc + c];
      };
      const double v00 = (1 - fr[0]) * at(0, 0, 0) + fr[0] * at(1, 0, 0);
      const double v10 = (1 - fr[0]) * at(0, 1, 0) + fr[0] * at(1, 1, 0);
      const double v01 = (1 - fr[0]) * at(0, 0, 1) + fr[0] * at(1, 0, 1);
      const double v11 = (1 - fr[0]) * at(0, 1, 1) + fr[0] * at(1, 1, 1);
      const double v0 = (1 - fr[1]) * v00 + fr[1] * v10, v1 = (1 - fr[1]) * v01 + fr[1] * v11;
      double score = (1 - fr[2]) * v0 + fr[2] * v1;
      if (c == 1) score += evidence[i];
      if (score > thr[c] && (want_label[i] < 0 || score > best)) {
        want_label[i] = c;
        best = score;
      }
    }
    labelled += want_label[i] >= 0;
  }
  EXPECT_EQ(test::host_vector(ion_label), want_label);
  EXPECT_GT(labelled, 50);
  EXPECT_LT(labelled, static_cast<std::int64_t>(f.ions.size()));
}

// Ions on a lattice of spacing radius / 4 (many neighbours exactly on the
// sphere, where float32 and double distances may disagree) and copies nudged
// by one float32 step either way: the counts still follow the double test.
TEST(TEST_CATEGORY, local_composition_on_the_sphere_boundary) {
  test::PlainCloud p;
  const double radius = 1.2;
  const float a = static_cast<float>(radius / 4);
  for (int i = 0; i < 9; ++i)
    for (int j = 0; j < 9; ++j)
      for (int k = 0; k < 9; ++k) {
        const float x = 3.1f + a * i, y = -2.7f + a * j, z = 40.3f + a * k;
        const std::uint8_t s = static_cast<std::uint8_t>((i + 2 * j + 3 * k) % 4);
        p.add(x, y, z, s);
        if ((i + j + k) % 3 == 0) p.add(std::nextafter(x, 100.0f), y, std::nextafter(z, -100.0f), s);
        if ((i + j + k) % 5 == 0) p.add(x, std::nextafter(y, -100.0f), std::nextafter(z, 100.0f), 1);
      }
  const auto cloud = test::to_cloud<Mem>(p);
  const std::vector<std::uint8_t> solute{0, 0, 1, 1};
  Kokkos::View<std::int32_t*, Mem> ranged("ranged", cloud.size()), near("near", cloud.size());
  local_composition(Exec(), cloud, test::device_view<std::uint8_t, Mem>(solute), radius, ranged, near);
  std::vector<std::int32_t> want_r(p.size(), 0), want_s(p.size(), 0);
  std::int64_t on_sphere = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    for (std::size_t j = 0; j < p.size(); ++j) {
      const double dx = double(p.x[j]) - p.x[i], dy = double(p.y[j]) - p.y[i], dz = double(p.z[j]) - p.z[i];
      const double d2 = (dx * dx + dy * dy) + dz * dz;
      on_sphere += std::abs(d2 - radius * radius) < 1e-5;
      if (d2 > radius * radius || p.s[j] == 0) continue;
      ++want_r[i];
      want_s[i] += solute[p.s[j]];
    }
  EXPECT_GT(on_sphere, 1000);  // the case under test does occur
  EXPECT_EQ(test::host_vector(ranged), want_r);
  EXPECT_EQ(test::host_vector(near), want_s);
}

TEST(TEST_CATEGORY, local_composition_equals_brute_force) {
  const test::PlainCloud p = test::random_cloud(31, 3000, 6.0f);
  const auto cloud = test::to_cloud<Mem>(p);
  const std::vector<std::uint8_t> solute{0, 0, 1, 1};  // species 2 and 3 are solute
  Kokkos::View<std::int32_t*, Mem> ranged("ranged", cloud.size()), near("near", cloud.size());
  const double radius = 1.2;
  local_composition(Exec(), cloud, test::device_view<std::uint8_t, Mem>(solute), radius, ranged, near);
  std::vector<std::int32_t> want_r(p.size(), 0), want_s(p.size(), 0);
  for (std::size_t i = 0; i < p.size(); ++i)
    for (std::size_t j = 0; j < p.size(); ++j) {
      const double dx = double(p.x[j]) - p.x[i], dy = double(p.y[j]) - p.y[i], dz = double(p.z[j]) - p.z[i];
      if ((dx * dx + dy * dy) + dz * dz > radius * radius || p.s[j] == 0) continue;
      ++want_r[i];
      want_s[i] += solute[p.s[j]];
    }
  EXPECT_EQ(test::host_vector(ranged), want_r);
  EXPECT_EQ(test::host_vector(near), want_s);
}
