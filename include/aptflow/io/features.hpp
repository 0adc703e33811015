#pragma once
// Feature files and synthetic libraries (docs/file-layouts.md): SDM rows in
// HDF5, one dataset per (kind, pair), rows = samples (library samples or
// windows), written collectively by row blocks.
//
//   /features/<kind>/<A>-<B>   float32 (samples, bins...) raw pair counts;
//                              kind in z, zx, 3d, occupancy
//   /bins/<kind>               float64 bin left edges (nm)
//   /windows/centre            float32 (samples, 3) window centres (nm), window files only;
//                              attributes origin (3), edge, stride, counts (3), variant
//   /windows/centre_ions/<A>-<B> int64 (samples,) centre ions per window and pair
//   /labels                    int32 (samples,) class index, libraries only
//   /params/<name>             float32 (samples,) per varied parameter, libraries only
//   /alignment                 aptflow sdm with transform.align (pipeline/align.hpp write_alignment)
//   root attributes: format = "aptflow-features", version = 1, samples,
//   aptflow_version, config (TOML text), class_names (libraries).
#include <mpi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aptflow/io/h5.hpp"

namespace aptflow::io {

struct FeatureChannel {
  std::string kind;                 // "z", "zx", "3d", "occupancy"
  std::string pair;                 // "A-B"
  std::vector<std::int64_t> shape;  // shape of one sample, e.g. {93} or {200, 200}

  std::string path() const { return "features/" + kind + "/" + pair; }
  std::int64_t size() const;  // product of shape
};

struct WindowGridInfo {
  double origin[3] = {0, 0, 0};
  double edge = 0;
  double stride = 0;
  std::int64_t counts[3] = {0, 0, 0};
  std::string variant;
};

struct FeatureLayout {
  std::int64_t samples = 0;
  std::vector<FeatureChannel> channels;
  std::vector<std::pair<std::string, std::vector<double>>> bins;  // kind -> left edges (nm)
  bool windows = false;                                           // write windows/centre (+ centre_ions)
  WindowGridInfo window_grid;
  bool library = false;  // write labels + params
  std::vector<std::string> class_names;
  std::vector<std::string> params;  // names of params/<name>
  std::string config_text;
};

// Creates the file and every dataset (collective over comm; comm may be
// MPI_COMM_NULL for a serial file). Each write_* call is collective for a
// parallel file: every rank calls it, possibly with rows = 0.
class FeatureWriter {
 public:
  FeatureWriter(const std::string& path, const FeatureLayout& layout, MPI_Comm comm = MPI_COMM_NULL);
  const FeatureLayout& layout() const { return layout_; }
  // Rows [row0, row0 + rows) of channel c: rows * channel.size() floats.
  void write_features(std::size_t channel, std::int64_t row0, std::int64_t rows, const float* data);
  void write_labels(std::int64_t row0, std::int64_t rows, const std::int32_t* data);
  void write_param(const std::string& name, std::int64_t row0, std::int64_t rows, const float* data);
  void write_centres(std::int64_t row0, std::int64_t rows, const float* xyz);  // rows * 3
  void write_centre_ions(const std::string& pair, std::int64_t row0, std::int64_t rows,
                         const std::int64_t* data);
  // The open file, for groups written next to the rows (e.g. /alignment:
  // pipeline/align.hpp write_alignment); collective like the rows.
  const h5::File& file() const { return file_; }
  void close() { file_.close(); }

 private:
  void check_rows(std::int64_t row0, std::int64_t rows, const char* what) const;
  FeatureLayout layout_;
  h5::File file_;
};

// Everything but the feature rows.
struct FeatureFileInfo {
  FeatureLayout layout;  // channels, bins, class_names, params, config_text, window grid
  std::string aptflow_version;
  std::vector<std::int32_t> labels;        // libraries
  std::vector<std::vector<float>> params;  // per layout.params name
  std::vector<float> centres;              // windows: samples * 3
};

// InputError naming the file and the missing part when it is not a feature file.
FeatureFileInfo read_feature_info(const std::string& path);
// Rows [row0, row0 + rows) of features/<kind>/<pair> (rows < 0: to the end), flattened.
std::vector<float> read_features(const std::string& path, const std::string& kind, const std::string& pair,
                                 std::int64_t row0 = 0, std::int64_t rows = -1);

}  // namespace aptflow::io
