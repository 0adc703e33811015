#pragma once
// inspect: one streaming pass over a dataset (bounded memory, MPI-parallel
// over disjoint ion ranges) that summarises it: format, ion count, bounds,
// m/q range, the strongest mass-spectrum peaks and, with a range file, the
// counts per ion type and the element composition.
#include <mpi.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/range_table.hpp"
#include "aptflow/io/dataset.hpp"

namespace aptflow {

struct MassPeak {
  double mq = 0;            // Da, centre of the histogram bin with the maximum
  std::int64_t counts = 0;  // ions in that bin
};

// A fixed mass-spectrum binning: bin k holds mq_min + k * bin_width <= m/q <
// mq_min + (k + 1) * bin_width (Da), k = floor((m/q - mq_min) / bin_width) in
// double precision, k < bins; ions outside are not counted.
struct SpectrumBinning {
  double mq_min = 0;
  double bin_width = 0.01;
  std::int64_t bins = 20000;
};

struct InspectOptions {
  std::optional<std::string> range_file;
  std::optional<io::Format> format;  // force the dataset's format (else detected from the content)
  bool drop_nonfinite = false;
  double spectrum_bin = 0.01;    // Da: mass-spectrum bin width for the peak search
  int max_peaks = 10;            // strongest local maxima reported
  double peak_separation = 0.5;  // Da: peaks closer than this to a stronger one are not reported
  std::int64_t chunk_ions = std::int64_t{1} << 22;
  // Optional extras (aptflow archive): a histogram on a caller-chosen binning
  // (InspectResult::spectrum) and ion counts in m/q windows [lo, hi) Da
  // (InspectResult::window_counts), e.g. H+ and H2+.
  std::optional<SpectrumBinning> spectrum;
  std::vector<std::pair<double, double>> count_windows;
};

struct InspectResult {
  std::string path;
  std::string format;
  std::uint64_t file_bytes = 0;
  IonIndex ions = 0;
  IonIndex nonfinite_dropped = 0;
  Box bounds;
  float mq_min = 0, mq_max = 0;
  std::vector<MassPeak> peaks;
  bool has_extras = false;
  std::vector<std::string> sections;  // what the file holds (io::DatasetInfo::sections)
  // With a range file:
  std::optional<RangeTable> ranges;
  std::vector<std::int64_t> species_counts;   // index = species id (0 = unranged)
  std::map<std::string, double> composition;  // element -> atomic fraction
  // With InspectOptions::spectrum / count_windows:
  std::vector<std::int64_t> spectrum;       // counts per bin
  std::vector<std::int64_t> window_counts;  // counts per window
};

// Collective over comm: every rank reads a disjoint ion range; every rank gets the result.
InspectResult inspect_dataset(MPI_Comm comm, const std::string& path, const InspectOptions& opt = {});

// Human-readable report and the --json object (keys documented in docs/cli.md).
std::string format_inspect_text(const InspectResult& r);
std::string format_inspect_json(const InspectResult& r);

}  // namespace aptflow
