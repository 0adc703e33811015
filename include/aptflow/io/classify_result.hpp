#pragma once
// The result file of aptflow classify (docs/classify.md, "Output"): a NeXus
// /entry1 with
//
//   input/      input_file, input_sha256, range_file, range_sha256, model_files, model_sha256,
//               ions, [roi, roi_ions], bounds (2, 3), ion_types, [ranges (r, 2), range_ion_type]
//   windows/    probability float32 (nz, ny, nx, classes) + attributes of the grid and of what ran;
//               mean_sdm (classes, [pairs,] bins), mean_sdm_count, sdm_bin_centres
//   subcells/   sum float32 (mz, my, mx, classes), label int32 (mz, my, mx)
//   ions/       class int32 (ions,), domain_id int64 (ions,), input order (-1: none)
//   domains/    the domain table (written by the caller through file())
//   alignment/  with transform.align (written by the caller through file())
//   control/    size_histogram (runs + 1, bins) and per shuffled m/q run: shuffle_seed, domains,
//               pearson_r, chi2, contingency, chi2_published, contingency_published
//   config      the configuration text (sha256, aptflow_version, git_hash)
//   profiling/  stage, seconds_max + attributes of the ranks, threads, device and rates
//
// Every write_* is collective over the file's communicator: each rank passes
// the same whole-file data and its own row block of the per-window,
// per-sub-cell and per-ion datasets. Call them in the order declared.
#include <mpi.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aptflow/io/h5.hpp"

namespace aptflow::io {

struct ClassifyInputRecord {
  std::string input_file, input_sha256, range_file, range_sha256;
  std::vector<std::string> model_files, model_sha256;
  std::int64_t ions = 0;               // read from the file
  std::optional<std::string> roi;      // the region of interest, if any
  std::int64_t roi_ions = 0;           // ions inside it
  std::array<double, 6> bounds{};      // lo xyz, hi xyz (nm)
  std::vector<std::string> ion_types;  // species 1..n
  std::vector<double> ranges;          // (lo, hi) per range
  std::vector<std::int32_t> range_ion_type;
};

// A grid of rows written by z layers: counts x, y, z; this rank's layers
// [layer_first, layer_first + layer_count).
struct LayerBlock {
  std::array<std::int64_t, 3> counts{};
  std::int64_t layer_first = 0, layer_count = 0;
};

struct ClassifyWindowsRecord {
  LayerBlock block;
  std::int64_t classes = 0;
  const float* probability = nullptr;  // this rank's layers x ny x nx x classes
  std::vector<std::string> class_names;
  std::array<double, 3> origin{};
  double edge = 0, stride = 0;
  std::string variant, preprocessing, preprocessing_detail, background_clip, sdm_exclude, sdm_arithmetic;
  std::optional<std::array<double, 6>> box;  // windows.box
  // Mean preprocessed SDM row per argmax class: classes x pairs x bins.
  std::vector<double> mean_sdm;
  std::vector<std::int64_t> mean_sdm_count;
  std::int64_t pairs = 1, bins = 0;
  std::vector<double> bin_centres;
  std::string pair_text;
};

struct ClassifySubcellsRecord {
  LayerBlock block;
  std::int64_t classes = 0;
  const float* sum = nullptr;           // this rank's layers x my x mx x classes
  const std::int32_t* label = nullptr;  // this rank's layers x my x mx
  std::array<double, 3> origin{};
  double size = 0;
  std::vector<double> thresholds;
  std::vector<std::string> class_names;
  std::string rule, empty_window;
  std::optional<double> smoothing;  // interpolate rule
};

struct ClassifyIonsRecord {
  std::int64_t total = 0, first = 0, count = 0;  // this rank: ions [first, first + count) of the file
  const std::int32_t* cls = nullptr;
  const std::int64_t* domain_id = nullptr;
};

struct ClassifyControlRecord {
  // Size histograms: row 0 the real run, then one row per shuffled run.
  std::vector<std::int64_t> size_histogram;
  std::int64_t bins = 0;
  double lo = 0, hi = 0;
  std::int64_t real_domains = 0;
  std::string overflow;
  std::vector<std::int64_t> seeds, domains;
  std::vector<double> pearson_r, chi2, contingency, chi2_published, contingency_published;
};

struct ClassifyProfilingRecord {
  std::vector<std::string> stages;
  std::vector<double> seconds_max;
  std::int64_t ranks = 1, threads_per_rank = 1, device_id = -1, windows_computed = 0;
  std::string device_requested, device, execution_space;
  double ions_per_second = 0, windows_per_second = 0;
  bool resumed = false;
};

class ClassifyResultFile {
 public:
  // Creates path (collective over comm) and the NeXus groups.
  ClassifyResultFile(const std::string& path, MPI_Comm comm);
  const h5::File& file() const { return f_; }
  void write_input(const ClassifyInputRecord& r);
  void write_windows(const ClassifyWindowsRecord& r);
  void write_subcells(const ClassifySubcellsRecord& r);
  void write_ions(const ClassifyIonsRecord& r);
  void write_control(const ClassifyControlRecord& r);
  // The configuration text, its SHA-256 and the aptflow version that ran.
  void write_config(const std::string& text);
  void write_profiling(const ClassifyProfilingRecord& r);
  void close() { f_.close(); }

 private:
  h5::File f_;
};

}  // namespace aptflow::io
