#pragma once
// Shuffled m/q control (method.md 6.6): a random permutation of the m/q column
// over all ions that does not depend on the number of ranks. Ion g (global
// input index) gets the key shuffle_key(seed, k, g) (Philox-4x32-10); sorting
// all ions by (key, g) gives the order pi: the ion at input position p receives
// the m/q of the ion pi(p), the p-th ion in key order.
#include <mpi.h>

#include <cstdint>
#include <vector>

namespace aptflow::dist {

// 64 random bits for ion g of shuffle k (counter (g, k, "SH"), key seed).
std::uint64_t shuffle_key(std::uint64_t seed, std::uint32_t k, std::int64_t g);

// Collective over comm: mq[i] is the m/q of the ion with global index
// first + i; the ranks' ranges [first, first + mq.size()) must tile [0, N)
// (any rank order; empty ranges allowed; InternalError otherwise). Returns the
// shuffled m/q of the same range. Distributed sort: the keys are uniform, so
// rank r takes the key range [r 2^64 / P, (r + 1) 2^64 / P); two all-to-all
// exchanges, memory O(local ions) per rank.
std::vector<float> shuffle_mq(MPI_Comm comm, const std::vector<float>& mq, std::int64_t first,
                              std::uint64_t seed, std::uint32_t k);

}  // namespace aptflow::dist
