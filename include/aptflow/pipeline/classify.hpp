#pragma once
// `aptflow classify` (docs/classify.md): dataset -> window z-SDMs -> ensemble
// class probabilities -> sub-cells -> ion labels -> DBSCAN domains, under the
// z-slab MPI decomposition. The output file does not depend on the number of
// ranks (the tests check byte equality of every result dataset).
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "aptflow/core/config.hpp"
#include "aptflow/kernels/windows.hpp"
#include "aptflow/pipeline/segment.hpp"

namespace aptflow {

struct ClassifyOptions {
  std::string input;                // dataset (POS, EPOS, APT, aptflow HDF5)
  std::string range;                // range file
  std::vector<std::string> models;  // one or more model files (mean of probabilities)
  std::string output;               // result HDF5 file
  std::string pair = "Al-Al";       // A-B ion-type names of the range file
  WindowVariant variant = WindowVariant::cocrni;
  double edge = 1.0, stride = 0.5;  // nm
  std::int64_t chunk = 4096;        // windows per SDM / network pass
  SegmentSpec segment;              // thresholds (one per class), ion radius, DBSCAN
  bool progress = true;             // progress line on rank 0 (stderr)
  std::string config_text;          // effective configuration, stored in /entry1/config
  std::string truth;                // optional specimen truth file: /entry1/truth (pipeline/truth.hpp)
};

// Read every key of cfg (ConfigError naming the key for a missing or bad value,
// and for any key that is not read: a typo). Keys: input, range, model (string
// or list), output, pair, windows.{variant,edge,stride,chunk},
// segment.{thresholds,ion_radius}, domains.{eps,min_samples,atomic_density,
// detection_efficiency}, progress, truth.
ClassifyOptions parse_classify_config(const Config& cfg);

struct ClassifySummary {
  std::int64_t ions = 0, windows = 0, empty_windows = 0, labelled_ions = 0, domains = 0;
  std::vector<std::int64_t> ions_per_class;  // labelled ions per class
  double seconds = 0;
};

// Collective over comm: the whole pipeline; writes options.output (see
// docs/classify.md for the layout). Errors on any rank are raised on every rank.
ClassifySummary run_classify(MPI_Comm comm, const ClassifyOptions& options);

}  // namespace aptflow
