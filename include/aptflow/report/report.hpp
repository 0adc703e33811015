#pragma once
// aptflow report: one self-contained HTML page (index.html) with SVG figures
// for a result file. Two kinds of input, detected from the content:
//  - a classify result (/entry1/windows/probability; docs/classify.md):
//    summary, mean SDM per class, probability-map slices, domain size and
//    radius histograms, the shuffled-m/q control and the comparison with
//    ground truth when those groups are present;
//  - an archive index (/datasets/path; aptflow archive): t-SNE and PCA
//    embeddings coloured by cluster and by each metadata column, mean
//    spectrum and hydrogen per cluster, the table of failed datasets;
//  - a pole result (/pole; aptflow pole, docs/alignment.md): the pole found,
//    the scan of the cone, the z-block estimates and the local pole maps.
// Optional groups that are absent are named on the page ("not in this file"),
// never an error. docs/report.md describes every figure.
#include <string>
#include <vector>

namespace aptflow::report {

enum class ReportKind { classify, archive, pole };

struct ReportResult {
  ReportKind kind = ReportKind::classify;
  std::string index_html;            // out_dir/index.html
  std::vector<std::string> figures;  // SVG file names, relative to out_dir, in page order
  std::vector<std::string> missing;  // one line per optional section the file lacks
};

// Reads h5_path (serial HDF5; InputError naming the file when it is neither
// kind), creates out_dir if needed and writes index.html plus the figures.
ReportResult write_report(const std::string& h5_path, const std::string& out_dir);

std::string to_string(ReportKind k);

}  // namespace aptflow::report
