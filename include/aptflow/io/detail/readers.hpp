#pragma once
// Internals of aptflow/io/dataset.hpp: one reader per format behind a small
// block interface (a virtual call per block of ions, never per ion), raw file
// access with errors that name file and byte offset, and the byte encoders.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/io/dataset.hpp"

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

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// Writable file (create/truncate), large unbuffered pwrite()s; ResourceError on failure.
class OutFile {
 public:
  explicit OutFile(const std::string& path);
  ~OutFile();
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  void write_at(std::uint64_t offset, const void* src, std::uint64_t n);
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
  // Decode ions [first, first + count) into out[at, at + count): x, y, z, mq,
  // species (0 unless stored) and, when has_extras() and out has extras
  // allocated, the extras (fields the file lacks become 0).
  virtual void read(IonIndex first, IonIndex count, HostIonCloud& out, IonIndex at) = 0;
};

std::unique_ptr<IonReader> open_pos_reader(const std::string& path);
std::unique_ptr<IonReader> open_epos_reader(const std::string& path);
std::unique_ptr<IonReader> open_apt_reader(const std::string& path);
std::unique_ptr<IonReader> open_h5_reader(const std::string& path);
std::unique_ptr<IonReader> open_reader(const std::string& path, Format format);

constexpr std::uint64_t kPosRecord = 16;
constexpr std::uint64_t kEposRecord = 44;

// Big-endian encoders of ions [first, first + count) into dst
// (count * kPosRecord / kEposRecord bytes). EPOS extras are zeros when the
// cloud has none.
void encode_pos(const HostIonCloud& cloud, IonIndex first, IonIndex count, unsigned char* dst);
void encode_epos(const HostIonCloud& cloud, IonIndex first, IonIndex count, unsigned char* dst);

// Plausibility of the first records for detection (see detect_format).
bool pos_plausible(const unsigned char* data, std::uint64_t records);
bool epos_plausible(const unsigned char* data, std::uint64_t records);

// Collective HDF5 point-cloud writer used by CloudWriter (h5cloud.cpp).
class H5CloudSink {
 public:
  virtual ~H5CloudSink() = default;
  virtual void append(const HostIonCloud& local) = 0;  // collective when parallel
  virtual void close() = 0;
};
std::unique_ptr<H5CloudSink> make_h5_sink(const std::string& path, MPI_Comm comm, bool extras,
                                          const RangeTable* ranges);

// A float is NaN or infinite iff all exponent bits are set.
inline bool nonfinite_bits(std::uint32_t bits) { return (bits & 0x7f800000u) == 0x7f800000u; }

}  // namespace aptflow::io::detail
