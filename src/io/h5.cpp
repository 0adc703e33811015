#include "aptflow/io/h5.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <numeric>

#include "aptflow/core/error.hpp"

namespace aptflow::h5 {

namespace {

// Switch off HDF5's automatic error stack printing once: aptflow reports
// errors itself, one line each.
struct SilenceHdf5 {
  SilenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
void silence() { static SilenceHdf5 once; }

[[noreturn]] void fail_read(const std::string& file, const std::string& what) {
  throw InputError(file, what);
}
[[noreturn]] void fail_write(const std::string& file, const std::string& what) {
  throw ResourceError(fmt::format("HDF5 file '{}': {}", file, what));
}

std::string file_name_of(hid_t loc) {
  ssize_t n = H5Fget_name(loc, nullptr, 0);
  if (n <= 0) return "<hdf5>";
  std::string s(static_cast<std::size_t>(n), '\0');
  H5Fget_name(loc, s.data(), s.size() + 1);
  return s;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : path) {
    if (c == '/') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

std::string parent_of(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos || pos == 0) return "";
  return path.substr(0, pos);
}

Handle fapl_for(MPI_Comm comm) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (comm != MPI_COMM_NULL) H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
  return fapl;
}

Handle xfer_for(const File& f) {
  Handle dxpl(H5Pcreate(H5P_DATASET_XFER));
  if (f.parallel()) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  return dxpl;
}

Handle open_dataset(const File& f, const std::string& path) {
  silence();
  if (!exists(f, path))
    fail_read(f.path(), fmt::format("dataset '{}' is missing (not an aptflow file of this kind?)", path));
  Handle d(H5Dopen2(f, path.c_str(), H5P_DEFAULT));
  if (!d.valid()) fail_read(f.path(), fmt::format("cannot open dataset '{}'", path));
  return d;
}

int my_rank(const File& f) {
  int r = 0;
  if (f.parallel()) MPI_Comm_rank(f.comm(), &r);
  return r;
}

}  // namespace

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    close();
    id_ = o.id_;
    o.id_ = -1;
  }
  return *this;
}

void Handle::close() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;
  }
  id_ = -1;
}

File File::create(const std::string& path, MPI_Comm comm) {
  silence();
  File f;
  f.path_ = path;
  f.comm_ = comm;
  auto fapl = fapl_for(comm);
  f.handle_ = Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  if (!f.handle_.valid())
    fail_write(path, "cannot create the file (does the directory exist and is it writable?)");
  return f;
}

File File::open(const std::string& path, bool writable, MPI_Comm comm) {
  silence();
  File f;
  f.path_ = path;
  f.comm_ = comm;
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) fail_read(path, "cannot open the file (missing or no read permission)");
  }
  if (!is_hdf5(path)) fail_read(path, "not an HDF5 file (no HDF5 signature)");
  auto fapl = fapl_for(comm);
  f.handle_ = Handle(H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl));
  if (!f.handle_.valid()) fail_read(path, "HDF5 cannot open the file (corrupt or truncated?)");
  return f;
}

void File::flush() { H5Fflush(handle_, H5F_SCOPE_GLOBAL); }

bool is_hdf5(const std::string& path) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  std::ifstream in(path, std::ios::binary);
  unsigned char buf[8] = {};
  if (!in.read(reinterpret_cast<char*>(buf), 8)) return false;
  return std::memcmp(buf, sig, 8) == 0;
}

namespace {
herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
// H5I_GROUP, H5I_DATASET, ... of the object at path; H5I_BADID when there is none.
H5I_type_t object_type(hid_t loc, const std::string& path) {
  if (!exists(loc, path)) return H5I_BADID;
  Handle o(H5Oopen(loc, path.c_str(), H5P_DEFAULT));
  if (!o.valid()) return H5I_BADID;
  return H5Iget_type(o);
}
}  // namespace

std::vector<std::string> list_group(hid_t loc, const std::string& path) {
  silence();
  std::vector<std::string> names;
  if (path != "/" && !is_group(loc, path)) return names;
  Handle g(H5Gopen2(loc, path.c_str(), H5P_DEFAULT));
  if (!g.valid()) return names;
  hsize_t idx = 0;
  H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &names);
  return names;
}

bool is_group(hid_t loc, const std::string& path) {
  silence();
  return path == "/" || object_type(loc, path) == H5I_GROUP;
}

bool is_dataset(hid_t loc, const std::string& path) {
  silence();
  return object_type(loc, path) == H5I_DATASET;
}

std::string type_name(const File& f, const std::string& path) {
  auto d = open_dataset(f, path);
  Handle t(H5Dget_type(d));
  const auto cls = H5Tget_class(t);
  const auto bits = 8 * H5Tget_size(t);
  switch (cls) {
    case H5T_FLOAT:
      return fmt::format("float{}", bits);
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", bits);
    case H5T_STRING:
      return "string";
    default:
      return "other";
  }
}

bool exists(hid_t loc, const std::string& path) {
  silence();
  std::string cur;
  for (const auto& part : split_path(path)) {
    cur += "/" + part;
    if (H5Lexists(loc, cur.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

void ensure_nx_group(hid_t loc, const std::string& path, const std::string& cls) {
  auto g = ensure_group(loc, path);
  write_attr(g, "NX_class", cls);
}

Handle ensure_group(hid_t loc, const std::string& path) {
  silence();
  std::string cur;
  for (const auto& part : split_path(path)) {
    cur += "/" + part;
    if (H5Lexists(loc, cur.c_str(), H5P_DEFAULT) <= 0) {
      Handle gcpl(H5Pcreate(H5P_GROUP_CREATE));
      H5Pset_obj_track_times(gcpl, 0);
      Handle g(H5Gcreate2(loc, cur.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT));
      if (!g.valid()) fail_write(file_name_of(loc), fmt::format("cannot create group '{}'", cur));
    }
  }
  Handle g(H5Gopen2(loc, path.empty() ? "/" : path.c_str(), H5P_DEFAULT));
  if (!g.valid()) fail_write(file_name_of(loc), fmt::format("cannot open group '{}'", path));
  return g;
}

std::vector<hsize_t> dims(const File& f, const std::string& path) {
  auto d = open_dataset(f, path);
  Handle space(H5Dget_space(d));
  int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> out(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, out.data(), nullptr);
  return out;
}

template <class T>
void create_dataset(const File& f, const std::string& path, const std::vector<hsize_t>& shape,
                    hsize_t chunk_rows) {
  silence();
  auto parent = parent_of(path);
  if (!parent.empty()) ensure_group(f, parent);
  Handle space(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  // No object timestamps: the same config must give the same bytes.
  H5Pset_obj_track_times(dcpl, 0);
  if (chunk_rows > 0 && !shape.empty() && shape[0] > 0) {
    std::vector<hsize_t> chunk = shape;
    chunk[0] = std::min<hsize_t>(chunk_rows, shape[0]);
    H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
  }
  if (exists(f, path)) H5Ldelete(f, path.c_str(), H5P_DEFAULT);
  Handle d(H5Dcreate2(f, path.c_str(), native_type<T>(), space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  if (!d.valid()) fail_write(f.path(), fmt::format("cannot create dataset '{}'", path));
}

template <class T>
void write_rows(const File& f, const std::string& path, hsize_t row_offset, hsize_t rows, const T* data) {
  auto d = open_dataset(f, path);
  Handle fspace(H5Dget_space(d));
  int rank = H5Sget_simple_extent_ndims(fspace);
  std::vector<hsize_t> shape(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(fspace, shape.data(), nullptr);
  if (rank == 0 || row_offset + rows > shape[0])
    throw InternalError(fmt::format("h5::write_rows '{}': rows [{}, {}) outside extent {}", path, row_offset,
                                    row_offset + rows, rank ? shape[0] : 0));
  // A dataset without elements has no storage: nothing to write on any rank
  // (the shape is global, so every rank of a collective call returns here).
  if (std::accumulate(shape.begin(), shape.end(), hsize_t{1}, std::multiplies<>()) == 0) return;
  std::vector<hsize_t> start(shape.size(), 0), count = shape;
  start[0] = row_offset;
  count[0] = rows;
  Handle mspace(H5Screate_simple(rank, count.data(), nullptr));
  if (rows == 0) {
    H5Sselect_none(fspace);
    H5Sselect_none(mspace);
  } else {
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  }
  auto dxpl = xfer_for(f);
  // HDF5 rejects a null buffer even when nothing is selected (empty vectors).
  static const T dummy{};
  if (H5Dwrite(d, native_type<T>(), mspace, fspace, dxpl, rows == 0 ? &dummy : data) < 0)
    fail_write(f.path(), fmt::format("writing rows of '{}' failed (disk full?)", path));
}

template <class T>
void read_rows(const File& f, const std::string& path, hsize_t row_offset, hsize_t rows, T* data) {
  auto d = open_dataset(f, path);
  Handle fspace(H5Dget_space(d));
  int rank = H5Sget_simple_extent_ndims(fspace);
  std::vector<hsize_t> shape(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(fspace, shape.data(), nullptr);
  if (rank == 0 || row_offset + rows > shape[0])
    fail_read(f.path(), fmt::format("dataset '{}': rows [{}, {}) requested but it has {}", path, row_offset,
                                    row_offset + rows, rank ? shape[0] : 0));
  if (rows == 0) return;
  std::vector<hsize_t> start(shape.size(), 0), count = shape;
  start[0] = row_offset;
  count[0] = rows;
  Handle mspace(H5Screate_simple(rank, count.data(), nullptr));
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  if (H5Dread(d, native_type<T>(), mspace, fspace, H5P_DEFAULT, data) < 0)
    fail_read(f.path(), fmt::format("reading dataset '{}' failed (corrupt file?)", path));
}

template <class T>
std::vector<T> read_block(const File& f, const std::string& path, const std::vector<hsize_t>& start,
                          const std::vector<hsize_t>& count) {
  const auto shape = dims(f, path);
  if (shape.size() != start.size() || shape.size() != count.size())
    fail_read(f.path(), fmt::format("dataset '{}' has {} dimensions, a {}-D block was requested", path,
                                    shape.size(), start.size()));
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (start[d] + count[d] > shape[d])
      fail_read(f.path(), fmt::format("dataset '{}': block outside its extent along dimension {}", path, d));
  hsize_t total = 1;
  for (const hsize_t c : count) total *= c;
  std::vector<T> out(total);
  if (total == 0) return out;
  auto d = open_dataset(f, path);
  Handle fspace(H5Dget_space(d));
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  Handle mspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
  if (H5Dread(d, native_type<T>(), mspace, fspace, H5P_DEFAULT, out.data()) < 0)
    fail_read(f.path(), fmt::format("reading a block of '{}' failed (corrupt file?)", path));
  return out;
}

void remove(const File& f, const std::string& path) {
  silence();
  if (exists(f, path) && H5Ldelete(f, path.c_str(), H5P_DEFAULT) < 0)
    fail_write(f.path(), fmt::format("cannot delete '{}'", path));
}

template <class T>
void write(const File& f, const std::string& path, const std::vector<T>& data, std::vector<hsize_t> shape) {
  if (shape.empty()) shape = {static_cast<hsize_t>(data.size())};
  hsize_t total = std::accumulate(shape.begin(), shape.end(), hsize_t{1}, std::multiplies<>());
  if (total != data.size())
    throw InternalError(
        fmt::format("h5::write '{}': {} values for shape of {} elements", path, data.size(), total));
  create_dataset<T>(f, path, shape);
  const bool writer = my_rank(f) == 0;
  write_rows<T>(f, path, 0, writer ? shape[0] : 0, data.data());
}

template <class T>
std::vector<T> read(const File& f, const std::string& path, std::vector<hsize_t>* shape) {
  auto d = open_dataset(f, path);
  Handle space(H5Dget_space(d));
  int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> sh(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, sh.data(), nullptr);
  hsize_t total = std::accumulate(sh.begin(), sh.end(), hsize_t{1}, std::multiplies<>());
  std::vector<T> out(total);
  if (total > 0 && H5Dread(d, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail_read(f.path(), fmt::format("reading dataset '{}' failed (corrupt file or wrong type?)", path));
  if (shape) *shape = sh;
  return out;
}

#define APTFLOW_H5_INSTANTIATE(T)                                                                         \
  template void create_dataset<T>(const File&, const std::string&, const std::vector<hsize_t>&, hsize_t); \
  template void write_rows<T>(const File&, const std::string&, hsize_t, hsize_t, const T*);               \
  template void read_rows<T>(const File&, const std::string&, hsize_t, hsize_t, T*);                      \
  template void write<T>(const File&, const std::string&, const std::vector<T>&, std::vector<hsize_t>);   \
  template std::vector<T> read<T>(const File&, const std::string&, std::vector<hsize_t>*);                \
  template std::vector<T> read_block<T>(const File&, const std::string&, const std::vector<hsize_t>&,     \
                                        const std::vector<hsize_t>&);
APTFLOW_H5_INSTANTIATE(float)
APTFLOW_H5_INSTANTIATE(double)
APTFLOW_H5_INSTANTIATE(std::int8_t)
APTFLOW_H5_INSTANTIATE(std::uint8_t)
APTFLOW_H5_INSTANTIATE(std::int16_t)
APTFLOW_H5_INSTANTIATE(std::uint16_t)
APTFLOW_H5_INSTANTIATE(std::int32_t)
APTFLOW_H5_INSTANTIATE(std::uint32_t)
APTFLOW_H5_INSTANTIATE(std::int64_t)
APTFLOW_H5_INSTANTIATE(std::uint64_t)
#undef APTFLOW_H5_INSTANTIATE

namespace {
Handle vlen_string_type() {
  Handle t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}
}  // namespace

void write_strings(const File& f, const std::string& path, const std::vector<std::string>& values) {
  silence();
  auto parent = parent_of(path);
  if (!parent.empty()) ensure_group(f, parent);
  hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  if (exists(f, path)) H5Ldelete(f, path.c_str(), H5P_DEFAULT);
  if (!f.parallel()) {
    auto type = vlen_string_type();
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_obj_track_times(dcpl, 0);
    Handle d(H5Dcreate2(f, path.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    if (!d.valid()) fail_write(f.path(), fmt::format("cannot create dataset '{}'", path));
    std::vector<const char*> ptrs;
    for (const auto& v : values) ptrs.push_back(v.c_str());
    if (n > 0 && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
      fail_write(f.path(), fmt::format("writing strings '{}' failed", path));
    return;
  }
  // Parallel HDF5 1.10 cannot write variable-length data: use fixed-length
  // UTF-8 strings sized to the longest value, written collectively.
  std::size_t len = 1;
  for (const auto& v : values) len = std::max(len, v.size());
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type, len);
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  H5Tset_cset(type, H5T_CSET_UTF8);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl, 0);
  Handle d(H5Dcreate2(f, path.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  if (!d.valid()) fail_write(f.path(), fmt::format("cannot create dataset '{}'", path));
  std::vector<char> buf(len * values.size(), '\0');
  for (std::size_t i = 0; i < values.size(); ++i)
    std::memcpy(buf.data() + i * len, values[i].data(), values[i].size());
  Handle mspace(H5Screate_simple(1, &n, nullptr));
  Handle fspace(H5Dget_space(d));
  if (my_rank(f) != 0 || n == 0) {
    H5Sselect_none(mspace);
    H5Sselect_none(fspace);
  }
  auto dxpl = xfer_for(f);
  if (H5Dwrite(d, type, mspace, fspace, dxpl, buf.data()) < 0)
    fail_write(f.path(), fmt::format("writing strings '{}' failed", path));
}

void write_string(const File& f, const std::string& path, const std::string& value) {
  silence();
  auto parent = parent_of(path);
  if (!parent.empty()) ensure_group(f, parent);
  if (exists(f, path)) H5Ldelete(f, path.c_str(), H5P_DEFAULT);
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type, std::max<std::size_t>(value.size(), 1));
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  H5Tset_cset(type, H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl, 0);
  Handle d(H5Dcreate2(f, path.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  if (!d.valid()) fail_write(f.path(), fmt::format("cannot create dataset '{}'", path));
  std::string buf = value;
  buf.resize(std::max<std::size_t>(value.size(), 1), '\0');
  Handle mspace(H5Screate(H5S_SCALAR));
  Handle fspace(H5Dget_space(d));
  if (my_rank(f) != 0) {
    H5Sselect_none(mspace);
    H5Sselect_none(fspace);
  }
  auto dxpl = xfer_for(f);
  if (H5Dwrite(d, type, mspace, fspace, dxpl, buf.data()) < 0)
    fail_write(f.path(), fmt::format("writing string '{}' failed", path));
}

std::vector<std::string> read_strings(const File& f, const std::string& path) {
  auto d = open_dataset(f, path);
  Handle ftype(H5Dget_type(d));
  Handle space(H5Dget_space(d));
  hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<std::string> out;
  if (n <= 0) return out;
  if (H5Tis_variable_str(ftype) > 0) {
    // Memory type with the file's character set: HDF5 does not convert between
    // ASCII (h5py's bytes) and UTF-8 strings.
    Handle type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5Tget_cset(ftype));
    std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
    if (H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
      fail_read(f.path(), fmt::format("reading strings '{}' failed", path));
    for (auto* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(type, space, H5P_DEFAULT, ptrs.data());
  } else {
    std::size_t len = H5Tget_size(ftype);
    std::vector<char> buf(len * static_cast<std::size_t>(n));
    Handle mtype(H5Tcopy(ftype));
    if (H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
      fail_read(f.path(), fmt::format("reading strings '{}' failed", path));
    for (hssize_t i = 0; i < n; ++i) {
      const char* s = buf.data() + static_cast<std::size_t>(i) * len;
      out.emplace_back(s, strnlen(s, len));
    }
  }
  return out;
}

Handle open_object(const File& f, const std::string& path) {
  silence();
  if (path != "/" && !exists(f, path)) fail_read(f.path(), fmt::format("object '{}' is missing", path));
  Handle o(H5Oopen(f, path.c_str(), H5P_DEFAULT));
  if (!o.valid()) fail_read(f.path(), fmt::format("cannot open object '{}'", path));
  return o;
}

namespace {
template <class T>
// as_array: a 1-D attribute even for one value (lists); otherwise n == 1 is a scalar.
void write_attr_array(hid_t obj, const std::string& name, hid_t type, const T* data, hsize_t n,
                      bool as_array = false) {
  silence();
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space(n == 1 && !as_array ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr));
  Handle a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT));
  if (!a.valid() || (n > 0 && H5Awrite(a, type, data) < 0))
    fail_write(file_name_of(obj), fmt::format("cannot write attribute '{}'", name));
}

Handle open_attr(hid_t obj, const std::string& name) {
  silence();
  if (H5Aexists(obj, name.c_str()) <= 0)
    fail_read(file_name_of(obj), fmt::format("attribute '{}' is missing", name));
  return Handle(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
}
}  // namespace

void write_attr(hid_t obj, const std::string& name, const std::string& value) {
  auto type = vlen_string_type();
  const char* p = value.c_str();
  write_attr_array(obj, name, type, &p, 1);
}

void write_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values) {
  auto type = vlen_string_type();
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  write_attr_array(obj, name, type.id(), ptrs.data(), ptrs.size(), true);
}

void write_attr(hid_t obj, const std::string& name, double value) {
  write_attr_array(obj, name, H5T_NATIVE_DOUBLE, &value, 1);
}
void write_attr(hid_t obj, const std::string& name, std::int64_t value) {
  write_attr_array(obj, name, H5T_NATIVE_INT64, &value, 1);
}
void write_attr(hid_t obj, const std::string& name, const std::vector<double>& values) {
  write_attr_array(obj, name, H5T_NATIVE_DOUBLE, values.data(), values.size(), true);
}

bool has_attr(hid_t obj, const std::string& name) {
  silence();
  return H5Aexists(obj, name.c_str()) > 0;
}

std::vector<std::string> read_attr_strings(hid_t obj, const std::string& name) {
  auto a = open_attr(obj, name);
  Handle ftype(H5Aget_type(a));
  Handle space(H5Aget_space(a));
  hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<std::string> out;
  if (n <= 0) return out;
  if (H5Tget_class(ftype) != H5T_STRING)
    fail_read(file_name_of(obj), fmt::format("attribute '{}' is not a string", name));
  if (H5Tis_variable_str(ftype) > 0) {
    // Memory type with the file's character set: HDF5 does not convert between
    // ASCII (h5py's bytes) and UTF-8 strings.
    Handle type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5Tget_cset(ftype));
    std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
    H5Aread(a, type, ptrs.data());
    for (auto* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(type, space, H5P_DEFAULT, ptrs.data());
  } else {
    std::size_t len = H5Tget_size(ftype);
    std::vector<char> buf(len * static_cast<std::size_t>(n));
    Handle mtype(H5Tcopy(ftype));
    H5Aread(a, mtype, buf.data());
    for (hssize_t i = 0; i < n; ++i) {
      const char* s = buf.data() + static_cast<std::size_t>(i) * len;
      out.emplace_back(s, strnlen(s, len));
    }
  }
  return out;
}

std::string read_attr_string(hid_t obj, const std::string& name) {
  auto v = read_attr_strings(obj, name);
  if (v.empty()) return {};
  return v.front();
}

std::vector<double> read_attr_doubles(hid_t obj, const std::string& name) {
  auto a = open_attr(obj, name);
  Handle space(H5Aget_space(a));
  hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<double> out(static_cast<std::size_t>(std::max<hssize_t>(n, 0)));
  if (n > 0 && H5Aread(a, H5T_NATIVE_DOUBLE, out.data()) < 0)
    fail_read(file_name_of(obj), fmt::format("attribute '{}' is not numeric", name));
  return out;
}

double read_attr_double(hid_t obj, const std::string& name) {
  auto v = read_attr_doubles(obj, name);
  if (v.empty()) fail_read(file_name_of(obj), fmt::format("attribute '{}' is empty", name));
  return v.front();
}

std::int64_t read_attr_int(hid_t obj, const std::string& name) {
  auto a = open_attr(obj, name);
  std::int64_t v = 0;
  if (H5Aread(a, H5T_NATIVE_INT64, &v) < 0)
    fail_read(file_name_of(obj), fmt::format("attribute '{}' is not an integer", name));
  return v;
}

}  // namespace aptflow::h5
