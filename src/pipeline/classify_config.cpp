// aptflow classify: the configuration (docs/classify.md, docs/config.md) and
// the paths derived from the output.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>

#include "aptflow/core/error.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "aptflow/sdm/preprocess.hpp"

namespace aptflow {

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

}  // namespace aptflow
