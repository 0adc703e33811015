// Halo exchange and window ownership (np 1, 2, 4): the halo is exactly the
// ions within h of the slab held by other ranks; owned windows tile the grid;
// every owned window sees all ions within r_cut + reach of its centre, and
// window SDMs computed per rank on owned + halo ions equal the serial SDMs of
// the whole cloud exactly; gathered window rows are in window order.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/gather.hpp"
#include "aptflow/dist/halo.hpp"
#include "aptflow/dist/window_ownership.hpp"
#include "aptflow/kernels/windows.hpp"
#include "test_util.hpp"
#include "unit/test_sdm_reference.hpp"

using namespace aptflow;
using namespace aptflow::dist;
using aptflow::test::PlainCloud;

namespace {
using Exec = Kokkos::DefaultHostExecutionSpace;
using Rows = Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace>;
using Counts = Kokkos::View<std::int64_t*, Kokkos::HostSpace>;

// A cube of edge 5 nm (tall = false: slabs of about 1.25 nm at np 4, thinner
// than any halo) or two cubes on top of each other (z up to 10 nm). The
// clouds of test_sdm_reference.hpp: ions on bin edges, on a 0.5 nm lattice,
// on cell boundaries, duplicated positions (ties in z), a few outside.
PlainCloud make_cloud(unsigned seed, std::size_t n, bool tall) {
  PlainCloud p = test::random_cloud(seed, n, 5.0f);
  if (tall) {
    const PlainCloud q = test::random_cloud(seed + 1, n, 5.0f);
    for (std::size_t i = 0; i < q.size(); ++i) p.add(q.x[i], q.y[i], q.z[i] + 5.0f, q.s[i]);
  }
  return p;
}

ZSlabDecomposition decompose(const PlainCloud& p) {
  const IonIndex n = static_cast<IonIndex>(p.size());
  const IonIndex first = n * aptflow::test::world_rank() / aptflow::test::world_size(),
                 count = n * (aptflow::test::world_rank() + 1) / aptflow::test::world_size() - first;
  HostIonCloud c(count, "test::input");
  for (IonIndex k = 0; k < count; ++k) {
    c.x(k) = p.x[first + k];
    c.y(k) = p.y[first + k];
    c.z(k) = p.z[first + k];
    c.mq(k) = 27.0f + float((first + k) % 7);
    c.species(k) = p.s[first + k];
  }
  return decompose_z(MPI_COMM_WORLD, c, first);
}

std::vector<std::int64_t> allgather(const std::vector<std::int64_t>& mine) {
  const int p = aptflow::test::world_size();
  int n = static_cast<int>(mine.size());
  std::vector<int> counts(p), displs(p);
  MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < p; ++r) displs[r] = total, total += counts[r];
  std::vector<std::int64_t> out(static_cast<std::size_t>(total));
  MPI_Allgatherv(mine.data(), n, MPI_INT64_T, out.data(), counts.data(), displs.data(), MPI_INT64_T,
                 MPI_COMM_WORLD);
  return out;
}

}  // namespace

TEST(DistHalo, ExactlyTheIonsWithinHOfTheSlab) {
  const int me = aptflow::test::world_rank();
  for (const bool tall : {false, true}) {
    const PlainCloud p = make_cloud(41, 3000, tall);
    const ZSlabDecomposition d = decompose(p);
    for (const double h : {0.0, 0.3, 2.251, 7.0}) {
      const LocalIons l = exchange_halo(d, h);
      // Layout: sorted by (z, index), owned block = owned() in order.
      EXPECT_EQ(l.owned_end - l.owned_begin, d.owned_count());
      aptflow::test::Checks layout;
      for (IonIndex i = 0; i < d.owned_count() && l.owned_end - l.owned_begin == d.owned_count(); ++i)
        layout(l.index(l.owned_begin + i) == d.owned_index()(i) &&
                   l.cloud.z(l.owned_begin + i) == d.owned().z(i),
               i);
      for (IonIndex i = 1; i < l.size(); ++i)
        layout(l.cloud.z(i - 1) < l.cloud.z(i) ||
                   (l.cloud.z(i - 1) == l.cloud.z(i) && l.index(i - 1) < l.index(i)),
               i);
      EXPECT_EQ(layout.failed, 0) << "first at " << layout.first;
      // Halo ions: values of the input, exactly the brute-force set.
      std::set<IonIndex> got;
      for (IonIndex i = 0; i < l.size(); ++i) {
        if (l.is_owned(i)) continue;
        const IonIndex g = l.index(i);
        EXPECT_TRUE(g >= 0 && g < static_cast<IonIndex>(p.size()));
        if (g < 0 || g >= static_cast<IonIndex>(p.size())) continue;
        EXPECT_EQ(l.cloud.x(i), p.x[g]);
        EXPECT_EQ(l.cloud.y(i), p.y[g]);
        EXPECT_EQ(l.cloud.z(i), p.z[g]);
        EXPECT_EQ(l.cloud.species(i), p.s[g]);
        EXPECT_EQ(l.cloud.mq(i), 27.0f + float(g % 7));
        EXPECT_TRUE(got.insert(g).second) << "halo ion " << g << " twice";
      }
      std::set<IonIndex> want;
      const double lo = d.z_lo(), hi = d.z_hi();
      for (std::size_t g = 0; g < p.size(); ++g) {
        const double z = p.z[g];
        if (d.owner_of_z(p.z[g]) == me) continue;
        if ((z >= lo - h && z < lo) || (z >= hi && z < hi + h)) want.insert(static_cast<IonIndex>(g));
      }
      EXPECT_EQ(got, want) << "h = " << h;
      if (h == 0.0) EXPECT_EQ(l.halo_count(), 0);
    }
  }
  EXPECT_THROW(exchange_halo(decompose(make_cloud(42, 100, false)), -1.0), ConfigError);
}

class DistWindowSdms : public ::testing::TestWithParam<std::tuple<WindowVariant, SdmKind, int, int, bool>> {};

TEST_P(DistWindowSdms, EqualSerialExactly) {
  const auto [variant, kind, a, b, tall] = GetParam();
  const int p = aptflow::test::world_size(), me = aptflow::test::world_rank();
  const SdmSpec spec = kind == SdmKind::z ? SdmSpec::z() : SdmSpec::cube(1.0, 0.25);
  const WindowSpec ws = variant == WindowVariant::feal ? WindowSpec::feal(1.0) : WindowSpec::cocrni(1.0);
  const PlainCloud pc = make_cloud(50 + a * 3 + b + int(variant) * 10 + int(tall) * 100, 2600, tall);
  const HostIonCloud whole = test::to_ion_cloud(pc);

  const ZSlabDecomposition d = decompose(pc);
  const double h = halo_width(spec, ws);
  EXPECT_NEAR(h, 1.5 + (variant == WindowVariant::feal ? 0.5 : 0.75) + 1e-3, 1e-12);
  const LocalIons l = exchange_halo(d, h);

  // The global grid equals the serial one.
  const WindowGrid g = global_window_grid(d, 1.0, 0.5);
  const WindowGrid gs = WindowGrid::over(cloud_bounds(Exec(), whole), 1.0, 0.5);
  for (int ax = 0; ax < 3; ++ax) {
    EXPECT_EQ(g.origin[ax], gs.origin[ax]);
    EXPECT_EQ(g.counts[ax], gs.counts[ax]);
  }
  EXPECT_GT(g.size(), 0);

  // Owned windows: centres in the slab, ranks tile [0, size) in order.
  const WindowSlab s = owned_windows(d, g);
  for (std::int64_t iz = 0; iz < g.counts[2]; ++iz) {
    const float c = g.centre_f(2, iz);
    EXPECT_EQ(iz >= s.iz_begin && iz < s.iz_end, c >= d.z_lo() && c < d.z_hi()) << "plane " << iz;
  }
  const auto slabs = allgather({s.first, s.count});
  std::int64_t next = 0;
  for (int r = 0; r < p; ++r) {
    EXPECT_EQ(slabs[2 * r], next);
    next += slabs[2 * r + 1];
  }
  EXPECT_EQ(next, g.size());

  // Completeness: every ion within r_cut + reach of an owned centre is local.
  std::set<IonIndex> local(l.index.data(), l.index.data() + l.size());
  EXPECT_EQ(static_cast<IonIndex>(local.size()), l.size()) << "an ion twice";
  const double reach = spec.r_cut + std::max(ws.centre_radius, ws.neighbour_radius);
  std::int64_t needed = 0;
  aptflow::test::Checks present;
  for (std::int64_t w = s.first; w < s.first + s.count; w += 7) {
    std::int64_t ix, iy, iz;
    g.unravel(w, ix, iy, iz);
    const double c[3] = {g.centre_f(0, ix), g.centre_f(1, iy), g.centre_f(2, iz)};
    for (std::size_t i = 0; i < pc.size(); ++i) {
      const double dx = pc.x[i] - c[0], dy = pc.y[i] - c[1], dz = pc.z[i] - c[2];
      if (std::sqrt(dx * dx + dy * dy + dz * dz) > reach) continue;
      ++needed;
      present(local.count(static_cast<IonIndex>(i)) == 1, w);
    }
  }
  if (s.count > 0) EXPECT_GT(needed, 0);
  EXPECT_EQ(present.failed, 0) << "ions within r_cut + reach missing, first for window " << present.first;

  // Window SDMs on owned + halo ions vs the serial computation on the whole cloud.
  const auto cells_local =
      build_sdm_cells(Exec(), l.cloud, make_cell_grid(cloud_bounds(Exec(), l.cloud), spec.r_cut), a, b);
  const auto cells_whole =
      build_sdm_cells(Exec(), whole, make_cell_grid(cloud_bounds(Exec(), whole), spec.r_cut), a, b);
  Rows out("out", s.count, spec.size()), ref("ref", s.count, spec.size());
  Counts cnt("cnt", s.count), cnt_ref("cnt_ref", s.count);
  compute_window_sdms(Exec(), cells_local, g, ws, spec, s.first, s.count, out, cnt);
  compute_window_sdms(Exec(), cells_whole, g, ws, spec, s.first, s.count, ref, cnt_ref);
  std::int64_t pairs = 0;
  aptflow::test::Checks same;
  for (std::int64_t r = 0; r < s.count; ++r) {
    same(cnt(r) == cnt_ref(r), s.first + r);
    for (std::int64_t q = 0; q < spec.size(); ++q) {
      same(out(r, q) == ref(r, q), s.first + r);
      pairs += ref(r, q);
    }
  }
  EXPECT_EQ(same.failed, 0) << "window SDMs differ from serial, first in window " << same.first;
  std::int64_t all_pairs = 0, halo = l.halo_count(), all_halo = 0;
  MPI_Allreduce(&pairs, &all_pairs, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(&halo, &all_halo, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_GT(all_pairs, 5000) << "test too sparse to mean anything";
  if (p > 1) EXPECT_GT(all_halo, 0);

  // Gathered rows (SDMs and centre counts) equal the serial whole grid.
  const auto rows = gather_window_rows<std::int64_t>(d, s, out, g.size(), p - 1);
  Rows cnt2("cnt2", s.count, 1);
  for (std::int64_t r = 0; r < s.count; ++r) cnt2(r, 0) = cnt(r);
  const auto counts = gather_window_rows<std::int64_t>(d, s, cnt2, g.size(), p - 1);
  if (me == p - 1) {
    Rows all("all", g.size(), spec.size());
    Counts all_cnt("all_cnt", g.size());
    compute_window_sdms(Exec(), cells_whole, g, ws, spec, 0, g.size(), all, all_cnt);
    ASSERT_EQ(rows.extent(0), all.extent(0));  // no collective follows
    ASSERT_EQ(rows.extent(1), all.extent(1));
    for (std::int64_t w = 0; w < g.size(); ++w) {
      ASSERT_EQ(counts(w, 0), all_cnt(w)) << "window " << w;
      for (std::int64_t q = 0; q < spec.size(); ++q) ASSERT_EQ(rows(w, q), all(w, q)) << "window " << w;
    }
  } else {
    EXPECT_EQ(rows.extent(0), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, DistWindowSdms,
                         ::testing::Values(std::make_tuple(WindowVariant::feal, SdmKind::z, 1, 1, false),
                                           std::make_tuple(WindowVariant::feal, SdmKind::z, 2, 3, true),
                                           std::make_tuple(WindowVariant::cocrni, SdmKind::z, 1, 1, true),
                                           std::make_tuple(WindowVariant::cocrni, SdmKind::z, 3, 2, false),
                                           std::make_tuple(WindowVariant::feal, SdmKind::xyz, 2, 2, false),
                                           std::make_tuple(WindowVariant::cocrni, SdmKind::xyz, 1, 3, true)));

TEST(DistGather, WindowRowsInWindowOrderFloat) {
  // Rows whose values name their window; a rank without windows passes 0 x 0.
  const PlainCloud pc = make_cloud(60, 500, true);
  const ZSlabDecomposition d = decompose(pc);
  const WindowGrid g = global_window_grid(d, 1.0, 0.5);
  const WindowSlab s = owned_windows(d, g);
  Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> rows("rows", s.count, s.count > 0 ? 3 : 0);
  for (std::int64_t r = 0; r < s.count; ++r)
    for (int q = 0; q < 3; ++q) rows(r, q) = float(s.first + r) + 0.25f * q;
  const auto all = gather_window_rows<float>(d, s, rows, g.size(), 0);
  if (aptflow::test::world_rank() == 0) {
    EXPECT_EQ(static_cast<std::int64_t>(all.extent(0)), g.size());
    EXPECT_EQ(all.extent(1), 3u);
    aptflow::test::Checks ok;
    for (std::int64_t w = 0; w < g.size() && all.extent(1) == 3; ++w)
      for (int q = 0; q < 3; ++q) ok(all(w, q) == float(w) + 0.25f * q, w);
    EXPECT_EQ(ok.failed, 0) << "first in window " << ok.first;
  }
  // A slab that does not tile the grid is refused on every rank.
  WindowSlab wrong = s;
  Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> one("one", 1, 3);
  wrong.first = 0;
  wrong.count = 1;
  EXPECT_THROW(gather_window_rows<float>(d, wrong, one, g.size(), 0), InternalError);
}
