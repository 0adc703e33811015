// Sample sort of the ions by z into one slab per rank (docs/parallel.md).
#include "aptflow/dist/decomposition.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/detail/ion_record.hpp"
#include "aptflow/dist/exchange.hpp"

namespace aptflow::dist {

namespace detail {

std::vector<float> choose_splitters(const std::vector<ZSample>& sorted, IonIndex total, int p) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  std::vector<float> split;
  split.reserve(p > 0 ? p - 1 : 0);
  // Candidates: each distinct sample value v with below(v) = weight of the
  // samples with z < v, then +inf with below = total.
  std::size_t m = 0;   // first sample of the current candidate value
  IonIndex below = 0;  // weight of samples before m
  for (int j = 1; j < p; ++j) {
    const IonIndex target = static_cast<IonIndex>((static_cast<__int128>(total) * j) / p);
    // Advance while the next candidate is at least as close to the target.
    while (m < sorted.size()) {
      std::size_t e = m;
      IonIndex w = 0;
      while (e < sorted.size() && sorted[e].z == sorted[m].z) w += sorted[e++].weight;
      const IonIndex next_below = below + w;  // below the candidate after this one
      if (below >= target) break;
      // Moving on is better when the next candidate is strictly closer.
      if (next_below - target < target - below) {
        below = next_below;
        m = e;
      } else {
        break;
      }
    }
    split.push_back(m < sorted.size() ? sorted[m].z : kInf);
  }
  return split;
}

}  // namespace detail

namespace {

using detail::IonRecord;

bool before(const IonRecord& a, const IonRecord& b) { return a.z < b.z || (a.z == b.z && a.index < b.index); }

}  // namespace

int ZSlabDecomposition::owner_of_z(float z) const {
  // Rank r holds bounds[r] <= z < bounds[r + 1]: count the splitters <= z.
  return static_cast<int>(std::upper_bound(bounds_.begin() + 1, bounds_.end() - 1, z) -
                          (bounds_.begin() + 1));
}

int ZSlabDecomposition::input_rank_of(IonIndex g) const {
  // input_order_: ranks with ions sorted by input_first.
  auto it = std::upper_bound(input_order_.begin(), input_order_.end(), g,
                             [&](IonIndex v, int r) { return v < input_first_[r]; });
  if (it != input_order_.begin()) {
    const int r = *(it - 1);
    if (g < input_first_[r] + input_count_[r]) return r;
  }
  throw InternalError("ZSlabDecomposition: global index " + std::to_string(g) +
                      " is in no rank's input range (a bug, please report)");
}

ZSlabDecomposition decompose_z(MPI_Comm comm, const HostIonCloud& local, IonIndex first_index,
                               const DecomposeOptions& options) {
  return decompose_z(comm, HostIonCloud(local), first_index, options);  // shares the caller's Views
}

ZSlabDecomposition decompose_z(MPI_Comm comm_in, HostIonCloud&& local, IonIndex first_index,
                               const DecomposeOptions& options) {
  ZSlabDecomposition d;
  d.comm_ = DupComm(comm_in);
  d.max_records_ = options.max_records_per_message;
  const MPI_Comm comm = d.comm_.get();
  const int p = d.comm_.size();
  const IonIndex n = local.size();

  // Input layout of all ranks; ranges must be disjoint.
  const IonIndex mine[2] = {first_index, n};
  std::vector<IonIndex> all(2 * static_cast<std::size_t>(p));
  MPI_Allgather(mine, 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, comm);
  d.input_first_.resize(p);
  d.input_count_.resize(p);
  for (int r = 0; r < p; ++r) {
    d.input_first_[r] = all[2 * r];
    d.input_count_[r] = all[2 * r + 1];
    d.global_count_ += all[2 * r + 1];
  }
  for (int r = 0; r < p; ++r)
    if (d.input_count_[r] > 0) d.input_order_.push_back(r);
  std::stable_sort(d.input_order_.begin(), d.input_order_.end(),
                   [&](int a, int b) { return d.input_first_[a] < d.input_first_[b]; });
  for (std::size_t k = 0; k < d.input_order_.size(); ++k) {
    const int r = d.input_order_[k];
    if (d.input_first_[r] < 0 || (k + 1 < d.input_order_.size() && d.input_first_[r] + d.input_count_[r] >
                                                                       d.input_first_[d.input_order_[k + 1]]))
      throw InternalError("decompose_z: the ranks' global ion index ranges overlap or are negative (rank " +
                          std::to_string(r) + " starts at " + std::to_string(d.input_first_[r]) +
                          "): pass each rank's first file index (read_dataset_mpi's first_ion)");
  }
  bool nonfinite = false;
  for (IonIndex i = 0; i < n && !nonfinite; ++i) nonfinite = !std::isfinite(local.z(i));
  if (any_rank(comm, nonfinite))
    throw InternalError(
        "decompose_z: an ion has a non-finite z: read the data with NonFinite::error or drop "
        "(io/dataset.hpp)");

  // Records in input order, sorted by (z, global index).
  std::vector<IonRecord> send(static_cast<std::size_t>(n));
  for (IonIndex i = 0; i < n; ++i) send[i] = detail::ion_record(local, i, first_index + i);
  local = HostIonCloud();  // the records hold the ions now (frees them when the caller moved them in)
  std::sort(send.begin(), send.end(), before);

  // Regular sample: block k of the sorted ions is [k n / s, (k + 1) n / s);
  // its median z stands for the block's ions.
  const std::int64_t want = std::max<std::int64_t>(std::int64_t(options.oversample) * p, options.min_samples);
  const std::int64_t per_rank =
      std::max<std::int64_t>(1, std::min<std::int64_t>(want, options.max_samples / p));
  const std::int64_t s = std::min<std::int64_t>(n, per_rank);
  std::vector<detail::ZSample> samples(static_cast<std::size_t>(s));
  for (std::int64_t k = 0; k < s; ++k) {
    const IonIndex b0 = static_cast<IonIndex>(static_cast<__int128>(n) * k / s);
    const IonIndex b1 = static_cast<IonIndex>(static_cast<__int128>(n) * (k + 1) / s);
    samples[k].z = send[b0 + (b1 - b0 - 1) / 2].z;
    samples[k].weight = b1 - b0;
  }
  int sc = static_cast<int>(s);
  std::vector<int> counts(p), displs(p);
  MPI_Allgather(&sc, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);
  int total_samples = 0;
  for (int r = 0; r < p; ++r) displs[r] = total_samples, total_samples += counts[r];
  std::vector<detail::ZSample> gathered(static_cast<std::size_t>(total_samples));
  MPI_Datatype st;
  MPI_Type_contiguous(sizeof(detail::ZSample), MPI_BYTE, &st);
  MPI_Type_commit(&st);
  MPI_Allgatherv(samples.data(), sc, st, gathered.data(), counts.data(), displs.data(), st, comm);
  MPI_Type_free(&st);
  // Rank order, then z: deterministic for equal z.
  std::stable_sort(gathered.begin(), gathered.end(),
                   [](const detail::ZSample& a, const detail::ZSample& b) { return a.z < b.z; });
  const std::vector<float> split = detail::choose_splitters(gathered, d.global_count_, p);
  d.bounds_.assign(1, -std::numeric_limits<float>::infinity());
  d.bounds_.insert(d.bounds_.end(), split.begin(), split.end());
  d.bounds_.push_back(std::numeric_limits<float>::infinity());

  // Sorted order: destinations are non-decreasing.
  std::vector<std::int64_t> send_counts(p, 0);
  for (const IonRecord& rec : send) ++send_counts[d.owner_of_z(rec.z)];
  std::vector<std::int64_t> recv_counts;
  std::vector<IonRecord> recv =
      alltoallv(comm, send, send_counts, &recv_counts, options.max_records_per_message);
  std::vector<IonRecord>().swap(send);  // free it (send = {} would keep the capacity)
  // One sorted run per source rank: merge them pairwise, O(m log p).
  std::vector<std::size_t> run(1, 0);
  for (int r = 0; r < p; ++r) run.push_back(run.back() + static_cast<std::size_t>(recv_counts[r]));
  for (std::size_t width = 1; width < static_cast<std::size_t>(p); width *= 2)
    for (std::size_t r = 0; r + width < static_cast<std::size_t>(p); r += 2 * width) {
      const std::size_t mid = run[r + width], end = run[std::min<std::size_t>(r + 2 * width, p)];
      std::inplace_merge(recv.begin() + run[r], recv.begin() + mid, recv.begin() + end, before);
    }

  const IonIndex m = static_cast<IonIndex>(recv.size());
  d.owned_ = HostIonCloud(m, "aptflow::dist::owned");
  d.owned_count_ = m;
  d.owned_index_ = Kokkos::View<IonIndex*, Kokkos::HostSpace>(
      Kokkos::view_alloc("aptflow::dist::owned_index", Kokkos::WithoutInitializing), m);
  for (IonIndex k = 0; k < m; ++k) {
    detail::store_ion(d.owned_, k, recv[k]);
    d.owned_index_(k) = recv[k].index;
  }
  d.owned_counts_.resize(p);
  MPI_Allgather(&m, 1, MPI_INT64_T, d.owned_counts_.data(), 1, MPI_INT64_T, comm);
  return d;
}

}  // namespace aptflow::dist
