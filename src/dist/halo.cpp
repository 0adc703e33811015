// Halo exchange of the z-slab decomposition (docs/parallel.md).
#include "aptflow/dist/halo.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/detail/ion_record.hpp"
#include "aptflow/dist/exchange.hpp"

namespace aptflow::dist {

using detail::IonRecord;

double halo_width(const SdmSpec& sdm, const WindowSpec& windows) {
  const double reach =
      std::max(double(windows.centre_radius),
               windows.variant == WindowVariant::cocrni ? double(windows.neighbour_radius) : 0.0);
  return sdm.r_cut + reach + 1e-3;
}

LocalIons exchange_halo(const ZSlabDecomposition& d, double h) {
  if (!(h >= 0) || !std::isfinite(h))
    throw ConfigError("dist.halo_width", "halo width " + std::to_string(h) + " nm: give a finite value >= 0");
  const int p = d.size(), me = d.rank();
  const HostIonCloud& own = d.owned();
  const IonIndex n = own.size();
  const float* z = own.z.data();
  // Owned z is sorted: the ions rank q needs, z in [z_lo(q) - h, z_hi(q) + h)
  // outside q's own slab, are one contiguous range of ours.
  auto first_at_least = [&](double v) {
    return static_cast<IonIndex>(
        std::lower_bound(z, z + n, v, [](float a, double b) { return double(a) < b; }) - z);
  };
  std::vector<IonIndex> b(p), e(p);
  std::vector<std::int64_t> send_counts(p, 0);
  std::int64_t total = 0;
  for (int q = 0; q < p; ++q) {
    if (q == me) continue;
    b[q] = first_at_least(double(d.z_lo(q)) - h);  // -inf - h = -inf
    e[q] = std::max(b[q], first_at_least(double(d.z_hi(q)) + h));
    send_counts[q] = e[q] - b[q];
    total += send_counts[q];
  }
  std::vector<IonRecord> send(static_cast<std::size_t>(total));
  std::size_t k = 0;
  for (int q = 0; q < p; ++q)
    for (IonIndex i = b[q]; i < e[q] && q != me; ++i)
      send[k++] = detail::ion_record(own, i, d.owned_index()(i));
  std::vector<std::int64_t> recv_counts;
  const std::vector<IonRecord> recv =
      alltoallv(d.comm(), send, send_counts, &recv_counts, d.max_records_per_message());
  std::vector<IonRecord>().swap(send);  // free it (send = {} would keep the capacity)

  // Source ranks below this one hold smaller z (slabs are ordered), so
  // [from lower ranks | owned | from higher ranks] is sorted by (z, index).
  IonIndex below = 0;
  for (int q = 0; q < me; ++q) below += recv_counts[q];
  LocalIons out;
  const IonIndex m = n + static_cast<IonIndex>(recv.size());
  out.cloud = HostIonCloud(m, "aptflow::dist::local");
  out.index = Kokkos::View<IonIndex*, Kokkos::HostSpace>(
      Kokkos::view_alloc("aptflow::dist::local_index", Kokkos::WithoutInitializing), m);
  out.owned_begin = below;
  out.owned_end = below + n;
  out.width = h;
  auto put = [&](IonIndex at, const IonRecord& r) {
    detail::store_ion(out.cloud, at, r);
    out.index(at) = r.index;
  };
  for (IonIndex i = 0; i < below; ++i) put(i, recv[i]);
  for (IonIndex i = 0; i < n; ++i) put(below + i, detail::ion_record(own, i, d.owned_index()(i)));
  for (IonIndex i = below; i < static_cast<IonIndex>(recv.size()); ++i) put(n + i, recv[i]);
  return out;
}

}  // namespace aptflow::dist
