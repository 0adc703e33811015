// dist/collective (np 1, 2, 4): error agreement raises the lowest failing
// rank's error, of its type, on every rank; string broadcast; first message;
// exact 128-bit sums; global bounds with ranks that hold no ions.
#include <gtest/gtest.h>
#include <mpi.h>

#include <random>
#include <string>

#include "aptflow/core/bounds.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "test_util.hpp"

using namespace aptflow;

namespace {}  // namespace

TEST(CollectiveMpi, AgreeOnErrorRaisesTheLowestFailingRanksErrorEverywhere) {
  const int p = aptflow::test::world_size(), me = aptflow::test::world_rank();
  EXPECT_NO_THROW(dist::agree_on_error(MPI_COMM_WORLD, nullptr));
  for (unsigned trial = 0; trial < 24; ++trial) {
    std::mt19937 rng(trial);  // same subset on every rank
    std::vector<int> fails(p);
    int lowest = -1;
    for (int r = 0; r < p; ++r) {
      fails[r] = rng() % 3 == 0 || (r == p - 1 && lowest < 0);
      if (fails[r] && lowest < 0) lowest = r;
    }
    const int kind = static_cast<int>(trial % 3);
    std::exception_ptr mine;
    if (fails[me]) {
      const std::string why = "bad block on rank " + std::to_string(me);
      if (kind == 0) mine = std::make_exception_ptr(InputError::at_byte("x.pos", 16 * me, why));
      if (kind == 1) mine = std::make_exception_ptr(ConfigError("key" + std::to_string(me), why));
      if (kind == 2) mine = std::make_exception_ptr(ResourceError(why));
    }
    const std::string want = "bad block on rank " + std::to_string(lowest);
    try {
      dist::agree_on_error(MPI_COMM_WORLD, mine);
      ADD_FAILURE() << "no exception on rank " << me;
    } catch (const InputError& e) {
      EXPECT_EQ(kind, 0);
      EXPECT_EQ(e.reason(), want);
      EXPECT_EQ(e.location(), 16 * lowest);
    } catch (const ConfigError& e) {
      EXPECT_EQ(kind, 1);
      EXPECT_EQ(e.key(), "key" + std::to_string(lowest));
      EXPECT_EQ(e.reason(), want);
    } catch (const ResourceError& e) {
      EXPECT_EQ(kind, 2);
      EXPECT_EQ(std::string(e.what()), me == lowest ? want : "rank " + std::to_string(lowest) + ": " + want);
    }
  }
}

TEST(CollectiveMpi, CollectiveStepAndFirstMessage) {
  const int p = aptflow::test::world_size(), me = aptflow::test::world_rank();
  EXPECT_THROW(dist::collective_step(MPI_COMM_WORLD,
                                     [&] {
                                       if (me == p - 1) throw InputError("f", "last rank");
                                     }),
               InputError);
  int ran = 0;
  dist::collective_step(MPI_COMM_WORLD, [&] { ran = 1; });
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(dist::first_message(MPI_COMM_WORLD, ""), "");
  const std::string m = me >= p / 2 ? "from " + std::to_string(me) : "";
  EXPECT_EQ(dist::first_message(MPI_COMM_WORLD, m), "from " + std::to_string(p / 2));
  EXPECT_EQ(dist::first_rank_where(MPI_COMM_WORLD, me == p - 1), p - 1);
  EXPECT_EQ(dist::first_rank_where(MPI_COMM_WORLD, false), -1);
}

TEST(CollectiveMpi, BcastString) {
  const int p = aptflow::test::world_size(), me = aptflow::test::world_rank();
  std::string big(3'000'017, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) % 251);
  const int root = p - 1;
  EXPECT_EQ(dist::bcast_string(MPI_COMM_WORLD, me == root ? big : std::string("junk"), root), big);
  EXPECT_EQ(dist::bcast_string(MPI_COMM_WORLD, me == 0 ? std::string() : std::string("x")), "");
}

TEST(CollectiveMpi, SumExactIs128BitExact) {
  const int p = aptflow::test::world_size(), me = aptflow::test::world_rank();
  std::vector<__int128> v(1000), want(1000, 0);
  for (int r = 0; r < p; ++r) {
    std::mt19937_64 rng(77 + r);
    for (std::size_t i = 0; i < v.size(); ++i) {
      // Values around 2^100 with either sign: a double or int64 sum would lose them.
      const __int128 x = (static_cast<__int128>(rng() >> 1) << 37) * ((rng() & 1) ? 1 : -1) + (rng() & 0xff);
      want[i] += x;
      if (r == me) v[i] = x;
    }
  }
  dist::sum_exact(MPI_COMM_WORLD, v);
  for (std::size_t i = 0; i < v.size(); ++i) ASSERT_TRUE(v[i] == want[i]) << i;
  std::vector<__int128> none;
  dist::sum_exact(MPI_COMM_WORLD, none);  // every rank passes n = 0: no hang
}

TEST(CollectiveMpi, GlobalBoundsSkipsRanksWithoutIons) {
  const int p = aptflow::test::world_size(), me = aptflow::test::world_rank();
  // Rank r (all but the last of several) holds one ion at (r, -r, 2r).
  const bool holds = p == 1 || me < p - 1;
  HostIonCloud c(holds ? 1 : 0, "test.bounds");
  if (holds) c.x(0) = float(me), c.y(0) = float(-me), c.z(0) = float(2 * me);
  const Box g = dist::global_bounds(MPI_COMM_WORLD, c);
  const int last = p == 1 ? 0 : p - 2;
  EXPECT_EQ(g.lo[0], 0.f);
  EXPECT_EQ(g.hi[0], float(last));
  EXPECT_EQ(g.lo[1], float(-last));
  EXPECT_EQ(g.hi[2], float(2 * last));
  const Box none = dist::global_bounds(MPI_COMM_WORLD, HostIonCloud(0, "test.none"));
  EXPECT_TRUE(none.is_empty());
}
