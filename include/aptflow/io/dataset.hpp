#pragma once
// Front end for APT point-cloud files: POS, EPOS, AP Suite APT (v6), ATO
// (v3 LAWATAP, v5 GPM), text (x, y, z, m/q), aptflow's HDF5 point cloud,
// NeXus NXapm and Cameca's HDF5 export. One set of functions reads any of
// them (format detected from the content), whole, by ion range, chunk by
// chunk (files larger than memory) or split over MPI ranks; writers store
// POS, EPOS, APT, text, aptflow HDF5 and NXapm, serially or collectively.
// docs/file-formats.md describes the layouts and the detection rule.
//
// All counts and offsets are 64-bit. Bad input raises aptflow::InputError
// naming the file, the byte offset (or line) where known, what is wrong and
// what to do.
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/range_table.hpp"

namespace aptflow::io {

enum class Format { pos, epos, apt, h5, ato, text, nxapm, cameca };
// "pos", "epos", "apt", "h5", "ato", "text", "nxapm", "cameca".
std::string_view format_name(Format format);
// Inverse of format_name; also accepts "hdf5", "csv", "txt", "nexus", "nxs",
// "cameca-h5" (any case). ConfigError(key) when unknown.
Format parse_format(std::string_view name, const std::string& key = "format");
// "pos, epos, apt, ato, text, h5, nxapm, cameca" (for messages).
std::string format_list();
// Formats with a writer: pos, epos, apt, text, h5, nxapm.
bool format_writable(Format format);
// Output format named by a file name's extension (.pos, .epos, .apt, .csv,
// .txt, .h5/.hdf5, .nxs/.nx5); std::nullopt for any other.
std::optional<Format> format_from_extension(const std::string& path);

// Format from the file's content, never from the name alone:
//  1. the HDF5 signature at byte 0: the layout inside decides between h5
//     (aptflow-ions), nxapm (an NXentry with atom_probe*/reconstruction) and
//     cameca (/xyz and /mass);
//  2. "APT\0" at byte 0 -> apt;
//  3. otherwise every headerless reading is tried, each with its own
//     signature or plausibility check (docs/file-formats.md): ATO (version
//     word, size, plausible records in one byte order), text (printable,
//     lines of >= 4 numbers), POS (16 | size, finite values, |x|,|y|,|z| <=
//     1e5 nm, 0 <= m/q <= 1e4 Da, a real position spread), EPOS (44 | size,
//     the same plus the integer fields).
// Exactly one fitting format is returned. None, or more than one, is an
// InputError naming the candidates and the --format option
// (ReadOptions::format) that forces one. Missing, empty, unreadable files
// and directories raise InputError.
Format detect_format(const std::string& path);

struct DatasetInfo {
  std::string path;
  Format format = Format::pos;
  IonIndex ions = 0;
  std::uint64_t bytes = 0;  // file size
  bool has_extras = false;  // EPOS/APT/ATO per-ion extras present
  // What the file holds, one line per section / dataset / column, e.g. APT
  // "Position (float32 x3, nm)", "pulseDelta (int16): pulse-number correction, not read".
  std::vector<std::string> sections;
};
// Cheap: reads the header (or the HDF5 dataset shapes) and the file size only.
// format: skip detection and use this format.
DatasetInfo probe_dataset(const std::string& path, std::optional<Format> format = std::nullopt);

// What to do with ions whose x, y, z or m/q is NaN or infinite.
enum class NonFinite {
  error,  // InputError at the first bad record, with the number of bad records
  drop    // leave them out and count them in ReadStats
};

struct ReadOptions {
  NonFinite nonfinite = NonFinite::error;
  IonIndex chunk_ions = IonIndex{1} << 22;  // ions per block (for_each_chunk, I/O buffer size)
  std::optional<Format> format;             // force a format instead of detect_format
};

struct ReadStats {
  IonIndex nonfinite = 0;  // records with a NaN/Inf in x, y, z or m/q
  IonIndex dropped = 0;    // records left out (NonFinite::drop)
};

// One opened dataset: the format is detected (or forced) and the header
// parsed once; ranges of ions are then read without reopening the file.
// Not thread-safe (one reader per thread).
class DatasetReader {
 public:
  explicit DatasetReader(const std::string& path, const ReadOptions& opts = {});
  ~DatasetReader();
  DatasetReader(DatasetReader&&) noexcept;
  DatasetReader& operator=(DatasetReader&&) noexcept;

  const DatasetInfo& info() const;
  IonIndex size() const;
  // Ions [first, first + count) (InputError when the file has fewer). Non-
  // finite records follow opts.nonfinite; with NonFinite::error the first
  // one raises at once. Counts are added to stats (optional).
  HostIonCloud read(IonIndex first, IonIndex count, ReadStats* stats = nullptr);
  // The same into `buf` (re-allocated only when it is too small or lacks the
  // extras this file has); returns the number of ions kept, stored at
  // buf[0, kept). The buffer's views keep their extent.
  IonIndex read_into(IonIndex first, IonIndex count, HostIonCloud& buf, ReadStats* stats = nullptr);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Whole file. stats (optional) receives the counts of this call.
HostIonCloud read_dataset(const std::string& path, const ReadOptions& opts = {}, ReadStats* stats = nullptr);
// Ions [first, first + count) of the file (InputError when the file has fewer).
HostIonCloud read_dataset_range(const std::string& path, IonIndex first, IonIndex count,
                                const ReadOptions& opts = {}, ReadStats* stats = nullptr);
// Visit the file in blocks of opts.chunk_ions ions; first_ion is the file
// index of the block's first record (dropped records leave the chunk shorter).
// The chunk's storage is reused: copy what you keep. With NonFinite::error
// the chunk holding the first bad record is not delivered.
void for_each_chunk(const std::string& path, const ReadOptions& opts,
                    const std::function<void(const HostIonCloud& chunk, IonIndex first_ion)>& visit,
                    ReadStats* stats = nullptr);
// Collective over comm: rank r of p reads the ions [n*r/p, n*(r+1)/p) of one
// file (POSIX pread / HDF5 independent reads, in parallel). Errors on any
// rank are raised on every rank (the lowest failing rank's error); stats are
// summed over ranks; first_ion (optional) gets this rank's first file index.
HostIonCloud read_dataset_mpi(MPI_Comm comm, const std::string& path, const ReadOptions& opts = {},
                              ReadStats* stats = nullptr, IonIndex* first_ion = nullptr);

// ---- writers (ResourceError when the file cannot be written)
// EPOS/APT extras are written from cloud.extras when cloud.has_extras(),
// else as zeros. Species are kept by the HDF5 and NXapm layouts only.
void write_pos(const std::string& path, const HostIonCloud& cloud);
void write_epos(const std::string& path, const HostIonCloud& cloud);
// aptflow HDF5 point cloud; ranges (optional) are stored in /ranges.
void write_h5_cloud(const std::string& path, const HostIonCloud& cloud, const RangeTable* ranges = nullptr);
// AP Suite APT v6 in Cameca's section names and types: Position (3 x
// float32 nm, bounding box in its 172-byte header), Mass and, when the cloud
// has extras, tof (ns), Voltage and Pulse Voltage (V), XDet_mm, YDet_mm,
// Multiplicity and Pulse Delta (int32).
void write_apt(const std::string& path, const HostIonCloud& cloud);
// NeXus NXapm (docs/file-formats.md): reconstructed positions, mass-to-charge
// and, with ranges, the ranging definitions (nuclide_hash, charge_state 0,
// mass_to_charge_range) and the iontypes of every ion.
void write_nxapm(const std::string& path, const HostIonCloud& cloud, const RangeTable* ranges = nullptr);
// Text: a header line "x,y,z,mq" then one line per ion, comma-separated,
// shortest decimal form that reads back to the same float.
void write_text(const std::string& path, const HostIonCloud& cloud);
// Dispatch on format (ConfigError for a format without a writer).
void write_dataset(const std::string& path, Format format, const HostIonCloud& cloud,
                   const RangeTable* ranges = nullptr);

// The range table stored in a point-cloud file, if it has one: aptflow
// HDF5 /ranges, NXapm ranging/peak_identification, Cameca /ranges/range_N.
// std::nullopt for files without one (and for formats that cannot hold one).
std::optional<RangeTable> read_h5_ranges(const std::string& path);

// Streaming writer for POS, EPOS, text, HDF5, NXapm and APT (APT needs the
// total ion count up front: pass it as `total`): data larger than memory is
// appended block by block.
// With comm != MPI_COMM_NULL every call is collective over comm and the
// blocks that the ranks pass to one append() are stored one after the other
// in rank order (MPI_File_write_at_all / collective HDF5 hyperslab writes):
// synthetic specimens are written slab by slab on all ranks.
class CloudWriter {
 public:
  // extras (HDF5, NXapm, APT): also store the per-ion extras (every appended
  // cloud must then have them). ranges (HDF5, NXapm): stored at close; with
  // ranges the species of the appended clouds are stored too.
  // total (APT only, required there): the number of ions that will be appended.
  CloudWriter(const std::string& path, Format format, MPI_Comm comm = MPI_COMM_NULL, bool extras = false,
              const RangeTable* ranges = nullptr, IonIndex total = -1);
  ~CloudWriter();  // closes without throwing; call close() to see errors
  CloudWriter(const CloudWriter&) = delete;
  CloudWriter& operator=(const CloudWriter&) = delete;

  void append(const HostIonCloud& local);
  // POS and EPOS: this rank's ions go to file records [first, first + n)
  // (collective with comm: the ranks' ranges are disjoint; a rank may pass
  // none), so that data made in rounds keeps a layout independent of the
  // number of ranks (synthetic specimens). Do not mix with append().
  void write_at(IonIndex first, const HostIonCloud& local);
  // Ions written so far (all ranks together).
  IonIndex written() const;
  void close();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace aptflow::io
