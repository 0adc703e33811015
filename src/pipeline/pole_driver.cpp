// aptflow pole: the MPI driver (include/aptflow/pipeline/pole.hpp). Ions in
// z slabs with a halo of r_cut; per region (the whole selection, then each
// tile) and z block, every rank histograms its own centre ions; the integer
// histograms are summed on one rank (MPI_Reduce), which analyses them.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/comm.hpp"
#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/halo.hpp"
#include "aptflow/dist/window_ownership.hpp"
#include "aptflow/kernels/align.hpp"
#include "aptflow/pipeline/pole.hpp"

namespace aptflow::pole {

namespace {

// Fewer selected ions than this: no pole can be measured.
constexpr std::int64_t kMinIons = 1000;

// Sum v over the ranks onto root (int64, exact). Collective over comm.
void reduce_to(MPI_Comm comm, std::vector<std::int64_t>& v, int root) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  constexpr std::size_t kChunk = std::size_t{1} << 26;
  for (std::size_t off = 0; off < v.size(); off += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, v.size() - off));
    if (rank == root)
      MPI_Reduce(MPI_IN_PLACE, v.data() + off, count, MPI_INT64_T, MPI_SUM, root, comm);
    else
      MPI_Reduce(v.data() + off, nullptr, count, MPI_INT64_T, MPI_SUM, root, comm);
  }
}

// z block of a centre ion within [lo, hi] (G blocks of equal height).
int z_block(float z, double lo, double hi, int G) {
  if (!(hi > lo)) return 0;
  const double f = (static_cast<double>(z) - lo) / (hi - lo) * G;
  if (!(f >= 1.0)) return 0;
  return f < G - 1 ? static_cast<int>(f) : G - 1;
}

// The occupied volume of the selected ions on a voxel grid, eroded so that
// a centre inside it has every point within `reach` of it inside the data
// (docs/alignment.md, "Centres"). The same on every rank (global counts).
struct Interior {
  double lo[3] = {0, 0, 0}, v = 1;
  std::int64_t n[3] = {1, 1, 1};
  std::vector<std::uint8_t> flag;  // (iz * ny + iy) * nx + ix

  std::int64_t axis(int a, float p) const {
    const double f = (static_cast<double>(p) - lo[a]) / v;
    if (f != f || f < 0) return 0;
    return f < static_cast<double>(n[a] - 1) ? static_cast<std::int64_t>(f) : n[a] - 1;
  }
  std::int64_t index(float x, float y, float z) const {
    return (axis(2, z) * n[1] + axis(1, y)) * n[0] + axis(0, x);
  }
  bool inside(float x, float y, float z) const { return flag[static_cast<std::size_t>(index(x, y, z))] != 0; }
};

// Collective over comm. local: this rank's ions (each ion counted once over the ranks).
Interior make_interior(MPI_Comm comm, const HostIonCloud& local, const Box& B, std::int64_t total,
                       double reach) {
  Interior in;
  double vol = 1;
  for (int a = 0; a < 3; ++a) vol *= std::max(static_cast<double>(B.hi[a]) - B.lo[a], 1e-3);
  // About 30 ions per voxel on average over the bounding box (at least 0.5 nm),
  // at most 2^23 voxels.
  in.v = std::clamp(std::cbrt(30.0 * vol / static_cast<double>(std::max<std::int64_t>(total, 1))), 0.5, 20.0);
  for (;;) {
    std::int64_t nv = 1;
    for (int a = 0; a < 3; ++a) {
      in.lo[a] = B.lo[a];
      in.n[a] = static_cast<std::int64_t>(std::floor((static_cast<double>(B.hi[a]) - B.lo[a]) / in.v)) + 1;
      nv *= in.n[a];
    }
    if (nv <= (std::int64_t{1} << 23)) break;
    in.v *= 1.25;
  }
  const std::int64_t nx = in.n[0], ny = in.n[1], nz = in.n[2], nv = nx * ny * nz;
  std::vector<std::int32_t> count(static_cast<std::size_t>(nv), 0);
  for (IonIndex i = 0; i < local.size(); ++i)
    ++count[static_cast<std::size_t>(in.index(local.x(i), local.y(i), local.z(i)))];
  MPI_Allreduce(MPI_IN_PLACE, count.data(), static_cast<int>(nv), MPI_INT32_T, MPI_SUM, comm);
  // Box sums over 3 x 3 x 3 voxels (less counting noise), separable.
  std::vector<std::int64_t> box(count.begin(), count.end()), tmp(box.size());
  const std::int64_t stride[3] = {1, nx, nx * ny};
  for (int a = 0; a < 3; ++a) {
    for (std::int64_t k = 0; k < nv; ++k) {
      const std::int64_t c = (k / stride[a]) % in.n[a];
      std::int64_t s = box[static_cast<std::size_t>(k)];
      if (c > 0) s += box[static_cast<std::size_t>(k - stride[a])];
      if (c + 1 < in.n[a]) s += box[static_cast<std::size_t>(k + stride[a])];
      tmp[static_cast<std::size_t>(k)] = s;
    }
    box.swap(tmp);
  }
  // Occupied: at least half the median box sum of the voxels holding ions.
  std::vector<std::int64_t> filled;
  for (std::int64_t k = 0; k < nv; ++k)
    if (count[static_cast<std::size_t>(k)] > 0) filled.push_back(box[static_cast<std::size_t>(k)]);
  std::int64_t threshold = 1;
  if (!filled.empty()) {
    std::nth_element(filled.begin(), filled.begin() + static_cast<std::ptrdiff_t>(filled.size() / 2),
                     filled.end());
    threshold = std::max<std::int64_t>(1, filled[filled.size() / 2] / 2);
  }
  // Erode by m voxels along every axis (a cube of half-width m v >= reach):
  // a voxel stays inside when every voxel within m along each axis is occupied
  // (voxels beyond the grid are empty).
  const std::int64_t m = static_cast<std::int64_t>(std::ceil(reach / in.v - 1e-9));
  std::vector<std::uint8_t> f(static_cast<std::size_t>(nv)), g(f.size());
  for (std::int64_t k = 0; k < nv; ++k)
    f[static_cast<std::size_t>(k)] = box[static_cast<std::size_t>(k)] >= threshold;
  for (int a = 0; a < 3; ++a) {
    const std::int64_t len = in.n[a], st = stride[a];
    for (std::int64_t k = 0; k < nv; ++k) {
      if ((k / st) % len != 0) continue;  // start of a line along axis a
      // Run length of occupied voxels ending at each position, then a window test.
      std::int64_t run = 0;
      std::vector<std::int64_t> runs(static_cast<std::size_t>(len));
      for (std::int64_t c = 0; c < len; ++c) {
        run = f[static_cast<std::size_t>(k + c * st)] ? run + 1 : 0;
        runs[static_cast<std::size_t>(c)] = run;
      }
      for (std::int64_t c = 0; c < len; ++c) {
        const std::int64_t end = c + m;
        g[static_cast<std::size_t>(k + c * st)] =
            c - m >= 0 && end < len && runs[static_cast<std::size_t>(end)] >= 2 * m + 1;
      }
    }
    f.swap(g);
  }
  in.flag = std::move(f);
  return in;
}

}  // namespace

PoleResult find_pole(MPI_Comm comm_in, const HostIonCloud& local, const PoleOptions& opt) {
  opt.validate();
  const dist::DupComm dup(comm_in);
  const MPI_Comm comm = dup.get();
  const int rank = dup.rank(), nranks = dup.size();
  PoleResult res;
  res.options = opt;
  res.ranks = nranks;

  // ---- selection: species and region of interest (input order kept)
  int max_species = 0;
  for (int s : opt.species) max_species = std::max(max_species, s);
  std::vector<char> wanted(static_cast<std::size_t>(std::max(max_species, 0)) + 1, 0);
  for (int s : opt.species)
    if (s > 0) wanted[static_cast<std::size_t>(s)] = 1;
  auto keep = [&](IonIndex i) {
    const int s = local.species(i);
    if (s == 0) return false;  // unranged
    return opt.species.empty() || (s <= max_species && wanted[static_cast<std::size_t>(s)]);
  };
  std::int64_t nsel = 0;
  for (IonIndex i = 0; i < local.size(); ++i) nsel += keep(i) ? 1 : 0;
  HostIonCloud sel(nsel, "aptflow::pole::selected");
  {
    IonIndex o = 0;
    for (IonIndex i = 0; i < local.size(); ++i)
      if (keep(i)) {
        sel.x(o) = local.x(i);
        sel.y(o) = local.y(i);
        sel.z(o) = local.z(i);
        sel.mq(o) = local.mq(i);
        sel.species(o) = local.species(i);
        ++o;
      }
  }
  std::int64_t total = 0, offset = 0;
  MPI_Allreduce(&nsel, &total, 1, MPI_INT64_T, MPI_SUM, comm);
  MPI_Exscan(&nsel, &offset, 1, MPI_INT64_T, MPI_SUM, comm);
  if (rank == 0) offset = 0;
  res.ions = total;
  if (total < kMinIons)
    throw InputError(opt.source,
                     fmt::format("only {} ions of the chosen species; at least {} are needed to find a "
                                 "pole: check --species and --range",
                                 total, kMinIons));
  res.bounds = dist::global_bounds(comm, sel);
  const Box& B = res.bounds;
  // The occupied volume, eroded by r_cut + margin: centres need a whole neighbourhood.
  const Interior interior = make_interior(comm, sel, B, total, opt.r_cut + opt.margin);

  // ---- z slabs with a halo of r_cut, cell list of the local ions
  auto dec = dist::decompose_z(comm, std::move(sel), offset);
  const dist::LocalIons L = dist::exchange_halo(dec, opt.r_cut * (1 + 1e-6) + 1e-3);
  dec.release_owned_ions();
  const Kokkos::DefaultHostExecutionSpace exec;
  const CellGrid cgrid = make_cell_grid(cloud_bounds(exec, L.cloud), opt.r_cut);
  const auto cells = build_cell_list(exec, L.cloud, cgrid, -1, "aptflow::pole::cells");
  const auto geom = SpectrumGeometry::make(opt.r_cut, opt.bin);
  const int G = opt.subsamples;
  const double q_min = 2 * std::numbers::pi / opt.spacing_max, q_max = 2 * std::numbers::pi / opt.spacing_min;
  // Centre ions: owned, in the region of interest, inside the eroded volume.
  auto usable = [&](IonIndex i) {
    const float x = L.cloud.x(i), y = L.cloud.y(i), z = L.cloud.z(i);
    return opt.roi.contains(x, y, z) && interior.inside(x, y, z);
  };
  std::int64_t centres = 0;
  for (IonIndex i = L.owned_begin; i < L.owned_end; ++i) centres += usable(i) ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &centres, 1, MPI_INT64_T, MPI_SUM, comm);
  res.centres = centres;
  // Bounding box of the centres (tile grid, z blocks): min of (p, -p) per axis.
  float cr[6];
  std::fill(cr, cr + 6, std::numeric_limits<float>::infinity());
  for (IonIndex i = L.owned_begin; i < L.owned_end; ++i)
    if (usable(i)) {
      const float p[3] = {L.cloud.x(i), L.cloud.y(i), L.cloud.z(i)};
      for (int a = 0; a < 3; ++a) {
        cr[a] = std::min(cr[a], p[a]);
        cr[3 + a] = std::min(cr[3 + a], -p[a]);
      }
    }
  MPI_Allreduce(MPI_IN_PLACE, cr, 6, MPI_FLOAT, MPI_MIN, comm);
  const double clo[3] = {cr[0], cr[1], cr[2]}, chi[3] = {-cr[3], -cr[4], -cr[5]};
  const double zc_lo = clo[2], zc_hi = chi[2];
  if (centres < kMinIons)
    throw InputError(
        opt.source,
        fmt::format("only {} centre ions lie in the region of interest ({}) at least r_cut + margin = "
                    "{} nm inside the dataset; at least {} are needed: widen --roi, lower --margin or "
                    "check --species",
                    centres, opt.roi.enabled() ? opt.roi.describe() : "everything", opt.r_cut + opt.margin,
                    kMinIons));

  // ---- the whole selection: z blocks over its height
  double t0 = MPI_Wtime();
  {
    std::vector<std::vector<IonIndex>> groups(static_cast<std::size_t>(G));
    for (IonIndex i = L.owned_begin; i < L.owned_end; ++i)
      if (usable(i)) groups[static_cast<std::size_t>(z_block(L.cloud.z(i), zc_lo, zc_hi, G))].push_back(i);
    std::vector<std::vector<std::int64_t>> subs;
    std::vector<std::int64_t> sum(geom->size(), 0);
    for (int g = 0; g < G; ++g) {
      auto h = folded_histogram(L.cloud, cells, *geom, groups[static_cast<std::size_t>(g)]);
      reduce_to(comm, h, 0);
      if (rank == 0) {
        for (std::size_t i = 0; i < h.size(); ++i) sum[i] += h[i];
        subs.push_back(std::move(h));
      }
    }
    res.seconds_histograms += MPI_Wtime() - t0;
    t0 = MPI_Wtime();
    std::array<double, PoleEstimate::kPacked> packed{};
    if (rank == 0) {
      const PairSpectrum full(geom, std::move(sum));
      res.pole = estimate_pole(full, subs, opt.cone_deg, q_min, q_max, opt.min_score, &res.scan);
      res.pole.centres = centres;
      packed = res.pole.pack();
    }
    MPI_Bcast(packed.data(), PoleEstimate::kPacked, MPI_DOUBLE, 0, comm);
    // The scan (for files and the report) on every rank.
    std::int64_t dims[3] = {res.scan.nu, static_cast<std::int64_t>(res.scan.q.size()), res.scan.best_q};
    MPI_Bcast(dims, 3, MPI_INT64_T, 0, comm);
    double meta[6] = {res.scan.cone_deg,  res.scan.step,      res.scan.best_score,
                      res.scan.best_k[0], res.scan.best_k[1], res.scan.best_k[2]};
    MPI_Bcast(meta, 6, MPI_DOUBLE, 0, comm);
    if (rank != 0) {
      res.pole = PoleEstimate::unpack(packed.data());
      res.scan.nu = static_cast<int>(dims[0]);
      res.scan.q.resize(static_cast<std::size_t>(dims[1]));
      res.scan.median.resize(static_cast<std::size_t>(dims[1]));
      res.scan.best_q = static_cast<int>(dims[2]);
      res.scan.score_at_best_q.resize(static_cast<std::size_t>(dims[0] * dims[0]));
      res.scan.cone_deg = meta[0];
      res.scan.step = meta[1];
      res.scan.best_score = meta[2];
      res.scan.best_k = {meta[3], meta[4], meta[5]};
    }
    MPI_Bcast(res.scan.q.data(), static_cast<int>(dims[1]), MPI_DOUBLE, 0, comm);
    MPI_Bcast(res.scan.median.data(), static_cast<int>(dims[1]), MPI_DOUBLE, 0, comm);
    MPI_Bcast(res.scan.score_at_best_q.data(), static_cast<int>(dims[0] * dims[0]), MPI_DOUBLE, 0, comm);
    // Sub-sample estimates (G directions and spacings).
    std::vector<double> sub(static_cast<std::size_t>(4 * G), std::numeric_limits<double>::quiet_NaN());
    if (rank == 0)
      for (std::size_t g = 0; g < res.pole.sub_directions.size() && g < static_cast<std::size_t>(G); ++g) {
        for (int a = 0; a < 3; ++a) sub[4 * g + static_cast<std::size_t>(a)] = res.pole.sub_directions[g][a];
        sub[4 * g + 3] = res.pole.sub_spacing[g];
      }
    MPI_Bcast(sub.data(), 4 * G, MPI_DOUBLE, 0, comm);
    if (rank != 0 && !sub.empty() && res.pole.found) {
      for (int g = 0; g < G; ++g) {
        const auto o = static_cast<std::size_t>(4 * g);
        res.pole.sub_directions.push_back({sub[o], sub[o + 1], sub[o + 2]});
        res.pole.sub_spacing.push_back(sub[o + 3]);
      }
    }
  }
  res.seconds_analysis += MPI_Wtime() - t0;
  if (!res.pole.found) {
    const bool located = std::isfinite(res.pole.tilt_deg);
    const std::string where = located
                                  ? fmt::format(" at tilt {:.2f} deg, azimuth {:.1f} deg, spacing {:.4f} nm",
                                                res.pole.tilt_deg, res.pole.azimuth_deg, res.pole.spacing_nm)
                                  : " (in the scan; it did not refine to a peak)";
    throw InputError(
        opt.source,
        fmt::format("no lattice-plane periodicity found within {} deg of z: best score {:.3g} (need >= "
                    "{}){}; check --species and --range, widen --cone (at most 45), or lower "
                    "--min-score",
                    opt.cone_deg, res.pole.score, opt.min_score, where));
  }

  // ---- tiles
  if (opt.tile > 0) {
    res.has_tiles = true;
    TileMap& tm = res.tiles;
    for (int a = 0; a < 3; ++a) {
      tm.origin[a] = clo[a];
      const double ext = chi[a] - clo[a];
      const double e = a < 2 ? opt.tile : (opt.tile_z > 0 ? opt.tile_z : std::max(ext, 1e-3));
      tm.edge[a] = e;
      tm.n[a] = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(ext / e - 1e-9)));
      if (a == 2 && opt.tile_z <= 0) tm.n[a] = 1;
    }
    if (tm.size() > (std::int64_t{1} << 22))
      throw ConfigError("--tile", fmt::format("{} x {} x {} tiles are too many: use a larger --tile", tm.n[0],
                                              tm.n[1], tm.n[2]));
    TileRotations geo;  // the tile lookup of the alignment kernels
    for (int a = 0; a < 3; ++a) {
      geo.origin[a] = tm.origin[a];
      geo.edge[a] = tm.edge[a];
      geo.n[a] = tm.n[a];
    }
    const std::int64_t T = tm.size();
    std::vector<std::int64_t> tile_of(static_cast<std::size_t>(L.owned_end - L.owned_begin));
    tm.ions.assign(static_cast<std::size_t>(T), 0);
    for (IonIndex i = L.owned_begin; i < L.owned_end; ++i) {
      if (!usable(i)) {
        tile_of[static_cast<std::size_t>(i - L.owned_begin)] = -1;
        continue;
      }
      const auto t = geo.tile_of(L.cloud.x(i), L.cloud.y(i), L.cloud.z(i));
      tile_of[static_cast<std::size_t>(i - L.owned_begin)] = t;
      ++tm.ions[static_cast<std::size_t>(t)];
    }
    MPI_Allreduce(MPI_IN_PLACE, tm.ions.data(), static_cast<int>(T), MPI_INT64_T, MPI_SUM, comm);
    // Centroids of the tiles' centres: positions in units of 2^-20 nm summed as
    // int64 (exact, so the same on any number of ranks).
    {
      constexpr double kQuantum = 1048576.0;  // 2^20 per nm
      std::vector<std::int64_t> sums(static_cast<std::size_t>(3 * T), 0);
      for (IonIndex i = L.owned_begin; i < L.owned_end; ++i) {
        const auto t = tile_of[static_cast<std::size_t>(i - L.owned_begin)];
        if (t < 0) continue;
        const float p[3] = {L.cloud.x(i), L.cloud.y(i), L.cloud.z(i)};
        for (int a = 0; a < 3; ++a)
          sums[static_cast<std::size_t>(3 * t + a)] += std::llround(p[a] * kQuantum);
      }
      MPI_Allreduce(MPI_IN_PLACE, sums.data(), static_cast<int>(3 * T), MPI_INT64_T, MPI_SUM, comm);
      tm.centroid.assign(static_cast<std::size_t>(T), Vec3{kNaN, kNaN, kNaN});
      for (std::int64_t t = 0; t < T; ++t) {
        const auto n = tm.ions[static_cast<std::size_t>(t)];
        if (n == 0) continue;
        for (int a = 0; a < 3; ++a)
          tm.centroid[static_cast<std::size_t>(t)][static_cast<std::size_t>(a)] =
              static_cast<double>(sums[static_cast<std::size_t>(3 * t + a)]) / static_cast<double>(n) /
              kQuantum;
      }
    }
    std::vector<std::int64_t> nonempty;
    for (auto c : tm.ions)
      if (c > 0) nonempty.push_back(c);
    std::sort(nonempty.begin(), nonempty.end());
    const std::int64_t median = nonempty.empty() ? 0 : nonempty[(nonempty.size() - 1) / 2];
    if (median < opt.min_tile_ions)
      throw ConfigError(
          "--tile", fmt::format("tiles of {} nm hold a median of {} centre ions, fewer than the {} "
                                "needed (--min-tile-ions): use a larger --tile{}",
                                opt.tile, median, opt.min_tile_ions, opt.tile_z > 0 ? " or --tile-z" : ""));
    std::vector<std::int64_t> active;
    for (std::int64_t t = 0; t < T; ++t)
      if (tm.ions[static_cast<std::size_t>(t)] >= opt.min_tile_ions) active.push_back(t);
    // Centres per (active tile, z block of the tile).
    std::vector<std::int64_t> slot(static_cast<std::size_t>(T), -1);
    for (std::size_t a = 0; a < active.size(); ++a)
      slot[static_cast<std::size_t>(active[a])] = static_cast<std::int64_t>(a);
    std::vector<std::vector<IonIndex>> bucket(active.size() * static_cast<std::size_t>(G));
    for (IonIndex i = L.owned_begin; i < L.owned_end; ++i) {
      const auto t = tile_of[static_cast<std::size_t>(i - L.owned_begin)];
      if (t < 0) continue;
      const auto s = slot[static_cast<std::size_t>(t)];
      if (s < 0) continue;
      const std::int64_t iz = t / (tm.n[0] * tm.n[1]);
      const double zlo = opt.tile_z > 0 ? tm.origin[2] + iz * tm.edge[2] : zc_lo;
      const double zhi = opt.tile_z > 0 ? zlo + tm.edge[2] : zc_hi;
      bucket[static_cast<std::size_t>(s) * G + static_cast<std::size_t>(z_block(L.cloud.z(i), zlo, zhi, G))]
          .push_back(i);
    }
    tm.tiles.assign(static_cast<std::size_t>(T), PoleEstimate{});
    tm.status.assign(static_cast<std::size_t>(T), TileStatus::too_few_ions);
    const double qg = 2 * std::numbers::pi / res.pole.spacing_nm;
    const double tq_min = qg / (1 + opt.tile_spacing_window), tq_max = qg / (1 - opt.tile_spacing_window);
    for (std::size_t w = 0; w < active.size(); w += static_cast<std::size_t>(nranks)) {
      t0 = MPI_Wtime();
      const std::size_t count = std::min(active.size() - w, static_cast<std::size_t>(nranks));
      std::vector<std::vector<std::int64_t>> subs;
      std::vector<std::int64_t> sum;
      for (std::size_t j = 0; j < count; ++j) {
        const int root = static_cast<int>(j);
        for (int g = 0; g < G; ++g) {
          auto h = folded_histogram(L.cloud, cells, *geom, bucket[(w + j) * G + static_cast<std::size_t>(g)]);
          reduce_to(comm, h, root);
          if (rank == root) {
            if (sum.empty()) sum.assign(h.size(), 0);
            for (std::size_t i = 0; i < h.size(); ++i) sum[i] += h[i];
            subs.push_back(std::move(h));
          }
        }
      }
      res.seconds_histograms += MPI_Wtime() - t0;
      t0 = MPI_Wtime();
      std::array<double, PoleEstimate::kPacked> mine{};
      mine.fill(std::numeric_limits<double>::quiet_NaN());
      if (static_cast<std::size_t>(rank) < count) {
        const PairSpectrum full(geom, std::move(sum));
        PoleEstimate e = estimate_pole(full, subs, opt.cone_deg, tq_min, tq_max, opt.min_score);
        e.centres = tm.ions[static_cast<std::size_t>(active[w + static_cast<std::size_t>(rank)])];
        mine = e.pack();
      }
      std::vector<double> all(static_cast<std::size_t>(nranks) * PoleEstimate::kPacked);
      MPI_Allgather(mine.data(), PoleEstimate::kPacked, MPI_DOUBLE, all.data(), PoleEstimate::kPacked,
                    MPI_DOUBLE, comm);
      res.seconds_analysis += MPI_Wtime() - t0;
      for (std::size_t j = 0; j < count; ++j) {
        const auto t = static_cast<std::size_t>(active[w + j]);
        tm.tiles[t] = PoleEstimate::unpack(all.data() + j * PoleEstimate::kPacked);
        tm.status[t] = tm.tiles[t].found ? TileStatus::measured : TileStatus::no_periodicity;
      }
    }
    for (auto s : tm.status) {
      tm.measured += s == TileStatus::measured;
      tm.too_few += s == TileStatus::too_few_ions;
      tm.no_periodicity += s == TileStatus::no_periodicity;
    }
  }
  return res;
}

}  // namespace aptflow::pole
