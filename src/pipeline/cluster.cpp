// aptflow cluster: DBSCAN domains of one or two point clouds over MPI z
// slabs, size histograms and the real-versus-control statistics (see
// include/aptflow/pipeline/cluster.hpp and docs/cli.md).
#include "aptflow/pipeline/cluster.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <Kokkos_Core.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/gather.hpp"
#include "aptflow/dist/halo.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "domain_table.hpp"

namespace aptflow {

namespace {

using Exec = Kokkos::DefaultHostExecutionSpace;

// One cloud on this rank: the summary (same on every rank) and the per-ion
// results of the ions this rank read.
struct Clustered {
  CloudDomains summary;
  IonIndex read_first = 0;
  std::vector<std::int64_t> domain;  // per ion read: domain id, -1 = noise or not taking part
  std::vector<float> xyz;            // per ion read: x, y, z (only when written)
};

Clustered cluster_cloud(MPI_Comm comm, const std::string& path, const ClusterOptions& opt,
                        const RangeTable* table, const std::vector<int>& species_ids, bool keep_positions,
                        const char* what, Alignment& align, bool resolve_align) {
  Clustered out;
  out.summary.file = path;
  io::ReadOptions ropt;
  ropt.nonfinite = opt.drop_nonfinite ? io::NonFinite::drop : io::NonFinite::error;
  IonIndex first = 0;
  HostIonCloud cloud = io::read_dataset_mpi(comm, path, ropt, nullptr, &first);
  out.read_first = first;
  const Exec exec;
  if (table) {
    apply_ranges(exec, cloud, make_device_range_table<Kokkos::HostSpace>(*table));
    exec.fence();
  }
  if (keep_positions) {
    out.xyz.resize(static_cast<std::size_t>(cloud.size()) * 3);
    for (IonIndex i = 0; i < cloud.size(); ++i) {
      out.xyz[static_cast<std::size_t>(3 * i)] = cloud.x(i);
      out.xyz[static_cast<std::size_t>(3 * i + 1)] = cloud.y(i);
      out.xyz[static_cast<std::size_t>(3 * i + 2)] = cloud.z(i);
    }
  }
  // transform.align is resolved on the input cloud's ranged ions inside the
  // region of interest (input coordinates, every species); the control reuses it.
  const bool resolve = resolve_align && opt.align.mode != AlignSpec::Mode::none;
  HostIonCloud in_roi;
  if (resolve) in_roi = opt.roi.enabled() ? select_ions(cloud, roi_mask(cloud, opt.roi)) : cloud;
  // Which ions take part: species (when given) and the region of interest.
  std::vector<std::uint8_t> mask;
  if (!species_ids.empty() || opt.roi.enabled()) {
    mask = roi_mask(cloud, opt.roi);
    if (!species_ids.empty()) {
      std::vector<std::uint8_t> wanted(table->ion_types.size() + 1, 0);
      for (int s : species_ids) wanted[static_cast<std::size_t>(s)] = 1;
      for (IonIndex i = 0; i < cloud.size(); ++i)
        if (!wanted[cloud.species(i)]) mask[static_cast<std::size_t>(i)] = 0;
    }
  }
  const IonIndex read_count = cloud.size();
  RoiSelection sel = keep_ions(comm, cloud, first, std::move(mask));
  out.summary.ions = sel.read_total;
  out.summary.clustered_ions = sel.kept_total;
  if (sel.kept_total == 0) {  // the same on every rank: one error everywhere
    if (!species_ids.empty())
      throw InputError(path, fmt::format("the {} holds no ion of {} (range file {}){}: give species it holds "
                                         "(aptflow inspect --range lists them)",
                                         what, fmt::join(opt.species, ", "), opt.range,
                                         opt.roi.enabled() ? " inside the region of interest" : ""));
    if (opt.roi.enabled())
      throw InputError(path,
                       fmt::format("the region of interest ({} = {}) holds none of its {} ions: move it "
                                   "inside the data (aptflow inspect prints the bounds)",
                                   opt.roi.key, opt.roi.describe(), sel.read_total));
    throw InputError(path, fmt::format("the {} holds no ions: give a point cloud with ions", what));
  }
  if (resolve) {  // collective
    align = resolve_alignment(comm, in_roi, opt.align, table ? *table : RangeTable{}, path);
    in_roi = HostIonCloud();
  }
  apply_alignment(align, cloud);  // the ions that take part, after the selection in input coordinates
  // z slabs with a halo of 2 eps: the distributed DBSCAN of segment.hpp.
  const double h = 2.0 * opt.domains.eps * (1 + 1e-6) + 1e-3;
  dist::ZSlabDecomposition dec = dist::decompose_z(comm, std::move(cloud), sel.first_kept);
  dist::LocalIons local = dist::exchange_halo(dec, h);
  dec.release_owned_ions();
  LabelledIons ions;
  for (IonIndex i = 0; i < local.size(); ++i)
    ions.push_back(local.cloud.x(i), local.cloud.y(i), local.cloud.z(i), local.index(i), 0);
  Slab slab;
  if (dec.rank() > 0) slab.z_lo = dec.z_lo();
  if (dec.rank() < dec.size() - 1) slab.z_hi = dec.z_hi();
  slab.halo = h;
  DomainResult dom = find_domains_mpi(dec.comm(), ions, slab, opt.domains);
  const IonIndex n_owned = local.owned_end - local.owned_begin;
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> owned("aptflow::cluster::domain", n_owned);
  for (IonIndex i = 0; i < n_owned; ++i)
    owned(i) = dom.domain[static_cast<std::size_t>(local.owned_begin + i)];
  local = dist::LocalIons();
  ions = LabelledIons();
  const auto kept =
      dist::to_input_order<std::int64_t>(dec, Kokkos::View<const std::int64_t*, Kokkos::HostSpace>(owned));
  out.domain = expand_to_read<std::int64_t>(sel, kept.data(), dec.input_count(), -1);
  if (static_cast<IonIndex>(out.domain.size()) != read_count)
    throw InternalError("cluster: per-ion domains do not match the ions read");
  for (const auto& d : dom.domains) out.summary.domain_ions += d.ions;
  out.summary.noise_ions = out.summary.clustered_ions - out.summary.domain_ions;
  out.summary.histogram = domain_size_histogram(dom.domains, opt.domains.histogram);
  domains_to_input_frame(align, dom.domains);  // centroids and axes in input coordinates
  out.summary.domains = std::move(dom.domains);
  return out;
}

void write_histogram(const h5::File& f, const std::string& path, const SizeHistogram& h,
                     const SizeHistogramSpec& spec) {
  h5::write(f, path, h.counts);
  auto ds = h5::open_object(f, path);
  h5::write_attr(ds, "lo", spec.lo);
  h5::write_attr(ds, "hi", spec.hi);
  h5::write_attr(ds, "overflow", std::string(spec.overflow_in_last_bin ? "last_bin" : "drop"));
  h5::write_attr(ds, "domains_above_hi", h.overflow);
}

// ParaView: the ions as a point cloud with their domain id.
void write_xdmf(const std::string& h5_path, const std::string& xdmf_path, std::int64_t n) {
  const std::string file = std::filesystem::path(h5_path).filename().string();
  std::ofstream x(xdmf_path);
  x << "<?xml version=\"1.0\" ?>\n<Xdmf Version=\"3.0\">\n <Domain>\n  <Grid Name=\"ions\" "
       "GridType=\"Uniform\">\n"
    << "   <Topology TopologyType=\"Polyvertex\" NumberOfElements=\"" << n << "\"/>\n"
    << "   <Geometry GeometryType=\"XYZ\">\n    <DataItem Dimensions=\"" << n
    << " 3\" NumberType=\"Float\" Precision=\"4\" Format=\"HDF\">" << file
    << ":/entry1/ions/position</DataItem>\n"
    << "   </Geometry>\n   <Attribute Name=\"domain_id\" AttributeType=\"Scalar\" Center=\"Node\">\n"
    << "    <DataItem Dimensions=\"" << n << "\" NumberType=\"Int\" Precision=\"8\" Format=\"HDF\">" << file
    << ":/entry1/ions/domain_id</DataItem>\n   </Attribute>\n  </Grid>\n </Domain>\n</Xdmf>\n";
  if (!x) throw ResourceError(fmt::format("cannot write {}: check the directory's permissions", xdmf_path));
}

void write_result(MPI_Comm comm, const ClusterOptions& opt, const ClusterResult& r, const Clustered& real,
                  const Clustered* control) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const std::string tmp = opt.out + ".tmp";
  {
    auto f = h5::File::create(tmp, comm);
    h5::ensure_nx_group(f, "/entry1", "NXentry");
    h5::ensure_nx_group(f, "/entry1/input", "NXcollection");
    h5::ensure_nx_group(f, "/entry1/ions", "NXdata");
    h5::ensure_nx_group(f, "/entry1/domains", "NXcollection");
    h5::write_strings(f, "/entry1/input/input_file", {opt.input});
    h5::write_strings(f, "/entry1/input/range_file", {opt.range});
    h5::write_strings(f, "/entry1/input/species",
                      opt.species.empty() ? std::vector<std::string>{"all"} : opt.species);
    h5::write_strings(f, "/entry1/input/roi", {opt.roi.describe()});
    h5::write(f, "/entry1/input/ions", std::vector<std::int64_t>{r.real.ions});
    h5::write(f, "/entry1/input/clustered_ions", std::vector<std::int64_t>{r.real.clustered_ions});
    {
      auto g = h5::open_object(f, "/entry1/input");
      h5::write_attr(g, "eps", opt.domains.eps);
      h5::write_attr(g, "min_samples", static_cast<std::int64_t>(opt.domains.min_samples));
    }
    const auto n = static_cast<hsize_t>(r.real.ions);
    const auto count = static_cast<hsize_t>(real.domain.size());
    h5::create_dataset<float>(f, "/entry1/ions/position", {n, 3});
    h5::write_rows(f, "/entry1/ions/position", static_cast<hsize_t>(real.read_first), count, real.xyz.data());
    h5::create_dataset<std::int64_t>(f, "/entry1/ions/domain_id", {n});
    h5::write_rows(f, "/entry1/ions/domain_id", static_cast<hsize_t>(real.read_first), count,
                   real.domain.data());
    detail::write_domain_table(f, "/entry1/domains", r.real.domains);
    if (r.alignment.mode != AlignSpec::Mode::none) write_alignment(f, "/entry1/alignment", r.alignment);
    write_histogram(f, "/entry1/domains/size_histogram", r.real.histogram, opt.domains.histogram);
    if (control) {
      h5::ensure_nx_group(f, "/entry1/control", "NXcollection");
      const auto& c = *r.control;
      h5::write_strings(f, "/entry1/control/input_file", {opt.control});
      h5::write(f, "/entry1/control/ions", std::vector<std::int64_t>{c.ions});
      h5::write(f, "/entry1/control/clustered_ions", std::vector<std::int64_t>{c.clustered_ions});
      const auto nc = static_cast<hsize_t>(c.ions);
      h5::create_dataset<std::int64_t>(f, "/entry1/control/domain_id", {nc});
      h5::write_rows(f, "/entry1/control/domain_id", static_cast<hsize_t>(control->read_first),
                     static_cast<hsize_t>(control->domain.size()), control->domain.data());
      detail::write_domain_table(f, "/entry1/control/domains", c.domains);
      write_histogram(f, "/entry1/control/size_histogram", c.histogram, opt.domains.histogram);
      h5::write(f, "/entry1/control/pearson_r", std::vector<double>{r.stats.pearson_r});
      h5::write(f, "/entry1/control/chi2", std::vector<double>{r.stats.chi2_published});
      h5::write(f, "/entry1/control/contingency", std::vector<double>{r.stats.contingency_published});
      h5::write(f, "/entry1/control/chi2_homogeneity", std::vector<double>{r.stats.chi2});
      h5::write(f, "/entry1/control/contingency_homogeneity", std::vector<double>{r.stats.contingency});
    }
    f.close();
  }
  MPI_Barrier(comm);
  int ok = 1;
  std::string msg;
  if (rank == 0) {
    try {
      if (std::rename(tmp.c_str(), opt.out.c_str()) != 0)
        throw ResourceError(
            fmt::format("cannot rename {} to {}: check the directory's permissions", tmp, opt.out));
      write_xdmf(opt.out, std::filesystem::path(opt.out).replace_extension(".xdmf").string(), r.real.ions);
    } catch (const std::exception& e) {
      ok = 0;
      msg = e.what();
    }
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
  if (!ok) {
    if (rank == 0) throw ResourceError(msg);
    throw ResourceError("rank 0 could not finish the output file");
  }
}

nlohmann::json cloud_json(const CloudDomains& c) {
  return {{"file", c.file},
          {"ions", c.ions},
          {"clustered_ions", c.clustered_ions},
          {"domains", static_cast<std::int64_t>(c.domains.size())},
          {"domain_ions", c.domain_ions},
          {"noise_ions", c.noise_ions},
          {"domains_above_hi", c.histogram.overflow},
          {"size_histogram", c.histogram.counts}};
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

ClusterOptions ClusterOptions::published() {
  ClusterOptions o;
  o.domains.eps = 0.4;
  o.domains.min_samples = 3;
  o.domains.histogram.bins = 32;
  o.domains.histogram.lo = 0;
  o.domains.histogram.hi = 160;
  o.domains.histogram.overflow_in_last_bin = true;
  return o;
}

ClusterResult run_cluster(MPI_Comm comm, const ClusterOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  opt.domains.validate();
  std::optional<RangeTable> table;
  std::vector<int> ids;
  if (!opt.species.empty() && opt.range.empty())
    throw ConfigError("--species", "needs --range (the range file that names the ion types)");
  if (!opt.range.empty()) table = read_range_file(opt.range);
  for (const auto& name : opt.species) {
    const int id = find_species(*table, name);
    if (id <= 0) {
      std::vector<std::string> names;
      for (const auto& t : table->ion_types) names.push_back(t.name);
      throw ConfigError("--species",
                        fmt::format("ion type '{}' is not in the range file {} (ion types there: {}): "
                                    "use one of those names",
                                    name, opt.range, fmt::join(names, ", ")));
    }
    ids.push_back(id);
  }
  const RangeTable* tp = table ? &*table : nullptr;
  const bool write = !opt.out.empty();
  ClusterResult r;
  if (!opt.align.species.empty() && !tp)
    throw ConfigError("transform.species", "needs --range (the range file that names the ion types)");
  Alignment align;
  Clustered real = cluster_cloud(comm, opt.input, opt, tp, ids, write, "input cloud", align, true);
  r.alignment = align;
  r.real = real.summary;
  std::optional<Clustered> control;
  if (!opt.control.empty()) {
    control = cluster_cloud(comm, opt.control, opt, tp, ids, false, "control cloud", align, false);
    r.control = control->summary;
    const std::vector<double> a(r.real.histogram.counts.begin(), r.real.histogram.counts.end()),
        b(r.control->histogram.counts.begin(), r.control->histogram.counts.end());
    r.stats = compare_histograms(a, b);
  }
  if (write) write_result(comm, opt, r, real, control ? &*control : nullptr);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::string cluster_json(const ClusterResult& r, const ClusterOptions& opt) {
  const auto& h = opt.domains.histogram;
  nlohmann::json j = cloud_json(r.real);
  j["input"] = opt.input;
  j.erase("file");
  j["species"] = opt.species;
  j["roi"] = opt.roi.describe();
  j["eps"] = opt.domains.eps;
  j["min_samples"] = opt.domains.min_samples;
  j["histogram"] = {{"bins", h.bins},
                    {"lo", h.lo},
                    {"hi", h.hi},
                    {"overflow", h.overflow_in_last_bin ? "last_bin" : "drop"}};
  if (r.control) {
    nlohmann::json c = cloud_json(*r.control);
    c["pearson_r"] = number_or_null(r.stats.pearson_r);
    c["chi2"] = number_or_null(r.stats.chi2_published);
    c["contingency"] = number_or_null(r.stats.contingency_published);
    c["bins_used"] = r.stats.published_bins;
    c["chi2_homogeneity"] = number_or_null(r.stats.chi2);
    c["contingency_homogeneity"] = number_or_null(r.stats.contingency);
    c["dof"] = r.stats.dof;
    j["control"] = std::move(c);
  }
  if (r.alignment.mode != AlignSpec::Mode::none)
    j["alignment"] = {{"mode", to_string(r.alignment.mode)},
                      {"tilt_deg", r.alignment.tilt_deg},
                      {"azimuth_deg", r.alignment.azimuth_deg},
                      {"per_tile", r.alignment.per_tile}};
  if (!opt.out.empty()) j["out"] = opt.out;
  j["seconds"] = r.seconds;
  return j.dump();
}

std::string cluster_text(const ClusterResult& r, const ClusterOptions& opt) {
  const auto& h = opt.domains.histogram;
  auto who = [&](const CloudDomains& c) {
    std::string s = fmt::format("{}: {} ions", c.file, c.ions);
    if (c.clustered_ions != c.ions)
      s += fmt::format(", {} take part ({}{})", c.clustered_ions,
                       opt.species.empty() ? "" : fmt::format("species {}", fmt::join(opt.species, ",")),
                       opt.roi.enabled() ? (opt.species.empty() ? "" : ", ") + opt.roi.describe() : "");
    s += fmt::format("; {} domains ({} ions), {} noise ions", c.domains.size(), c.domain_ions, c.noise_ions);
    return s;
  };
  std::string s = fmt::format("aptflow cluster: DBSCAN eps {} nm, min_samples {}\n", opt.domains.eps,
                              opt.domains.min_samples);
  if (r.alignment.mode != AlignSpec::Mode::none) s += describe(r.alignment) + "\n";
  s += "input    " + who(r.real) + "\n";
  s += fmt::format("size histogram ({} bins over {}-{} ions, {}): {}\n", h.bins, h.lo, h.hi,
                   h.overflow_in_last_bin ? "larger domains in the last bin" : "larger domains left out",
                   fmt::join(r.real.histogram.counts, " "));
  if (r.control) {
    s += "control  " + who(*r.control) + "\n";
    s += fmt::format("control histogram: {}\n", fmt::join(r.control->histogram.counts, " "));
    auto num = [](double v, int digits) {
      return std::isnan(v) ? std::string("nan") : fmt::format("{:.{}f}", v, digits);
    };
    s += fmt::format(
        "real vs control: Pearson r {}, chi2 {} over {} bins, contingency {} (published definitions); "
        "homogeneity chi2 {} (dof {}), C {}\n",
        num(r.stats.pearson_r, 4), num(r.stats.chi2_published, 3), r.stats.published_bins,
        num(r.stats.contingency_published, 4), num(r.stats.chi2, 3), r.stats.dof,
        num(r.stats.contingency, 4));
  }
  if (!opt.out.empty()) s += fmt::format("written: {}\n", opt.out);
  return s;
}

}  // namespace aptflow
