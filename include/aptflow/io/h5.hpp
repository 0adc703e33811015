#pragma once
// Thin RAII layer over the HDF5 C API (parallel HDF5). Every aptflow file
// (point clouds, features, libraries, models, results) goes through it.
// Failures become InputError (reading) or ResourceError (writing) naming the
// file and the dataset path; HDF5's own error stack printing is switched off.
#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace aptflow::h5 {

// Owns one hid_t and closes it with the right H5*close on destruction.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { close(); }
  hid_t id() const { return id_; }
  operator hid_t() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void close();

 private:
  hid_t id_ = -1;
};

// Native HDF5 type for a C++ arithmetic type.
template <class T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, float>)
    return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, double>)
    return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, std::int8_t>)
    return H5T_NATIVE_INT8;
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return H5T_NATIVE_UINT8;
  else if constexpr (std::is_same_v<T, std::int16_t>)
    return H5T_NATIVE_INT16;
  else if constexpr (std::is_same_v<T, std::uint16_t>)
    return H5T_NATIVE_UINT16;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return H5T_NATIVE_INT32;
  else if constexpr (std::is_same_v<T, std::uint32_t>)
    return H5T_NATIVE_UINT32;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return H5T_NATIVE_INT64;
  else if constexpr (std::is_same_v<T, std::uint64_t>)
    return H5T_NATIVE_UINT64;
  else
    static_assert(sizeof(T) == 0, "aptflow::h5::native_type: unsupported element type");
}

class File {
 public:
  // comm == MPI_COMM_NULL: serial access (one process). Otherwise the file is
  // opened with the MPI-IO driver and every call that takes the File is
  // collective over comm.
  static File create(const std::string& path, MPI_Comm comm = MPI_COMM_NULL);
  static File open(const std::string& path, bool writable = false, MPI_Comm comm = MPI_COMM_NULL);

  hid_t id() const { return handle_.id(); }
  operator hid_t() const { return handle_.id(); }
  const std::string& path() const { return path_; }
  bool parallel() const { return comm_ != MPI_COMM_NULL; }
  MPI_Comm comm() const { return comm_; }
  void flush();
  void close() { handle_.close(); }

 private:
  Handle handle_;
  std::string path_;
  MPI_Comm comm_ = MPI_COMM_NULL;
};

// True if a link (group or dataset) exists at path; intermediate groups may be missing.
bool exists(hid_t loc, const std::string& path);
// Create the group and any missing parents; returns the group handle.
Handle ensure_group(hid_t loc, const std::string& path);
// ensure_group, then its NeXus class attribute NX_class = cls.
void ensure_nx_group(hid_t loc, const std::string& path, const std::string& cls);
// Dimensions of a dataset (InputError naming file and path when missing).
std::vector<hsize_t> dims(const File& f, const std::string& path);

// ---- whole datasets. For a parallel File these are collective: every rank
// passes the same data (or at least the same dims) and rank 0's data is written.
template <class T>
void write(const File& f, const std::string& path, const std::vector<T>& data,
           std::vector<hsize_t> shape = {});
template <class T>
std::vector<T> read(const File& f, const std::string& path, std::vector<hsize_t>* shape = nullptr);

// ---- row blocks along the first dimension.
// create_dataset: collective create of an empty dataset of the given shape
// (chunked when chunk_rows > 0, for very large files).
template <class T>
void create_dataset(const File& f, const std::string& path, const std::vector<hsize_t>& shape,
                    hsize_t chunk_rows = 0);
// write_rows: this rank writes rows [row_offset, row_offset + rows) of an
// existing dataset (collective for a parallel file; a rank may pass rows = 0).
template <class T>
void write_rows(const File& f, const std::string& path, hsize_t row_offset, hsize_t rows, const T* data);
// read_rows: read rows [row_offset, row_offset + rows) into data (independent I/O).
template <class T>
void read_rows(const File& f, const std::string& path, hsize_t row_offset, hsize_t rows, T* data);
// read_block: the block [start, start + count) of an N-dimensional dataset,
// C order (InputError naming file and path when it lies outside the extent).
template <class T>
std::vector<T> read_block(const File& f, const std::string& path, const std::vector<hsize_t>& start,
                          const std::vector<hsize_t>& count);

// ---- groups
// Delete the link at path (and so the object, when nothing else links to it)
// if it exists.
void remove(const File& f, const std::string& path);

// ---- strings and attributes
void write_strings(const File& f, const std::string& path, const std::vector<std::string>& values);
// A scalar string dataset (fixed length, UTF-8; collective for a parallel file).
void write_string(const File& f, const std::string& path, const std::string& value);
std::vector<std::string> read_strings(const File& f, const std::string& path);
void write_attr(hid_t obj, const std::string& name, const std::string& value);
void write_attr(hid_t obj, const std::string& name, double value);
void write_attr(hid_t obj, const std::string& name, std::int64_t value);
void write_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values);
void write_attr(hid_t obj, const std::string& name, const std::vector<double>& values);
bool has_attr(hid_t obj, const std::string& name);
std::string read_attr_string(hid_t obj, const std::string& name);
std::vector<std::string> read_attr_strings(hid_t obj, const std::string& name);
double read_attr_double(hid_t obj, const std::string& name);
std::int64_t read_attr_int(hid_t obj, const std::string& name);
std::vector<double> read_attr_doubles(hid_t obj, const std::string& name);
// Open an object (group or dataset) by path for attribute access.
Handle open_object(const File& f, const std::string& path);

// Names of the links in the group at `path` ("/" for the root), in name
// order; empty when it is not a group.
std::vector<std::string> list_group(hid_t loc, const std::string& path);
// Is there a group / a dataset at path?
bool is_group(hid_t loc, const std::string& path);
bool is_dataset(hid_t loc, const std::string& path);
// A short description of a dataset's element type: "float32", "int16", "string", ...
std::string type_name(const File& f, const std::string& path);

// Quick content check: does the file start with the HDF5 signature?
bool is_hdf5(const std::string& path);

}  // namespace aptflow::h5
