#pragma once
// Window probabilities -> sub-cells -> ion labels (method.md 6.1-6.4).
//
// Sub-cell grid (SubcellGrid::of): with k = edge / stride (an integer; 2 for
// the published 1 nm windows at 0.5 nm stride), sub-cell (jx, jy, jz) is the
// stride-sized cube [origin + j * stride, origin + (j + 1) * stride) per axis,
// origin = the window grid's origin (lower corner of window 0), centre
// origin + (j + 0.5) * stride, j = 0 .. n + k - 2 (n windows along the axis:
// n + k - 1 sub-cells; 0 when n = 0). It is covered exactly by the windows
// i = j - k + 1 .. j that exist (0 <= i < n): up to k^3 windows, 8 for k = 2;
// sub-cells on the grid border are covered by fewer. Numbering is C order,
// s = (jz * my + jy) * mx + jx, like the window grid.
//
// Sums: per class, the probabilities of the covering windows added in double
// in window order (iz, iy, ix ascending); a NaN probability (empty window)
// adds 0 (EmptyWindow::zero, aptflow's default) or makes the sum NaN
// (EmptyWindow::veto, the published code: NaN + p = NaN, and NaN > threshold
// is false, so no covering window may be empty). Threshold: class c passes where sum > threshold[c] (+inf:
// never); the sub-cell label is the passing class with the largest sum (ties: the lower class index), else
// -1.
//
// Ion labels: an ion gets a label when a labelled sub-cell centre lies within
// radius (default stride / 2 * 1.414 = 0.3535 nm): d2 = (dx*dx + dy*dy) + dz*dz
// in double with d = double(p) - centre, inside iff d2 <= radius^2. Among
// several such sub-cells the ion takes the label of the one whose own label
// class has the largest sum (ties: the lower class index); -1 otherwise.
#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <string>

#include "aptflow/core/error.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/kernels/windows.hpp"

namespace aptflow {

struct SubcellGrid {
  double origin[3] = {0, 0, 0};         // lower corner of sub-cell 0 = window grid origin, nm
  double size = 0.5;                    // sub-cell edge = window stride, nm
  std::int64_t counts[3] = {0, 0, 0};   // sub-cells along x, y, z
  std::int64_t windows[3] = {0, 0, 0};  // windows along x, y, z of the source grid
  int span = 2;                         // windows per axis covering one sub-cell = edge / stride

  std::int64_t cells() const { return counts[0] * counts[1] * counts[2]; }
  KOKKOS_INLINE_FUNCTION double centre(int axis, std::int64_t j) const {
    return origin[axis] + (double(j) + 0.5) * size;
  }
  KOKKOS_INLINE_FUNCTION std::int64_t index(std::int64_t jx, std::int64_t jy, std::int64_t jz) const {
    return (jz * counts[1] + jy) * counts[0] + jx;
  }
  // Throws ConfigError (windows.stride) unless edge / stride is an integer >= 1.
  static SubcellGrid of(const WindowGrid& g);
};

namespace detail {
KOKKOS_INLINE_FUNCTION bool is_nan_quiet(double v) { return v != v; }  // no FE_INVALID
KOKKOS_INLINE_FUNCTION double quiet_nan() { return __builtin_nan(""); }
}  // namespace detail

// What an empty window (NaN probability) does to the sums of the sub-cells it covers.
enum class EmptyWindow {
  zero,  // adds 0: an empty window neither supports nor vetoes a domain (aptflow)
  veto,  // the sum is NaN: the sub-cell is never labelled (published code)
};
// "zero" | "veto"; ConfigError(key) otherwise.
EmptyWindow parse_empty_window(const std::string& text, const std::string& key = "segment.empty_window");
const char* empty_window_name(EmptyWindow e);

// sums(s, c) = sum over the windows covering sub-cell s of prob(w, c); prob is
// (grid.size() x classes) in window order, sums (cells x classes).
template <class Exec, class Mem>
void sum_subcell_probabilities(const Exec& exec, const WindowGrid& grid,
                               const Kokkos::View<float**, Kokkos::LayoutRight, Mem>& prob,
                               const Kokkos::View<double**, Kokkos::LayoutRight, Mem>& sums,
                               EmptyWindow empty = EmptyWindow::zero) {
  const bool veto = empty == EmptyWindow::veto;
  const SubcellGrid sg = SubcellGrid::of(grid);
  const std::int64_t nc = static_cast<std::int64_t>(prob.extent(1));
  if (static_cast<std::int64_t>(prob.extent(0)) != grid.size() ||
      static_cast<std::int64_t>(sums.extent(0)) != sg.cells() ||
      static_cast<std::int64_t>(sums.extent(1)) != nc)
    throw InternalError(
        "sum_subcell_probabilities: prob must be (windows x classes), sums (sub-cells x classes)");
  const std::int64_t nx = grid.counts[0], ny = grid.counts[1], nz = grid.counts[2];
  const std::int64_t k = sg.span;
  Kokkos::parallel_for(
      "aptflow::segment::subcell_sums", Kokkos::RangePolicy<Exec>(exec, 0, sg.cells()),
      KOKKOS_LAMBDA(const std::int64_t s) {
        const std::int64_t jx = s % sg.counts[0], jy = (s / sg.counts[0]) % sg.counts[1],
                           jz = s / (sg.counts[0] * sg.counts[1]);
        const std::int64_t x0 = jx - k + 1 > 0 ? jx - k + 1 : 0, x1 = jx < nx - 1 ? jx : nx - 1;
        const std::int64_t y0 = jy - k + 1 > 0 ? jy - k + 1 : 0, y1 = jy < ny - 1 ? jy : ny - 1;
        const std::int64_t z0 = jz - k + 1 > 0 ? jz - k + 1 : 0, z1 = jz < nz - 1 ? jz : nz - 1;
        for (std::int64_t c = 0; c < nc; ++c) {
          double acc = 0;
          bool vetoed = false;
          for (std::int64_t iz = z0; iz <= z1; ++iz)
            for (std::int64_t iy = y0; iy <= y1; ++iy)
              for (std::int64_t ix = x0; ix <= x1; ++ix) {
                const double v = prob((iz * ny + iy) * nx + ix, c);
                if (!detail::is_nan_quiet(v))
                  acc += v;
                else
                  vetoed = vetoed || veto;
              }
          sums(s, c) = vetoed ? detail::quiet_nan() : acc;
        }
      });
  exec.fence();
}

// label(s) = passing class with the largest sum, or -1; thresholds per class
// (+inf: the class is never labelled, e.g. the matrix class).
template <class Exec, class Mem>
void threshold_subcells(const Exec& exec, const Kokkos::View<double**, Kokkos::LayoutRight, Mem>& sums,
                        const Kokkos::View<double*, Mem>& thresholds,
                        const Kokkos::View<std::int32_t*, Mem>& label) {
  const std::int64_t n = static_cast<std::int64_t>(sums.extent(0));
  const int nc = static_cast<int>(sums.extent(1));
  if (static_cast<int>(thresholds.extent(0)) != nc || static_cast<std::int64_t>(label.extent(0)) != n)
    throw InternalError(
        "threshold_subcells: thresholds must have one entry per class, label one per sub-cell");
  Kokkos::parallel_for(
      "aptflow::segment::threshold", Kokkos::RangePolicy<Exec>(exec, 0, n),
      KOKKOS_LAMBDA(const std::int64_t s) {
        std::int32_t best = -1;
        for (int c = 0; c < nc; ++c)
          if (!detail::is_nan_quiet(sums(s, c)) && sums(s, c) > thresholds(c) &&
              (best < 0 || sums(s, c) > sums(s, best)))
            best = c;
        label(s) = best;
      });
  exec.fence();
}

// ion_label(i) for every ion of cloud (see the file comment), with sums and
// subcell_label held only for the sub-cell layers [layer_first, layer_first +
// layers) of sg (a rank's part of the grid: row s of sums is sub-cell
// ((jz - layer_first) * my + jy) * mx + jx). Returns the number of ions that
// need a sub-cell outside those layers (their label is then -1; the caller
// decides whether that is an error).
template <class Exec, class Mem>
std::int64_t label_ions_layers(const Exec& exec, const SubcellGrid& sg, std::int64_t layer_first,
                               std::int64_t layers, const IonCloud<Mem>& cloud,
                               const Kokkos::View<double**, Kokkos::LayoutRight, Mem>& sums,
                               const Kokkos::View<std::int32_t*, Mem>& subcell_label, double radius,
                               const Kokkos::View<std::int32_t*, Mem>& ion_label) {
  if (!(radius > 0) || !std::isfinite(radius))
    throw ConfigError("segment.ion_radius", "must be a positive number of nm (paper: 0.3535)");
  const std::int64_t layer_cells = sg.counts[0] * sg.counts[1];
  if (layer_first < 0 || layers < 0 || static_cast<std::int64_t>(sums.extent(0)) != layers * layer_cells ||
      static_cast<std::int64_t>(subcell_label.extent(0)) != layers * layer_cells ||
      static_cast<std::int64_t>(ion_label.extent(0)) != cloud.size())
    throw InternalError("label_ions: sums/subcell_label must match the sub-cell layers, ion_label the cloud");
  const double r2 = radius * radius;
  const auto xs = cloud.x, ys = cloud.y, zs = cloud.z;
  std::int64_t outside = 0;
  Kokkos::parallel_reduce(
      "aptflow::segment::label_ions", Kokkos::RangePolicy<Exec>(exec, 0, cloud.size()),
      KOKKOS_LAMBDA(const IonIndex i, std::int64_t& out) {
        ion_label(i) = -1;
        const double p[3] = {double(xs(i)), double(ys(i)), double(zs(i))};
        std::int64_t lo[3], hi[3];
        for (int a = 0; a < 3; ++a) {
          if (detail::is_nan_quiet(p[a]) || sg.counts[a] == 0) return;
          // j with |p - centre_j| <= radius, widened by one for rounding.
          double l = ::ceil((p[a] - radius - sg.origin[a]) / sg.size - 0.5) - 1;
          double h = ::floor((p[a] + radius - sg.origin[a]) / sg.size - 0.5) + 1;
          const double nmax = double(sg.counts[a] - 1);
          if (h < 0 || l > nmax) return;  // also +-inf
          lo[a] = l < 0 ? 0 : static_cast<std::int64_t>(l);
          hi[a] = h > nmax ? sg.counts[a] - 1 : static_cast<std::int64_t>(h);
        }
        if (lo[2] < layer_first || hi[2] >= layer_first + layers) {
          ++out;
          return;
        }
        std::int32_t best = -1;
        double best_sum = 0;
        for (std::int64_t jz = lo[2]; jz <= hi[2]; ++jz) {
          const double dz = p[2] - sg.centre(2, jz);
          for (std::int64_t jy = lo[1]; jy <= hi[1]; ++jy) {
            const double dy = p[1] - sg.centre(1, jy);
            for (std::int64_t jx = lo[0]; jx <= hi[0]; ++jx) {
              const std::int64_t s = ((jz - layer_first) * sg.counts[1] + jy) * sg.counts[0] + jx;
              const std::int32_t c = subcell_label(s);
              if (c < 0) continue;
              const double dx = p[0] - sg.centre(0, jx);
              if ((dx * dx + dy * dy) + dz * dz > r2) continue;
              const double v = sums(s, c);
              if (best < 0 || v > best_sum || (v == best_sum && c < best)) {
                best = c;
                best_sum = v;
              }
            }
          }
        }
        ion_label(i) = best;
      },
      outside);
  exec.fence();
  return outside;
}

// ion_label(i) for every ion of cloud (see the file comment): the whole grid.
template <class Exec, class Mem>
void label_ions(const Exec& exec, const SubcellGrid& sg, const IonCloud<Mem>& cloud,
                const Kokkos::View<double**, Kokkos::LayoutRight, Mem>& sums,
                const Kokkos::View<std::int32_t*, Mem>& subcell_label, double radius,
                const Kokkos::View<std::int32_t*, Mem>& ion_label) {
  if (static_cast<std::int64_t>(sums.extent(0)) != sg.cells() ||
      static_cast<std::int64_t>(subcell_label.extent(0)) != sg.cells())
    throw InternalError("label_ions: sums/subcell_label must match the sub-cell grid, ion_label the cloud");
  label_ions_layers(exec, sg, 0, sg.counts[2], cloud, sums, subcell_label, radius, ion_label);
}

// ---- The interpolated rule (segment.rule = "interpolate"; docs/segmentation.md)
//
// Smoothing of the sums with a Gaussian of standard deviation sigma (nm):
// out(s, c) = sum_n w(n) in(n, c) / sum_n w(n) over the sub-cells n of the
// global grid with |jx' - jx|, |jy' - jy|, |jz' - jz| <= T, where
// w(n) = g(jx' - jx) g(jy' - jy) g(jz' - jz), g(d) = exp(-d^2 / (2 (sigma / size)^2))
// and T = smoothing_reach(sigma, size) = ceil(3 sigma / size) (the weights
// are renormalised at the grid border; sigma = 0 copies). Computed as three
// passes x, y, z, each renormalised over its in-grid neighbours, which equals
// the formula above because the grid is a box.
//
// Interpolation: an ion at p takes, per class, the trilinear interpolation of
// the smoothed sums between the 8 sub-cell centres around it: per axis
// u = (p - origin) / size - 0.5 clamped to [0, counts - 1], j = min(floor(u),
// counts - 2) (0 when counts = 1), f = u - j, weights (1 - f) and f of the
// sub-cells j and j + 1 (so ions beyond the grid take the border value).
// Score: that value, plus evidence(i) for the class evidence_class (local
// composition, see aptflow/kernels/composition.hpp). Label: the class whose
// score exceeds its threshold with the largest score (ties: the lower class
// index), else -1 (also for a NaN position).

// T, the reach of the smoothing in sub-cells; throws ConfigError
// (segment.smoothing) for a negative, non-finite or too wide sigma.
inline int smoothing_reach(double sigma, double size) {
  // isfinite first: an ordered comparison of a NaN raises FE_INVALID.
  if (!std::isfinite(sigma) || sigma < 0)
    throw ConfigError("segment.smoothing", "must be a number of nm >= 0 (Gaussian sigma; 0 = no smoothing)");
  const double t = std::ceil(3.0 * sigma / size - 1e-9);
  if (t > 16)
    throw ConfigError("segment.smoothing",
                      "reaches more than 16 sub-cells (3 sigma / stride): use a smaller "
                      "sigma (one stride is typical)");
  return t < 0 ? 0 : static_cast<int>(t);
}

// out = the smoothed sums of the local sub-cell layers [layer_first,
// layer_first + layers) of sg (rows as in label_ions_layers). A layer whose
// z neighbourhood (T layers each side) includes a global layer that is not
// held gets NaN: only the layers at least T inside the held range (or at the
// global border) are exact.
template <class Exec, class Mem>
void smooth_subcell_sums(const Exec& exec, const SubcellGrid& sg, std::int64_t layer_first,
                         std::int64_t layers, const Kokkos::View<double**, Kokkos::LayoutRight, Mem>& in,
                         double sigma, const Kokkos::View<double**, Kokkos::LayoutRight, Mem>& out) {
  const int T = smoothing_reach(sigma, sg.size);
  const std::int64_t mx = sg.counts[0], my = sg.counts[1], nl = layers, plane = mx * my;
  const std::int64_t nc = static_cast<std::int64_t>(in.extent(1));
  if (layer_first < 0 || static_cast<std::int64_t>(in.extent(0)) != nl * plane ||
      out.extent(0) != in.extent(0) || out.extent(1) != in.extent(1))
    throw InternalError("smooth_subcell_sums: in and out must be (local sub-cells x classes)");
  if (T == 0) {
    Kokkos::deep_copy(exec, out, in);
    exec.fence();
    return;
  }
  Kokkos::View<double*, Mem> w("aptflow::segment::smoothing_weights", T + 1);
  {
    auto hw = Kokkos::create_mirror_view(w);
    const double s = sigma / sg.size;
    for (int d = 0; d <= T; ++d) hw(d) = std::exp(-double(d) * double(d) / (2.0 * s * s));
    Kokkos::deep_copy(exec, w, hw);
  }
  Kokkos::View<double**, Kokkos::LayoutRight, Mem> tmp(
      Kokkos::view_alloc("aptflow::segment::smoothing_tmp", Kokkos::WithoutInitializing), in.extent(0), nc);
  const std::int64_t mz = sg.counts[2], first = layer_first;
  // axis 0: in -> out, 1: out -> tmp, 2: tmp -> out.
  for (int axis = 0; axis < 3; ++axis) {
    const auto src = axis == 1 ? out : axis == 0 ? in : tmp;
    const auto dst = axis == 1 ? tmp : out;
    const std::int64_t step = axis == 0 ? 1 : axis == 1 ? mx : plane;
    Kokkos::parallel_for(
        "aptflow::segment::smooth", Kokkos::RangePolicy<Exec>(exec, 0, nl * plane),
        KOKKOS_LAMBDA(const std::int64_t s) {
          const std::int64_t j = axis == 0 ? s % mx : axis == 1 ? (s / mx) % my : s / plane;
          // Global index range along the axis, and what is held.
          const std::int64_t g = axis == 2 ? first + j : j;
          const std::int64_t n = axis == 0 ? mx : axis == 1 ? my : mz;
          const std::int64_t lo = g - T > 0 ? g - T : 0, hi = g + T < n - 1 ? g + T : n - 1;
          if (axis == 2 && (lo < first || hi >= first + nl)) {
            for (std::int64_t c = 0; c < nc; ++c) dst(s, c) = detail::quiet_nan();
            return;
          }
          for (std::int64_t c = 0; c < nc; ++c) {
            double acc = 0, norm = 0;
            for (std::int64_t q = lo; q <= hi; ++q) {
              const std::int64_t d = q > g ? q - g : g - q;
              acc += w(d) * src(s + (q - g) * step, c);
              norm += w(d);
            }
            dst(s, c) = acc / norm;
          }
        });
  }
  exec.fence();
}

// ion_label(i) for every ion of cloud by the interpolated rule (above), with
// field (the smoothed sums) held for the local layers [layer_first,
// layer_first + layers). evidence: one value per ion (added to class
// evidence_class) or extent 0 with evidence_class = -1. Returns the number of
// ions whose interpolation needs a layer that is not held or a NaN value
// (their label is then -1; the caller decides whether that is an error).
template <class Exec, class Mem>
std::int64_t label_ions_interpolated(const Exec& exec, const SubcellGrid& sg, std::int64_t layer_first,
                                     std::int64_t layers, const IonCloud<Mem>& cloud,
                                     const Kokkos::View<double**, Kokkos::LayoutRight, Mem>& field,
                                     const Kokkos::View<double*, Mem>& thresholds,
                                     const Kokkos::View<double*, Mem>& evidence, int evidence_class,
                                     const Kokkos::View<std::int32_t*, Mem>& ion_label) {
  const std::int64_t plane = sg.counts[0] * sg.counts[1];
  const int nc = static_cast<int>(field.extent(1));
  if (layer_first < 0 || layers < 0 || static_cast<std::int64_t>(field.extent(0)) != layers * plane ||
      static_cast<int>(thresholds.extent(0)) != nc ||
      static_cast<std::int64_t>(ion_label.extent(0)) != cloud.size())
    throw InternalError(
        "label_ions_interpolated: field must match the sub-cell layers, thresholds the "
        "classes, ion_label the cloud");
  if (evidence_class >= nc ||
      (evidence_class >= 0 && static_cast<std::int64_t>(evidence.extent(0)) != cloud.size()))
    throw InternalError("label_ions_interpolated: evidence needs one value per ion and a class of the field");
  const auto xs = cloud.x, ys = cloud.y, zs = cloud.z;
  std::int64_t outside = 0;
  Kokkos::parallel_reduce(
      "aptflow::segment::label_ions_interpolated", Kokkos::RangePolicy<Exec>(exec, 0, cloud.size()),
      KOKKOS_LAMBDA(const IonIndex i, std::int64_t& out) {
        ion_label(i) = -1;
        const double p[3] = {double(xs(i)), double(ys(i)), double(zs(i))};
        std::int64_t j[3];
        double f[3];
        for (int a = 0; a < 3; ++a) {
          if (detail::is_nan_quiet(p[a]) || sg.counts[a] == 0) return;
          const double top = double(sg.counts[a] - 1);
          double u = (p[a] - sg.origin[a]) / sg.size - 0.5;
          u = u < 0 ? 0 : u > top ? top : u;
          double jf = ::floor(u);
          if (jf > top - 1) jf = top - 1 < 0 ? 0 : top - 1;
          j[a] = static_cast<std::int64_t>(jf);
          f[a] = u - jf;
        }
        const std::int64_t z1 = sg.counts[2] > 1 ? j[2] + 1 : j[2];
        if (j[2] < layer_first || z1 >= layer_first + layers) {
          ++out;
          return;
        }
        const std::int64_t dx = sg.counts[0] > 1 ? 1 : 0, dy = sg.counts[1] > 1 ? sg.counts[0] : 0,
                           dz = sg.counts[2] > 1 ? plane : 0;
        const std::int64_t s0 = ((j[2] - layer_first) * sg.counts[1] + j[1]) * sg.counts[0] + j[0];
        std::int32_t best = -1;
        double best_score = 0;
        for (int c = 0; c < nc; ++c) {
          const double v00 = (1 - f[0]) * field(s0, c) + f[0] * field(s0 + dx, c);
          const double v10 = (1 - f[0]) * field(s0 + dy, c) + f[0] * field(s0 + dy + dx, c);
          const double v01 = (1 - f[0]) * field(s0 + dz, c) + f[0] * field(s0 + dz + dx, c);
          const double v11 = (1 - f[0]) * field(s0 + dz + dy, c) + f[0] * field(s0 + dz + dy + dx, c);
          const double v0 = (1 - f[1]) * v00 + f[1] * v10, v1 = (1 - f[1]) * v01 + f[1] * v11;
          double score = (1 - f[2]) * v0 + f[2] * v1;
          if (detail::is_nan_quiet(score)) {
            ++out;
            ion_label(i) = -1;
            return;
          }
          if (c == evidence_class) score += evidence(i);
          if (score > thresholds(c) && (best < 0 || score > best_score)) {
            best = c;
            best_score = score;
          }
        }
        ion_label(i) = best;
      },
      outside);
  exec.fence();
  return outside;
}

}  // namespace aptflow
