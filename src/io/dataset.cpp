// Front end of the point-cloud readers and writers: format detection, block
// reading with non-finite handling, chunked and MPI reading, streaming writers.
#include "aptflow/io/dataset.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/io/detail/readers.hpp"
#include "aptflow/io/h5.hpp"

namespace aptflow::io {

namespace detail {

// ------------------------------------------------------------------ raw files
RawFile::RawFile(const std::string& path) : path_(path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) throw InputError(path, "file does not exist: check the path");
    throw InputError(path, fmt::format("cannot access the file ({}): check the path and permissions",
                                       std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode))
    throw InputError(path, "is a directory, not a data file: pass the path of a POS, EPOS, APT or HDF5 file");
  if (!S_ISREG(st.st_mode))
    throw InputError(path, "is not a regular file (device, pipe or socket): pass a data file on disk");
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    if (errno == EACCES)
      throw InputError(path, "no read permission: fix the file's permissions (chmod +r) or run as its owner");
    throw InputError(
        path, fmt::format("cannot open the file ({}): check the path and permissions", std::strerror(errno)));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

RawFile::~RawFile() {
  if (map_) ::munmap(const_cast<unsigned char*>(map_), static_cast<std::size_t>(size_));
  if (fd_ >= 0) ::close(fd_);
}

const unsigned char* RawFile::mapped() const {
  if (!map_tried_) {
    map_tried_ = true;
    if (size_ > 0) {
      void* p = ::mmap(nullptr, static_cast<std::size_t>(size_), PROT_READ, MAP_PRIVATE, fd_, 0);
      if (p != MAP_FAILED) map_ = static_cast<const unsigned char*>(p);
    }
  }
  return map_;
}

void RawFile::read_at(std::uint64_t offset, std::uint64_t n, void* dst) const {
  auto* p = static_cast<unsigned char*>(dst);
  std::uint64_t done = 0;
  while (done < n) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n - done, 1ull << 30));
    ssize_t got = ::pread(fd_, p + done, want, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw InputError::at_byte(
          path_, static_cast<std::int64_t>(offset + done),
          fmt::format("read failed ({}): check the disk or file system", std::strerror(errno)));
    }
    if (got == 0)
      throw InputError::at_byte(
          path_, static_cast<std::int64_t>(offset + done),
          fmt::format("file ends early: {} more bytes expected (file truncated while being "
                      "read?): check the file",
                      n - done));
    done += static_cast<std::uint64_t>(got);
  }
}

OutFile::OutFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw ResourceError(
        fmt::format("cannot create '{}' ({}): check that the directory exists and is writable", path,
                    std::strerror(errno)));
}

OutFile::~OutFile() {
  if (fd_ >= 0) ::close(fd_);
}

void OutFile::write_at(std::uint64_t offset, const void* src, std::uint64_t n) {
  const auto* p = static_cast<const unsigned char*>(src);
  std::uint64_t done = 0;
  while (done < n) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n - done, 1ull << 30));
    ssize_t put = ::pwrite(fd_, p + done, want, static_cast<off_t>(offset + done));
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0)
      throw ResourceError(fmt::format("writing '{}' at byte {} failed ({}): check free disk space", path_,
                                      offset + done, put < 0 ? std::strerror(errno) : "no progress"));
    done += static_cast<std::uint64_t>(put);
  }
}

void OutFile::close() {
  if (fd_ < 0) return;
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0)
    throw ResourceError(
        fmt::format("closing '{}' failed ({}): check free disk space", path_, std::strerror(errno)));
}

std::unique_ptr<IonReader> open_reader(const std::string& path, Format format) {
  switch (format) {
    case Format::pos:
      return open_pos_reader(path);
    case Format::epos:
      return open_epos_reader(path);
    case Format::apt:
      return open_apt_reader(path);
    case Format::h5:
      return open_h5_reader(path);
    case Format::ato:
      return open_ato_reader(path);
    case Format::text:
      return open_text_reader(path);
    case Format::nxapm:
      return open_nxapm_reader(path);
    case Format::cameca:
      return open_cameca_reader(path);
  }
  throw InternalError("open_reader: unknown format");
}

}  // namespace detail

using detail::IonReader;

DatasetInfo probe_dataset(const std::string& path, std::optional<Format> format) {
  const Format f = format ? *format : detect_format(path);
  auto r = detail::open_reader(path, f);
  DatasetInfo info;
  info.path = path;
  info.format = f;
  info.ions = r->size();
  info.bytes = r->file_bytes();
  info.has_extras = r->has_extras();
  info.sections = r->sections();
  return info;
}

// ------------------------------------------------------------------ reading
namespace {

struct Scan {
  IonIndex nonfinite = 0;
  IonIndex first_bad = -1;  // file index of the first bad record
};

void check_chunk(const ReadOptions& opts) {
  if (opts.chunk_ions <= 0)
    throw ConfigError("chunk_ions", fmt::format("must be positive, got {}", opts.chunk_ions));
}

std::unique_ptr<IonReader> open_for(const std::string& path, const ReadOptions& opts) {
  return detail::open_reader(path, opts.format ? *opts.format : detect_format(path));
}

inline bool bad(float v) { return detail::nonfinite_bits(std::bit_cast<std::uint32_t>(v)); }

// Drop the records of out[at, at + n) with a NaN/Inf in x, y, z or m/q
// (in place, order kept); returns the number kept.
IonIndex filter_block(HostIonCloud& out, IonIndex at, IonIndex n, IonIndex file_first, Scan& scan) {
  const float* x = out.x.data() + at;
  const float* y = out.y.data() + at;
  const float* z = out.z.data() + at;
  const float* m = out.mq.data() + at;
  IonIndex count = 0;
  for (IonIndex i = 0; i < n; ++i) count += (bad(x[i]) | bad(y[i]) | bad(z[i]) | bad(m[i])) ? 1 : 0;
  if (count == 0) return n;
  const bool extras = out.extras.tof.extent(0) > 0;
  auto& e = out.extras;
  IonIndex w = at;
  for (IonIndex i = at; i < at + n; ++i) {
    if (bad(out.x(i)) || bad(out.y(i)) || bad(out.z(i)) || bad(out.mq(i))) {
      if (scan.first_bad < 0) scan.first_bad = file_first + (i - at);
      continue;
    }
    if (w != i) {
      out.x(w) = out.x(i);
      out.y(w) = out.y(i);
      out.z(w) = out.z(i);
      out.mq(w) = out.mq(i);
      out.species(w) = out.species(i);
      if (extras) {
        e.tof(w) = e.tof(i);
        e.v_dc(w) = e.v_dc(i);
        e.v_pulse(w) = e.v_pulse(i);
        e.x_det(w) = e.x_det(i);
        e.y_det(w) = e.y_det(i);
        e.pulses_since_last(w) = e.pulses_since_last(i);
        e.multiplicity(w) = e.multiplicity(i);
      }
    }
    ++w;
  }
  scan.nonfinite += count;
  return w - at;
}

InputError nonfinite_error(const IonReader& r, const std::string& path, const Scan& scan) {
  std::string reason = fmt::format(
      "{} record(s) with NaN or Inf in x, y, z or m/q (the first is ion {}): drop them with ReadOptions "
      "nonfinite = drop (CLI: --drop-nonfinite) or repair the file",
      scan.nonfinite, scan.first_bad);
  const std::int64_t line = r.line_of(scan.first_bad);
  if (line > 0) return InputError::at_line(path, line, reason);
  const std::int64_t at = r.byte_offset_of(scan.first_bad);
  if (at < 0) return InputError(path, reason);
  return InputError::at_byte(path, at, reason);
}

void shrink(HostIonCloud& c, IonIndex n) {
  Kokkos::resize(c.x, n);
  Kokkos::resize(c.y, n);
  Kokkos::resize(c.z, n);
  Kokkos::resize(c.mq, n);
  Kokkos::resize(c.species, n);
  if (c.extras.tof.extent(0) > 0) {
    auto& e = c.extras;
    Kokkos::resize(e.tof, n);
    Kokkos::resize(e.v_dc, n);
    Kokkos::resize(e.v_pulse, n);
    Kokkos::resize(e.x_det, n);
    Kokkos::resize(e.y_det, n);
    Kokkos::resize(e.pulses_since_last, n);
    Kokkos::resize(e.multiplicity, n);
  }
}

HostIonCloud allocate_for(const IonReader& r, IonIndex n) {
  try {
    HostIonCloud c(n, "aptflow::io::ions");
    if (r.has_extras()) c.allocate_extras("aptflow::io::ions");
    return c;
  } catch (const std::exception& e) {
    throw ResourceError(
        fmt::format("cannot allocate memory for {} ions ({}): read the file in chunks "
                    "(for_each_chunk / read_dataset_range) or use more ranks",
                    n, e.what()));
  }
}

// Read ions [first, first + count), dropping non-finite records (counted in scan).
HostIonCloud read_range_scan(IonReader& r, const std::string& path, IonIndex first, IonIndex count,
                             const ReadOptions& opts, Scan& scan) {
  check_chunk(opts);
  if (first < 0 || count < 0 || first > r.size() || count > r.size() - first)
    throw InputError(path, fmt::format("ions [{}, {}) requested but the file holds {} ions: check the range",
                                       first, first + count, r.size()));
  HostIonCloud out = allocate_for(r, count);
  IonIndex w = 0;
  for (IonIndex done = 0; done < count; done += opts.chunk_ions) {
    const IonIndex n = std::min(opts.chunk_ions, count - done);
    r.read(first + done, n, out, w);
    w += filter_block(out, w, n, first + done, scan);
  }
  if (w < count) shrink(out, w);
  return out;
}

void finish(const IonReader& r, const std::string& path, const ReadOptions& opts, const Scan& scan,
            ReadStats* stats) {
  if (stats) {
    stats->nonfinite = scan.nonfinite;
    stats->dropped = opts.nonfinite == NonFinite::drop ? scan.nonfinite : 0;
  }
  if (scan.nonfinite > 0 && opts.nonfinite == NonFinite::error) throw nonfinite_error(r, path, scan);
}

// A view of the first n ions of c (no copy).
HostIonCloud prefix(const HostIonCloud& c, IonIndex n) {
  if (n == c.size()) return c;
  HostIonCloud p;
  p.x = decltype(p.x)(c.x.data(), n);
  p.y = decltype(p.y)(c.y.data(), n);
  p.z = decltype(p.z)(c.z.data(), n);
  p.mq = decltype(p.mq)(c.mq.data(), n);
  p.species = decltype(p.species)(c.species.data(), n);
  if (c.extras.tof.extent(0) > 0) {
    const auto& e = c.extras;
    p.extras.tof = decltype(e.tof)(e.tof.data(), n);
    p.extras.v_dc = decltype(e.v_dc)(e.v_dc.data(), n);
    p.extras.v_pulse = decltype(e.v_pulse)(e.v_pulse.data(), n);
    p.extras.x_det = decltype(e.x_det)(e.x_det.data(), n);
    p.extras.y_det = decltype(e.y_det)(e.y_det.data(), n);
    p.extras.pulses_since_last = decltype(e.pulses_since_last)(e.pulses_since_last.data(), n);
    p.extras.multiplicity = decltype(e.multiplicity)(e.multiplicity.data(), n);
  }
  return p;
}

}  // namespace

HostIonCloud read_dataset_range(const std::string& path, IonIndex first, IonIndex count,
                                const ReadOptions& opts, ReadStats* stats) {
  auto r = open_for(path, opts);
  Scan scan;
  HostIonCloud out = read_range_scan(*r, path, first, count, opts, scan);
  finish(*r, path, opts, scan, stats);
  return out;
}

HostIonCloud read_dataset(const std::string& path, const ReadOptions& opts, ReadStats* stats) {
  auto r = open_for(path, opts);
  Scan scan;
  HostIonCloud out = read_range_scan(*r, path, 0, r->size(), opts, scan);
  finish(*r, path, opts, scan, stats);
  return out;
}

// ------------------------------------------------------------------ DatasetReader
struct DatasetReader::Impl {
  std::string path;
  ReadOptions opts;
  std::unique_ptr<IonReader> r;
  DatasetInfo info;
};

DatasetReader::DatasetReader(const std::string& path, const ReadOptions& opts)
    : impl_(std::make_unique<Impl>()) {
  check_chunk(opts);
  impl_->path = path;
  impl_->opts = opts;
  impl_->info.format = opts.format ? *opts.format : detect_format(path);
  impl_->r = detail::open_reader(path, impl_->info.format);
  auto& info = impl_->info;
  info.path = path;
  info.ions = impl_->r->size();
  info.bytes = impl_->r->file_bytes();
  info.has_extras = impl_->r->has_extras();
  info.sections = impl_->r->sections();
}
DatasetReader::~DatasetReader() = default;
DatasetReader::DatasetReader(DatasetReader&&) noexcept = default;
DatasetReader& DatasetReader::operator=(DatasetReader&&) noexcept = default;

const DatasetInfo& DatasetReader::info() const { return impl_->info; }
IonIndex DatasetReader::size() const { return impl_->info.ions; }

HostIonCloud DatasetReader::read(IonIndex first, IonIndex count, ReadStats* stats) {
  Scan scan;
  HostIonCloud out = read_range_scan(*impl_->r, impl_->path, first, count, impl_->opts, scan);
  if (stats) {
    stats->nonfinite += scan.nonfinite;
    if (impl_->opts.nonfinite == NonFinite::drop) stats->dropped += scan.nonfinite;
  }
  if (scan.nonfinite > 0 && impl_->opts.nonfinite == NonFinite::error)
    throw nonfinite_error(*impl_->r, impl_->path, scan);
  return out;
}

IonIndex DatasetReader::read_into(IonIndex first, IonIndex count, HostIonCloud& buf, ReadStats* stats) {
  auto& r = *impl_->r;
  if (first < 0 || count < 0 || first > r.size() || count > r.size() - first)
    throw InputError(impl_->path,
                     fmt::format("ions [{}, {}) requested but the file holds {} ions: check the range", first,
                                 first + count, r.size()));
  const bool need_extras = r.has_extras();
  if (buf.size() < count || (need_extras && buf.extras.tof.extent(0) < buf.x.extent(0)) ||
      (!need_extras && buf.extras.tof.extent(0) > 0)) {
    buf = allocate_for(r, std::max<IonIndex>(count, buf.size()));
  }
  Scan scan;
  IonIndex kept = 0;
  for (IonIndex done = 0; done < count; done += impl_->opts.chunk_ions) {
    const IonIndex n = std::min(impl_->opts.chunk_ions, count - done);
    r.read(first + done, n, buf, kept);
    kept += filter_block(buf, kept, n, first + done, scan);
  }
  if (stats) {
    stats->nonfinite += scan.nonfinite;
    if (impl_->opts.nonfinite == NonFinite::drop) stats->dropped += scan.nonfinite;
  }
  if (scan.nonfinite > 0 && impl_->opts.nonfinite == NonFinite::error)
    throw nonfinite_error(r, impl_->path, scan);
  return kept;
}

void for_each_chunk(const std::string& path, const ReadOptions& opts,
                    const std::function<void(const HostIonCloud& chunk, IonIndex first_ion)>& visit,
                    ReadStats* stats) {
  check_chunk(opts);
  auto r = open_for(path, opts);
  const IonIndex n = r->size();
  HostIonCloud buf = allocate_for(*r, std::min(n, opts.chunk_ions));
  Scan scan;
  for (IonIndex done = 0; done < n; done += opts.chunk_ions) {
    const IonIndex c = std::min(opts.chunk_ions, n - done);
    r->read(done, c, buf, 0);
    const IonIndex kept = filter_block(buf, 0, c, done, scan);
    if (scan.nonfinite > 0 && opts.nonfinite == NonFinite::error) {
      // Count the rest for the message, then fail before delivering this chunk.
      for (IonIndex d = done + c; d < n; d += opts.chunk_ions) {
        const IonIndex c2 = std::min(opts.chunk_ions, n - d);
        r->read(d, c2, buf, 0);
        filter_block(buf, 0, c2, d, scan);
      }
      break;
    }
    visit(prefix(buf, kept), done);
  }
  finish(*r, path, opts, scan, stats);
}

// ------------------------------------------------------------------ MPI reading
HostIonCloud read_dataset_mpi(MPI_Comm comm, const std::string& path, const ReadOptions& opts,
                              ReadStats* stats, IonIndex* first_ion) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::unique_ptr<IonReader> r;
  HostIonCloud out;
  Scan scan;
  IonIndex begin = 0;
  std::exception_ptr err;
  try {
    r = open_for(path, opts);
    const IonIndex n = r->size();
    // n * r / p without 64-bit overflow for any realistic n and p.
    auto split = [&](int k) { return static_cast<IonIndex>((static_cast<__int128>(n) * k) / size); };
    begin = split(rank);
    out = read_range_scan(*r, path, begin, split(rank + 1) - begin, opts, scan);
  } catch (...) {
    err = std::current_exception();
  }
  dist::agree_on_error(comm, err);  // collective: the lowest failing rank's error on every rank
  std::int64_t local[1] = {scan.nonfinite}, total[1] = {0};
  MPI_Allreduce(local, total, 1, MPI_INT64_T, MPI_SUM, comm);
  std::int64_t fb = scan.first_bad < 0 ? std::numeric_limits<std::int64_t>::max() : scan.first_bad, gfb = 0;
  MPI_Allreduce(&fb, &gfb, 1, MPI_INT64_T, MPI_MIN, comm);
  Scan global;
  global.nonfinite = total[0];
  global.first_bad = total[0] > 0 ? gfb : -1;
  if (first_ion) *first_ion = begin;
  finish(*r, path, opts, global, stats);
  return out;
}

// ------------------------------------------------------------------ writers
namespace {
constexpr IonIndex kWriteBlock = IonIndex{1} << 18;  // ions per write call

void check_all(MPI_Comm comm, bool ok, const std::string& what) {
  int mine = ok ? 1 : 0, all = 1;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm);
  if (!all) throw ResourceError(what);
}

// One text line per ion: the shortest decimal form that reads back to the same float.
void encode_text(const HostIonCloud& c, IonIndex first, IonIndex count, std::string& out) {
  out.clear();
  auto it = std::back_inserter(out);
  for (IonIndex i = first; i < first + count; ++i)
    fmt::format_to(it, "{},{},{},{}\n", c.x(i), c.y(i), c.z(i), c.mq(i));
}
constexpr const char* kTextHeader = "x,y,z,mq\n";

// MPI-IO file as a ByteSink for independent writes (APT headers on rank 0).
class MpiSink final : public detail::ByteSink {
 public:
  MpiSink(MPI_File fh, std::string path) : fh_(fh), path_(std::move(path)) {}
  void write_at(std::uint64_t offset, const void* src, std::uint64_t n) override {
    MPI_Status st;
    if (MPI_File_write_at(fh_, static_cast<MPI_Offset>(offset), src, static_cast<int>(n), MPI_BYTE, &st) !=
        MPI_SUCCESS)
      throw ResourceError(
          fmt::format("writing '{}' at byte {} failed: check free disk space", path_, offset));
  }

 private:
  MPI_File fh_;
  std::string path_;
};
}  // namespace

struct CloudWriter::Impl {
  std::string path;
  Format format = Format::pos;
  MPI_Comm comm = MPI_COMM_NULL;
  IonIndex written = 0;
  bool closed = false;
  bool extras = false;
  // byte-stream formats (pos, epos, text, apt)
  std::unique_ptr<detail::OutFile> out;  // serial
  MPI_File fh = MPI_FILE_NULL;           // parallel
  std::vector<unsigned char> buf;
  std::string text;
  std::uint64_t text_bytes = 0;  // text: bytes written so far (all ranks)
  // apt
  IonIndex total = -1;
  detail::AptLayout apt;
  float box[6] = {0, 0, 0, 0, 0, 0};
  bool have_box = false;
  // h5, nxapm
  std::unique_ptr<detail::H5CloudSink> h5;

  int rank() const {
    int r = 0;
    if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &r);
    return r;
  }
  std::uint64_t record() const { return format == Format::pos ? detail::kPosRecord : detail::kEposRecord; }
  void encode(const HostIonCloud& c, IonIndex first, IonIndex n) {
    buf.resize(static_cast<std::size_t>(n) * record());
    if (format == Format::pos)
      detail::encode_pos(c, first, n, buf.data());
    else
      detail::encode_epos(c, first, n, buf.data());
  }
  // This rank writes `bytes` at `at`: serially, or as one collective call of
  // every rank (pieces: the number of calls every rank makes, >= 1).
  bool put(std::uint64_t at, const void* data, std::uint64_t bytes) {
    if (comm == MPI_COMM_NULL) {
      out->write_at(at, data, bytes);
      return true;
    }
    MPI_Status st;
    return MPI_File_write_at_all(fh, static_cast<MPI_Offset>(at), data, static_cast<int>(bytes), MPI_BYTE,
                                 &st) == MPI_SUCCESS;
  }
};

CloudWriter::CloudWriter(const std::string& path, Format format, MPI_Comm comm, bool extras,
                         const RangeTable* ranges, IonIndex total)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.path = path;
  m.format = format;
  m.extras = extras;
  m.total = total;
  if (!format_writable(format))
    throw ConfigError("format",
                      fmt::format("aptflow cannot write {} files: choose pos, epos, apt, text, h5 or nxapm",
                                  format_name(format)));
  if (format == Format::apt && total < 0)
    throw ConfigError(
        "format",
        "the streaming APT writer needs the total ion count up front (its sections are per field): "
        "pass it as CloudWriter's `total`, use write_apt, or choose pos, epos, text, h5 or nxapm");
  if (comm != MPI_COMM_NULL) MPI_Comm_dup(comm, &m.comm);
  if (format == Format::h5 || format == Format::nxapm) {
    m.h5 = format == Format::h5 ? detail::make_h5_sink(path, m.comm, extras, ranges)
                                : detail::make_nxapm_sink(path, m.comm, ranges);
    return;
  }
  if (m.comm == MPI_COMM_NULL) {
    m.out = std::make_unique<detail::OutFile>(path);
  } else {
    // Collective open; truncate whatever was there.
    int rc = MPI_File_open(m.comm, path.c_str(), MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &m.fh);
    check_all(
        m.comm, rc == MPI_SUCCESS,
        fmt::format("cannot create '{}' with MPI-IO: check that the directory exists and is writable", path));
    rc = MPI_File_set_size(m.fh, 0);
    check_all(m.comm, rc == MPI_SUCCESS, fmt::format("cannot truncate '{}' with MPI-IO", path));
  }
  if (format == Format::text) {
    if (m.rank() == 0) {
      if (m.out)
        m.out->write_at(0, kTextHeader, std::strlen(kTextHeader));
      else
        MpiSink(m.fh, path).write_at(0, kTextHeader, std::strlen(kTextHeader));
    }
    m.text_bytes = std::strlen(kTextHeader);
  }
  if (format == Format::apt) m.apt = detail::apt_layout(total, extras);
}

CloudWriter::~CloudWriter() {
  try {
    close();
  } catch (...) {
  }
  if (impl_ && impl_->fh != MPI_FILE_NULL) MPI_File_close(&impl_->fh);
  if (impl_ && impl_->comm != MPI_COMM_NULL) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Comm_free(&impl_->comm);
  }
}

IonIndex CloudWriter::written() const { return impl_->written; }

void CloudWriter::append(const HostIonCloud& local) {
  auto& m = *impl_;
  if (m.closed) throw InternalError(fmt::format("CloudWriter '{}': append after close", m.path));
  const IonIndex n = local.size();
  if (m.h5) {
    m.h5->append(local);
    IonIndex total = n;
    if (m.comm != MPI_COMM_NULL) MPI_Allreduce(&n, &total, 1, MPI_INT64_T, MPI_SUM, m.comm);
    m.written += total;
    return;
  }
  // This rank's block goes after all blocks of lower ranks.
  IonIndex offset = 0, total = n;
  if (m.comm != MPI_COMM_NULL) {
    MPI_Exscan(&n, &offset, 1, MPI_INT64_T, MPI_SUM, m.comm);
    if (m.rank() == 0) offset = 0;  // MPI_Exscan leaves rank 0's result undefined
    MPI_Allreduce(&n, &total, 1, MPI_INT64_T, MPI_SUM, m.comm);
  }
  if (m.format == Format::apt && m.written + total > m.total)
    throw InternalError(fmt::format("CloudWriter '{}': {} ions appended to an APT file announced with {}",
                                    m.path, m.written + total, m.total));
  IonIndex pieces = (n + kWriteBlock - 1) / kWriteBlock, max_pieces = pieces;
  if (m.comm != MPI_COMM_NULL) MPI_Allreduce(&pieces, &max_pieces, 1, MPI_INT64_T, MPI_MAX, m.comm);
  bool ok = true;
  if (m.format == Format::text) {
    // Byte sizes differ per ion: format first, then place the blocks.
    std::uint64_t local_bytes = 0, byte_offset = 0, total_bytes = 0;
    std::vector<std::string> blocks(static_cast<std::size_t>(pieces));
    for (IonIndex p = 0; p < pieces; ++p) {
      const IonIndex first = p * kWriteBlock;
      encode_text(local, first, std::min(kWriteBlock, n - first), blocks[static_cast<std::size_t>(p)]);
      local_bytes += blocks[static_cast<std::size_t>(p)].size();
    }
    total_bytes = local_bytes;
    if (m.comm != MPI_COMM_NULL) {
      MPI_Exscan(&local_bytes, &byte_offset, 1, MPI_UINT64_T, MPI_SUM, m.comm);
      if (m.rank() == 0) byte_offset = 0;
      MPI_Allreduce(&local_bytes, &total_bytes, 1, MPI_UINT64_T, MPI_SUM, m.comm);
    }
    std::uint64_t at = m.text_bytes + byte_offset;
    for (IonIndex p = 0; p < max_pieces; ++p) {
      const std::string empty;
      const std::string& b = p < pieces ? blocks[static_cast<std::size_t>(p)] : empty;
      ok = m.put(at, b.data(), b.size()) && ok;
      at += b.size();
    }
    m.text_bytes += total_bytes;
  } else if (m.format == Format::apt) {
    detail::apt_box_update(local, m.box, m.have_box);
    for (int k = 0; k < m.apt.sections; ++k) {
      const std::uint64_t rec = detail::apt_record_bytes(k);
      for (IonIndex p = 0; p < max_pieces; ++p) {
        const IonIndex first = std::min(p * kWriteBlock, n);
        const IonIndex c = std::min(kWriteBlock, n - first);
        m.buf.resize(static_cast<std::size_t>(c) * rec);
        detail::encode_apt_section(k, local, first, c, m.buf.data());
        ok = m.put(m.apt.data_at[k] + static_cast<std::uint64_t>(m.written + offset + first) * rec,
                   m.buf.data(), m.buf.size()) &&
             ok;
      }
    }
  } else {
    for (IonIndex p = 0; p < max_pieces; ++p) {
      const IonIndex first = std::min(p * kWriteBlock, n);
      const IonIndex c = std::min(kWriteBlock, n - first);
      m.encode(local, first, c);
      ok = m.put(static_cast<std::uint64_t>(m.written + offset + first) * m.record(), m.buf.data(),
                 m.buf.size()) &&
           ok;
    }
  }
  if (m.comm != MPI_COMM_NULL)
    check_all(m.comm, ok, fmt::format("collective write of '{}' failed: check free disk space", m.path));
  m.written += total;
}

void CloudWriter::write_at(IonIndex first, const HostIonCloud& local) {
  auto& m = *impl_;
  if (m.closed) throw InternalError(fmt::format("CloudWriter '{}': write_at after close", m.path));
  if (m.format != Format::pos && m.format != Format::epos)
    throw InternalError(fmt::format("CloudWriter '{}': write_at is for POS and EPOS; append to {} files",
                                    m.path, format_name(m.format)));
  if (first < 0) throw InternalError(fmt::format("CloudWriter '{}': write_at record {}", m.path, first));
  // Pieces of at most kWriteBlock ions, the same number of calls on every rank.
  const IonIndex n = local.size();
  IonIndex total = n, pieces = (n + kWriteBlock - 1) / kWriteBlock, max_pieces = pieces;
  if (m.comm != MPI_COMM_NULL) {
    MPI_Allreduce(&n, &total, 1, MPI_INT64_T, MPI_SUM, m.comm);
    MPI_Allreduce(&pieces, &max_pieces, 1, MPI_INT64_T, MPI_MAX, m.comm);
  }
  bool ok = true;
  for (IonIndex p = 0; p < max_pieces; ++p) {
    const IonIndex at = std::min(p * kWriteBlock, n);
    const IonIndex c = std::min(kWriteBlock, n - at);
    m.encode(local, at, c);
    ok = m.put(static_cast<std::uint64_t>(first + at) * m.record(), m.buf.data(), m.buf.size()) && ok;
  }
  if (m.comm != MPI_COMM_NULL)
    check_all(m.comm, ok, fmt::format("collective write of '{}' failed: check free disk space", m.path));
  m.written += total;
}

void CloudWriter::close() {
  if (!impl_ || impl_->closed) return;
  auto& m = *impl_;
  m.closed = true;
  if (m.h5) {
    m.h5->close();
    return;
  }
  if (m.format == Format::apt) {
    if (m.written != m.total)
      throw InternalError(fmt::format("CloudWriter '{}': {} ions appended to an APT file announced with {}",
                                      m.path, m.written, m.total));
    float lo[3], hi[3];
    for (int k = 0; k < 3; ++k) {
      lo[k] = m.have_box ? m.box[k] : std::numeric_limits<float>::infinity();
      hi[k] = m.have_box ? m.box[3 + k] : -std::numeric_limits<float>::infinity();
    }
    int have = m.have_box ? 1 : 0;
    if (m.comm != MPI_COMM_NULL) {
      MPI_Allreduce(MPI_IN_PLACE, lo, 3, MPI_FLOAT, MPI_MIN, m.comm);   // collective
      MPI_Allreduce(MPI_IN_PLACE, hi, 3, MPI_FLOAT, MPI_MAX, m.comm);   // collective
      MPI_Allreduce(MPI_IN_PLACE, &have, 1, MPI_INT, MPI_MAX, m.comm);  // collective
    }
    float box[6] = {0, 0, 0, 0, 0, 0};
    if (have)
      for (int k = 0; k < 3; ++k) box[k] = lo[k], box[3 + k] = hi[k];
    bool ok = true;
    if (m.rank() == 0) {
      try {
        if (m.out) {
          detail::write_apt_headers(*m.out, m.path, m.total, m.extras, box);
        } else {
          MpiSink sink(m.fh, m.path);
          detail::write_apt_headers(sink, m.path, m.total, m.extras, box);
        }
      } catch (const ResourceError&) {
        if (m.comm == MPI_COMM_NULL) throw;
        ok = false;
      }
    }
    if (m.comm != MPI_COMM_NULL)
      check_all(m.comm, ok, fmt::format("writing the APT headers of '{}' failed", m.path));
  }
  if (m.out) {
    m.out->close();
  } else if (m.fh != MPI_FILE_NULL) {
    int rc = MPI_File_close(&m.fh);
    m.fh = MPI_FILE_NULL;
    check_all(m.comm, rc == MPI_SUCCESS, fmt::format("closing '{}' failed: check free disk space", m.path));
  }
}

void write_pos(const std::string& path, const HostIonCloud& cloud) {
  CloudWriter w(path, Format::pos);
  w.append(cloud);
  w.close();
}

void write_epos(const std::string& path, const HostIonCloud& cloud) {
  CloudWriter w(path, Format::epos);
  w.append(cloud);
  w.close();
}

void write_text(const std::string& path, const HostIonCloud& cloud) {
  CloudWriter w(path, Format::text);
  w.append(cloud);
  w.close();
}

void write_h5_cloud(const std::string& path, const HostIonCloud& cloud, const RangeTable* ranges) {
  CloudWriter w(path, Format::h5, MPI_COMM_NULL, cloud.has_extras(), ranges);
  w.append(cloud);
  w.close();
}

void write_nxapm(const std::string& path, const HostIonCloud& cloud, const RangeTable* ranges) {
  CloudWriter w(path, Format::nxapm, MPI_COMM_NULL, false, ranges);
  w.append(cloud);
  w.close();
}

void write_dataset(const std::string& path, Format format, const HostIonCloud& cloud,
                   const RangeTable* ranges) {
  switch (format) {
    case Format::pos:
      return write_pos(path, cloud);
    case Format::epos:
      return write_epos(path, cloud);
    case Format::apt:
      return write_apt(path, cloud);
    case Format::h5:
      return write_h5_cloud(path, cloud, ranges);
    case Format::nxapm:
      return write_nxapm(path, cloud, ranges);
    case Format::text:
      return write_text(path, cloud);
    case Format::ato:
    case Format::cameca:
      break;
  }
  throw ConfigError("format",
                    fmt::format("aptflow cannot write {} files: choose pos, epos, apt, text, h5 or nxapm",
                                format_name(format)));
}

}  // namespace aptflow::io
