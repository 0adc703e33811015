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

#include <algorithm>
#include <bit>
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

// Where a point cloud lives inside an HDF5 file.
struct H5Layout {
  Format format = Format::h5;
  std::string positions, mq;  // (n, 3) and (n) datasets
  std::string species;        // (n) uint16 or "" (species 0)
  std::string extras;         // group of the aptflow extras ("/ions/") or "" (none)
};

// Unit of a dataset's "units" attribute -> factor to nm / Da; throws InputError.
float unit_factor(const h5::File& f, const std::string& path, bool position) {
  auto d = h5::open_object(f, path);
  if (!h5::has_attr(d, "units")) return 1.f;
  std::string u = h5::read_attr_string(d, "units");
  std::string low = u;
  std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return std::tolower(c); });
  if (position) {
    if (low == "nm" || low == "nanometer" || low == "nanometre") return 1.f;
    if (low == "a" || low == "angstrom" || low == "\xc3\xa5" || low == "\xe2\x84\xab") return 0.1f;
    if (low == "pm") return 1e-3f;
  } else if (low == "da" || low == "u" || low == "amu" || low.empty()) {
    return 1.f;
  }
  throw InputError(f.path(), fmt::format("dataset '{}' has units = '{}'; aptflow reads {}: convert the file",
                                         path, u, position ? "nm, A or pm" : "Da"));
}

class H5Reader final : public IonReader {
 public:
  H5Reader(const std::string& path, H5Layout layout)
      : raw_(path), file_(h5::File::open(path)), L_(std::move(layout)) {
    if (!h5::is_dataset(file_, L_.positions) || !h5::is_dataset(file_, L_.mq))
      throw InputError(path, fmt::format("HDF5 file has no {} and {}: not a {} point cloud", L_.positions,
                                         L_.mq, format_name(L_.format)));
    const auto pd = h5::dims(file_, L_.positions);
    if (pd.size() != 2 || pd[1] != 3)
      throw InputError(path, fmt::format("{} must have shape (n, 3): not a point cloud", L_.positions));
    n_ = static_cast<IonIndex>(pd[0]);
    check_1d(L_.mq);
    pos_scale_ = unit_factor(file_, L_.positions, true);
    unit_factor(file_, L_.mq, false);
    has_species_ = !L_.species.empty() && h5::exists(file_, L_.species);
    if (has_species_) check_1d(L_.species);
    if (!L_.extras.empty()) {
      for (int k = 0; k < 5; ++k) {
        has_float_[k] = h5::exists(file_, L_.extras + kFloatExtras[k]);
        if (has_float_[k]) check_1d(L_.extras + kFloatExtras[k]);
        extras_ = extras_ || has_float_[k];
      }
      for (int k = 0; k < 2; ++k) {
        has_int_[k] = h5::exists(file_, L_.extras + kIntExtras[k]);
        if (has_int_[k]) check_1d(L_.extras + kIntExtras[k]);
        extras_ = extras_ || has_int_[k];
      }
    }
    // Contiguous position data has a byte offset (for error messages).
    h5::Handle d(H5Dopen2(file_, L_.positions.c_str(), H5P_DEFAULT));
    // A corrupt shape must not make us allocate terabytes: the stored bytes
    // must account for the ions (exactly without filters; compression up to 1000x).
    if (d.valid() && n_ > 0) {
      h5::Handle dcpl(H5Dget_create_plist(d));
      const bool filtered = dcpl.valid() && H5Pget_nfilters(dcpl) > 0;
      h5::Handle type(H5Dget_type(d));
      const double elem = static_cast<double>(std::max<std::size_t>(H5Tget_size(type), 1));
      const double stored = static_cast<double>(H5Dget_storage_size(d));
      const double needed = 3.0 * elem * static_cast<double>(n_);
      if (stored < (filtered ? needed / 1000.0 : needed))
        throw InputError(path,
                         fmt::format("{} claims {} ions but stores only {} bytes: truncated or corrupt file, "
                                     "rewrite it",
                                     L_.positions, n_, static_cast<std::uint64_t>(stored)));
      haddr_t off = H5Dget_offset(d);
      if (off != HADDR_UNDEF && !filtered && elem == 4) pos_offset_ = static_cast<std::int64_t>(off);
    }
  }

  Format format() const override { return L_.format; }
  IonIndex size() const override { return n_; }
  bool has_extras() const override { return extras_; }
  std::uint64_t file_bytes() const override { return raw_.size(); }
  std::int64_t byte_offset_of(IonIndex ion) const override {
    return pos_offset_ < 0 ? -1 : pos_offset_ + 12 * static_cast<std::int64_t>(ion);
  }
  std::vector<std::string> sections() const override {
    std::vector<std::string> s;
    auto describe = [&](const std::string& p, const std::string& what) {
      const auto d = h5::dims(file_, p);
      std::string shape;
      for (auto v : d) shape += (shape.empty() ? "" : " x ") + std::to_string(v);
      s.push_back(fmt::format("{} ({}, {}): {}", p, shape, h5::type_name(file_, p), what));
    };
    describe(L_.positions, pos_scale_ == 1.f ? "x, y, z (nm)" : "x, y, z (converted to nm)");
    describe(L_.mq, "m/q (Da)");
    if (has_species_) describe(L_.species, "species");
    for (int k = 0; k < 5; ++k)
      if (has_float_[k]) describe(L_.extras + kFloatExtras[k], kFloatExtras[k]);
    for (int k = 0; k < 2; ++k)
      if (has_int_[k]) describe(L_.extras + kIntExtras[k], kIntExtras[k]);
    return s;
  }

  void read(IonIndex first, IonIndex count, HostIonCloud& out, IonIndex at) override {
    APTFLOW_ASSERT(first >= 0 && count >= 0 && first + count <= n_, "HDF5 read outside the file");
    if (count == 0) return;
    const auto f = static_cast<hsize_t>(first), c = static_cast<hsize_t>(count);
    buf_.resize(3 * static_cast<std::size_t>(count));
    h5::read_rows<float>(file_, L_.positions, f, c, buf_.data());
    for (IonIndex i = 0; i < count; ++i) {
      out.x(at + i) = buf_[3 * i];
      out.y(at + i) = buf_[3 * i + 1];
      out.z(at + i) = buf_[3 * i + 2];
    }
    if (pos_scale_ != 1.f)
      for (IonIndex i = at; i < at + count; ++i)
        for (float* v : {&out.x(i), &out.y(i), &out.z(i)})
          if (!nonfinite_bits(std::bit_cast<std::uint32_t>(*v))) *v *= pos_scale_;
    h5::read_rows<float>(file_, L_.mq, f, c, out.mq.data() + at);
    if (has_species_)
      h5::read_rows<Species>(file_, L_.species, f, c, out.species.data() + at);
    else
      std::fill_n(out.species.data() + at, count, Species{0});
    if (out.extras.tof.extent(0) == 0) return;
    for (int k = 0; k < 5; ++k) {
      if (has_float_[k])
        h5::read_rows<float>(file_, L_.extras + kFloatExtras[k], f, c, float_extra(out, k) + at);
      else
        std::fill_n(float_extra(out, k) + at, count, 0.f);
    }
    for (int k = 0; k < 2; ++k) {
      if (has_int_[k])
        h5::read_rows<std::uint32_t>(file_, L_.extras + kIntExtras[k], f, c, int_extra(out, k) + at);
      else
        std::fill_n(int_extra(out, k) + at, count, 0u);
    }
  }

 private:
  void check_1d(const std::string& name) {
    const auto d = h5::dims(file_, name);
    if (d.size() != 1 || static_cast<IonIndex>(d[0]) != n_)
      throw InputError(raw_.path(),
                       fmt::format("dataset '{}' must have shape ({}) like {}: inconsistent file, "
                                   "rewrite it",
                                   name, n_, L_.positions));
  }

  RawFile raw_;  // checks existence/permissions first, gives the size
  h5::File file_;
  H5Layout L_;
  IonIndex n_ = 0;
  float pos_scale_ = 1.f;
  bool has_species_ = false, extras_ = false;
  bool has_float_[5] = {}, has_int_[2] = {};
  std::int64_t pos_offset_ = -1;
  std::vector<float> buf_;
};

// The aptflow-ions layout after its own checks (format attribute, version).
H5Layout aptflow_layout(const h5::File& f) {
  auto root = h5::open_object(f, "/");
  if (h5::has_attr(root, "format")) {
    const auto fm = h5::read_attr_string(root, "format");
    if (fm != kFormatName)
      throw InputError(f.path(),
                       fmt::format("HDF5 file has format = '{}', not an aptflow point cloud ('{}'): "
                                   "pass a point-cloud file",
                                   fm, kFormatName));
  }
  if (h5::has_attr(root, "version") && h5::read_attr_int(root, "version") > kVersion)
    throw InputError(f.path(),
                     fmt::format("aptflow point cloud version {} is newer than this aptflow reads ({}): "
                                 "update aptflow",
                                 h5::read_attr_int(root, "version"), kVersion));
  return {Format::h5, "/ions/position", "/ions/mq", "/ions/species", "/ions/"};
}

bool has_aptflow_layout(const h5::File& f) {
  auto root = h5::open_object(f, "/");
  if (h5::has_attr(root, "format")) {
    // A string attribute; anything else is not ours.
    try {
      return h5::read_attr_string(root, "format") == kFormatName;
    } catch (const InputError&) {
      return false;
    }
  }
  return h5::exists(f, "/ions/position");
}

}  // namespace

// NXapm point clouds: /<entry>/<atom_probe*> groups that hold
// reconstruction/reconstructed_positions and mass_to_charge_conversion/mass_to_charge.
std::vector<std::string> nxapm_clouds(const h5::File& f) {
  std::vector<std::string> out;
  for (const auto& e : h5::list_group(f, "/")) {
    const std::string entry = "/" + e;
    if (!h5::is_group(f, entry)) continue;
    for (const auto& a : h5::list_group(f, entry)) {
      if (a.rfind("atom_probe", 0) != 0) continue;
      const std::string g = entry + "/" + a;
      if (h5::is_dataset(f, g + "/reconstruction/reconstructed_positions") &&
          h5::is_dataset(f, g + "/mass_to_charge_conversion/mass_to_charge"))
        out.push_back(g);
    }
  }
  return out;
}

std::string hdf5_format_attribute(const std::string& path) {
  auto f = h5::File::open(path);
  auto root = h5::open_object(f, "/");
  if (!h5::has_attr(root, "format")) return "";
  try {
    return h5::read_attr_string(root, "format");
  } catch (const InputError&) {
    return "";
  }
}

std::vector<Format> hdf5_layouts(const std::string& path) {
  RawFile raw(path);
  auto f = h5::File::open(path);
  std::vector<Format> out;
  if (has_aptflow_layout(f)) out.push_back(Format::h5);
  if (!nxapm_clouds(f).empty()) out.push_back(Format::nxapm);
  if (h5::is_dataset(f, "/xyz") && h5::is_dataset(f, "/mass")) out.push_back(Format::cameca);
  return out;
}

namespace {

// ---------------------------------------------------------------- writer
class H5Sink final : public H5CloudSink {
 public:
  // format h5: the aptflow-ions layout; nxapm: NeXus NXapm (positions, m/q,
  // ranging and iontypes when ranges are given; no extras).
  H5Sink(const std::string& path, MPI_Comm comm, bool extras, const RangeTable* ranges, Format format)
      : path_(path),
        comm_(comm),
        extras_(extras && format == Format::h5),
        format_(format),
        file_(h5::File::create(path, comm)) {
    if (ranges) ranges_ = *ranges, have_ranges_ = true;
    if (format_ == Format::h5) {
      positions_ = "/ions/position", mq_ = "/ions/mq", species_ = "/ions/species";
      auto root = h5::open_object(file_, "/");
      h5::write_attr(root, "format", std::string(kFormatName));
      h5::write_attr(root, "version", kVersion);
      h5::ensure_group(file_, "/ions");
    } else {
      if (have_ranges_ && ranges_.num_types() > 255)
        throw InputError(ranges_.source,
                         fmt::format("{} ion types; NXapm stores at most 255 (iontypes is uint8): "
                                     "write aptflow HDF5 instead",
                                     ranges_.num_types()));
      const std::string g = std::string(kNxapmGroup);
      nxapm_groups(file_, have_ranges_);
      positions_ = g + "/reconstruction/reconstructed_positions";
      mq_ = g + "/mass_to_charge_conversion/mass_to_charge";
      if (have_ranges_) species_ = g + "/ranging/peak_identification/iontypes";
    }
    create<float>(positions_, 3, "nm", h5::native_type<float>());
    create<float>(mq_, 0, "Da", h5::native_type<float>());
    if (!species_.empty())
      create<Species>(species_, 0, format_ == Format::h5 ? "" : "NX_UNITLESS",
                      format_ == Format::h5 ? h5::native_type<Species>() : H5T_STD_U8LE);
    if (extras_) {
      for (int k = 0; k < 5; ++k)
        create<float>(std::string("/ions/") + kFloatExtras[k], 0, kFloatUnits[k], h5::native_type<float>());
      for (int k = 0; k < 2; ++k)
        create<std::uint32_t>(std::string("/ions/") + kIntExtras[k], 0, "", h5::native_type<std::uint32_t>());
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
    put<float>(positions_, new_rows, row, rows, pos.data());
    put<float>(mq_, new_rows, row, rows, local.mq.data());
    if (!species_.empty()) put<Species>(species_, new_rows, row, rows, local.species.data());
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
    if (format_ == Format::nxapm) {
      if (have_ranges_) write_nxapm_ranging(file_, std::string(kNxapmGroup) + "/ranging", ranges_);
      file_.flush();
      file_.close();
      return;
    }
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
  void create(const std::string& name, hsize_t cols, const std::string& units, hid_t file_type) {
    const int rank = cols ? 2 : 1;
    hsize_t dims[2] = {0, cols}, maxd[2] = {H5S_UNLIMITED, cols}, chunk[2] = {kChunkRows, cols};
    h5::Handle space(H5Screate_simple(rank, dims, maxd));
    h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_obj_track_times(dcpl, 0);  // no time stamps: the same data gives the same bytes
    h5::Handle d(H5Dcreate2(file_, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
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
  Format format_;
  h5::File file_;
  std::string positions_, mq_, species_;
  RangeTable ranges_;
  bool have_ranges_ = false;
  bool closed_ = false;
  IonIndex written_ = 0;
};

}  // namespace

std::unique_ptr<IonReader> open_h5_reader(const std::string& path) {
  RawFile raw(path);
  auto f = h5::File::open(path);
  if (!has_aptflow_layout(f))
    throw InputError(path,
                     "HDF5 file has no /ions/position and /ions/mq: not an aptflow point cloud; "
                     "convert it with aptflow convert or pass another point-cloud file");
  return std::make_unique<H5Reader>(path, aptflow_layout(f));
}

std::unique_ptr<IonReader> open_nxapm_reader(const std::string& path) {
  RawFile raw(path);
  auto f = h5::File::open(path);
  const auto clouds = nxapm_clouds(f);
  if (clouds.empty())
    throw InputError(
        path,
        "no NXapm point cloud: no /<entry>/atom_probe*/ group with reconstruction/reconstructed_positions "
        "and mass_to_charge_conversion/mass_to_charge");
  if (clouds.size() > 1)
    throw InputError(path,
                     fmt::format("the NXapm file holds {} point clouds ({}); aptflow reads files with one: "
                                 "extract one with h5copy",
                                 clouds.size(), fmt::join(clouds, ", ")));
  const std::string& g = clouds.front();
  return std::make_unique<H5Reader>(path,
                                    H5Layout{Format::nxapm, g + "/reconstruction/reconstructed_positions",
                                             g + "/mass_to_charge_conversion/mass_to_charge", "", ""});
}

std::unique_ptr<IonReader> open_cameca_reader(const std::string& path) {
  return std::make_unique<H5Reader>(path, H5Layout{Format::cameca, "/xyz", "/mass", "", ""});
}

std::unique_ptr<H5CloudSink> make_h5_sink(const std::string& path, MPI_Comm comm, bool extras,
                                          const RangeTable* ranges) {
  return std::make_unique<H5Sink>(path, comm, extras, ranges, Format::h5);
}

std::unique_ptr<H5CloudSink> make_nxapm_sink(const std::string& path, MPI_Comm comm,
                                             const RangeTable* ranges) {
  return std::make_unique<H5Sink>(path, comm, false, ranges, Format::nxapm);
}

}  // namespace aptflow::io::detail

namespace aptflow::io {

namespace {
// aptflow's /ranges group.
std::optional<RangeTable> read_aptflow_ranges(const h5::File& f) {
  const std::string& path = f.path();
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
  validate_range_table(t);
  return t;
}
}  // namespace

namespace detail {
std::optional<RangeTable> read_dataset_ranges(const std::string& path, const RangeOptions& opt) {
  RawFile raw(path);
  if (!h5::is_hdf5(path)) return std::nullopt;
  auto f = h5::File::open(path);
  std::vector<std::pair<std::string, RangeTable>> found;
  if (auto t = read_aptflow_ranges(f)) found.emplace_back("/ranges (aptflow)", *t);
  for (const auto& g : nxapm_clouds(f))
    if (auto t = read_nxapm_ranges(f, g, opt)) found.emplace_back(g + "/ranging", *t);
  if (h5::is_dataset(f, "/xyz") && h5::is_dataset(f, "/mass") && !h5::exists(f, "/ranges/lo"))
    if (auto t = read_cameca_ranges(f, opt)) found.emplace_back("/ranges/range_N (Cameca)", *t);
  if (found.empty()) return std::nullopt;
  if (found.size() > 1) {
    std::vector<std::string> where;
    for (const auto& [w, t] : found) where.push_back(w);
    throw InputError(path,
                     fmt::format("the file holds {} sets of ranging definitions ({}); aptflow reads files "
                                 "with one: extract one with h5copy",
                                 found.size(), fmt::join(where, ", ")));
  }
  return found.front().second;
}
}  // namespace detail

std::optional<RangeTable> read_h5_ranges(const std::string& path) {
  return detail::read_dataset_ranges(path, {});
}

}  // namespace aptflow::io
