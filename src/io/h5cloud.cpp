// aptflow HDF5 point cloud (format "aptflow-ions", version 1); layout in
// docs/file-formats.md:
//   /                 attrs format = "aptflow-ions", version = 1, ions = n
//   /ions/position    (n, 3) float32, nm
//   /ions/mq          (n) float32, Da
//   /ions/species     (n) uint16, 0 = unranged (optional when reading)
//   /ions/{tof, v_dc, v_pulse, x_det, y_det} (n) float32,
//   /ions/{pulses_since_last, multiplicity} (n) uint32   (optional extras)
//   /ranges/{lo, hi} (m) float64 Da, /ranges/ion_type (m) int32 (0-based),
//   /ranges/ion_type_names, /ranges/ion_type_composition (k) strings (optional)
#include <fmt/format.h>

#include <sstream>

#include "aptflow/core/error.hpp"
#include "aptflow/io/detail/readers.hpp"
#include "aptflow/io/h5.hpp"

namespace aptflow::io::detail {

namespace {

constexpr const char* kFormatName = "aptflow-ions";
constexpr std::int64_t kVersion = 1;

const char* const kFloatExtras[] = {"tof", "v_dc", "v_pulse", "x_det", "y_det"};
const char* const kFloatUnits[] = {"ns", "kV", "kV", "mm", "mm"};
const char* const kIntExtras[] = {"pulses_since_last", "multiplicity"};

float* float_extra(HostIonCloud& c, int k) {
  auto& e = c.extras;
  float* p[] = {e.tof.data(), e.v_dc.data(), e.v_pulse.data(), e.x_det.data(), e.y_det.data()};
  return p[k];
}
std::uint32_t* int_extra(HostIonCloud& c, int k) {
  return k == 0 ? c.extras.pulses_since_last.data() : c.extras.multiplicity.data();
}

class H5Reader final : public IonReader {
 public:
  explicit H5Reader(const std::string& path) : raw_(path), file_(h5::File::open(path)) {
    auto root = h5::open_object(file_, "/");
    if (h5::has_attr(root, "format")) {
      const auto f = h5::read_attr_string(root, "format");
      if (f != kFormatName)
        throw InputError(path, fmt::format("HDF5 file has format = '{}', not an aptflow point cloud ('{}'): "
                                           "pass a POS/EPOS/APT file or an aptflow ions file",
                                           f, kFormatName));
    }
    if (h5::has_attr(root, "version") && h5::read_attr_int(root, "version") > kVersion)
      throw InputError(path,
                       fmt::format("aptflow point cloud version {} is newer than this aptflow reads ({}): "
                                   "update aptflow",
                                   h5::read_attr_int(root, "version"), kVersion));
    if (!h5::exists(file_, "/ions/position") || !h5::exists(file_, "/ions/mq"))
      throw InputError(path,
                       "HDF5 file has no /ions/position and /ions/mq: not an aptflow point cloud; "
                       "convert it with write_h5_cloud or pass a POS/EPOS/APT file");
    const auto pd = h5::dims(file_, "/ions/position");
    if (pd.size() != 2 || pd[1] != 3)
      throw InputError(path, "/ions/position must have shape (n, 3): not an aptflow point cloud");
    n_ = static_cast<IonIndex>(pd[0]);
    check_1d("/ions/mq");
    has_species_ = h5::exists(file_, "/ions/species");
    if (has_species_) check_1d("/ions/species");
    for (int k = 0; k < 5; ++k) {
      has_float_[k] = h5::exists(file_, std::string("/ions/") + kFloatExtras[k]);
      if (has_float_[k]) check_1d(std::string("/ions/") + kFloatExtras[k]);
      extras_ = extras_ || has_float_[k];
    }
    for (int k = 0; k < 2; ++k) {
      has_int_[k] = h5::exists(file_, std::string("/ions/") + kIntExtras[k]);
      if (has_int_[k]) check_1d(std::string("/ions/") + kIntExtras[k]);
      extras_ = extras_ || has_int_[k];
    }
    // Contiguous position data has a byte offset (for error messages).
    h5::Handle d(H5Dopen2(file_, "/ions/position", H5P_DEFAULT));
    // A corrupt shape must not make us allocate terabytes: the stored bytes
    // must account for the ions (exactly without filters; compression up to 1000x).
    if (d.valid() && n_ > 0) {
      h5::Handle dcpl(H5Dget_create_plist(d));
      const bool filtered = dcpl.valid() && H5Pget_nfilters(dcpl) > 0;
      const double stored = static_cast<double>(H5Dget_storage_size(d));
      const double needed = 12.0 * static_cast<double>(n_);
      if (stored < (filtered ? needed / 1000.0 : needed))
        throw InputError(path,
                         fmt::format("/ions/position claims {} ions but stores only {} bytes: truncated or "
                                     "corrupt file, rewrite it",
                                     n_, static_cast<std::uint64_t>(stored)));
    }
    haddr_t off = d.valid() ? H5Dget_offset(d) : HADDR_UNDEF;
    pos_offset_ = off == HADDR_UNDEF ? -1 : static_cast<std::int64_t>(off);
  }

  Format format() const override { return Format::h5; }
  IonIndex size() const override { return n_; }
  bool has_extras() const override { return extras_; }
  std::uint64_t file_bytes() const override { return raw_.size(); }
  std::int64_t byte_offset_of(IonIndex ion) const override {
    return pos_offset_ < 0 ? -1 : pos_offset_ + 12 * static_cast<std::int64_t>(ion);
  }

  void read(IonIndex first, IonIndex count, HostIonCloud& out, IonIndex at) override {
    APTFLOW_ASSERT(first >= 0 && count >= 0 && first + count <= n_, "HDF5 read outside the file");
    if (count == 0) return;
    const auto f = static_cast<hsize_t>(first), c = static_cast<hsize_t>(count);
    buf_.resize(3 * static_cast<std::size_t>(count));
    h5::read_rows<float>(file_, "/ions/position", f, c, buf_.data());
    for (IonIndex i = 0; i < count; ++i) {
      out.x(at + i) = buf_[3 * i];
      out.y(at + i) = buf_[3 * i + 1];
      out.z(at + i) = buf_[3 * i + 2];
    }
    h5::read_rows<float>(file_, "/ions/mq", f, c, out.mq.data() + at);
    if (has_species_)
      h5::read_rows<Species>(file_, "/ions/species", f, c, out.species.data() + at);
    else
      std::fill_n(out.species.data() + at, count, Species{0});
    if (out.extras.tof.extent(0) == 0) return;
    for (int k = 0; k < 5; ++k) {
      if (has_float_[k])
        h5::read_rows<float>(file_, std::string("/ions/") + kFloatExtras[k], f, c, float_extra(out, k) + at);
      else
        std::fill_n(float_extra(out, k) + at, count, 0.f);
    }
    for (int k = 0; k < 2; ++k) {
      if (has_int_[k])
        h5::read_rows<std::uint32_t>(file_, std::string("/ions/") + kIntExtras[k], f, c,
                                     int_extra(out, k) + at);
      else
        std::fill_n(int_extra(out, k) + at, count, 0u);
    }
  }

 private:
  void check_1d(const std::string& name) {
    const auto d = h5::dims(file_, name);
    if (d.size() != 1 || static_cast<IonIndex>(d[0]) != n_)
      throw InputError(
          raw_.path(),
          fmt::format("dataset '{}' must have shape ({}) like /ions/position: inconsistent file, "
                      "rewrite it",
                      name, n_));
  }

  RawFile raw_;  // checks existence/permissions first, gives the size
  h5::File file_;
  IonIndex n_ = 0;
  bool has_species_ = false, extras_ = false;
  bool has_float_[5] = {}, has_int_[2] = {};
  std::int64_t pos_offset_ = -1;
  std::vector<float> buf_;
};

// ---------------------------------------------------------------- writer
class H5Sink final : public H5CloudSink {
 public:
  H5Sink(const std::string& path, MPI_Comm comm, bool extras, const RangeTable* ranges)
      : path_(path), comm_(comm), extras_(extras), file_(h5::File::create(path, comm)) {
    if (ranges) ranges_ = *ranges, have_ranges_ = true;
    auto root = h5::open_object(file_, "/");
    h5::write_attr(root, "format", std::string(kFormatName));
    h5::write_attr(root, "version", kVersion);
    h5::ensure_group(file_, "/ions");
    create<float>("/ions/position", 3, "nm");
    create<float>("/ions/mq", 0, "Da");
    create<Species>("/ions/species", 0, "");
    if (extras_) {
      for (int k = 0; k < 5; ++k) create<float>(std::string("/ions/") + kFloatExtras[k], 0, kFloatUnits[k]);
      for (int k = 0; k < 2; ++k) create<std::uint32_t>(std::string("/ions/") + kIntExtras[k], 0, "");
    }
  }

  void append(const HostIonCloud& local) override {
    const IonIndex n = local.size();
    if (extras_ && n > 0 && !local.has_extras())
      throw InternalError(
          fmt::format("HDF5 cloud writer '{}': extras requested but the appended cloud has none", path_));
    IonIndex offset = 0, total = n;
    if (comm_ != MPI_COMM_NULL) {
      int rank = 0;
      MPI_Comm_rank(comm_, &rank);
      MPI_Exscan(&n, &offset, 1, MPI_INT64_T, MPI_SUM, comm_);
      if (rank == 0) offset = 0;
      MPI_Allreduce(&n, &total, 1, MPI_INT64_T, MPI_SUM, comm_);
    }
    const hsize_t new_rows = static_cast<hsize_t>(written_ + total);
    std::vector<float> pos(3 * static_cast<std::size_t>(n));
    for (IonIndex i = 0; i < n; ++i) {
      pos[3 * i] = local.x(i);
      pos[3 * i + 1] = local.y(i);
      pos[3 * i + 2] = local.z(i);
    }
    const auto row = static_cast<hsize_t>(written_ + offset);
    const auto rows = static_cast<hsize_t>(n);
    put<float>("/ions/position", new_rows, row, rows, pos.data());
    put<float>("/ions/mq", new_rows, row, rows, local.mq.data());
    put<Species>("/ions/species", new_rows, row, rows, local.species.data());
    if (extras_) {
      auto& c = const_cast<HostIonCloud&>(local);
      for (int k = 0; k < 5; ++k)
        put<float>(std::string("/ions/") + kFloatExtras[k], new_rows, row, rows,
                   n ? float_extra(c, k) : nullptr);
      for (int k = 0; k < 2; ++k)
        put<std::uint32_t>(std::string("/ions/") + kIntExtras[k], new_rows, row, rows,
                           n ? int_extra(c, k) : nullptr);
    }
    written_ += total;
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    auto root = h5::open_object(file_, "/");
    h5::write_attr(root, "ions", static_cast<std::int64_t>(written_));
    if (have_ranges_) {
      std::vector<double> lo, hi;
      std::vector<std::int32_t> type;
      for (const auto& r : ranges_.ranges) {
        lo.push_back(r.lo);
        hi.push_back(r.hi);
        type.push_back(r.ion_type);
      }
      std::vector<std::string> names, comps;
      for (const auto& t : ranges_.ion_types) {
        names.push_back(t.name);
        std::string s;
        for (const auto& [el, k] : t.composition) {
          if (!s.empty()) s += ' ';
          s += fmt::format("{}:{}", el, k);
        }
        comps.push_back(s);
      }
      h5::write(file_, "/ranges/lo", lo);
      h5::write(file_, "/ranges/hi", hi);
      h5::write(file_, "/ranges/ion_type", type);
      h5::write_strings(file_, "/ranges/ion_type_names", names);
      h5::write_strings(file_, "/ranges/ion_type_composition", comps);
      auto g = h5::open_object(file_, "/ranges");
      h5::write_attr(g, "units", std::string("Da"));
    }
    file_.flush();
    file_.close();
  }

 private:
  template <class T>
  void create(const std::string& name, hsize_t cols, const std::string& units) {
    const int rank = cols ? 2 : 1;
    hsize_t dims[2] = {0, cols}, maxd[2] = {H5S_UNLIMITED, cols}, chunk[2] = {kChunkRows, cols};
    h5::Handle space(H5Screate_simple(rank, dims, maxd));
    h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl, rank, chunk);
    h5::Handle d(
        H5Dcreate2(file_, name.c_str(), h5::native_type<T>(), space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    if (!d.valid())
      throw ResourceError(
          fmt::format("HDF5 file '{}': cannot create dataset '{}' (disk full?)", path_, name));
    if (!units.empty()) h5::write_attr(d, "units", units);
  }

  // Extend the dataset to new_rows and write this rank's rows (collective when parallel).
  template <class T>
  void put(const std::string& name, hsize_t new_rows, hsize_t row, hsize_t rows, const T* data) {
    h5::Handle d(H5Dopen2(file_, name.c_str(), H5P_DEFAULT));
    h5::Handle space0(H5Dget_space(d));
    const int rank = H5Sget_simple_extent_ndims(space0);
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(space0, dims, nullptr);
    dims[0] = new_rows;
    bool ok = H5Dset_extent(d, dims) >= 0;
    h5::Handle fspace(H5Dget_space(d));
    hsize_t start[2] = {row, 0}, count[2] = {rows, dims[1]};
    h5::Handle mspace(H5Screate_simple(rank, count, nullptr));
    if (rows == 0) {
      H5Sselect_none(fspace);
      H5Sselect_none(mspace);
    } else {
      H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr);
    }
    h5::Handle dxpl(H5Pcreate(H5P_DATASET_XFER));
    if (comm_ != MPI_COMM_NULL) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    ok = ok && H5Dwrite(d, h5::native_type<T>(), mspace, fspace, dxpl, data) >= 0;
    if (comm_ != MPI_COMM_NULL) {
      int mine = ok, all = 1;
      MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm_);
      ok = all;
    }
    if (!ok)
      throw ResourceError(
          fmt::format("HDF5 file '{}': writing '{}' failed: check free disk space", path_, name));
  }

  static constexpr hsize_t kChunkRows = 1 << 16;
  std::string path_;
  MPI_Comm comm_;
  bool extras_;
  h5::File file_;
  RangeTable ranges_;
  bool have_ranges_ = false;
  bool closed_ = false;
  IonIndex written_ = 0;
};

}  // namespace

std::unique_ptr<IonReader> open_h5_reader(const std::string& path) {
  return std::make_unique<H5Reader>(path);
}

std::unique_ptr<H5CloudSink> make_h5_sink(const std::string& path, MPI_Comm comm, bool extras,
                                          const RangeTable* ranges) {
  return std::make_unique<H5Sink>(path, comm, extras, ranges);
}

}  // namespace aptflow::io::detail

namespace aptflow::io {

std::optional<RangeTable> read_h5_ranges(const std::string& path) {
  detail::RawFile raw(path);
  auto f = h5::File::open(path);
  if (!h5::exists(f, "/ranges/lo")) return std::nullopt;
  const auto lo = h5::read<double>(f, "/ranges/lo");
  const auto hi = h5::read<double>(f, "/ranges/hi");
  const auto type = h5::read<std::int32_t>(f, "/ranges/ion_type");
  const auto names = h5::read_strings(f, "/ranges/ion_type_names");
  const auto comps = h5::read_strings(f, "/ranges/ion_type_composition");
  if (hi.size() != lo.size() || type.size() != lo.size() || comps.size() != names.size())
    throw InputError(path, "/ranges datasets have different lengths: inconsistent file, rewrite it");
  RangeTable t;
  t.source = path;
  for (std::size_t k = 0; k < names.size(); ++k) {
    IonType it;
    it.name = names[k];
    std::istringstream in(comps[k]);
    std::string tok;
    while (in >> tok) {
      const auto colon = tok.find(':');
      if (colon == std::string::npos)
        throw InputError(
            path, fmt::format("/ranges/ion_type_composition entry '{}' is not 'El:count ...'", comps[k]));
      int count = 0;
      try {
        count = std::stoi(tok.substr(colon + 1));
      } catch (const std::exception&) {
        throw InputError(path,
                         fmt::format("/ranges/ion_type_composition entry '{}' has a bad count", comps[k]));
      }
      it.composition.emplace_back(tok.substr(0, colon), count);
    }
    t.ion_types.push_back(std::move(it));
  }
  for (std::size_t i = 0; i < lo.size(); ++i) {
    if (type[i] < 0 || static_cast<std::size_t>(type[i]) >= names.size())
      throw InputError(path, fmt::format("/ranges/ion_type[{}] = {} is not an ion type index (0..{})", i,
                                         type[i], names.size()));
    MassRange r;
    r.lo = lo[i];
    r.hi = hi[i];
    r.ion_type = type[i];
    t.ranges.push_back(r);
  }
  return t;
}

}  // namespace aptflow::io
