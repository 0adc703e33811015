#pragma once
// Front end for APT point-cloud files: POS, EPOS, AP Suite APT (v6) and the
// aptflow HDF5 point cloud. One set of functions reads any of them (format
// detected from the content), whole, by ion range, chunk by chunk (files
// larger than memory) or split over MPI ranks; writers store POS, EPOS,
// APT and HDF5, serially or collectively. docs/file-formats.md describes the
// layouts and the detection rule.
//
// All counts and offsets are 64-bit. Bad input raises aptflow::InputError
// naming the file, the byte offset where known, what is wrong and what to do.
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/range_table.hpp"

namespace aptflow::io {

enum class Format { pos, epos, apt, h5 };
// "pos", "epos", "apt", "h5".
std::string_view format_name(Format format);
// Inverse of format_name (also accepts "hdf5"); ConfigError(key) when unknown.
Format parse_format(std::string_view name, const std::string& key = "format");

// Format from the file's content:
//  1. HDF5 signature (\x89HDF\r\n\x1a\n) at byte 0 -> h5
//  2. "APT\0" at byte 0 -> apt
//  3. otherwise raw big-endian records: POS (16 bytes per ion) or EPOS (44).
//     Only one record size divides the file size -> that format, unless its
//     first records are implausible and the extension names the other format
//     (then the size error of the extension's format is raised).
//     Both divide (size a multiple of 176) -> the plausibility of the first
//     4096 records decides (EPOS: finite floats and multiplicity <= 65536;
//     POS: finite, |x|,|y|,|z| <= 1e6 nm, 0 <= m/q <= 1e4 Da); if both or
//     neither are plausible the extension (.pos/.epos) decides, else EPOS.
//     Neither divides -> InputError (truncated file).
// Missing, empty, unreadable files and directories raise InputError.
Format detect_format(const std::string& path);

struct DatasetInfo {
  std::string path;
  Format format = Format::pos;
  IonIndex ions = 0;
  std::uint64_t bytes = 0;  // file size
  bool has_extras = false;  // EPOS/APT per-ion extras present
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
// else as zeros. Species are kept by the HDF5 layout only.
void write_pos(const std::string& path, const HostIonCloud& cloud);
void write_epos(const std::string& path, const HostIonCloud& cloud);
// aptflow HDF5 point cloud; ranges (optional) are stored in /ranges.
void write_h5_cloud(const std::string& path, const HostIonCloud& cloud, const RangeTable* ranges = nullptr);
// AP Suite APT v6 with sections Position (with bounding box), Mass and, when
// the cloud has extras, tof, Voltage, XDet_mm, YDet_mm, Multiplicity,
// pulseDelta (pulse voltage has no APT section and is not written).
void write_apt(const std::string& path, const HostIonCloud& cloud);
// Dispatch on format.
void write_dataset(const std::string& path, Format format, const HostIonCloud& cloud,
                   const RangeTable* ranges = nullptr);

// The range table stored in an aptflow HDF5 point cloud, if it has one.
std::optional<RangeTable> read_h5_ranges(const std::string& path);

// Streaming writer for POS, EPOS and HDF5 (not APT: its sections need the
// total up front): data larger than memory is appended block by block.
// With comm != MPI_COMM_NULL every call is collective over comm and the
// blocks that the ranks pass to one append() are stored one after the other
// in rank order (MPI_File_write_at_all / collective HDF5 hyperslab writes):
// synthetic specimens are written slab by slab on all ranks.
class CloudWriter {
 public:
  // extras (HDF5 only): also store the per-ion extras (every appended cloud
  // must then have them). ranges (HDF5 only): stored in /ranges at close.
  CloudWriter(const std::string& path, Format format, MPI_Comm comm = MPI_COMM_NULL, bool extras = false,
              const RangeTable* ranges = nullptr);
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
