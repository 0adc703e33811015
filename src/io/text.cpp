// Text point clouds: one ion per line, x, y, z (nm) and m/q (Da), the way
// published data sets are often shared (CSV/TXT). Layout rules
// (docs/file-formats.md, "Text"):
//  - fields separated by tabs, ';', ',' or white space (the first of these
//    found in the first content line); with a separator other than ',' a
//    decimal comma is accepted;
//  - blank lines and comment lines ('#' or '%') anywhere;
//  - an optional header line (the first content line when it is not all
//    numbers) whose column names say which columns hold x, y, z and m/q and
//    in which unit (nm or A for positions); without a header the first four
//    columns are x, y, z, m/q;
//  - every data line has the same number of fields (at least 4).
// The file is streamed: a first pass counts the data lines and remembers the
// byte offset of every 16384th, so any range of ions is read without
// parsing what comes before it and memory stays bounded.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>

#include "aptflow/core/error.hpp"
#include "aptflow/io/detail/readers.hpp"

namespace aptflow::io::detail {

namespace {

constexpr std::size_t kMaxLine = 4096;
constexpr IonIndex kIndexStride = IonIndex{1} << 14;

bool text_byte(unsigned char c) {
  return c >= 0x20 || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_comment(std::string_view t) { return !t.empty() && (t.front() == '#' || t.front() == '%'); }

// Split a line into fields. sep == ' ' means runs of white space.
void split(std::string_view line, char sep, std::vector<std::string_view>& out) {
  out.clear();
  if (sep == ' ') {
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      std::size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      if (j > i) out.push_back(line.substr(i, j - i));
      i = j;
    }
    return;
  }
  std::size_t i = 0;
  while (true) {
    const auto j = line.find(sep, i);
    out.push_back(trim(line.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i)));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
}

char pick_separator(std::string_view line) {
  for (char c : {'\t', ';', ','})
    if (line.find(c) != std::string_view::npos) return c;
  return ' ';
}

// A number (nan/inf accepted: non-finite records follow ReadOptions::nonfinite).
bool parse_float(std::string_view t, bool decimal_comma, float& v) {
  if (t.empty() || t.size() > 64) return false;
  char buf[72];
  std::size_t n = 0;
  std::size_t i = 0;
  if (t[0] == '+') i = 1;
  for (; i < t.size(); ++i) buf[n++] = (decimal_comma && t[i] == ',') ? '.' : t[i];
  if (n == 0) return false;
  auto [ptr, ec] = std::from_chars(buf, buf + n, v);
  if (ec == std::errc::result_out_of_range) {
    // Overflow to +-inf, underflow to 0, like strtof.
    const double d = std::strtod(std::string(buf, n).c_str(), nullptr);
    v = static_cast<float>(d);
    return true;
  }
  return ec == std::errc() && ptr == buf + n;
}

struct Column {
  int index = -1;
  float scale = 1.f;
};

// Lower-case name without a trailing unit in () or [] -> (name, unit).
std::pair<std::string, std::string> name_and_unit(std::string_view field) {
  std::string s(trim(field));
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
    s = s.substr(1, s.size() - 2);
  std::string unit;
  const auto open = s.find_first_of("([");
  if (open != std::string::npos) {
    const auto close = s.find_first_of(")]", open);
    unit = s.substr(open + 1, close == std::string::npos ? std::string::npos : close - open - 1);
    s = s.substr(0, open);
  }
  auto low = [](std::string t) {
    t = std::string(trim(t));
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
    return t;
  };
  return {low(s), low(unit)};
}

struct Layout {
  char sep = ' ';
  bool decimal_comma = false;
  std::size_t fields = 0;
  Column col[4];                  // x, y, z, m/q
  std::uint64_t data_offset = 0;  // byte offset of the first line after the header (or 0)
  std::int64_t data_line = 1;     // its line number
  bool header = false;
  std::string header_text;
};

// Map header names to columns; empty string on success, else why not.
std::string map_header(const std::vector<std::string_view>& names, Layout& L) {
  for (std::size_t c = 0; c < names.size(); ++c) {
    auto [name, unit] = name_and_unit(names[c]);
    int which = -1;
    for (int k = 0; k < 3; ++k) {
      const char axis = "xyz"[k];
      const std::string a(1, axis);
      if (name == a || name == "pos_" + a || name == "position_" + a || name == a + "_nm" ||
          name == a + " (nm)")
        which = k;
    }
    if (which < 0 && (name == "m/q" || name == "mq" || name == "m/n" || name == "m/z" || name == "m/c" ||
                      name == "mc" || name == "da" || name == "m" || name.find("mass") != std::string::npos))
      which = 3;
    if (which < 0) continue;
    if (L.col[which].index >= 0)
      return fmt::format("the header names column {} twice ('{}')",
                         "xyzq"[which] == 'q' ? "m/q" : std::string(1, "xyz"[which]), std::string(names[c]));
    float scale = 1.f;
    if (which < 3) {
      if (unit.empty() || unit == "nm")
        scale = 1.f;
      else if (unit == "a" || unit == "\xc3\xa5" || unit == "\xe2\x84\xab" || unit == "angstrom")
        scale = 0.1f;
      else
        return fmt::format("position unit '{}' in column '{}' is not nm or A", unit, std::string(names[c]));
    } else if (!(unit.empty() || unit == "da" || unit == "amu" || unit == "u")) {
      return fmt::format("m/q unit '{}' in column '{}' is not Da", unit, std::string(names[c]));
    }
    L.col[which] = {static_cast<int>(c), scale};
  }
  for (int k = 0; k < 4; ++k)
    if (L.col[k].index < 0)
      return fmt::format(
          "the header line names no {} column (expected names such as x, y, z and m/q, mass or Da)",
          k < 3 ? std::string(1, "xyz"[k]) : std::string("m/q"));
  return "";
}

// Examine the start of a text file: separator, header, columns. `complete`:
// data holds the whole file (else its last line may be cut). Checks up to
// the first 64 data lines. fit.line names a bad line.
Layout detect_layout(const unsigned char* data, std::size_t n, bool complete, Fit& fit) {
  Layout L;
  for (std::size_t i = 0; i < n; ++i)
    if (!text_byte(data[i])) {
      fit.why_not = fmt::format("not text (binary byte 0x{:02x} at offset {})", data[i], i);
      return L;
    }
  fit.signature = true;
  std::string_view all(reinterpret_cast<const char*>(data), n);
  std::size_t pos = 0;
  std::int64_t line_no = 0;
  std::vector<std::string_view> f;
  int checked = 0;
  bool have_first = false;
  while (pos < all.size() && checked < 64) {
    const auto nl = all.find('\n', pos);
    if (nl == std::string_view::npos && !complete) break;  // a possibly cut last line
    const std::size_t end = nl == std::string_view::npos ? all.size() : nl;
    const std::string_view raw = all.substr(pos, end - pos);
    const std::uint64_t next = nl == std::string_view::npos ? all.size() : nl + 1;
    ++line_no;
    const std::string_view t = trim(raw);
    pos = next;
    if (raw.size() > kMaxLine) {
      fit.why_not = fmt::format("line {} is longer than {} characters", line_no, kMaxLine);
      fit.line = line_no;
      return L;
    }
    if (t.empty() || is_comment(t)) continue;
    if (!have_first) {
      have_first = true;
      L.sep = pick_separator(t);
      L.decimal_comma = L.sep != ',';
      split(t, L.sep, f);
      float v;
      bool numbers = true;
      for (auto fld : f) numbers = numbers && parse_float(fld, L.decimal_comma, v);
      if (!numbers) {
        L.header = true;
        L.header_text = std::string(t);
        if (auto why = map_header(f, L); !why.empty()) {
          fit.why_not = why;
          fit.line = line_no;
          return L;
        }
        L.data_offset = next;
        L.data_line = line_no + 1;
        continue;
      }
      for (int k = 0; k < 4; ++k) L.col[k] = {k, 1.f};
    }
    split(t, L.sep, f);
    if (L.fields == 0) {
      L.fields = f.size();
      if (L.fields < 4) {
        fit.why_not =
            fmt::format("line {} has {} field(s); a text point cloud has x, y, z and m/q", line_no, f.size());
        fit.line = line_no;
        return L;
      }
      for (int k = 0; k < 4; ++k)
        if (static_cast<std::size_t>(L.col[k].index) >= L.fields) {
          fit.why_not = fmt::format("line {} has {} fields but the header puts a column at position {}",
                                    line_no, L.fields, L.col[k].index + 1);
          fit.line = line_no;
          return L;
        }
    } else if (f.size() != L.fields) {
      fit.why_not =
          fmt::format("line {} has {} fields, the lines before have {}", line_no, f.size(), L.fields);
      fit.line = line_no;
      return L;
    }
    for (int k = 0; k < 4; ++k) {
      float v;
      if (!parse_float(f[static_cast<std::size_t>(L.col[k].index)], L.decimal_comma, v)) {
        fit.why_not = fmt::format("line {}: '{}' is not a number", line_no,
                                  std::string(f[static_cast<std::size_t>(L.col[k].index)].substr(0, 40)));
        fit.line = line_no;
        return L;
      }
    }
    ++checked;
  }
  if (L.fields == 0) {
    fit.why_not = L.header ? "only a header line, no data lines" : "no data line of x, y, z, m/q numbers";
    fit.line = std::max<std::int64_t>(line_no, 1);
  }
  return L;
}

// Lines of a file from a byte offset, in 1 MiB blocks (a line may span
// blocks). A line longer than kMaxLine + 2 bytes is returned cut at that
// length (the callers reject it).
class LineScanner {
 public:
  LineScanner(const RawFile& f, std::uint64_t offset) : f_(f), next_read_(offset), base_(offset) {}
  // Next line (without '\n' and a trailing '\r') and the byte offset where it
  // starts; false at the end of the file.
  bool next(std::string_view& line, std::uint64_t& start) {
    while (true) {
      const char* b = buf_.data() + begin_;
      const char* nl = static_cast<const char*>(std::memchr(b, '\n', end_ - begin_));
      if (nl || next_read_ >= f_.size() || end_ - begin_ > kMaxLine + 2) {
        std::size_t len = nl ? static_cast<std::size_t>(nl - b) : end_ - begin_;
        if (!nl && next_read_ >= f_.size() && len == 0) return false;
        if (!nl) len = std::min(len, kMaxLine + 2);
        line = std::string_view(b, len);
        start = base_ + begin_;
        begin_ += len + (nl ? 1 : 0);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return true;
      }
      // Keep the partial line, read the next block after it.
      const std::size_t keep = end_ - begin_;
      std::memmove(buf_.data(), buf_.data() + begin_, keep);
      base_ += begin_;
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, f_.size() - next_read_));
      buf_.resize(keep + want);
      f_.read_at(next_read_, want, buf_.data() + keep);
      next_read_ += want;
      begin_ = 0;
      end_ = keep + want;
    }
  }

 private:
  static constexpr std::size_t kBlock = std::size_t{1} << 20;
  const RawFile& f_;
  std::uint64_t next_read_;
  std::uint64_t base_;  // file offset of buf_[0]
  std::vector<char> buf_ = std::vector<char>(1);
  std::size_t begin_ = 0, end_ = 0;
};

class TextReader final : public IonReader {
 public:
  explicit TextReader(const std::string& path) : file_(path) {
    if (file_.size() == 0)
      throw InputError::at_line(path, 1, "text file is empty: nothing to read; check the export");
    std::vector<unsigned char> head(
        static_cast<std::size_t>(std::min<std::uint64_t>(file_.size(), 1u << 16)));
    file_.read_at(0, head.size(), head.data());
    Fit fit;
    L_ = detect_layout(head.data(), head.size(), head.size() == file_.size(), fit);
    if (!fit.why_not.empty()) {
      if (fit.line > 0)
        throw InputError::at_line(
            path, fit.line,
            fmt::format("not a readable text point cloud: {}; expected lines of x, y, z, "
                        "m/q",
                        fit.why_not));
      throw InputError::at_byte(path, 0, fmt::format("not a readable text point cloud: {}", fit.why_not));
    }
    // Index pass: count the data lines, remember every kIndexStride-th.
    LineScanner sc(file_, L_.data_offset);
    std::string_view line;
    std::uint64_t start = 0;
    std::int64_t line_no = L_.data_line - 1;
    while (sc.next(line, start)) {
      ++line_no;
      if (line.size() > kMaxLine)
        throw InputError::at_line(
            path, line_no,
            fmt::format("line is longer than {} characters: not a text point cloud", kMaxLine));
      const auto t = trim(line);
      if (t.empty() || is_comment(t)) continue;
      if (n_ % kIndexStride == 0) index_.push_back({line_no, start});
      ++n_;
    }
  }

  Format format() const override { return Format::text; }
  IonIndex size() const override { return n_; }
  bool has_extras() const override { return false; }
  std::uint64_t file_bytes() const override { return file_.size(); }
  std::int64_t byte_offset_of(IonIndex) const override { return -1; }
  std::int64_t line_of(IonIndex ion) const override {
    if (ion < 0 || ion >= n_) return -1;
    // Exact line: scan from the index entry.
    const auto& e = index_[static_cast<std::size_t>(ion / kIndexStride)];
    LineScanner sc(file_, e.offset);
    std::string_view line;
    std::uint64_t start = 0;
    std::int64_t line_no = e.line - 1;
    IonIndex k = (ion / kIndexStride) * kIndexStride;
    while (sc.next(line, start)) {
      ++line_no;
      const auto t = trim(line);
      if (t.empty() || is_comment(t)) continue;
      if (k == ion) return line_no;
      ++k;
    }
    return -1;
  }
  std::vector<std::string> sections() const override {
    std::vector<std::string> s;
    const char* sep = L_.sep == '\t' ? "tab" : L_.sep == ';' ? "';'" : L_.sep == ',' ? "','" : "white space";
    s.push_back(fmt::format(
        "text, {} fields per line separated by {}{}", L_.fields, sep,
        L_.header ? fmt::format(", header line '{}'", L_.header_text.substr(0, 80)) : ", no header"));
    s.push_back(fmt::format("x, y, z, m/q in columns {}, {}, {}, {}{}", L_.col[0].index + 1,
                            L_.col[1].index + 1, L_.col[2].index + 1, L_.col[3].index + 1,
                            L_.col[0].scale != 1.f ? " (A -> nm)" : ""));
    return s;
  }

  void read(IonIndex first, IonIndex count, HostIonCloud& out, IonIndex at) override {
    APTFLOW_ASSERT(first >= 0 && count >= 0 && first + count <= n_, "text read outside the file");
    if (count == 0) return;
    const auto& e = index_[static_cast<std::size_t>(first / kIndexStride)];
    LineScanner sc(file_, e.offset);
    std::string_view line;
    std::uint64_t start = 0;
    std::int64_t line_no = e.line - 1;
    IonIndex k = (first / kIndexStride) * kIndexStride, done = 0;
    std::vector<std::string_view> f;
    while (done < count && sc.next(line, start)) {
      ++line_no;
      const auto t = trim(line);
      if (t.empty() || is_comment(t)) continue;
      if (k++ < first) continue;
      split(t, L_.sep, f);
      if (f.size() != L_.fields)
        throw InputError::at_line(
            file_.path(), line_no,
            fmt::format("{} fields, the lines before have {}: fix the line", f.size(), L_.fields));
      float v[4];
      for (int c = 0; c < 4; ++c) {
        const auto fld = f[static_cast<std::size_t>(L_.col[c].index)];
        if (!parse_float(fld, L_.decimal_comma, v[c]))
          throw InputError::at_line(
              file_.path(), line_no,
              fmt::format("'{}' is not a number: fix the line", std::string(fld.substr(0, 40))));
        if (L_.col[c].scale != 1.f && !nonfinite_bits(std::bit_cast<std::uint32_t>(v[c])))
          v[c] *= L_.col[c].scale;
      }
      const IonIndex o = at + done;
      out.x(o) = v[0];
      out.y(o) = v[1];
      out.z(o) = v[2];
      out.mq(o) = v[3];
      out.species(o) = 0;
      ++done;
    }
    APTFLOW_ASSERT(done == count, "text file shorter than its index (changed while being read?)");
  }

 private:
  struct Entry {
    std::int64_t line = 0;
    std::uint64_t offset = 0;
  };

  RawFile file_;
  Layout L_;
  IonIndex n_ = 0;
  std::vector<Entry> index_;
};

}  // namespace

Fit text_fit(const unsigned char* data, std::uint64_t n, std::uint64_t size) {
  Fit fit;
  detect_layout(data, static_cast<std::size_t>(n), n == size, fit);
  return fit;
}

std::unique_ptr<IonReader> open_text_reader(const std::string& path) {
  return std::make_unique<TextReader>(path);
}

}  // namespace aptflow::io::detail
