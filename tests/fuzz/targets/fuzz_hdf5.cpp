// libFuzzer target for the HDF5 point-cloud readers, structure-aware: the
// input bytes do not form the HDF5 file (libhdf5 parses HDF5 metadata itself
// and is not what aptflow can harden) but drive a builder that writes a valid
// HDF5 file of a point-cloud layout with arbitrary shapes, element types,
// attributes, values and ranging groups:
//   -DAPTFLOW_FUZZ_FORMAT=h5    aptflow-ions (/ions, /ranges) and Cameca (/xyz, /mass, /ranges/range_N)
//   -DAPTFLOW_FUZZ_FORMAT=nxapm NeXus NXapm (/entry*/atom_probe*/..., ranging/peak_identification/ion*)
// Then detection, the readers (forced and detected), read_h5_ranges and
// read_range_file (HDF5 as a range source) run on it.
#include <hdf5.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "fuzz_common.hpp"

#ifndef APTFLOW_FUZZ_FORMAT
#error "compile with -DAPTFLOW_FUZZ_FORMAT=<h5|nxapm>"
#endif
#define APTFLOW_STR2(x) #x
#define APTFLOW_STR(x) APTFLOW_STR2(x)

namespace io = aptflow::io;
using aptflow::fuzz::accepts;

namespace {

// Values drawn from the fuzzer's bytes (0 when they run out).
class Bytes {
 public:
  Bytes(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  std::uint8_t u8() { return i_ < n_ ? d_[i_++] : 0; }
  std::uint32_t u32() { return u8() | (u8() << 8) | (u8() << 16) | (static_cast<std::uint32_t>(u8()) << 24); }
  int pick(int n) { return n <= 1 ? 0 : u8() % n; }
  bool flag() { return u8() & 1; }
  double value() {
    static const double special[] = {0.0, -0.0, 1.0, -1.0, 0.5, 27.0, 1e-40, 1e38, 1e300, -5.0, 1000.0, 0.01};
    switch (pick(6)) {
      case 0:
        return special[pick(static_cast<int>(std::size(special)))];
      case 1:
        return std::numeric_limits<double>::quiet_NaN();
      case 2:
        return flag() ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
      case 3: {
        float f;
        const std::uint32_t w = u32();
        std::memcpy(&f, &w, 4);
        return f;  // any float bit pattern, signalling NaN included
      }
      default:
        return static_cast<double>(u32() % 20000) / 100.0 - 50.0;
    }
  }
  std::string text() {
    static const char* words[] = {
        "",  "nm", "Da", "A",   "angstrom", "pm",   "furlong",      "Fe",    "FeO",  "Fe2O3",
        "H", "D",  "Xx", "un1", "a b",      "Ni:1", "aptflow-ions", "NXapm", "C2H5", "unknown type"};
    return words[pick(static_cast<int>(std::size(words)))];
  }

 private:
  const std::uint8_t* d_;
  std::size_t n_, i_ = 0;
};

hid_t element_type(Bytes& b) {
  static const hid_t* types[] = {&H5T_NATIVE_FLOAT, &H5T_NATIVE_DOUBLE, &H5T_NATIVE_INT16, &H5T_NATIVE_UINT8,
                                 &H5T_NATIVE_INT32, &H5T_NATIVE_UINT16, &H5T_NATIVE_INT64};
  return *types[b.pick(static_cast<int>(std::size(types)))];
}

void ensure_groups(hid_t f, const std::string& path) {
  std::string cur;
  std::size_t i = 1;
  while (true) {
    const auto j = path.find('/', i);
    if (j == std::string::npos) break;
    cur = path.substr(0, j);
    if (H5Lexists(f, cur.c_str(), H5P_DEFAULT) <= 0)
      H5Gclose(H5Gcreate2(f, cur.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    i = j + 1;
  }
}

// A dataset of `shape` filled with fuzzer values, stored as `type`.
void dataset(hid_t f, const std::string& path, std::vector<hsize_t> shape, hid_t type, Bytes& b) {
  ensure_groups(f, path);
  if (H5Lexists(f, path.c_str(), H5P_DEFAULT) > 0) return;
  hsize_t total = 1;
  for (auto s : shape) total *= s;
  if (total > 4096) return;
  std::vector<double> v(total);
  for (auto& x : v) x = b.value();
  const hid_t space = H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr);
  const hid_t d = H5Dcreate2(f, path.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (d >= 0) {
    // Conversion exceptions (NaN -> int, overflow) are HDF5's business: let it clip.
    const hid_t xfer = H5Pcreate(H5P_DATASET_XFER);
    if (total > 0) H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, xfer, v.data());
    H5Pclose(xfer);
    H5Dclose(d);
  }
  H5Sclose(space);
}

void string_attr(hid_t f, const std::string& obj, const std::string& name, const std::string& value) {
  const hid_t o = H5Oopen(f, obj.c_str(), H5P_DEFAULT);
  if (o < 0) return;
  const hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  const hid_t s = H5Screate(H5S_SCALAR);
  if (H5Aexists(o, name.c_str()) <= 0) {
    const hid_t a = H5Acreate2(o, name.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT);
    const char* p = value.c_str();
    if (a >= 0) H5Awrite(a, t, &p), H5Aclose(a);
  }
  H5Sclose(s);
  H5Tclose(t);
  H5Oclose(o);
}

void number_attr(hid_t f, const std::string& obj, const std::string& name, double value) {
  const hid_t o = H5Oopen(f, obj.c_str(), H5P_DEFAULT);
  if (o < 0) return;
  const hid_t s = H5Screate(H5S_SCALAR);
  if (H5Aexists(o, name.c_str()) <= 0) {
    const hid_t a = H5Acreate2(o, name.c_str(), H5T_NATIVE_DOUBLE, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) H5Awrite(a, H5T_NATIVE_DOUBLE, &value), H5Aclose(a);
  }
  H5Sclose(s);
  H5Oclose(o);
}

void string_dataset(hid_t f, const std::string& path, const std::string& value) {
  ensure_groups(f, path);
  if (H5Lexists(f, path.c_str(), H5P_DEFAULT) > 0) return;
  const hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  const hid_t s = H5Screate(H5S_SCALAR);
  const hid_t d = H5Dcreate2(f, path.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const char* p = value.c_str();
  if (d >= 0) H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), H5Dclose(d);
  H5Sclose(s);
  H5Tclose(t);
}

std::vector<hsize_t> shape_near(Bytes& b, hsize_t n, hsize_t cols) {
  switch (b.pick(8)) {
    case 0:
      return {n};
    case 1:
      return {n + 1, cols};
    case 2:
      return {n, cols + 1};
    case 3:
      return {n, cols, 1};
    default:
      return cols ? std::vector<hsize_t>{n, cols} : std::vector<hsize_t>{n};
  }
}

void build_aptflow(hid_t f, Bytes& b) {
  const hsize_t n = b.pick(40);
  if (b.flag()) string_attr(f, "/", "format", b.flag() ? "aptflow-ions" : b.text());
  if (b.flag()) number_attr(f, "/", "version", b.pick(3));
  dataset(f, "/ions/position", shape_near(b, n, 3), element_type(b), b);
  dataset(f, "/ions/mq", shape_near(b, n, 0), element_type(b), b);
  if (b.flag()) dataset(f, "/ions/species", shape_near(b, n, 0), element_type(b), b);
  for (const char* e : {"tof", "v_dc", "multiplicity"})
    if (b.flag()) dataset(f, std::string("/ions/") + e, shape_near(b, n, 0), element_type(b), b);
  if (b.flag()) string_attr(f, "/ions/position", "units", b.text());
  if (b.flag()) {
    const hsize_t m = b.pick(6);
    dataset(f, "/ranges/lo", {m}, H5T_NATIVE_DOUBLE, b);
    dataset(f, "/ranges/hi", {m + (b.flag() ? 0 : 1)}, H5T_NATIVE_DOUBLE, b);
    dataset(f, "/ranges/ion_type", {m}, H5T_NATIVE_INT32, b);
    const hsize_t k = b.pick(4);
    for (const char* name : {"/ranges/ion_type_names", "/ranges/ion_type_composition"}) {
      ensure_groups(f, name);
      const hid_t t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, H5T_VARIABLE);
      const hid_t s = H5Screate_simple(1, &k, nullptr);
      const hid_t d = H5Dcreate2(f, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      std::vector<std::string> v;
      for (hsize_t i = 0; i < k; ++i)
        v.push_back(b.flag() ? b.text() : b.text() + ":" + std::to_string(b.pick(5)));
      std::vector<const char*> p;
      for (auto& x : v) p.push_back(x.c_str());
      if (d >= 0 && k > 0) H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data());
      if (d >= 0) H5Dclose(d);
      H5Sclose(s);
      H5Tclose(t);
    }
  }
}

void build_cameca(hid_t f, Bytes& b) {
  const hsize_t n = b.pick(40);
  dataset(f, "/xyz", shape_near(b, n, 3), element_type(b), b);
  dataset(f, "/mass", shape_near(b, n, 0), element_type(b), b);
  const int ranges = b.pick(5);
  for (int k = 0; k < ranges; ++k) {
    const std::string g = "/ranges/range_" + std::to_string(b.pick(12));
    ensure_groups(f, g + "/x");
    if (b.flag()) string_attr(f, g, "element", b.text());
    if (b.flag()) number_attr(f, g, "min_da", b.value());
    if (b.flag()) number_attr(f, g, "max_da", b.value());
  }
}

void build_nxapm(hid_t f, Bytes& b) {
  const int clouds = 1 + (b.pick(8) == 0);
  for (int c = 0; c < clouds; ++c) {
    const std::string entry = "/entry" + std::to_string(1 + b.pick(2));
    const std::string g = entry + (b.flag() ? "/atom_probe" : "/atom_probe" + std::to_string(b.pick(3)));
    const hsize_t n = b.pick(40);
    if (b.flag()) string_dataset(f, entry + "/definition", b.flag() ? "NXapm" : b.text());
    dataset(f, g + "/reconstruction/reconstructed_positions", shape_near(b, n, 3), element_type(b), b);
    dataset(f, g + "/mass_to_charge_conversion/mass_to_charge", shape_near(b, n, 0), element_type(b), b);
    if (b.flag()) string_attr(f, g + "/reconstruction/reconstructed_positions", "units", b.text());
    if (b.flag()) string_attr(f, g + "/mass_to_charge_conversion/mass_to_charge", "units", b.text());
    const int ions = b.pick(6);
    for (int k = 0; k < ions; ++k) {
      const std::string ion = g + "/ranging/peak_identification/ion" + std::to_string(b.pick(6));
      if (b.flag()) {
        // A nuclide hash: mostly real nuclides (Z + 256 * 255), sometimes anything.
        const hsize_t len = b.flag() ? 32 : b.pick(40);
        ensure_groups(f, ion + "/x");
        std::vector<std::uint16_t> h(len, 0);
        for (auto& v : h)
          v = b.flag() ? static_cast<std::uint16_t>(1 + b.pick(118) + 256 * (b.flag() ? 255 : b.pick(3)))
                       : static_cast<std::uint16_t>(b.u32());
        const hid_t s = H5Screate_simple(1, &len, nullptr);
        const hid_t d = H5Dcreate2(f, (ion + "/nuclide_hash").c_str(), H5T_NATIVE_UINT16, s, H5P_DEFAULT,
                                   H5P_DEFAULT, H5P_DEFAULT);
        if (d >= 0 && len > 0) H5Dwrite(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, h.data());
        if (d >= 0) H5Dclose(d);
        H5Sclose(s);
      }
      if (b.flag()) {
        const hsize_t m = b.pick(4);
        std::vector<hsize_t> shape = b.pick(4) == 0 ? std::vector<hsize_t>{2} : std::vector<hsize_t>{m, 2};
        if (b.pick(6) == 0) shape = {m, 3};
        dataset(f, ion + "/mass_to_charge_range", shape, b.flag() ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, b);
      }
      if (b.flag()) string_dataset(f, ion + "/name", b.text());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  aptflow::fuzz::init_kokkos();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  // Let HDF5's free lists keep what they free (no limit): every file open
  // allocates a metadata cache of about 1 MB, which ASan otherwise maps and
  // unmaps each time (h5 from its seeds: 84 -> 189 exec/s).
  H5set_free_list_limits(-1, -1, -1, -1, -1, -1);
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = aptflow::fuzz::scratch_path(".h5");
  const std::string which = APTFLOW_STR(APTFLOW_FUZZ_FORMAT);
  Bytes b(data, size);
  {
    const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) std::abort();
    if (which == "nxapm") {
      build_nxapm(f, b);
      if (b.pick(8) == 0) build_aptflow(f, b);  // two layouts in one file
    } else {
      if (b.flag())
        build_aptflow(f, b);
      else
        build_cameca(f, b);
    }
    H5Fclose(f);
  }
  // Detection, then the reader of the detected layout (or, when detection
  // refuses the file, the one a byte of the input forces), then the ranging.
  std::optional<io::Format> fmt;
  accepts([&] { fmt = io::detect_format(path); });
  if (!fmt) {
    static const io::Format forced[] = {io::Format::h5, io::Format::nxapm, io::Format::cameca};
    fmt = forced[b.pick(3)];
  }
  accepts([&] {
    io::ReadOptions o;
    o.format = fmt;
    o.nonfinite = io::NonFinite::drop;
    o.chunk_ions = 3;
    io::DatasetReader r(path, o);
    r.read(0, r.size());
  });
  accepts([&] {
    aptflow::RangeOptions o;
    o.overlap = b.flag() ? aptflow::OverlapPolicy::error : aptflow::OverlapPolicy::first_wins;
    const auto t = aptflow::read_range_file(path, o);
    aptflow::validate_range_table(t);
  });
  return 0;
}
