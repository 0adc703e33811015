#pragma once
// Window scans: the kernels that count the window SDMs of a WindowGrid
// (the grid placement and the variants: core/window_grid.hpp).
#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <string>

#include "aptflow/core/error.hpp"
#include "aptflow/core/window_grid.hpp"
#include "aptflow/kernels/sdm.hpp"

namespace aptflow {

namespace detail {

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

  KOKKOS_INLINE_FUNCTION static void index_range(double p, double c0, double inv_stride, double reach,
                                                 std::int64_t n, std::int64_t& lo, std::int64_t& hi) {
    // reach = centre radius + 1e-3 nm covers the float32 rounding of the
    // window centres and of the membership test (and the rounding of the
    // reciprocal stride).
    const double tl = ::ceil((p - reach - c0) * inv_stride), th = ::floor((p + reach - c0) * inv_stride);
    lo = tl < 0 ? 0 : tl > double(n) ? n : static_cast<std::int64_t>(tl);
    hi = th > double(n - 1) ? n - 1 : th < -1.0 ? -1 : static_cast<std::int64_t>(th);
  }

  // The chunk windows whose centre sphere holds (px, py, pz): their rows
  // (window - first) in wl, their number returned. A (y, z) pair of window
  // coordinates is skipped when fl(dy*dy + dz*dz) > rw2 already: in_sphere
  // rounds (dx*dx + dy*dy) + dz*dz, which is never smaller (rounding is
  // monotone), so the pruning is exact.
  KOKKOS_INLINE_FUNCTION int windows_of(const float px, const float py, const float pz,
                                        std::int64_t* wl) const {
    int nwl = 0;
    const std::int64_t last = first + count - 1;
    const std::int64_t plane = nwx * nwy;
    const double inv = 1.0 / stride;
    std::int64_t x0, x1, y0, y1, z0, z1;
    index_range(px, c0x, inv, reach, nwx, x0, x1);
    index_range(py, c0y, inv, reach, nwy, y0, y1);
    index_range(pz, c0z, inv, reach, nwz, z0, z1);
    if (z0 < first / plane) z0 = first / plane;
    if (z1 > last / plane) z1 = last / plane;
    if (bn.arithmetic != 0) {  // published double arithmetic: the plain loop
      for (std::int64_t iz = z0; iz <= z1; ++iz)
        for (std::int64_t iy = y0; iy <= y1; ++iy)
          for (std::int64_t ix = x0; ix <= x1; ++ix) {
            const std::int64_t w = (iz * nwy + iy) * nwx + ix;
            if (w < first || w > last) continue;
            if (!in_sphere64(px, py, pz, wdx(ix), wdy(iy), wdz(iz), rw2_64)) continue;
            if (nwl < kMaxWindowsPerIon) wl[nwl++] = w - first;
          }
      return nwl;
    }
    for (std::int64_t iz = z0; iz <= z1; ++iz) {
      const float dz = pz - wcz(iz), dz2 = dz * dz;
      for (std::int64_t iy = y0; iy <= y1; ++iy) {
        const float dy = py - wcy(iy);
        if (dy * dy + dz2 > rw2) continue;
        // Branch-free: the membership of a window is unpredictable. wl
        // has one spare slot; validate() bounds the windows per ion.
        const std::int64_t row = (iz * nwy + iy) * nwx;
        for (std::int64_t ix = x0; ix <= x1; ++ix) {
          const std::int64_t w = row + ix;
          const bool inside =
              (w >= first) & (w <= last) & in_sphere(px, py, pz, wcx(ix), wcy(iy), wcz(iz), rw2);
          wl[nwl] = w - first;
          nwl += inside & (nwl < kMaxWindowsPerIon);
        }
      }
    }
    return nwl;
  }

  // Adds the z-SDM h (crop_count bins) of one centre to its windows.
  template <class T>
  void add_z_histogram(const T* h, const std::int64_t* wl, const int nwl) const {
    const int nb = bn.crop_count;
    for (int k = 0; k < nwl; ++k) {
      if constexpr (kSerialExec<Exec>) {
        std::int64_t* row = &out(wl[k], 0);
        for (int q = 0; q < nb; ++q) row[q] += h[q];  // branch-free: vectorises
      } else {
        for (int q = 0; q < nb; ++q)
          if (h[q]) Kokkos::atomic_add(&out(wl[k], q), std::int64_t(h[q]));
      }
    }
  }

  // Host algorithm (this functor runs on host spaces only).
  void operator()(const std::int64_t ci) const {
    const std::int64_t c = cell_offset + ci;
    const std::int64_t s0 = a.start(c), s1 = a.start(c + 1);
    if (s0 == s1) return;
    RowRanges rows;
    const int sb = self_bin<K>(bn);
    const auto o = out;
    for (std::int64_t s = s0; s < s1; ++s) {
      const float px = a.x(s), py = a.y(s), pz = a.z(s);
      std::int64_t wl[kMaxWindowsPerIon + 1];
      const int nwl = windows_of(px, py, pz, wl);
      if (nwl == 0) continue;
      for (int k = 0; k < nwl; ++k) add_to<Exec>(centre_counts(wl[k]), std::int64_t(1));
      neighbour_rows(b.g, b.start, px, py, pz, r_cut, rows);
      if constexpr (K == SdmKind::z) {
        // Private histogram of this ion (93 bins), added once per window.
        std::int32_t h[kMaxLocalBins];
        if (bn.arithmetic != 0)
          z_histogram64(bn, b, rows, px, py, pz, h);
        else
          z_histogram_host(bn, b, rows, px, py, pz, h);
        if (centres_in_b && sb >= 0) --h[sb];
        add_z_histogram(h, wl, nwl);
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

// Distance along one axis from the interval [lo, hi] to the extent of cell
// c (0 when they overlap); border cells extend to infinity.
inline double interval_gap(const CellGrid& g, int axis, int c, double lo, double hi) {
  const double clo = g.lo[axis] + c * g.edge, chi = clo + g.edge;
  if (c > 0 && hi < clo) return clo - hi;
  if (c < g.n[axis] - 1 && lo > chi) return lo - chi;
  return 0.0;
}

// feal z-SDM on the host, the fast path: one work item per centre cell.
// The neighbour candidates of ALL the cell's centres (those in a chunk
// window) are gathered once into a contiguous per-thread buffer: the B ions
// within r_cut, in x and y, of the centres' bounding rectangle and whose z
// lies within the z crop of the centres' z range (the crop, |dz| <= 0.7 nm
// of 1.5, is what the z-SDM keeps). Each centre then bins the whole buffer
// with the vectorised z_histogram_add, whose exact float test decides.
// The filters are conservative (double, margins of 1e-5 nm above the
// float32 rounding), so the counts equal the definition. A cell whose
// candidates exceed the buffer takes the per-ion path of FealWindowSdm.
template <class Exec, class Mem>
struct FealZCells {
  using Policy = Kokkos::TeamPolicy<Exec>;
  using Member = typename Policy::member_type;
  using Buffer = Kokkos::View<float*, typename Exec::scratch_memory_space, Kokkos::MemoryUnmanaged>;
  static constexpr std::int64_t kCapacity = 32768;  // candidates per cell (3 x 128 KB of scratch)

  FealWindowSdm<SdmKind::z, Exec, Mem> f;
  // Threaded host spaces (OpenMP, Threads): a private copy of out per
  // thread (the token's id), summed into out after the kernel by
  // sum_private_rows, instead of an atomic add per bin; extent 0: Serial
  // (out itself) or too many threads for the copies (atomics).
  Kokkos::View<std::int64_t***, Kokkos::LayoutRight, Mem> priv = {};
  Kokkos::Experimental::UniqueToken<Exec> token = Kokkos::Experimental::UniqueToken<Exec>();

  static std::size_t scratch_bytes() { return 4 * Buffer::shmem_size(kCapacity + 8) + 256; }

  // float bounds just outside double ones (conservative filters).
  static float down(double v) {
    float f = static_cast<float>(v);
    return double(f) > v ? std::nextafter(f, -INFINITY) : f;
  }
  static float up(double v) {
    float f = static_cast<float>(v);
    return double(f) < v ? std::nextafter(f, INFINITY) : f;
  }

  void operator()(const Member& t) const {
    const std::int64_t c = f.cell_offset + t.league_rank();
    const std::int64_t s0 = f.a.start(c), s1 = f.a.start(c + 1);
    if (s0 == s1) return;
    // Bounding box of the cell's centre ions (all of them: no window search yet).
    float lo[3] = {f.a.x(s0), f.a.y(s0), f.a.z(s0)}, hi[3] = {lo[0], lo[1], lo[2]};
    for (std::int64_t s = s0 + 1; s < s1; ++s) {
      const float p[3] = {f.a.x(s), f.a.y(s), f.a.z(s)};
      for (int k = 0; k < 3; ++k) {
        lo[k] = p[k] < lo[k] ? p[k] : lo[k];
        hi[k] = p[k] > hi[k] ? p[k] : hi[k];
      }
    }
    const CellGrid& g = f.b.g;
    const double rr = f.r_cut * (1.0 + 1e-5) + 1e-6, rr2 = rr * rr, margin = 1e-5;
    const double zl = double(lo[2]) + double(f.bn.crop_lo) - margin;
    const double zh = double(hi[2]) + double(f.bn.crop_hi) + margin;
    const ZGatherBox box{lo[0], hi[0], lo[1], hi[1], down(zl), up(zh), up(rr2)};
    const int cz0 = g.coord(2, zl), cz1 = g.coord(2, zh);
    const int cy0 = g.coord(1, lo[1] - rr), cy1 = g.coord(1, hi[1] + rr);
    // Rows (cz, cy) and their x ranges; visit(b, e) per non-empty row.
    const auto for_rows = [&](auto&& visit) {
      for (int z = cz0; z <= cz1; ++z)
        for (int y = cy0; y <= cy1; ++y) {
          const double gy = interval_gap(g, 1, y, lo[1], hi[1]);
          if (gy > rr) continue;
          const double rx = ::sqrt(rr2 - gy * gy);
          const std::int64_t b = f.b.start(g.cell(g.coord(0, lo[0] - rx), y, z));
          const std::int64_t e = f.b.start(g.cell(g.coord(0, hi[0] + rx), y, z) + 1);
          if (e > b) visit(b, e);
        }
    };
    // The chunk windows that may hold a centre of the cell (index ranges of
    // the box), with their float centres: each centre tests them all at
    // once (z_windows_of), exactly as FealWindowSdm::windows_of does.
    ZWindowList windows;
    {
      const double inv = 1.0 / f.stride;
      std::int64_t r0[3], r1[3], unused;
      const double c0[3] = {f.c0x, f.c0y, f.c0z};
      const std::int64_t nw[3] = {f.nwx, f.nwy, f.nwz};
      for (int k = 0; k < 3; ++k) {
        f.index_range(lo[k], c0[k], inv, f.reach, nw[k], r0[k], unused);
        f.index_range(hi[k], c0[k], inv, f.reach, nw[k], unused, r1[k]);
      }
      const std::int64_t last = f.first + f.count - 1, plane = f.nwx * f.nwy;
      if (r0[2] < f.first / plane) r0[2] = f.first / plane;
      if (r1[2] > last / plane) r1[2] = last / plane;
      const double span = double(r1[0] - r0[0] + 1) * double(r1[1] - r0[1] + 1) * double(r1[2] - r0[2] + 1);
      if (span > ZWindowList::kCapacity) {  // a cell far larger than the windows: the per-ion path
        f(c - f.cell_offset);
        return;
      }
      for (std::int64_t iz = r0[2]; iz <= r1[2]; ++iz)
        for (std::int64_t iy = r0[1]; iy <= r1[1]; ++iy)
          for (std::int64_t ix = r0[0]; ix <= r1[0]; ++ix) {
            const std::int64_t w = (iz * f.nwy + iy) * f.nwx + ix;
            if (w < f.first || w > last) continue;
            windows.row[windows.n] = static_cast<std::int32_t>(w - f.first);
            windows.cx[windows.n] = f.wcx(ix);
            windows.cy[windows.n] = f.wcy(iy);
            windows.cz[windows.n] = f.wcz(iz);
            ++windows.n;
          }
    }
    if (windows.n == 0) return;
    const int sb = self_bin<SdmKind::z>(f.bn);
    const int nbins = f.bn.crop_count;
    std::int32_t rows[ZWindowList::kCapacity + 8];
    ZHistogram hh;
    std::int64_t h[kMaxLocalBins];
    std::int64_t n = -1;  // candidates gathered (-1: not yet)
    float* bx = nullptr;
    float* by = nullptr;
    float* bz = nullptr;
    for (std::int64_t s = s0; s < s1; ++s) {
      const float px = f.a.x(s), py = f.a.y(s), pz = f.a.z(s);
      const int nwl = z_windows_of(windows, px, py, pz, f.rw2, rows);
      if (nwl == 0) continue;
      if (n < 0) {  // first centre in a chunk window: gather the cell's candidates once
        std::int64_t bound = 0;
        for_rows([&](std::int64_t b, std::int64_t e) { bound += e - b; });
        if (bound > kCapacity) {  // dense or clamped cell: the per-ion path
          f(c - f.cell_offset);
          return;
        }
        // 8 floats of slack: z_gather stores whole vectors.
        bx = Buffer(t.team_scratch(1), kCapacity + 8).data();
        by = Buffer(t.team_scratch(1), kCapacity + 8).data();
        bz = Buffer(t.team_scratch(1), kCapacity + 8).data();
        std::uint8_t* flags =
            reinterpret_cast<std::uint8_t*>(Buffer(t.team_scratch(1), kCapacity / 4).data());
        n = 0;
        const float* X = f.b.x.data();
        const float* Y = f.b.y.data();
        const float* Z = f.b.z.data();
        for_rows([&](std::int64_t b, std::int64_t e) {
          n = z_gather(box, X + b, Y + b, Z + b, e - b, bx, by, bz, n, flags);
        });
      }
      for (int k = 0; k < nwl; ++k) add_to<Exec>(f.centre_counts(rows[k]), std::int64_t(1));
      hh.zero(nbins);
      z_histogram_add(f.bn, bx, by, bz, n, px, py, pz, hh);
      hh.sum_into(h, nbins);
      if (f.centres_in_b && sb >= 0) --h[sb];
      if constexpr (kSerialExec<Exec>) {
        z_add_rows(f.out.data(), static_cast<std::int64_t>(f.out.stride(0)), rows, nwl, h, nbins);
      } else if (priv.extent(0) > 0) {
        const int id = token.acquire();
        z_add_rows(&priv(id, 0, 0), static_cast<std::int64_t>(priv.stride(1)), rows, nwl, h, nbins);
        token.release(id);
      } else {
        for (int k = 0; k < nwl; ++k)
          for (int q = 0; q < nbins; ++q)
            if (h[q]) Kokkos::atomic_add(&f.out(rows[k], q), h[q]);
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
                                                  const ListView& list, const double* c64, double r2_64) {
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

// Device algorithm (and SdmAlgorithm::team on any backend), feal and cocrni,
// every kind: one team per window. The team's threads take the window's
// centre-ion candidates (cells around the window centre), its vector lanes
// the neighbour candidates of one centre (the pruned rows of r_cut for feal,
// the cells around the neighbour sphere for cocrni). z: the histogram is a
// team-scratch array of crop_count int32 (scratch atomics), written to the
// window's row at the end; zx and 3d (40000 / 64000 bins, too large for
// scratch): atomics straight into the window's own output row, which no
// other team touches. Self pairs are skipped in the loop (r2 == 0 and the
// same ion), so no per-thread arrays at all.
template <SdmKind K, class Exec, class Mem>
struct TeamWindowSdm {
  using Policy = Kokkos::TeamPolicy<Exec>;
  using Member = typename Policy::member_type;
  using Scratch = Kokkos::View<std::int32_t*, typename Exec::scratch_memory_space, Kokkos::MemoryUnmanaged>;

  SdmBinning bn;
  CellsView<Mem> a, b;
  bool cocrni;
  Kokkos::View<const float*, Mem> wcx, wcy, wcz;
  std::int64_t nwx, nwy, first;
  float ra2, rb2;             // centre and (cocrni) neighbour sphere radii squared, float32
  double ra_reach, rb_reach;  // the same radii + margin, for cell ranges
  double r_cut;
  Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem> out;
  Kokkos::View<std::int64_t*, Mem> centre_counts;
  // SdmSpec::arithmetic float64* (z-SDMs): double centres and radii, the
  // published membership, distance and binning (SdmBinning::bin64_z).
  Kokkos::View<const double*, Mem> wdx, wdy, wdz;
  double ra2_64, rb2_64;

  static constexpr bool kScratch = K == SdmKind::z;
  KOKKOS_INLINE_FUNCTION int scratch_bins() const { return kScratch ? bn.crop_count : 0; }

  // Cell rows (contiguous slot ranges) of list cl within reach of (cx, cy, cz).
  template <class F>
  KOKKOS_INLINE_FUNCTION static void for_each_box_row(const CellsView<Mem>& cl, float cx, float cy, float cz,
                                                      double reach, F&& f) {
    const CellGrid& g = cl.g;
    const int x0 = g.coord(0, cx - reach), x1 = g.coord(0, cx + reach);
    const int y0 = g.coord(1, cy - reach), y1 = g.coord(1, cy + reach);
    const int z0 = g.coord(2, cz - reach), z1 = g.coord(2, cz + reach);
    for (int z = z0; z <= z1; ++z)
      for (int y = y0; y <= y1; ++y) {
        const std::int64_t e = cl.start(g.cell(x1, y, z) + 1), s = cl.start(g.cell(x0, y, z));
        if (e > s) f(s, e);
      }
  }

  KOKKOS_INLINE_FUNCTION void operator()(const Member& t) const {
    const std::int64_t i = t.league_rank();
    const std::int64_t w = first + i;
    const std::int64_t ix = w % nwx, iy = (w / nwx) % nwy, iz = w / (nwx * nwy);
    const float cx = wcx(ix), cy = wcy(iy), cz = wcz(iz);
    const bool f64 = bn.arithmetic != 0;
    const double cx64 = f64 ? wdx(ix) : 0.0, cy64 = f64 ? wdy(iy) : 0.0, cz64 = f64 ? wdz(iz) : 0.0;
    const int nb = scratch_bins();
    Scratch hist;
    if constexpr (kScratch) {
      hist = Scratch(t.team_scratch(0), nb);
      Kokkos::parallel_for(Kokkos::TeamThreadRange(t, nb), [&](const int q) { hist(q) = 0; });
      t.team_barrier();
    }
    const auto o = out;
    // A plain if (both branches compile for every kind): no constexpr-if
    // inside a lambda, which nvcc restricts.
    const auto add = [&](const int bin) {
      if (kScratch)
        Kokkos::atomic_add(&hist(bin), std::int32_t(1));
      else
        Kokkos::atomic_add(&o(i, bin), std::int64_t(1));
    };
    const float rc2 = bn.rc2;
    std::int64_t centres = 0;
    for_each_box_row(a, cx, cy, cz, ra_reach, [&](const std::int64_t s0, const std::int64_t s1) {
      std::int64_t row_centres = 0;
      Kokkos::parallel_reduce(
          Kokkos::TeamThreadRange(t, s0, s1),
          [&](const std::int64_t s, std::int64_t& cnt) {
            const float px = a.x(s), py = a.y(s), pz = a.z(s);
            if (f64 ? !in_sphere64(px, py, pz, cx64, cy64, cz64, ra2_64)
                    : !in_sphere(px, py, pz, cx, cy, cz, ra2))
              return;
            ++cnt;
            const std::int64_t self = a.ion(s);
            const auto pairs = [&](const std::int64_t b0, const std::int64_t b1) {
              Kokkos::parallel_for(Kokkos::ThreadVectorRange(t, b0, b1), [&](const std::int64_t k) {
                const float qx = b.x(k), qy = b.y(k), qz = b.z(k);
                if (f64) {  // published double arithmetic (z-SDMs only)
                  if (cocrni && !in_sphere64(qx, qy, qz, cx64, cy64, cz64, rb2_64)) return;
                  const double dx = double(qx) - double(px), dy = double(qy) - double(py),
                               dz = double(qz) - double(pz);
                  const double r2 = (dx * dx + dy * dy) + dz * dz;
                  if (r2 > bn.rc2_64 || (r2 == 0.0 && b.ion(k) == self)) return;
                  const int bin = bn.bin64_z(dx, dz);
                  if (bin >= 0) add(bin);
                  return;
                }
                if (cocrni && !in_sphere(qx, qy, qz, cx, cy, cz, rb2)) return;
                const float dx = qx - px, dy = qy - py, dz = qz - pz;
                const float r2 = dx * dx + dy * dy + dz * dz;
                if (!(r2 <= rc2) || (r2 == 0.0f && b.ion(k) == self)) return;
                const int bin = bn.template bin<K>(dx, dy, dz);
                if (bin >= 0) add(bin);
              });
            };
            if (cocrni)
              for_each_box_row(b, cx, cy, cz, rb_reach, pairs);
            else
              for_each_neighbour_row(b.g, b.start, px, py, pz, r_cut, pairs);
          },
          row_centres);
      centres += row_centres;
    });
    if constexpr (kScratch) {
      t.team_barrier();
      Kokkos::parallel_for(Kokkos::TeamThreadRange(t, nb), [&](const int q) { o(i, q) = hist(q); });
    }
    Kokkos::single(Kokkos::PerTeam(t), [&]() { centre_counts(i) = centres; });
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

namespace detail {
// feal on the host: one work item per centre cell of the chunk's z slab.
template <class Exec, class Mem>
void feal_cells(const Exec& exec, const CellsView<Mem>& a, const CellsView<Mem>& b, const SdmBinning& bn,
                const WindowGrid& grid, const WindowSpec& wspec, const SdmSpec& spec, bool centres_in_b,
                const WindowCentres<Mem>& wc, std::int64_t first_window, std::int64_t n_windows,
                const Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem>& out,
                const Kokkos::View<std::int64_t*, Mem>& centre_counts) {
  constexpr double kMargin = 1e-3;  // nm, conservative reach for index ranges
  {
    // Cells of the centre list in the z slab that can touch the chunk.
    const std::int64_t plane = grid.counts[0] * grid.counts[1];
    const double reach = double(wspec.centre_radius) + kMargin;
    const double zlo = grid.centre(2, first_window / plane) - reach;
    const double zhi = grid.centre(2, (first_window + n_windows - 1) / plane) + reach;
    const CellGrid& g = a.g;
    const std::int64_t cz0 = g.coord(2, zlo), cz1 = g.coord(2, zhi);
    const std::int64_t cplane = std::int64_t(g.n[0]) * g.n[1];
    const std::int64_t c0 = cz0 * cplane, c1 = (cz1 + 1) * cplane;
    const double rw2_64 = double(wspec.centre_radius) * double(wspec.centre_radius);
    if (spec.kind == SdmKind::z && bn.arithmetic == 0) {
      using F = FealZCells<Exec, Mem>;
      const F f{{bn,
                 a,
                 b,
                 spec.r_cut,
                 centres_in_b,
                 wc.c[0],
                 wc.c[1],
                 wc.c[2],
                 wc.n[0],
                 wc.n[1],
                 wc.n[2],
                 wc.c0[0],
                 wc.c0[1],
                 wc.c0[2],
                 wc.stride,
                 reach,
                 wspec.centre_radius * wspec.centre_radius,
                 first_window,
                 n_windows,
                 c0,
                 out,
                 centre_counts,
                 wc.d[0],
                 wc.d[1],
                 wc.d[2],
                 rw2_64}};
      typename F::Policy policy(exec, c1 - c0, 1);
      policy.set_scratch_size(1, Kokkos::PerTeam(F::scratch_bytes()));
      if constexpr (kSerialExec<Exec>) {
        Kokkos::parallel_for("aptflow::windows::feal_z", policy, f);
      } else {
        // Private rows per thread when they fit in 1 GiB (2 x 3 MB per chunk
        // of 4096 windows at 93 bins on two threads).
        F fp = f;
        const auto nb = static_cast<std::int64_t>(out.extent(1));
        const auto copies = static_cast<std::int64_t>(fp.token.size());
        if (copies * n_windows * nb <= (std::int64_t(1) << 27))
          fp.priv = decltype(fp.priv)("aptflow::windows::private_rows", copies, n_windows, nb);
        Kokkos::parallel_for("aptflow::windows::feal_z", policy, fp);
        if (fp.priv.extent(0) > 0) {
          const auto priv = fp.priv;
          Kokkos::parallel_for("aptflow::windows::sum_private_rows",
                               Kokkos::RangePolicy<Exec>(exec, 0, n_windows * nb), [=](const std::int64_t k) {
                                 const std::int64_t w = k / nb, q = k % nb;
                                 std::int64_t v = 0;
                                 for (std::int64_t t = 0; t < copies; ++t) v += priv(t, w, q);
                                 out(w, q) += v;
                               });
        }
      }
    } else {
      dispatch_kind<FealWindowSdm, Exec, Mem>(
          exec, "aptflow::windows::feal", spec.kind, c1 - c0, bn, a, b, spec.r_cut, centres_in_b, wc.c[0],
          wc.c[1], wc.c[2], wc.n[0], wc.n[1], wc.n[2], wc.c0[0], wc.c0[1], wc.c0[2], wc.stride, reach,
          wspec.centre_radius * wspec.centre_radius, first_window, n_windows, c0, out, centre_counts, wc.d[0],
          wc.d[1], wc.d[2], rw2_64);
    }
  }
}

// cocrni on the host: per window, lists of the centre and neighbour ions
// (count, scan, fill), then all their pairs.
template <class Exec, class Mem>
void cocrni_lists(const Exec& exec, const CellsView<Mem>& a, const CellsView<Mem>& b, const SdmBinning& bn,
                  const WindowSpec& wspec, const WindowCentres<Mem>& wc, std::int64_t first_window,
                  std::int64_t n_windows, const Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem>& out,
                  const Kokkos::View<std::int64_t*, Mem>& centre_counts) {
  constexpr double kMargin = 1e-3;
  {
    Kokkos::View<std::int64_t*, Mem> na("aptflow::windows::n_centres", n_windows + 1);
    Kokkos::View<std::int64_t*, Mem> nb("aptflow::windows::n_neighbours", n_windows + 1);
    Kokkos::View<std::int64_t*, Mem> empty;
    GatherSpheres<Exec, Mem> gather{a,
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
    const std::int64_t ta = exclusive_scan(exec, Kokkos::View<std::int64_t*, Mem>(ca), oa);
    const std::int64_t tb = exclusive_scan(exec, Kokkos::View<std::int64_t*, Mem>(cb), ob);
    gather.fill = true;
    gather.na = oa;
    gather.nb = ob;
    gather.list_a = Kokkos::View<std::int64_t*, Mem>("aptflow::windows::list_centres", ta);
    gather.list_b = Kokkos::View<std::int64_t*, Mem>("aptflow::windows::list_neighbours", tb);
    Kokkos::parallel_for("aptflow::windows::cocrni_fill", Kokkos::RangePolicy<Exec>(exec, 0, n_windows),
                         gather);
    dispatch_kind<CocrniWindowSdm, Exec, Mem>(exec, "aptflow::windows::cocrni", bn.kind, n_windows, bn, a, b,
                                              oa, ob, gather.list_a, gather.list_b, out);
  }
}
}  // namespace detail

// SDMs of windows [first_window, first_window + n_windows) of grid. out is
// (n_windows x spec.size()), row r = window first_window + r, overwritten;
// centre_counts(r) = number of centre ions of that window (0: empty window,
// its SDM row is all zeros; downstream turns it into NaN). The caller loops
// over chunks; memory is one chunk plus, for cocrni on the host, the
// per-window ion lists. algorithm: automatic = the CPU algorithms on host
// spaces (feal: one work item per centre cell, each centre ion's histogram
// computed once and added to its windows; cocrni: per-window ion lists),
// the team-per-window algorithm elsewhere; team forces the latter on any
// backend (tests check it on Serial and OpenMP). Integer counts are the same
// for every algorithm and backend.
template <class Exec, class Mem>
void compute_window_sdms(const Exec& exec, const SdmCells<Mem>& cells, const WindowGrid& grid,
                         const WindowSpec& wspec, const SdmSpec& spec, std::int64_t first_window,
                         std::int64_t n_windows,
                         const Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem>& out,
                         const Kokkos::View<std::int64_t*, Mem>& centre_counts,
                         SdmAlgorithm algorithm = SdmAlgorithm::automatic) {
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
  detail::ScopedRegion region("aptflow::windows::sdms");
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
  const bool team =
      algorithm == SdmAlgorithm::team || (algorithm == SdmAlgorithm::automatic && !detail::kHostExec<Exec>);

  if (team) {
    const bool cocrni = wspec.variant == WindowVariant::cocrni;
    const auto launch = [&](auto functor) {
      using F = decltype(functor);
      const int vector = detail::kHostExec<Exec> ? 1 : 32;
      typename F::Policy policy(exec, n_windows, Kokkos::AUTO, vector);
      policy.set_scratch_size(0, Kokkos::PerTeam(F::Scratch::shmem_size(functor.scratch_bins())));
      Kokkos::parallel_for("aptflow::windows::team", policy, functor);
    };
    const float ra2 = wspec.centre_radius * wspec.centre_radius;
    const float rb2 = cocrni ? wspec.neighbour_radius * wspec.neighbour_radius : 0.0f;
    const double ra_reach = double(wspec.centre_radius) + kMargin;
    const double rb_reach = cocrni ? double(wspec.neighbour_radius) + kMargin : 0.0;
    const double ra2_64 = double(wspec.centre_radius) * double(wspec.centre_radius);
    const double rb2_64 = cocrni ? double(wspec.neighbour_radius) * double(wspec.neighbour_radius) : 0.0;
    switch (spec.kind) {
      case SdmKind::z:
        launch(detail::TeamWindowSdm<SdmKind::z, Exec, Mem>{
            bn,           a,       b,      cocrni,   wc.c[0],  wc.c[1],    wc.c[2], wc.n[0],       wc.n[1],
            first_window, ra2,     rb2,    ra_reach, rb_reach, spec.r_cut, out,     centre_counts, wc.d[0],
            wc.d[1],      wc.d[2], ra2_64, rb2_64});
        break;
      case SdmKind::zx:
        launch(detail::TeamWindowSdm<SdmKind::zx, Exec, Mem>{
            bn,           a,       b,      cocrni,   wc.c[0],  wc.c[1],    wc.c[2], wc.n[0],       wc.n[1],
            first_window, ra2,     rb2,    ra_reach, rb_reach, spec.r_cut, out,     centre_counts, wc.d[0],
            wc.d[1],      wc.d[2], ra2_64, rb2_64});
        break;
      case SdmKind::xyz:
        launch(detail::TeamWindowSdm<SdmKind::xyz, Exec, Mem>{
            bn,           a,       b,      cocrni,   wc.c[0],  wc.c[1],    wc.c[2], wc.n[0],       wc.n[1],
            first_window, ra2,     rb2,    ra_reach, rb_reach, spec.r_cut, out,     centre_counts, wc.d[0],
            wc.d[1],      wc.d[2], ra2_64, rb2_64});
        break;
    }
  } else if constexpr (detail::kHostExec<Exec>) {  // the CPU algorithms are not built for devices
    if (wspec.variant == WindowVariant::feal)
      detail::feal_cells(exec, a, b, bn, grid, wspec, spec, cells.species_a == cells.species_b, wc,
                         first_window, n_windows, out, centre_counts);
    else
      detail::cocrni_lists(exec, a, b, bn, wspec, wc, first_window, n_windows, out, centre_counts);
  }
  exec.fence();
}

}  // namespace aptflow
