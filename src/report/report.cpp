// aptflow report: dispatch on the kind of result file (include/aptflow/report/report.hpp).
#include "aptflow/report/report.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "aptflow/core/error.hpp"
#include "report/detail.hpp"

namespace aptflow::report {

std::string to_string(ReportKind k) {
  return k == ReportKind::archive ? "archive" : k == ReportKind::pole ? "pole" : "classify";
}

ReportResult write_report(const std::string& h5_path, const std::string& out_dir) {
  if (!h5::is_hdf5(h5_path))
    throw InputError(h5_path, "not an HDF5 file: give a classify result or an archive index");
  auto f = h5::File::open(h5_path);
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (!std::filesystem::is_directory(out_dir))
    throw ResourceError(fmt::format(
        "cannot create report directory '{}' ({}): check the path and permissions", out_dir, ec.message()));
  if (h5::exists(f, "/datasets/path")) return detail::write_archive(f, out_dir);
  if (h5::exists(f, "/entry1/windows/probability")) return detail::write_classify(f, out_dir);
  if (h5::exists(f, "/pole/direction")) return detail::write_pole(f, out_dir);
  throw InputError(
      h5_path,
      "neither a classify result (/entry1/windows/probability), an archive index (/datasets/path) nor a pole "
      "result (/pole/direction): give the output of aptflow classify, aptflow archive or aptflow pole");
}

}  // namespace aptflow::report
