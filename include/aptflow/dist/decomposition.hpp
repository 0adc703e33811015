#pragma once
// Spatial decomposition of an ion cloud over MPI ranks along z, the specimen
// axis (docs/parallel.md). Rank r owns the ions with z in the slab
// [bounds[r], bounds[r + 1]) (bounds[0] = -inf, bounds[p] = +inf), found by a
// sample sort: every rank sorts its ions by (z, global input index), draws a
// regular sample, the weighted samples of all ranks give p - 1 splitters
// (values of ion z) at the 1/p quantiles, and the ions move with one
// all-to-all exchange. Ions with equal z always land on one rank (the slab
// test compares z only); the order inside a rank is (z, global index), so the
// result is deterministic for a given input and rank count. Every ion keeps
// its global input index (int64) so that per-ion results can be returned to
// input order (dist/gather.hpp).
#include <mpi.h>

#include <Kokkos_Core.hpp>
#include <cstdint>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/dist/comm.hpp"

namespace aptflow::dist {

struct DecomposeOptions {
  // Samples per rank s = min(local ions, max(oversample * ranks, min_samples),
  // max_samples / ranks). Each slab boundary is then within about N / (2 s)
  // ions of its target (ties in z excepted).
  int oversample = 32;
  std::int64_t min_samples = 1024;
  std::int64_t max_samples = std::int64_t{1} << 23;  // all ranks together (16 bytes each, on every rank)
  std::int64_t max_records_per_message = 0;          // 0: automatic (see dist/exchange.hpp)
};

class ZSlabDecomposition {
 public:
  ZSlabDecomposition() = default;
  ZSlabDecomposition(ZSlabDecomposition&&) = default;
  ZSlabDecomposition& operator=(ZSlabDecomposition&&) = default;

  // The duplicated communicator every collective on this object uses.
  MPI_Comm comm() const { return comm_.get(); }
  int rank() const { return comm_.rank(); }
  int size() const { return comm_.size(); }

  // Slab bounds of all ranks (size() + 1 values, non-decreasing; equal
  // neighbours mean an empty slab). z in nm.
  const std::vector<float>& bounds() const { return bounds_; }
  float z_lo(int r) const { return bounds_[r]; }
  float z_hi(int r) const { return bounds_[r + 1]; }
  float z_lo() const { return z_lo(rank()); }
  float z_hi() const { return z_hi(rank()); }
  // The rank whose slab holds z (no communication).
  int owner_of_z(float z) const;

  // This rank's ions, sorted by (z, global index); no extras (EPOS fields
  // stay with the input: results go back there through to_input_order).
  // Empty after release_owned_ions().
  const HostIonCloud& owned() const { return owned_; }
  IonIndex owned_count() const { return owned_count_; }
  // Free the owned ions' coordinates, m/q and species (a pipeline that has
  // taken its copy with exchange_halo and no longer needs owned()); indices,
  // counts and bounds stay, so to_input_order keeps working.
  void release_owned_ions() { owned_ = HostIonCloud(); }
  // Global input index of owned ion i.
  const Kokkos::View<IonIndex*, Kokkos::HostSpace>& owned_index() const { return owned_index_; }
  // Owned ions of every rank (exact, agreed by all).
  const std::vector<IonIndex>& owned_counts() const { return owned_counts_; }

  // Input layout: rank r passed the ions with global indices
  // [input_first(r), input_first(r) + input_count(r)).
  IonIndex input_first(int r) const { return input_first_[r]; }
  IonIndex input_count(int r) const { return input_count_[r]; }
  IonIndex input_first() const { return input_first(rank()); }
  IonIndex input_count() const { return input_count(rank()); }
  IonIndex global_count() const { return global_count_; }
  // The rank whose input range holds global index g (InternalError if none).
  int input_rank_of(IonIndex g) const;

  std::int64_t max_records_per_message() const { return max_records_; }

 private:
  friend ZSlabDecomposition decompose_z(MPI_Comm, HostIonCloud&&, IonIndex, const DecomposeOptions&);
  DupComm comm_;
  std::vector<float> bounds_;
  HostIonCloud owned_;
  IonIndex owned_count_ = 0;
  Kokkos::View<IonIndex*, Kokkos::HostSpace> owned_index_;
  std::vector<IonIndex> owned_counts_;
  std::vector<IonIndex> input_first_, input_count_;
  std::vector<int> input_order_;  // ranks sorted by input_first (for input_rank_of)
  IonIndex global_count_ = 0;
  std::int64_t max_records_ = 0;
};

// Collective over comm: decompose the ions that the ranks read (local, with
// global input indices [first_index, first_index + local.size())) into z
// slabs. The input ranges must be disjoint (any order, gaps allowed); z must be
// finite. Errors (overlapping ranges, non-finite z) are raised on every rank.
ZSlabDecomposition decompose_z(MPI_Comm comm, const HostIonCloud& local, IonIndex first_index,
                               const DecomposeOptions& options = {});
// The same, taking the ions over: their memory is freed as soon as they are
// packed for the exchange (lower peak memory when the caller needs them no
// more: decompose_z(comm, std::move(cloud), ...)).
ZSlabDecomposition decompose_z(MPI_Comm comm, HostIonCloud&& local, IonIndex first_index,
                               const DecomposeOptions& options = {});

namespace detail {
// One weighted sample of the sample sort: a z value standing for `weight`
// ions around it in one rank's sorted order.
struct ZSample {
  float z;
  std::int32_t pad = 0;
  std::int64_t weight;
};
// Splitters (p - 1 values, non-decreasing) from the samples of all ranks
// sorted by z: splitter j is the distinct sample value v (or +inf) whose
// estimated count of ions below it, the weight of the samples with z < v, is
// nearest to j * total / p (the smaller one on a tie). No communication.
std::vector<float> choose_splitters(const std::vector<ZSample>& sorted_samples, IonIndex total, int p);
}  // namespace detail

}  // namespace aptflow::dist
