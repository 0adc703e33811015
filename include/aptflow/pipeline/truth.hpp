#pragma once
// Ground truth of a synthetic specimen vs a classify result (docs/classify.md,
// "Ground truth"; docs/ground-truth.md for the study). Serial: one process
// reads both files whole (two int32/int64 columns per ion).
#include <cstdint>
#include <string>
#include <vector>

namespace aptflow {

struct ClassScore {
  std::string name;  // class name (shared by the truth's class_names and the result's model classes)
  std::int64_t true_positives = 0, false_positives = 0, false_negatives = 0;
  // precision = TP / (TP + FP), recall = TP / (TP + FN), f1 = 2 TP / (2 TP + FP + FN);
  // NaN where the denominator is 0 (no predicted, no true ions of the class).
  double precision = 0, recall = 0, f1 = 0;
};

struct TruthComparison {
  std::string truth_file;
  std::int64_t ions = 0;
  std::string matrix_class;           // truth class of the ions outside every true domain
  std::vector<ClassScore> classes;    // every non-matrix class of the truth or the result, truth order first
  ClassScore micro;                   // name "micro": TP, FP, FN summed over `classes`
  std::int64_t true_domains = 0;      // domains of the truth file (domains/class)
  std::int64_t detected_domains = 0;  // domains of the result (/entry1/domains/id)
  // A detected domain matches true domain t when more than half of its ions
  // have truth domain_id t. matched_domains: true domains matched by at least
  // one detected domain; matched_detected: detected domains that match one
  // (> matched_domains when true domains are split).
  std::int64_t matched_domains = 0, matched_detected = 0;
  // Mean equivalent radius (nm): truth = (a b c)^(1/3) of the semi-axes
  // (domains/radii), detected = /entry1/domains/radius (from ion counts);
  // radius_error = (detected - true) / true. The matched_* values use only
  // the matched detected domains. NaN when there is nothing to average.
  double true_mean_radius = 0, detected_mean_radius = 0, radius_error = 0;
  double matched_mean_radius = 0, matched_radius_error = 0;
};

// Compare the per-ion labels and domains of a classify result file
// (/entry1/ions/{class,domain_id}, /entry1/domains/{id,radius}, class names from
// the attribute class_names of /entry1/windows/probability) with a specimen
// truth file (ions/{class,domain_id}, domains/{class,radii}, root attribute
// class_names). Classes are matched by name; a result label -1 counts as the
// matrix class. InputError when a dataset is missing or the ion counts differ.
TruthComparison compare_with_truth(const std::string& result_h5, const std::string& truth_h5);

// Write /entry1/truth into an existing result file (replacing an earlier one):
// class_names (strings), precision, recall, f1, true_positives,
// false_positives, false_negatives (per class), micro_{precision,recall,f1},
// true_domains, detected_domains, matched_domains, matched_detected (int64,
// (1,)), true_mean_radius, detected_mean_radius, radius_error,
// matched_mean_radius, matched_radius_error (float64, (1,)); group attributes
// truth_file and matrix_class.
void write_truth_comparison(const std::string& result_h5, const TruthComparison& c);

// One line per class and one for the domains (human readable).
std::string format_truth_comparison(const TruthComparison& c);
// The same as one JSON object.
std::string format_truth_json(const TruthComparison& c);

}  // namespace aptflow
