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
#include "domain_table.hpp"

namespace aptflow {

namespace {

using Clock = std::chrono::steady_clock;
using HostExec = Kokkos::DefaultHostExecutionSpace;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
using I128 = __int128;

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

void nx_class(const h5::File& f, const std::string& group, const std::string& cls) {
  auto g = h5::ensure_group(f, group);
  h5::write_attr(g, "NX_class", cls);
}

// Progress on rank 0 (stderr): one line per stage; for windows a redrawn bar
// on a terminal, else a line every `interval` seconds (batch logs).
class Progress {
 public:
  Progress(bool on, int rank, double interval)
      : on_(on && rank == 0), tty_(on_ && isatty(fileno(stderr)) == 1), interval_(interval) {}
  void line(const std::string& s) {
    if (!on_) return;
    end_bar();
    std::fprintf(stderr, "aptflow classify: %s\n", s.c_str());
    std::fflush(stderr);
  }
  void start(const std::string& label, std::int64_t total, std::int64_t already) {
    label_ = label;
    total_ = total;
    already_ = already;
    t0_ = last_ = Clock::now();
    line(fmt::format("{}: {} windows{}", label, total,
                     already > 0 ? fmt::format(" ({} from the checkpoint)", already) : std::string()));
  }
  void update(std::int64_t done, bool last) {
    if (!on_) return;
    const auto now = Clock::now();
    const double dt = std::chrono::duration<double>(now - last_).count();
    if (!last && dt < (tty_ ? 0.2 : interval_)) return;
    last_ = now;
    const double el = std::max(since(t0_), 1e-9);
    const double rate = static_cast<double>(done - already_) / el;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
    const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
    if (tty_) {
      const int w = 30, fill = static_cast<int>(frac * w);
      std::fprintf(stderr, "\r%s [%s%s] %5.1f%% %lld/%lld %.0f/s ETA %.0f s ", label_.c_str(),
                   std::string(static_cast<std::size_t>(fill), '#').c_str(),
                   std::string(static_cast<std::size_t>(w - fill), '.').c_str(), 100 * frac,
                   static_cast<long long>(done), static_cast<long long>(total_), rate, eta);
      bar_ = true;
      if (last) end_bar();
    } else {
      std::fprintf(stderr, "aptflow classify: %s %lld/%lld windows (%.1f%%, %.0f/s, ETA %.0f s)\n",
                   label_.c_str(), static_cast<long long>(done), static_cast<long long>(total_), 100 * frac,
                   rate, eta);
    }
    std::fflush(stderr);
  }

 private:
  void end_bar() {
    if (bar_) std::fputc('\n', stderr);
    bar_ = false;
  }
  bool on_, tty_, bar_ = false;
  double interval_;
  std::string label_;
  std::int64_t total_ = 0, already_ = 0;
  Clock::time_point t0_, last_;
};

// Mean preprocessed feature row per argmax class, summed exactly: each value
// is rounded to a multiple of 2^-32 (clamped to +-2^30) and added as an
// integer, so that any split over ranks, rounds or a resume gives the same bits.
struct MeanSdm {
  static constexpr double kScale = 4294967296.0;  // 2^32
  std::int64_t K = 0, bins = 0;
  std::vector<I128> sum;            // K x bins
  std::vector<std::int64_t> count;  // K
  void init(std::int64_t k, std::int64_t b) {
    K = k;
    bins = b;
    sum.assign(static_cast<std::size_t>(K * bins), 0);
    count.assign(static_cast<std::size_t>(K), 0);
  }
  void add(std::int64_t c, const float* row) {
    ++count[static_cast<std::size_t>(c)];
    for (std::int64_t q = 0; q < bins; ++q) {
      const double v = std::clamp(static_cast<double>(row[q]), -1073741824.0, 1073741824.0);
      sum[static_cast<std::size_t>(c * bins + q)] += static_cast<I128>(round_half_away(v * kScale));
    }
  }
  // std::llround (half away from zero) inlined for |x| <= 2^62: truncation,
  // then the exact remainder decides.
  static std::int64_t round_half_away(const double x) {
    std::int64_t i = static_cast<std::int64_t>(x);
    const double d = x - static_cast<double>(i);
    i += (d >= 0.5) - (d <= -0.5);
    return i;
  }
  std::vector<double> mean() const {
    std::vector<double> m(sum.size(), 0.0);
    for (std::int64_t c = 0; c < K; ++c)
      for (std::int64_t q = 0; q < bins; ++q)
        if (count[static_cast<std::size_t>(c)] > 0)
          m[static_cast<std::size_t>(c * bins + q)] =
              static_cast<double>(sum[static_cast<std::size_t>(c * bins + q)]) / kScale /
              static_cast<double>(count[static_cast<std::size_t>(c)]);
    return m;
  }
};

// Everything that does not change between the real and the control runs.
struct Context {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, nranks = 1;
  const ClassifyOptions* opt = nullptr;
  std::vector<nn::Model> models;
  RangeTable table;
  std::vector<std::pair<int, int>> species;  // per pair (channel): centre and neighbour species
  SdmSpec spec = SdmSpec::z();
  WindowSpec wspec;
  std::int64_t K = 0, bins = 0;
  // segment.composition: the class that gets the evidence (-1: none) and,
  // per species id of table, 1 for the solute ion types.
  int evidence_class = -1;
  std::vector<std::uint8_t> solute;
  std::string input_sha, range_sha;
  std::vector<std::string> model_sha;
  // Preprocessing of the window z-SDMs: "experimental", "minmax_only" or "none".
  std::string prep_mode;
  sdm::PreprocessSpec prep;
  Progress* progress = nullptr;
  HostExec exec;
  // --device: where the window counts and the CNN run; ensemble: the models
  // on the device (device path only).
  DeviceSelection device;
  bool device_path = false;
  std::unique_ptr<DeviceEnsemble> ensemble;

  // Per-row preprocessing (empty rows stay NaN).
  void preprocess_rows(const sdm::CurveRows& rows) const {
    if (rows.extent(0) == 0 || prep_mode == "none") return;
    if (prep_mode == "minmax_only")
      sdm::minmax_normalise(rows, sdm::ConstantCurve::nan);
    else
      sdm::preprocess(rows, prep);
  }
  // "experimental (cocrni background 23:69, published clipping)", "minmax_only", "none".
  std::string prep_text() const {
    if (prep_mode != "experimental") return prep_mode;
    return fmt::format("experimental (Savitzky-Golay {}/{}, background L:U {}:{}, {} clipping)",
                       prep.savgol.window, prep.savgol.order, prep.background.lo, prep.background.hi,
                       sdm::background_clip_name(prep.background.clip));
  }
};

// The probabilities, done flags and mean-SDM sums of a checkpoint, and what
// identifies the run that wrote it.
struct Identity {
  std::vector<std::pair<std::string, std::string>> items;  // (what, value)
};

Identity run_identity(const Context& c, const WindowGrid& grid) {
  Identity id;
  id.items.emplace_back("input file (SHA-256)", c.input_sha);
  id.items.emplace_back("range file (SHA-256)", c.range_sha);
  id.items.emplace_back("model files (SHA-256)", fmt::format("{}", fmt::join(c.model_sha, ",")));
  id.items.emplace_back("window grid",
                        fmt::format("origin {:.17g} {:.17g} {:.17g} counts {} {} {} edge {:.17g} "
                                    "stride {:.17g} classes {} bins {}",
                                    grid.origin[0], grid.origin[1], grid.origin[2], grid.counts[0],
                                    grid.counts[1], grid.counts[2], grid.edge, grid.stride, c.K, c.bins));
  id.items.emplace_back("configuration", c.opt->config_text);
  return id;
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

constexpr const char* kIdAttr[] = {"input_sha256", "range_sha256", "model_sha256", "grid", "config"};

// One pass of the pipeline over a cloud: decomposition, windows (in rounds,
// with the stop check), sub-cells, ion labels, domains.
struct Pipeline {
  explicit Pipeline(Context& ctx) : c(ctx) {}
  Context& c;
  dist::ZSlabDecomposition dec;
  dist::LocalIons local;
  WindowGrid grid;
  dist::WindowSlab mine;
  double h = 0;
  std::vector<float> prob;         // owned windows x K
  std::vector<std::uint8_t> done;  // owned windows: probability known
  MeanSdm msdm;                    // this rank's windows (rank 0: plus the checkpoint's)
  std::int64_t computed = 0;       // windows computed by this call, this rank
  bool stopped = false;
  // Sub-cells: local layers [layer_first, layer_first + layers) of the global
  // sub-cell grid sg; this rank writes the layers [sc_first, sc_end).
  SubcellGrid sg;
  std::int64_t layer_first = 0, layers = 0, sc_first = 0, sc_end = 0;
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> sums;
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> sub_label, ion_label;
  DomainResult dom;
  std::vector<std::int64_t> where;  // local index of each labelled ion

  // cloud: taken over (its memory freed during the sample sort) unless the
  // caller keeps another handle to the same Views.
  void decompose(HostIonCloud&& cloud, IonIndex first_ion) {
    dec = dist::decompose_z(c.comm, std::move(cloud), first_ion);
    h = std::max(dist::halo_width(c.spec, c.wspec),
                 2.0 * c.opt->segment.domains.eps * (1 + 1e-6) + 1e-3 + composition_reach());
    local = dist::exchange_halo(dec, h);
    if (const auto& b = c.opt->window_box)  // windows.box: the published placement on a fixed box
      grid = WindowGrid::on_box(b->data(), b->data() + 3, c.opt->edge, c.opt->stride);
    else
      grid = dist::global_window_grid(dec, c.opt->edge, c.opt->stride);
    mine = dist::owned_windows(dec, grid);
    dec.release_owned_ions();  // local.cloud holds them (with the halo) from here on
  }

  // Halo depth whose ions lack part of their composition neighbourhood: the
  // domains step ignores it (their labels could differ from the owner's).
  double composition_reach() const {
    const auto& e = c.opt->segment.composition;
    return e.enabled() ? e.radius + 1e-3 : 0.0;
  }

  void load_checkpoint(const std::string& path) {
    dist::collective_step(c.comm, [&] {
      auto f = h5::File::open(path);
      const auto d = h5::dims(f, "/probability");
      if (d != std::vector<hsize_t>{static_cast<hsize_t>(grid.size()), static_cast<hsize_t>(c.K)})
        throw InputError(path,
                         "/probability does not match the window grid: delete the checkpoint and rerun");
      h5::read_rows(f, "/probability", static_cast<hsize_t>(mine.first), static_cast<hsize_t>(mine.count),
                    prob.data());
      h5::read_rows(f, "/done", static_cast<hsize_t>(mine.first), static_cast<hsize_t>(mine.count),
                    done.data());
      if (c.rank == 0) {
        const auto s = h5::read<std::int64_t>(f, "/mean_sdm_sum");
        const auto n = h5::read<std::int64_t>(f, "/mean_sdm_count");
        if (s.size() != msdm.sum.size() * 2 || n.size() != msdm.count.size())
          throw InputError(path,
                           "/mean_sdm_sum does not match classes x bins: delete the checkpoint and rerun");
        for (std::size_t k = 0; k < msdm.sum.size(); ++k)
          msdm.sum[k] +=
              static_cast<I128>((static_cast<unsigned __int128>(static_cast<std::uint64_t>(s[2 * k])) << 64) |
                                static_cast<std::uint64_t>(s[2 * k + 1]));
        for (std::size_t k = 0; k < n.size(); ++k) msdm.count[k] += n[k];
      }
    });
  }

  void windows(const std::string& label, const std::string& resume_from) {
    const std::int64_t K = c.K, bins = c.bins, chunk = c.opt->chunk;
    const auto C = static_cast<std::int64_t>(c.species.size());  // channels (pairs)
    prob.assign(static_cast<std::size_t>(mine.count * K), kNaN);
    done.assign(static_cast<std::size_t>(mine.count), 0);
    msdm.init(K, C * bins);
    if (!resume_from.empty()) load_checkpoint(resume_from);
    // Chunks: the network sees fixed batches of `chunk` rows, window w in row
    // w mod chunk of batch w / chunk (nn::predict_ensemble_aligned: rows of
    // other ranks' windows, of done and of empty windows hold zeros). OpenBLAS
    // results depend on the GEMM sizes and a row's place in them, so this keeps
    // the probabilities independent of the rank count and of a resume. A chunk
    // here: the owned windows [off, off + m) of one such batch, with at least
    // one not done.
    struct Chunk {
      std::int64_t off, m;
    };
    std::vector<Chunk> chunks;
    std::int64_t todo = 0;
    for (std::int64_t i = 0; i < mine.count; ++i) todo += done[static_cast<std::size_t>(i)] ? 0 : 1;
    if (mine.count > 0)
      for (std::int64_t b = mine.first / chunk; b * chunk < mine.first + mine.count; ++b) {
        const std::int64_t a = std::max(b * chunk, mine.first) - mine.first,
                           e = std::min((b + 1) * chunk, mine.first + mine.count) - mine.first;
        bool any = false;
        for (std::int64_t i = a; i < e && !any; ++i) any = !done[static_cast<std::size_t>(i)];
        if (any) chunks.push_back({a, e - a});
      }
    std::int64_t nloc = static_cast<std::int64_t>(chunks.size()), rounds = 0, todo_all = 0;
    MPI_Allreduce(&nloc, &rounds, 1, MPI_INT64_T, MPI_MAX, c.comm);
    MPI_Allreduce(&todo, &todo_all, 1, MPI_INT64_T, MPI_SUM, c.comm);
    const std::int64_t before = grid.size() - todo_all;
    c.progress->start(label, grid.size(), before);
    std::unique_ptr<WindowCounter> counter;  // the cell lists of every pair, on the host or the device
    dist::collective_step(c.comm, [&] {
      c.wspec.validate(grid);
      if (nloc == 0) return;
      counter = make_window_counter(c.device_path, local.cloud, c.species, grid, c.wspec, c.spec);
    });
    const bool flat = c.models.front().input_shape().size() == 1;
    for (std::int64_t r = 0; r < rounds; ++r) {
      std::exception_ptr err;
      if (r < nloc) {
        try {
          if (r == 1 && c.rank == c.opt->test_fail_rank && label == "windows")
            throw InternalError(fmt::format("test: failure injected on rank {} in round 1", c.rank));
          const Chunk ch = chunks[static_cast<std::size_t>(r)];
          const std::int64_t off = ch.off, m = ch.m;
          Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace> o("aptflow::classify::sdms", m,
                                                                                 bins);
          Kokkos::View<std::int64_t*, Kokkos::HostSpace> cc("aptflow::classify::centres", m);
          // rows: window k's channel ch at (k * C + ch) * bins (channel-major, as /entry1/windows/mean_sdm)
          std::vector<float> rows(static_cast<std::size_t>(m * C * bins));
          for (std::int64_t ch = 0; ch < C; ++ch) {
            counter->count(static_cast<std::size_t>(ch), mine.first + off, o, cc);
            std::vector<float> one(static_cast<std::size_t>(m * bins));
            for (std::int64_t k = 0; k < m; ++k)
              for (std::int64_t q = 0; q < bins; ++q)
                one[static_cast<std::size_t>(k * bins + q)] = cc(k) > 0 ? static_cast<float>(o(k, q)) : kNaN;
            c.preprocess_rows(sdm::CurveRows(one.data(), m, bins));
            for (std::int64_t k = 0; k < m; ++k)
              std::copy(one.data() + k * bins, one.data() + (k + 1) * bins,
                        rows.data() + (k * C + ch) * bins);
          }
          // The network's input is channels last. A window with an empty or constant
          // channel (NaN after preprocessing) is not classified, like an empty one;
          // done windows enter as NaN rows too: predict_ensemble_aligned leaves them out.
          nn::Tensor x(nn::Shape{m, bins, C});
          for (std::int64_t k = 0; k < m; ++k) {
            float* dst = x.data.data() + k * bins * C;
            const float* src = rows.data() + k * C * bins;
            const bool blank = done[static_cast<std::size_t>(off + k)] ||
                               std::any_of(src, src + C * bins, [](float v) { return std::isnan(v); });
            for (std::int64_t q = 0; q < bins; ++q)
              for (std::int64_t ch = 0; ch < C; ++ch) dst[q * C + ch] = blank ? kNaN : src[ch * bins + q];
          }
          if (flat) x.shape = {m, bins};
          const nn::Prediction p =
              c.ensemble
                  ? nn::predict_ensemble_aligned(c.models, c.ensemble->forwards(), x, mine.first + off, chunk)
                  : nn::predict_ensemble_aligned(c.models, x, mine.first + off, chunk);
          for (std::int64_t k = 0; k < m; ++k) {
            if (done[static_cast<std::size_t>(off + k)]) continue;
            float* dst = prob.data() + (off + k) * K;
            const float* pk = p.probabilities.data() + k * K;
            std::copy(pk, pk + K, dst);  // NaN for an empty window
            ++computed;
            if (std::isnan(pk[0])) continue;
            std::int64_t best = 0;
            for (std::int64_t q = 1; q < K; ++q)
              if (pk[q] > pk[best]) best = q;
            msdm.add(best, rows.data() + k * C * bins);
          }
          for (std::int64_t k = 0; k < m; ++k) done[static_cast<std::size_t>(off + k)] = 1;
        } catch (...) {
          err = std::current_exception();
        }
      }
      if (c.opt->test_chunk_sleep_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(c.opt->test_chunk_sleep_ms));
      std::int64_t v[3] = {c.opt->stop && *c.opt->stop ? 1 : 0, computed, err ? 1 : 0}, g[3] = {0, 0, 0};
      MPI_Allreduce(v, g, 3, MPI_INT64_T, MPI_SUM, c.comm);
      if (g[2] > 0) dist::raise_first_error(c.comm, err);
      c.progress->update(before + g[1], r + 1 == rounds);
      if (g[0] > 0 && r + 1 < rounds) {
        stopped = true;
        c.progress->line(
            fmt::format("{}: stop requested after {} of {} windows", label, before + g[1], grid.size()));
        return;
      }
    }
  }

  void segment() {
    const ClassifyOptions& opt = *c.opt;
    dist::collective_step(c.comm, [&] {
      sg = SubcellGrid::of(grid);
      if (!(opt.segment.ion_radius > 0) || !std::isfinite(opt.segment.ion_radius))
        throw ConfigError("segment.ion_radius", "must be a positive number of nm (paper: 0.3535)");
    });
    const std::int64_t nz = grid.counts[2], msz = sg.counts[2], span = sg.span;
    const std::int64_t plane = grid.counts[0] * grid.counts[1], splane = sg.counts[0] * sg.counts[1];
    const std::int64_t K = c.K;
    // Sub-cell layers written by this rank: those of its window layers, and
    // the top k - 1 layers for the rank owning the last window layer.
    sc_first = sc_end = 0;
    if (mine.iz_end > mine.iz_begin) {
      sc_first = mine.iz_begin;
      sc_end = mine.iz_end == nz ? msz : mine.iz_end;
    }
    // Layers the owned + halo ions can reach (a superset of label_ions' range).
    std::int64_t ja = msz, jb = 0;
    if (local.size() > 0 && msz > 0) {
      double zmin = std::numeric_limits<double>::infinity(), zmax = -zmin;
      for (IonIndex i = 0; i < local.size(); ++i) {
        zmin = std::min(zmin, double(local.cloud.z(i)));
        zmax = std::max(zmax, double(local.cloud.z(i)));
      }
      // subcell rule: sub-cell centres within the ion radius; interpolate:
      // the two sub-cell layers around the ion.
      const double r = opt.segment.rule == IonRule::subcell ? opt.segment.ion_radius : 0.0;
      const double oz = sg.origin[2], s = sg.size;
      const double l = std::floor((zmin - r - oz) / s - 0.5) - 1,
                   u = std::ceil((zmax + r - oz) / s - 0.5) + 1;
      if (!(u < 0) && !(l > double(msz - 1))) {
        ja = l < 0 ? 0 : static_cast<std::int64_t>(l);
        jb = u > double(msz - 1) ? msz : static_cast<std::int64_t>(u) + 1;
      }
    }
    if (sc_end > sc_first) {
      ja = std::min(ja, sc_first);
      jb = std::max(jb, sc_end);
    }
    // The smoothing (interpolate rule) reads T layers beyond those.
    const std::int64_t T =
        opt.segment.rule == IonRule::interpolate ? smoothing_reach(opt.segment.smoothing, sg.size) : 0;
    if (ja < jb) {
      ja = std::max<std::int64_t>(0, ja - T);
      jb = std::min(msz, jb + T);
    }
    std::int64_t iz0 = 0, iz1 = 0;  // window layers needed
    if (ja < jb) {
      iz0 = std::max<std::int64_t>(0, ja - span + 1);
      iz1 = std::min(nz, jb);
    }
    // Those window layers from their owners (ranks own increasing layers).
    std::vector<std::int64_t> need{iz0, iz1}, all(2 * static_cast<std::size_t>(c.nranks));
    MPI_Allgather(need.data(), 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, c.comm);
    std::vector<std::int64_t> send_counts(static_cast<std::size_t>(c.nranks), 0);
    std::vector<float> send;
    for (int d = 0; d < c.nranks; ++d) {
      const std::int64_t lo = std::max(mine.iz_begin, all[2 * static_cast<std::size_t>(d)]);
      const std::int64_t hi = std::min(mine.iz_end, all[2 * static_cast<std::size_t>(d) + 1]);
      if (hi <= lo) continue;
      send_counts[static_cast<std::size_t>(d)] = (hi - lo) * plane * K;
      send.insert(send.end(), prob.begin() + (lo - mine.iz_begin) * plane * K,
                  prob.begin() + (hi - mine.iz_begin) * plane * K);
    }
    WindowGrid lg = grid;
    lg.counts[2] = iz1 - iz0;
    lg.origin[2] = grid.origin[2] + double(iz0) * grid.stride;  // (the sums do not use it)
    Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> map(
        Kokkos::view_alloc("aptflow::classify::local_probability", Kokkos::WithoutInitializing), lg.size(),
        K);
    const auto recv_counts = dist::detail::exchange_counts(c.comm, send_counts);
    std::int64_t got = 0;
    for (const auto n : recv_counts) got += n;
    if (got != lg.size() * K)
      throw InternalError("classify: window layers received do not match the request");
    dist::detail::alltoallv_bytes(c.comm, send.data(), send_counts, map.data(), recv_counts, sizeof(float),
                                  dec.max_records_per_message());
    send = {};
    const SubcellGrid lsg = SubcellGrid::of(lg);
    layer_first = iz0;
    layers = lsg.counts[2];
    if (ja < jb && iz0 + layers < jb)
      throw InternalError("classify: local sub-cell layers do not cover the ions");
    sums = decltype(sums)("aptflow::classify::sums", lsg.cells(), K);
    sub_label = decltype(sub_label)("aptflow::classify::subcell_label", lsg.cells());
    ion_label = decltype(ion_label)("aptflow::classify::ion_label", local.size());
    Kokkos::View<double*, Kokkos::HostSpace> thr("aptflow::classify::thresholds", K);
    for (std::int64_t k = 0; k < K; ++k) thr(k) = opt.segment.thresholds[static_cast<std::size_t>(k)];
    sum_subcell_probabilities(c.exec, lg, map, sums, opt.segment.empty_window);
    if (opt.segment.rule == IonRule::subcell) {
      threshold_subcells(c.exec, sums, thr, sub_label);
      if (label_ions_layers(c.exec, sg, layer_first, layers, local.cloud, sums, sub_label,
                            opt.segment.ion_radius, ion_label) > 0)
        throw InternalError("classify: an ion needs a sub-cell layer this rank does not hold");
    } else {
      // The written sub-cell labels threshold the smoothed sums (layers at
      // least T inside the held ones are exact; the others are not written).
      Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> field("aptflow::classify::smoothed",
                                                                           lsg.cells(), K);
      smooth_subcell_sums(c.exec, sg, layer_first, layers, sums, opt.segment.smoothing, field);
      threshold_subcells(c.exec, field, thr, sub_label);
      const auto evidence = composition_evidence();
      if (label_ions_interpolated(c.exec, sg, layer_first, layers, local.cloud, field, thr, evidence,
                                  c.evidence_class, ion_label) > 0)
        throw InternalError("classify: an ion needs a sub-cell layer this rank does not hold");
    }
    (void)splane;
  }

  // Per local ion: the composition evidence of segment.composition (extent 0
  // when there is none). Collective (the dataset's solute fraction).
  Kokkos::View<double*, Kokkos::HostSpace> composition_evidence() {
    const auto& e = c.opt->segment.composition;
    if (!e.enabled()) return {};
    const IonIndex n = local.size();
    Kokkos::View<std::uint8_t*, Kokkos::HostSpace> solute("aptflow::classify::solute", c.solute.size());
    for (std::size_t s = 0; s < c.solute.size(); ++s) solute(s) = c.solute[s];
    Kokkos::View<std::int32_t*, Kokkos::HostSpace> ranged("aptflow::classify::ranged_near", n),
        near("aptflow::classify::solute_near", n);
    local_composition(c.exec, local.cloud, solute, e.radius, ranged, near);
    // The dataset's solute fraction over the ranged ions (owned ions: each once).
    std::int64_t tot[2] = {0, 0};
    for (IonIndex i = local.owned_begin; i < local.owned_end; ++i) {
      const auto sp = local.cloud.species(i);
      if (sp == 0) continue;
      ++tot[0];
      tot[1] += solute(sp);
    }
    MPI_Allreduce(MPI_IN_PLACE, tot, 2, MPI_INT64_T, MPI_SUM, c.comm);
    const double f = tot[0] > 0 ? double(tot[1]) / double(tot[0]) : 0.0;
    Kokkos::View<double*, Kokkos::HostSpace> out("aptflow::classify::evidence", n);
    for (IonIndex i = 0; i < n; ++i) {
      double v = solute(local.cloud.species(i)) ? e.ion_weight : 0.0;
      if (ranged(i) > 0) v += e.weight * (double(near(i)) / double(ranged(i)) - f);
      out(i) = v;
    }
    return out;
  }

  void domains() {
    LabelledIons ions;
    where.clear();
    for (IonIndex i = 0; i < local.size(); ++i)
      if (ion_label(i) >= 0) {
        ions.push_back(local.cloud.x(i), local.cloud.y(i), local.cloud.z(i), local.index(i), ion_label(i));
        where.push_back(i);
      }
    Slab slab;
    if (c.rank > 0) slab.z_lo = dec.z_lo();
    if (c.rank < c.nranks - 1) slab.z_hi = dec.z_hi();
    slab.halo = h - composition_reach();
    dom = find_domains_mpi(dec.comm(), ions, slab, c.opt->segment.domains);
  }
};

// Collective over c.comm: the probabilities known so far, their done flags,
// the summed mean-SDM rows and the run identity, to a temporary name renamed
// to path when complete.
void write_checkpoint(const Context& c, const std::string& path, const WindowGrid& grid,
                      const dist::WindowSlab& mine, const std::vector<float>& prob,
                      const std::vector<std::uint8_t>& done, const MeanSdm& part) {
  MeanSdm g = part;
  dist::sum_exact(c.comm, g.sum);
  MPI_Allreduce(MPI_IN_PLACE, g.count.data(), static_cast<int>(g.count.size()), MPI_INT64_T, MPI_SUM, c.comm);
  std::vector<std::int64_t> s(g.sum.size() * 2);
  for (std::size_t k = 0; k < g.sum.size(); ++k) {
    const auto u = static_cast<unsigned __int128>(g.sum[k]);
    s[2 * k] = static_cast<std::int64_t>(static_cast<std::uint64_t>(u >> 64));
    s[2 * k + 1] = static_cast<std::int64_t>(static_cast<std::uint64_t>(u));
  }
  const std::string tmp = path + ".tmp";
  {
    auto f = h5::File::create(tmp, c.comm);
    const auto nw = static_cast<hsize_t>(grid.size());
    h5::create_dataset<float>(f, "/probability", {nw, static_cast<hsize_t>(c.K)});
    h5::write_rows(f, "/probability", static_cast<hsize_t>(mine.first), static_cast<hsize_t>(mine.count),
                   prob.data());
    h5::create_dataset<std::uint8_t>(f, "/done", {nw});
    h5::write_rows(f, "/done", static_cast<hsize_t>(mine.first), static_cast<hsize_t>(mine.count),
                   done.data());
    h5::write(f, "/mean_sdm_sum", s,
              {static_cast<hsize_t>(c.K), static_cast<hsize_t>(c.species.size() * c.bins), 2});
    h5::write(f, "/mean_sdm_count", g.count);
    {
      auto grp = h5::ensure_group(f, "/identity");
      const Identity id = run_identity(c, grid);
      for (std::size_t k = 0; k < id.items.size(); ++k) h5::write_attr(grp, kIdAttr[k], id.items[k].second);
    }  // (every object closed before the file: a parallel file does not close with open objects)
    f.close();
  }
  MPI_Barrier(c.comm);
  dist::collective_step(c.comm, [&] {
    if (c.rank == 0 && std::rename(tmp.c_str(), path.c_str()) != 0)
      throw ResourceError(
          fmt::format("cannot rename {} to {}: check the directory's permissions", tmp, path));
  });
}

// Collective: does the checkpoint exist and belong to this run? ConfigError
// (key resume) naming what changed otherwise.
void check_identity(const Context& c, const std::string& path, const WindowGrid& grid) {
  dist::collective_step(c.comm, [&] {
    auto f = h5::File::open(path);
    auto grp = h5::open_object(f, "/identity");
    const Identity id = run_identity(c, grid);
    for (std::size_t k = 0; k < id.items.size(); ++k) {
      const std::string was = h5::read_attr_string(grp, kIdAttr[k]);
      if (was == id.items[k].second) continue;
      const std::string detail = k == 4 ? first_diff_line(was, id.items[k].second)
                                        : fmt::format("checkpoint {}, now {}", was, id.items[k].second);
      throw ConfigError("resume",
                        fmt::format("the checkpoint {} was written for another run: the {} changed ({}); "
                                    "restore it, or run without --resume to start again",
                                    path, id.items[k].first, detail));
    }
  });
}

}  // namespace

std::string resolve_model_path(const std::string& model, const std::string& config_file) {
  namespace fs = std::filesystem;
  const fs::path m(model);
  std::error_code ec;
  if (m.is_absolute() || fs::exists(m, ec) || config_file.empty() || config_file.front() == '<') return model;
  // Beside the config file, then in each parent directory: the shipped configs
  // (configs/classify/*.toml) name the shipped models as "models/<name>.h5".
  for (fs::path dir = fs::absolute(fs::path(config_file), ec).parent_path(); !dir.empty();
       dir = dir.parent_path()) {
    const fs::path candidate = dir / m;
    if (fs::exists(candidate, ec)) return candidate.lexically_normal().string();
    if (dir == dir.root_path()) break;
  }
  return model;  // not found anywhere: the loader names it in its error
}

ClassifyOptions parse_classify_config(const Config& cfg) {
  ClassifyOptions o;
  o.input = cfg.get_string("input");
  o.range = cfg.get_string("range");
  o.output = cfg.get_string("output");
  if (!cfg.has("model"))
    throw ConfigError("model", "missing: give a model file or a list of them (ensemble)");
  o.models = cfg.get_strings("model");  // a string or a list (ensemble)
  if (o.models.empty()) throw ConfigError("model", "empty list: give at least one model file");
  for (auto& m : o.models) m = resolve_model_path(m, cfg.source());
  // model_fallback: the models to use when a `model` file does not exist
  // (the paper configs name the published Keras models in ../shared/data and
  // fall back to aptflow's own model).
  if (cfg.has("model_fallback")) {
    auto fallback = cfg.get_strings("model_fallback");
    if (fallback.empty())
      throw ConfigError("model_fallback", "empty list: give a model file or drop the key");
    for (auto& m : fallback) m = resolve_model_path(m, cfg.source());
    std::error_code ec;
    for (const auto& m : o.models)
      if (!std::filesystem::exists(m, ec)) {
        o.model_note =
            fmt::format("model {} not found: using model_fallback {}", m, fmt::join(fallback, ", "));
        o.models = fallback;
        break;
      }
  }
  {
    const std::string mp = cfg.get_string("model_pairs", "match");
    if (mp != "match" && mp != "any")
      throw ConfigError("model_pairs", fmt::format("'{}': use \"match\" (the pairs must be the model's) or "
                                                   "\"any\" (a one-channel model on any pair)",
                                                   mp));
    o.any_model_pair = mp == "any";
  }
  o.pairs = cfg.get_strings("pair", o.pairs);  // a string or a list (channels)
  if (o.pairs.empty())
    throw ConfigError("pair", "empty list: give at least one species pair (e.g. \"Al-Al\")");
  for (const auto& pr : o.pairs) {
    const auto dash = pr.find('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == pr.size())
      throw ConfigError("pair", fmt::format("'{}' is not of the form A-B (e.g. \"Al-Al\")", pr));
    if (std::count(o.pairs.begin(), o.pairs.end(), pr) > 1)
      throw ConfigError("pair", fmt::format("'{}' is listed twice: give each pair once", pr));
  }
  o.variant = parse_window_variant(cfg.get_string("windows.variant", "cocrni"), "windows.variant");
  o.edge = cfg.get_double("windows.edge", o.edge);
  o.stride = cfg.get_double("windows.stride", o.stride);
  if (!(o.edge > 0) || !(o.stride > 0) || !std::isfinite(o.edge) || !std::isfinite(o.stride))
    throw ConfigError("windows.edge", "edge and stride must be positive numbers of nm (paper: 1.0, 0.5)");
  o.chunk = cfg.get_int("windows.chunk", o.chunk);
  if (o.chunk < 1) throw ConfigError("windows.chunk", "must be >= 1 (windows per pass)");
  if (cfg.has("windows.box")) {
    const auto b = cfg.get_doubles("windows.box");
    if (b.size() != 6)
      throw ConfigError("windows.box",
                        fmt::format("{} values: give [x0, y0, z0, x1, y1, z1] in nm", b.size()));
    std::array<double, 6> box{};
    std::copy(b.begin(), b.end(), box.begin());
    (void)WindowGrid::on_box(box.data(), box.data() + 3, o.edge,
                             o.stride);  // a box without windows: error now
    o.window_box = box;
  }
  o.roi = parse_roi(cfg);
  o.align = parse_align(cfg);
  o.sdm_exclude = parse_sdm_exclude(cfg.get_string("sdm.exclude", "self"));
  o.sdm_arithmetic = parse_sdm_arithmetic(cfg.get_string("sdm.arithmetic", "float32"));
  o.preprocessing = cfg.get_string("preprocess.mode", "auto");
  if (o.preprocessing != "auto" && o.preprocessing != "experimental" && o.preprocessing != "minmax_only" &&
      o.preprocessing != "none")
    throw ConfigError("preprocess.mode",
                      fmt::format("'{}': use \"auto\", \"experimental\", \"minmax_only\" or "
                                  "\"none\" (docs/preprocessing.md)",
                                  o.preprocessing));
  o.background = sdm::parse_background_clip(cfg.get_string("preprocess.background", "aptflow"));
  o.segment = o.variant == WindowVariant::feal ? SegmentSpec::feal() : SegmentSpec::cocrni();
  o.segment.thresholds = cfg.get_doubles("segment.thresholds", o.segment.thresholds);
  o.segment.ion_radius = cfg.get_double("segment.ion_radius", o.stride / 2 * 1.414);
  o.segment.rule = parse_ion_rule(cfg.get_string("segment.rule", "subcell"));
  // segment.smoothing is read (and unused) under the subcell rule, so that
  // --set segment.rule=subcell works on a config written for interpolate.
  o.segment.smoothing = cfg.get_double("segment.smoothing", o.stride);
  o.segment.empty_window = parse_empty_window(cfg.get_string("segment.empty_window", "zero"));
  if (o.segment.rule == IonRule::interpolate && cfg.has("segment.ion_radius"))
    throw ConfigError("segment.ion_radius",
                      "is used only by segment.rule = \"subcell\": drop it (the "
                      "interpolate rule labels each ion from the interpolated sums)");
  if (cfg.has("segment.composition")) {
    auto& e = o.segment.composition;
    if (!cfg.has("segment.composition.class"))
      throw ConfigError("segment.composition.class",
                        "missing: name the class that gains the evidence (e.g. \"L1_2\"), or \"\" for none");
    e.class_name = cfg.get_string("segment.composition.class");  // "" = no composition evidence
    e.species = cfg.get_strings("segment.composition.species", e.species);
    e.radius = cfg.get_double("segment.composition.radius", e.radius);
    e.weight = cfg.get_double("segment.composition.weight", e.weight);
    e.ion_weight = cfg.get_double("segment.composition.ion_weight", e.ion_weight);
    if (e.enabled() && o.segment.rule == IonRule::subcell)
      throw ConfigError("segment.composition.class",
                        "composition evidence needs segment.rule = \"interpolate\": set the rule, or "
                        "segment.composition.class = \"\" to use none");
  }
  auto& d = o.segment.domains;
  d.eps = cfg.get_double("domains.eps", d.eps);
  d.min_samples = static_cast<int>(cfg.get_int("domains.min_samples", d.min_samples));
  d.atomic_density = cfg.get_double("domains.atomic_density", d.atomic_density);
  d.detection_efficiency = cfg.get_double("domains.detection_efficiency", d.detection_efficiency);
  {
    auto& h = d.histogram;
    const std::int64_t bins = cfg.get_int("domains.histogram.bins", h.bins);
    if (bins < 1 || bins > 100000)
      throw ConfigError("domains.histogram.bins", fmt::format("{} bins: give 1 .. 100000 (paper: 32)", bins));
    h.bins = static_cast<int>(bins);
    h.lo = cfg.get_double("domains.histogram.lo", h.lo);
    h.hi = cfg.get_double("domains.histogram.hi", h.hi);
    h.overflow_in_last_bin = parse_histogram_overflow(cfg.get_string("domains.histogram.overflow", "drop"));
  }
  o.shuffle_mq = cfg.get_int("control.shuffle_mq", 0);
  if (o.shuffle_mq < 0) throw ConfigError("control.shuffle_mq", "must be >= 0 (number of shuffled m/q runs)");
  o.shuffle_seed =
      static_cast<std::uint64_t>(cfg.get_int("control.seed", static_cast<std::int64_t>(o.shuffle_seed)));
  o.progress = cfg.get_bool("progress", true);
  o.resume = cfg.get_bool("resume", false);
  o.device = parse_device_choice("device", cfg.get_string("device", "auto"));
  o.truth = cfg.get_string("truth", "");
  cfg.check_all_used();
  // Without the run-control keys: a resumed run stores the same text.
  o.config_text = cfg.to_toml({"resume", "progress", "device"});
  return o;
}

std::string classify_checkpoint_path(const std::string& output) { return output + ".checkpoint.h5"; }

std::string classify_xdmf_path(const std::string& output) {
  return std::filesystem::path(output).replace_extension(".xdmf").string();
}

ClassifySummary run_classify(MPI_Comm comm, const ClassifyOptions& opt) {
  const auto t_all = Clock::now();
  Context c;
  c.comm = comm;
  MPI_Comm_rank(comm, &c.rank);
  MPI_Comm_size(comm, &c.nranks);
  const int rank = c.rank, nranks = c.nranks;
  c.opt = &opt;
  Progress progress(opt.progress, rank, opt.progress_interval);
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
  MeanSdm msdm;
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
    Pipeline p(c);
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
    Pipeline p(c);
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
  dist::sum_exact(comm, msdm.sum);
  MPI_Allreduce(MPI_IN_PLACE, msdm.count.data(), static_cast<int>(msdm.count.size()), MPI_INT64_T, MPI_SUM,
                comm);

  // ---- output: "<output>.tmp", renamed when complete
  const std::string tmp = opt.output + ".tmp";
  {
    auto f = h5::File::create(tmp, comm);
    nx_class(f, "/entry1", "NXentry");
    nx_class(f, "/entry1/input", "NXcollection");
    nx_class(f, "/entry1/windows", "NXdata");
    nx_class(f, "/entry1/subcells", "NXdata");
    nx_class(f, "/entry1/ions", "NXdata");
    nx_class(f, "/entry1/domains", "NXcollection");
    nx_class(f, "/entry1/control", "NXcollection");
    nx_class(f, "/entry1/profiling", "NXcollection");
    const auto K = static_cast<hsize_t>(c.K);
    // input
    h5::write_strings(f, "/entry1/input/input_file", {opt.input});
    h5::write_strings(f, "/entry1/input/input_sha256", {c.input_sha});
    h5::write_strings(f, "/entry1/input/range_file", {opt.range});
    h5::write_strings(f, "/entry1/input/range_sha256", {c.range_sha});
    h5::write_strings(f, "/entry1/input/model_files", opt.models);
    h5::write_strings(f, "/entry1/input/model_sha256", c.model_sha);
    h5::write(f, "/entry1/input/ions", std::vector<std::int64_t>{sum.input_ions});
    if (opt.roi.enabled()) {  // region of interest: its description and the ions inside
      h5::write(f, "/entry1/input/roi_ions", std::vector<std::int64_t>{sum.ions});
      h5::write_strings(f, "/entry1/input/roi", {opt.roi.describe()});
    }
    h5::write(f, "/entry1/input/bounds",
              std::vector<double>{bounds.lo[0], bounds.lo[1], bounds.lo[2], bounds.hi[0], bounds.hi[1],
                                  bounds.hi[2]},
              {2, 3});
    {
      std::vector<std::string> names;
      for (const auto& ty : c.table.ion_types) names.push_back(ty.name);
      h5::write_strings(f, "/entry1/input/ion_types", names);
      const std::size_t nr = c.table.ranges.size();
      std::vector<double> rr(2 * nr);
      std::vector<std::int32_t> rt(nr);
      for (std::size_t k = 0; k < nr; ++k) {
        rr[2 * k] = c.table.ranges[k].lo;
        rr[2 * k + 1] = c.table.ranges[k].hi;
        rt[k] = c.table.ranges[k].ion_type;
      }
      if (nr > 0) {
        h5::write(f, "/entry1/input/ranges", rr, {static_cast<hsize_t>(nr), 2});
        h5::write(f, "/entry1/input/range_ion_type", rt);
      }
    }
    // windows
    const auto nx = static_cast<hsize_t>(grid.counts[0]), ny = static_cast<hsize_t>(grid.counts[1]),
               nz = static_cast<hsize_t>(grid.counts[2]);
    h5::create_dataset<float>(f, "/entry1/windows/probability", {nz, ny, nx, K});
    h5::write_rows(f, "/entry1/windows/probability", static_cast<hsize_t>(mine.iz_begin),
                   static_cast<hsize_t>(mine.iz_end - mine.iz_begin), prob.data());
    {
      auto ds = h5::open_object(f, "/entry1/windows/probability");
      h5::write_attr(ds, "class_names", c.models.front().output_names());
      h5::write_attr(ds, "origin", std::vector<double>{grid.origin[0], grid.origin[1], grid.origin[2]});
      h5::write_attr(ds, "edge", grid.edge);
      h5::write_attr(ds, "stride", grid.stride);
      h5::write_attr(ds, "variant", to_string(opt.variant));
      // What ran (docs/classify.md): the preprocessing of the z-SDMs and the
      // SDM rules; "box" only for windows.box.
      h5::write_attr(ds, "preprocessing", c.prep_mode);
      h5::write_attr(ds, "preprocessing_detail", sum.preprocessing);
      h5::write_attr(ds, "background_clip", std::string(sdm::background_clip_name(opt.background)));
      h5::write_attr(ds, "sdm_exclude", to_string(opt.sdm_exclude));
      h5::write_attr(ds, "sdm_arithmetic", to_string(opt.sdm_arithmetic));
      if (opt.window_box)
        h5::write_attr(ds, "box", std::vector<double>(opt.window_box->begin(), opt.window_box->end()));
    }
    {
      const auto mean = msdm.mean();
      // (classes, bins) for one pair, (classes, pairs, bins) for several.
      if (c.species.size() == 1)
        h5::write(f, "/entry1/windows/mean_sdm", mean, {K, static_cast<hsize_t>(c.bins)});
      else
        h5::write(f, "/entry1/windows/mean_sdm", mean, {K, c.species.size(), static_cast<hsize_t>(c.bins)});
      h5::write(f, "/entry1/windows/mean_sdm_count", msdm.count);
      std::vector<double> centres = c.spec.left_edges();
      for (auto& v : centres) v += 0.5 * c.spec.bin;
      h5::write(f, "/entry1/windows/sdm_bin_centres", centres);
      auto ds = h5::open_object(f, "/entry1/windows/mean_sdm");
      h5::write_attr(ds, "class_names", c.models.front().output_names());
      h5::write_attr(ds, "pair", fmt::format("{}", fmt::join(opt.pairs, ", ")));
      h5::write_attr(ds, "preprocessing", c.prep_mode);
    }
    // sub-cells
    const auto mx = static_cast<hsize_t>(sg.counts[0]), my = static_cast<hsize_t>(sg.counts[1]),
               mz = static_cast<hsize_t>(sg.counts[2]);
    h5::create_dataset<float>(f, "/entry1/subcells/sum", {mz, my, mx, K});
    h5::write_rows(f, "/entry1/subcells/sum", static_cast<hsize_t>(sc_first), static_cast<hsize_t>(sc_count),
                   sc_sum.data());
    h5::create_dataset<std::int32_t>(f, "/entry1/subcells/label", {mz, my, mx});
    h5::write_rows(f, "/entry1/subcells/label", static_cast<hsize_t>(sc_first),
                   static_cast<hsize_t>(sc_count), sc_label.data());
    {
      auto ds = h5::open_object(f, "/entry1/subcells/sum");
      h5::write_attr(ds, "origin", std::vector<double>{sg.origin[0], sg.origin[1], sg.origin[2]});
      h5::write_attr(ds, "size", sg.size);
      h5::write_attr(ds, "thresholds", opt.segment.thresholds);
      h5::write_attr(ds, "class_names", c.models.front().output_names());
      h5::write_attr(ds, "rule", std::string(ion_rule_name(opt.segment.rule)));
      h5::write_attr(ds, "empty_window", std::string(empty_window_name(opt.segment.empty_window)));
      if (opt.segment.rule == IonRule::interpolate) h5::write_attr(ds, "smoothing", opt.segment.smoothing);
    }
    // ions
    const auto n = static_cast<hsize_t>(sum.input_ions);
    h5::create_dataset<std::int32_t>(f, "/entry1/ions/class", {n});
    h5::create_dataset<std::int64_t>(f, "/entry1/ions/domain_id", {n});
    h5::write_rows(f, "/entry1/ions/class", static_cast<hsize_t>(read_first),
                   static_cast<hsize_t>(read_count), cls_in.data());
    h5::write_rows(f, "/entry1/ions/domain_id", static_cast<hsize_t>(read_first),
                   static_cast<hsize_t>(read_count), dom_in.data());
    // domains
    detail::write_domain_table(f, "/entry1/domains", domains);
    if (align.mode != AlignSpec::Mode::none) write_alignment(f, "/entry1/alignment", align);
    // control: size histograms (row 0 = the real run), one entry per shuffled run
    {
      const std::size_t nb = sum.size_histogram.size(), nrun = sum.control.size();
      std::vector<std::int64_t> hist(sum.size_histogram);
      std::vector<std::int64_t> seeds, ndom;
      std::vector<double> pr, chi, cc, chip, ccp;
      for (const auto& run : sum.control) {
        hist.insert(hist.end(), run.size_histogram.begin(), run.size_histogram.end());
        seeds.push_back(static_cast<std::int64_t>(run.seed));
        ndom.push_back(run.domains);
        pr.push_back(run.vs_real.pearson_r);
        chi.push_back(run.vs_real.chi2);
        cc.push_back(run.vs_real.contingency);
        chip.push_back(run.vs_real.chi2_published);
        ccp.push_back(run.vs_real.contingency_published);
      }
      h5::write(f, "/entry1/control/size_histogram", hist,
                {static_cast<hsize_t>(nrun + 1), static_cast<hsize_t>(nb)});
      auto ds = h5::open_object(f, "/entry1/control/size_histogram");
      h5::write_attr(ds, "lo", hs.lo);
      h5::write_attr(ds, "hi", hs.hi);
      h5::write_attr(ds, "real_domains", sum.domains);
      h5::write_attr(ds, "overflow", std::string(hs.overflow_in_last_bin ? "last_bin" : "drop"));
      if (nrun > 0) {
        h5::write(f, "/entry1/control/shuffle_seed", seeds);
        h5::write(f, "/entry1/control/domains", ndom);
        h5::write(f, "/entry1/control/pearson_r", pr);
        h5::write(f, "/entry1/control/chi2", chi);
        h5::write(f, "/entry1/control/contingency", cc);
        h5::write(f, "/entry1/control/chi2_published", chip);
        h5::write(f, "/entry1/control/contingency_published", ccp);
      }
    }
    // config
    h5::write_strings(f, "/entry1/config", {opt.config_text});
    {
      auto ds = h5::open_object(f, "/entry1/config");
      h5::write_attr(ds, "sha256", io::sha256_hex(opt.config_text));
      h5::write_attr(ds, "aptflow_version", std::string(APTFLOW_VERSION));
      h5::write_attr(ds, "git_hash", std::string(APTFLOW_GIT_HASH));
    }
    stage("write");
    std::vector<std::string> names;
    std::vector<double> secs, secs_max;
    for (const auto& [k, v] : prof) {
      names.push_back(k);
      secs.push_back(v);
    }
    secs_max.resize(secs.size());
    MPI_Allreduce(secs.data(), secs_max.data(), static_cast<int>(secs.size()), MPI_DOUBLE, MPI_MAX, comm);
    double wsec = 0;
    MPI_Allreduce(&window_seconds, &wsec, 1, MPI_DOUBLE, MPI_MAX, comm);
    h5::write_strings(f, "/entry1/profiling/stage", names);
    h5::write(f, "/entry1/profiling/seconds_max", secs_max);
    {
      double total = 0;
      for (double s : secs_max) total += s;
      auto pg = h5::open_object(f, "/entry1/profiling");
      h5::write_attr(pg, "ranks", static_cast<std::int64_t>(nranks));
      h5::write_attr(pg, "threads_per_rank", static_cast<std::int64_t>(HostExec().concurrency()));
      // --device: the request, where the window counts and the CNN ran, rank 0's GPU
      h5::write_attr(pg, "device_requested", to_string(opt.device));
      h5::write_attr(
          pg, "device",
          std::string(c.device_path ? (c.device.gpu ? "gpu" : "default execution space") : "host"));
      h5::write_attr(
          pg, "execution_space",
          c.device_path ? std::string(Kokkos::DefaultExecutionSpace::name()) : std::string(HostExec::name()));
      h5::write_attr(pg, "device_id", static_cast<std::int64_t>(c.device.device_id));
      h5::write_attr(pg, "ions_per_second", static_cast<double>(sum.ions) / std::max(total, 1e-9));
      h5::write_attr(pg, "windows_per_second",
                     static_cast<double>(sum.windows_computed) / std::max(wsec, 1e-9));
      h5::write_attr(pg, "windows_computed", sum.windows_computed);
      h5::write_attr(pg, "resumed", static_cast<std::int64_t>(sum.resumed ? 1 : 0));
    }
    f.close();
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
