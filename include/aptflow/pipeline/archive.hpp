#pragma once
// `aptflow archive` (docs/archive.md): reprocess a whole archive of atom probe
// datasets with one method on one MPI job, and compare them statistically.
//
//   manifest CSV or directory crawl -> task farm over MPI (largest dataset
//   first, dynamic: a one-sided counter on rank 0; very large datasets go to
//   groups of ranks) -> per dataset: SHA-256, inspect, spectrum on one common
//   binning, composition, hydrogen signal, optionally classify -> one result
//   file per dataset (written to a temporary name, renamed when complete) -> the
//   index <output>/index.h5 assembled in manifest order by rank 0 from the
//   result files, with the meta-analysis (PCA, t-SNE, spectral clustering).
//
// Nothing is lost: a bad dataset is recorded with its error and the others go
// on; a killed run resumes (--resume) from the result files, and the index
// does not depend on the number of ranks, the schedule or the interruptions.
#include <mpi.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aptflow/analysis/meta.hpp"
#include "aptflow/core/config.hpp"
#include "aptflow/pipeline/inspect.hpp"

namespace aptflow {

// One dataset of the archive: the dataset file, its range file (may be empty:
// the dataset is then recorded as failed) and one value per metadata column.
struct ArchiveEntry {
  std::string path;
  std::string range;
  std::vector<std::string> metadata;
};

struct ArchiveManifest {
  std::string source;                // manifest file or crawled directory
  std::vector<std::string> columns;  // metadata column names (manifest order)
  std::vector<ArchiveEntry> entries;
};

// CSV manifest: a header naming at least `path` and `range` (any order), every
// other column is metadata. RFC 4180 quoting ("a, b", "say ""x"""); blank
// lines are skipped; relative paths are relative to the manifest's directory.
// InputError with the line number for a malformed line, a missing column, a
// wrong number of fields or an empty path.
ArchiveManifest read_manifest(const std::string& path);
ArchiveManifest parse_manifest(const std::string& text, const std::string& source,
                               const std::string& base_dir);

// Directory crawl: every *.pos, *.epos, *.apt below root (case-insensitive,
// sorted by path; `skip` (e.g. the output directory) is not entered). The range
// file beside each: the same stem with .rrng, .rng or .env, else the only range
// file in that directory, else none (recorded as failed). One metadata column,
// `folder`: the directory relative to root ("." for root itself).
ArchiveManifest crawl_archive(const std::string& root, const std::string& skip = "");

struct ArchiveOptions {
  std::string manifest;  // CSV manifest, or
  std::string root;      // a directory to crawl (exactly one of the two)
  std::string output;    // results directory: index.h5 and datasets/

  SpectrumBinning binning{0.0, 0.01, 20000};  // spectrum.{mq_min, mq_max, bin_width}: 0-200 Da at 0.01 Da
  // hydrogen.windows: m/q windows [lo, hi) Da counted as the hydrogen signal (H+, H2+).
  std::vector<std::pair<double, double>> hydrogen_windows{{0.9, 1.2}, {1.9, 2.2}};
  bool drop_nonfinite = false;                      // read.drop_nonfinite
  std::int64_t chunk_ions = std::int64_t{1} << 22;  // read.chunk_ions

  // Scheduling: datasets of at least large_bytes go (largest first) to groups
  // of group_ranks ranks; the others to single ranks.
  std::uint64_t large_bytes = std::uint64_t{1} << 30;  // schedule.large_bytes
  int group_ranks = 4;                                 // schedule.group_ranks

  // Meta-analysis of the normalised spectra of the ok datasets.
  int pca_components = 50;  // meta.pca_components (for the embedding; at most datasets - 1)
  std::string transform =
      "hellinger";  // meta.transform: hellinger | log1p | none (analysis::normalise_spectra)
  analysis::TsneOptions tsne;
  analysis::SpectralOptions spectral;
  std::string colour_by;  // meta.colour_by: metadata column for the figure (default: the first)

  // Optional classify step per dataset ([classify] section: the classify keys
  // without input, range and output); classify_text is that section as TOML.
  bool classify = false;
  std::string classify_text;

  bool resume = false;         // skip datasets whose result files are complete and verified
  bool verify_sha256 = false;  // resume.verify = "sha256" (re-hash inputs) instead of "stat" (size + mtime)
  bool retry_failed =
      false;                // resume.retry_failed: re-run recorded failures even if the inputs are unchanged
  bool progress = true;     // progress line on rank 0 (stderr)
  std::string config_text;  // effective configuration (stored in the index)

  // Set (to non-zero) by a signal handler: finish the current dataset, start no
  // new one; run_archive then returns with interrupted = true.
  const volatile std::sig_atomic_t* stop = nullptr;
};

// Read every archive key of cfg (ConfigError naming the key when missing, bad,
// or unknown). Keys: docs/archive.md and configs/archive/example.toml.
ArchiveOptions parse_archive_config(const Config& cfg);

struct ArchiveSummary {
  std::int64_t datasets = 0;  // in the manifest
  std::int64_t ok = 0, failed = 0;
  std::int64_t processed = 0;  // by this run (the others were resumed)
  std::int64_t resumed = 0;    // skipped: complete and verified result files
  std::int64_t clusters = 0;   // spectral clusters found (0 without meta-analysis)
  bool interrupted = false;    // stopped by options.stop before every dataset was done (no index)
  double seconds = 0;
  std::string index;  // path of index.h5 (when not interrupted)
};

// Collective over comm. Errors in the configuration or the manifest are
// raised on every rank; errors of a dataset are recorded in the index.
ArchiveSummary run_archive(MPI_Comm comm, const ArchiveOptions& options);

// Exit code of `aptflow archive` when it was interrupted (SIGTERM, SIGUSR1)
// and must be resumed with --resume (EX_TEMPFAIL of sysexits.h).
inline constexpr int kArchiveInterruptedExitCode = 75;

// ---- synthetic archive (`aptflow synth archive`; the tests and the benchmark)
struct SyntheticArchiveSpec {
  int datasets = 60;  // good datasets, materials assigned in turn (4 materials)
  std::int64_t min_ions = 20000, max_ions = 60000;
  bool corrupt = true;  // add 5 bad entries (truncated POS, garbage, NaN EPOS, missing file, missing range)
  std::uint64_t seed = 1;
};
struct SyntheticArchive {
  std::string manifest;               // <dir>/manifest.csv
  std::vector<std::string> material;  // per manifest row
  std::vector<bool> corrupt;          // per manifest row
};
// Deterministic: the same spec gives the same bytes.
SyntheticArchive write_synthetic_archive(const std::string& dir, const SyntheticArchiveSpec& spec);

}  // namespace aptflow
