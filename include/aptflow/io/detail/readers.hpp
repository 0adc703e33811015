#pragma once
// Internals of aptflow/io/dataset.hpp: one reader per format behind a small
// block interface (a virtual call per block of ions, never per ion), raw file
// access with errors that name file and byte offset, and the byte encoders.
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"

namespace aptflow::h5 {
class File;
}

namespace aptflow::io::detail {

// Read-only file opened with open(2); every failure is an InputError.
class RawFile {
 public:
  // Checks: exists, is a regular file (not a directory), readable.
  explicit RawFile(const std::string& path);
  ~RawFile();
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;

  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  // Read exactly n bytes at offset (InputError at offset when the file ends
  // early or the read fails).
  void read_at(std::uint64_t offset, std::uint64_t n, void* dst) const;
  // The whole file mapped read-only (mapped on the first call), or nullptr
  // when it cannot be mapped (then use read_at). Decoding straight from the
  // page cache saves the copy a read makes. A file truncated by another
  // process while it is mapped and read raises SIGBUS, as for any mmap reader.
  const unsigned char* mapped() const;

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  mutable const unsigned char* map_ = nullptr;
  mutable bool map_tried_ = false;
};

// Something bytes are written to at given offsets.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write_at(std::uint64_t offset, const void* src, std::uint64_t n) = 0;
};

// Writable file (create/truncate), large unbuffered pwrite()s; ResourceError on failure.
class OutFile final : public ByteSink {
 public:
  explicit OutFile(const std::string& path);
  ~OutFile() override;
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  void write_at(std::uint64_t offset, const void* src, std::uint64_t n) override;
  void close();  // ResourceError when close() fails

 private:
  std::string path_;
  int fd_ = -1;
};

class IonReader {
 public:
  virtual ~IonReader() = default;
  virtual Format format() const = 0;
  virtual IonIndex size() const = 0;
  virtual bool has_extras() const = 0;
  virtual std::uint64_t file_bytes() const = 0;
  // Byte offset of ion i's record (its x) in the file; -1 when the layout has none.
  virtual std::int64_t byte_offset_of(IonIndex ion) const = 0;
  // Line of ion i (text files); -1 for binary layouts.
  virtual std::int64_t line_of(IonIndex /*ion*/) const { return -1; }
  // What the file holds (DatasetInfo::sections).
  virtual std::vector<std::string> sections() const { return {}; }
  // Decode ions [first, first + count) into out[at, at + count): x, y, z, mq,
  // species (0 unless stored) and, when has_extras() and out has extras
  // allocated, the extras (fields the file lacks become 0).
  virtual void read(IonIndex first, IonIndex count, HostIonCloud& out, IonIndex at) = 0;
};

std::unique_ptr<IonReader> open_pos_reader(const std::string& path);
std::unique_ptr<IonReader> open_epos_reader(const std::string& path);
std::unique_ptr<IonReader> open_apt_reader(const std::string& path);
std::unique_ptr<IonReader> open_h5_reader(const std::string& path);
std::unique_ptr<IonReader> open_ato_reader(const std::string& path);
std::unique_ptr<IonReader> open_text_reader(const std::string& path);
std::unique_ptr<IonReader> open_nxapm_reader(const std::string& path);
std::unique_ptr<IonReader> open_cameca_reader(const std::string& path);
std::unique_ptr<IonReader> open_reader(const std::string& path, Format format);

// ---- detection helpers (used by detect_format).
struct Fit {
  bool signature = false;  // the format's own marks are there (ATO version word, text bytes)
  std::string why_not;     // empty: the file fits; else the reason it does not (for messages)
  std::int64_t line = -1;  // text: the line that does not fit
};
Fit ato_fit(const RawFile& f);
// `data` holds up to the first 64 KiB of a file of `size` bytes.
Fit text_fit(const unsigned char* data, std::uint64_t n, std::uint64_t size);
// Which HDF5 layouts a file holds: any of Format::h5, nxapm, cameca.
std::vector<Format> hdf5_layouts(const std::string& path);
// The root "format" attribute of an HDF5 file ("" when there is none).
std::string hdf5_format_attribute(const std::string& path);

constexpr std::uint64_t kPosRecord = 16;
constexpr std::uint64_t kEposRecord = 44;

// Big-endian encoders of ions [first, first + count) into dst
// (count * kPosRecord / kEposRecord bytes). EPOS extras are zeros when the
// cloud has none.
void encode_pos(const HostIonCloud& cloud, IonIndex first, IonIndex count, unsigned char* dst);
// Big-endian POS records -> x, y, z, m/q arrays (AVX2 byte swap and
// transpose where the CPU has it; the same bits either way).
void decode_pos(const unsigned char* src, IonIndex count, float* x, float* y, float* z, float* mq);
void encode_epos(const HostIonCloud& cloud, IonIndex first, IonIndex count, unsigned char* dst);

// ---- APT as aptflow writes it (apt.cpp): file header, Position (172-byte
// header with the bounding box), Mass and, with extras, tof, Voltage, Pulse
// Voltage, XDet_mm, YDet_mm, Multiplicity, Pulse Delta; section k's records
// start at data_at[k].
struct AptLayout {
  int sections = 0;
  std::uint64_t header_at[9] = {}, data_at[9] = {};
  std::uint64_t total = 0;  // file size
};
AptLayout apt_layout(IonIndex n, bool extras);
std::uint64_t apt_record_bytes(int section);
void write_apt_headers(ByteSink& out, const std::string& path, IonIndex n, bool extras, const float box[6]);
// Records of section k for ions [first, first + count) of c.
void encode_apt_section(int section, const HostIonCloud& c, IonIndex first, IonIndex count,
                        unsigned char* dst);
// Grow the bounding box (min x, y, z, max x, y, z) by the finite positions of c.
void apt_box_update(const HostIonCloud& c, float box[6], bool& have);

// Plausibility of sampled records for detection (see detect_format): empty
// string when plausible, else the first reason found.
std::string pos_plausible(const unsigned char* data, std::uint64_t records);
std::string epos_plausible(const unsigned char* data, std::uint64_t records);

// Ranges of plausible point-cloud values shared by the detectors.
constexpr float kMaxAbsPositionNm = 1e5f;        // 100 um: any specimen is far smaller
constexpr float kMaxMassToCharge = 1e4f;         // Da
constexpr float kMinMassToCharge = -100.f;       // Da: calibrated noise may fall a little below 0
constexpr float kMinSpreadNm = 0.01f;            // x, y and z must each vary by more than this
constexpr std::uint64_t kSpreadMinRecords = 16;  // ... when at least this many records are sampled
// Real files hold a few records with NaN/Inf (ReadOptions::nonfinite decides
// what to do with them): up to this fraction of the sampled records may be
// non-finite; the others must be plausible.
constexpr double kMaxNonfiniteFraction = 0.1;
inline bool too_many_nonfinite(std::uint64_t nonfinite, std::uint64_t records) {
  return nonfinite > 0 &&
         (nonfinite == records || static_cast<double>(nonfinite) > kMaxNonfiniteFraction * records);
}

// Marks of a record stream decoded in the wrong layout (EPOS read as POS puts
// the integer words and the detector / position fields into the m/q column):
// more than 5% of the sampled m/q values below 0, more than 1% of the
// records exactly (0, 0, 0, 0), or more than 1% of the values subnormal
// (small integers read as floats). Counted over at least kSpreadMinRecords.
struct LayoutMarks {
  std::uint64_t n = 0, negative_mq = 0, zero_records = 0, subnormal = 0;
  void add(std::uint32_t bx, std::uint32_t by, std::uint32_t bz, std::uint32_t bm, float m) {
    ++n;
    negative_mq += m < 0.f;
    zero_records += ((bx | by | bz | bm) & 0x7fffffffu) == 0;
    for (std::uint32_t b : {bx, by, bz, bm}) subnormal += (b & 0x7f800000u) == 0 && (b & 0x007fffffu) != 0;
  }
  // Empty when the sample looks like one layout, else the reason.
  std::string why_not() const;
};

// Spread check over sampled positions: true when x, y and z each span more
// than kMinSpreadNm (or fewer than kSpreadMinRecords records were sampled).
struct SpreadCheck {
  float lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
  std::uint64_t n = 0;
  void add(float x, float y, float z) {
    const float v[3] = {x, y, z};
    for (int k = 0; k < 3; ++k) {
      if (n == 0 || v[k] < lo[k]) lo[k] = v[k];
      if (n == 0 || v[k] > hi[k]) hi[k] = v[k];
    }
    ++n;
  }
  bool ok() const {
    if (n < kSpreadMinRecords) return true;
    for (int k = 0; k < 3; ++k)
      if (!(hi[k] - lo[k] > kMinSpreadNm)) return false;
    return true;
  }
};

// Shared by the record detectors (POS, EPOS, ATO): empty when record r's
// decoded position and m/q lie in the plausible ranges above, else the reason.
std::string implausible_record(std::uint64_t r, float x, float y, float z, float m);
// The verdict over a whole sample after the per-record checks: too many
// non-finite records or no spread, else empty.
std::string implausible_sample(std::uint64_t nonfinite, std::uint64_t records, const SpreadCheck& spread);

// Big-endian / little-endian loads.
inline std::uint32_t load_be_u32(const unsigned char* p) {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return __builtin_bswap32(w);
}
inline std::uint32_t load_le_u32(const unsigned char* p) {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
inline void store_be_u32(unsigned char* p, std::uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
inline float load_be_float(const unsigned char* p) { return std::bit_cast<float>(load_be_u32(p)); }
inline void store_be_float(unsigned char* p, float v) { store_be_u32(p, std::bit_cast<std::uint32_t>(v)); }
inline float bits_float(std::uint32_t w) {
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}

// Collective HDF5 point-cloud writer used by CloudWriter (h5cloud.cpp).
class H5CloudSink {
 public:
  virtual ~H5CloudSink() = default;
  virtual void append(const HostIonCloud& local) = 0;  // collective when parallel
  virtual void close() = 0;
};
std::unique_ptr<H5CloudSink> make_h5_sink(const std::string& path, MPI_Comm comm, bool extras,
                                          const RangeTable* ranges);
// ---- NeXus NXapm (nxapm.cpp) and Cameca HDF5 ranging
// The group aptflow writes its point cloud to.
constexpr const char* kNxapmGroup = "/entry1/atom_probe";
// Create /entry1 (NXentry, definition NXapm), atom_probe (NXroi_process),
// reconstruction, mass_to_charge_conversion and, with ranging, ranging/
// peak_identification, each with its NX_class attribute (collective).
void nxapm_groups(const h5::File& f, bool ranging);
// Write the ranging definitions of t into <ranging_group>/peak_identification:
// ion0 (unranged) and ion<k> for ion type k-1 (nuclide_hash, charge_state 0,
// mass_to_charge_range, name), number_of_ion_types, ... (collective).
void write_nxapm_ranging(const h5::File& f, const std::string& ranging_group, const RangeTable& t);
// The NXapm point clouds of a file: /<entry>/<atom_probe*> groups with positions and m/q.
std::vector<std::string> nxapm_clouds(const h5::File& f);
// Ranging definitions of an NXapm cloud group / of a Cameca file's /ranges;
// std::nullopt when there are none.
std::optional<RangeTable> read_nxapm_ranges(const h5::File& f, const std::string& cloud_group,
                                            const RangeOptions& opt);
std::optional<RangeTable> read_cameca_ranges(const h5::File& f, const RangeOptions& opt);
// The ranging a point-cloud file holds (read_h5_ranges with options).
std::optional<RangeTable> read_dataset_ranges(const std::string& path, const RangeOptions& opt);

// NeXus NXapm writer (nxapm.cpp): positions, m/q and, with ranges, the ranging
// definitions and iontypes (species of the appended clouds).
std::unique_ptr<H5CloudSink> make_nxapm_sink(const std::string& path, MPI_Comm comm,
                                             const RangeTable* ranges);

// A float is NaN or infinite iff all exponent bits are set.
inline bool nonfinite_bits(std::uint32_t bits) { return (bits & 0x7f800000u) == 0x7f800000u; }

}  // namespace aptflow::io::detail
