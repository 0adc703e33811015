#pragma once
// The checkpoint of aptflow classify (docs/classify.md, "Stop and resume"):
//
//   /probability     float32 (windows, classes)  probabilities known so far (NaN: not known / empty)
//   /done            uint8   (windows,)          1: the window's probability is known
//   /mean_sdm_sum    int64   (classes, pairs x bins, 2) exact 128-bit sums of the preprocessed rows
//                                                per argmax class: (high, low) 64-bit halves
//   /mean_sdm_count  int64   (classes,)          windows per argmax class
//   /identity        group, string attributes input_sha256, range_sha256, model_sha256, grid,
//                    config: what the run was; a resume checks every one
//
// Written collectively by row blocks (each rank its windows) to "<path>.tmp",
// renamed to path when complete.
#include <mpi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aptflow::io {

// The five identity items in the order of the attributes above: (what, value).
using CheckpointIdentity = std::vector<std::pair<std::string, std::string>>;

struct CheckpointShape {
  std::int64_t windows = 0, classes = 0, row_bins = 0;  // row_bins: pairs x bins
};

// Collective over comm. prob: this rank's `count` rows from window `first`,
// done likewise; sum and count: the global exact sums (the same on every rank).
// ResourceError when the file cannot be renamed into place.
void write_classify_checkpoint(MPI_Comm comm, const std::string& path, const CheckpointShape& shape,
                               std::int64_t first, std::int64_t count, const float* prob,
                               const std::uint8_t* done, const std::vector<__int128>& sum,
                               const std::vector<std::int64_t>& sum_count,
                               const CheckpointIdentity& identity);

// Reads this rank's rows (independent I/O); with sum != nullptr also the mean
// SDM sums and counts (sized as the shape gives). InputError naming what to do
// when the file does not match the shape.
void read_classify_checkpoint(const std::string& path, const CheckpointShape& shape, std::int64_t first,
                              std::int64_t count, float* prob, std::uint8_t* done, std::vector<__int128>* sum,
                              std::vector<std::int64_t>* sum_count);

// The first identity item whose stored value differs: (index, stored value).
std::optional<std::pair<std::size_t, std::string>> checkpoint_identity_mismatch(
    const std::string& path, const CheckpointIdentity& identity);

}  // namespace aptflow::io
