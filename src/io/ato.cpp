// ATO point clouds (GPM Rouen / LAWATAP), read-only. Layouts in
// docs/file-formats.md ("ATO"); facts from 3Depict's and ifes_apt_tc_data_
// modeling's readers and the ATO descriptions they cite:
//   header: uint32 0, uint32 version (3 or 5; little- or big-endian);
//   v3 (LAWATAP): 8-byte header, 14 float32 per ion (56 bytes): x, y, z (A),
//     m/q (Da), cluster id, pulse number, DC voltage (kV), time of flight
//     (us), detector x, y (cm), pulse voltage (kV), virtual voltage, two
//     Fourier intensities;
//   v5 (GPM): 5000-byte header, 40 bytes per ion: int16 x, y (0.01 nm),
//     float32 z (A), float32 m/q (Da), then fields without a public
//     description (not read).
// Both byte orders occur in the wild; the reader decides by plausibility of
// sampled records (exactly one order must give plausible values).
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "aptflow/core/error.hpp"
#include "aptflow/io/detail/readers.hpp"

namespace aptflow::io::detail {

namespace {

struct AtoLayout {
  int version = 0;  // 3 or 5; 0: not an ATO file
  bool big_endian = false;
  std::uint64_t header = 0, record = 0;
  IonIndex n = 0;
};

inline std::uint32_t load_u32(const unsigned char* p, bool be) {
  return be ? load_be_u32(p) : load_le_u32(p);
}
inline float load_f32(const unsigned char* p, bool be) { return bits_float(load_u32(p, be)); }
// A float scaled by a unit factor; NaN and Inf are kept as stored (multiplying a
// signalling NaN would raise FE_INVALID).
inline float load_scaled(const unsigned char* p, bool be, float factor) {
  const std::uint32_t w = load_u32(p, be);
  return nonfinite_bits(w) ? bits_float(w) : bits_float(w) * factor;
}
inline std::int16_t load_i16(const unsigned char* p, bool be) {
  std::uint16_t w;
  std::memcpy(&w, p, 2);
  if (be) w = __builtin_bswap16(w);
  return static_cast<std::int16_t>(w);
}

// x, y, z (nm) and m/q of one record.
void decode_core(const AtoLayout& L, const unsigned char* p, float& x, float& y, float& z, float& m) {
  const bool be = L.big_endian;
  if (L.version == 3) {
    x = load_scaled(p, be, 0.1f);  // A -> nm
    y = load_scaled(p + 4, be, 0.1f);
    z = load_scaled(p + 8, be, 0.1f);
    m = load_f32(p + 12, be);
  } else {
    x = static_cast<float>(load_i16(p, be)) * 0.01f;  // 0.01 nm units
    y = static_cast<float>(load_i16(p + 2, be)) * 0.01f;
    z = load_scaled(p + 4, be, 0.1f);  // A -> nm
    m = load_f32(p + 8, be);
  }
}

// Empty when every record of the sample is plausible in this byte order.
std::string plausible(const AtoLayout& L, const unsigned char* data, std::uint64_t records) {
  SpreadCheck spread;
  std::uint64_t nonfinite = 0;
  for (std::uint64_t r = 0; r < records; ++r) {
    const unsigned char* p = data + r * L.record;
    // Finiteness from the bits first: comparing a (signalling) NaN raises FE_INVALID.
    const int floats[4] = {0, 4, 8, 12};
    const int nf = L.version == 3 ? 4 : 2;
    bool bad = false;
    for (int k = 0; k < nf; ++k) {
      const int off = L.version == 3 ? floats[k] : 4 + 4 * k;
      bad = bad || nonfinite_bits(load_u32(p + off, L.big_endian));
    }
    if (bad) {
      ++nonfinite;
      continue;
    }
    float x, y, z, m;
    decode_core(L, p, x, y, z, m);
    if (auto why = implausible_record(r, x, y, z, m); !why.empty()) return why;
    spread.add(x, y, z);
  }
  return implausible_sample(nonfinite, records, spread);
}

// Parse the header and size; decide the byte order. Returns a layout with
// version 0 and sets why_not (and signature) when the file is not ATO.
AtoLayout ato_layout(const RawFile& f, Fit& fit) {
  AtoLayout L;
  const std::uint64_t size = f.size();
  if (size < 8) {
    fit.why_not = "no ATO header (the file is shorter than 8 bytes)";
    return L;
  }
  unsigned char h[8];
  f.read_at(0, 8, h);
  const std::uint32_t le = load_le_u32(h + 4), be = load_be_u32(h + 4);
  int version = 0;
  if (load_le_u32(h) != 0) {
    fit.why_not = "no ATO header (the first 4 bytes are not 0)";
    return L;
  }
  for (int v : {3, 4, 5})
    if (le == static_cast<std::uint32_t>(v) || be == static_cast<std::uint32_t>(v)) version = v;
  if (version == 0) {
    fit.why_not = "no ATO header (the version word at byte 4 is not 3 or 5)";
    return L;
  }
  fit.signature = true;
  if (version == 4) {
    fit.why_not =
        "ATO version 4 has no public description and is not supported; convert the file to v3 or v5";
    return L;
  }
  const std::uint64_t header = version == 3 ? 8 : 5000, record = version == 3 ? 56 : 40;
  if (size <= header || (size - header) % record != 0) {
    fit.why_not = fmt::format("ATO v{}: size {} is not {} + {} x (number of ions) bytes (truncated?)",
                              version, size, header, record);
    return L;
  }
  L.version = version;
  L.header = header;
  L.record = record;
  L.n = static_cast<IonIndex>((size - header) / record);
  // Sample up to 3 windows of 1024 records; test both byte orders.
  const std::uint64_t n = static_cast<std::uint64_t>(L.n);
  std::vector<std::uint64_t> starts = {0};
  if (n > 3072) starts = {0, n / 2 - 512, n - 1024};
  std::vector<unsigned char> sample;
  std::uint64_t records = 0;
  for (auto s : starts) {
    const std::uint64_t c = std::min<std::uint64_t>(starts.size() == 1 ? 3072 : 1024, n - s);
    const std::size_t at = sample.size();
    sample.resize(at + c * record);
    f.read_at(header + s * record, c * record, sample.data() + at);
    records += c;
  }
  AtoLayout le_layout = L, be_layout = L;
  be_layout.big_endian = true;
  const std::string le_why = plausible(le_layout, sample.data(), records);
  const std::string be_why = plausible(be_layout, sample.data(), records);
  if (le_why.empty() && be_why.empty()) {
    // Both orders plausible: only acceptable when they decode to the same values.
    for (std::uint64_t r = 0; r < records; ++r) {
      float a[4], b[4];
      decode_core(le_layout, sample.data() + r * record, a[0], a[1], a[2], a[3]);
      decode_core(be_layout, sample.data() + r * record, b[0], b[1], b[2], b[3]);
      if (std::memcmp(a, b, sizeof a) != 0) {
        fit.why_not = fmt::format(
            "ATO v{}: the records are plausible in both byte orders, the byte order cannot be decided",
            version);
        L.version = 0;
        return L;
      }
    }
    return le_layout;
  }
  if (le_why.empty()) return le_layout;
  if (be_why.empty()) return be_layout;
  fit.why_not = fmt::format("ATO v{}: implausible in both byte orders (little-endian: {}; big-endian: {})",
                            version, le_why, be_why);
  L.version = 0;
  return L;
}

class AtoReader final : public IonReader {
 public:
  explicit AtoReader(const std::string& path) : file_(path) {
    if (file_.size() == 0)
      throw InputError::at_byte(path, 0, "ATO file is empty (0 bytes): nothing to read; check the export");
    Fit fit;
    L_ = ato_layout(file_, fit);
    if (L_.version == 0)
      throw InputError::at_byte(path, 0, fmt::format("not a readable ATO file: {}", fit.why_not));
  }
  Format format() const override { return Format::ato; }
  IonIndex size() const override { return L_.n; }
  bool has_extras() const override { return L_.version == 3; }
  std::uint64_t file_bytes() const override { return file_.size(); }
  std::int64_t byte_offset_of(IonIndex ion) const override {
    return static_cast<std::int64_t>(L_.header + static_cast<std::uint64_t>(ion) * L_.record);
  }
  std::vector<std::string> sections() const override {
    std::vector<std::string> s;
    s.push_back(fmt::format("ATO v{}, {}-endian, {}-byte header, {}-byte records", L_.version,
                            L_.big_endian ? "big" : "little", L_.header, L_.record));
    if (L_.version == 3)
      s.push_back(
          "x, y, z (A -> nm), m/q, DC voltage (kV), time of flight (us -> ns), detector x, y (cm -> mm), "
          "pulse "
          "voltage (kV); cluster id, pulse number, virtual voltage and Fourier intensities are not read");
    else
      s.push_back("x, y (int16, 0.01 nm), z (A -> nm), m/q; the other 28 bytes per ion are not read");
    return s;
  }

  void read(IonIndex first, IonIndex count, HostIonCloud& out, IonIndex at) override {
    APTFLOW_ASSERT(first >= 0 && count >= 0 && first + count <= L_.n, "ATO read outside the file");
    const bool extras = out.extras.tof.extent(0) > 0;
    constexpr IonIndex block = IonIndex{1} << 14;
    auto& e = out.extras;
    const bool be = L_.big_endian;
    for (IonIndex done = 0; done < count; done += block) {
      const IonIndex n = std::min(block, count - done);
      buf_.resize(static_cast<std::size_t>(n) * L_.record);
      file_.read_at(L_.header + static_cast<std::uint64_t>(first + done) * L_.record, buf_.size(),
                    buf_.data());
      const IonIndex o = at + done;
      for (IonIndex i = 0; i < n; ++i) {
        const unsigned char* p = buf_.data() + static_cast<std::size_t>(i) * L_.record;
        float x, y, z, m;
        decode_core(L_, p, x, y, z, m);
        out.x(o + i) = x;
        out.y(o + i) = y;
        out.z(o + i) = z;
        out.mq(o + i) = m;
        out.species(o + i) = 0;
        if (!extras) continue;
        if (L_.version == 3) {
          e.v_dc(o + i) = load_f32(p + 24, be);
          e.tof(o + i) = load_scaled(p + 28, be, 1000.f);  // us -> ns
          e.x_det(o + i) = load_scaled(p + 32, be, 10.f);  // cm -> mm
          e.y_det(o + i) = load_scaled(p + 36, be, 10.f);
          e.v_pulse(o + i) = load_f32(p + 40, be);
        } else {
          e.v_dc(o + i) = e.tof(o + i) = e.x_det(o + i) = e.y_det(o + i) = e.v_pulse(o + i) = 0.f;
        }
        e.pulses_since_last(o + i) = 0;
        e.multiplicity(o + i) = 0;
      }
    }
  }

 private:
  RawFile file_;
  AtoLayout L_;
  std::vector<unsigned char> buf_;
};

}  // namespace

Fit ato_fit(const RawFile& f) {
  Fit fit;
  ato_layout(f, fit);
  return fit;
}

std::unique_ptr<IonReader> open_ato_reader(const std::string& path) {
  return std::make_unique<AtoReader>(path);
}

}  // namespace aptflow::io::detail
