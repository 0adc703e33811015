// Feature and library files (layout: include/aptflow/io/features.hpp, docs/file-layouts.md).
#include "aptflow/io/features.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"

namespace aptflow::io {

namespace {

constexpr const char* kFormat = "aptflow-features";
constexpr std::int64_t kVersion = 1;

std::vector<hsize_t> row_shape(std::int64_t samples, const std::vector<std::int64_t>& tail) {
  std::vector<hsize_t> s{static_cast<hsize_t>(samples)};
  for (auto v : tail) s.push_back(static_cast<hsize_t>(v));
  return s;
}

}  // namespace

std::int64_t FeatureChannel::size() const {
  std::int64_t n = 1;
  for (auto v : shape) n *= v;
  return n;
}

FeatureWriter::FeatureWriter(const std::string& path, const FeatureLayout& layout, MPI_Comm comm)
    : layout_(layout), file_(h5::File::create(path, comm)) {
  const auto& L = layout_;
  if (L.samples < 0) throw InternalError("FeatureWriter: negative sample count");
  for (const auto& c : L.channels) h5::create_dataset<float>(file_, c.path(), row_shape(L.samples, c.shape));
  for (const auto& [kind, edges] : L.bins) h5::write<double>(file_, "bins/" + kind, edges);
  if (L.windows) {
    h5::create_dataset<float>(file_, "windows/centre", row_shape(L.samples, {3}));
    for (const auto& c : L.channels)
      if (!h5::exists(file_, "windows/centre_ions/" + c.pair))
        h5::create_dataset<std::int64_t>(file_, "windows/centre_ions/" + c.pair, row_shape(L.samples, {}));
    auto g = h5::open_object(file_, "windows");
    const auto& w = L.window_grid;
    h5::write_attr(g, "origin", std::vector<double>{w.origin[0], w.origin[1], w.origin[2]});
    h5::write_attr(g, "edge", w.edge);
    h5::write_attr(g, "stride", w.stride);
    h5::write_attr(g, "counts",
                   std::vector<double>{double(w.counts[0]), double(w.counts[1]), double(w.counts[2])});
    h5::write_attr(g, "variant", w.variant);
  }
  if (L.library) {
    h5::create_dataset<std::int32_t>(file_, "labels", row_shape(L.samples, {}));
    for (const auto& p : L.params) h5::create_dataset<float>(file_, "params/" + p, row_shape(L.samples, {}));
    h5::write_attr(file_.id(), "class_names", L.class_names);
  }
  h5::write_attr(file_.id(), "format", std::string(kFormat));
  h5::write_attr(file_.id(), "version", kVersion);
  h5::write_attr(file_.id(), "samples", L.samples);
  h5::write_attr(file_.id(), "aptflow_version", std::string(APTFLOW_VERSION));
  h5::write_attr(file_.id(), "config", L.config_text);
}

void FeatureWriter::check_rows(std::int64_t row0, std::int64_t rows, const char* what) const {
  if (row0 < 0 || rows < 0 || row0 + rows > layout_.samples)
    throw InternalError(fmt::format("FeatureWriter::{}: rows [{}, {}) outside [0, {})", what, row0,
                                    row0 + rows, layout_.samples));
}

void FeatureWriter::write_features(std::size_t channel, std::int64_t row0, std::int64_t rows,
                                   const float* data) {
  check_rows(row0, rows, "write_features");
  if (channel >= layout_.channels.size()) throw InternalError("FeatureWriter::write_features: bad channel");
  h5::write_rows<float>(file_, layout_.channels[channel].path(), hsize_t(row0), hsize_t(rows), data);
}

void FeatureWriter::write_labels(std::int64_t row0, std::int64_t rows, const std::int32_t* data) {
  check_rows(row0, rows, "write_labels");
  h5::write_rows<std::int32_t>(file_, "labels", hsize_t(row0), hsize_t(rows), data);
}

void FeatureWriter::write_param(const std::string& name, std::int64_t row0, std::int64_t rows,
                                const float* data) {
  check_rows(row0, rows, "write_param");
  h5::write_rows<float>(file_, "params/" + name, hsize_t(row0), hsize_t(rows), data);
}

void FeatureWriter::write_centres(std::int64_t row0, std::int64_t rows, const float* xyz) {
  check_rows(row0, rows, "write_centres");
  h5::write_rows<float>(file_, "windows/centre", hsize_t(row0), hsize_t(rows), xyz);
}

void FeatureWriter::write_centre_ions(const std::string& pair, std::int64_t row0, std::int64_t rows,
                                      const std::int64_t* data) {
  check_rows(row0, rows, "write_centre_ions");
  h5::write_rows<std::int64_t>(file_, "windows/centre_ions/" + pair, hsize_t(row0), hsize_t(rows), data);
}

FeatureFileInfo read_feature_info(const std::string& path) {
  auto f = h5::File::open(path);
  if (!h5::has_attr(f.id(), "format") || h5::read_attr_string(f.id(), "format") != kFormat)
    throw InputError(path,
                     "not an aptflow feature file (root attribute format != \"aptflow-features\"): "
                     "write it with aptflow sdm or aptflow synth library");
  FeatureFileInfo info;
  auto& L = info.layout;
  L.samples = h5::read_attr_int(f.id(), "samples");
  L.config_text = h5::read_attr_string(f.id(), "config");
  info.aptflow_version = h5::read_attr_string(f.id(), "aptflow_version");
  if (h5::exists(f, "features"))
    for (const auto& kind : h5::list_group(f, "features"))
      for (const auto& pair : h5::list_group(f, "features/" + kind)) {
        FeatureChannel c{kind, pair, {}};
        const auto d = h5::dims(f, c.path());
        for (std::size_t i = 1; i < d.size(); ++i) c.shape.push_back(static_cast<std::int64_t>(d[i]));
        L.channels.push_back(c);
      }
  if (h5::exists(f, "bins"))
    for (const auto& kind : h5::list_group(f, "bins"))
      L.bins.emplace_back(kind, h5::read<double>(f, "bins/" + kind));
  if (h5::exists(f, "windows/centre")) {
    L.windows = true;
    info.centres = h5::read<float>(f, "windows/centre");
    auto g = h5::open_object(f, "windows");
    auto& w = L.window_grid;
    const auto o = h5::read_attr_doubles(g, "origin"), c = h5::read_attr_doubles(g, "counts");
    for (int a = 0; a < 3; ++a) {
      w.origin[a] = o.at(a);
      w.counts[a] = static_cast<std::int64_t>(c.at(a));
    }
    w.edge = h5::read_attr_double(g, "edge");
    w.stride = h5::read_attr_double(g, "stride");
    w.variant = h5::read_attr_string(g, "variant");
  }
  if (h5::exists(f, "labels")) {
    L.library = true;
    info.labels = h5::read<std::int32_t>(f, "labels");
    L.class_names = h5::read_attr_strings(f.id(), "class_names");
    if (h5::exists(f, "params"))
      for (const auto& p : h5::list_group(f, "params")) {
        L.params.push_back(p);
        info.params.push_back(h5::read<float>(f, "params/" + p));
      }
  }
  return info;
}

std::vector<float> read_features(const std::string& path, const std::string& kind, const std::string& pair,
                                 std::int64_t row0, std::int64_t rows) {
  auto f = h5::File::open(path);
  const std::string p = "features/" + kind + "/" + pair;
  if (!h5::exists(f, p))
    throw InputError(path, fmt::format("no dataset '{}' in the feature file: check --kind and --pair", p));
  const auto d = h5::dims(f, p);
  const auto n = static_cast<std::int64_t>(d.at(0));
  if (rows < 0) rows = n - row0;
  if (row0 < 0 || row0 + rows > n)
    throw InputError(path, fmt::format("rows [{}, {}) outside the {} rows of '{}'", row0, row0 + rows, n, p));
  std::int64_t per = 1;
  for (std::size_t i = 1; i < d.size(); ++i) per *= static_cast<std::int64_t>(d[i]);
  std::vector<float> out(static_cast<std::size_t>(rows * per));
  if (rows > 0) h5::read_rows<float>(f, p, hsize_t(row0), hsize_t(rows), out.data());
  return out;
}

}  // namespace aptflow::io
