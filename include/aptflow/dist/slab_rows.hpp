#pragma once
// Rows of a grid laid along z over the z-slab decomposition (voxel planes of a
// composition grid; sub-cell layers). Each rank counts into the rows its ions
// touch, [first, first + rows); because the slabs are ordered along z, the
// ranks' row ranges are ordered too and neighbours share at most one boundary
// row. sum_slab_rows gives every row one owner and adds the other ranks'
// partial counts of it there:
//   rank r owns [start_r, start_next) where start_r is the first row it holds
//   (0 for the first rank holding rows), start_next the next such rank's start
//   (the total for the last); a rank whose start equals the next one's owns none.
// Owned ranges tile [0, total_rows) in rank order. Integer sums: exact, the
// same rows on any number of ranks.
#include <mpi.h>

#include <cstdint>
#include <vector>

namespace aptflow::dist {

struct SlabRows {
  std::int64_t first = 0, rows = 0;  // owned rows [first, first + rows)
  std::vector<std::int64_t> values;  // rows * row_length, row-major
};

// Collective over comm. held: this rank's partial sums of rows [held_first,
// held_first + held_rows) (row_length values each; held_rows may be 0).
// Requires the order above (a rank's first held row >= the last held row of
// every lower rank; InternalError otherwise). Sends only the rows a rank holds
// but does not own (at most one per rank for slabs wider than a row).
SlabRows sum_slab_rows(MPI_Comm comm, std::int64_t total_rows, std::int64_t row_length,
                       std::int64_t held_first, std::int64_t held_rows, const std::int64_t* held);

}  // namespace aptflow::dist
