// The result file of aptflow classify (io/classify_result.hpp).
#include "aptflow/io/classify_result.hpp"

#include "aptflow/config.hpp"
#include "aptflow/io/sha256.hpp"

namespace aptflow::io {

namespace {

hsize_t hs(std::int64_t v) { return static_cast<hsize_t>(v); }

// A (z, y, x, [classes]) dataset written by this rank's layers.
template <class T>
void write_layers(const h5::File& f, const std::string& path, const LayerBlock& b, std::int64_t classes,
                  const T* data) {
  std::vector<hsize_t> dims{hs(b.counts[2]), hs(b.counts[1]), hs(b.counts[0])};
  if (classes > 0) dims.push_back(hs(classes));
  h5::create_dataset<T>(f, path, dims);
  h5::write_rows(f, path, hs(b.layer_first), hs(b.layer_count), data);
}

}  // namespace

ClassifyResultFile::ClassifyResultFile(const std::string& path, MPI_Comm comm)
    : f_(h5::File::create(path, comm)) {
  h5::ensure_nx_group(f_, "/entry1", "NXentry");
  h5::ensure_nx_group(f_, "/entry1/input", "NXcollection");
  h5::ensure_nx_group(f_, "/entry1/windows", "NXdata");
  h5::ensure_nx_group(f_, "/entry1/subcells", "NXdata");
  h5::ensure_nx_group(f_, "/entry1/ions", "NXdata");
  h5::ensure_nx_group(f_, "/entry1/domains", "NXcollection");
  h5::ensure_nx_group(f_, "/entry1/control", "NXcollection");
  h5::ensure_nx_group(f_, "/entry1/profiling", "NXcollection");
}

void ClassifyResultFile::write_input(const ClassifyInputRecord& r) {
  const auto& f = f_;
  h5::write_strings(f, "/entry1/input/input_file", {r.input_file});
  h5::write_strings(f, "/entry1/input/input_sha256", {r.input_sha256});
  h5::write_strings(f, "/entry1/input/range_file", {r.range_file});
  h5::write_strings(f, "/entry1/input/range_sha256", {r.range_sha256});
  h5::write_strings(f, "/entry1/input/model_files", r.model_files);
  h5::write_strings(f, "/entry1/input/model_sha256", r.model_sha256);
  h5::write(f, "/entry1/input/ions", std::vector<std::int64_t>{r.ions});
  if (r.roi) {  // region of interest: its description and the ions inside
    h5::write(f, "/entry1/input/roi_ions", std::vector<std::int64_t>{r.roi_ions});
    h5::write_strings(f, "/entry1/input/roi", {*r.roi});
  }
  h5::write(f, "/entry1/input/bounds", std::vector<double>(r.bounds.begin(), r.bounds.end()), {2, 3});
  h5::write_strings(f, "/entry1/input/ion_types", r.ion_types);
  if (!r.range_ion_type.empty()) {
    h5::write(f, "/entry1/input/ranges", r.ranges, {static_cast<hsize_t>(r.range_ion_type.size()), 2});
    h5::write(f, "/entry1/input/range_ion_type", r.range_ion_type);
  }
}

void ClassifyResultFile::write_windows(const ClassifyWindowsRecord& r) {
  const auto& f = f_;
  write_layers(f, "/entry1/windows/probability", r.block, r.classes, r.probability);
  {
    auto ds = h5::open_object(f, "/entry1/windows/probability");
    h5::write_attr(ds, "class_names", r.class_names);
    h5::write_attr(ds, "origin", std::vector<double>(r.origin.begin(), r.origin.end()));
    h5::write_attr(ds, "edge", r.edge);
    h5::write_attr(ds, "stride", r.stride);
    h5::write_attr(ds, "variant", r.variant);
    // What ran (docs/classify.md): the preprocessing of the z-SDMs and the
    // SDM rules; "box" only for windows.box.
    h5::write_attr(ds, "preprocessing", r.preprocessing);
    h5::write_attr(ds, "preprocessing_detail", r.preprocessing_detail);
    h5::write_attr(ds, "background_clip", r.background_clip);
    h5::write_attr(ds, "sdm_exclude", r.sdm_exclude);
    h5::write_attr(ds, "sdm_arithmetic", r.sdm_arithmetic);
    if (r.box) h5::write_attr(ds, "box", std::vector<double>(r.box->begin(), r.box->end()));
  }
  // (classes, bins) for one pair, (classes, pairs, bins) for several.
  if (r.pairs == 1)
    h5::write(f, "/entry1/windows/mean_sdm", r.mean_sdm, {hs(r.classes), hs(r.bins)});
  else
    h5::write(f, "/entry1/windows/mean_sdm", r.mean_sdm, {hs(r.classes), hs(r.pairs), hs(r.bins)});
  h5::write(f, "/entry1/windows/mean_sdm_count", r.mean_sdm_count);
  h5::write(f, "/entry1/windows/sdm_bin_centres", r.bin_centres);
  auto ds = h5::open_object(f, "/entry1/windows/mean_sdm");
  h5::write_attr(ds, "class_names", r.class_names);
  h5::write_attr(ds, "pair", r.pair_text);
  h5::write_attr(ds, "preprocessing", r.preprocessing);
}

void ClassifyResultFile::write_subcells(const ClassifySubcellsRecord& r) {
  const auto& f = f_;
  write_layers(f, "/entry1/subcells/sum", r.block, r.classes, r.sum);
  write_layers(f, "/entry1/subcells/label", r.block, 0, r.label);
  auto ds = h5::open_object(f, "/entry1/subcells/sum");
  h5::write_attr(ds, "origin", std::vector<double>(r.origin.begin(), r.origin.end()));
  h5::write_attr(ds, "size", r.size);
  h5::write_attr(ds, "thresholds", r.thresholds);
  h5::write_attr(ds, "class_names", r.class_names);
  h5::write_attr(ds, "rule", r.rule);
  h5::write_attr(ds, "empty_window", r.empty_window);
  if (r.smoothing) h5::write_attr(ds, "smoothing", *r.smoothing);
}

void ClassifyResultFile::write_ions(const ClassifyIonsRecord& r) {
  const auto& f = f_;
  h5::create_dataset<std::int32_t>(f, "/entry1/ions/class", {hs(r.total)});
  h5::create_dataset<std::int64_t>(f, "/entry1/ions/domain_id", {hs(r.total)});
  h5::write_rows(f, "/entry1/ions/class", hs(r.first), hs(r.count), r.cls);
  h5::write_rows(f, "/entry1/ions/domain_id", hs(r.first), hs(r.count), r.domain_id);
}

void ClassifyResultFile::write_control(const ClassifyControlRecord& r) {
  const auto& f = f_;
  const auto runs = static_cast<hsize_t>(r.seeds.size());
  h5::write(f, "/entry1/control/size_histogram", r.size_histogram, {runs + 1, hs(r.bins)});
  {
    auto ds = h5::open_object(f, "/entry1/control/size_histogram");
    h5::write_attr(ds, "lo", r.lo);
    h5::write_attr(ds, "hi", r.hi);
    h5::write_attr(ds, "real_domains", r.real_domains);
    h5::write_attr(ds, "overflow", r.overflow);
  }
  if (runs == 0) return;
  h5::write(f, "/entry1/control/shuffle_seed", r.seeds);
  h5::write(f, "/entry1/control/domains", r.domains);
  h5::write(f, "/entry1/control/pearson_r", r.pearson_r);
  h5::write(f, "/entry1/control/chi2", r.chi2);
  h5::write(f, "/entry1/control/contingency", r.contingency);
  h5::write(f, "/entry1/control/chi2_published", r.chi2_published);
  h5::write(f, "/entry1/control/contingency_published", r.contingency_published);
}

void ClassifyResultFile::write_config(const std::string& text) {
  h5::write_strings(f_, "/entry1/config", {text});
  auto ds = h5::open_object(f_, "/entry1/config");
  h5::write_attr(ds, "sha256", sha256_hex(text));
  h5::write_attr(ds, "aptflow_version", std::string(APTFLOW_VERSION));
  h5::write_attr(ds, "git_hash", std::string(APTFLOW_GIT_HASH));
}

void ClassifyResultFile::write_profiling(const ClassifyProfilingRecord& r) {
  h5::write_strings(f_, "/entry1/profiling/stage", r.stages);
  h5::write(f_, "/entry1/profiling/seconds_max", r.seconds_max);
  auto pg = h5::open_object(f_, "/entry1/profiling");
  h5::write_attr(pg, "ranks", r.ranks);
  h5::write_attr(pg, "threads_per_rank", r.threads_per_rank);
  // --device: the request, where the window counts and the CNN ran, rank 0's GPU
  h5::write_attr(pg, "device_requested", r.device_requested);
  h5::write_attr(pg, "device", r.device);
  h5::write_attr(pg, "execution_space", r.execution_space);
  h5::write_attr(pg, "device_id", r.device_id);
  h5::write_attr(pg, "ions_per_second", r.ions_per_second);
  h5::write_attr(pg, "windows_per_second", r.windows_per_second);
  h5::write_attr(pg, "windows_computed", r.windows_computed);
  h5::write_attr(pg, "resumed", static_cast<std::int64_t>(r.resumed ? 1 : 0));
}

}  // namespace aptflow::io
