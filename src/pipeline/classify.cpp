// aptflow classify: the whole pipeline of method.md sections 2-6 under the
// z-slab decomposition (docs/classify.md, docs/parallel.md): windows in
// rounds with a stop check (checkpoint / resume), per-rank sub-cell layers,
// domains, shuffled m/q control runs, one collective output file.
#include "aptflow/pipeline/classify.hpp"

#include <fmt/format.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>
#include <utility>

#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/dist/comm.hpp"
#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/halo.hpp"
#include "aptflow/dist/shuffle.hpp"
#include "aptflow/dist/window_ownership.hpp"
#include "aptflow/io/classify_result.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/xdmf.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/segment.hpp"
#include "aptflow/pipeline/device_stages.hpp"
#include "aptflow/pipeline/truth.hpp"
#include "aptflow/sdm/preprocess.hpp"
#include "classify_pass.hpp"
#include "domain_table.hpp"

namespace aptflow {

namespace {

using Clock = std::chrono::steady_clock;
using HostExec = Kokkos::DefaultHostExecutionSpace;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string first_diff_line(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  while (true) {
    const bool ga = static_cast<bool>(std::getline(sa, la)), gb = static_cast<bool>(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (!ga) la = "(end)";
    if (!gb) lb = "(end)";
    if (la != lb || !ga || !gb) return fmt::format("checkpoint '{}', now '{}'", la, lb);
  }
}

// Collective: does the checkpoint belong to this run? ConfigError (key
// resume) naming what changed otherwise.
void check_identity(const detail::ClassifyContext& c, const std::string& path, const WindowGrid& grid) {
  dist::collective_step(c.comm, [&] {
    const io::CheckpointIdentity id = c.identity(grid);
    const auto bad = io::checkpoint_identity_mismatch(path, id);
    if (!bad) return;
    const auto& [k, was] = *bad;
    const std::string detail = k + 1 == id.size() ? first_diff_line(was, id[k].second)
                                                  : fmt::format("checkpoint {}, now {}", was, id[k].second);
    throw ConfigError("resume",
                      fmt::format("the checkpoint {} was written for another run: the {} changed ({}); "
                                  "restore it, or run without --resume to start again",
                                  path, id[k].first, detail));
  });
}

// Collective: the probabilities known so far, their done flags, the summed
// mean-SDM rows and the run identity (io/classify_checkpoint.hpp).
void write_checkpoint(const detail::ClassifyContext& c, const std::string& path, const WindowGrid& grid,
                      const dist::WindowSlab& mine, const std::vector<float>& prob,
                      const std::vector<std::uint8_t>& done, const detail::MeanSdm& part) {
  detail::MeanSdm g = part;
  g.sum_over(c.comm);
  io::write_classify_checkpoint(c.comm, path, c.checkpoint_shape(grid), mine.first, mine.count, prob.data(),
                                done.data(), g.sum, g.count, c.identity(grid));
}

}  // namespace

ClassifySummary run_classify(MPI_Comm comm, const ClassifyOptions& opt) {
  const auto t_all = Clock::now();
  detail::ClassifyContext c;
  c.comm = comm;
  MPI_Comm_rank(comm, &c.rank);
  MPI_Comm_size(comm, &c.nranks);
  const int rank = c.rank, nranks = c.nranks;
  c.opt = &opt;
  detail::Progress progress("aptflow classify", opt.progress, rank, opt.progress_interval);
  c.progress = &progress;
  std::vector<std::pair<std::string, double>> prof;
  auto t = Clock::now();
  auto stage = [&](const char* name) {
    prof.emplace_back(name, since(t));
    t = Clock::now();
  };
  const HostExec& exec = c.exec;
  ClassifySummary sum;
  sum.checkpoint = classify_checkpoint_path(opt.output);

  // ---- models, range table, species, file hashes (errors on all ranks)
  sum.preprocessing_reason = detail::setup_classify(c);
  stage("setup");
  detail::hash_classify_inputs(c);
  stage("sha256");
  progress.line(fmt::format("setup: {} model(s), {} classes; SHA-256 of input, range and models {:.2f} s",
                            c.models.size(), c.K, prof.back().second));
  sum.preprocessing = c.prep_text();

  // ---- read, range
  IonIndex first_ion = 0;
  HostIonCloud cloud;
  dist::collective_step(comm, [&] {
    cloud = io::read_dataset_mpi(comm, opt.input, {}, nullptr, &first_ion);
    apply_ranges(exec, cloud, make_device_range_table<Kokkos::HostSpace>(c.table));
    exec.fence();
  });
  const Box bounds = dist::global_bounds(comm, cloud);
  // Region of interest: only the ions inside take part; the others get -1
  // in the per-ion output (roi.hpp). Kept ions are numbered in input order.
  const IonIndex read_first = first_ion, read_count = cloud.size();
  RoiSelection roi_sel;
  roi_sel = apply_roi(comm, cloud, first_ion, opt.roi, opt.input);
  first_ion = roi_sel.first_kept;
  sum.input_ions = roi_sel.read_total;
  // transform.align (docs/alignment.md): the pole onto z before the windows;
  // per-ion results keep their input index, domain centroids are turned back.
  const Alignment align = resolve_alignment(comm, cloud, opt.align, c.table, opt.input);
  apply_alignment(align, cloud);
  if (align.mode != AlignSpec::Mode::none) progress.line(describe(align));
  // Which preprocessing runs: a progress line here, the summary (the CLI
  // prints it on every run) and the output file (docs/preprocessing.md).
  if (!opt.model_note.empty()) progress.line(opt.model_note);
  progress.line(fmt::format("preprocessing {} [{}]", sum.preprocessing, sum.preprocessing_reason));
  stage("read+range");
  progress.line(fmt::format("read+range: {:.2f} s{}", prof.back().second,
                            opt.roi.enabled()
                                ? fmt::format("; region of interest {}: {} of {} ions", opt.roi.describe(),
                                              roi_sel.kept_total, roi_sel.read_total)
                                : std::string()));

  // ---- the real run
  std::vector<float> prob;
  std::vector<std::uint8_t> done;
  detail::MeanSdm msdm;
  WindowGrid grid;
  dist::WindowSlab mine;
  SubcellGrid sg;
  detail::SubcellRows sc;            // this rank's sub-cell layers
  std::vector<std::int32_t> cls_in;  // the ions this rank read, input order (-1 outside the ROI)
  std::vector<std::int64_t> dom_in;
  std::vector<DomainStats> domains;
  double window_seconds = 0;
  {
    detail::ClassifyPass p(c);
    // The input-order ions are needed again only by the shuffled-m/q control
    // runs; otherwise the decomposition takes them over and frees them.
    if (opt.shuffle_mq == 0)
      p.decompose(std::move(cloud), first_ion);
    else
      p.decompose(HostIonCloud(cloud), first_ion);
    stage("decompose+halo");
    progress.line(fmt::format("decompose+halo: {} ranks, halo {:.3f} nm, {} windows, {:.2f} s", nranks, p.h,
                              p.grid.size(), prof.back().second));
    std::string resume_from;
    if (opt.resume) {
      int exists = 0;
      if (rank == 0) exists = std::filesystem::exists(sum.checkpoint) ? 1 : 0;
      MPI_Bcast(&exists, 1, MPI_INT, 0, comm);
      if (exists) {
        check_identity(c, sum.checkpoint, p.grid);
        resume_from = sum.checkpoint;
        sum.resumed = true;
      } else {
        progress.line(
            fmt::format("resume: no checkpoint {}: starting from the first window", sum.checkpoint));
      }
    }
    const auto tw = Clock::now();
    p.windows("windows", resume_from);
    window_seconds = since(tw);
    stage("windows+predict");
    MPI_Allreduce(&p.computed, &sum.windows_computed, 1, MPI_INT64_T, MPI_SUM, comm);
    if (p.stopped) {
      const auto tc = Clock::now();
      write_checkpoint(c, sum.checkpoint, p.grid, p.mine, p.prob, p.done, p.msdm);
      progress.line(fmt::format("checkpoint {} written in {:.3f} s", sum.checkpoint, since(tc)));
      sum.stopped = true;
      sum.windows = p.grid.size();
      sum.ions = p.dec.global_count();
      sum.seconds = since(t_all);
      return sum;
    }
    p.segment();
    stage("subcells+labels");
    p.domains();
    stage("domains");
    progress.line(fmt::format("subcells+labels+domains: {} domains, {:.2f} s", p.dom.domains.size(),
                              prof[prof.size() - 2].second + prof.back().second));

    // What the output needs; the per-ion state is released here.
    auto ions = p.take_ion_results(roi_sel);
    cls_in = std::move(ions.cls_in);
    dom_in = std::move(ions.dom_in);
    sum.ions_per_class.assign(ions.per_class.size(), 0);
    MPI_Allreduce(ions.per_class.data(), sum.ions_per_class.data(), static_cast<int>(c.K), MPI_INT64_T,
                  MPI_SUM, comm);
    for (auto v : sum.ions_per_class) sum.labelled_ions += v;
    sum.ions = p.dec.global_count();
    sc = p.subcell_rows();
    domains = std::move(p.dom.domains);
    // Centroids (and axes) in input coordinates (docs/alignment.md section 7).
    domains_to_input_frame(align, domains);
    prob = std::move(p.prob);
    done = std::move(p.done);
    msdm = std::move(p.msdm);
    grid = p.grid;
    mine = p.mine;
    sg = p.sg;
  }
  std::int64_t empty_local = 0;
  for (std::int64_t w = 0; w < mine.count; ++w)
    empty_local += std::isnan(prob[static_cast<std::size_t>(w * c.K)]);
  MPI_Allreduce(&empty_local, &sum.empty_windows, 1, MPI_INT64_T, MPI_SUM, comm);
  sum.windows = grid.size();
  sum.domains = static_cast<std::int64_t>(domains.size());
  const SizeHistogramSpec& hs = opt.segment.domains.histogram;
  sum.size_histogram = domain_size_histogram(domains, hs).counts;
  stage("gather");

  // ---- shuffled m/q control runs
  for (std::int64_t j = 0; j < opt.shuffle_mq; ++j) {
    ControlRun run;
    run.seed = opt.shuffle_seed + static_cast<std::uint64_t>(j);
    detail::ClassifyPass p(c);
    p.decompose(detail::shuffled_cloud(c, cloud, first_ion, run.seed), first_ion);
    p.windows(fmt::format("control {}/{}", j + 1, opt.shuffle_mq), "");
    if (p.stopped) {
      // Every window of the real run is done: a resume redoes only the rest.
      write_checkpoint(c, sum.checkpoint, grid, mine, prob, done, msdm);
      sum.stopped = true;
      sum.seconds = since(t_all);
      return sum;
    }
    p.segment();
    p.domains();
    run.domains = static_cast<std::int64_t>(p.dom.domains.size());
    run.size_histogram = domain_size_histogram(p.dom.domains, hs).counts;
    const std::vector<double> a(sum.size_histogram.begin(), sum.size_histogram.end()),
        b(run.size_histogram.begin(), run.size_histogram.end());
    run.vs_real = compare_histograms(a, b);
    // (NaN, e.g. r of a constant histogram, printed without an ordered
    // comparison: callers may trap FE_INVALID.)
    auto num = [](double v, int digits) {
      return std::isnan(v) ? std::string("nan") : fmt::format("{:.{}f}", v, digits);
    };
    progress.line(fmt::format(
        "control {}/{}: seed {}, {} domains, Pearson r {}, chi2 {}, contingency {}; published chi2 {}, cq {}",
        j + 1, opt.shuffle_mq, run.seed, run.domains, num(run.vs_real.pearson_r, 4), num(run.vs_real.chi2, 2),
        num(run.vs_real.contingency, 4), num(run.vs_real.chi2_published, 2),
        num(run.vs_real.contingency_published, 4)));
    sum.control.push_back(std::move(run));
  }
  stage("control");

  // ---- mean SDM rows per argmax class (exact integer sums: any rank count)
  msdm.sum_over(comm);

  // ---- output (io/classify_result.hpp): "<output>.tmp", renamed when complete
  const std::string tmp = opt.output + ".tmp";
  {
    io::ClassifyResultFile out(tmp, comm);
    const auto names = c.models.front().output_names();
    {
      io::ClassifyInputRecord r;
      r.input_file = opt.input;
      r.input_sha256 = c.input_sha;
      r.range_file = opt.range;
      r.range_sha256 = c.range_sha;
      r.model_files = opt.models;
      r.model_sha256 = c.model_sha;
      r.ions = sum.input_ions;
      if (opt.roi.enabled()) r.roi = opt.roi.describe();
      r.roi_ions = sum.ions;
      r.bounds = {bounds.lo[0], bounds.lo[1], bounds.lo[2], bounds.hi[0], bounds.hi[1], bounds.hi[2]};
      for (const auto& ty : c.table.ion_types) r.ion_types.push_back(ty.name);
      for (const auto& rg : c.table.ranges) {
        r.ranges.insert(r.ranges.end(), {rg.lo, rg.hi});
        r.range_ion_type.push_back(rg.ion_type);
      }
      out.write_input(r);
    }
    {
      io::ClassifyWindowsRecord r;
      r.block = {
          {grid.counts[0], grid.counts[1], grid.counts[2]}, mine.iz_begin, mine.iz_end - mine.iz_begin};
      r.classes = c.K;
      r.probability = prob.data();
      r.class_names = names;
      r.origin = {grid.origin[0], grid.origin[1], grid.origin[2]};
      r.edge = grid.edge;
      r.stride = grid.stride;
      r.variant = to_string(opt.variant);
      r.preprocessing = sdm::preprocess_mode_name(c.prep.mode);
      r.preprocessing_detail = sum.preprocessing;
      r.background_clip = sdm::background_clip_name(opt.background);
      r.sdm_exclude = to_string(opt.sdm_exclude);
      r.sdm_arithmetic = to_string(opt.sdm_arithmetic);
      r.box = opt.window_box;
      r.mean_sdm = msdm.mean();
      r.mean_sdm_count = msdm.count;
      r.pairs = static_cast<std::int64_t>(c.species.size());
      r.bins = c.bins;
      r.bin_centres = c.spec.left_edges();
      for (auto& v : r.bin_centres) v += 0.5 * c.spec.bin;
      r.pair_text = fmt::format("{}", fmt::join(opt.pairs, ", "));
      out.write_windows(r);
    }
    {
      io::ClassifySubcellsRecord r;
      r.block = {{sg.counts[0], sg.counts[1], sg.counts[2]}, sc.first, sc.count};
      r.classes = c.K;
      r.sum = sc.sum.data();
      r.label = sc.label.data();
      r.origin = {sg.origin[0], sg.origin[1], sg.origin[2]};
      r.size = sg.size;
      r.thresholds = opt.segment.thresholds;
      r.class_names = names;
      r.rule = ion_rule_name(opt.segment.rule);
      r.empty_window = empty_window_name(opt.segment.empty_window);
      if (opt.segment.rule == IonRule::interpolate) r.smoothing = opt.segment.smoothing;
      out.write_subcells(r);
    }
    out.write_ions({sum.input_ions, read_first, read_count, cls_in.data(), dom_in.data()});
    detail::write_domain_table(out.file(), "/entry1/domains", domains);
    if (align.mode != AlignSpec::Mode::none) write_alignment(out.file(), "/entry1/alignment", align);
    {
      // Size histograms: row 0 the real run, one row per shuffled run.
      io::ClassifyControlRecord r;
      r.size_histogram = sum.size_histogram;
      r.bins = static_cast<std::int64_t>(sum.size_histogram.size());
      r.lo = hs.lo;
      r.hi = hs.hi;
      r.real_domains = sum.domains;
      r.overflow = hs.overflow_in_last_bin ? "last_bin" : "drop";
      for (const auto& run : sum.control) {
        r.size_histogram.insert(r.size_histogram.end(), run.size_histogram.begin(), run.size_histogram.end());
        r.seeds.push_back(static_cast<std::int64_t>(run.seed));
        r.domains.push_back(run.domains);
        r.pearson_r.push_back(run.vs_real.pearson_r);
        r.chi2.push_back(run.vs_real.chi2);
        r.contingency.push_back(run.vs_real.contingency);
        r.chi2_published.push_back(run.vs_real.chi2_published);
        r.contingency_published.push_back(run.vs_real.contingency_published);
      }
      out.write_control(r);
    }
    out.write_config(opt.config_text);
    stage("write");
    io::ClassifyProfilingRecord r;
    for (const auto& [k, v] : prof) {
      r.stages.push_back(k);
      r.seconds_max.push_back(v);
    }
    MPI_Allreduce(MPI_IN_PLACE, r.seconds_max.data(), static_cast<int>(r.seconds_max.size()), MPI_DOUBLE,
                  MPI_MAX, comm);
    double wsec = 0, total = 0;
    MPI_Allreduce(&window_seconds, &wsec, 1, MPI_DOUBLE, MPI_MAX, comm);
    for (double v : r.seconds_max) total += v;
    r.ranks = nranks;
    r.threads_per_rank = HostExec().concurrency();
    r.device_requested = to_string(opt.device);
    r.device = c.device_path ? (c.device.gpu ? "gpu" : "default execution space") : "host";
    r.execution_space = c.device_path ? Kokkos::DefaultExecutionSpace::name() : HostExec::name();
    r.device_id = c.device.device_id;
    r.ions_per_second = static_cast<double>(sum.ions) / std::max(total, 1e-9);
    r.windows_per_second = static_cast<double>(sum.windows_computed) / std::max(wsec, 1e-9);
    r.windows_computed = sum.windows_computed;
    r.resumed = sum.resumed;
    out.write_profiling(r);
    out.close();
  }
  MPI_Barrier(comm);
  dist::collective_step(comm, [&] {
    if (rank != 0) return;
    if (!opt.truth.empty()) {  // ground truth of a synthetic specimen (docs/classify.md), in the file
      const TruthComparison tc = compare_with_truth(tmp, opt.truth);
      write_truth_comparison(tmp, tc);
      std::fputs(format_truth_comparison(tc).c_str(), stdout);
    }
    if (std::rename(tmp.c_str(), opt.output.c_str()) != 0)
      throw ResourceError(
          fmt::format("cannot rename {} to {}: check the directory's permissions", tmp, opt.output));
    std::remove(sum.checkpoint.c_str());  // obsolete now (absent is fine)
    // ParaView sidecar next to the result (docs/report.md).
    io::write_classify_xdmf(opt.output, classify_xdmf_path(opt.output));
  });
  sum.seconds = since(t_all);
  return sum;
}

}  // namespace aptflow
