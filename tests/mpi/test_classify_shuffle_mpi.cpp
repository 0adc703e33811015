// dist::shuffle_mq at np 1, 2, 4 equals the serial reference permutation
// computed on the whole array (sort by (Philox key, index)), for uneven and
// empty per-rank ranges given in reversed rank order; it is a permutation of
// the values, and different k give different permutations.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "aptflow/dist/shuffle.hpp"

TEST(ClassifyShuffleMpi, MatchesSerialReferencePermutation) {
  int rank = 0, P = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &P);
  const std::int64_t N = 5003;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(1.0f, 60.0f);
  std::vector<float> all(N);
  for (auto& v : all) v = u(rng);
  // Uneven ranges, rank 1 empty when P > 2, laid out in reversed rank order.
  std::vector<std::int64_t> counts(static_cast<std::size_t>(P));
  std::int64_t left = N;
  for (int r = 0; r < P; ++r) {
    std::int64_t c = r == P - 1 ? left : (P > 2 && r == 1 ? 0 : N / (P + 1) + 13 * r);
    counts[static_cast<std::size_t>(r)] = c;
    left -= c;
  }
  std::int64_t first = 0;
  for (int r = P - 1; r > rank; --r) first += counts[static_cast<std::size_t>(r)];
  const std::int64_t n = counts[static_cast<std::size_t>(rank)];
  for (const std::uint32_t k : {0u, 1u, 2u}) {
    const std::uint64_t seed = 0x1234567890abcdefull;
    std::vector<float> mine(all.begin() + first, all.begin() + first + n);
    const auto got = aptflow::dist::shuffle_mq(MPI_COMM_WORLD, mine, first, seed, k);
    // Serial reference.
    std::vector<std::int64_t> idx(N);
    std::iota(idx.begin(), idx.end(), 0);
    std::vector<std::uint64_t> key(N);
    for (std::int64_t g = 0; g < N; ++g) key[g] = aptflow::dist::shuffle_key(seed, k, g);
    std::sort(idx.begin(), idx.end(),
              [&](std::int64_t a, std::int64_t b) { return key[a] != key[b] ? key[a] < key[b] : a < b; });
    std::vector<float> ref(N);
    for (std::int64_t p = 0; p < N; ++p) ref[p] = all[idx[p]];
    ASSERT_EQ(static_cast<std::int64_t>(got.size()), n);
    for (std::int64_t i = 0; i < n; ++i)
      ASSERT_EQ(got[i], ref[first + i]) << "k " << k << " position " << first + i;
    // A true permutation of the values, and not the identity.
    auto a = all, b = ref;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);
    std::int64_t moved = 0;
    for (std::int64_t p = 0; p < N; ++p) moved += ref[p] != all[p];
    EXPECT_GT(moved, N * 9 / 10);
  }
  // Keys depend on k and the seed.
  EXPECT_NE(aptflow::dist::shuffle_key(1, 0, 5), aptflow::dist::shuffle_key(1, 1, 5));
  EXPECT_NE(aptflow::dist::shuffle_key(1, 0, 5), aptflow::dist::shuffle_key(2, 0, 5));
}
