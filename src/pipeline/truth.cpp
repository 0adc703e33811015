// Ground truth vs classify result (include/aptflow/pipeline/truth.hpp).
#include "aptflow/pipeline/truth.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"

namespace aptflow {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double ratio(std::int64_t num, std::int64_t den) {
  return den > 0 ? static_cast<double>(num) / static_cast<double>(den) : kNaN;
}

void finish(ClassScore& s) {
  s.precision = ratio(s.true_positives, s.true_positives + s.false_positives);
  s.recall = ratio(s.true_positives, s.true_positives + s.false_negatives);
  s.f1 = ratio(2 * s.true_positives, 2 * s.true_positives + s.false_positives + s.false_negatives);
}

void require(const h5::File& f, const std::string& path, const char* fix) {
  if (!h5::exists(f, path)) throw InputError(f.path(), fmt::format("no dataset or group {}: {}", path, fix));
}

double mean(const std::vector<double>& v) {
  if (v.empty()) return kNaN;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double relative(double value, double reference) {
  if (std::isnan(value) || std::isnan(reference) || reference == 0) return kNaN;
  return (value - reference) / reference;
}

}  // namespace

TruthComparison compare_with_truth(const std::string& result_h5, const std::string& truth_h5) {
  constexpr const char* kResultFix = "give a result file of aptflow classify";
  constexpr const char* kTruthFix = "give a specimen truth file (<name>_truth.h5 of aptflow synth specimen)";
  TruthComparison c;
  c.truth_file = truth_h5;

  // ---- truth
  const auto tf = h5::File::open(truth_h5);
  require(tf, "/ions/class", kTruthFix);
  require(tf, "/ions/domain_id", kTruthFix);
  require(tf, "/domains/class", kTruthFix);
  require(tf, "/domains/radii", kTruthFix);
  if (!h5::has_attr(tf.id(), "class_names"))
    throw InputError(truth_h5, std::string("no root attribute class_names: ") + kTruthFix);
  const auto t_names = h5::read_attr_strings(tf.id(), "class_names");
  const auto t_cls = h5::read<std::int32_t>(tf, "/ions/class");
  const auto t_dom = h5::read<std::int64_t>(tf, "/ions/domain_id");
  const auto t_dcls = h5::read<std::int32_t>(tf, "/domains/class");
  std::vector<hsize_t> rshape;
  const auto t_radii = h5::read<double>(tf, "/domains/radii", &rshape);
  if (t_cls.size() != t_dom.size())
    throw InputError(truth_h5, "ions/class and ions/domain_id differ in length: regenerate the specimen");
  const auto n_true = static_cast<std::int64_t>(t_dcls.size());
  if (rshape.size() != 2 || rshape[1] != 3 || static_cast<std::int64_t>(rshape[0]) != n_true)
    throw InputError(truth_h5, "domains/radii is not (domains, 3): regenerate the specimen");
  for (auto v : t_cls)
    if (v < 0 || v >= static_cast<std::int32_t>(t_names.size()))
      throw InputError(
          truth_h5, fmt::format("ions/class value {} outside class_names ({} names): regenerate the specimen",
                                v, t_names.size()));
  for (auto d : t_dom)
    if (d < -1 || d >= n_true)
      throw InputError(
          truth_h5,
          fmt::format("ions/domain_id value {} outside -1 .. {}: regenerate the specimen", d, n_true - 1));

  // ---- result
  const auto rf = h5::File::open(result_h5);
  require(rf, "/entry1/ions/class", kResultFix);
  require(rf, "/entry1/ions/domain_id", kResultFix);
  require(rf, "/entry1/domains/id", kResultFix);
  require(rf, "/entry1/domains/radius", kResultFix);
  require(rf, "/entry1/windows/probability", kResultFix);
  std::vector<std::string> r_names;
  {
    const auto ds = h5::open_object(rf, "/entry1/windows/probability");
    if (!h5::has_attr(ds, "class_names"))
      throw InputError(result_h5,
                       std::string("no attribute class_names on /entry1/windows/probability: ") + kResultFix);
    r_names = h5::read_attr_strings(ds, "class_names");
  }
  const auto r_cls = h5::read<std::int32_t>(rf, "/entry1/ions/class");
  const auto r_dom = h5::read<std::int64_t>(rf, "/entry1/ions/domain_id");
  const auto r_ids = h5::read<std::int64_t>(rf, "/entry1/domains/id");
  const auto r_rad = h5::read<double>(rf, "/entry1/domains/radius");
  if (r_cls.size() != t_cls.size() || r_dom.size() != t_cls.size())
    throw InputError(
        result_h5, fmt::format("{} ions in the result but {} in the truth file {}: compare a result with the "
                               "truth of the dataset it was computed from",
                               r_cls.size(), t_cls.size(), truth_h5));
  if (r_rad.size() != r_ids.size())
    throw InputError(result_h5, "/entry1/domains/radius and /entry1/domains/id differ in length");
  for (auto v : r_cls)
    if (v < -1 || v >= static_cast<std::int32_t>(r_names.size()))
      throw InputError(result_h5, fmt::format("/entry1/ions/class value {} outside -1 .. {}: {}", v,
                                              r_names.size() - 1, kResultFix));
  const auto n_det = static_cast<std::int64_t>(r_ids.size());
  std::map<std::int64_t, std::int64_t> det_index;  // domain id -> row
  for (std::int64_t k = 0; k < n_det; ++k) det_index[r_ids[static_cast<std::size_t>(k)]] = k;
  for (auto d : r_dom)
    if (d != -1 && det_index.find(d) == det_index.end())
      throw InputError(result_h5, fmt::format("/entry1/ions/domain_id {} is not in /entry1/domains/id: {}", d,
                                              kResultFix));
  c.ions = static_cast<std::int64_t>(t_cls.size());

  // ---- matrix class: the most common truth class outside the true domains
  {
    std::vector<std::int64_t> outside(t_names.size(), 0);
    for (std::size_t i = 0; i < t_cls.size(); ++i)
      if (t_dom[i] < 0) ++outside[static_cast<std::size_t>(t_cls[i])];
    const auto best = std::max_element(outside.begin(), outside.end());
    const bool any = best != outside.end() && *best > 0;
    c.matrix_class =
        t_names.empty() ? std::string() : t_names[any ? static_cast<std::size_t>(best - outside.begin()) : 0];
  }

  // ---- classes by name: truth order, then result classes the truth lacks
  std::vector<std::string> names;
  for (const auto& n : t_names)
    if (n != c.matrix_class && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  for (const auto& n : r_names)
    if (n != c.matrix_class && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  auto index_of = [&](const std::string& n) {
    const auto it = std::find(names.begin(), names.end(), n);
    return it == names.end() ? -1 : static_cast<int>(it - names.begin());
  };
  std::vector<int> t_map(t_names.size()), r_map(r_names.size());
  for (std::size_t k = 0; k < t_names.size(); ++k) t_map[k] = index_of(t_names[k]);
  for (std::size_t k = 0; k < r_names.size(); ++k) r_map[k] = index_of(r_names[k]);
  c.classes.resize(names.size());
  for (std::size_t k = 0; k < names.size(); ++k) c.classes[k].name = names[k];
  for (std::size_t i = 0; i < t_cls.size(); ++i) {
    const int t = t_map[static_cast<std::size_t>(t_cls[i])];
    const int r = r_cls[i] < 0 ? -1 : r_map[static_cast<std::size_t>(r_cls[i])];
    if (t == r) {
      if (t >= 0) ++c.classes[static_cast<std::size_t>(t)].true_positives;
      continue;
    }
    if (t >= 0) ++c.classes[static_cast<std::size_t>(t)].false_negatives;
    if (r >= 0) ++c.classes[static_cast<std::size_t>(r)].false_positives;
  }
  c.micro.name = "micro";
  for (auto& s : c.classes) {
    finish(s);
    c.micro.true_positives += s.true_positives;
    c.micro.false_positives += s.false_positives;
    c.micro.false_negatives += s.false_negatives;
  }
  finish(c.micro);

  // ---- domains: majority matching
  c.true_domains = n_true;
  c.detected_domains = n_det;
  std::vector<std::map<std::int64_t, std::int64_t>> votes(static_cast<std::size_t>(n_det));
  std::vector<std::int64_t> members(static_cast<std::size_t>(n_det), 0);
  for (std::size_t i = 0; i < r_dom.size(); ++i) {
    if (r_dom[i] < 0) continue;
    const auto k = static_cast<std::size_t>(det_index[r_dom[i]]);
    ++members[k];
    ++votes[k][t_dom[i]];
  }
  std::vector<char> true_hit(static_cast<std::size_t>(n_true), 0);
  std::vector<double> matched_radii;
  for (std::int64_t k = 0; k < n_det; ++k) {
    const auto ku = static_cast<std::size_t>(k);
    for (const auto& [t, n] : votes[ku])
      if (t >= 0 && 2 * n > members[ku]) {
        true_hit[static_cast<std::size_t>(t)] = 1;
        ++c.matched_detected;
        matched_radii.push_back(r_rad[ku]);
      }
  }
  for (char h : true_hit) c.matched_domains += h;
  std::vector<double> true_radii;
  for (std::int64_t t = 0; t < n_true; ++t) {
    const auto* r = &t_radii[static_cast<std::size_t>(t) * 3];
    true_radii.push_back(std::cbrt(r[0] * r[1] * r[2]));
  }
  c.true_mean_radius = mean(true_radii);
  c.detected_mean_radius = mean(r_rad);
  c.radius_error = relative(c.detected_mean_radius, c.true_mean_radius);
  c.matched_mean_radius = mean(matched_radii);
  c.matched_radius_error = relative(c.matched_mean_radius, c.true_mean_radius);
  return c;
}

void write_truth_comparison(const std::string& result_h5, const TruthComparison& c) {
  auto f = h5::File::open(result_h5, true);
  const std::string g = "/entry1/truth";
  h5::remove(f, g);
  {
    auto grp = h5::ensure_group(f, g);
    h5::write_attr(grp, "NX_class", std::string("NXcollection"));
    h5::write_attr(grp, "truth_file", c.truth_file);
    h5::write_attr(grp, "matrix_class", c.matrix_class);
  }
  std::vector<std::string> names;
  std::vector<double> p, r, f1;
  std::vector<std::int64_t> tp, fp, fn;
  for (const auto& s : c.classes) {
    names.push_back(s.name);
    p.push_back(s.precision);
    r.push_back(s.recall);
    f1.push_back(s.f1);
    tp.push_back(s.true_positives);
    fp.push_back(s.false_positives);
    fn.push_back(s.false_negatives);
  }
  const auto n = static_cast<hsize_t>(names.size());
  h5::write_strings(f, g + "/class_names", names);
  h5::write(f, g + "/precision", p, {n});
  h5::write(f, g + "/recall", r, {n});
  h5::write(f, g + "/f1", f1, {n});
  h5::write(f, g + "/true_positives", tp, {n});
  h5::write(f, g + "/false_positives", fp, {n});
  h5::write(f, g + "/false_negatives", fn, {n});
  auto scalar = [&](const std::string& name, auto v) {
    h5::write(f, g + "/" + name, std::vector<decltype(v)>{v});
  };
  scalar("micro_precision", c.micro.precision);
  scalar("micro_recall", c.micro.recall);
  scalar("micro_f1", c.micro.f1);
  scalar("true_domains", c.true_domains);
  scalar("detected_domains", c.detected_domains);
  scalar("matched_domains", c.matched_domains);
  scalar("matched_detected", c.matched_detected);
  scalar("true_mean_radius", c.true_mean_radius);
  scalar("detected_mean_radius", c.detected_mean_radius);
  scalar("radius_error", c.radius_error);
  scalar("matched_mean_radius", c.matched_mean_radius);
  scalar("matched_radius_error", c.matched_radius_error);
  f.close();
}

std::string format_truth_comparison(const TruthComparison& c) {
  std::string s = fmt::format("truth {} ({} ions, matrix class {}):\n", c.truth_file, c.ions, c.matrix_class);
  auto line = [&](const ClassScore& k) {
    s += fmt::format("  {:<8} precision {:.4f} recall {:.4f} F1 {:.4f} (TP {} FP {} FN {})\n", k.name,
                     k.precision, k.recall, k.f1, k.true_positives, k.false_positives, k.false_negatives);
  };
  for (const auto& k : c.classes) line(k);
  if (c.classes.size() > 1) line(c.micro);
  s += fmt::format(
      "  domains: true {} detected {} matched {} (by {} detected); mean radius true {:.3f} nm, detected "
      "{:.3f} nm "
      "(error {:+.1f} %), matched {:.3f} nm (error {:+.1f} %)\n",
      c.true_domains, c.detected_domains, c.matched_domains, c.matched_detected, c.true_mean_radius,
      c.detected_mean_radius, 100 * c.radius_error, c.matched_mean_radius, 100 * c.matched_radius_error);
  return s;
}

std::string format_truth_json(const TruthComparison& c) {
  using nlohmann::json;
  auto num = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
  auto score = [&](const ClassScore& k) {
    return json{{"name", k.name},
                {"precision", num(k.precision)},
                {"recall", num(k.recall)},
                {"f1", num(k.f1)},
                {"true_positives", k.true_positives},
                {"false_positives", k.false_positives},
                {"false_negatives", k.false_negatives}};
  };
  json classes = json::array();
  for (const auto& k : c.classes) classes.push_back(score(k));
  json j{{"truth_file", c.truth_file},
         {"ions", c.ions},
         {"matrix_class", c.matrix_class},
         {"classes", classes},
         {"micro", score(c.micro)},
         {"true_domains", c.true_domains},
         {"detected_domains", c.detected_domains},
         {"matched_domains", c.matched_domains},
         {"matched_detected", c.matched_detected},
         {"true_mean_radius", num(c.true_mean_radius)},
         {"detected_mean_radius", num(c.detected_mean_radius)},
         {"radius_error", num(c.radius_error)},
         {"matched_mean_radius", num(c.matched_mean_radius)},
         {"matched_radius_error", num(c.matched_radius_error)}};
  return j.dump();
}

}  // namespace aptflow
