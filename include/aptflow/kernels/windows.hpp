#pragma once
// Window scans (method.md section 3): cubic windows on a regular grid, one
// SDM per window.
//
// Grid placement (WindowGrid::over): window (ix, iy, iz) spans
// [origin + i * stride, origin + i * stride + edge) per axis, origin = box.lo;
// its centre is c_i = origin + edge / 2 + i * stride (double, then rounded to
// float32 for the tests below); there are floor((L - edge) / stride + 1e-9) + 1
// windows along an axis of length L (0 when L < edge): every window lies
// inside the box (as the published code, which skips windows that stick out).
// Windows are numbered in C order: w = (iz * ny + iy) * nx + ix.
//
// Fixed box (WindowGrid::on_box, config key windows.box): the published
// placement on a box [lo, hi] given by the user instead of the data's
// bounds: corners lo + i * stride for i = 0, 1, ... while the corner is
// below hi and corner + edge <= hi (both in double), i.e. the corners of
// numpy.arange(lo, hi, stride) that are <= hi - edge. Windows that hold no
// ion are empty windows.
//
// Variants (distances in float32, as SdmBinning: r2 = (dx*dx + dy*dy) + dz*dz,
// d = p - c, inside iff r2 <= R * R):
//  feal   : centre ions = A ions within centre_radius (default edge / 2) of the
//           window centre; neighbours = every B ion of the cloud within r_cut of
//           a centre ion.
//  cocrni : centre ions = A ions within centre_radius, neighbours = B ions
//           within neighbour_radius of the window centre (both default
//           1.5 * edge / 2) and within r_cut of the centre ion.
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <string>

#include "aptflow/core/error.hpp"
#include "aptflow/kernels/sdm.hpp"

namespace aptflow {

struct WindowGrid {
  double origin[3] = {0, 0, 0};        // lower corner of window (0, 0, 0), nm (x, y, z)
  double edge = 1.0;                   // nm
  double stride = 0.5;                 // nm
  std::int64_t counts[3] = {0, 0, 0};  // windows along x, y, z

  std::int64_t size() const { return counts[0] * counts[1] * counts[2]; }
  double centre(int axis, std::int64_t i) const { return origin[axis] + 0.5 * edge + double(i) * stride; }
  float centre_f(int axis, std::int64_t i) const { return static_cast<float>(centre(axis, i)); }
  std::int64_t index(std::int64_t ix, std::int64_t iy, std::int64_t iz) const {
    return (iz * counts[1] + iy) * counts[0] + ix;
  }
  void unravel(std::int64_t w, std::int64_t& ix, std::int64_t& iy, std::int64_t& iz) const {
    ix = w % counts[0];
    iy = (w / counts[0]) % counts[1];
    iz = w / (counts[0] * counts[1]);
  }
  // Windows that fit inside box (see the file comment). Throws ConfigError
  // (windows.edge / windows.stride) for non-positive values.
  static WindowGrid over(const Box& box, double edge = 1.0, double stride = 0.5);
  // The published placement on the fixed box lo[3], hi[3] (nm; see the file
  // comment). Throws ConfigError (windows.box) for a box that holds no window.
  static WindowGrid on_box(const double lo[3], const double hi[3], double edge = 1.0, double stride = 0.5);
};

enum class WindowVariant { feal, cocrni };
std::string to_string(WindowVariant v);
WindowVariant parse_window_variant(const std::string& text, const std::string& key = "windows.variant");

struct WindowSpec {
  WindowVariant variant = WindowVariant::feal;
  float centre_radius = 0.5f;     // nm
  float neighbour_radius = 0.0f;  // nm, cocrni only
  // FeAl paper: centre sphere radius edge / 2; neighbours from the whole cloud.
  static WindowSpec feal(double edge = 1.0);
  // CoCrNi paper: centre and neighbour sphere radius 1.5 * edge / 2.
  static WindowSpec cocrni(double edge = 1.0);
  // Throws ConfigError naming the key for radii that are not positive, or a
  // feal centre radius so large against the stride that one ion could sit in
  // more than 128 windows.
  void validate(const WindowGrid& grid) const;
};

namespace detail {

inline constexpr int kMaxWindowsPerIon = 128;
inline constexpr int kMaxLocalBins = 1024;  // >= SdmSpec z crop limit

// Window centres per axis, on the device: float32 (aptflow's arithmetic)
// and double, (origin + i * stride) + edge / 2 as the published code places
// them (SdmSpec::arithmetic float64*).
template <class Mem>
struct WindowCentres {
  Kokkos::View<float*, Mem> c[3];
  Kokkos::View<double*, Mem> d[3];
  std::int64_t n[3] = {0, 0, 0};
  double c0[3] = {0, 0, 0};
  double stride = 1;
};

template <class Mem>
WindowCentres<Mem> make_window_centres(const WindowGrid& g) {
  WindowCentres<Mem> wc;
  for (int a = 0; a < 3; ++a) {
    wc.c[a] = Kokkos::View<float*, Mem>("aptflow::windows::centres", g.counts[a]);
    wc.d[a] = Kokkos::View<double*, Mem>("aptflow::windows::centres64", g.counts[a]);
    auto h = Kokkos::create_mirror_view(wc.c[a]);
    auto hd = Kokkos::create_mirror_view(wc.d[a]);
    for (std::int64_t i = 0; i < g.counts[a]; ++i) {
      h(i) = g.centre_f(a, i);
      hd(i) = (g.origin[a] + double(i) * g.stride) + 0.5 * g.edge;
    }
    Kokkos::deep_copy(wc.c[a], h);
    Kokkos::deep_copy(wc.d[a], hd);
    wc.n[a] = g.counts[a];
    wc.c0[a] = g.centre(a, 0);
  }
  wc.stride = g.stride;
  return wc;
}

KOKKOS_INLINE_FUNCTION bool in_sphere(float px, float py, float pz, float cx, float cy, float cz,
                                      float r2max) {
  const float dx = px - cx, dy = py - cy, dz = pz - cz;
  return dx * dx + dy * dy + dz * dz <= r2max;
}

// The same test in double (SdmSpec::arithmetic float64*), as cKDTree does it.
KOKKOS_INLINE_FUNCTION bool in_sphere64(double px, double py, double pz, double cx, double cy, double cz,
                                        double r2max) {
  const double dx = px - cx, dy = py - cy, dz = pz - cz;
  return (dx * dx + dy * dy) + dz * dz <= r2max;
}

// z-SDM of one point in the double arithmetic (self pair included, as
// for_each_pair_bin) into h[0, crop_count): scalar, for the published rules.
template <class Mem>
KOKKOS_INLINE_FUNCTION void z_histogram64(const SdmBinning& bn, const CellsView<Mem>& nb,
                                          const RowRanges& rows, const double px, const double py,
                                          const double pz, std::int32_t* h) {
  for (int q = 0; q < bn.crop_count; ++q) h[q] = 0;
  for (int r = 0; r < rows.n; ++r)
    for (std::int64_t k = rows.b[r]; k < rows.e[r]; ++k) {
      const double dx = double(nb.x(k)) - px, dy = double(nb.y(k)) - py, dz = double(nb.z(k)) - pz;
      if ((dx * dx + dy * dy) + dz * dz > bn.rc2_64) continue;
      const int bin = bn.bin64_z(dx, dz);
      if (bin >= 0) ++h[bin];
    }
}

// feal: one work item per cell of the centre list inside the chunk's z slab.
// Each A ion finds the chunk windows whose sphere holds it, computes its
// neighbour histogram ONCE and adds it to each of them.
template <SdmKind K, class Exec, class Mem>
struct FealWindowSdm {
  SdmBinning bn;
  CellsView<Mem> a, b;
  double r_cut;
  bool centres_in_b;  // A == B: remove one self pair per centre
  Kokkos::View<const float*, Mem> wcx, wcy, wcz;
  std::int64_t nwx, nwy, nwz;
  double c0x, c0y, c0z, stride, reach;  // reach = centre radius + margin, for index ranges
  float rw2;                            // centre radius squared (float32)
  std::int64_t first, count, cell_offset;
  Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem> out;
  Kokkos::View<std::int64_t*, Mem> centre_counts;
  Kokkos::View<const double*, Mem> wdx, wdy, wdz;  // double centres (arithmetic float64*)
  double rw2_64;                                   // centre radius squared (double)

  KOKKOS_INLINE_FUNCTION static void index_range(double p, double c0, double stride, double reach,
                                                 std::int64_t n, std::int64_t& lo, std::int64_t& hi) {
    // reach = centre radius + 1e-3 nm covers the float32 rounding of the
    // window centres and of the membership test.
    const double tl = ::ceil((p - reach - c0) / stride), th = ::floor((p + reach - c0) / stride);
    lo = tl < 0 ? 0 : tl > double(n) ? n : static_cast<std::int64_t>(tl);
    hi = th > double(n - 1) ? n - 1 : th < -1.0 ? -1 : static_cast<std::int64_t>(th);
  }

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t ci) const {
    const std::int64_t c = cell_offset + ci;
    const std::int64_t s0 = a.start(c), s1 = a.start(c + 1);
    if (s0 == s1) return;
    RowRanges rows;
    const int sb = self_bin<K>(bn);
    const std::int64_t last = first + count - 1;
    const std::int64_t plane = nwx * nwy;
    const auto o = out;
    for (std::int64_t s = s0; s < s1; ++s) {
      const float px = a.x(s), py = a.y(s), pz = a.z(s);
      std::int64_t wl[kMaxWindowsPerIon];
      int nwl = 0;
      std::int64_t x0, x1, y0, y1, z0, z1;
      index_range(px, c0x, stride, reach, nwx, x0, x1);
      index_range(py, c0y, stride, reach, nwy, y0, y1);
      index_range(pz, c0z, stride, reach, nwz, z0, z1);
      if (z0 < first / plane) z0 = first / plane;
      if (z1 > last / plane) z1 = last / plane;
      for (std::int64_t iz = z0; iz <= z1; ++iz)
        for (std::int64_t iy = y0; iy <= y1; ++iy)
          for (std::int64_t ix = x0; ix <= x1; ++ix) {
            const std::int64_t w = (iz * nwy + iy) * nwx + ix;
            if (w < first || w > last) continue;
            if (bn.arithmetic != 0 ? !in_sphere64(px, py, pz, wdx(ix), wdy(iy), wdz(iz), rw2_64)
                                   : !in_sphere(px, py, pz, wcx(ix), wcy(iy), wcz(iz), rw2))
              continue;
            if (nwl < kMaxWindowsPerIon) wl[nwl++] = w - first;
          }
      if (nwl == 0) continue;
      for (int k = 0; k < nwl; ++k) add_to<Exec>(centre_counts(wl[k]), std::int64_t(1));
      neighbour_rows(b.g, b.start, px, py, pz, r_cut, rows);
      if constexpr (K == SdmKind::z) {
        // Private histogram of this ion (93 bins), added once per window.
        std::int32_t h[kMaxLocalBins];
        const int nb = bn.crop_count;
        if (bn.arithmetic != 0) {
          z_histogram64(bn, b, rows, px, py, pz, h);
        } else if constexpr (kHostExec<Exec>) {
          z_histogram_host(bn, b, rows, px, py, pz, h);
        } else {
          for (int q = 0; q < nb; ++q) h[q] = 0;
          for_each_pair_bin<K>(bn, b, rows, px, py, pz, [&](const int bin) { ++h[bin]; });
        }
        if (centres_in_b && sb >= 0) --h[sb];
        for (int k = 0; k < nwl; ++k) {
          const std::int64_t w = wl[k];
          for (int q = 0; q < nb; ++q)
            if (h[q]) add_to<Exec>(o(w, q), std::int64_t(h[q]));
        }
      } else {
        // 40000 or 64000 bins: add each pair directly to every window.
        for_each_pair_bin<K>(bn, b, rows, px, py, pz, [&](const int bin) {
          for (int k = 0; k < nwl; ++k) add_to<Exec>(o(wl[k], bin), std::int64_t(1));
        });
        if (centres_in_b && sb >= 0)
          for (int k = 0; k < nwl; ++k) add_to<Exec>(o(wl[k], sb), std::int64_t(-1));
      }
    }
  }
};

// cocrni, pass 1 and 2: per window, count (fill == false) or list (fill ==
// true) the slots of the A ions within ra and of the B ions within rb.
template <class Exec, class Mem>
struct GatherSpheres {
  CellsView<Mem> a, b;
  Kokkos::View<const float*, Mem> wcx, wcy, wcz;
  std::int64_t nwx, nwy, first;
  float ra2, rb2;
  double ra_reach, rb_reach;
  bool fill;
  Kokkos::View<std::int64_t*, Mem> na, nb;          // counts (fill == false) or offsets (fill == true)
  Kokkos::View<std::int64_t*, Mem> list_a, list_b;  // slots (fill == true)
  Kokkos::View<const double*, Mem> wdx, wdy, wdz;   // double centres (arithmetic float64*)
  double ra2_64 = 0, rb2_64 = 0;                    // > 0: membership in double

  template <class ListView>
  KOKKOS_INLINE_FUNCTION static std::int64_t scan(const CellsView<Mem>& cl, float cx, float cy, float cz,
                                                  float r2, double reach, bool fill, std::int64_t pos,
                                                  const ListView& list, double c64[3], double r2_64) {
    const CellGrid& g = cl.g;
    const int x0 = g.coord(0, cx - reach), x1 = g.coord(0, cx + reach);
    const int y0 = g.coord(1, cy - reach), y1 = g.coord(1, cy + reach);
    const int z0 = g.coord(2, cz - reach), z1 = g.coord(2, cz + reach);
    std::int64_t cnt = 0;
    for (int z = z0; z <= z1; ++z)
      for (int y = y0; y <= y1; ++y) {
        const std::int64_t e = cl.start(g.cell(x1, y, z) + 1);
        for (std::int64_t k = cl.start(g.cell(x0, y, z)); k < e; ++k)
          if (r2_64 > 0 ? in_sphere64(cl.x(k), cl.y(k), cl.z(k), c64[0], c64[1], c64[2], r2_64)
                        : in_sphere(cl.x(k), cl.y(k), cl.z(k), cx, cy, cz, r2)) {
            if (fill) list(pos + cnt) = k;
            ++cnt;
          }
      }
    return cnt;
  }

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    const std::int64_t w = first + i;
    const std::int64_t ix = w % nwx, iy = (w / nwx) % nwy, iz = w / (nwx * nwy);
    const float cx = wcx(ix), cy = wcy(iy), cz = wcz(iz);
    double c64[3] = {0, 0, 0};
    if (ra2_64 > 0) {
      c64[0] = wdx(ix);
      c64[1] = wdy(iy);
      c64[2] = wdz(iz);
    }
    if (fill) {
      scan(a, cx, cy, cz, ra2, ra_reach, true, na(i), list_a, c64, ra2_64);
      scan(b, cx, cy, cz, rb2, rb_reach, true, nb(i), list_b, c64, rb2_64);
    } else {
      na(i) = scan(a, cx, cy, cz, ra2, ra_reach, false, 0, list_a, c64, ra2_64);
      nb(i) = scan(b, cx, cy, cz, rb2, rb_reach, false, 0, list_b, c64, rb2_64);
    }
  }
};

// cocrni, pass 3: all (centre, neighbour) pairs of one window per work item;
// windows are disjoint rows of out, so no atomics are needed.
template <SdmKind K, class Exec, class Mem>
struct CocrniWindowSdm {
  SdmBinning bn;
  CellsView<Mem> a, b;
  Kokkos::View<const std::int64_t*, Mem> off_a, off_b, list_a, list_b;
  Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem> out;

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    const float rc2 = bn.rc2;
    if (bn.arithmetic != 0) {  // published double arithmetic (z-SDMs only)
      for (std::int64_t p = off_a(i); p < off_a(i + 1); ++p) {
        const std::int64_t sa = list_a(p);
        const double px = a.x(sa), py = a.y(sa), pz = a.z(sa);
        const std::int64_t self = a.ion(sa);
        for (std::int64_t q = off_b(i); q < off_b(i + 1); ++q) {
          const std::int64_t sb = list_b(q);
          const double dx = double(b.x(sb)) - px, dy = double(b.y(sb)) - py, dz = double(b.z(sb)) - pz;
          const double r2 = (dx * dx + dy * dy) + dz * dz;
          if (r2 > bn.rc2_64 || (r2 == 0.0 && b.ion(sb) == self)) continue;
          const int bin = bn.bin64_z(dx, dz);
          if (bin >= 0) ++out(i, bin);
        }
      }
      return;
    }
    for (std::int64_t p = off_a(i); p < off_a(i + 1); ++p) {
      const std::int64_t sa = list_a(p);
      const float px = a.x(sa), py = a.y(sa), pz = a.z(sa);
      const std::int64_t self = a.ion(sa);
      for (std::int64_t q = off_b(i); q < off_b(i + 1); ++q) {
        const std::int64_t sb = list_b(q);
        const float dx = b.x(sb) - px, dy = b.y(sb) - py, dz = b.z(sb) - pz;
        const float r2 = dx * dx + dy * dy + dz * dz;
        if (r2 <= rc2) {
          if (r2 == 0.0f && b.ion(sb) == self) continue;
          const int bin = bn.template bin<K>(dx, dy, dz);
          if (bin >= 0) ++out(i, bin);
        }
      }
    }
  }
};

template <class Exec, class Mem>
std::int64_t exclusive_scan(const Exec& exec, const Kokkos::View<std::int64_t*, Mem>& counts,
                            const Kokkos::View<std::int64_t*, Mem>& offsets) {
  std::int64_t total = 0;
  const std::int64_t n = static_cast<std::int64_t>(counts.extent(0));
  Kokkos::parallel_scan(
      "aptflow::windows::scan", Kokkos::RangePolicy<Exec>(exec, 0, n + 1),
      KOKKOS_LAMBDA(const std::int64_t i, std::int64_t& sum, const bool final) {
        if (final) offsets(i) = sum;
        if (i < n) sum += counts(i);
      },
      total);
  return total;
}

}  // namespace detail

// SDMs of windows [first_window, first_window + n_windows) of grid. out is
// (n_windows x spec.size()), row r = window first_window + r, overwritten;
// centre_counts(r) = number of centre ions of that window (0: empty window,
// its SDM row is all zeros; downstream turns it into NaN). The caller loops
// over chunks; memory is one chunk plus, for cocrni, the per-window ion lists.
template <class Exec, class Mem>
void compute_window_sdms(const Exec& exec, const SdmCells<Mem>& cells, const WindowGrid& grid,
                         const WindowSpec& wspec, const SdmSpec& spec, std::int64_t first_window,
                         std::int64_t n_windows,
                         const Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem>& out,
                         const Kokkos::View<std::int64_t*, Mem>& centre_counts) {
  detail::check_grid_for(cells.grid(), spec);
  wspec.validate(grid);
  if (first_window < 0 || n_windows < 0 || first_window + n_windows > grid.size())
    throw InternalError("compute_window_sdms: windows [" + std::to_string(first_window) + ", " +
                        std::to_string(first_window + n_windows) + ") outside the grid of " +
                        std::to_string(grid.size()) + " windows");
  if (static_cast<std::int64_t>(out.extent(0)) != n_windows ||
      static_cast<std::int64_t>(out.extent(1)) != spec.size() ||
      static_cast<std::int64_t>(centre_counts.extent(0)) != n_windows)
    throw InternalError(
        "compute_window_sdms: output Views must be (n_windows x spec.size()) and (n_windows)");
  Kokkos::deep_copy(exec, out, std::int64_t(0));
  Kokkos::deep_copy(exec, centre_counts, std::int64_t(0));
  if (n_windows == 0) return;
  if (spec.arithmetic != SdmArithmetic::float32 && spec.kind != SdmKind::z)
    throw ConfigError("sdm.arithmetic", "'" + to_string(spec.arithmetic) +
                                            "' is implemented for window z-SDMs only: use \"float32\" for " +
                                            to_string(spec.kind) + "-SDMs");
  const SdmBinning bn = make_binning(spec);
  const auto wc = detail::make_window_centres<Mem>(grid);
  const detail::CellsView<Mem> a(cells.centres), b(cells.neighbours);
  constexpr double kMargin = 1e-3;  // nm, conservative reach for index and cell ranges

  if (wspec.variant == WindowVariant::feal) {
    // Cells of the centre list in the z slab that can touch the chunk.
    const std::int64_t plane = grid.counts[0] * grid.counts[1];
    const double reach = double(wspec.centre_radius) + kMargin;
    const double zlo = grid.centre(2, first_window / plane) - reach;
    const double zhi = grid.centre(2, (first_window + n_windows - 1) / plane) + reach;
    const CellGrid& g = a.g;
    const std::int64_t cz0 = g.coord(2, zlo), cz1 = g.coord(2, zhi);
    const std::int64_t cplane = std::int64_t(g.n[0]) * g.n[1];
    const std::int64_t c0 = cz0 * cplane, c1 = (cz1 + 1) * cplane;
    detail::dispatch_kind<detail::FealWindowSdm, Exec, Mem>(
        exec, "aptflow::windows::feal", spec.kind, c1 - c0, bn, a, b, spec.r_cut,
        cells.species_a == cells.species_b, wc.c[0], wc.c[1], wc.c[2], wc.n[0], wc.n[1], wc.n[2], wc.c0[0],
        wc.c0[1], wc.c0[2], wc.stride, reach, wspec.centre_radius * wspec.centre_radius, first_window,
        n_windows, c0, out, centre_counts, wc.d[0], wc.d[1], wc.d[2],
        double(wspec.centre_radius) * double(wspec.centre_radius));
  } else {
    Kokkos::View<std::int64_t*, Mem> na("aptflow::windows::n_centres", n_windows + 1);
    Kokkos::View<std::int64_t*, Mem> nb("aptflow::windows::n_neighbours", n_windows + 1);
    Kokkos::View<std::int64_t*, Mem> empty;
    detail::GatherSpheres<Exec, Mem> gather{a,
                                            b,
                                            wc.c[0],
                                            wc.c[1],
                                            wc.c[2],
                                            wc.n[0],
                                            wc.n[1],
                                            first_window,
                                            wspec.centre_radius * wspec.centre_radius,
                                            wspec.neighbour_radius * wspec.neighbour_radius,
                                            double(wspec.centre_radius) + kMargin,
                                            double(wspec.neighbour_radius) + kMargin,
                                            false,
                                            na,
                                            nb,
                                            empty,
                                            empty,
                                            wc.d[0],
                                            wc.d[1],
                                            wc.d[2],
                                            0.0,
                                            0.0};
    if (bn.arithmetic != 0) {  // membership in double, as cKDTree's query_ball_point
      gather.ra2_64 = double(wspec.centre_radius) * double(wspec.centre_radius);
      gather.rb2_64 = double(wspec.neighbour_radius) * double(wspec.neighbour_radius);
    }
    Kokkos::parallel_for("aptflow::windows::cocrni_count", Kokkos::RangePolicy<Exec>(exec, 0, n_windows),
                         gather);
    Kokkos::deep_copy(exec, centre_counts,
                      Kokkos::subview(na, Kokkos::make_pair(std::int64_t(0), n_windows)));
    Kokkos::View<std::int64_t*, Mem> oa("aptflow::windows::off_centres", n_windows + 1);
    Kokkos::View<std::int64_t*, Mem> ob("aptflow::windows::off_neighbours", n_windows + 1);
    const auto ca = Kokkos::subview(na, Kokkos::make_pair(std::int64_t(0), n_windows));
    const auto cb = Kokkos::subview(nb, Kokkos::make_pair(std::int64_t(0), n_windows));
    const std::int64_t ta = detail::exclusive_scan(exec, Kokkos::View<std::int64_t*, Mem>(ca), oa);
    const std::int64_t tb = detail::exclusive_scan(exec, Kokkos::View<std::int64_t*, Mem>(cb), ob);
    gather.fill = true;
    gather.na = oa;
    gather.nb = ob;
    gather.list_a = Kokkos::View<std::int64_t*, Mem>("aptflow::windows::list_centres", ta);
    gather.list_b = Kokkos::View<std::int64_t*, Mem>("aptflow::windows::list_neighbours", tb);
    Kokkos::parallel_for("aptflow::windows::cocrni_fill", Kokkos::RangePolicy<Exec>(exec, 0, n_windows),
                         gather);
    detail::dispatch_kind<detail::CocrniWindowSdm, Exec, Mem>(exec, "aptflow::windows::cocrni", spec.kind,
                                                              n_windows, bn, a, b, oa, ob, gather.list_a,
                                                              gather.list_b, out);
  }
  exec.fence();
}

}  // namespace aptflow
