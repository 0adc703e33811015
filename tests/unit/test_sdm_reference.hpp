#pragma once
// Slow, obviously correct references for the SDM tests: plain O(N^2) loops
// over a host cloud, no cell list, no precomputed intervals. The arithmetic is
// the definition of aptflow/core/sdm_spec.hpp written out literally.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/sdm_spec.hpp"
#include "aptflow/kernels/windows.hpp"

namespace aptflow::test {

struct PlainCloud {
  std::vector<float> x, y, z;
  std::vector<Species> s;
  std::size_t size() const { return x.size(); }
  void add(float px, float py, float pz, Species sp) {
    x.push_back(px);
    y.push_back(py);
    z.push_back(pz);
    s.push_back(sp);
  }
};

// Random cloud in [0, L)^3 that stresses every boundary: uniform ions, ions
// on multiples of the SDM bin width (displacements on bin edges), ions on a
// 0.5 nm lattice (displacements of exactly 1.5 nm = r_cut), ions on multiples
// of the cell edge, duplicated positions (d = 0 between distinct ions), and a
// few ions outside the nominal box. Species 0..3 (0 = unranged).
inline PlainCloud random_cloud(std::uint32_t seed, std::size_t n, float L) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, L);
  std::uniform_int_distribution<int> sp(0, 3);
  std::uniform_int_distribution<int> kind(0, 99);
  PlainCloud c;
  const int nq = static_cast<int>(L / 0.015f);
  std::uniform_int_distribution<int> q(0, nq - 1), l(0, static_cast<int>(L / 0.5f) - 1);
  const float cell = 1.5f * (1.0f + 1e-4f);
  std::uniform_int_distribution<int> cq(0, static_cast<int>(L / cell));
  while (c.size() < n) {
    const int k = kind(rng);
    const auto s = static_cast<Species>(sp(rng));
    if (k < 45) {
      c.add(u(rng), u(rng), u(rng), s);
    } else if (k < 70) {  // bin-edge quantised (float multiples of 0.015)
      c.add(u(rng), u(rng), static_cast<float>(q(rng)) * 0.015f, s);
      if (k < 55) c.x.back() = static_cast<float>(q(rng)) * 0.015f;
    } else if (k < 85) {  // 0.5 nm lattice: exact distances 0.5, 1.0, 1.5, ...
      c.add(l(rng) * 0.5f, l(rng) * 0.5f, l(rng) * 0.5f, s);
    } else if (k < 92) {  // on cell boundaries
      c.add(cq(rng) * cell, u(rng), cq(rng) * cell, s);
    } else if (k < 98 && c.size() > 0) {  // duplicate position, maybe another species
      const std::size_t j = std::uniform_int_distribution<std::size_t>(0, c.size() - 1)(rng);
      c.add(c.x[j], c.y[j], c.z[j], s);
    } else {  // slightly outside the box
      c.add(-0.3f * u(rng) / L, u(rng), L + 0.2f * u(rng) / L, s);
    }
  }
  return c;
}

inline HostIonCloud to_ion_cloud(const PlainCloud& p) {
  HostIonCloud c(static_cast<IonIndex>(p.size()), "test::cloud");
  for (std::size_t i = 0; i < p.size(); ++i) {
    c.x(i) = p.x[i];
    c.y(i) = p.y[i];
    c.z(i) = p.z[i];
    c.mq(i) = 27.0f;
    c.species(i) = p.s[i];
  }
  return c;
}

// Histogram bin of one displacement by the literal definition, -1 if outside.
inline std::int64_t reference_bin(const SdmSpec& spec, float dx, float dy, float dz) {
  const float lo = static_cast<float>(-spec.range), w = static_cast<float>(spec.bin);
  const std::int64_t n = spec.bins_per_axis;
  const std::int64_t kx = reference_axis_bin(dx, lo, w), ky = reference_axis_bin(dy, lo, w),
                     kz = reference_axis_bin(dz, lo, w);
  auto in = [n](std::int64_t k) { return k >= 0 && k < n; };
  switch (spec.kind) {
    case SdmKind::z:
      if (!in(kx) || kz < spec.crop_first || kz >= spec.crop_first + spec.crop_count) return -1;
      return kz - spec.crop_first;
    case SdmKind::zx:
      if (!in(kx) || !in(kz)) return -1;
      return kz * n + kx;
    case SdmKind::xyz:
      if (!in(kx) || !in(ky) || !in(kz)) return -1;
      return (kz * n + ky) * n + kx;
  }
  return -1;
}

inline bool reference_within(float dx, float dy, float dz, float r) {
  const float r2 = dx * dx + dy * dy + dz * dz;
  return r2 <= r * r;
}

// Adds to h the pairs (centre i, every ion j != i of species b with
// |d| <= r_cut and, when restrict is true, j inside the sphere (cx, cy, cz, rn)).
inline void reference_add_centre(const PlainCloud& c, const SdmSpec& spec, std::size_t i, int b,
                                 std::vector<std::int64_t>& h, bool restrict = false, float cx = 0,
                                 float cy = 0, float cz = 0, float rn = 0) {
  for (std::size_t j = 0; j < c.size(); ++j) {
    if (j == i || c.s[j] != b) continue;
    if (restrict && !reference_within(c.x[j] - cx, c.y[j] - cy, c.z[j] - cz, rn)) continue;
    const float dx = c.x[j] - c.x[i], dy = c.y[j] - c.y[i], dz = c.z[j] - c.z[i];
    if (!reference_within(dx, dy, dz, static_cast<float>(spec.r_cut))) continue;
    if (spec.exclude == SdmExclude::zero_dx_or_dz && (dx == 0.0f || dz == 0.0f)) continue;  // published rule
    const std::int64_t k = reference_bin(spec, dx, dy, dz);
    if (k >= 0) ++h[k];
  }
}

inline std::vector<std::int64_t> reference_sdm(const PlainCloud& c, const SdmSpec& spec, int a, int b) {
  std::vector<std::int64_t> h(spec.size(), 0);
  for (std::size_t i = 0; i < c.size(); ++i)
    if (c.s[i] == a) reference_add_centre(c, spec, i, b, h);
  return h;
}

// Brute force, aptflow's rules (float32, docs/sdm.md): the SDM and centre
// count of window w.
inline std::vector<std::int64_t> reference_window(const PlainCloud& p, const WindowGrid& g,
                                                  const WindowSpec& ws, const SdmSpec& spec, int a, int b,
                                                  std::int64_t w, std::int64_t& centres) {
  std::int64_t ix, iy, iz;
  g.unravel(w, ix, iy, iz);
  const float cx = g.centre_f(0, ix), cy = g.centre_f(1, iy), cz = g.centre_f(2, iz);
  std::vector<std::int64_t> h(spec.size(), 0);
  centres = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p.s[i] != a || !reference_within(p.x[i] - cx, p.y[i] - cy, p.z[i] - cz, ws.centre_radius)) continue;
    ++centres;
    reference_add_centre(p, spec, i, b, h, ws.variant == WindowVariant::cocrni, cx, cy, cz,
                         ws.neighbour_radius);
  }
  return h;
}

// The published z-SDM of one window written out plainly (zsdm_utils_v2.zsdm,
// the Fe-Al notebook's ZSDM): membership and pair tests in double,
// fast_histogram's binning int((d + 1.5) * (200 / 3)) on -1.5 <= d < 1.5 for
// dz and dx, the pair rule, the 93-bin crop. f32_diff: the displacement is
// rounded to float32 first (Fe-Al).
inline std::vector<std::int64_t> published_window(const PlainCloud& p, const WindowGrid& g,
                                                  const WindowSpec& ws, const SdmSpec& spec, int a, int b,
                                                  std::int64_t w, std::int64_t& centres) {
  std::int64_t ix, iy, iz;
  g.unravel(w, ix, iy, iz);
  const double c[3] = {(g.origin[0] + double(ix) * g.stride) + 0.5 * g.edge,
                       (g.origin[1] + double(iy) * g.stride) + 0.5 * g.edge,
                       (g.origin[2] + double(iz) * g.stride) + 0.5 * g.edge};
  auto within = [](double dx, double dy, double dz, double r) {
    return (dx * dx + dy * dy) + dz * dz <= r * r;
  };
  const double rc = double(ws.centre_radius), rn = double(ws.neighbour_radius);
  const bool f32_diff = spec.arithmetic == SdmArithmetic::float64_bins;
  const bool drop = spec.exclude == SdmExclude::zero_dx_or_dz;
  std::vector<std::int64_t> h(spec.size(), 0);
  centres = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p.s[i] != a || !within(double(p.x[i]) - c[0], double(p.y[i]) - c[1], double(p.z[i]) - c[2], rc))
      continue;
    ++centres;
    for (std::size_t j = 0; j < p.size(); ++j) {
      if (j == i || p.s[j] != b) continue;
      if (ws.variant == WindowVariant::cocrni &&
          !within(double(p.x[j]) - c[0], double(p.y[j]) - c[1], double(p.z[j]) - c[2], rn))
        continue;
      double dx = double(p.x[j]) - double(p.x[i]), dy = double(p.y[j]) - double(p.y[i]),
             dz = double(p.z[j]) - double(p.z[i]);
      if (!within(dx, dy, dz, spec.r_cut)) continue;
      if (f32_diff) {
        dx = double(float(dx));
        dz = double(float(dz));
      }
      if (drop && (dx == 0 || dz == 0)) continue;
      if (!(dz >= -1.5 && dz < 1.5 && dx >= -1.5 && dx < 1.5)) continue;
      const int k = static_cast<int>((dz + 1.5) * (200.0 / 3.0)) - 54;
      if (k >= 0 && k < 93) ++h[static_cast<std::size_t>(k)];
    }
  }
  return h;
}

// random_cloud with its coordinates rounded to 3 decimals (as the published
// CSV files): many pairs with dx == 0 or dz == 0 and displacements on bin edges.
inline PlainCloud rounded_cloud(std::uint32_t seed, std::size_t n, float L) {
  PlainCloud p = random_cloud(seed, n, L);
  for (std::size_t i = 0; i < p.size(); ++i) {
    p.x[i] = static_cast<float>(std::round(double(p.x[i]) * 1000.0) / 1000.0);
    p.y[i] = static_cast<float>(std::round(double(p.y[i]) * 1000.0) / 1000.0);
    p.z[i] = static_cast<float>(std::round(double(p.z[i]) * 1000.0) / 1000.0 - 2.0);  // z crosses 0
  }
  return p;
}

inline std::int64_t total(const std::vector<std::int64_t>& h) {
  std::int64_t t = 0;
  for (auto v : h) t += v;
  return t;
}

}  // namespace aptflow::test
