// Training; see include/aptflow/nn/train.hpp and docs/training.md.
#include "aptflow/nn/train.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "aptflow/core/error.hpp"
#include "aptflow/core/rng.hpp"
#include "aptflow/io/features.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/nn/evaluate.hpp"
#include "aptflow/sdm/preprocess.hpp"

namespace aptflow::nn {

using nlohmann::json;

// ------------------------------------------------------------------ randomness

std::uint64_t train_random(std::uint64_t seed, TrainRng purpose, std::uint64_t a, std::uint64_t b) {
  const U32x4 ctr{{static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(a >> 32),
                   static_cast<std::uint32_t>(b),
                   (0x7Au << 24) | ((static_cast<std::uint32_t>(purpose) & 0xffu) << 16) |
                       (static_cast<std::uint32_t>(b >> 32) & 0xffffu)}};
  const auto r = philox4x32_10(ctr, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  return (static_cast<std::uint64_t>(r.v[0]) << 32) | r.v[1];
}

namespace {

// Rows of each class ordered by their random key.
std::vector<std::vector<std::size_t>> class_orders(const std::vector<std::int64_t>& rows,
                                                   const std::vector<std::int32_t>& labels,
                                                   std::uint64_t seed, TrainRng purpose) {
  APTFLOW_ASSERT(rows.size() == labels.size(), "rows and labels must be parallel");
  std::int32_t K = 0;
  for (auto l : labels) {
    APTFLOW_ASSERT(l >= 0, "labels must be >= 0");
    K = std::max(K, l + 1);
  }
  std::vector<std::vector<std::size_t>> by_class(static_cast<std::size_t>(K));
  for (std::size_t i = 0; i < rows.size(); ++i) by_class[static_cast<std::size_t>(labels[i])].push_back(i);
  for (auto& v : by_class) {
    std::vector<std::pair<std::uint64_t, std::size_t>> keyed;
    for (auto i : v) keyed.emplace_back(train_random(seed, purpose, static_cast<std::uint64_t>(rows[i])), i);
    std::sort(keyed.begin(), keyed.end());
    for (std::size_t j = 0; j < v.size(); ++j) v[j] = keyed[j].second;
  }
  return by_class;
}

}  // namespace

Split stratified_split(const std::vector<std::int64_t>& rows, const std::vector<std::int32_t>& labels,
                       double test_fraction, std::uint64_t seed) {
  if (!(test_fraction >= 0.0 && test_fraction < 1.0))
    throw ConfigError("training.test_fraction", fmt::format("{} must lie in [0, 1)", test_fraction));
  Split s;
  for (const auto& order : class_orders(rows, labels, seed, TrainRng::split)) {
    const auto n_test =
        static_cast<std::size_t>(std::llround(static_cast<double>(order.size()) * test_fraction));
    for (std::size_t j = 0; j < order.size(); ++j) (j < n_test ? s.test : s.train).push_back(rows[order[j]]);
  }
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.test.begin(), s.test.end());
  return s;
}

std::vector<int> stratified_folds(const std::vector<std::int64_t>& rows,
                                  const std::vector<std::int32_t>& labels, int k, std::uint64_t seed) {
  if (k < 2) throw ConfigError("training.folds", fmt::format("{} folds: k-fold needs k >= 2", k));
  std::vector<int> fold(rows.size(), 0);
  for (const auto& order : class_orders(rows, labels, seed, TrainRng::fold))
    for (std::size_t j = 0; j < order.size(); ++j)
      fold[order[j]] = static_cast<int>(j % static_cast<std::size_t>(k));
  return fold;
}

void shift_sample(const float* x, const Shape& sample_shape, int shift, float* out) {
  APTFLOW_ASSERT(!sample_shape.empty(), "shift_sample needs a sample shape");
  const std::int64_t n0 = sample_shape[0];
  const std::int64_t inner = shape_size(sample_shape) / n0;  // floats per step of the first axis
  for (std::int64_t i = 0; i < n0; ++i) {
    const std::int64_t src = i - shift;
    float* o = out + i * inner;
    if (src < 0 || src >= n0)
      std::fill(o, o + inner, 0.0f);
    else
      std::copy(x + src * inner, x + (src + 1) * inner, o);
  }
}

// ------------------------------------------------------------------ data

namespace {

constexpr const char* kBankGroups[3] = {"BCC", "B2", "D03"};
constexpr const char* kBankClasses[3] = {"BCC", "B2", "D0_3"};
constexpr const char* kBankDatasets[2] = {"FeFe", "AlAl"};
constexpr const char* kBankPairs[2] = {"Fe-Fe", "Al-Al"};

struct RawChannels {
  std::string kind;
  std::vector<std::string> pairs;
  Shape bins;
  std::vector<std::vector<float>> values;  // per channel: rows x bins
  std::vector<std::int32_t> labels;
  std::vector<std::string> class_names;
  std::vector<double> edges;
};

RawChannels read_bank(const std::string& path, const DataOptions& opt) {
  RawChannels r;
  r.kind = "z";
  if (!opt.kind.empty() && opt.kind != "z")
    throw ConfigError("features.kind",
                      fmt::format("the Fe-Al bank '{}' holds z-SDMs only, not '{}'", path, opt.kind));
  r.pairs = opt.pairs.empty() ? std::vector<std::string>{kBankPairs[0], kBankPairs[1]} : opt.pairs;
  r.class_names.assign(std::begin(kBankClasses), std::end(kBankClasses));
  auto f = h5::File::open(path);
  r.values.resize(r.pairs.size());
  for (std::size_t c = 0; c < r.pairs.size(); ++c) {
    int d = -1;
    for (int j = 0; j < 2; ++j)
      if (r.pairs[c] == kBankPairs[j]) d = j;
    if (d < 0)
      throw ConfigError("features.pairs",
                        fmt::format("the Fe-Al bank holds the pairs Fe-Fe and Al-Al, not '{}'", r.pairs[c]));
    for (int g = 0; g < 3; ++g) {
      std::vector<hsize_t> dims;
      const std::string ds = fmt::format("/{}/{}", kBankGroups[g], kBankDatasets[d]);
      auto v = h5::read<float>(f, ds, &dims);
      if (dims.size() != 2 || dims[1] != 93)
        throw InputError(path, fmt::format("'{}' must be (curves, 93)", ds));
      r.values[c].insert(r.values[c].end(), v.begin(), v.end());
      if (c == 0) r.labels.insert(r.labels.end(), dims[0], g);
    }
    if (r.values[c].size() != r.labels.size() * 93)
      throw InputError(path, "the FeFe and AlAl datasets of a class must have the same number of curves");
  }
  r.bins = {93};
  if (h5::exists(f, "/dz_left_edge_nm")) r.edges = h5::read<double>(f, "/dz_left_edge_nm");
  return r;
}

RawChannels read_library(const std::string& path, const DataOptions& opt) {
  RawChannels r;
  const auto info = io::read_feature_info(path);
  if (info.labels.empty() || info.layout.class_names.empty())
    throw InputError(
        path, "no labels/class_names: not a synthetic library (make one with `aptflow synth library`)");
  std::set<std::string> kinds;
  for (const auto& ch : info.layout.channels) kinds.insert(ch.kind);
  r.kind = opt.kind;
  if (r.kind.empty()) {
    if (kinds.size() != 1)
      throw ConfigError("features.kind", fmt::format("the library '{}' holds the kinds {}; choose one", path,
                                                     fmt::join(kinds, ", ")));
    r.kind = *kinds.begin();
  }
  std::vector<std::string> present;
  for (const auto& ch : info.layout.channels)
    if (ch.kind == r.kind) present.push_back(ch.pair);
  if (present.empty())
    throw InputError(path, fmt::format("no features/{} in the library (kinds: {}); set features.kind", r.kind,
                                       fmt::join(kinds, ", ")));
  r.pairs = opt.pairs;
  if (r.pairs.empty()) {
    r.pairs = present;
    std::sort(r.pairs.begin(), r.pairs.end());
  }
  for (const auto& p : r.pairs) {
    const auto it =
        std::find_if(info.layout.channels.begin(), info.layout.channels.end(),
                     [&](const io::FeatureChannel& ch) { return ch.kind == r.kind && ch.pair == p; });
    if (it == info.layout.channels.end())
      throw InputError(path, fmt::format("no features/{}/{} in the library (it holds {}); fix features.pairs",
                                         r.kind, p, fmt::join(present, ", ")));
    if (r.bins.empty()) r.bins = Shape(it->shape.begin(), it->shape.end());
    r.values.push_back(io::read_features(path, r.kind, p));
  }
  r.labels = info.labels;
  r.class_names = info.layout.class_names;
  for (const auto& [k, e] : info.layout.bins)
    if (k == r.kind) r.edges = e;
  return r;
}

void preprocess_channel(std::vector<float>& v, std::int64_t rows, std::int64_t bins, std::size_t rank,
                        const DataOptions& opt) {
  const auto variant = opt.variant == "feal" ? sdm::Variant::feal : sdm::Variant::cocrni;
  sdm::preprocess_channel(
      sdm::CurveRows(v.data(), static_cast<std::size_t>(rows), static_cast<std::size_t>(bins)),
      sdm::PreprocessSpec::of(variant,
                              sdm::parse_preprocess_mode(opt.preprocessing, "features.preprocessing")),
      static_cast<int>(rank), "features.preprocessing");
}

}  // namespace

bool is_feal_bank(const std::string& path) {
  if (!h5::is_hdf5(path)) return false;
  auto f = h5::File::open(path);
  auto root = h5::open_object(f, "/");
  if (h5::has_attr(root, "format")) return false;
  for (const char* g : kBankGroups)
    for (const char* d : kBankDatasets)
      if (!h5::exists(f, fmt::format("/{}/{}", g, d))) return false;
  return true;
}

LabelledData load_labelled(const std::string& path, const DataOptions& opt) {
  if (opt.subsample < 1) throw ConfigError("data.subsample", "must be >= 1");
  RawChannels raw = is_feal_bank(path) ? read_bank(path, opt) : read_library(path, opt);
  LabelledData d;
  d.source = path;
  d.class_names = raw.class_names;
  d.file_rows = static_cast<std::int64_t>(raw.labels.size());
  d.file_labels = raw.labels;
  for (auto l : raw.labels)
    if (l < 0 || l >= static_cast<std::int32_t>(raw.class_names.size()))
      throw InputError(path, fmt::format("label {} outside the {} class names", l, raw.class_names.size()));
  const std::int64_t nb = shape_size(raw.bins), C = static_cast<std::int64_t>(raw.pairs.size());
  for (auto& ch : raw.values) {
    if (static_cast<std::int64_t>(ch.size()) != d.file_rows * nb)
      throw InputError(path, "a feature dataset does not have one row per label; the library is damaged");
    preprocess_channel(ch, d.file_rows, nb, raw.bins.size(), opt);
  }
  std::vector<std::int64_t> keep;
  for (std::int64_t r = 0; r < d.file_rows; r += opt.subsample) {
    bool ok = true;
    for (std::int64_t c = 0; c < C && ok; ++c) {
      const float* row = raw.values[static_cast<std::size_t>(c)].data() + r * nb;
      for (std::int64_t k = 0; k < nb && ok; ++k) ok = std::isfinite(row[k]);
    }
    if (ok)
      keep.push_back(r);
    else
      ++d.dropped;
  }
  Shape xs{static_cast<std::int64_t>(keep.size())};
  xs.insert(xs.end(), raw.bins.begin(), raw.bins.end());
  xs.push_back(C);
  d.x = Tensor(xs);
  for (std::size_t i = 0; i < keep.size(); ++i) {
    float* o = d.x.sample(static_cast<std::int64_t>(i));
    for (std::int64_t c = 0; c < C; ++c) {
      const float* row = raw.values[static_cast<std::size_t>(c)].data() + keep[i] * nb;
      for (std::int64_t k = 0; k < nb; ++k) o[k * C + c] = row[k];
    }
    d.labels.push_back(raw.labels[static_cast<std::size_t>(keep[i])]);
  }
  d.rows = keep;
  d.features.kind = raw.kind;
  d.features.pairs = raw.pairs;
  d.features.bins = raw.bins;
  d.features.normalisation = opt.preprocessing == "none" ? "none" : "minmax";
  d.features.preprocessing = opt.preprocessing == "none" ? "minmax_only" : opt.preprocessing;
  d.features.variant = opt.variant;
  if (!raw.edges.empty()) d.features.extra["bin_left_edges_nm"] = raw.edges;
  return d;
}

void convert_feal_bank(const std::string& bank, const std::string& out) {
  RawChannels r = read_bank(bank, DataOptions{});
  io::FeatureLayout layout;
  layout.samples = static_cast<std::int64_t>(r.labels.size());
  for (const auto& p : r.pairs) layout.channels.push_back(io::FeatureChannel{"z", p, {93}});
  if (!r.edges.empty()) layout.bins.emplace_back("z", r.edges);
  layout.library = true;
  layout.class_names = r.class_names;
  layout.config_text = fmt::format("# converted from the published Fe-Al z-SDM bank {}\n", bank);
  io::FeatureWriter w(out, layout);
  for (std::size_t c = 0; c < r.pairs.size(); ++c) w.write_features(c, 0, layout.samples, r.values[c].data());
  w.write_labels(0, layout.samples, r.labels.data());
  w.close();
}

// ------------------------------------------------------------------ configuration
// layers_from_config: src/nn/train_config.cpp (uses toml++, no Kokkos).

TrainSpec TrainSpec::from_config(const Config& cfg) {
  TrainSpec s;
  s.seed = static_cast<std::uint64_t>(cfg.get_int("seed", 0));
  s.data.kind = cfg.get_string("features.kind", std::string());
  s.data.pairs = cfg.get_strings("features.pairs", std::vector<std::string>{});
  s.data.preprocessing = cfg.get_string("features.preprocessing", std::string("minmax_only"));
  s.data.variant = cfg.get_string("features.variant", std::string("cocrni"));
  if (s.data.variant != "feal" && s.data.variant != "cocrni")
    throw ConfigError("features.variant", "must be feal or cocrni");
  s.data.subsample = cfg.get_int("data.subsample", 1);
  if (s.data.subsample < 1) throw ConfigError("data.subsample", "must be >= 1");
  s.layers = layers_from_config(cfg);
  s.optimizer.type = cfg.get_string("training.optimizer", std::string("adam"));
  s.optimizer.learning_rate = cfg.get_double("training.learning_rate", 1e-3);
  s.optimizer.beta_1 = cfg.get_double("training.beta_1", 0.9);
  s.optimizer.beta_2 = cfg.get_double("training.beta_2", 0.999);
  s.optimizer.rho = cfg.get_double("training.rho", 0.9);
  s.optimizer.epsilon = cfg.get_double("training.epsilon", 1e-7);
  s.optimizer.validate();
  s.loss = parse_loss(cfg.get_string("training.loss", std::string("categorical_crossentropy")));
  s.epochs = cfg.get_int("training.epochs", 30);
  if (s.epochs < 1) throw ConfigError("training.epochs", "must be >= 1");
  s.batch_size = cfg.get_int("training.batch_size", 32);
  if (s.batch_size < 1) throw ConfigError("training.batch_size", "must be >= 1");
  s.test_fraction = cfg.get_double("training.test_fraction", 0.2);
  if (!(s.test_fraction >= 0.0 && s.test_fraction < 1.0))
    throw ConfigError("training.test_fraction", "must lie in [0, 1)");
  s.folds = static_cast<int>(cfg.get_int("training.folds", 1));
  if (s.folds < 1) throw ConfigError("training.folds", "must be >= 1 (1: no cross-validation)");
  const auto shift = cfg.get_ints("augment.shift", std::vector<std::int64_t>{0, 0});
  if (shift.size() != 2 || shift[0] > shift[1] || shift[0] < -1000 || shift[1] > 1000)
    throw ConfigError("augment.shift", "expected [lo, hi] with lo <= hi (bins, inclusive), e.g. [-4, 3]");
  s.shift_lo = static_cast<int>(shift[0]);
  s.shift_hi = static_cast<int>(shift[1]);
  const bool shifting = !(s.shift_lo == 0 && s.shift_hi == 0);
  s.augment_copies = static_cast<int>(cfg.get_int("augment.copies", shifting ? 1 : 0));
  if (s.augment_copies < 0) throw ConfigError("augment.copies", "must be >= 0");
  s.config_text = cfg.to_toml();
  return s;
}

json TrainSpec::to_json() const {
  return json{{"seed", seed},
              {"features",
               {{"kind", data.kind},
                {"pairs", data.pairs},
                {"preprocessing", data.preprocessing},
                {"variant", data.variant}}},
              {"data", {{"subsample", data.subsample}}},
              {"layers", layers},
              {"optimizer", optimizer.to_json()},
              {"loss", to_string(loss)},
              {"epochs", epochs},
              {"batch_size", batch_size},
              {"test_fraction", test_fraction},
              {"folds", folds},
              {"augment", {{"shift", {shift_lo, shift_hi}}, {"copies", augment_copies}}}};
}

Model build_model(const json& layers, const Shape& input_shape, std::uint64_t seed) {
  Model m = Model::from_architecture(json{{"input_shape", input_shape}, {"layers", layers}});
  for (std::size_t li = 0; li < m.size(); ++li) {
    for (Param& p : m.layer(li).params()) {
      if (p.name != "kernel") {
        std::fill(p.value.begin(), p.value.end(), 0.0f);
        continue;
      }
      // (taps..., in, out): fan_in = taps * in, fan_out = taps * out
      const std::int64_t out = p.shape.back(), in = p.shape[p.shape.size() - 2];
      const std::int64_t taps = shape_size(p.shape) / (in * out);
      const double limit = std::sqrt(6.0 / static_cast<double>(taps * in + taps * out));
      for (std::size_t e = 0; e < p.value.size(); ++e) {
        const std::uint64_t bits = train_random(seed, TrainRng::init, li, e) >> 11;  // 53 bits
        const double u = (static_cast<double>(bits) + 0.5) * 0x1.0p-53;
        p.value[e] = static_cast<float>(limit * (2.0 * u - 1.0));
      }
    }
  }
  return m;
}

// ------------------------------------------------------------------ training

json EpochMetrics::to_json() const {
  return json{{"fold", fold},         {"epoch", epoch},       {"loss", loss},
              {"accuracy", accuracy}, {"val_loss", val_loss}, {"val_accuracy", val_accuracy},
              {"samples", samples},   {"seconds", seconds},   {"samples_per_second", samples_per_second}};
}

namespace {

struct Comm {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1;
  explicit Comm(MPI_Comm c) : comm(c) {
    if (c != MPI_COMM_NULL) {
      MPI_Comm_rank(c, &rank);
      MPI_Comm_size(c, &size);
    }
  }
  void sum(double* v, int n) const {
    if (size > 1) MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, comm);
  }
  // [lo, hi) of n items for this rank (contiguous blocks)
  std::pair<std::int64_t, std::int64_t> share(std::int64_t n) const {
    return {n * rank / size, n * (rank + 1) / size};
  }
};

// One training sample: data position + shift (0: the original).
struct Item {
  std::int64_t pos;
  int shift;
  std::uint64_t key;  // identity for the shuffle: row * (copies + 1) + copy
};

// Summed loss and correct predictions of `model` on positions [lo, hi) of `pos`.
void score(const Model& model, const LabelledData& d, const std::vector<std::int64_t>& pos, std::int64_t lo,
           std::int64_t hi, LossKind loss, double& loss_sum_out, double& correct) {
  if (hi <= lo) return;
  const std::int64_t S = d.x.sample_size();
  Shape xs{hi - lo};
  xs.insert(xs.end(), model.input_shape().begin(), model.input_shape().end());
  Tensor x(xs);
  std::vector<std::int32_t> labels;
  for (std::int64_t i = lo; i < hi; ++i) {
    std::copy(d.x.sample(pos[i]), d.x.sample(pos[i]) + S, x.sample(i - lo));
    labels.push_back(d.labels[static_cast<std::size_t>(pos[i])]);
  }
  const Tensor p = model.predict(x, 256);
  const std::int64_t K = p.sample_size();
  Tensor p2({p.batch(), K});
  p2.data = p.data;
  loss_sum_out += loss_sum(loss, p2, labels.data());
  for (std::int64_t i = 0; i < p.batch(); ++i)
    correct += predicted_class(p.sample(i), K) == labels[static_cast<std::size_t>(i)] ? 1 : 0;
}

}  // namespace

TrainResult train(const TrainSpec& spec, const LabelledData& d, MPI_Comm mpi_comm,
                  const ProgressFn& progress) {
  const auto t_start = std::chrono::steady_clock::now();
  const Comm comm(mpi_comm);
  TrainResult result;
  const auto K = static_cast<std::int64_t>(d.class_names.size());
  if (K < 2) throw InputError(d.source, "a library needs at least two classes to train a classifier");
  const Shape input = d.x.sample_shape();

  // The split over the (subsampled) file rows, NaN rows included, so that evaluate can reproduce it.
  std::vector<std::int64_t> file_rows;
  std::vector<std::int32_t> file_labels;
  for (std::int64_t r = 0; r < d.file_rows; r += spec.data.subsample) {
    file_rows.push_back(r);
    file_labels.push_back(d.file_labels[static_cast<std::size_t>(r)]);
  }
  result.split = stratified_split(file_rows, file_labels, spec.test_fraction, spec.seed);
  std::vector<std::int64_t> pos_of_row(static_cast<std::size_t>(d.file_rows), -1);
  for (std::size_t i = 0; i < d.rows.size(); ++i)
    pos_of_row[static_cast<std::size_t>(d.rows[i])] = static_cast<std::int64_t>(i);
  auto positions = [&](const std::vector<std::int64_t>& rows) {
    std::vector<std::int64_t> out;
    for (auto r : rows)
      if (pos_of_row[static_cast<std::size_t>(r)] >= 0)
        out.push_back(pos_of_row[static_cast<std::size_t>(r)]);
    return out;
  };
  const std::vector<std::int64_t> train_pos = positions(result.split.train),
                                  test_pos = positions(result.split.test);
  if (train_pos.empty())
    throw InputError(d.source, "no training samples left after the split; use a larger library");

  std::vector<int> fold_of;  // parallel to train_pos
  if (spec.folds >= 2) {
    std::vector<std::int64_t> rows;
    std::vector<std::int32_t> labels;
    for (auto p : train_pos) {
      rows.push_back(d.rows[static_cast<std::size_t>(p)]);
      labels.push_back(d.labels[static_cast<std::size_t>(p)]);
    }
    fold_of = stratified_folds(rows, labels, spec.folds, spec.seed);
  }

  // Check the architecture against the classes once.
  {
    const Model probe = Model::from_architecture(json{{"input_shape", input}, {"layers", spec.layers}});
    const std::int64_t outputs = shape_size(probe.output_shape());
    const bool ok = spec.loss == LossKind::categorical_crossentropy ? outputs == K : (outputs == 1 && K == 2);
    if (probe.output_shape().size() != 1 || !ok)
      throw ConfigError(
          "layers", fmt::format("the network outputs {} but the library has {} classes ({}); the last "
                                "layer needs units = {} (softmax) or 1 (sigmoid, binary_crossentropy, "
                                "2 classes)",
                                shape_string(probe.output_shape()), K, fmt::join(d.class_names, ", "), K));
  }

  const int members = spec.folds >= 2 ? spec.folds : 1;
  const int span = spec.shift_hi - spec.shift_lo + 1;
  const std::int64_t S = d.x.sample_size();
  for (int fold = 0; fold < members; ++fold) {
    std::vector<std::int64_t> fit, val;
    for (std::size_t i = 0; i < train_pos.size(); ++i)
      (members > 1 && fold_of[i] == fold ? val : fit).push_back(train_pos[i]);
    if (members == 1) val = test_pos;
    // Training items: originals + shifted copies (a fixed shift per row and copy).
    std::vector<Item> items;
    for (auto p : fit) {
      const auto row = static_cast<std::uint64_t>(d.rows[static_cast<std::size_t>(p)]);
      const auto stride = static_cast<std::uint64_t>(spec.augment_copies + 1);
      items.push_back({p, 0, row * stride});
      for (int c = 0; c < spec.augment_copies; ++c) {
        const int shift =
            spec.shift_lo + static_cast<int>(train_random(spec.seed, TrainRng::augment, row, c) %
                                             static_cast<std::uint64_t>(span));
        items.push_back({p, shift, row * stride + static_cast<std::uint64_t>(c) + 1});
      }
    }
    const std::uint64_t fold_seed =
        train_random(spec.seed, TrainRng::init, 0xF01Dull, static_cast<std::uint64_t>(fold));
    Model model = build_model(spec.layers, input, fold_seed);
    auto optimizer = make_optimizer(spec.optimizer);
    const auto params = model.parameters();
    std::size_t nparam = 0;
    for (const Param* p : params) nparam += p->grad.size();
    std::vector<double> gbuf(nparam);
    const std::int64_t N = static_cast<std::int64_t>(items.size()), B = spec.batch_size;
    const std::int64_t steps = (N + B - 1) / B;
    std::uint64_t global_step = 0;
    for (std::int64_t epoch = 0; epoch < spec.epochs; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<std::pair<std::uint64_t, std::size_t>> order;
      order.reserve(items.size());
      for (std::size_t i = 0; i < items.size(); ++i)
        order.emplace_back(
            train_random(fold_seed, TrainRng::shuffle, items[i].key, static_cast<std::uint64_t>(epoch)), i);
      std::sort(order.begin(), order.end());
      double stats[2] = {0, 0};  // loss sum, correct
      for (std::int64_t step = 0; step < steps; ++step, ++global_step) {
        const std::int64_t b0 = step * B, b1 = std::min(N, b0 + B);
        const std::int64_t lo = b0 + (b1 - b0) * comm.rank / comm.size,
                           hi = b0 + (b1 - b0) * (comm.rank + 1) / comm.size;
        model.zero_grad();
        if (hi > lo) {
          Shape xs{hi - lo};
          xs.insert(xs.end(), input.begin(), input.end());
          Tensor x(xs);
          std::vector<std::int32_t> labels;
          for (std::int64_t j = lo; j < hi; ++j) {
            const Item& it = items[order[static_cast<std::size_t>(j)].second];
            const float* src = d.x.sample(it.pos);
            if (it.shift == 0)
              std::copy(src, src + S, x.sample(j - lo));
            else
              shift_sample(src, input, it.shift, x.sample(j - lo));
            labels.push_back(d.labels[static_cast<std::size_t>(it.pos)]);
          }
          RunContext ctx;
          ctx.training = true;
          ctx.seed = fold_seed;
          ctx.step = global_step;
          ctx.first_sample = lo - b0;
          const Tensor& y = model.forward(x, ctx);
          Tensor probs({y.batch(), y.sample_size()});
          probs.data = y.data;
          Tensor grad;
          stats[0] += loss_and_grad(spec.loss, probs, labels.data(), b1 - b0, grad);
          for (std::int64_t i = 0; i < probs.batch(); ++i)
            stats[1] +=
                predicted_class(probs.sample(i), probs.shape[1]) == labels[static_cast<std::size_t>(i)] ? 1
                                                                                                        : 0;
          grad.shape = y.shape;
          model.backward(grad);
        }
        if (comm.size > 1) {
          std::size_t o = 0;
          for (const Param* p : params)
            for (float g : p->grad) gbuf[o++] = g;
          comm.sum(gbuf.data(), static_cast<int>(gbuf.size()));
          o = 0;
          for (Param* p : params)
            for (float& g : p->grad) g = static_cast<float>(gbuf[o++]);
        }
        optimizer->step(params);
      }
      comm.sum(stats, 2);
      double vstats[2] = {0, 0};
      const auto [vlo, vhi] = comm.share(static_cast<std::int64_t>(val.size()));
      score(model, d, val, vlo, vhi, spec.loss, vstats[0], vstats[1]);
      comm.sum(vstats, 2);
      EpochMetrics m;
      m.fold = fold;
      m.epoch = static_cast<int>(epoch);
      m.samples = N;
      m.loss = stats[0] / static_cast<double>(N);
      m.accuracy = stats[1] / static_cast<double>(N);
      if (!val.empty()) {
        m.val_loss = vstats[0] / static_cast<double>(val.size());
        m.val_accuracy = vstats[1] / static_cast<double>(val.size());
      }
      m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      m.samples_per_second = m.seconds > 0 ? static_cast<double>(N) / m.seconds : 0.0;
      result.history.push_back(m);
      if (progress) progress(m, members, spec.epochs);
    }
    model.class_names = d.class_names;
    model.features = d.features;
    result.members.push_back(std::move(model));
  }

  // Held-out test set: ensemble mean.
  if (!test_pos.empty()) {
    Shape xs{static_cast<std::int64_t>(test_pos.size())};
    xs.insert(xs.end(), input.begin(), input.end());
    Tensor x(xs);
    for (std::size_t i = 0; i < test_pos.size(); ++i) {
      std::copy(d.x.sample(test_pos[i]), d.x.sample(test_pos[i]) + S, x.sample(static_cast<std::int64_t>(i)));
      result.test_labels.push_back(d.labels[static_cast<std::size_t>(test_pos[i])]);
    }
    const std::int64_t outputs = shape_size(result.members.front().output_shape());
    std::vector<double> mean(test_pos.size() * static_cast<std::size_t>(outputs), 0.0);
    for (const auto& m : result.members) {
      const Tensor p = m.predict(x, 256);
      for (std::size_t i = 0; i < mean.size(); ++i)
        mean[i] += p.data[i] / static_cast<double>(result.members.size());
    }
    std::vector<float> row(static_cast<std::size_t>(outputs));
    for (std::size_t i = 0; i < test_pos.size(); ++i) {
      for (std::int64_t k = 0; k < outputs; ++k)
        row[static_cast<std::size_t>(k)] = static_cast<float>(mean[i * outputs + k]);
      result.test_predicted.push_back(predicted_class(row.data(), outputs));
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  const Evaluation ev = evaluate_labels(result.test_labels, result.test_predicted, d.class_names);
  result.test_accuracy = ev.accuracy;

  json history = json::array();
  for (const auto& m : result.history) history.push_back(m.to_json());
  json training{{"config", spec.to_json()},
                {"config_toml", spec.config_text},
                {"library", d.source},
                {"split",
                 {{"seed", spec.seed},
                  {"test_fraction", spec.test_fraction},
                  {"subsample", spec.data.subsample},
                  {"file_rows", d.file_rows},
                  {"train", result.split.train.size()},
                  {"test", result.split.test.size()},
                  {"dropped_nan_rows", d.dropped}}},
                {"members", members},
                {"ranks", comm.size},
                {"history", history},
                {"test", evaluation_json(ev)},
                {"seconds", result.seconds}};
  for (auto& m : result.members) m.training = training;
  return result;
}

}  // namespace aptflow::nn
