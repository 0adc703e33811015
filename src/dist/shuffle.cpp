// Rank-count independent random permutation of the m/q column (dist/shuffle.hpp).
#include "aptflow/dist/shuffle.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "aptflow/core/error.hpp"
#include "aptflow/core/rng.hpp"
#include "aptflow/dist/exchange.hpp"

namespace aptflow::dist {

namespace {
struct KeyRecord {
  std::uint64_t key;
  std::int64_t g;
  float mq;
  std::int32_t pad = 0;
};
struct PosRecord {
  std::int64_t p;
  float mq;
  std::int32_t pad = 0;
};
}  // namespace

std::uint64_t shuffle_key(std::uint64_t seed, std::uint32_t k, std::int64_t g) {
  const auto ug = static_cast<std::uint64_t>(g);
  const U32x4 ctr{{static_cast<std::uint32_t>(ug), static_cast<std::uint32_t>(ug >> 32), k, 0x5348u}};
  const U32x4 r =
      philox4x32_10(ctr, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  return (static_cast<std::uint64_t>(r.v[0]) << 32) | r.v[1];
}

std::vector<float> shuffle_mq(MPI_Comm comm, const std::vector<float>& mq, std::int64_t first,
                              std::uint64_t seed, std::uint32_t k) {
  int rank = 0, P = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &P);
  const auto n = static_cast<std::int64_t>(mq.size());
  // Input ranges of all ranks, checked to tile [0, N).
  std::vector<std::int64_t> mine{first, n}, all(2 * static_cast<std::size_t>(P));
  MPI_Allgather(mine.data(), 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, comm);
  std::vector<int> order(static_cast<std::size_t>(P));
  for (int r = 0; r < P; ++r) order[static_cast<std::size_t>(r)] = r;
  auto first_of = [&](int r) { return all[2 * static_cast<std::size_t>(r)]; };
  auto count_of = [&](int r) { return all[2 * static_cast<std::size_t>(r) + 1]; };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return first_of(a) < first_of(b); });
  std::int64_t next = 0;
  for (const int r : order) {
    if (count_of(r) == 0) continue;
    if (first_of(r) != next)
      throw InternalError(
          fmt::format("shuffle_mq: rank {} holds ions from {} but {} was expected: the input "
                      "ranges must tile [0, N)",
                      r, first_of(r), next));
    next += count_of(r);
  }

  // 1. Records to the rank owning their key range.
  auto key_rank = [P](std::uint64_t key) {
    return static_cast<int>((static_cast<unsigned __int128>(key) * static_cast<unsigned>(P)) >> 64);
  };
  std::vector<std::int64_t> send_counts(static_cast<std::size_t>(P), 0);
  std::vector<KeyRecord> recs(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t g = first + i;
    recs[static_cast<std::size_t>(i)] =
        KeyRecord{shuffle_key(seed, k, g), g, mq[static_cast<std::size_t>(i)]};
    ++send_counts[static_cast<std::size_t>(key_rank(recs[static_cast<std::size_t>(i)].key))];
  }
  std::stable_sort(recs.begin(), recs.end(),
                   [&](const KeyRecord& a, const KeyRecord& b) { return key_rank(a.key) < key_rank(b.key); });
  auto mine_keys = alltoallv(comm, recs, send_counts);
  recs.clear();
  recs.shrink_to_fit();
  std::sort(mine_keys.begin(), mine_keys.end(), [](const KeyRecord& a, const KeyRecord& b) {
    return a.key != b.key ? a.key < b.key : a.g < b.g;
  });
  // 2. Global position in key order: exclusive prefix of the counts.
  std::int64_t cnt = static_cast<std::int64_t>(mine_keys.size()), base = 0;
  MPI_Exscan(&cnt, &base, 1, MPI_INT64_T, MPI_SUM, comm);
  if (rank == 0) base = 0;
  // 3. The m/q of the p-th ion goes to the rank holding input position p.
  std::vector<int> sorted_nonempty;
  for (const int r : order)
    if (count_of(r) > 0) sorted_nonempty.push_back(r);
  std::fill(send_counts.begin(), send_counts.end(), 0);
  std::vector<PosRecord> pos(mine_keys.size());
  std::vector<int> dest(mine_keys.size());
  for (std::size_t j = 0; j < mine_keys.size(); ++j) {
    const std::int64_t p = base + static_cast<std::int64_t>(j);
    const auto it = std::upper_bound(sorted_nonempty.begin(), sorted_nonempty.end(), p,
                                     [&](std::int64_t v, int r) { return v < first_of(r); });
    dest[j] = *(it - 1);
    pos[j] = PosRecord{p, mine_keys[j].mq};
    ++send_counts[static_cast<std::size_t>(dest[j])];
  }
  std::vector<PosRecord> packed(pos.size());
  {
    std::vector<std::int64_t> at(static_cast<std::size_t>(P), 0);
    for (int r = 1; r < P; ++r)
      at[static_cast<std::size_t>(r)] =
          at[static_cast<std::size_t>(r) - 1] + send_counts[static_cast<std::size_t>(r) - 1];
    for (std::size_t j = 0; j < pos.size(); ++j)
      packed[static_cast<std::size_t>(at[static_cast<std::size_t>(dest[j])]++)] = pos[j];
  }
  const auto got = alltoallv(comm, packed, send_counts);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (const auto& r : got) {
    if (r.p < first || r.p >= first + n)
      throw InternalError("shuffle_mq: a position arrived at the wrong rank");
    out[static_cast<std::size_t>(r.p - first)] = r.mq;
  }
  return out;
}

}  // namespace aptflow::dist
