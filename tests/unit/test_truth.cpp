// compare_with_truth / write_truth_comparison / `aptflow truth`: a hand-made
// result + truth pair with numbers worked out by hand, and random files
// against the numpy reference tests/python/truth_ref.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/pipeline/truth.hpp"
#include "test_util.hpp"

namespace h5 = aptflow::h5;
using aptflow::compare_with_truth;
using aptflow::TruthComparison;

namespace {

struct TruthData {
  std::vector<std::string> names;
  std::vector<std::int32_t> cls;
  std::vector<std::int64_t> dom;
  std::vector<std::int32_t> dom_cls;
  std::vector<double> radii;  // (domains, 3)
};

struct ResultData {
  std::vector<std::string> names;
  std::vector<std::int32_t> cls;
  std::vector<std::int64_t> dom;
  std::vector<std::int64_t> ids;
  std::vector<double> radius;
};

void write_truth(const std::string& path, const TruthData& t) {
  auto f = h5::File::create(path);
  h5::write(f, "/ions/class", t.cls);
  h5::write(f, "/ions/domain_id", t.dom);
  h5::write(f, "/domains/class", t.dom_cls);
  h5::write(f, "/domains/radii", t.radii, {static_cast<hsize_t>(t.dom_cls.size()), 3});
  h5::write_attr(f.id(), "class_names", t.names);
  f.close();
}

void write_result(const std::string& path, const ResultData& r) {
  auto f = h5::File::create(path);
  h5::write(f, "/entry1/windows/probability", std::vector<float>(r.names.size(), 0.5f),
            {1, 1, 1, static_cast<hsize_t>(r.names.size())});
  {
    auto ds = h5::open_object(f, "/entry1/windows/probability");
    h5::write_attr(ds, "class_names", r.names);
  }
  h5::write(f, "/entry1/ions/class", r.cls);
  h5::write(f, "/entry1/ions/domain_id", r.dom);
  h5::write(f, "/entry1/domains/id", r.ids);
  h5::write(f, "/entry1/domains/radius", r.radius);
  f.close();
}

// 12 ions, two true L1_2 domains (equivalent radii 2 and 2), three detected domains.
TruthData hand_truth() {
  return {{"FCC", "L1_2"},
          {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0},
          {-1, -1, -1, -1, 0, 0, 0, 1, 1, 1, -1, -1},
          {1, 1},
          {2, 2, 2, 1, 1, 8}};
}
ResultData hand_result() {
  return {{"FCC", "L1_2"},
          {-1, -1, 1, -1, 1, 1, -1, 1, 1, 1, 1, -1},
          {-1, -1, 5, -1, 5, 5, -1, 7, 7, 7, 9, -1},
          {5, 7, 9},
          {1.0, 2.0, 3.0}};
}

void expect_hand_numbers(const TruthComparison& c) {
  EXPECT_EQ(c.ions, 12);
  EXPECT_EQ(c.matrix_class, "FCC");
  ASSERT_EQ(c.classes.size(), 1u);
  EXPECT_EQ(c.classes[0].name, "L1_2");
  EXPECT_EQ(c.classes[0].true_positives, 5);   // ions 4 5 7 8 9
  EXPECT_EQ(c.classes[0].false_positives, 2);  // ions 2 10
  EXPECT_EQ(c.classes[0].false_negatives, 1);  // ion 6
  EXPECT_DOUBLE_EQ(c.classes[0].precision, 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(c.classes[0].recall, 5.0 / 6.0);
  EXPECT_DOUBLE_EQ(c.classes[0].f1, 10.0 / 13.0);
  EXPECT_DOUBLE_EQ(c.micro.f1, 10.0 / 13.0);
  EXPECT_EQ(c.true_domains, 2);
  EXPECT_EQ(c.detected_domains, 3);
  EXPECT_EQ(c.matched_domains, 2);  // 5 -> 0 (2 of 3 ions), 7 -> 1; 9 is matrix
  EXPECT_EQ(c.matched_detected, 2);
  EXPECT_DOUBLE_EQ(c.true_mean_radius, 2.0);
  EXPECT_DOUBLE_EQ(c.detected_mean_radius, 2.0);
  EXPECT_DOUBLE_EQ(c.radius_error, 0.0);
  EXPECT_DOUBLE_EQ(c.matched_mean_radius, 1.5);
  EXPECT_DOUBLE_EQ(c.matched_radius_error, -0.25);
}

double json_num(const nlohmann::json& j) {
  return j.is_null() ? std::numeric_limits<double>::quiet_NaN() : j.get<double>();
}

void expect_same(double a, const nlohmann::json& b, const char* what) {
  if (b.is_null())
    EXPECT_TRUE(std::isnan(a)) << what << " = " << a << ", reference: undefined";
  else
    EXPECT_NEAR(a, b.get<double>(), 1e-12) << what;
}

}  // namespace

TEST(Truth, HandMadePair) {
  aptflow::test::TempDir dir;
  const auto r = (dir / "r.h5").string(), t = (dir / "t.h5").string();
  write_truth(t, hand_truth());
  write_result(r, hand_result());
  expect_hand_numbers(compare_with_truth(r, t));
}

TEST(Truth, ClassesAreMatchedByName) {
  aptflow::test::TempDir dir;
  const auto r = (dir / "r.h5").string(), t = (dir / "t.h5").string();
  write_truth(t, hand_truth());
  auto res = hand_result();
  res.names = {"L1_2", "FCC"};  // same labels, other model output order
  for (auto& c : res.cls)
    if (c == 1) c = 0;
  write_result(r, res);
  expect_hand_numbers(compare_with_truth(r, t));
  // A split true domain: two detected domains match true domain 1.
  res.dom = {-1, -1, 5, -1, 5, 5, -1, 7, 7, 8, 9, -1};
  res.ids = {5, 7, 8, 9};
  res.radius = {1.0, 2.0, 1.0, 3.0};
  write_result(r, res);
  const auto c = compare_with_truth(r, t);
  EXPECT_EQ(c.matched_domains, 2);
  EXPECT_EQ(c.matched_detected, 3);
  EXPECT_DOUBLE_EQ(c.matched_mean_radius, 4.0 / 3.0);
}

TEST(Truth, WriteAndReadBack) {
  aptflow::test::TempDir dir;
  const auto r = (dir / "r.h5").string(), t = (dir / "t.h5").string();
  write_truth(t, hand_truth());
  write_result(r, hand_result());
  const auto c = compare_with_truth(r, t);
  aptflow::write_truth_comparison(r, c);
  aptflow::write_truth_comparison(r, c);  // a second write replaces the group
  auto f = h5::File::open(r);
  EXPECT_EQ(h5::read_strings(f, "/entry1/truth/class_names"), std::vector<std::string>{"L1_2"});
  EXPECT_DOUBLE_EQ(h5::read<double>(f, "/entry1/truth/f1").at(0), 10.0 / 13.0);
  EXPECT_DOUBLE_EQ(h5::read<double>(f, "/entry1/truth/precision").at(0), 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(h5::read<double>(f, "/entry1/truth/recall").at(0), 5.0 / 6.0);
  EXPECT_EQ(h5::read<std::int64_t>(f, "/entry1/truth/true_domains"), std::vector<std::int64_t>{2});
  EXPECT_EQ(h5::read<std::int64_t>(f, "/entry1/truth/detected_domains"), std::vector<std::int64_t>{3});
  EXPECT_EQ(h5::read<std::int64_t>(f, "/entry1/truth/matched_domains"), std::vector<std::int64_t>{2});
  EXPECT_DOUBLE_EQ(h5::read<double>(f, "/entry1/truth/true_mean_radius").at(0), 2.0);
  EXPECT_DOUBLE_EQ(h5::read<double>(f, "/entry1/truth/detected_mean_radius").at(0), 2.0);
  EXPECT_DOUBLE_EQ(h5::read<double>(f, "/entry1/truth/radius_error").at(0), 0.0);
  auto g = h5::open_object(f, "/entry1/truth");
  EXPECT_EQ(h5::read_attr_string(g, "truth_file"), t);
}

TEST(Truth, ErrorsNameTheProblem) {
  aptflow::test::TempDir dir;
  const auto r = (dir / "r.h5").string(), t = (dir / "t.h5").string();
  write_truth(t, hand_truth());
  auto res = hand_result();
  res.cls.pop_back();
  res.dom.pop_back();
  write_result(r, res);
  try {
    (void)compare_with_truth(r, t);
    FAIL() << "ion count mismatch accepted";
  } catch (const aptflow::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("11 ions in the result but 12"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)compare_with_truth(t, t), aptflow::InputError);  // a truth file is no result
}

TEST(Truth, RandomFilesMatchNumpyReference) {
  if (aptflow::test::run_command(aptflow::test::python_exe() + " -c 'import numpy, h5py'").exit_code != 0)
    GTEST_SKIP() << aptflow::test::python_exe() << " lacks numpy/h5py";
  aptflow::test::TempDir dir;
  std::mt19937_64 rng(20261121);
  for (int round = 0; round < 3; ++round) {
    const int n = 4000, n_true = 25;
    TruthData t;
    t.names = {"FCC", "L1_2", "B2"};
    for (int d = 0; d < n_true; ++d) {
      t.dom_cls.push_back(1 + static_cast<int>(rng() % 2));
      for (int a = 0; a < 3; ++a) t.radii.push_back(0.5 + static_cast<double>(rng() % 1000) / 250.0);
    }
    ResultData r;
    r.names = round == 1 ? std::vector<std::string>{"B2", "FCC", "L1_2", "D0_3"}
                         : std::vector<std::string>{"FCC", "L1_2", "B2"};
    const int n_det = 40;
    for (int k = 0; k < n_det; ++k) {
      r.ids.push_back(3 * k + 1);
      r.radius.push_back(static_cast<double>(rng() % 1000) / 300.0);
    }
    for (int i = 0; i < n; ++i) {
      const std::int64_t d = rng() % 3 == 0 ? -1 : static_cast<std::int64_t>(rng() % n_true);
      t.dom.push_back(d);
      t.cls.push_back(d < 0 ? 0 : t.dom_cls[static_cast<std::size_t>(d)]);
      // detected domain: mostly follows the true one (so majorities occur), sometimes random
      const auto u = rng() % 10;
      std::int64_t rd = -1;
      if (u < 6 && d >= 0)
        rd = r.ids[static_cast<std::size_t>(d)];
      else if (u < 8)
        rd = r.ids[rng() % n_det];
      r.dom.push_back(rd);
      r.cls.push_back(static_cast<std::int32_t>(rng() % (r.names.size() + 1)) - 1);
    }
    const auto rp = (dir / "r.h5").string(), tp = (dir / "t.h5").string();
    write_truth(tp, t);
    write_result(rp, r);
    const auto c = compare_with_truth(rp, tp);
    const auto out = aptflow::test::run_command(
        aptflow::test::python_exe() + " " +
        (aptflow::test::source_dir() / "tests/python/truth_ref.py").string() + " " + rp + " " + tp);
    ASSERT_EQ(out.exit_code, 0) << out.output;
    const auto ref = nlohmann::json::parse(out.output);
    EXPECT_EQ(c.matrix_class, ref["matrix_class"].get<std::string>());
    ASSERT_EQ(c.classes.size(), ref["classes"].size());
    auto check = [&](const aptflow::ClassScore& s, const nlohmann::json& j) {
      EXPECT_EQ(s.true_positives, j["true_positives"].get<std::int64_t>()) << s.name;
      EXPECT_EQ(s.false_positives, j["false_positives"].get<std::int64_t>()) << s.name;
      EXPECT_EQ(s.false_negatives, j["false_negatives"].get<std::int64_t>()) << s.name;
      expect_same(s.precision, j["precision"], "precision");
      expect_same(s.recall, j["recall"], "recall");
      expect_same(s.f1, j["f1"], "f1");
    };
    for (std::size_t k = 0; k < c.classes.size(); ++k) {
      EXPECT_EQ(c.classes[k].name, ref["classes"][k]["name"].get<std::string>());
      check(c.classes[k], ref["classes"][k]);
    }
    check(c.micro, ref["micro"]);
    EXPECT_GT(c.micro.true_positives, 0);
    EXPECT_EQ(c.true_domains, ref["true_domains"].get<std::int64_t>());
    EXPECT_EQ(c.detected_domains, ref["detected_domains"].get<std::int64_t>());
    EXPECT_EQ(c.matched_domains, ref["matched_domains"].get<std::int64_t>());
    EXPECT_EQ(c.matched_detected, ref["matched_detected"].get<std::int64_t>());
    EXPECT_GT(c.matched_domains, 5);
    expect_same(c.true_mean_radius, ref["true_mean_radius"], "true_mean_radius");
    expect_same(c.detected_mean_radius, ref["detected_mean_radius"], "detected_mean_radius");
    expect_same(c.radius_error, ref["radius_error"], "radius_error");
    expect_same(c.matched_mean_radius, ref["matched_mean_radius"], "matched_mean_radius");
    expect_same(c.matched_radius_error, ref["matched_radius_error"], "matched_radius_error");
    // the JSON printer carries the same numbers
    const auto j = nlohmann::json::parse(aptflow::format_truth_json(c));
    EXPECT_EQ(j["matched_domains"].get<std::int64_t>(), c.matched_domains);
    expect_same(json_num(j["micro"]["f1"]), ref["micro"]["f1"], "json micro f1");
  }
}

TEST(Truth, CliVerb) {
  aptflow::test::TempDir dir;
  const auto r = (dir / "r.h5").string(), t = (dir / "t.h5").string();
  write_truth(t, hand_truth());
  write_result(r, hand_result());
  const auto out =
      aptflow::test::run_command(aptflow::test::aptflow_exe() + " truth " + r + " " + t + " --json --write");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  const auto j = nlohmann::json::parse(out.output);
  EXPECT_DOUBLE_EQ(j["classes"][0]["f1"].get<double>(), 10.0 / 13.0);
  EXPECT_EQ(j["matched_domains"].get<std::int64_t>(), 2);
  auto f = h5::File::open(r);
  EXPECT_DOUBLE_EQ(h5::read<double>(f, "/entry1/truth/f1").at(0), 10.0 / 13.0);
}
