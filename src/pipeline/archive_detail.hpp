#pragma once
// Internals of `aptflow archive` shared by src/pipeline/archive*.cpp and the
// tests: SHA-256, the per-dataset result record and its file.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aptflow {
struct ArchiveOptions;
struct ArchiveManifest;
}  // namespace aptflow

namespace aptflow::archive_detail {

// Rank 0 assembles <output>/index.h5 from the result files (in manifest order)
// and runs the meta-analysis (archive_index.cpp). Returns the counts of ok and
// failed datasets and the number of clusters.
struct IndexCounts {
  std::int64_t ok = 0, failed = 0, clusters = 0;
};
IndexCounts write_index(const ArchiveOptions& o, const ArchiveManifest& m);

// io::sha256_file, with the readers' messages for a missing file or a directory
// (InputError "file does not exist: check the path").
std::string sha256_file(const std::string& path);

// Size and modification time (ns) of a file; -1, -1 when it does not exist.
struct FileStamp {
  std::int64_t size = -1;
  std::int64_t mtime_ns = -1;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stamp_of(const std::string& path);

// Everything the index needs of one dataset; stored in its result file.
struct DatasetRecord {
  std::int64_t index = 0;  // manifest row
  std::string path, range;
  std::string status;  // "ok" or "failed"
  std::string error;   // empty when ok
  std::string sha256;  // of the dataset file (empty when it could not be read)
  std::string format;
  std::int64_t ions = 0;
  std::int64_t file_bytes = 0;
  double hydrogen = 0;                        // (sum of hydrogen window counts) / ions
  std::vector<std::int64_t> hydrogen_counts;  // per hydrogen window
  std::vector<std::string> elements;          // sorted
  std::vector<double> fraction;               // per element
  std::vector<std::string> species;           // ion type names of the range file, then "unranged"
  std::vector<std::int64_t> species_counts;
  std::vector<std::int64_t> spectrum;  // counts per bin of the common binning (empty when failed)
  std::string classify_result;         // classify output relative to the output dir ("" when not run)
  std::int64_t classify_domains = 0;   // domains found by classify
  std::int64_t classify_labelled = 0;  // ions with a class label
  double seconds = 0;                  // processing wall time (not compared by tests)
  // Verification on --resume:
  std::string config_hash;
  FileStamp input_stamp, range_stamp;
  std::string range_sha256;
};

// A temporary name beside file, unique to this process: file.<host>.<pid>.tmp
// (two runs that overlap, e.g. the orphaned ranks of a killed mpirun, never
// write into the same temporary file).
std::string temp_name(const std::string& file);

// Write to temp_name(file), then rename (atomic on POSIX): a result file either
// is complete or does not exist. ResourceError when it cannot be written.
void write_record(const std::string& file, const DatasetRecord& record);
// The record, or std::nullopt when the file is absent, unreadable or lacks
// the `complete` attribute.
std::optional<DatasetRecord> read_record(const std::string& file);

// "<output>/datasets/<index, 5 digits>_<stem>.h5" relative to the output directory.
std::string result_name(std::int64_t index, const std::string& dataset_path);

}  // namespace aptflow::archive_detail
