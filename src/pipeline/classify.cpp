// aptflow classify: the whole pipeline of method.md sections 2-6 under the
// z-slab decomposition (docs/classify.md, docs/parallel.md): windows in
// rounds with a stop check (checkpoint / resume), per-rank sub-cell layers,
// domains, shuffled m/q control runs, one collective output file.
#include "aptflow/pipeline/classify.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cfenv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/dist/comm.hpp"
#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/exchange.hpp"
#include "aptflow/dist/gather.hpp"
#include "aptflow/dist/halo.hpp"
#include "aptflow/dist/shuffle.hpp"
#include "aptflow/dist/window_ownership.hpp"
#include "aptflow/io/classify_result.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/io/sha256.hpp"
#include "aptflow/io/xdmf.hpp"
#include "aptflow/kernels/composition.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/segment.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/nn/predict.hpp"
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

int lookup_species(const RangeTable& table, const std::string& name, const std::string& range_path,
                   const char* key = "pair") {
  const int id = find_species(table, name);
  if (id > 0) return id;
  std::vector<std::string> names;
  for (const auto& t : table.ion_types) names.push_back(t.name);
  throw ConfigError(key, fmt::format("ion type '{}' is not in the range file {} (ion types there: {}): "
                                     "use one of those names",
                                     name, range_path, fmt::join(names, ", ")));
}

// The preprocessing of the dataset windows (preprocess.mode, docs/preprocessing.md):
// "auto" is what an aptflow model file records; a Keras file records nothing
// and gets the experimental chain, as the published pipeline applies it to
// dataset windows. Returns the mode and why it was chosen.
std::pair<std::string, std::string> resolve_preprocessing(const std::string& mode,
                                                          const std::string& model_path,
                                                          const nn::ModelFeatures& f) {
  if (mode != "auto") return {mode, "preprocess.mode"};
  if (nn::is_keras_file(model_path))
    return {"experimental",
            "auto: the Keras model records no preprocessing; dataset windows get the "
            "published experimental chain"};
  if (f.normalisation == "none") return {"none", "auto: the model's features are not normalised"};
  if (f.preprocessing != "minmax_only" && f.preprocessing != "experimental")
    throw ConfigError("model", fmt::format("the model asks for preprocessing '{}'; classify knows "
                                           "minmax_only and experimental: fix the model's features or set "
                                           "preprocess.mode",
                                           f.preprocessing));
  return {f.preprocessing, "auto: as the model records"};
}

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
  c.wspec = opt.variant == WindowVariant::feal ? WindowSpec::feal(opt.edge) : WindowSpec::cocrni(opt.edge);
  c.spec.exclude = opt.sdm_exclude;
  c.spec.arithmetic = opt.sdm_arithmetic;
  dist::collective_step(comm, [&] {
    nn::KerasImportOptions keras;
    nn::ModelFeatures kf;
    kf.kind = "z";
    kf.pairs = opt.pairs;
    kf.bins = {c.spec.size()};
    kf.variant = to_string(opt.variant);
    keras.features = kf;
    for (const auto& path : opt.models) c.models.push_back(nn::load_model(path, keras));
    const auto& m0 = c.models.front();
    if (m0.features.kind != "z")
      throw ConfigError("model",
                        fmt::format("{} takes {} features; classify computes z-SDMs: use a z-SDM model",
                                    opt.models.front(), m0.features.kind));
    const bool any_pair = opt.any_model_pair && opt.pairs.size() == 1 && m0.features.pairs.size() <= 1;
    if (!m0.features.pairs.empty() && m0.features.pairs != opt.pairs && !any_pair)
      throw ConfigError("pair", fmt::format("pair {} but the model {} was trained on {}: set pair to match "
                                            "(same pairs, same order){}",
                                            fmt::join(opt.pairs, ", "), opt.models.front(),
                                            fmt::join(m0.features.pairs, ", "),
                                            opt.pairs.size() == 1 && m0.features.pairs.size() == 1
                                                ? ", or model_pairs = \"any\" to apply it to another pair"
                                                : ""));
    const auto npairs = static_cast<std::int64_t>(opt.pairs.size());
    if (m0.input_shape() != nn::Shape{c.spec.size(), npairs} &&
        !(npairs == 1 && m0.input_shape() == nn::Shape{c.spec.size()}))
      throw ConfigError(
          "model", fmt::format("{} expects input {}; classify gives {} {}-bin z-SDM(s) per window "
                               "(one per pair: {})",
                               opt.models.front(), nn::shape_string(m0.input_shape()), npairs, c.spec.size(),
                               fmt::join(opt.pairs, ", ")));
    for (const auto& m : c.models)
      if (m.input_shape() != m0.input_shape() || m.output_shape() != m0.output_shape())
        throw ConfigError("model", fmt::format("ensemble members differ ({} vs {}): combine models of one "
                                               "architecture",
                                               m.source, m0.source));
    c.device = select_device(opt.device);
    c.device_path = c.device.gpu || opt.test_device_path;
    if (c.device_path) c.ensemble = std::make_unique<DeviceEnsemble>(c.models);
    c.K = nn::shape_size(m0.output_shape());
    c.bins = c.spec.size();
    {
      const auto [mode, why] = resolve_preprocessing(opt.preprocessing, opt.models.front(), m0.features);
      c.prep_mode = mode;
      const auto v = m0.features.variant == "feal" ? sdm::Variant::feal : sdm::Variant::cocrni;
      c.prep = sdm::PreprocessSpec::of(v, sdm::PreprocessMode::experimental, opt.background);
      sum.preprocessing_reason = why;
    }
    opt.segment.validate(static_cast<int>(c.K));
    // The smoothing's reach in sub-cells (at most 16): checked here, on every
    // rank at once, rather than after the windows.
    if (opt.segment.rule == IonRule::interpolate) (void)smoothing_reach(opt.segment.smoothing, opt.stride);
    if (!(opt.segment.domains.eps > 0)) throw ConfigError("domains.eps", "must be positive");
    if (!(opt.segment.ion_radius > 0) || !std::isfinite(opt.segment.ion_radius))
      throw ConfigError("segment.ion_radius", "must be a positive number of nm (paper: 0.3535)");
    c.table = read_range_file(opt.range);
    for (const auto& pr : opt.pairs) {
      const auto dash = pr.find('-');
      c.species.emplace_back(lookup_species(c.table, pr.substr(0, dash), opt.range),
                             lookup_species(c.table, pr.substr(dash + 1), opt.range));
    }
    if (const auto& e = opt.segment.composition; e.enabled()) {
      const auto names = m0.output_names();
      const auto it = std::find(names.begin(), names.end(), e.class_name);
      if (it == names.end())
        throw ConfigError("segment.composition.class",
                          fmt::format("'{}' is not a class of {} (classes: {})", e.class_name,
                                      opt.models.front(), fmt::join(names, ", ")));
      c.evidence_class = static_cast<int>(it - names.begin());
      c.solute.assign(c.table.ion_types.size() + 1, 0);
      for (const auto& name : e.species)
        c.solute[static_cast<std::size_t>(
            lookup_species(c.table, name, opt.range, "segment.composition.species"))] = 1;
    }
    if (!opt.truth.empty() && !std::filesystem::is_regular_file(opt.truth))
      throw InputError(opt.truth,
                       "the truth file (key truth) does not exist: give the <name>_truth.h5 of "
                       "aptflow synth specimen, or drop the key");
  });
  stage("setup");
  dist::collective_step(comm, [&] {
    if (rank != 0) return;
    c.input_sha = io::sha256_file(opt.input);
    c.range_sha = io::sha256_file(opt.range);
    for (const auto& m : opt.models) c.model_sha.push_back(io::sha256_file(m));
  });
  c.input_sha = dist::bcast_string(comm, c.input_sha);
  c.range_sha = dist::bcast_string(comm, c.range_sha);
  c.model_sha.resize(opt.models.size());
  for (auto& s : c.model_sha) s = dist::bcast_string(comm, s);
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
  std::vector<float> sc_sum;
  std::vector<std::int32_t> sc_label;
  std::int64_t sc_first = 0, sc_count = 0;
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

    // What the output needs; the decomposition and the ions are released here.
    const IonIndex n_owned = p.local.owned_end - p.local.owned_begin;
    Kokkos::View<std::int32_t*, Kokkos::HostSpace> cls_owned("aptflow::classify::class", n_owned);
    Kokkos::View<std::int64_t*, Kokkos::HostSpace> dom_owned("aptflow::classify::domain", n_owned);
    for (IonIndex i = 0; i < n_owned; ++i) {
      cls_owned(i) = p.ion_label(p.local.owned_begin + i);
      dom_owned(i) = -1;
    }
    for (std::size_t k = 0; k < p.where.size(); ++k)
      if (p.local.is_owned(p.where[k])) dom_owned(p.where[k] - p.local.owned_begin) = p.dom.domain[k];
    // Per-ion state of the pipeline is done with: free it before the exchange
    // back to input order (its buffers are the peak of the run otherwise).
    p.local = dist::LocalIons();
    p.ion_label = decltype(p.ion_label)();
    p.where = {};
    p.dom.domain = {};
    p.dom.core = {};
    {
      const auto cls_kept = dist::to_input_order<std::int32_t>(
          p.dec, Kokkos::View<const std::int32_t*, Kokkos::HostSpace>(cls_owned));
      const auto dom_kept = dist::to_input_order<std::int64_t>(
          p.dec, Kokkos::View<const std::int64_t*, Kokkos::HostSpace>(dom_owned));
      cls_in = expand_to_read<std::int32_t>(roi_sel, cls_kept.data(), p.dec.input_count(), -1);
      dom_in = expand_to_read<std::int64_t>(roi_sel, dom_kept.data(), p.dec.input_count(), -1);
    }
    std::vector<std::int64_t> per_class(static_cast<std::size_t>(c.K), 0);
    for (IonIndex i = 0; i < n_owned; ++i)
      if (cls_owned(i) >= 0) ++per_class[static_cast<std::size_t>(cls_owned(i))];
    sum.ions_per_class.assign(per_class.size(), 0);
    MPI_Allreduce(per_class.data(), sum.ions_per_class.data(), static_cast<int>(c.K), MPI_INT64_T, MPI_SUM,
                  comm);
    for (auto v : sum.ions_per_class) sum.labelled_ions += v;
    sum.ions = p.dec.global_count();
    sc_first = p.sc_first;
    sc_count = p.sc_end - p.sc_first;
    const std::int64_t splane = p.sg.counts[0] * p.sg.counts[1];
    const std::int64_t at = (p.sc_first - p.layer_first) * splane;
    sc_sum.resize(static_cast<std::size_t>(sc_count * splane * c.K));
    sc_label.resize(static_cast<std::size_t>(sc_count * splane));
    for (std::int64_t s = 0; s < sc_count * splane; ++s) {
      sc_label[static_cast<std::size_t>(s)] = p.sub_label(at + s);
      for (std::int64_t k = 0; k < c.K; ++k)
        sc_sum[static_cast<std::size_t>(s * c.K + k)] = static_cast<float>(p.sums(at + s, k));
    }
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
    std::vector<float> mq(static_cast<std::size_t>(cloud.size()));
    for (IonIndex i = 0; i < cloud.size(); ++i) mq[static_cast<std::size_t>(i)] = cloud.mq(i);
    const auto shuffled = dist::shuffle_mq(comm, mq, first_ion, run.seed, 0);
    mq = {};
    HostIonCloud sc;
    sc.x = cloud.x;
    sc.y = cloud.y;
    sc.z = cloud.z;
    sc.mq = decltype(sc.mq)(Kokkos::view_alloc("aptflow::classify::shuffled_mq", Kokkos::WithoutInitializing),
                            cloud.size());
    sc.species = decltype(sc.species)("aptflow::classify::shuffled_species", cloud.size());
    for (IonIndex i = 0; i < cloud.size(); ++i) sc.mq(i) = shuffled[static_cast<std::size_t>(i)];
    apply_ranges(exec, sc, make_device_range_table<Kokkos::HostSpace>(c.table));
    exec.fence();
    detail::ClassifyPass p(c);
    p.decompose(std::move(sc), first_ion);
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
      r.preprocessing = c.prep_mode;
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
      r.block = {{sg.counts[0], sg.counts[1], sg.counts[2]}, sc_first, sc_count};
      r.classes = c.K;
      r.sum = sc_sum.data();
      r.label = sc_label.data();
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
