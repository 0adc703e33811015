// Front end of the point-cloud readers and writers: format detection, block
// reading with non-finite handling, chunked and MPI reading, streaming writers.
#include "aptflow/io/dataset.hpp"

#include <fcntl.h>
#include <fmt/format.h>
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
  if (fd_ >= 0) ::close(fd_);
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
  }
  throw InternalError("open_reader: unknown format");
}

}  // namespace detail

using detail::IonReader;

// ------------------------------------------------------------------ formats
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
  }
  return "?";
}

Format parse_format(std::string_view name, const std::string& key) {
  std::string s(name);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "pos") return Format::pos;
  if (s == "epos") return Format::epos;
  if (s == "apt") return Format::apt;
  if (s == "h5" || s == "hdf5") return Format::h5;
  throw ConfigError(key, fmt::format("unknown point-cloud format '{}': use pos, epos, apt or h5", name));
}

namespace {

std::string lower_extension(const std::string& path) {
  auto slash = path.find_last_of('/');
  auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot + 1);
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

}  // namespace

Format detect_format(const std::string& path) {
  detail::RawFile f(path);
  const std::uint64_t size = f.size();
  if (size == 0)
    throw InputError::at_byte(path, 0, "file is empty (0 bytes): nothing to read; check the export");
  unsigned char head[8] = {};
  f.read_at(0, std::min<std::uint64_t>(size, 8), head);
  static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(head, hdf5_sig, 8) == 0) return Format::h5;
  if (size >= 4 && std::memcmp(head, "APT\0", 4) == 0) return Format::apt;

  const std::string ext = lower_extension(path);
  // The name promises a container format whose signature is missing: say so
  // instead of decoding the bytes as POS/EPOS.
  if (ext == "apt")
    throw InputError::at_byte(path, 0,
                              "no \"APT\\0\" signature: not an AP Suite APT file (corrupt, or exported "
                              "in another format?)");
  if (ext == "h5" || ext == "hdf5")
    throw InputError::at_byte(path, 0, "no HDF5 signature: not an HDF5 file (corrupt or truncated?)");
  const bool pos_div = size % detail::kPosRecord == 0;
  const bool epos_div = size % detail::kEposRecord == 0;
  auto size_error = [&](Format fmt_) {
    const std::uint64_t rec = fmt_ == Format::pos ? detail::kPosRecord : detail::kEposRecord;
    return InputError::at_byte(
        path, static_cast<std::int64_t>(size - size % rec),
        fmt::format("{} file size {} is not a multiple of {} bytes (truncated?): the last record is "
                    "incomplete; re-export the file or check its format",
                    fmt_ == Format::pos ? "POS" : "EPOS", size, rec));
  };
  if (!pos_div && !epos_div) {
    if (ext == "epos") throw size_error(Format::epos);
    if (ext == "pos") throw size_error(Format::pos);
    throw InputError::at_byte(
        path, 0,
        fmt::format(
            "unknown format: no HDF5 signature, no \"APT\\0\" magic, and the size {} is a multiple of "
            "neither 16 (POS) nor 44 (EPOS) bytes: a truncated POS/EPOS file or not an APT dataset",
            size));
  }
  // Plausibility of the first records under each interpretation.
  const std::uint64_t sample_bytes = std::min<std::uint64_t>(size, 4096 * detail::kEposRecord);
  std::vector<unsigned char> sample(sample_bytes);
  f.read_at(0, sample_bytes, sample.data());
  const bool pos_ok = pos_div && detail::pos_plausible(sample.data(), sample_bytes / detail::kPosRecord);
  const bool epos_ok = epos_div && detail::epos_plausible(sample.data(), sample_bytes / detail::kEposRecord);
  if (pos_div && !epos_div) {
    if (!pos_ok && ext == "epos") throw size_error(Format::epos);
    return Format::pos;
  }
  if (epos_div && !pos_div) {
    if (!epos_ok && ext == "pos") throw size_error(Format::pos);
    return Format::epos;
  }
  if (pos_ok != epos_ok) return pos_ok ? Format::pos : Format::epos;
  if (ext == "pos") return Format::pos;
  return Format::epos;
}

DatasetInfo probe_dataset(const std::string& path, std::optional<Format> format) {
  const Format f = format ? *format : detect_format(path);
  auto r = detail::open_reader(path, f);
  DatasetInfo info;
  info.path = path;
  info.format = f;
  info.ions = r->size();
  info.bytes = r->file_bytes();
  info.has_extras = r->has_extras();
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
struct CloudWriter::Impl {
  std::string path;
  Format format = Format::pos;
  MPI_Comm comm = MPI_COMM_NULL;
  IonIndex written = 0;
  bool closed = false;
  // pos/epos
  std::unique_ptr<detail::OutFile> out;  // serial
  MPI_File fh = MPI_FILE_NULL;           // parallel
  std::vector<unsigned char> buf;
  // h5
  std::unique_ptr<detail::H5CloudSink> h5;

  std::uint64_t record() const { return format == Format::pos ? detail::kPosRecord : detail::kEposRecord; }
  // POS/EPOS: local's ions at file records [at_ion, at_ion + n) (collective with comm).
  void put(IonIndex at_ion, const HostIonCloud& local);
  void encode(const HostIonCloud& c, IonIndex first, IonIndex n) {
    buf.resize(static_cast<std::size_t>(n) * record());
    if (format == Format::pos)
      detail::encode_pos(c, first, n, buf.data());
    else
      detail::encode_epos(c, first, n, buf.data());
  }
};

namespace {
constexpr IonIndex kWriteBlock = IonIndex{1} << 18;  // ions per write call

void check_all(MPI_Comm comm, bool ok, const std::string& what) {
  int mine = ok ? 1 : 0, all = 1;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm);
  if (!all) throw ResourceError(what);
}
}  // namespace

CloudWriter::CloudWriter(const std::string& path, Format format, MPI_Comm comm, bool extras,
                         const RangeTable* ranges)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->format = format;
  if (format == Format::apt)
    throw ConfigError("format",
                      "the streaming writer cannot write APT (sections need the total ion count "
                      "up front): use write_apt or choose pos, epos or h5");
  if (comm != MPI_COMM_NULL) MPI_Comm_dup(comm, &impl_->comm);
  if (format == Format::h5) {
    impl_->h5 = detail::make_h5_sink(path, impl_->comm, extras, ranges);
    return;
  }
  if (impl_->comm == MPI_COMM_NULL) {
    impl_->out = std::make_unique<detail::OutFile>(path);
    return;
  }
  // Collective open; truncate whatever was there.
  int rc =
      MPI_File_open(impl_->comm, path.c_str(), MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &impl_->fh);
  check_all(
      impl_->comm, rc == MPI_SUCCESS,
      fmt::format("cannot create '{}' with MPI-IO: check that the directory exists and is writable", path));
  rc = MPI_File_set_size(impl_->fh, 0);
  check_all(impl_->comm, rc == MPI_SUCCESS, fmt::format("cannot truncate '{}' with MPI-IO", path));
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
  if (m.format == Format::h5) {
    m.h5->append(local);
    IonIndex total = n;
    if (m.comm != MPI_COMM_NULL) MPI_Allreduce(&n, &total, 1, MPI_INT64_T, MPI_SUM, m.comm);
    m.written += total;
    return;
  }
  if (m.comm == MPI_COMM_NULL) {
    m.put(m.written, local);
    return;
  }
  // Collective: this rank's block goes after all blocks of lower ranks.
  IonIndex offset = 0;
  MPI_Exscan(&n, &offset, 1, MPI_INT64_T, MPI_SUM, m.comm);
  int rank = 0;
  MPI_Comm_rank(m.comm, &rank);
  if (rank == 0) offset = 0;  // MPI_Exscan leaves rank 0's result undefined
  m.put(m.written + offset, local);
}

void CloudWriter::write_at(IonIndex first, const HostIonCloud& local) {
  auto& m = *impl_;
  if (m.closed) throw InternalError(fmt::format("CloudWriter '{}': write_at after close", m.path));
  if (m.format == Format::h5)
    throw InternalError(
        fmt::format("CloudWriter '{}': write_at is for POS and EPOS; append to HDF5", m.path));
  if (first < 0) throw InternalError(fmt::format("CloudWriter '{}': write_at record {}", m.path, first));
  m.put(first, local);
}

void CloudWriter::Impl::put(IonIndex at_ion, const HostIonCloud& local) {
  const IonIndex n = local.size();
  if (comm == MPI_COMM_NULL) {
    for (IonIndex done = 0; done < n; done += kWriteBlock) {
      const IonIndex c = std::min(kWriteBlock, n - done);
      encode(local, done, c);
      out->write_at(static_cast<std::uint64_t>(at_ion + done) * record(), buf.data(), buf.size());
    }
    written += n;
    return;
  }
  // Collective: pieces of at most kWriteBlock ions, the same number of calls on every rank.
  IonIndex total = 0;
  MPI_Allreduce(&n, &total, 1, MPI_INT64_T, MPI_SUM, comm);
  IonIndex pieces = (n + kWriteBlock - 1) / kWriteBlock, max_pieces = 0;
  MPI_Allreduce(&pieces, &max_pieces, 1, MPI_INT64_T, MPI_MAX, comm);
  bool ok = true;
  for (IonIndex p = 0; p < max_pieces; ++p) {
    const IonIndex first = std::min(p * kWriteBlock, n);
    const IonIndex c = std::min(kWriteBlock, n - first);
    encode(local, first, c);
    const MPI_Offset at = static_cast<MPI_Offset>((at_ion + first) * static_cast<IonIndex>(record()));
    MPI_Status st;
    int rc = MPI_File_write_at_all(fh, at, buf.data(), static_cast<int>(buf.size()), MPI_BYTE, &st);
    ok = ok && rc == MPI_SUCCESS;
  }
  check_all(comm, ok, fmt::format("collective write of '{}' failed: check free disk space", path));
  written += total;
}

void CloudWriter::close() {
  if (!impl_ || impl_->closed) return;
  auto& m = *impl_;
  m.closed = true;
  if (m.h5) {
    m.h5->close();
  } else if (m.out) {
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

void write_h5_cloud(const std::string& path, const HostIonCloud& cloud, const RangeTable* ranges) {
  CloudWriter w(path, Format::h5, MPI_COMM_NULL, cloud.has_extras(), ranges);
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
  }
}

}  // namespace aptflow::io
