#pragma once
// Gather paths for results computed under the z-slab decomposition.
//  - Per-ion results (label, domain id, ...) of the owned ions go back to the
//    rank that read them, in input order: afterwards each rank holds the
//    values of its own contiguous input range [input_first, + input_count),
//    ready for a collective h5::write_rows at row offset input_first.
//  - Per-window rows: each rank already holds a contiguous window range
//    (dist/window_ownership.hpp), so h5::write_rows at row offset WindowSlab::first
//    writes them in place; gather_window_rows collects them on one rank.
// Types: std::int32_t, std::int64_t, float, double.
#include <Kokkos_Core.hpp>
#include <cstdint>

#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/window_ownership.hpp"

namespace aptflow::dist {

// Collective over decomposition.comm(): owned_values(i) is the result of owned
// ion i (ZSlabDecomposition::owned() order; for LocalIons take the subview
// [owned_begin, owned_end)). Returns input_count() values; element k belongs
// to global index input_first() + k. The exchange runs in rounds of at most
// round_ions owned ions per rank (bounded buffers: about 40 bytes per ion of a
// round besides the result).
template <class T>
Kokkos::View<T*, Kokkos::HostSpace> to_input_order(
    const ZSlabDecomposition& decomposition, const Kokkos::View<const T*, Kokkos::HostSpace>& owned_values,
    IonIndex round_ions = IonIndex{1} << 22);

// Collective over decomposition.comm(): rows (mine.count x row length) are the
// rows of windows [mine.first, mine.first + mine.count); the root gets all
// rows of the grid's n_windows windows in window order (ranks that own no
// window may pass a 0 x 0 View), the other ranks an empty View. Every window
// must be owned by exactly one rank (InternalError otherwise).
template <class T>
Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::HostSpace> gather_window_rows(
    const ZSlabDecomposition& decomposition, const WindowSlab& mine,
    const Kokkos::View<const T**, Kokkos::LayoutRight, Kokkos::HostSpace>& rows, std::int64_t n_windows,
    int root = 0);

}  // namespace aptflow::dist
