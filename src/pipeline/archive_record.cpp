// The per-dataset result file of `aptflow archive` (and file hashes and stamps).
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/sha256.hpp"
#include "pipeline/archive_detail.hpp"

namespace aptflow::archive_detail {

std::string sha256_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path, "file does not exist: check the path");
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path, "is a directory, not a file: give the dataset file");
  return io::sha256_file(path);
}

FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::int64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

std::string result_name(std::int64_t index, const std::string& dataset_path) {
  std::string stem = std::filesystem::path(dataset_path).stem().string();
  for (auto& c : stem)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  if (stem.empty()) stem = "dataset";
  return fmt::format("datasets/{:05d}_{}.h5", index, stem);
}

std::string temp_name(const std::string& file) {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::string h(host);
  for (auto& c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) c = '_';
  return fmt::format("{}.{}.{}.tmp", file, h, static_cast<long long>(getpid()));
}

void write_record(const std::string& file, const DatasetRecord& r) {
  const std::string tmp = temp_name(file);
  {
    auto f = h5::File::create(tmp);
    auto root = h5::open_object(f, "/");
    h5::write_attr(root, "aptflow_version", std::string(APTFLOW_VERSION));
    h5::write_attr(root, "index", r.index);
    h5::write_attr(root, "path", r.path);
    h5::write_attr(root, "range", r.range);
    h5::write_attr(root, "status", r.status);
    h5::write_attr(root, "error", r.error);
    h5::write_attr(root, "sha256", r.sha256);
    h5::write_attr(root, "format", r.format);
    h5::write_attr(root, "ions", r.ions);
    h5::write_attr(root, "file_bytes", r.file_bytes);
    h5::write_attr(root, "hydrogen", r.hydrogen);
    h5::write_attr(root, "classify_result", r.classify_result);
    h5::write_attr(root, "classify_domains", r.classify_domains);
    h5::write_attr(root, "classify_labelled_ions", r.classify_labelled);
    h5::write_attr(root, "seconds", r.seconds);
    h5::write_attr(root, "config_hash", r.config_hash);
    h5::write_attr(root, "input_size", r.input_stamp.size);
    h5::write_attr(root, "input_mtime_ns", r.input_stamp.mtime_ns);
    h5::write_attr(root, "range_size", r.range_stamp.size);
    h5::write_attr(root, "range_mtime_ns", r.range_stamp.mtime_ns);
    h5::write_attr(root, "range_sha256", r.range_sha256);
    h5::write<std::int64_t>(f, "hydrogen_counts", r.hydrogen_counts);
    h5::write_strings(f, "composition/elements", r.elements);
    h5::write<double>(f, "composition/fraction", r.fraction);
    h5::write_strings(f, "species/names", r.species);
    h5::write<std::int64_t>(f, "species/counts", r.species_counts);
    h5::write<std::int64_t>(f, "spectrum", r.spectrum);
    // Written last: a file with this attribute holds everything above.
    h5::write_attr(root, "complete", std::int64_t{1});
    f.flush();
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) {
    std::error_code ignore;
    std::filesystem::remove(tmp, ignore);
    throw ResourceError(
        fmt::format("archive result '{}': cannot rename from '{}' ({}): check the output directory", file,
                    tmp, ec.message()));
  }
}

std::optional<DatasetRecord> read_record(const std::string& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return std::nullopt;
  try {
    auto f = h5::File::open(file);
    auto root = h5::open_object(f, "/");
    if (!h5::has_attr(root, "complete") || h5::read_attr_int(root, "complete") != 1) return std::nullopt;
    DatasetRecord r;
    r.index = h5::read_attr_int(root, "index");
    r.path = h5::read_attr_string(root, "path");
    r.range = h5::read_attr_string(root, "range");
    r.status = h5::read_attr_string(root, "status");
    r.error = h5::read_attr_string(root, "error");
    r.sha256 = h5::read_attr_string(root, "sha256");
    r.format = h5::read_attr_string(root, "format");
    r.ions = h5::read_attr_int(root, "ions");
    r.file_bytes = h5::read_attr_int(root, "file_bytes");
    r.hydrogen = h5::read_attr_double(root, "hydrogen");
    r.classify_result = h5::read_attr_string(root, "classify_result");
    r.classify_domains = h5::read_attr_int(root, "classify_domains");
    r.classify_labelled = h5::read_attr_int(root, "classify_labelled_ions");
    r.seconds = h5::read_attr_double(root, "seconds");
    r.config_hash = h5::read_attr_string(root, "config_hash");
    r.input_stamp = {h5::read_attr_int(root, "input_size"), h5::read_attr_int(root, "input_mtime_ns")};
    r.range_stamp = {h5::read_attr_int(root, "range_size"), h5::read_attr_int(root, "range_mtime_ns")};
    r.range_sha256 = h5::read_attr_string(root, "range_sha256");
    r.hydrogen_counts = h5::read<std::int64_t>(f, "hydrogen_counts");
    r.elements = h5::read_strings(f, "composition/elements");
    r.fraction = h5::read<double>(f, "composition/fraction");
    r.species = h5::read_strings(f, "species/names");
    r.species_counts = h5::read<std::int64_t>(f, "species/counts");
    r.spectrum = h5::read<std::int64_t>(f, "spectrum");
    if (r.elements.size() != r.fraction.size() || r.species.size() != r.species_counts.size())
      return std::nullopt;
    return r;
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace aptflow::archive_detail
