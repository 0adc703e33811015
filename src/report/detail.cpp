// aptflow report internals: HDF5 helpers and the HTML page (src/report/detail.hpp).
#include "report/detail.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>

#include "aptflow/core/error.hpp"
#include "aptflow/report/svg.hpp"

namespace aptflow::report::detail {

std::vector<double> read_doubles_if(const h5::File& f, const std::string& path, std::vector<hsize_t>* shape) {
  if (!h5::exists(f, path)) {
    if (shape) shape->clear();
    return {};
  }
  return h5::read<double>(f, path, shape);
}

double read_scalar(const h5::File& f, const std::string& path) {
  const auto v = h5::read<double>(f, path);
  if (v.size() != 1)
    throw InputError(
        f.path(), fmt::format("dataset '{}' should hold one value but has {} (wrong file?)", path, v.size()));
  return v[0];
}

std::vector<std::string> read_strings_if(const h5::File& f, const std::string& path) {
  if (!h5::exists(f, path)) return {};
  return h5::read_strings(f, path);
}

std::string thousands(std::int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return v < 0 ? "-" + s : s;
}

std::string short_num(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "n/a" : (v > 0 ? "inf" : "-inf");
  return fmt::format("{:.4g}", v);
}

Page::Page(std::string title) : title_(std::move(title)) {}

void Page::close_gallery() {
  if (in_gallery_) body_ += "</div>\n";
  in_gallery_ = false;
}

void Page::heading(const std::string& text, int level) {
  close_gallery();
  body_ += fmt::format("<h{0}>{1}</h{0}>\n", level, xml_escape(text));
}

void Page::paragraph(const std::string& text) {
  close_gallery();
  body_ += "<p>" + xml_escape(text) + "</p>\n";
}

void Page::note(const std::string& text) {
  close_gallery();
  body_ += "<p class=\"missing\">" + xml_escape(text) + "</p>\n";
}

void Page::table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                 const std::string& id) {
  close_gallery();
  body_ += id.empty() ? "<table>\n" : "<table id=\"" + xml_escape(id) + "\">\n";
  if (std::any_of(header.begin(), header.end(), [](const std::string& h) { return !h.empty(); })) {
    body_ += "<tr>";
    for (const auto& h : header) body_ += "<th>" + xml_escape(h) + "</th>";
    body_ += "</tr>\n";
  }
  for (const auto& r : rows) {
    body_ += "<tr>";
    for (const auto& c : r) body_ += "<td>" + xml_escape(c) + "</td>";
    body_ += "</tr>\n";
  }
  body_ += "</table>\n";
}

void Page::pre(const std::string& text, const std::string& summary) {
  close_gallery();
  body_ += "<details><summary>" + xml_escape(summary) + "</summary><pre>" + xml_escape(text) +
           "</pre></details>\n";
}

void Page::figure(const std::string& file, const std::string& caption, int width, int height) {
  if (!in_gallery_) body_ += "<div class=\"gallery\">\n";
  in_gallery_ = true;
  body_ += fmt::format(
      "<figure><img src=\"{0}\" width=\"{1}\" height=\"{2}\" "
      "alt=\"{3}\"><figcaption>{3}</figcaption></figure>\n",
      xml_escape(file), width, height, xml_escape(caption));
}

std::string Page::html() const {
  std::string o;
  o += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  o += "<title>" + xml_escape(title_) + "</title>\n";
  o += R"(<style>
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 24px; color: #222; max-width: 1500px; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0; } figcaption { font-size: 12px; color: #444; max-width: 640px; }
.missing { color: #8a5a00; font-style: italic; }
pre { font-size: 12px; background: #f7f7f7; padding: 8px; overflow-x: auto; }
</style>
</head>
<body>
)";
  o += "<h1>" + xml_escape(title_) + "</h1>\n";
  o += body_;
  if (in_gallery_) o += "</div>\n";
  o += "<p class=\"footer\">Written by aptflow report. Figures are SVG files next to this page.</p>\n";
  o += "</body>\n</html>\n";
  return o;
}

void PageContext::add(const Plot& p, const std::string& name, const std::string& caption) {
  p.save((std::filesystem::path(dir) / name).string());
  page.figure(name, caption, p.width(), p.height());
  result.figures.push_back(name);
}

void PageContext::missing(const std::string& what) {
  page.note(what);
  result.missing.push_back(what);
}

}  // namespace aptflow::report::detail
