// AP Suite (IVAS 4 / AP Suite 6) APT exchange files, little-endian:
//   file header (>= 540 bytes): "APT\0", int32 header size, int32 header
//     version, UTF-16 file name [256], int64 FILETIME, uint64 ion count;
//   then sections, each a header (>= 148 bytes: "SEC\0", int32 header size,
//     int32 header version, UTF-16 type [32], int32 section version, uint32
//     relationship (1: one record per ion), uint32 record type (1: fixed
//     size), uint32 record data type (1 int, 2 uint, 3 float), int32 data
//     type size (bits of one element), int32 record size (bytes), UTF-16 unit
//     [16], uint64 record count, uint64 byte count) and byte count data bytes
//     (which may include padding after the records).
// Sections are read by their Cameca names (Cameca's AP Suite extension SDK,
// IonDataSectionName) with the data type and size their header declares:
//   Position (3 elements, nm; its header is 172 bytes: 148 + a bounding box),
//   xs/ys/zs, Mass, tof / Time of Flight, Voltage and Pulse Voltage (V),
//   XDet_mm, YDet_mm, Detector Coordinates (2 elements, mm), Multiplicity
//   (first ion of a pulse: ions in the pulse; later ions of the pulse: 0,
//   the EPOS convention), Pulse Delta / Delta Pulse (pulses since the last
//   event). pulseDelta is NOT Pulse Delta: it is an int16 correction of the
//   float pulse number and is not read. Other sections are listed and skipped
//   by their byte count.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "aptflow/core/error.hpp"
#include "aptflow/io/detail/readers.hpp"

namespace aptflow::io::detail {

static_assert(std::endian::native == std::endian::little,
              "aptflow's APT reader assumes a little-endian host (x86-64, aarch64)");

namespace {

constexpr std::uint64_t kFileHeader = 540;
constexpr std::uint64_t kSectionHeader = 148;
constexpr std::uint64_t kPositionHeader = kSectionHeader + 24;  // + bounding box (min x, y, z, max x, y, z)

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
    s += (u >= 32 && u < 127) ? static_cast<char>(u) : '?';
  }
  return s;
}
void put_utf16(unsigned char* p, int units, const std::string& s) {
  for (int i = 0; i < units; ++i)
    put<std::uint16_t>(p + 2 * i, i < static_cast<int>(s.size()) && i < units - 1
                                      ? static_cast<std::uint16_t>(static_cast<unsigned char>(s[i]))
                                      : std::uint16_t{0});
}

// The per-ion fields aptflow reads, and the section names that fill them.
enum class Field {
  position,
  xs,
  ys,
  zs,
  mass,
  tof,
  tof_t0,
  voltage,
  pulse_voltage,
  xdet,
  ydet,
  det,
  multiplicity,
  pulses,
  count
};
struct Known {
  Field field;
  int elements;  // elements per record
  bool integer;  // an integer field (else float)
};
const std::map<std::string, Known>& known_sections() {
  static const std::map<std::string, Known> m = {
      {"Position", {Field::position, 3, false}},
      {"xs", {Field::xs, 1, false}},
      {"ys", {Field::ys, 1, false}},
      {"zs", {Field::zs, 1, false}},
      {"Mass", {Field::mass, 1, false}},
      {"tof", {Field::tof, 1, false}},
      {"Time of Flight", {Field::tof_t0, 1, false}},
      {"Voltage", {Field::voltage, 1, false}},
      {"Pulse Voltage", {Field::pulse_voltage, 1, false}},
      {"XDet_mm", {Field::xdet, 1, false}},
      {"YDet_mm", {Field::ydet, 1, false}},
      {"Detector Coordinates", {Field::det, 2, false}},
      {"Multiplicity", {Field::multiplicity, 1, true}},
      {"Pulse Delta", {Field::pulses, 1, true}},
      {"Delta Pulse", {Field::pulses, 1, true}},
  };
  return m;
}

std::string type_text(std::uint32_t data_type, std::int32_t bits, int elements) {
  const char* t = data_type == 1 ? "int" : data_type == 2 ? "uint" : data_type == 3 ? "float" : "type?";
  std::string s = fmt::format("{}{}", t, bits);
  if (elements > 1) s += fmt::format(" x{}", elements);
  return s;
}

struct Section {
  bool present = false;
  std::string name, unit;
  std::uint64_t data = 0;       // byte offset of record 0
  std::uint32_t data_type = 3;  // 1 int, 2 uint, 3 float
  int bytes = 4;                // bytes per element
  int elements = 1;
  std::uint64_t record = 4;  // bytes per record
  double scale = 1.0;        // unit conversion to aptflow's unit
};

// One element -> double (exact for every int up to 2^53 and for float32/64).
inline double element(const unsigned char* p, std::uint32_t type, int bytes) {
  if (type == 3) return bytes == 4 ? static_cast<double>(get<float>(p)) : get<double>(p);
  if (type == 1) {
    switch (bytes) {
      case 1:
        return static_cast<double>(static_cast<std::int8_t>(p[0]));
      case 2:
        return static_cast<double>(get<std::int16_t>(p));
      case 4:
        return static_cast<double>(get<std::int32_t>(p));
      default:
        return static_cast<double>(get<std::int64_t>(p));
    }
  }
  switch (bytes) {
    case 1:
      return static_cast<double>(p[0]);
    case 2:
      return static_cast<double>(get<std::uint16_t>(p));
    case 4:
      return static_cast<double>(get<std::uint32_t>(p));
    default:
      return static_cast<double>(get<std::uint64_t>(p));
  }
}

inline bool finite_double(double v) {
  const auto b = std::bit_cast<std::uint64_t>(v);
  return (b & 0x7ff0000000000000ull) != 0x7ff0000000000000ull;
}

// Float field value: NaN/Inf kept (no arithmetic on them: a signalling NaN
// would raise FE_INVALID), finite values scaled.
inline float to_float(double v, double scale) {
  if (!finite_double(v)) return static_cast<float>(v);
  return static_cast<float>(v * scale);
}
// Integer field value: negatives and NaN -> 0, saturated at 2^32 - 1.
inline std::uint32_t to_uint(double v) {
  if (!finite_double(v) || !(v > 0.0)) return 0;
  if (v >= 4294967295.0) return 0xffffffffu;
  return static_cast<std::uint32_t>(v);
}

double unit_scale(Field f, const std::string& unit) {
  std::string u = unit;
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return std::tolower(c); });
  switch (f) {
    case Field::voltage:
    case Field::pulse_voltage:
      return u == "kv" ? 1.0 : 1e-3;  // Cameca writes volts ("V" or no unit)
    case Field::tof:
    case Field::tof_t0:
      return (u == "us" || u == "?s") ? 1e3 : 1.0;
    case Field::position:
    case Field::xs:
    case Field::ys:
    case Field::zs:
      return (u == "a" || u == "angstrom" || u == "?") ? 0.1 : 1.0;
    case Field::xdet:
    case Field::ydet:
    case Field::det:
      return u == "cm" ? 10.0 : 1.0;
    default:
      return 1.0;
  }
}

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
      const auto relationship = get<std::uint32_t>(s + 80);
      const auto record_type = get<std::uint32_t>(s + 84);
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
      if (it != known_sections().end()) {
        add_section(it->second, type, pos, static_cast<std::uint64_t>(hsize), data, relationship, record_type,
                    data_type, type_bits, record, unit, records, bytes);
      } else {
        std::string note =
            type == "pulseDelta" ? ": pulse-number precision correction, not read" : ": not read";
        listed_.push_back(fmt::format("{} ({}{}){}", type, type_text(data_type, type_bits, 1),
                                      unit.empty() ? "" : ", " + unit, note));
      }
      pos = data + bytes;
    }
    // Positions: Position, or xs + ys + zs.
    const bool split_xyz = sec(Field::xs).present && sec(Field::ys).present && sec(Field::zs).present;
    if (!sec(Field::position).present && !split_xyz)
      throw InputError::at_byte(
          path, static_cast<std::int64_t>(size),
          "APT file has no 'Position' section (nor xs, ys, zs): export it from AP Suite "
          "with the Position and Mass sections");
    if (!sec(Field::mass).present)
      throw InputError::at_byte(
          path, static_cast<std::int64_t>(size),
          "APT file has no 'Mass' section: export it from AP Suite with the Position and "
          "Mass sections");
    use_split_ = !sec(Field::position).present;
  }

  Format format() const override { return Format::apt; }
  IonIndex size() const override { return n_; }
  bool has_extras() const override {
    for (Field f : {Field::tof, Field::tof_t0, Field::voltage, Field::pulse_voltage, Field::xdet, Field::ydet,
                    Field::det, Field::multiplicity, Field::pulses})
      if (sec(f).present) return true;
    return false;
  }
  std::uint64_t file_bytes() const override { return file_.size(); }
  std::int64_t byte_offset_of(IonIndex ion) const override {
    const Section& p = use_split_ ? sec(Field::xs) : sec(Field::position);
    return static_cast<std::int64_t>(p.data + p.record * static_cast<std::uint64_t>(ion));
  }
  std::vector<std::string> sections() const override {
    std::vector<std::string> out;
    for (const auto& s : read_) out.push_back(s);
    for (const auto& s : listed_) out.push_back(s);
    return out;
  }

  void read(IonIndex first, IonIndex count, HostIonCloud& out, IonIndex at) override {
    APTFLOW_ASSERT(first >= 0 && count >= 0 && first + count <= n_, "APT read outside the file");
    std::fill_n(out.species.data() + at, count, Species{0});
    if (use_split_) {
      read_float(Field::xs, 0, first, count, out.x.data() + at);
      read_float(Field::ys, 0, first, count, out.y.data() + at);
      read_float(Field::zs, 0, first, count, out.z.data() + at);
    } else {
      float* dst[3] = {out.x.data() + at, out.y.data() + at, out.z.data() + at};
      read_vector(Field::position, first, count, dst);
    }
    read_float(Field::mass, 0, first, count, out.mq.data() + at);
    if (out.extras.tof.extent(0) == 0) return;
    auto& e = out.extras;
    read_float(sec(Field::tof).present ? Field::tof : Field::tof_t0, 0, first, count, e.tof.data() + at);
    read_float(Field::voltage, 0, first, count, e.v_dc.data() + at);
    read_float(Field::pulse_voltage, 0, first, count, e.v_pulse.data() + at);
    if (sec(Field::xdet).present || sec(Field::ydet).present || !sec(Field::det).present) {
      read_float(Field::xdet, 0, first, count, e.x_det.data() + at);
      read_float(Field::ydet, 0, first, count, e.y_det.data() + at);
    } else {
      read_float(Field::det, 0, first, count, e.x_det.data() + at);
      read_float(Field::det, 1, first, count, e.y_det.data() + at);
    }
    read_uint(Field::multiplicity, first, count, e.multiplicity.data() + at);
    read_uint(Field::pulses, first, count, e.pulses_since_last.data() + at);
  }

 private:
  const Section& sec(Field f) const { return sec_[static_cast<int>(f)]; }

  void add_section(const Known& k, const std::string& type, std::uint64_t pos, std::uint64_t hsize,
                   std::uint64_t data, std::uint32_t relationship, std::uint32_t record_type,
                   std::uint32_t data_type, std::int32_t type_bits, std::int32_t record,
                   const std::string& unit, std::uint64_t records, std::uint64_t bytes) {
    const std::string& path = file_.path();
    const auto at = [&](std::uint64_t off) { return static_cast<std::int64_t>(pos + off); };
    Section& s = sec_[static_cast<int>(k.field)];
    if (s.present)
      throw InputError::at_byte(
          path, at(0),
          fmt::format("APT file has a second section for '{}' ('{}' after '{}'): ambiguous, "
                      "re-export it",
                      type, type, s.name));
    if (relationship != 1 || record_type != 1)
      throw InputError::at_byte(
          path, at(80),
          fmt::format("APT section '{}' has relationship type {} and record type {}; aptflow "
                      "reads one fixed-size record per ion (1, 1): unsupported variant, "
                      "please report it",
                      type, relationship, record_type));
    if (records != static_cast<std::uint64_t>(n_))
      throw InputError::at_byte(
          path, at(132),
          fmt::format("APT section '{}' has {} records but the file header says {} ions: "
                      "inconsistent file, re-export it",
                      type, records, n_));
    const bool type_ok = (data_type == 3 && (type_bits == 32 || type_bits == 64)) ||
                         ((data_type == 1 || data_type == 2) &&
                          (type_bits == 8 || type_bits == 16 || type_bits == 32 || type_bits == 64));
    if (!type_ok ||
        static_cast<std::int64_t>(record) != static_cast<std::int64_t>(k.elements) * type_bits / 8)
      throw InputError::at_byte(
          path, at(88),
          fmt::format("APT section '{}' declares data type {} of {} bits in {}-byte records; "
                      "aptflow reads {} element(s) of int/uint 8-64 or float 32/64 bits per "
                      "record: unsupported variant, please report it",
                      type, data_type, type_bits, record, k.elements));
    const std::uint64_t payload = records * static_cast<std::uint64_t>(record);
    std::uint64_t skip = 0;
    // aptflow before 0.x wrote the Position bounding box as data (148-byte
    // header, byte count 12n + 24); Cameca puts it in a 172-byte header.
    if (k.field == Field::position && hsize == kSectionHeader && bytes == payload + 24) skip = 24;
    if (bytes < payload + skip)
      throw InputError::at_byte(
          path, at(140),
          fmt::format("APT section '{}' has {} data bytes, fewer than the {} records of {} "
                      "bytes need: corrupt file, re-export it",
                      type, bytes, records, record));
    s.present = true;
    s.name = type;
    s.unit = unit;
    s.data = data + skip;
    s.data_type = data_type;
    s.bytes = type_bits / 8;
    s.elements = k.elements;
    s.record = static_cast<std::uint64_t>(record);
    s.scale = unit_scale(k.field, unit);
    read_.push_back(fmt::format("{} ({}{})", type, type_text(data_type, type_bits, k.elements),
                                unit.empty() ? "" : ", " + unit));
  }

  // Element `e` of every record of a float field (0 when the section is absent).
  void read_float(Field f, int e, IonIndex first, IonIndex count, float* dst) {
    const Section& s = sec(f);
    if (!s.present) {
      std::fill_n(dst, count, 0.f);
      return;
    }
    // Fast path: float32, one element, no unit conversion: straight into dst.
    if (s.data_type == 3 && s.bytes == 4 && s.elements == 1 && s.record == 4 && s.scale == 1.0) {
      file_.read_at(s.data + static_cast<std::uint64_t>(first) * 4, static_cast<std::uint64_t>(count) * 4,
                    dst);
      return;
    }
    for_records(s, first, count, [&](IonIndex i, const unsigned char* p) {
      dst[i] = to_float(element(p + e * s.bytes, s.data_type, s.bytes), s.scale);
    });
  }

  void read_vector(Field f, IonIndex first, IonIndex count, float* dst[3]) {
    const Section& s = sec(f);
    if (s.data_type == 3 && s.bytes == 4 && s.scale == 1.0) {
      for_records(s, first, count, [&](IonIndex i, const unsigned char* p) {
        dst[0][i] = get<float>(p);
        dst[1][i] = get<float>(p + 4);
        dst[2][i] = get<float>(p + 8);
      });
      return;
    }
    for_records(s, first, count, [&](IonIndex i, const unsigned char* p) {
      for (int k = 0; k < 3; ++k)
        dst[k][i] = to_float(element(p + k * s.bytes, s.data_type, s.bytes), s.scale);
    });
  }

  void read_uint(Field f, IonIndex first, IonIndex count, std::uint32_t* dst) {
    const Section& s = sec(f);
    if (!s.present) {
      std::fill_n(dst, count, 0u);
      return;
    }
    for_records(s, first, count, [&](IonIndex i, const unsigned char* p) {
      dst[i] = to_uint(element(p, s.data_type, s.bytes));
    });
  }

  template <class F>
  void for_records(const Section& s, IonIndex first, IonIndex count, F&& f) {
    const IonIndex block = std::max<IonIndex>(1, static_cast<IonIndex>((std::uint64_t{1} << 20) / s.record));
    for (IonIndex done = 0; done < count; done += block) {
      const IonIndex n = std::min(block, count - done);
      buf_.resize(static_cast<std::size_t>(n) * s.record);
      file_.read_at(s.data + static_cast<std::uint64_t>(first + done) * s.record, buf_.size(), buf_.data());
      const unsigned char* p = buf_.data();
      for (IonIndex i = 0; i < n; ++i, p += s.record) f(done + i, p);
    }
  }

  RawFile file_;
  IonIndex n_ = 0;
  Section sec_[static_cast<int>(Field::count)];
  bool use_split_ = false;
  std::vector<std::string> read_, listed_;
  std::vector<unsigned char> buf_;
};

// ---------------------------------------------------------------- writer
// type_bits: bits of one element (Position: 32-bit floats, 3 per 12-byte record).
void section_header(unsigned char* s, std::uint64_t header_size, const std::string& type,
                    std::uint32_t data_type, std::int32_t type_bits, std::int32_t record,
                    const std::string& unit, std::uint64_t records, std::uint64_t bytes) {
  std::memset(s, 0, header_size);
  std::memcpy(s, "SEC\0", 4);
  put<std::int32_t>(s + 4, static_cast<std::int32_t>(header_size));
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

// The sections write_apt / the streaming APT writer emit, in file order.
struct OutSection {
  const char* name;
  const char* unit;
  std::uint32_t data_type;
  int elements;
};
const OutSection kOut[] = {{"Position", "nm", 3, 3}, {"Mass", "Da", 3, 1},         {"tof", "ns", 3, 1},
                           {"Voltage", "V", 3, 1},   {"Pulse Voltage", "V", 3, 1}, {"XDet_mm", "mm", 3, 1},
                           {"YDet_mm", "mm", 3, 1},  {"Multiplicity", "", 1, 1},   {"Pulse Delta", "", 1, 1}};

inline float kv_to_v(float v) { return nonfinite_bits(std::bit_cast<std::uint32_t>(v)) ? v : v * 1000.f; }
inline std::int32_t clamp_i32(std::uint32_t v) {
  return v > static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max())
             ? std::numeric_limits<std::int32_t>::max()
             : static_cast<std::int32_t>(v);
}

}  // namespace

std::unique_ptr<IonReader> open_apt_reader(const std::string& path) {
  return std::make_unique<AptReader>(path);
}

// ---- layout of an APT file written by aptflow with n ions
AptLayout apt_layout(IonIndex n, bool extras) {
  AptLayout L;
  const auto un = static_cast<std::uint64_t>(n);
  std::uint64_t pos = kFileHeader;
  const int sections = extras ? 9 : 2;
  for (int k = 0; k < sections; ++k) {
    const std::uint64_t h = k == 0 ? kPositionHeader : kSectionHeader;
    L.header_at[k] = pos;
    L.data_at[k] = pos + h;
    pos += h + un * 4 * static_cast<std::uint64_t>(kOut[k].elements);
  }
  L.sections = sections;
  L.total = pos;
  return L;
}

void write_apt_headers(ByteSink& out, const std::string& path, IonIndex n, bool extras, const float box[6]) {
  const auto un = static_cast<std::uint64_t>(n);
  const AptLayout L = apt_layout(n, extras);
  std::vector<unsigned char> h(kFileHeader, 0);
  std::memcpy(h.data(), "APT\0", 4);
  put<std::int32_t>(h.data() + 4, static_cast<std::int32_t>(kFileHeader));
  put<std::int32_t>(h.data() + 8, 2);
  const auto slash = path.find_last_of('/');
  put_utf16(h.data() + 12, 256, slash == std::string::npos ? path : path.substr(slash + 1));
  // FILETIME: 0 ("unknown"): the same data must give the same bytes.
  put<std::int64_t>(h.data() + 524, 0);
  put<std::uint64_t>(h.data() + 532, un);
  out.write_at(0, h.data(), h.size());
  unsigned char s[kPositionHeader];
  for (int k = 0; k < L.sections; ++k) {
    const OutSection& o = kOut[k];
    const std::uint64_t hs = k == 0 ? kPositionHeader : kSectionHeader;
    const std::uint64_t rec = 4 * static_cast<std::uint64_t>(o.elements);
    section_header(s, hs, o.name, o.data_type, 32, static_cast<std::int32_t>(rec), o.unit, un, rec * un);
    if (k == 0) std::memcpy(s + kSectionHeader, box, 24);
    out.write_at(L.header_at[k], s, hs);
  }
}

std::uint64_t apt_record_bytes(int k) { return 4 * static_cast<std::uint64_t>(kOut[k].elements); }

void encode_apt_section(int k, const HostIonCloud& c, IonIndex first, IonIndex count, unsigned char* dst) {
  const bool extras = c.has_extras();
  const auto& e = c.extras;
  for (IonIndex i = first; i < first + count; ++i) {
    switch (k) {
      case 0:
        put<float>(dst, c.x(i));
        put<float>(dst + 4, c.y(i));
        put<float>(dst + 8, c.z(i));
        dst += 12;
        continue;
      case 1:
        put<float>(dst, c.mq(i));
        break;
      case 2:
        put<float>(dst, extras ? e.tof(i) : 0.f);
        break;
      case 3:
        put<float>(dst, extras ? kv_to_v(e.v_dc(i)) : 0.f);
        break;
      case 4:
        put<float>(dst, extras ? kv_to_v(e.v_pulse(i)) : 0.f);
        break;
      case 5:
        put<float>(dst, extras ? e.x_det(i) : 0.f);
        break;
      case 6:
        put<float>(dst, extras ? e.y_det(i) : 0.f);
        break;
      case 7:
        put<std::int32_t>(dst, extras ? clamp_i32(e.multiplicity(i)) : 0);
        break;
      default:
        put<std::int32_t>(dst, extras ? clamp_i32(e.pulses_since_last(i)) : 0);
        break;
    }
    dst += 4;
  }
}

void apt_box_update(const HostIonCloud& c, float box[6], bool& have) {
  // Non-finite coordinates are left out: comparing NaN would raise FE_INVALID.
  for (IonIndex i = 0; i < c.size(); ++i) {
    const float v[3] = {c.x(i), c.y(i), c.z(i)};
    if (nonfinite_bits(std::bit_cast<std::uint32_t>(v[0])) ||
        nonfinite_bits(std::bit_cast<std::uint32_t>(v[1])) ||
        nonfinite_bits(std::bit_cast<std::uint32_t>(v[2])))
      continue;
    for (int k = 0; k < 3; ++k) {
      if (!have || v[k] < box[k]) box[k] = v[k];
      if (!have || v[k] > box[3 + k]) box[3 + k] = v[k];
    }
    have = true;
  }
}

}  // namespace aptflow::io::detail

namespace aptflow::io {

void write_apt(const std::string& path, const HostIonCloud& cloud) {
  CloudWriter w(path, Format::apt, MPI_COMM_NULL, cloud.has_extras(), nullptr, cloud.size());
  w.append(cloud);
  w.close();
}

}  // namespace aptflow::io
