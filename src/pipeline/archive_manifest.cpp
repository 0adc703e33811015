// The list of datasets of `aptflow archive`: a CSV manifest or a directory crawl.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "aptflow/core/error.hpp"
#include "aptflow/pipeline/archive.hpp"

namespace aptflow {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// One CSV record starting at text[pos] (RFC 4180: quoted fields may hold
// commas, doubled quotes and line breaks). Advances pos and line.
std::vector<std::string> csv_record(const std::string& text, std::size_t& pos, std::int64_t& line,
                                    const std::string& source) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, was_quoted = false;
  const std::int64_t start_line = line;
  while (pos < text.size()) {
    const char c = text[pos];
    if (quoted) {
      if (c == '"') {
        if (pos + 1 < text.size() && text[pos + 1] == '"') {
          field += '"';
          pos += 2;
          continue;
        }
        quoted = false;
        ++pos;
        continue;
      }
      if (c == '\n') ++line;
      field += c;
      ++pos;
      continue;
    }
    if (c == '"') {
      if (!trim(field).empty())
        throw InputError::at_line(source, line,
                                  "a quote inside an unquoted field: quote the whole field (\"...\")");
      field.clear();
      quoted = was_quoted = true;
      ++pos;
      continue;
    }
    if (c == ',') {
      fields.push_back(was_quoted ? field : trim(field));
      field.clear();
      was_quoted = false;
      ++pos;
      continue;
    }
    if (c == '\r' || c == '\n') {
      if (c == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n') ++pos;
      ++pos;
      ++line;
      fields.push_back(was_quoted ? field : trim(field));
      return fields;
    }
    if (was_quoted && !std::isspace(static_cast<unsigned char>(c)))
      throw InputError::at_line(source, line, "text after a closing quote: separate fields with commas");
    field += c;
    ++pos;
  }
  if (quoted)
    throw InputError::at_line(source, start_line, "a quoted field is not closed: add the closing quote");
  fields.push_back(was_quoted ? field : trim(field));
  ++line;
  return fields;
}

bool blank(const std::vector<std::string>& f) {
  return std::all_of(f.begin(), f.end(), [](const std::string& s) { return s.empty(); });
}

std::string resolve(const std::string& p, const std::string& base_dir) {
  if (p.empty()) return p;
  fs::path q(p);
  if (q.is_absolute() || base_dir.empty()) return q.lexically_normal().string();
  return (fs::path(base_dir) / q).lexically_normal().string();
}

}  // namespace

ArchiveManifest parse_manifest(const std::string& text, const std::string& source,
                               const std::string& base_dir) {
  ArchiveManifest m;
  m.source = source;
  std::size_t pos = 0;
  std::int64_t line = 1;
  // Skip a UTF-8 byte-order mark (spreadsheet exports).
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) pos = 3;
  std::vector<std::string> header;
  std::int64_t header_line = 0;
  while (pos < text.size() && header.empty()) {
    header_line = line;
    auto f = csv_record(text, pos, line, source);
    if (!blank(f)) header = std::move(f);
  }
  if (header.empty())
    throw InputError(source,
                     "the manifest is empty: give a CSV with a header naming at least path and range");
  int path_col = -1, range_col = -1;
  std::map<std::string, int> seen;
  std::vector<int> meta_cols;
  for (std::size_t k = 0; k < header.size(); ++k) {
    const std::string name = header[k];
    if (name.empty())
      throw InputError::at_line(source, header_line,
                                fmt::format("column {} of the header has no name: name every column", k + 1));
    if (seen.count(name))
      throw InputError::at_line(source, header_line,
                                fmt::format("column '{}' appears twice in the header: rename one", name));
    seen[name] = static_cast<int>(k);
    const std::string l = lower(name);
    if (l == "path")
      path_col = static_cast<int>(k);
    else if (l == "range")
      range_col = static_cast<int>(k);
    else {
      m.columns.push_back(name);
      meta_cols.push_back(static_cast<int>(k));
    }
  }
  if (path_col < 0 || range_col < 0)
    throw InputError::at_line(
        source, header_line,
        fmt::format(
            "the header lacks the column{} {}: the header must name at least path and range (found: {})",
            path_col < 0 && range_col < 0 ? "s" : "",
            path_col < 0 && range_col < 0 ? "path and range" : (path_col < 0 ? "path" : "range"),
            fmt::join(header, ", ")));
  while (pos < text.size()) {
    const std::int64_t row_line = line;
    auto f = csv_record(text, pos, line, source);
    if (blank(f)) continue;
    if (f.size() != header.size())
      throw InputError::at_line(source, row_line,
                                fmt::format("{} fields where the header has {} columns: check the commas "
                                            "(quote fields that contain commas)",
                                            f.size(), header.size()));
    ArchiveEntry e;
    e.path = resolve(f[static_cast<std::size_t>(path_col)], base_dir);
    if (e.path.empty())
      throw InputError::at_line(source, row_line, "the path field is empty: give the dataset file");
    e.range = resolve(f[static_cast<std::size_t>(range_col)], base_dir);
    for (int c : meta_cols) e.metadata.push_back(f[static_cast<std::size_t>(c)]);
    m.entries.push_back(std::move(e));
  }
  if (m.entries.empty())
    throw InputError(source, "the manifest lists no datasets: add one line per dataset below the header");
  return m;
}

ArchiveManifest read_manifest(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path, "manifest not found: check the key `manifest`");
  if (fs::is_directory(path, ec))
    throw InputError(path, "the manifest is a directory: give a CSV file (or use the key `root` to crawl)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open the manifest: check its permissions");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string base = fs::path(path).parent_path().string();
  return parse_manifest(ss.str(), path, base);
}

ArchiveManifest crawl_archive(const std::string& root, const std::string& skip) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw InputError(root, "the archive root is not a directory: check the key `root`");
  const fs::path skip_path = skip.empty() ? fs::path() : fs::weakly_canonical(skip, ec);
  std::vector<fs::path> datasets;
  std::map<fs::path, std::vector<fs::path>> ranges_in;  // directory -> range files
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  if (ec)
    throw InputError(root,
                     fmt::format("cannot list the archive root ({}): check its permissions", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) throw InputError(root, fmt::format("cannot list below the archive root ({})", ec.message()));
    const fs::path p = it->path();
    if (it->is_directory(ec)) {
      if (!skip_path.empty() && fs::weakly_canonical(p, ec) == skip_path) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    const std::string ext = lower(p.extension().string());
    if (ext == ".pos" || ext == ".epos" || ext == ".apt")
      datasets.push_back(p);
    else if (ext == ".rrng" || ext == ".rng" || ext == ".env")
      ranges_in[p.parent_path()].push_back(p);
  }
  std::sort(datasets.begin(), datasets.end());
  for (auto& [dir, files] : ranges_in) std::sort(files.begin(), files.end());
  ArchiveManifest m;
  m.source = root;
  m.columns = {"folder"};
  for (const auto& d : datasets) {
    ArchiveEntry e;
    e.path = d.lexically_normal().string();
    const auto& cands = ranges_in[d.parent_path()];
    for (const auto& r : cands)
      if (r.stem() == d.stem()) {
        e.range = r.lexically_normal().string();
        break;
      }
    if (e.range.empty() && cands.size() == 1) e.range = cands.front().lexically_normal().string();
    std::string folder = d.parent_path().lexically_relative(root).string();
    if (folder.empty()) folder = ".";
    e.metadata = {folder};
    m.entries.push_back(std::move(e));
  }
  if (m.entries.empty())
    throw InputError(root, "no POS, EPOS or APT files below the archive root: check the key `root`");
  return m;
}

}  // namespace aptflow
