// AP Suite (IVAS 4 / AP Suite 6) APT exchange files, little-endian:
//   file header (540 bytes): "APT\0", int32 header size, int32 header version,
//     UTF-16 file name [256], int64 FILETIME, uint64 ion count;
//   then sections, each a 148-byte header ("SEC\0", int32 header size, int32
//     header version, UTF-16 type [32], int32 section version, uint32
//     relationship, uint32 record type, uint32 record data type (1 int, 2
//     uint, 3 float), int32 data type size (bits), int32 record size (bytes),
//     UTF-16 unit [16], uint64 record count, uint64 byte count) and its data.
// Position data may start with a 24-byte bounding box (byte count 12n + 24).
#include <fmt/format.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>

#include "aptflow/core/error.hpp"
#include "aptflow/io/detail/readers.hpp"

namespace aptflow::io::detail {

static_assert(std::endian::native == std::endian::little,
              "aptflow's APT reader assumes a little-endian host (x86-64, aarch64)");

namespace {

constexpr std::uint64_t kFileHeader = 540;
constexpr std::uint64_t kSectionHeader = 148;

template <class T>
T get(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <class T>
void put(unsigned char* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

// UTF-16LE (fixed number of units, NUL-terminated) -> ASCII ('?' for others).
std::string utf16_ascii(const unsigned char* p, int units) {
  std::string s;
  for (int i = 0; i < units; ++i) {
    const auto u = get<std::uint16_t>(p + 2 * i);
    if (u == 0) break;
    s += u < 128 ? static_cast<char>(u) : '?';
  }
  return s;
}
void put_utf16(unsigned char* p, int units, const std::string& s) {
  for (int i = 0; i < units; ++i)
    put<std::uint16_t>(p + 2 * i, i < static_cast<int>(s.size()) && i < units - 1
                                      ? static_cast<std::uint16_t>(static_cast<unsigned char>(s[i]))
                                      : std::uint16_t{0});
}

// The sections aptflow reads, and where they go.
enum class Field { position, mass, tof, voltage, xdet, ydet, multiplicity, pulse_delta };
const std::map<std::string, Field>& known_sections() {
  static const std::map<std::string, Field> m = {{"Position", Field::position},
                                                 {"Mass", Field::mass},
                                                 {"tof", Field::tof},
                                                 {"Voltage", Field::voltage},
                                                 {"XDet_mm", Field::xdet},
                                                 {"YDet_mm", Field::ydet},
                                                 {"Multiplicity", Field::multiplicity},
                                                 {"pulseDelta", Field::pulse_delta}};
  return m;
}

struct Section {
  bool present = false;
  std::uint64_t data = 0;  // byte offset of record 0
  std::uint32_t data_type = 3;
  std::int32_t record = 4;  // bytes per record
  float scale = 1.f;        // Voltage in V -> kV
};

class AptReader final : public IonReader {
 public:
  explicit AptReader(const std::string& path) : file_(path) {
    const std::uint64_t size = file_.size();
    if (size == 0) throw InputError::at_byte(path, 0, "APT file is empty (0 bytes): check the export");
    if (size < kFileHeader)
      throw InputError::at_byte(path, static_cast<std::int64_t>(size),
                                fmt::format("APT file of {} bytes is shorter than its 540-byte header "
                                            "(truncated?): re-export it",
                                            size));
    unsigned char h[kFileHeader];
    file_.read_at(0, kFileHeader, h);
    if (std::memcmp(h, "APT\0", 4) != 0)
      throw InputError::at_byte(path, 0,
                                "not an APT file: the \"APT\\0\" signature is missing; check the format");
    const auto header_size = get<std::int32_t>(h + 4);
    if (header_size < static_cast<std::int32_t>(kFileHeader) ||
        static_cast<std::uint64_t>(header_size) > size)
      throw InputError::at_byte(
          path, 4,
          fmt::format("APT header size {} is invalid (must be >= 540 and fit in the {}-byte "
                      "file): corrupt file, re-export it",
                      header_size, size));
    const auto ions = get<std::uint64_t>(h + 532);
    if (ions > size / 16)
      throw InputError::at_byte(
          path, 532,
          fmt::format("APT header claims {} ions, impossible for a file of {} bytes (16 "
                      "bytes per ion at least): corrupt or truncated file",
                      ions, size));
    n_ = static_cast<IonIndex>(ions);

    std::uint64_t pos = static_cast<std::uint64_t>(header_size);
    while (pos < size) {
      if (size - pos < kSectionHeader)
        throw InputError::at_byte(path, static_cast<std::int64_t>(pos),
                                  fmt::format("APT section header truncated: {} bytes left, 148 needed "
                                              "(truncated file?): re-export it",
                                              size - pos));
      unsigned char s[kSectionHeader];
      file_.read_at(pos, kSectionHeader, s);
      const auto at = [&](std::uint64_t off) { return static_cast<std::int64_t>(pos + off); };
      if (std::memcmp(s, "SEC\0", 4) != 0)
        throw InputError::at_byte(path, at(0),
                                  "APT section signature \"SEC\\0\" missing (corrupt file or a wrong "
                                  "byte count in the previous section): re-export it");
      const auto hsize = get<std::int32_t>(s + 4);
      if (hsize < static_cast<std::int32_t>(kSectionHeader) || static_cast<std::uint64_t>(hsize) > size - pos)
        throw InputError::at_byte(
            path, at(4),
            fmt::format("APT section header size {} is invalid (< 148 or past the end of "
                        "the file): corrupt file, re-export it",
                        hsize));
      const std::string type = utf16_ascii(s + 12, 32);
      const auto data_type = get<std::uint32_t>(s + 88);
      const auto type_bits = get<std::int32_t>(s + 92);
      const auto record = get<std::int32_t>(s + 96);
      const std::string unit = utf16_ascii(s + 100, 16);
      const auto records = get<std::uint64_t>(s + 132);
      const auto bytes = get<std::uint64_t>(s + 140);
      const std::uint64_t data = pos + static_cast<std::uint64_t>(hsize);
      if (bytes > size - data)
        throw InputError::at_byte(path, at(140),
                                  fmt::format("APT section '{}' runs past the end of the file ({} data bytes "
                                              "declared, {} left): truncated file, re-export it",
                                              type, bytes, size - data));
      auto it = known_sections().find(type);
      if (it != known_sections().end())
        add_section(it->second, type, pos, data, data_type, type_bits, record, unit, records, bytes);
      pos = data + bytes;
    }
    if (!sec_[static_cast<int>(Field::position)].present || !sec_[static_cast<int>(Field::mass)].present)
      throw InputError::at_byte(
          path, static_cast<std::int64_t>(size),
          fmt::format("APT file has no '{}' section: export it from AP Suite with the "
                      "Position and Mass sections",
                      sec_[static_cast<int>(Field::position)].present ? "Mass" : "Position"));
  }

  Format format() const override { return Format::apt; }
  IonIndex size() const override { return n_; }
  bool has_extras() const override {
    for (int f = static_cast<int>(Field::tof); f <= static_cast<int>(Field::pulse_delta); ++f)
      if (sec_[f].present) return true;
    return false;
  }
  std::uint64_t file_bytes() const override { return file_.size(); }
  std::int64_t byte_offset_of(IonIndex ion) const override {
    return static_cast<std::int64_t>(sec_[0].data + 12 * static_cast<std::uint64_t>(ion));
  }

  void read(IonIndex first, IonIndex count, HostIonCloud& out, IonIndex at) override {
    APTFLOW_ASSERT(first >= 0 && count >= 0 && first + count <= n_, "APT read outside the file");
    constexpr IonIndex block = IonIndex{1} << 16;
    const auto& p = sec_[static_cast<int>(Field::position)];
    for (IonIndex done = 0; done < count; done += block) {
      const IonIndex n = std::min(block, count - done);
      buf_.resize(static_cast<std::size_t>(n) * 12);
      file_.read_at(p.data + static_cast<std::uint64_t>(first + done) * 12, buf_.size(), buf_.data());
      for (IonIndex i = 0; i < n; ++i) {
        out.x(at + done + i) = get<float>(buf_.data() + 12 * i);
        out.y(at + done + i) = get<float>(buf_.data() + 12 * i + 4);
        out.z(at + done + i) = get<float>(buf_.data() + 12 * i + 8);
        out.species(at + done + i) = 0;
      }
    }
    read_floats(Field::mass, first, count, out.mq.data() + at);
    if (out.extras.tof.extent(0) == 0) return;
    auto& e = out.extras;
    read_floats(Field::tof, first, count, e.tof.data() + at);
    read_floats(Field::voltage, first, count, e.v_dc.data() + at);
    std::fill_n(e.v_pulse.data() + at, count, 0.f);
    read_floats(Field::xdet, first, count, e.x_det.data() + at);
    read_floats(Field::ydet, first, count, e.y_det.data() + at);
    read_ints(Field::multiplicity, first, count, e.multiplicity.data() + at);
    read_ints(Field::pulse_delta, first, count, e.pulses_since_last.data() + at);
  }

 private:
  void add_section(Field f, const std::string& type, std::uint64_t pos, std::uint64_t data,
                   std::uint32_t data_type, std::int32_t type_bits, std::int32_t record,
                   const std::string& unit, std::uint64_t records, std::uint64_t bytes) {
    const std::string& path = file_.path();
    const auto at = [&](std::uint64_t off) { return static_cast<std::int64_t>(pos + off); };
    Section& s = sec_[static_cast<int>(f)];
    if (s.present)
      throw InputError::at_byte(
          path, at(0), fmt::format("APT file has a second '{}' section: ambiguous, re-export it", type));
    if (records != static_cast<std::uint64_t>(n_))
      throw InputError::at_byte(
          path, at(132),
          fmt::format("APT section '{}' has {} records but the file header says {} ions: "
                      "inconsistent file, re-export it",
                      type, records, n_));
    const bool integer = f == Field::multiplicity || f == Field::pulse_delta;
    const std::int32_t want_record = f == Field::position ? 12 : 4;
    bool ok;
    if (integer)
      ok = (data_type == 1 || data_type == 2) && (record == 1 || record == 2 || record == 4 || record == 8) &&
           type_bits == 8 * record;
    else
      ok = data_type == 3 && type_bits == 32 && record == want_record;
    if (!ok)
      throw InputError::at_byte(
          path, at(88),
          fmt::format("APT section '{}' stores data type {} of {} bits in {}-byte records; "
                      "aptflow reads {}: unsupported variant, please report it",
                      type, data_type, type_bits, record, integer ? "integers" : "float32 (type 3)"));
    const std::uint64_t payload = records * static_cast<std::uint64_t>(record);
    std::uint64_t skip = 0;
    if (f == Field::position && bytes == payload + 24)
      skip = 24;  // bounding box before the positions
    else if (bytes != payload)
      throw InputError::at_byte(
          path, at(140),
          fmt::format("APT section '{}' has {} data bytes, expected {} for {} records{}: "
                      "corrupt file, re-export it",
                      type, bytes, payload, records,
                      f == Field::position ? " (or 24 more with a bounding box)" : ""));
    s.present = true;
    s.data = data + skip;
    s.data_type = data_type;
    s.record = record;
    s.scale = (f == Field::voltage && unit == "V") ? 1e-3f : 1.f;
  }

  void read_floats(Field f, IonIndex first, IonIndex count, float* dst) {
    const Section& s = sec_[static_cast<int>(f)];
    if (!s.present) {
      std::fill_n(dst, count, 0.f);
      return;
    }
    file_.read_at(s.data + static_cast<std::uint64_t>(first) * 4, static_cast<std::uint64_t>(count) * 4, dst);
    if (s.scale != 1.f)
      for (IonIndex i = 0; i < count; ++i)
        if (!nonfinite_bits(std::bit_cast<std::uint32_t>(dst[i]))) dst[i] *= s.scale;  // NaN stays as stored
  }

  void read_ints(Field f, IonIndex first, IonIndex count, std::uint32_t* dst) {
    const Section& s = sec_[static_cast<int>(f)];
    if (!s.present) {
      std::fill_n(dst, count, 0u);
      return;
    }
    constexpr IonIndex block = IonIndex{1} << 16;
    const auto rec = static_cast<std::uint64_t>(s.record);
    for (IonIndex done = 0; done < count; done += block) {
      const IonIndex n = std::min(block, count - done);
      buf_.resize(static_cast<std::size_t>(n) * rec);
      file_.read_at(s.data + static_cast<std::uint64_t>(first + done) * rec, buf_.size(), buf_.data());
      const unsigned char* p = buf_.data();
      for (IonIndex i = 0; i < n; ++i, p += rec) {
        // Signed negatives (data type 1) become 0; values above 2^32 - 1 saturate.
        std::uint64_t v = 0;
        bool negative = false;
        switch (rec) {
          case 1:
            v = p[0];
            negative = s.data_type == 1 && static_cast<std::int8_t>(p[0]) < 0;
            break;
          case 2:
            v = get<std::uint16_t>(p);
            negative = s.data_type == 1 && get<std::int16_t>(p) < 0;
            break;
          case 4:
            v = get<std::uint32_t>(p);
            negative = s.data_type == 1 && get<std::int32_t>(p) < 0;
            break;
          default:
            v = get<std::uint64_t>(p);
            negative = s.data_type == 1 && get<std::int64_t>(p) < 0;
            break;
        }
        if (negative) v = 0;
        dst[done + i] = v > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(v);
      }
    }
  }

  RawFile file_;
  IonIndex n_ = 0;
  Section sec_[8];
  std::vector<unsigned char> buf_;
};

// ---------------------------------------------------------------- writer
// type_bits: bits of one element (Position: 32-bit floats, 3 per 12-byte record).
void section_header(unsigned char* s, const std::string& type, std::uint32_t data_type,
                    std::int32_t type_bits, std::int32_t record, const std::string& unit,
                    std::uint64_t records, std::uint64_t bytes) {
  std::memset(s, 0, kSectionHeader);
  std::memcpy(s, "SEC\0", 4);
  put<std::int32_t>(s + 4, static_cast<std::int32_t>(kSectionHeader));
  put<std::int32_t>(s + 8, 2);  // header version
  put_utf16(s + 12, 32, type);
  put<std::int32_t>(s + 76, 1);   // section version
  put<std::uint32_t>(s + 80, 1);  // relationship: one record per ion
  put<std::uint32_t>(s + 84, 1);  // record type: fixed size
  put<std::uint32_t>(s + 88, data_type);
  put<std::int32_t>(s + 92, type_bits);
  put<std::int32_t>(s + 96, record);
  put_utf16(s + 100, 16, unit);
  put<std::uint64_t>(s + 132, records);
  put<std::uint64_t>(s + 140, bytes);
}

}  // namespace

std::unique_ptr<IonReader> open_apt_reader(const std::string& path) {
  return std::make_unique<AptReader>(path);
}

}  // namespace aptflow::io::detail

namespace aptflow::io {

void write_apt(const std::string& path, const HostIonCloud& cloud) {
  using namespace detail;
  const IonIndex n = cloud.size();
  const auto un = static_cast<std::uint64_t>(n);
  OutFile out(path);
  std::uint64_t pos = 0;
  std::vector<unsigned char> h(kFileHeader, 0);
  std::memcpy(h.data(), "APT\0", 4);
  put<std::int32_t>(h.data() + 4, static_cast<std::int32_t>(kFileHeader));
  put<std::int32_t>(h.data() + 8, 2);
  const auto slash = path.find_last_of('/');
  put_utf16(h.data() + 12, 256, slash == std::string::npos ? path : path.substr(slash + 1));
  // FILETIME: 100 ns ticks since 1601-01-01.
  const auto unix_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  put<std::int64_t>(h.data() + 524, (static_cast<std::int64_t>(unix_s) + 11644473600LL) * 10000000LL);
  put<std::uint64_t>(h.data() + 532, un);
  out.write_at(pos, h.data(), h.size());
  pos += h.size();

  unsigned char s[kSectionHeader];
  // Position: bounding box (min x, y, z, max x, y, z) then x, y, z per ion.
  // (Non-finite coordinates are left out: comparing NaN would raise FE_INVALID.)
  float box[6] = {0, 0, 0, 0, 0, 0};
  bool first = true;
  for (IonIndex i = 0; i < n; ++i) {
    const float v[3] = {cloud.x(i), cloud.y(i), cloud.z(i)};
    if (nonfinite_bits(std::bit_cast<std::uint32_t>(v[0])) ||
        nonfinite_bits(std::bit_cast<std::uint32_t>(v[1])) ||
        nonfinite_bits(std::bit_cast<std::uint32_t>(v[2])))
      continue;
    for (int k = 0; k < 3; ++k) {
      if (first || v[k] < box[k]) box[k] = v[k];
      if (first || v[k] > box[3 + k]) box[3 + k] = v[k];
    }
    first = false;
  }
  section_header(s, "Position", 3, 32, 12, "nm", un, 12 * un + 24);
  out.write_at(pos, s, kSectionHeader);
  pos += kSectionHeader;
  out.write_at(pos, box, 24);
  pos += 24;
  constexpr IonIndex block = IonIndex{1} << 16;
  std::vector<unsigned char> buf;
  for (IonIndex d = 0; d < n; d += block) {
    const IonIndex c = std::min(block, n - d);
    buf.resize(static_cast<std::size_t>(c) * 12);
    for (IonIndex i = 0; i < c; ++i) {
      put<float>(buf.data() + 12 * i, cloud.x(d + i));
      put<float>(buf.data() + 12 * i + 4, cloud.y(d + i));
      put<float>(buf.data() + 12 * i + 8, cloud.z(d + i));
    }
    out.write_at(pos, buf.data(), buf.size());
    pos += buf.size();
  }
  auto float_section = [&](const std::string& type, const std::string& unit, const float* data) {
    section_header(s, type, 3, 32, 4, unit, un, 4 * un);
    out.write_at(pos, s, kSectionHeader);
    pos += kSectionHeader;
    out.write_at(pos, data, 4 * un);
    pos += 4 * un;
  };
  auto uint_section = [&](const std::string& type, const std::uint32_t* data) {
    section_header(s, type, 2, 32, 4, "", un, 4 * un);
    out.write_at(pos, s, kSectionHeader);
    pos += kSectionHeader;
    out.write_at(pos, data, 4 * un);
    pos += 4 * un;
  };
  float_section("Mass", "Da", cloud.mq.data());
  if (cloud.has_extras()) {
    const auto& e = cloud.extras;
    float_section("tof", "ns", e.tof.data());
    float_section("Voltage", "kV", e.v_dc.data());
    float_section("XDet_mm", "mm", e.x_det.data());
    float_section("YDet_mm", "mm", e.y_det.data());
    uint_section("Multiplicity", e.multiplicity.data());
    uint_section("pulseDelta", e.pulses_since_last.data());
  }
  out.close();
}

}  // namespace aptflow::io
