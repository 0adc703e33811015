// Format names and detection from the content (docs/file-formats.md,
// "Format detection"). Detection never guesses: every format checks its own
// signature or plausibility, and a file that fits no format or more than one
// is an InputError that names the candidates and the --format option.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/detail/readers.hpp"

namespace aptflow::io {

namespace {

constexpr Format kAllFormats[] = {Format::pos,  Format::epos, Format::apt,   Format::ato,
                                  Format::text, Format::h5,   Format::nxapm, Format::cameca};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string lower_extension(const std::string& path) {
  auto slash = path.find_last_of('/');
  auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return lower(path.substr(dot + 1));
}

const char* upper_name(Format f) {
  switch (f) {
    case Format::pos:
      return "POS";
    case Format::epos:
      return "EPOS";
    case Format::apt:
      return "APT";
    case Format::h5:
      return "aptflow HDF5";
    case Format::ato:
      return "ATO";
    case Format::text:
      return "text";
    case Format::nxapm:
      return "NeXus NXapm";
    case Format::cameca:
      return "Cameca HDF5";
  }
  return "?";
}

std::string force_hint(const std::vector<Format>& candidates) {
  std::vector<std::string> names;
  for (Format f : candidates) names.emplace_back(format_name(f));
  return fmt::format("force the format with --format {} (ReadOptions::format)", fmt::join(names, "|"));
}

// Whole records sampled from the start, the middle and the end of a
// headerless file (up to 3 x 1024 records): enough to see that the values
// are not what the format promises, cheap for any file size.
std::vector<unsigned char> sample_records(const detail::RawFile& f, std::uint64_t record, std::uint64_t& n) {
  const std::uint64_t total = f.size() / record;
  constexpr std::uint64_t kWindow = 1024;
  std::vector<std::uint64_t> starts;
  if (total <= 3 * kWindow) {
    starts.push_back(0);
  } else {
    starts = {0, total / 2 - kWindow / 2, total - kWindow};
  }
  std::vector<unsigned char> out;
  n = 0;
  for (auto s : starts) {
    const std::uint64_t c = std::min(kWindow * (starts.size() == 1 ? 3 : 1), total - s);
    const std::size_t at = out.size();
    out.resize(at + c * record);
    f.read_at(s * record, c * record, out.data() + at);
    n += c;
  }
  return out;
}

}  // namespace

namespace detail {
std::string implausible_record(std::uint64_t r, float x, float y, float z, float m) {
  if (std::fabs(x) > kMaxAbsPositionNm || std::fabs(y) > kMaxAbsPositionNm ||
      std::fabs(z) > kMaxAbsPositionNm)
    return fmt::format("record {} has a position beyond {} nm", r, kMaxAbsPositionNm);
  if (!(m >= kMinMassToCharge && m <= kMaxMassToCharge))
    return fmt::format("record {} has m/q {} outside [{}, {}] Da", r, m, kMinMassToCharge, kMaxMassToCharge);
  return "";
}

std::string implausible_sample(std::uint64_t nonfinite, std::uint64_t records, const SpreadCheck& spread) {
  if (too_many_nonfinite(nonfinite, records))
    return fmt::format("{} of {} sampled records hold NaN or Inf", nonfinite, records);
  if (!spread.ok()) return "the sampled positions do not spread (all records at one point)";
  return "";
}

std::string LayoutMarks::why_not() const {
  if (n < kSpreadMinRecords) return "";
  const double f = static_cast<double>(n);
  if (negative_mq > 0.05 * f) return fmt::format("{} of {} sampled m/q values are negative", negative_mq, n);
  if (zero_records > 0.01 * f) return fmt::format("{} of {} sampled records are all zero", zero_records, n);
  if (subnormal > 0.01 * 4 * f)
    return fmt::format("{} sampled values are subnormal (integers read as floats?)", subnormal);
  return "";
}
}  // namespace detail

std::string_view format_name(Format format) {
  switch (format) {
    case Format::pos:
      return "pos";
    case Format::epos:
      return "epos";
    case Format::apt:
      return "apt";
    case Format::h5:
      return "h5";
    case Format::ato:
      return "ato";
    case Format::text:
      return "text";
    case Format::nxapm:
      return "nxapm";
    case Format::cameca:
      return "cameca";
  }
  return "?";
}

std::string format_list() {
  std::vector<std::string> names;
  for (Format f : kAllFormats) names.emplace_back(format_name(f));
  return fmt::format("{}", fmt::join(names, ", "));
}

Format parse_format(std::string_view name, const std::string& key) {
  const std::string s = lower(std::string(name));
  for (Format f : kAllFormats)
    if (s == format_name(f)) return f;
  if (s == "hdf5") return Format::h5;
  if (s == "csv" || s == "txt") return Format::text;
  if (s == "nexus" || s == "nxs") return Format::nxapm;
  if (s == "cameca-h5") return Format::cameca;
  throw ConfigError(key, fmt::format("unknown point-cloud format '{}': use one of {}", name, format_list()));
}

bool format_writable(Format format) {
  switch (format) {
    case Format::pos:
    case Format::epos:
    case Format::apt:
    case Format::text:
    case Format::h5:
    case Format::nxapm:
      return true;
    case Format::ato:
    case Format::cameca:
      return false;
  }
  return false;
}

std::optional<Format> format_from_extension(const std::string& path) {
  const std::string e = lower_extension(path);
  if (e == "pos") return Format::pos;
  if (e == "epos") return Format::epos;
  if (e == "apt") return Format::apt;
  if (e == "csv" || e == "txt") return Format::text;
  if (e == "h5" || e == "hdf5") return Format::h5;
  if (e == "nxs" || e == "nx5") return Format::nxapm;
  return std::nullopt;
}

Format detect_format(const std::string& path) {
  detail::RawFile f(path);
  const std::uint64_t size = f.size();
  if (size == 0)
    throw InputError::at_byte(path, 0, "file is empty (0 bytes): nothing to read; check the export");
  std::vector<unsigned char> head(static_cast<std::size_t>(std::min<std::uint64_t>(size, 1u << 16)));
  f.read_at(0, head.size(), head.data());
  static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(head.data(), hdf5_sig, 8) == 0) {
    const auto layouts = detail::hdf5_layouts(path);
    if (layouts.size() == 1) return layouts.front();
    if (layouts.empty()) {
      const std::string said = detail::hdf5_format_attribute(path);
      throw InputError(
          path, fmt::format("HDF5 file of no known point-cloud layout{}: not aptflow-ions "
                            "(/ions/position), not NeXus NXapm (/entry*/atom_probe*/reconstruction/"
                            "reconstructed_positions), not Cameca (/xyz and /mass); convert it to one "
                            "of these",
                            said.empty() ? "" : fmt::format(" (its format attribute says '{}')", said)));
    }
    std::vector<std::string> names;
    for (Format l : layouts) names.emplace_back(upper_name(l));
    throw InputError(path, fmt::format("HDF5 file holds several point-cloud layouts ({}): {}",
                                       fmt::join(names, ", "), force_hint(layouts)));
  }
  if (size >= 4 && std::memcmp(head.data(), "APT\0", 4) == 0) return Format::apt;

  const std::string ext = lower_extension(path);
  // The name promises a container format whose signature is missing: say so
  // instead of decoding the bytes as something else.
  if (ext == "apt")
    throw InputError::at_byte(path, 0,
                              "no \"APT\\0\" signature: not an AP Suite APT file (corrupt, or exported "
                              "in another format?)");
  if (ext == "h5" || ext == "hdf5" || ext == "nxs" || ext == "nx5")
    throw InputError::at_byte(path, 0, "no HDF5 signature: not an HDF5 file (corrupt or truncated?)");

  // Every headerless reading, each with its own check.
  struct Try {
    Format format;
    std::string why_not;  // empty: fits
  };
  std::vector<Try> tries;
  const detail::Fit ato = detail::ato_fit(f);
  const detail::Fit text = detail::text_fit(head.data(), head.size(), size);
  tries.push_back({Format::ato, ato.why_not});
  tries.push_back({Format::text, text.why_not});
  for (Format rf : {Format::pos, Format::epos}) {
    const std::uint64_t rec = rf == Format::pos ? detail::kPosRecord : detail::kEposRecord;
    if (size % rec != 0) {
      tries.push_back({rf, fmt::format("size {} is not a multiple of {} bytes", size, rec)});
      continue;
    }
    std::uint64_t n = 0;
    const auto sample = sample_records(f, rec, n);
    tries.push_back({rf, rf == Format::pos ? detail::pos_plausible(sample.data(), n)
                                           : detail::epos_plausible(sample.data(), n)});
  }
  std::vector<Format> fits;
  for (const auto& t : tries)
    if (t.why_not.empty()) fits.push_back(t.format);
  if (fits.size() == 1) return fits.front();
  if (fits.size() > 1) {
    std::vector<std::string> names;
    for (Format l : fits) names.emplace_back(upper_name(l));
    throw InputError::at_byte(path, 0,
                              fmt::format("the content fits several formats ({}), aptflow does not guess: {}",
                                          fmt::join(names, ", "), force_hint(fits)));
  }
  // Nothing fits. A truncated POS/EPOS named by its extension gets the
  // size message at the offset of the incomplete record.
  for (Format rf : {Format::pos, Format::epos}) {
    const std::uint64_t rec = rf == Format::pos ? detail::kPosRecord : detail::kEposRecord;
    if (ext == format_name(rf) && size % rec != 0)
      throw InputError::at_byte(
          path, static_cast<std::int64_t>(size - size % rec),
          fmt::format("{} file size {} is not a multiple of {} bytes (truncated?): the last record is "
                      "incomplete; re-export the file or check its format",
                      upper_name(rf), size, rec));
  }
  // A text file or an ATO header that fails its own check: that format's reason.
  if (text.signature && text.line > 0)
    throw InputError::at_line(path, text.line, fmt::format("text point cloud: {}", text.why_not));
  if (ato.signature) throw InputError::at_byte(path, 0, fmt::format("ATO file: {}", ato.why_not));
  if (size % detail::kPosRecord != 0 && size % detail::kEposRecord != 0 && !ato.signature && !text.signature)
    throw InputError::at_byte(
        path, 0,
        fmt::format(
            "unknown format: no HDF5 signature, no \"APT\\0\" magic, no ATO header, not text, and the size "
            "{} "
            "is a multiple of neither 16 (POS) nor 44 (EPOS) bytes: a truncated POS/EPOS file or not an APT "
            "dataset",
            size));
  std::vector<std::string> reasons;
  for (const auto& t : tries) reasons.push_back(fmt::format("not {}: {}", upper_name(t.format), t.why_not));
  std::vector<Format> all;
  for (const auto& t : tries) all.push_back(t.format);
  throw InputError::at_byte(path, 0,
                            fmt::format("no format fits the content ({}); check the file or {}",
                                        fmt::join(reasons, "; "), force_hint(all)));
}

}  // namespace aptflow::io
