// aptflow pole: the Fourier analysis of folded 3D pair histograms (scan of
// the cone, peak refinement, sub-sample uncertainty). The MPI driver is in
// pole_driver.cpp, files and JSON in pole_io.cpp. Design: docs/alignment.md
// and include/aptflow/pipeline/pole.hpp.
#include "aptflow/pipeline/pole.hpp"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "aptflow/core/error.hpp"
#include "aptflow/kernels/align.hpp"
#include "aptflow/kernels/sdm.hpp"

namespace aptflow::pole {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDeg = kPi / 180.0;

double sinc(double x) { return std::abs(x) < 1e-8 ? 1.0 - x * x / 6.0 : std::sin(x) / x; }

double norm3(const Vec3& a) { return std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]); }

// Fourier transform of the taper w(r) = (1 - r^2/rc^2)^2 at |k| (up to a
// constant): integral_0^rc w(r) r^2 sinc(k r) dr, Simpson's rule.
double taper_ft(double k, double rc) {
  constexpr int kSteps = 2000;
  const double h = rc / kSteps;
  double s = 0;
  for (int i = 0; i <= kSteps; ++i) {
    const double r = i * h, u = 1 - (r * r) / (rc * rc);
    const double f = u * u * r * r * sinc(k * r);
    s += f * (i == 0 || i == kSteps ? 1 : (i % 2 ? 4 : 2));
  }
  return s * h / 3;
}

}  // namespace

// ====================================================================== number lists

std::vector<double> parse_numbers(const std::string& text, const std::string& key,
                                  const std::string& example) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    double d = 0;
    try {
      std::size_t used = 0;
      d = std::stod(item, &used);
      if (item.find_first_not_of(" \t", used) != std::string::npos) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw ConfigError(key, fmt::format("'{}' is not a number: give {}", item, example));
    }
    if (!std::isfinite(d))
      throw ConfigError(key, fmt::format("'{}' is not a finite number: give {}", item, example));
    v.push_back(d);
  }
  return v;
}

// ====================================================================== options

void PoleOptions::validate() const {
  // Finite first: an ordered comparison of a NaN raises FE_INVALID.
  const std::pair<double, const char*> values[] = {
      {cone_deg, "--cone"},       {r_cut, "--r-cut"},         {bin, "--bin"},
      {spacing_min, "--spacing"}, {spacing_max, "--spacing"}, {min_score, "--min-score"},
      {tile, "--tile"},           {tile_z, "--tile-z"},       {margin, "--margin"}};
  for (const auto& [v, key] : values)
    if (!std::isfinite(v)) throw ConfigError(key, "must be a finite number");
  if (!(cone_deg > 0 && cone_deg <= 45))
    throw ConfigError("--cone", fmt::format("{} deg: the search cone half-angle must be in (0, 45] degrees "
                                            "(z-SDMs need the planes near normal to z)",
                                            cone_deg));
  if (!(r_cut > 0 && r_cut <= 5)) throw ConfigError("--r-cut", "must be in (0, 5] nm");
  if (!(margin >= 0 && margin <= 20)) throw ConfigError("--margin", "must be in [0, 20] nm");
  if (!(bin > 0) || !std::isfinite(bin)) throw ConfigError("--bin", "must be a positive number of nm");
  const double q = 2 * r_cut / bin;
  const double nq = std::round(q);
  if (std::abs(q - nq) > 1e-6 * nq || static_cast<long long>(nq) % 2 != 0 || nq < 8 || nq > 400)
    throw ConfigError("--bin", fmt::format("2 * r_cut / bin = {:.6g}: must be an even whole number between 8 "
                                           "and 400 (e.g. --bin 0.05 with --r-cut 2)",
                                           q));
  if (!(spacing_min > 0 && spacing_max > spacing_min && std::isfinite(spacing_max)))
    throw ConfigError("--spacing", "need 0 < min < max (nm)");
  if (spacing_min < 2 * bin)
    throw ConfigError("--spacing",
                      fmt::format("the smallest spacing {} nm is below two bins ({} nm): lower --bin",
                                  spacing_min, 2 * bin));
  if (spacing_max > r_cut)
    throw ConfigError("--spacing",
                      fmt::format("the largest spacing {} nm exceeds r_cut ({} nm)", spacing_max, r_cut));
  if (subsamples < 2 || subsamples > 64) throw ConfigError("--subsamples", "must be in 2..64");
  if (!(min_score > 0)) throw ConfigError("--min-score", "must be positive");
  if (!(tile >= 0) || !std::isfinite(tile)) throw ConfigError("--tile", "must be >= 0 nm (0: no map)");
  if (tile > 0 && tile < 2 * r_cut)
    throw ConfigError("--tile",
                      fmt::format("{} nm is less than 2 r_cut ({} nm): tiles that small hold too few "
                                  "ions; use a larger --tile",
                                  tile, 2 * r_cut));
  if (!(tile_z >= 0) || !std::isfinite(tile_z)) throw ConfigError("--tile-z", "must be >= 0 nm (0: columns)");
  if (tile_z > 0 && tile == 0) throw ConfigError("--tile-z", "needs --tile");
  if (tile_z > 0 && tile_z < 2 * r_cut)
    throw ConfigError("--tile-z", fmt::format("{} nm is less than 2 r_cut ({} nm)", tile_z, 2 * r_cut));
  if (min_tile_ions < 100) throw ConfigError("--min-tile-ions", "must be at least 100");
  if (!(tile_spacing_window > 0 && tile_spacing_window < 1))
    throw ConfigError("tile_spacing_window", "must be in (0, 1)");
}

// ====================================================================== geometry

std::shared_ptr<const SpectrumGeometry> SpectrumGeometry::make(double r_cut, double bin) {
  auto g = std::make_shared<SpectrumGeometry>();
  g->r_cut = r_cut;
  g->bin = bin;
  g->n = static_cast<int>(std::lround(2 * r_cut / bin));
  const int n = g->n, h = n / 2;
  if (n < 2 || n % 2) throw InternalError("SpectrumGeometry: 2 r_cut / bin must be even");
  const double rc2 = r_cut * r_cut;
  g->row_lo.assign(static_cast<std::size_t>(h) * n, 0);
  g->row_hi.assign(static_cast<std::size_t>(h) * n, 0);
  auto gap = [&](int i) {  // distance from 0 to the bin [e, e + bin] along one axis
    const double e = -r_cut + i * bin, f = e + bin;
    return (e <= 0 && f >= 0) ? 0.0 : std::min(std::abs(e), std::abs(f));
  };
  for (int iz = h; iz < n; ++iz)
    for (int iy = 0; iy < n; ++iy) {
      const std::size_t row = static_cast<std::size_t>(iz - h) * n + iy;
      int lo = n, hi = 0;
      for (int ix = 0; ix < n; ++ix) {
        const double gz = gap(iz), gy = gap(iy), gx = gap(ix);
        // Generous by 1e-6 (float32 rounding of pairs at |d| = r_cut); such
        // bins have their centre beyond r_cut and weight 0.
        if (gx * gx + gy * gy + gz * gz > rc2 * (1 + 1e-6)) continue;
        const double cx = g->centre(ix), cy = g->centre(iy), cz = g->centre(iz);
        const double r2 = cx * cx + cy * cy + cz * cz;
        const double u = 1 - r2 / rc2;
        g->flat.push_back((static_cast<std::int64_t>(iz) * n + iy) * n + ix);
        g->mirror.push_back((static_cast<std::int64_t>(n - 1 - iz) * n + (n - 1 - iy)) * n + (n - 1 - ix));
        g->cx.push_back(cx);
        g->cy.push_back(cy);
        g->cz.push_back(cz);
        g->w.push_back(r2 < rc2 ? u * u : 0.0);
        lo = std::min(lo, ix);
        hi = std::max(hi, ix + 1);
      }
      if (lo < hi) {
        g->row_lo[row] = lo;
        g->row_hi[row] = hi;
      }
    }
  // Half width at half maximum of the taper's transform, by bisection.
  const double w0 = taper_ft(0, r_cut);
  double a = 0, b = 20 / r_cut;
  for (int it = 0; it < 60; ++it) {
    const double m = 0.5 * (a + b);
    (taper_ft(m, r_cut) > 0.5 * w0 ? a : b) = m;
  }
  g->hwhm = 0.5 * (a + b);
  return g;
}

// ====================================================================== spectrum

PairSpectrum::PairSpectrum(std::shared_ptr<const SpectrumGeometry> geometry, std::vector<std::int64_t> folded)
    : g_(std::move(geometry)), h_(std::move(folded)) {
  const auto& g = *g_;
  if (h_.size() != g.size())
    throw InternalError(fmt::format("PairSpectrum: {} bins for a geometry of {}", h_.size(), g.size()));
  const int n = g.n, half = n / 2;
  dense_.assign(static_cast<std::size_t>(half) * n * n, 0.0);
  double s1 = 0, s2 = 0;
  for (std::size_t i = 0; i < h_.size(); ++i) {
    const double v = static_cast<double>(h_[i]);
    pairs_ += h_[i];
    s1 += v * g.w[i];
    s2 += v * g.w[i] * g.w[i];
    dense_[static_cast<std::size_t>(g.flat[i] - static_cast<std::int64_t>(half) * n * n)] = v * g.w[i];
  }
  total_ = s1;
  noise_ = std::sqrt(s2);
}

void PairSpectrum::grid(const std::vector<double>& kx, const std::vector<double>& ky,
                        const std::vector<double>& kz, std::vector<double>& out) const {
  const auto& g = *g_;
  const int n = g.n, half = n / 2;
  const std::size_t A = kx.size(), B = ky.size(), C = kz.size();
  out.assign(A * B * C, 0.0);
  if (A == 0 || B == 0 || C == 0 || !g_) return;
  // Phase tables.
  auto table = [&](const std::vector<double>& k, int first, int count, std::vector<double>& re,
                   std::vector<double>& im) {
    re.resize(k.size() * count);
    im.resize(k.size() * count);
    for (std::size_t a = 0; a < k.size(); ++a)
      for (int i = 0; i < count; ++i) {
        const double ph = k[a] * g.centre(first + i);
        re[a * count + i] = std::cos(ph);
        im[a * count + i] = std::sin(ph);
      }
  };
  std::vector<double> exr, exi, eyr, eyi, ezr, ezi;
  table(kx, 0, n, exr, exi);
  table(ky, 0, n, eyr, eyi);
  table(kz, half, half, ezr, ezi);
  // T1[(z * n + y) * A + a] = sum_x D e^{i kx x}
  std::vector<double> t1r(static_cast<std::size_t>(half) * n * A, 0.0), t1i(t1r.size(), 0.0);
  for (int z = 0; z < half; ++z)
    for (int y = 0; y < n; ++y) {
      const std::size_t row = static_cast<std::size_t>(z) * n + y;
      const int lo = g.row_lo[row], hi = g.row_hi[row];
      if (lo >= hi) continue;
      const double* d = dense_.data() + row * n;
      for (std::size_t a = 0; a < A; ++a) {
        const double* cr = exr.data() + a * n;
        const double* ci = exi.data() + a * n;
        double sr = 0, si = 0;
        for (int x = lo; x < hi; ++x) {
          sr += d[x] * cr[x];
          si += d[x] * ci[x];
        }
        t1r[row * A + a] = sr;
        t1i[row * A + a] = si;
      }
    }
  // T2[(z * B + b) * A + a] = sum_y T1 e^{i ky y}
  std::vector<double> t2r(static_cast<std::size_t>(half) * B * A, 0.0), t2i(t2r.size(), 0.0);
  for (int z = 0; z < half; ++z)
    for (int y = 0; y < n; ++y) {
      const std::size_t row = static_cast<std::size_t>(z) * n + y;
      if (g.row_lo[row] >= g.row_hi[row]) continue;
      for (std::size_t b = 0; b < B; ++b) {
        const double er = eyr[b * n + y], ei = eyi[b * n + y];
        for (std::size_t a = 0; a < A; ++a) {
          const double xr = t1r[row * A + a], xi = t1i[row * A + a];
          t2r[(z * B + b) * A + a] += xr * er - xi * ei;
          t2i[(z * B + b) * A + a] += xr * ei + xi * er;
        }
      }
    }
  // P = Re sum_z T2 e^{i kz z}, then the bin correction.
  for (std::size_t c = 0; c < C; ++c)
    for (int z = 0; z < half; ++z) {
      const double er = ezr[c * half + z], ei = ezi[c * half + z];
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t a = 0; a < A; ++a)
          out[(c * B + b) * A + a] += t2r[(z * B + b) * A + a] * er - t2i[(z * B + b) * A + a] * ei;
    }
  const double hb = 0.5 * g.bin;
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t a = 0; a < A; ++a)
        out[(c * B + b) * A + a] /= sinc(kx[a] * hb) * sinc(ky[b] * hb) * sinc(kz[c] * hb);
}

double PairSpectrum::at(const Vec3& k) const {
  std::vector<double> out;
  grid({k[0]}, {k[1]}, {k[2]}, out);
  return out[0];
}

// ====================================================================== scan

ConeScan scan_cone(const PairSpectrum& s, double cone_deg, double q_min, double q_max) {
  const auto& g = s.geometry();
  ConeScan sc;
  sc.cone_deg = cone_deg;
  // Coarse cells of 2 x 2 x 2 bins, each at the weighted mean of its bins.
  const int n = g.n, m = n / 2;
  std::vector<double> cm(static_cast<std::size_t>(m) * m * m, 0.0), cxs(cm.size(), 0.0), cys(cm.size(), 0.0),
      czs(cm.size(), 0.0);
  const auto& h = s.folded();
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double v = static_cast<double>(h[i]) * g.w[i];
    if (v == 0) continue;
    const std::int64_t f = g.flat[i];
    const int ix = static_cast<int>(f % n), iy = static_cast<int>((f / n) % n),
              iz = static_cast<int>(f / n / n);
    const std::size_t c = (static_cast<std::size_t>(iz / 2) * m + iy / 2) * m + ix / 2;
    cm[c] += v;
    cxs[c] += v * g.cx[i];
    cys[c] += v * g.cy[i];
    czs[c] += v * g.cz[i];
  }
  std::vector<double> ex, ey, ez, em;
  for (std::size_t c = 0; c < cm.size(); ++c)
    if (cm[c] != 0) {
      ex.push_back(cxs[c] / cm[c]);
      ey.push_back(cys[c] / cm[c]);
      ez.push_back(czs[c] / cm[c]);
      em.push_back(cm[c]);
    }
  // Spacings (|k| = q) and directions.
  const double dq = 0.5 * g.hwhm;
  const int nq = std::max(2, static_cast<int>(std::ceil((q_max - q_min) / dq)) + 1);
  for (int j = 0; j < nq; ++j) sc.q.push_back(q_min + (q_max - q_min) * j / (nq - 1));
  const double dt = std::min(0.005, g.bin / 4);
  const int nt = static_cast<int>(std::ceil((g.r_cut + 2 * g.bin) / dt)) + 1;
  std::vector<double> cosq(static_cast<std::size_t>(nq) * nt);
  for (int j = 0; j < nq; ++j)
    for (int t = 0; t < nt; ++t)
      cosq[static_cast<std::size_t>(j) * nt + t] = std::cos(sc.q[j] * (t + 0.5) * dt);
  const double U = std::tan(cone_deg * kDeg);
  sc.step = std::min(g.hwhm / q_max / 1.5, U / 2);
  const int half_n = static_cast<int>(std::ceil(U / sc.step - 1e-9));
  sc.nu = 2 * half_n + 1;
  std::vector<Vec3> dirs;
  std::vector<int> cell;
  for (int iv = 0; iv < sc.nu; ++iv)
    for (int iu = 0; iu < sc.nu; ++iu) {
      const double u = (iu - half_n) * sc.step, v = (iv - half_n) * sc.step;
      if (std::atan(std::sqrt(u * u + v * v)) > cone_deg * kDeg * (1 + 1e-12)) continue;
      const double len = std::sqrt(1 + u * u + v * v);
      dirs.push_back({u / len, v / len, 1 / len});
      cell.push_back(iv * sc.nu + iu);
    }
  const std::size_t nd = dirs.size();
  std::vector<double> P(nd * static_cast<std::size_t>(nq));
  std::vector<double> prof(static_cast<std::size_t>(nt));
  for (std::size_t d = 0; d < nd; ++d) {
    std::fill(prof.begin(), prof.end(), 0.0);
    const double nx = dirs[d][0], ny = dirs[d][1], nz = dirs[d][2];
    for (std::size_t e = 0; e < em.size(); ++e) {
      const double t = std::abs(nx * ex[e] + ny * ey[e] + nz * ez[e]);
      const int ti = std::min(nt - 1, static_cast<int>(t / dt));
      prof[static_cast<std::size_t>(ti)] += em[e];
    }
    for (int j = 0; j < nq; ++j) {
      const double* cq = cosq.data() + static_cast<std::size_t>(j) * nt;
      double acc = 0;
      for (int t = 0; t < nt; ++t) acc += prof[static_cast<std::size_t>(t)] * cq[t];
      P[d * nq + static_cast<std::size_t>(j)] = acc;
    }
  }
  sc.median.assign(static_cast<std::size_t>(nq), kNaN);
  std::vector<double> col(nd);
  for (int j = 0; j < nq; ++j) {
    for (std::size_t d = 0; d < nd; ++d) col[d] = P[d * nq + static_cast<std::size_t>(j)];
    if (nd == 0) continue;
    std::nth_element(col.begin(), col.begin() + static_cast<std::ptrdiff_t>(nd / 2), col.end());
    double med = col[nd / 2];
    if (nd % 2 == 0) {
      const double lo = *std::max_element(col.begin(), col.begin() + static_cast<std::ptrdiff_t>(nd / 2));
      med = 0.5 * (med + lo);
    }
    sc.median[static_cast<std::size_t>(j)] = med;
  }
  const double noise = s.noise() > 0 ? s.noise() : 1.0;
  double best = -std::numeric_limits<double>::infinity();
  std::size_t bd = 0;
  for (std::size_t d = 0; d < nd; ++d)
    for (int j = 0; j < nq; ++j) {
      const double z =
          (P[d * nq + static_cast<std::size_t>(j)] - sc.median[static_cast<std::size_t>(j)]) / noise;
      if (z > best) {  // first maximum in (direction, q) order: deterministic
        best = z;
        bd = d;
        sc.best_q = j;
      }
    }
  sc.score_at_best_q.assign(static_cast<std::size_t>(sc.nu) * sc.nu, kNaN);
  if (nd == 0 || s.empty()) return sc;
  sc.best_score = best;
  const double q = sc.q[static_cast<std::size_t>(sc.best_q)];
  sc.best_k = {q * dirs[bd][0], q * dirs[bd][1], q * dirs[bd][2]};
  for (std::size_t d = 0; d < nd; ++d)
    sc.score_at_best_q[static_cast<std::size_t>(cell[d])] =
        (P[d * nq + static_cast<std::size_t>(sc.best_q)] - sc.median[static_cast<std::size_t>(sc.best_q)]) /
        noise;
  return sc;
}

// ====================================================================== refinement

Refined refine_peak(const PairSpectrum& s, const Vec3& k0) {
  Refined r;
  if (s.empty() || !std::isfinite(k0[0]) || !std::isfinite(k0[1]) || !std::isfinite(k0[2])) return r;
  const double h = 0.5 * s.geometry().hwhm;
  constexpr int kG = 5, kHalf = 2;
  // Design matrix of the quadratic in grid units (constant, 3 linear, 6 quadratic terms).
  Eigen::MatrixXd X(kG * kG * kG, 10);
  {
    int row = 0;
    for (int c = 0; c < kG; ++c)
      for (int b = 0; b < kG; ++b)
        for (int a = 0; a < kG; ++a, ++row) {
          const double x = a - kHalf, y = b - kHalf, z = c - kHalf;
          X.row(row) << 1, x, y, z, 0.5 * x * x, 0.5 * y * y, 0.5 * z * z, x * y, x * z, y * z;
        }
  }
  const Eigen::MatrixXd XtX = X.transpose() * X;
  const Eigen::LDLT<Eigen::MatrixXd> solver(XtX);
  Vec3 k = k0;
  std::vector<double> kx(kG), ky(kG), kz(kG), out;
  for (int it = 1; it <= 40; ++it) {
    r.iterations = it;
    for (int i = 0; i < kG; ++i) {
      kx[static_cast<std::size_t>(i)] = k[0] + (i - kHalf) * h;
      ky[static_cast<std::size_t>(i)] = k[1] + (i - kHalf) * h;
      kz[static_cast<std::size_t>(i)] = k[2] + (i - kHalf) * h;
    }
    s.grid(kx, ky, kz, out);
    bool positive = true;
    std::size_t arg = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      positive = positive && out[i] > 0;
      if (out[i] > out[arg]) arg = i;
    }
    Eigen::VectorXd y(kG * kG * kG);
    for (int i = 0; i < kG * kG * kG; ++i)
      y[i] = positive ? std::log(out[static_cast<std::size_t>(i)]) : out[static_cast<std::size_t>(i)];
    const Eigen::VectorXd c = solver.solve(X.transpose() * y);
    Eigen::Matrix3d A;
    A << c[4], c[7], c[8], c[7], c[5], c[9], c[8], c[9], c[6];
    const Eigen::Vector3d grad(c[1], c[2], c[3]);
    const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> es(A);
    const bool concave = es.eigenvalues().maxCoeff() < 0;
    Eigen::Vector3d step(0, 0, 0);
    if (concave) step = -A.ldlt().solve(grad);
    if (!concave || step.cwiseAbs().maxCoeff() > 1.0) {
      // Not a peak inside the grid: move to the best grid point and look again.
      const int a = static_cast<int>(arg % kG), b = static_cast<int>((arg / kG) % kG),
                cc = static_cast<int>(arg / kG / kG);
      if (a == kHalf && b == kHalf && cc == kHalf) {
        // Best point in the middle yet no concave fit: give up.
        return r;
      }
      k = {k[0] + (a - kHalf) * h, k[1] + (b - kHalf) * h, k[2] + (cc - kHalf) * h};
      continue;
    }
    k = {k[0] + step[0] * h, k[1] + step[1] * h, k[2] + step[2] * h};
    if (step.cwiseAbs().maxCoeff() < 1e-3) {
      r.ok = true;
      r.k = k;
      r.value = s.at(k);
      return r;
    }
  }
  return r;
}

// ====================================================================== estimate

std::array<double, PoleEstimate::kPacked> PoleEstimate::pack() const {
  return {direction[0],
          direction[1],
          direction[2],
          k[0],
          k[1],
          k[2],
          tilt_deg,
          azimuth_deg,
          spacing_nm,
          uncertainty_deg,
          tilt_uncertainty_deg,
          cross_uncertainty_deg,
          azimuth_uncertainty_deg,
          spacing_uncertainty_nm,
          score,
          contrast,
          static_cast<double>(centres),
          static_cast<double>(pairs),
          static_cast<double>(subsamples_used),
          found ? 1.0 : 0.0};
}

PoleEstimate PoleEstimate::unpack(const double* v) {
  PoleEstimate e;
  e.direction = {v[0], v[1], v[2]};
  e.k = {v[3], v[4], v[5]};
  e.tilt_deg = v[6];
  e.azimuth_deg = v[7];
  e.spacing_nm = v[8];
  e.uncertainty_deg = v[9];
  e.tilt_uncertainty_deg = v[10];
  e.cross_uncertainty_deg = v[11];
  e.azimuth_uncertainty_deg = v[12];
  e.spacing_uncertainty_nm = v[13];
  e.score = v[14];
  e.contrast = v[15];
  e.centres = static_cast<std::int64_t>(v[16]);
  e.pairs = static_cast<std::int64_t>(v[17]);
  e.subsamples_used = static_cast<int>(v[18]);
  e.found = v[19] != 0.0;
  return e;
}

PoleEstimate estimate_pole(const PairSpectrum& full, const std::vector<std::vector<std::int64_t>>& subs,
                           double cone_deg, double q_min, double q_max, double min_score,
                           ConeScan* scan_out) {
  PoleEstimate e;
  e.pairs = full.pairs();
  ConeScan sc = scan_cone(full, cone_deg, q_min, q_max);
  e.score = sc.best_score;
  if (std::isfinite(sc.best_score)) {
    const Refined r = refine_peak(full, sc.best_k);
    if (r.ok) {
      const double q = norm3(r.k);
      e.k = r.k;
      e.direction = {r.k[0] / q, r.k[1] / q, r.k[2] / q};
      if (e.direction[2] < 0) {
        for (auto& d : e.direction) d = -d;
        for (auto& d : e.k) d = -d;
      }
      tilt_azimuth(e.direction, e.tilt_deg, e.azimuth_deg);
      e.spacing_nm = 2 * kPi / q;
      e.contrast = full.total() > 0 ? r.value / full.total() : kNaN;
      // Median of the scan at the nearest q.
      std::size_t j = 0;
      for (std::size_t i = 1; i < sc.q.size(); ++i)
        if (std::abs(sc.q[i] - q) < std::abs(sc.q[j] - q)) j = i;
      e.score = (r.value - sc.median[j]) / (full.noise() > 0 ? full.noise() : 1.0);
      e.found = e.score >= min_score;
    }
  }
  if (e.found && !subs.empty()) {
    // Tangent basis at the pole: towards larger tilt, and across.
    Vec3 et{1, 0, 0}, ec{0, 1, 0};
    const double st = std::sqrt(e.direction[0] * e.direction[0] + e.direction[1] * e.direction[1]);
    if (st > 1e-12) {
      const double ca = e.direction[0] / st, sa = e.direction[1] / st;
      et = {e.direction[2] * ca, e.direction[2] * sa, -st};
      ec = {-sa, ca, 0};
    }
    std::vector<double> a, b, sp;
    for (const auto& h : subs) {
      Vec3 dir{kNaN, kNaN, kNaN};
      double spacing = kNaN;
      const PairSpectrum s(full.shared_geometry(), h);  // one at a time: a dense array each
      const Refined r = s.empty() ? Refined{} : refine_peak(s, e.k);
      if (r.ok) {
        const double q = norm3(r.k);
        dir = {r.k[0] / q, r.k[1] / q, r.k[2] / q};
        if (dir[2] < 0)
          for (auto& d : dir) d = -d;
        spacing = 2 * kPi / q;
        a.push_back(dir[0] * et[0] + dir[1] * et[1] + dir[2] * et[2]);
        b.push_back(dir[0] * ec[0] + dir[1] * ec[1] + dir[2] * ec[2]);
        sp.push_back(spacing);
      }
      e.sub_directions.push_back(dir);
      e.sub_spacing.push_back(spacing);
    }
    e.subsamples_used = static_cast<int>(a.size());
    if (a.size() >= 2) {
      auto se = [](const std::vector<double>& v) {
        const double m = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
        double ss = 0;
        for (double x : v) ss += (x - m) * (x - m);
        return std::sqrt(ss / static_cast<double>(v.size() - 1) / static_cast<double>(v.size()));
      };
      const double sa = se(a), sb = se(b);
      e.tilt_uncertainty_deg = sa / kDeg;
      e.cross_uncertainty_deg = sb / kDeg;
      e.uncertainty_deg = std::sqrt(sa * sa + sb * sb) / kDeg;
      const double sin_t = std::sin(e.tilt_deg * kDeg);
      e.azimuth_uncertainty_deg = sin_t > 0 ? std::min(180.0, sb / sin_t / kDeg) : 180.0;
      e.spacing_uncertainty_nm = se(sp);
    }
  }
  if (scan_out) *scan_out = std::move(sc);
  return e;
}

// ====================================================================== histograms

std::vector<std::int64_t> folded_histogram(const HostIonCloud& cloud,
                                           const CellList<Kokkos::HostSpace>& cells,
                                           const SpectrumGeometry& g, const std::vector<IonIndex>& centres) {
  std::vector<std::int64_t> out(g.size(), 0);
  if (centres.empty()) return out;
  const SdmSpec spec = SdmSpec::cube(g.r_cut, g.bin, g.r_cut);
  const Kokkos::DefaultHostExecutionSpace exec;
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> full(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "aptflow::pole::sdm3d"), spec.size());
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> idx(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "aptflow::pole::centres"), centres.size());
  for (std::size_t i = 0; i < centres.size(); ++i) idx(i) = centres[i];
  compute_sdm_of_centres(exec, cloud, cells, spec, Kokkos::View<const std::int64_t*, Kokkos::HostSpace>(idx),
                         full);
  for (std::size_t i = 0; i < g.size(); ++i) out[i] = full(g.flat[i]) + full(g.mirror[i]);
  return out;
}

}  // namespace aptflow::pole
