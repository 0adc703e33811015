#pragma once
// Helpers of the archive tests: the whole content of an index.h5 as
// name -> bytes (datasets and attributes, strings as text), to compare two
// indexes exactly; and writing an archive config.
#include <hdf5.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "aptflow/io/h5.hpp"

namespace aptflow::test {

namespace archive_util {

inline std::string read_object_bytes(hid_t obj, bool attribute) {
  h5::Handle type(attribute ? H5Aget_type(obj) : H5Dget_type(obj));
  h5::Handle space(attribute ? H5Aget_space(obj) : H5Dget_space(obj));
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  const int nd = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(nd, 0)));
  if (nd > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  std::string out = "shape";
  for (auto d : dims) out += " " + std::to_string(d);
  out += ":";
  if (n <= 0) return out;
  if (H5Tget_class(type) == H5T_STRING) {
    std::vector<std::string> v;
    if (H5Tis_variable_str(type) > 0) {
      h5::Handle mt(H5Tcopy(H5T_C_S1));
      H5Tset_size(mt, H5T_VARIABLE);
      std::vector<char*> p(static_cast<std::size_t>(n), nullptr);
      if (attribute)
        H5Aread(obj, mt, p.data());
      else
        H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data());
      for (auto* s : p) v.emplace_back(s ? s : "");
      H5Dvlen_reclaim(mt, space, H5P_DEFAULT, p.data());
    } else {
      const std::size_t len = H5Tget_size(type);
      std::vector<char> buf(len * static_cast<std::size_t>(n));
      if (attribute)
        H5Aread(obj, type, buf.data());
      else
        H5Dread(obj, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
      for (hssize_t i = 0; i < n; ++i)
        v.emplace_back(buf.data() + i * static_cast<hssize_t>(len),
                       strnlen(buf.data() + i * static_cast<hssize_t>(len), len));
    }
    for (const auto& s : v) out += "[" + s + "]";
    return out;
  }
  const std::size_t size = H5Tget_size(type);
  std::string buf(size * static_cast<std::size_t>(n), '\0');
  if (attribute)
    H5Aread(obj, type, buf.data());
  else
    H5Dread(obj, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
  return out + buf;
}

struct VisitState {
  std::map<std::string, std::string>* out;
};

inline herr_t attr_cb(hid_t loc, const char* name, const H5A_info_t*, void* data) {
  auto* st = static_cast<std::pair<std::map<std::string, std::string>*, std::string>*>(data);
  h5::Handle a(H5Aopen(loc, name, H5P_DEFAULT));
  (*st->first)[st->second + "@" + name] = read_object_bytes(a, true);
  return 0;
}

inline herr_t visit_cb(hid_t root, const char* name, const H5O_info_t* info, void* data) {
  auto* out = static_cast<std::map<std::string, std::string>*>(data);
  const std::string path = std::string("/") + (std::strcmp(name, ".") == 0 ? "" : name);
  h5::Handle obj(H5Oopen(root, name, H5P_DEFAULT));
  if (info->type == H5O_TYPE_DATASET) (*out)[path] = read_object_bytes(obj, false);
  std::pair<std::map<std::string, std::string>*, std::string> st{out, path};
  hsize_t idx = 0;
  H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, &st);
  return 0;
}

}  // namespace archive_util

// Everything in an HDF5 file, by "/path" and "/path@attribute", minus `skip`.
inline std::map<std::string, std::string> h5_contents(const std::string& file,
                                                      const std::set<std::string>& skip = {}) {
  auto f = h5::File::open(file);
  std::map<std::string, std::string> out;
  H5Ovisit(f.id(), H5_INDEX_NAME, H5_ITER_INC, archive_util::visit_cb, &out);
  for (const auto& s : skip) out.erase(s);
  return out;
}

// What two runs of the same archive may differ in: timing and the config text (output directory).
inline std::set<std::string> archive_index_volatile() { return {"/datasets/seconds", "/@config"}; }

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace aptflow::test
