// aptflow classify: the setup of a run (classify_pass.hpp): the models, the
// range table and species, the preprocessing, the checks that need them, and
// the SHA-256 of the inputs that identifies the run.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/io/sha256.hpp"
#include "aptflow/nn/model_file.hpp"
#include "classify_pass.hpp"

namespace aptflow::detail {

namespace {

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

}  // namespace

std::string setup_classify(ClassifyContext& c) {
  const MPI_Comm comm = c.comm;
  const ClassifyOptions& opt = *c.opt;
  std::string reason;
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
      const auto v = m0.features.variant == "feal" ? sdm::Variant::feal : sdm::Variant::cocrni;
      c.prep = sdm::PreprocessSpec::of(v, sdm::parse_preprocess_mode(mode), opt.background);
      reason = why;
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
  return reason;
}

void hash_classify_inputs(ClassifyContext& c) {
  const MPI_Comm comm = c.comm;
  const ClassifyOptions& opt = *c.opt;
  dist::collective_step(comm, [&] {
    if (c.rank != 0) return;
    c.input_sha = io::sha256_file(opt.input);
    c.range_sha = io::sha256_file(opt.range);
    for (const auto& m : opt.models) c.model_sha.push_back(io::sha256_file(m));
  });
  c.input_sha = dist::bcast_string(comm, c.input_sha);
  c.range_sha = dist::bcast_string(comm, c.range_sha);
  c.model_sha.resize(opt.models.size());
  for (auto& s : c.model_sha) s = dist::bcast_string(comm, s);
}

}  // namespace aptflow::detail
