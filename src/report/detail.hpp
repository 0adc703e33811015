#pragma once
// Internals of aptflow report: optional-dataset readers over io/h5.hpp and the
// HTML page builder.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "aptflow/io/h5.hpp"
#include "aptflow/report/report.hpp"
#include "aptflow/report/svg.hpp"

namespace aptflow::report::detail {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Whole dataset as double, or empty when it is missing.
std::vector<double> read_doubles_if(const h5::File& f, const std::string& path,
                                    std::vector<hsize_t>* shape = nullptr);
// A scalar or one-element dataset as double (InputError when larger).
double read_scalar(const h5::File& f, const std::string& path);
// Strings dataset (or an empty list when missing).
std::vector<std::string> read_strings_if(const h5::File& f, const std::string& path);

// "1234567" -> "1,234,567"
std::string thousands(std::int64_t v);
// Short number: 4 significant digits, NaN as "n/a".
std::string short_num(double v);

class Page {
 public:
  explicit Page(std::string title);
  void heading(const std::string& text, int level = 2);
  void paragraph(const std::string& text);  // escaped
  void note(const std::string& text);       // a "not in this file" line, escaped
  void table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
             const std::string& id = "");                         // cells escaped
  void pre(const std::string& text, const std::string& summary);  // collapsible <details>
  // One figure: <img src=file> with its caption; consecutive figures flow in a row.
  void figure(const std::string& file, const std::string& caption, int width, int height);
  std::string html() const;

 private:
  void close_gallery();
  std::string title_;
  std::string body_;
  bool in_gallery_ = false;
};

// What a writer carries: the file, the output folder, the page and the result.
struct PageContext {
  const h5::File& f;
  std::string dir;
  ReportResult result;
  Page page;
  // Save a figure into dir and add it to the page.
  void add(const Plot& p, const std::string& name, const std::string& caption);
  // A section whose data the file lacks: a note on the page, listed in result.missing.
  void missing(const std::string& what);
};

// Writers for the two kinds (report.cpp dispatches).
ReportResult write_classify(const h5::File& f, const std::string& out_dir);
ReportResult write_archive(const h5::File& f, const std::string& out_dir);
ReportResult write_pole(const h5::File& f, const std::string& out_dir);  // pole_report.cpp

}  // namespace aptflow::report::detail
