// Distributed DBSCAN over z slabs (method.md 6.5): every rank holds its slab
// of one random labelled cloud plus a halo of 2 eps + 0.01 nm; the domain id
// of every ion and the domain statistics (to the bit) must equal the serial
// result, whatever the number of ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "aptflow/pipeline/segment.hpp"

namespace {

using namespace aptflow;

// The same cloud on every rank: background, dense blobs, two classes, gids a
// random permutation.
LabelledIons whole_cloud() {
  std::mt19937_64 rng(4242);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> gauss(0, 0.45);
  LabelledIons ions;
  for (int i = 0; i < 3000; ++i)
    ions.push_back(float(u(rng) * 12), float(u(rng) * 10), float(u(rng) * 20), 0, int(u(rng) * 2));
  for (int b = 0; b < 30; ++b) {
    const double c[3] = {u(rng) * 12, u(rng) * 10, u(rng) * 20};
    for (int k = 0; k < 50; ++k)
      ions.push_back(float(c[0] + gauss(rng)), float(c[1] + gauss(rng)), float(c[2] + gauss(rng)), 0, b % 2);
  }
  std::vector<std::int64_t> perm(ions.size());
  std::iota(perm.begin(), perm.end(), std::int64_t(0));
  std::shuffle(perm.begin(), perm.end(), rng);
  ions.gid = perm;
  return ions;
}

TEST(SegmentMpi, SlabDomainsEqualSerial) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const DomainSpec spec;
  const auto all = whole_cloud();
  const auto serial = find_domains(all, spec);
  ASSERT_GT(serial.domains.size(), 10u);

  Slab slab;
  const double inf = std::numeric_limits<double>::infinity();
  slab.z_lo = rank == 0 ? -inf : 20.0 * rank / size;
  slab.z_hi = rank == size - 1 ? inf : 20.0 * (rank + 1) / size;
  slab.halo = size > 1 ? 2 * spec.eps + 0.01 : 0;
  LabelledIons mine;
  std::vector<std::size_t> source;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (double(all.z[i]) >= slab.z_lo - slab.halo && double(all.z[i]) < slab.z_hi + slab.halo) {
      mine.push_back(all.x[i], all.y[i], all.z[i], all.gid[i], all.cls[i]);
      source.push_back(i);
    }
  const auto r = find_domains_mpi(MPI_COMM_WORLD, mine, slab, spec);  // collective

  // Owned ions: the serial domain id and core flag.
  std::int64_t owned = 0, bad = 0;
  for (std::size_t k = 0; k < mine.size(); ++k) {
    if (!slab.owns(mine.z[k])) {
      EXPECT_EQ(r.domain[k], -1);
      continue;
    }
    ++owned;
    bad += r.domain[k] != serial.domain[source[k]] || r.core[k] != serial.core[source[k]];
  }
  EXPECT_EQ(bad, 0);
  std::int64_t total = 0;
  MPI_Allreduce(&owned, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(total, static_cast<std::int64_t>(all.size()));

  ASSERT_EQ(r.domains.size(), serial.domains.size());
  for (std::size_t d = 0; d < r.domains.size(); ++d) {
    const auto& a = r.domains[d];
    const auto& b = serial.domains[d];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.cls, b.cls);
    EXPECT_EQ(a.ions, b.ions);
    EXPECT_EQ(a.core_ions, b.core_ions);
    EXPECT_EQ(0, std::memcmp(a.centroid, b.centroid, sizeof(a.centroid)));
    EXPECT_EQ(0, std::memcmp(a.gyration, b.gyration, sizeof(a.gyration)));
    EXPECT_EQ(0, std::memcmp(a.axes, b.axes, sizeof(a.axes)));
    EXPECT_EQ(a.rg, b.rg);
  }
}

}  // namespace
