// aptflow classify (run_classify) at np 1, 2, 4: every result dataset has the
// same bytes as a run on MPI_COMM_SELF, per-ion results are in input order,
// the probabilities, mean SDM rows, sub-cells, ion labels and domains equal
// those of the serial kernels applied to the whole cloud; a stopped run
// resumed (on this rank count and on one rank) gives the same bytes as an
// uninterrupted one; a checkpoint of another configuration is refused; the
// interpolate rule with composition evidence equals its serial kernels too.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/composition.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/segment.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/nn/predict.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "aptflow/sdm/preprocess.hpp"
#include "aptflow/synth/specimen.hpp"
#include "classify_test_model.hpp"
#include "test_util.hpp"

namespace h5 = aptflow::h5;
namespace nn = aptflow::nn;
using aptflow::test::read_all;

namespace {

nn::Model random_model(std::uint32_t seed, const std::vector<std::string>& pairs = {"Al-Al"}) {
  return aptflow::test::small_model(seed, pairs);
}

template <class T>
void expect_same_bytes(const std::string& a, const std::string& b, const std::string& path) {
  std::vector<hsize_t> sa, sb;
  const auto va = read_all<T>(a, path, &sa), vb = read_all<T>(b, path, &sb);
  EXPECT_EQ(sa, sb) << path;
  ASSERT_EQ(va.size(), vb.size()) << path;
  EXPECT_EQ(std::memcmp(va.data(), vb.data(), va.size() * sizeof(T)), 0) << path << " differs";
}

// Every dataset of the result layout except /entry1/profiling.
void expect_same_results(const std::string& a, const std::string& b) {
  expect_same_bytes<float>(a, b, "/entry1/windows/probability");
  expect_same_bytes<double>(a, b, "/entry1/windows/mean_sdm");
  expect_same_bytes<std::int64_t>(a, b, "/entry1/windows/mean_sdm_count");
  expect_same_bytes<double>(a, b, "/entry1/windows/sdm_bin_centres");
  expect_same_bytes<float>(a, b, "/entry1/subcells/sum");
  expect_same_bytes<std::int32_t>(a, b, "/entry1/subcells/label");
  expect_same_bytes<std::int32_t>(a, b, "/entry1/ions/class");
  expect_same_bytes<std::int64_t>(a, b, "/entry1/ions/domain_id");
  for (const char* p : {"/entry1/domains/id", "/entry1/domains/ions", "/entry1/domains/core_ions",
                        "/entry1/control/size_histogram", "/entry1/input/ions"})
    expect_same_bytes<std::int64_t>(a, b, p);
  expect_same_bytes<std::int32_t>(a, b, "/entry1/domains/class");
  for (const char* p : {"/entry1/domains/volume", "/entry1/domains/radius", "/entry1/domains/centroid",
                        "/entry1/domains/gyration", "/entry1/domains/radius_of_gyration",
                        "/entry1/input/bounds", "/entry1/input/ranges"})
    expect_same_bytes<double>(a, b, p);
  auto fa = h5::File::open(a), fb = h5::File::open(b);
  for (const char* p : {"/entry1/config", "/entry1/input/input_sha256", "/entry1/input/range_sha256",
                        "/entry1/input/model_sha256", "/entry1/input/ion_types"})
    EXPECT_EQ(h5::read_strings(fa, p), h5::read_strings(fb, p)) << p;
  if (h5::exists(fa, "/entry1/control/pearson_r")) {
    expect_same_bytes<std::int64_t>(a, b, "/entry1/control/domains");
    expect_same_bytes<std::int64_t>(a, b, "/entry1/control/shuffle_seed");
    for (const char* p : {"/entry1/control/pearson_r", "/entry1/control/chi2", "/entry1/control/contingency"})
      expect_same_bytes<double>(a, b, p);
  }
}

struct Fixture {
  aptflow::test::TempDir dir;
  aptflow::synth::SpecimenFiles files;
  aptflow::ClassifyOptions o;
  int rank = 0, nranks = 1;
  Fixture() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    auto scfg = aptflow::Config::from_file(
        (aptflow::test::source_dir() / "configs/synth/demo_specimen.toml").string());
    scfg.apply_overrides({"specimen.size=[7.0, 7.0, 9.0]", "domains.delta_prime.count=2", "name=\"cls\""});
    files = aptflow::synth::write_specimen(MPI_COMM_WORLD, scfg, (dir / "spec").string());
    const std::string m1 = (dir / "m1.h5").string(), m2 = (dir / "m2.h5").string();
    if (rank == 0) {
      nn::save_model(random_model(11), m1);
      nn::save_model(random_model(12), m2);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    o.input = files.pos;
    o.range = files.rrng;
    o.models = {m1, m2};
    o.pairs = {"Al-Al"};
    o.variant = aptflow::WindowVariant::cocrni;
    o.chunk = 97;  // several chunks per rank
    o.segment = aptflow::SegmentSpec::cocrni();
    o.segment.thresholds = {std::numeric_limits<double>::infinity(), 3.6};
    o.progress = false;
    o.config_text = "test = true\n";
  }
};

}  // namespace

TEST(ClassifyMpi, SameBytesOnAnyRankCountAndMatchesSerialKernels) {
  Fixture fx;
  const int rank = fx.rank;
  auto& dir = fx.dir;
  auto& files = fx.files;
  auto& o = fx.o;
  o.shuffle_mq = 2;
  o.output = (dir / "par.h5").string();
  const auto sum = aptflow::run_classify(MPI_COMM_WORLD, o);
  EXPECT_EQ(sum.ions, files.num_ions);
  if (rank == 0) {
    o.output = (dir / "ser.h5").string();
    const auto ref = aptflow::run_classify(MPI_COMM_SELF, o);
    EXPECT_EQ(ref.ions, sum.ions);
    EXPECT_EQ(ref.domains, sum.domains);
    EXPECT_EQ(ref.labelled_ions, sum.labelled_ions);
    EXPECT_EQ(ref.empty_windows, sum.empty_windows);
    const std::string par = (dir / "par.h5").string(), ser = (dir / "ser.h5").string();
    expect_same_results(par, ser);
    EXPECT_FALSE(std::filesystem::exists(par + ".tmp"));
    EXPECT_FALSE(std::filesystem::exists(aptflow::classify_checkpoint_path(par)));

    // Shapes and input order.
    std::vector<hsize_t> ps, cs;
    const auto prob = read_all<float>(par, "/entry1/windows/probability", &ps);
    const auto cls = read_all<std::int32_t>(par, "/entry1/ions/class", &cs);
    const auto dom = read_all<std::int64_t>(par, "/entry1/ions/domain_id");
    ASSERT_EQ(ps.size(), 4u);
    EXPECT_EQ(ps[3], 2u);
    EXPECT_EQ(static_cast<std::int64_t>(ps[0] * ps[1] * ps[2]), sum.windows);
    ASSERT_EQ(cs, std::vector<hsize_t>{static_cast<hsize_t>(files.num_ions)});
    ASSERT_EQ(dom.size(), cls.size());
    std::int64_t finite = 0;
    for (std::size_t w = 0; w < prob.size() / 2; ++w)
      if (!std::isnan(prob[2 * w])) {
        ++finite;
        EXPECT_NEAR(prob[2 * w] + prob[2 * w + 1], 1.0, 1e-5);
      }
    EXPECT_EQ(finite + sum.empty_windows, sum.windows);
    EXPECT_GT(finite, 0);

    // Independent serial path: the kernels on the whole cloud (file order)
    // with the written map give the written ion classes; DBSCAN on all
    // labelled ions gives the written domain ids.
    auto cloud = aptflow::io::read_dataset(files.pos);
    const auto table = aptflow::read_range_file(files.rrng);
    const Kokkos::DefaultHostExecutionSpace exec;
    aptflow::apply_ranges(exec, cloud, aptflow::make_device_range_table<Kokkos::HostSpace>(table));
    aptflow::WindowGrid grid = aptflow::WindowGrid::over(aptflow::cloud_bounds(exec, cloud), 1.0, 0.5);
    ASSERT_EQ(grid.counts[0], static_cast<std::int64_t>(ps[2]));
    ASSERT_EQ(grid.counts[2], static_cast<std::int64_t>(ps[0]));
    Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> map("map", grid.size(), 2);
    std::memcpy(map.data(), prob.data(), prob.size() * sizeof(float));
    const auto sg = aptflow::SubcellGrid::of(grid);
    Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> sums("sums", sg.cells(), 2);
    Kokkos::View<double*, Kokkos::HostSpace> thr("thr", 2);
    thr(0) = std::numeric_limits<double>::infinity();
    thr(1) = o.segment.thresholds[1];
    Kokkos::View<std::int32_t*, Kokkos::HostSpace> sl("sl", sg.cells()), il("il", cloud.size());
    aptflow::sum_subcell_probabilities(exec, grid, map, sums);
    aptflow::threshold_subcells(exec, sums, thr, sl);
    aptflow::label_ions(exec, sg, cloud, sums, sl, o.segment.ion_radius, il);
    // Sub-cells: float32 sums and labels of the whole grid.
    {
      std::vector<hsize_t> ss;
      const auto wsum = read_all<float>(par, "/entry1/subcells/sum", &ss);
      const auto wlab = read_all<std::int32_t>(par, "/entry1/subcells/label");
      ASSERT_EQ(ss,
                (std::vector<hsize_t>{static_cast<hsize_t>(sg.counts[2]), static_cast<hsize_t>(sg.counts[1]),
                                      static_cast<hsize_t>(sg.counts[0]), 2}));
      ASSERT_EQ(static_cast<std::int64_t>(wlab.size()), sg.cells());
      for (std::int64_t c = 0; c < sg.cells(); ++c) {
        ASSERT_EQ(wlab[c], sl(c)) << "sub-cell " << c;
        for (int k = 0; k < 2; ++k)
          ASSERT_EQ(wsum[2 * c + k], static_cast<float>(sums(c, k))) << "sub-cell " << c;
      }
    }
    // Probabilities and mean SDM rows from the whole cloud: window z-SDMs,
    // min-max rows, the ensemble, argmax, mean in double.
    {
      const int sa = table.species_of("Al");
      const auto spec = aptflow::SdmSpec::z();
      const auto wspec = aptflow::WindowSpec::cocrni(1.0);
      const auto cells = aptflow::build_sdm_cells(
          exec, cloud, aptflow::make_cell_grid(aptflow::cloud_bounds(exec, cloud), spec.r_cut), sa, sa);
      const std::int64_t W = grid.size(), B = spec.size();
      Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace> sdm("sdm", W, B);
      Kokkos::View<std::int64_t*, Kokkos::HostSpace> cc("cc", W);
      aptflow::compute_window_sdms(exec, cells, grid, wspec, spec, 0, W, sdm, cc);
      nn::Tensor x(nn::Shape{W, B, 1});
      for (std::int64_t w = 0; w < W; ++w)
        for (std::int64_t q = 0; q < B; ++q)
          x.data[w * B + q] =
              cc(w) > 0 ? static_cast<float>(sdm(w, q)) : std::numeric_limits<float>::quiet_NaN();
      aptflow::sdm::minmax_normalise(aptflow::sdm::CurveRows(x.data.data(), W, B));
      std::vector<nn::Model> models;
      for (const auto& m : o.models) models.push_back(nn::load_model(m));
      const auto pr = nn::predict_ensemble(models, x, 1000);
      ASSERT_EQ(pr.probabilities.size(), prob.size());
      for (std::size_t k = 0; k < prob.size(); ++k)
        if (std::isnan(prob[k]))
          ASSERT_TRUE(std::isnan(pr.probabilities[k])) << k;
        else
          ASSERT_EQ(prob[k], pr.probabilities[k]) << k;
      std::vector<double> mean(2 * B, 0.0);
      std::vector<std::int64_t> n(2, 0);
      for (std::int64_t w = 0; w < W; ++w) {
        if (std::isnan(pr.probabilities[2 * w])) continue;
        const int c = pr.probabilities[2 * w + 1] > pr.probabilities[2 * w] ? 1 : 0;
        ++n[c];
        for (std::int64_t q = 0; q < B; ++q) mean[c * B + q] += x.data[w * B + q];
      }
      std::vector<hsize_t> ms;
      const auto wmean = read_all<double>(par, "/entry1/windows/mean_sdm", &ms);
      ASSERT_EQ(ms, (std::vector<hsize_t>{2, static_cast<hsize_t>(B)}));
      EXPECT_EQ(read_all<std::int64_t>(par, "/entry1/windows/mean_sdm_count"), n);
      EXPECT_GT(n[0] + n[1], 0);
      for (int c = 0; c < 2; ++c)
        for (std::int64_t q = 0; q < B; ++q)
          EXPECT_NEAR(wmean[c * B + q], n[c] ? mean[c * B + q] / n[c] : 0.0, 1e-8) << c << " " << q;
      const auto centres = read_all<double>(par, "/entry1/windows/sdm_bin_centres");
      ASSERT_EQ(static_cast<std::int64_t>(centres.size()), B);
      EXPECT_NEAR(centres[0], -0.69 + 0.0075, 1e-12);
      EXPECT_NEAR(centres[B - 1] - centres[0], 0.015 * (B - 1), 1e-9);
    }
    std::int64_t labelled = 0;
    for (std::int64_t i = 0; i < cloud.size(); ++i) {
      ASSERT_EQ(cls[i], il(i)) << "ion " << i;
      labelled += il(i) >= 0;
    }
    EXPECT_EQ(labelled, sum.labelled_ions);
    const auto lab = aptflow::collect_labelled_ions(cloud, il);
    const auto ref_dom = aptflow::find_domains(lab, o.segment.domains);
    std::vector<std::int64_t> expect(cls.size(), -1);
    for (std::size_t k = 0; k < lab.size(); ++k) expect[lab.gid[k]] = ref_dom.domain[k];
    EXPECT_EQ(expect, dom);
    EXPECT_EQ(static_cast<std::int64_t>(ref_dom.domains.size()), sum.domains);
    // Domain sizes equal the per-ion counts.
    const auto dion = read_all<std::int64_t>(par, "/entry1/domains/ions");
    std::map<std::int64_t, std::int64_t> count;
    for (auto d : dom)
      if (d >= 0) ++count[d];
    for (std::size_t d = 0; d < dion.size(); ++d) EXPECT_EQ(dion[d], count[static_cast<std::int64_t>(d)]);
    // Control: row 0 is the real run's size histogram (32 bins of 5 ions over
    // 0-160); the statistics follow from the rows.
    {
      std::vector<hsize_t> hs;
      const auto hist = read_all<std::int64_t>(par, "/entry1/control/size_histogram", &hs);
      ASSERT_EQ(hs, (std::vector<hsize_t>{3, 32}));
      std::vector<std::int64_t> row0(32, 0);
      for (auto v : dion)
        if (v <= 160) ++row0[std::min<std::int64_t>(v / 5, 31)];
      EXPECT_EQ(std::vector<std::int64_t>(hist.begin(), hist.begin() + 32), row0);
      const auto pr = read_all<double>(par, "/entry1/control/pearson_r");
      const auto nd = read_all<std::int64_t>(par, "/entry1/control/domains");
      const auto seeds = read_all<std::int64_t>(par, "/entry1/control/shuffle_seed");
      ASSERT_EQ(pr.size(), 2u);
      EXPECT_EQ(seeds[1], seeds[0] + 1);
      ASSERT_EQ(sum.control.size(), 2u);
      for (int j = 0; j < 2; ++j) {
        EXPECT_EQ(nd[j], sum.control[j].domains);
        std::int64_t inrange = 0;
        for (int b = 0; b < 32; ++b) inrange += hist[(j + 1) * 32 + b];
        EXPECT_LE(inrange, nd[j]);
        double ma = 0, mb = 0;
        for (int b = 0; b < 32; ++b) ma += hist[b] / 32.0, mb += hist[(j + 1) * 32 + b] / 32.0;
        double sab = 0, saa = 0, sbb = 0;
        for (int b = 0; b < 32; ++b) {
          const double da = hist[b] - ma, db = hist[(j + 1) * 32 + b] - mb;
          sab += da * db, saa += da * da, sbb += db * db;
        }
        if (saa > 0 && sbb > 0) EXPECT_NEAR(pr[j], sab / std::sqrt(saa * sbb), 1e-9);
      }
    }
    std::printf("classify test: %lld ions, %lld windows (%lld empty), %lld labelled, %lld domains\n",
                static_cast<long long>(sum.ions), static_cast<long long>(sum.windows),
                static_cast<long long>(sum.empty_windows), static_cast<long long>(sum.labelled_ions),
                static_cast<long long>(sum.domains));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// The ion classes of a classify result with the interpolate rule and
// composition evidence (InterpolateRuleWithCompositionMatchesSerialKernels)
// against the serial kernels on the whole cloud, from its written window
// probabilities.
void check_interpolated_labels(const Fixture& fx, const aptflow::ClassifyOptions& o, const std::string& file,
                               std::int64_t labelled_ions) {
  SCOPED_TRACE(file);
  const auto& e = o.segment.composition;
  std::vector<hsize_t> ps;
  const auto prob = read_all<float>(file, "/entry1/windows/probability", &ps);
  const auto cls = read_all<std::int32_t>(file, "/entry1/ions/class");
  auto cloud = aptflow::io::read_dataset(fx.files.pos);
  const auto table = aptflow::read_range_file(fx.files.rrng);
  const Kokkos::DefaultHostExecutionSpace exec;
  aptflow::apply_ranges(exec, cloud, aptflow::make_device_range_table<Kokkos::HostSpace>(table));
  const auto grid = aptflow::WindowGrid::over(aptflow::cloud_bounds(exec, cloud), 1.0, 0.5);
  Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> map("map", grid.size(), 2);
  ASSERT_EQ(prob.size(), map.size());
  std::memcpy(map.data(), prob.data(), prob.size() * sizeof(float));
  const auto sg = aptflow::SubcellGrid::of(grid);
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> sums("sums", sg.cells(), 2),
      field("field", sg.cells(), 2);
  aptflow::sum_subcell_probabilities(exec, grid, map, sums);
  aptflow::smooth_subcell_sums(exec, sg, 0, sg.counts[2], sums, o.segment.smoothing, field);
  // Written sub-cell labels: the smoothed sums thresholded.
  Kokkos::View<double*, Kokkos::HostSpace> thr("thr", 2);
  thr(0) = o.segment.thresholds[0];
  thr(1) = o.segment.thresholds[1];
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> sl("sl", sg.cells()), il("il", cloud.size());
  aptflow::threshold_subcells(exec, field, thr, sl);
  const auto wlab = read_all<std::int32_t>(file, "/entry1/subcells/label");
  ASSERT_EQ(static_cast<std::int64_t>(wlab.size()), sg.cells());
  for (std::int64_t c = 0; c < sg.cells(); ++c) ASSERT_EQ(wlab[c], sl(c)) << "sub-cell " << c;
  // Evidence from the whole cloud.
  Kokkos::View<std::uint8_t*, Kokkos::HostSpace> solute("solute", table.ion_types.size() + 1);
  solute(table.species_of("Li")) = 1;
  solute(table.species_of("Mg")) = 1;
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> nr("nr", cloud.size()), ns("ns", cloud.size());
  aptflow::local_composition(exec, cloud, solute, e.radius, nr, ns);
  std::int64_t ranged = 0, sol = 0;
  for (std::int64_t i = 0; i < cloud.size(); ++i)
    if (cloud.species(i) != 0) ++ranged, sol += solute(cloud.species(i));
  ASSERT_GT(sol, 0);
  const double f = double(sol) / double(ranged);
  Kokkos::View<double*, Kokkos::HostSpace> ev("ev", cloud.size());
  for (std::int64_t i = 0; i < cloud.size(); ++i) {
    ev(i) = solute(cloud.species(i)) ? e.ion_weight : 0.0;
    if (nr(i) > 0) ev(i) += e.weight * (double(ns(i)) / double(nr(i)) - f);
  }
  ASSERT_EQ(aptflow::label_ions_interpolated(exec, sg, 0, sg.counts[2], cloud, field, thr, ev, 1, il), 0);
  std::int64_t labelled = 0;
  for (std::int64_t i = 0; i < cloud.size(); ++i) {
    ASSERT_EQ(cls[i], il(i)) << "ion " << i;
    labelled += il(i) >= 0;
  }
  EXPECT_EQ(labelled, labelled_ions);
  EXPECT_GT(labelled, 0);
  EXPECT_LT(labelled, cloud.size());
}

// segment.rule = "interpolate" with composition evidence: same bytes on any
// rank count (with a shuffled m/q control run), and the written ion classes
// equal the serial kernels on the whole cloud: sums of the written map,
// Gaussian smoothing, local composition, evidence, interpolated labels.
TEST(ClassifyMpi, InterpolateRuleWithCompositionMatchesSerialKernels) {
  Fixture fx;
  auto& o = fx.o;
  o.segment.rule = aptflow::IonRule::interpolate;
  o.segment.smoothing = 0.5;
  o.segment.thresholds = {std::numeric_limits<double>::infinity(), 3.0};
  auto& e = o.segment.composition;
  e.class_name = "L1_2";
  e.species = {"Li", "Mg"};
  e.radius = 0.9;
  e.weight = 8.0;
  e.ion_weight = 0.7;
  o.shuffle_mq = 1;
  const std::string par = (fx.dir / "ipar.h5").string(), ser = (fx.dir / "iser.h5").string(),
                    dev = (fx.dir / "idev.h5").string();
  o.output = par;
  const auto sum = aptflow::run_classify(MPI_COMM_WORLD, o);
  // The device path (sums, labels, local composition on the default execution space).
  o.output = dev;
  o.test_device_path = true;
  o.device = aptflow::have_gpu_backend() ? aptflow::DeviceChoice::gpu : aptflow::DeviceChoice::host;
  const auto dsum = aptflow::run_classify(MPI_COMM_WORLD, o);
  o.test_device_path = false;
  o.device = aptflow::DeviceChoice::host;
  if (fx.rank == 0) {
    o.output = ser;
    const auto ref = aptflow::run_classify(MPI_COMM_SELF, o);
    EXPECT_EQ(ref.labelled_ions, sum.labelled_ions);
    expect_same_results(par, ser);
    check_interpolated_labels(fx, o, par, sum.labelled_ions);
    check_interpolated_labels(fx, o, dev, dsum.labelled_ions);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// Several species pairs: one input channel per pair (channels last), each the
// pair's window z-SDM from the serial kernels, min-max normalised per row; a
// window with an empty channel is not classified; same bytes at any rank
// count; /entry1/windows/mean_sdm is (classes, pairs, bins).
TEST(ClassifyMpi, SeveralPairsAreChannelsOfTheSerialKernels) {
  Fixture fx;
  auto& o = fx.o;
  const std::vector<std::string> pairs = {"Al-Al", "Li-Li", "Al-Li"};
  const std::string m3 = (fx.dir / "m3.h5").string();
  if (fx.rank == 0) nn::save_model(random_model(13, pairs), m3);
  MPI_Barrier(MPI_COMM_WORLD);
  o.models = {m3};
  o.pairs = pairs;
  o.output = (fx.dir / "pairs_par.h5").string();
  aptflow::run_classify(MPI_COMM_WORLD, o);
  if (fx.rank == 0) {
    o.output = (fx.dir / "pairs_ser.h5").string();
    aptflow::run_classify(MPI_COMM_SELF, o);
    const std::string par = (fx.dir / "pairs_par.h5").string(), ser = o.output;
    expect_same_results(par, ser);
    const auto prob = read_all<float>(par, "/entry1/windows/probability");
    auto cloud = aptflow::io::read_dataset(fx.files.pos);
    const auto table = aptflow::read_range_file(fx.files.rrng);
    const Kokkos::DefaultHostExecutionSpace exec;
    aptflow::apply_ranges(exec, cloud, aptflow::make_device_range_table<Kokkos::HostSpace>(table));
    const auto grid = aptflow::WindowGrid::over(aptflow::cloud_bounds(exec, cloud), 1.0, 0.5);
    const auto spec = aptflow::SdmSpec::z();
    const auto wspec = aptflow::WindowSpec::cocrni(1.0);
    const std::int64_t W = grid.size(), B = spec.size(), C = 3;
    nn::Tensor x(nn::Shape{W, B, C});
    std::vector<std::vector<float>> chan(C);
    for (std::int64_t ch = 0; ch < C; ++ch) {
      const auto& pr = pairs[static_cast<std::size_t>(ch)];
      const auto dash = pr.find('-');
      const auto cells = aptflow::build_sdm_cells(
          exec, cloud, aptflow::make_cell_grid(aptflow::cloud_bounds(exec, cloud), spec.r_cut),
          table.species_of(pr.substr(0, dash)), table.species_of(pr.substr(dash + 1)));
      Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace> sdm("sdm", W, B);
      Kokkos::View<std::int64_t*, Kokkos::HostSpace> cc("cc", W);
      aptflow::compute_window_sdms(exec, cells, grid, wspec, spec, 0, W, sdm, cc);
      auto& v = chan[static_cast<std::size_t>(ch)];
      v.resize(static_cast<std::size_t>(W * B));
      for (std::int64_t w = 0; w < W; ++w)
        for (std::int64_t q = 0; q < B; ++q)
          v[w * B + q] = cc(w) > 0 ? static_cast<float>(sdm(w, q)) : std::numeric_limits<float>::quiet_NaN();
      aptflow::sdm::minmax_normalise(aptflow::sdm::CurveRows(v.data(), W, B));
    }
    std::int64_t partial = 0;  // windows with some but not all channels empty
    for (std::int64_t w = 0; w < W; ++w) {
      int nan = 0;
      for (std::int64_t ch = 0; ch < C; ++ch) nan += std::isnan(chan[ch][w * B]) ? 1 : 0;
      partial += nan > 0 && nan < C;
      for (std::int64_t q = 0; q < B; ++q)
        for (std::int64_t ch = 0; ch < C; ++ch)
          x.data[(w * B + q) * C + ch] = nan ? std::numeric_limits<float>::quiet_NaN() : chan[ch][w * B + q];
    }
    EXPECT_GT(partial, 0) << "the specimen should have windows without Li centres but with Al ones";
    std::vector<nn::Model> models;
    models.push_back(nn::load_model(m3));
    const auto pr = nn::predict_ensemble(models, x, 1000);
    ASSERT_EQ(pr.probabilities.size(), prob.size());
    std::int64_t finite = 0;
    for (std::size_t k = 0; k < prob.size(); ++k)
      if (std::isnan(pr.probabilities[k])) {
        ASSERT_TRUE(std::isnan(prob[k])) << k;
      } else {
        ASSERT_EQ(prob[k], pr.probabilities[k]) << k;
        ++finite;
      }
    EXPECT_GT(finite, 0);
    std::vector<double> mean(2 * C * B, 0.0);
    std::vector<std::int64_t> n(2, 0);
    for (std::int64_t w = 0; w < W; ++w) {
      if (std::isnan(pr.probabilities[2 * w])) continue;
      const int c = pr.probabilities[2 * w + 1] > pr.probabilities[2 * w] ? 1 : 0;
      ++n[c];
      for (std::int64_t ch = 0; ch < C; ++ch)
        for (std::int64_t q = 0; q < B; ++q) mean[(c * C + ch) * B + q] += chan[ch][w * B + q];
    }
    std::vector<hsize_t> ms;
    const auto wmean = read_all<double>(par, "/entry1/windows/mean_sdm", &ms);
    ASSERT_EQ(ms, (std::vector<hsize_t>{2, 3, static_cast<hsize_t>(B)}));
    EXPECT_EQ(read_all<std::int64_t>(par, "/entry1/windows/mean_sdm_count"), n);
    for (int c = 0; c < 2; ++c)
      for (std::int64_t k = 0; k < C * B; ++k)
        EXPECT_NEAR(wmean[c * C * B + k], n[c] ? mean[c * C * B + k] / n[c] : 0.0, 1e-8) << c << " " << k;
    // The model's pairs must be given in its order.
    o.pairs = {"Li-Li", "Al-Al", "Al-Li"};
    o.output = (fx.dir / "pairs_wrong.h5").string();
    EXPECT_THROW(aptflow::run_classify(MPI_COMM_SELF, o), aptflow::ConfigError);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// A stop request (the flag set before the start: every rank stops after its
// first round) writes a checkpoint and no output; --resume on this rank count
// and on one rank gives the bytes of an uninterrupted run; a checkpoint of
// another configuration or input is refused with ConfigError (key resume).
namespace {

// The settings of the stop-and-resume tests: chunks of 53 windows (several
// rounds) and a shipped model, whose GEMMs give bits that depend on the batch
// layout, which the fixed batches of classify keep independent of ranks and
// resume.
void resume_settings(aptflow::ClassifyOptions& o) {
  o.chunk = 53;
  o.models = {(aptflow::test::source_dir() / "models/alli_demo_1dcnn.h5").string()};
  o.segment.thresholds = {std::numeric_limits<double>::infinity(), 3.0};
}

}  // namespace

TEST(ClassifyMpi, StopAndResumeGiveTheUninterruptedBytes) {
  Fixture fx;
  auto& o = fx.o;
  resume_settings(o);
  o.output = (fx.dir / "ref.h5").string();
  const auto ref = aptflow::run_classify(MPI_COMM_WORLD, o);
  o.output = (fx.dir / "out.h5").string();
  const std::string ckpt = aptflow::classify_checkpoint_path(o.output);
  volatile std::sig_atomic_t stop = 1;
  o.stop = &stop;
  const auto s1 = aptflow::run_classify(MPI_COMM_WORLD, o);
  ASSERT_TRUE(s1.stopped);
  EXPECT_GT(s1.windows_computed, 0);
  EXPECT_LT(s1.windows_computed, ref.windows);
  EXPECT_LE(s1.windows_computed, o.chunk * fx.nranks);
  EXPECT_TRUE(std::filesystem::exists(ckpt));
  EXPECT_FALSE(std::filesystem::exists(o.output));
  // Stop again after one more round of the resumed run.
  o.resume = true;
  const auto s2 = aptflow::run_classify(MPI_COMM_WORLD, o);
  ASSERT_TRUE(s2.stopped);
  EXPECT_TRUE(s2.resumed);
  EXPECT_GT(s2.windows_computed, 0);
  // Another configuration, another input: refused, checkpoint kept.
  {
    auto bad = o;
    bad.config_text = "test = false\n";
    try {
      aptflow::run_classify(MPI_COMM_WORLD, bad);
      ADD_FAILURE() << "a checkpoint of another configuration was accepted";
    } catch (const aptflow::ConfigError& e) {  // on every rank (dist::collective_step keeps the type)
      EXPECT_EQ(e.key(), "resume");
      EXPECT_NE(std::string(e.what()).find("configuration changed"), std::string::npos) << e.what();
    }
    bad = o;
    bad.range = (fx.dir / "other.rrng").string();
    if (fx.rank == 0) {
      std::filesystem::copy_file(o.range, bad.range);
      std::FILE* f = std::fopen(bad.range.c_str(), "a");
      std::fputs("\n", f);
      std::fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    EXPECT_THROW(aptflow::run_classify(MPI_COMM_WORLD, bad), aptflow::ConfigError);
  }
  EXPECT_TRUE(std::filesystem::exists(ckpt));
  o.stop = nullptr;
  if (fx.rank == 0) std::filesystem::copy_file(ckpt, ckpt + ".copy");
  const auto s3 = aptflow::run_classify(MPI_COMM_WORLD, o);
  EXPECT_FALSE(s3.stopped);
  EXPECT_TRUE(s3.resumed);
  EXPECT_EQ(s1.windows_computed + s2.windows_computed + s3.windows_computed, ref.windows);
  EXPECT_EQ(s3.domains, ref.domains);
  EXPECT_FALSE(std::filesystem::exists(ckpt));
  MPI_Barrier(MPI_COMM_WORLD);  // every rank has looked before rank 0 puts the copy back
  if (fx.rank == 0) {
    expect_same_results(o.output, (fx.dir / "ref.h5").string());
    // The same checkpoint resumed on one rank.
    std::filesystem::rename(ckpt + ".copy", ckpt);
    auto one = o;
    one.output = o.output;
    std::filesystem::rename(o.output, (fx.dir / "np.h5").string());
    const auto s4 = aptflow::run_classify(MPI_COMM_SELF, one);
    EXPECT_TRUE(s4.resumed);
    EXPECT_EQ(s4.windows_computed, s3.windows_computed);
    expect_same_results(o.output, (fx.dir / "ref.h5").string());
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// The device path stopped after its first round and resumed (the mean SDM
// of the first run's windows comes back from the checkpoint, that of the
// rest from the device's class sums): the bytes of its uninterrupted run.
TEST(ClassifyMpi, DevicePathStopAndResumeGiveTheUninterruptedBytes) {
  Fixture fx;
  auto& o = fx.o;
  resume_settings(o);
  o.device = aptflow::have_gpu_backend() ? aptflow::DeviceChoice::gpu : aptflow::DeviceChoice::host;
  o.test_device_path = true;
  o.output = (fx.dir / "ref.h5").string();
  const auto ref = aptflow::run_classify(MPI_COMM_WORLD, o);
  o.output = (fx.dir / "out.h5").string();
  volatile std::sig_atomic_t stop = 1;
  o.stop = &stop;
  const auto s1 = aptflow::run_classify(MPI_COMM_WORLD, o);
  ASSERT_TRUE(s1.stopped);
  EXPECT_GT(s1.windows_computed, 0);
  o.stop = nullptr;
  o.resume = true;
  const auto s2 = aptflow::run_classify(MPI_COMM_WORLD, o);
  EXPECT_TRUE(s2.resumed);
  EXPECT_EQ(s1.windows_computed + s2.windows_computed, ref.windows);
  MPI_Barrier(MPI_COMM_WORLD);
  if (fx.rank == 0) expect_same_results(o.output, (fx.dir / "ref.h5").string());
  MPI_Barrier(MPI_COMM_WORLD);
}

// An error inside the window rounds (injected on the last rank in its second
// round) ends every rank with an exception naming it: no rank is left waiting
// in the round Allreduce, no output is written.
TEST(ClassifyMpi, ErrorInsideTheWindowRoundsReachesEveryRank) {
  Fixture fx;
  fx.o.test_fail_rank = fx.nranks - 1;
  fx.o.output = (fx.dir / "err.h5").string();
  try {
    aptflow::run_classify(MPI_COMM_WORLD, fx.o);
    ADD_FAILURE() << "no error";
  } catch (const aptflow::Error& e) {
    EXPECT_NE(std::string(e.what()).find("failure injected on rank " + std::to_string(fx.nranks - 1)),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(fx.o.output));
  EXPECT_FALSE(std::filesystem::exists(fx.o.output + ".tmp"));
  MPI_Barrier(MPI_COMM_WORLD);
}

// The device path (`--device gpu`: window counts and the CNN on
// Kokkos::DefaultExecutionSpace with the device algorithms; here a host
// space) against the host path on every rank count, three pairs: the same
// empty windows and probabilities within 1e-5; the device path's own result
// has the same bytes on any rank count; ion labels equal wherever no
// sub-cell sum lies within 1e-4 of the threshold; the profiling records it.
TEST(ClassifyMpi, DevicePathGivesTheHostResults) {
  Fixture fx;
  auto& o = fx.o;
  const std::vector<std::string> pairs = {"Al-Al", "Li-Li", "Al-Li"};
  const std::string m3 = (fx.dir / "m3d.h5").string(), m4 = (fx.dir / "m4d.h5").string();
  if (fx.rank == 0) {
    nn::save_model(random_model(21, pairs), m3);
    nn::save_model(random_model(22, pairs), m4);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  o.models = {m3, m4};
  o.pairs = pairs;
  o.output = (fx.dir / "host.h5").string();
  o.device = aptflow::DeviceChoice::host;
  const auto host = aptflow::run_classify(MPI_COMM_WORLD, o);
  o.device = aptflow::have_gpu_backend() ? aptflow::DeviceChoice::gpu : aptflow::DeviceChoice::host;
  o.test_device_path = true;
  o.output = (fx.dir / "device.h5").string();
  const auto dev = aptflow::run_classify(MPI_COMM_WORLD, o);
  EXPECT_EQ(dev.empty_windows, host.empty_windows);
  if (fx.rank == 0) {
    const std::string h = (fx.dir / "host.h5").string(), d = (fx.dir / "device.h5").string();
    o.output = (fx.dir / "device_ser.h5").string();
    aptflow::run_classify(MPI_COMM_SELF, o);
    expect_same_results(d, o.output);
    const auto ph = read_all<float>(h, "/entry1/windows/probability");
    const auto pd = read_all<float>(d, "/entry1/windows/probability");
    ASSERT_EQ(ph.size(), pd.size());
    std::int64_t finite = 0;
    for (std::size_t i = 0; i < ph.size(); ++i) {
      ASSERT_EQ(std::isnan(ph[i]), std::isnan(pd[i])) << i;
      if (std::isnan(ph[i])) continue;
      ++finite;
      EXPECT_NEAR(ph[i], pd[i], 1e-5) << i;
    }
    EXPECT_GT(finite, 100);
    // The mean SDM per argmax class (summed on the device in the device
    // path): the same bytes wherever every window has the same argmax.
    const std::size_t K = read_all<std::int64_t>(h, "/entry1/windows/mean_sdm_count").size();
    bool same_classes = true;
    for (std::size_t w = 0; w + K <= ph.size() && same_classes; w += K)
      if (!std::isnan(ph[w]))
        same_classes = std::max_element(ph.begin() + w, ph.begin() + w + K) - ph.begin() ==
                       std::max_element(pd.begin() + w, pd.begin() + w + K) - pd.begin();
    if (same_classes) {
      EXPECT_EQ(read_all<double>(h, "/entry1/windows/mean_sdm"),
                read_all<double>(d, "/entry1/windows/mean_sdm"));
      EXPECT_EQ(read_all<std::int64_t>(h, "/entry1/windows/mean_sdm_count"),
                read_all<std::int64_t>(d, "/entry1/windows/mean_sdm_count"));
    } else {
      std::printf("DevicePathGivesTheHostResults: a window's argmax differs: mean SDMs not compared\n");
    }
    const auto sh = read_all<float>(h, "/entry1/subcells/sum");
    const auto sd = read_all<float>(d, "/entry1/subcells/sum");
    ASSERT_EQ(sh.size(), sd.size());
    bool near = false;
    for (std::size_t i = 0; i < sh.size(); ++i) {
      EXPECT_NEAR(sh[i], sd[i], 1e-4) << i;
      near = near || std::abs(double(sh[i]) - o.segment.thresholds[1]) < 1e-4;
    }
    if (!near) {
      EXPECT_EQ(read_all<std::int32_t>(h, "/entry1/ions/class"),
                read_all<std::int32_t>(d, "/entry1/ions/class"));
      EXPECT_EQ(read_all<std::int64_t>(h, "/entry1/domains/ions"),
                read_all<std::int64_t>(d, "/entry1/domains/ions"));
    } else {
      std::printf(
          "DevicePathGivesTheHostResults: a sub-cell sum lies within 1e-4 of the threshold: labels not "
          "compared\n");
    }
    auto fh = h5::File::open(h), fd = h5::File::open(d);
    auto gh = h5::open_object(fh, "/entry1/profiling"), gd = h5::open_object(fd, "/entry1/profiling");
    EXPECT_EQ(h5::read_attr_string(gh, "device"), "host");
    EXPECT_EQ(h5::read_attr_string(gd, "device"),
              aptflow::have_gpu_backend() ? "gpu" : "default execution space");
    EXPECT_EQ(h5::read_attr_string(gd, "execution_space"), Kokkos::DefaultExecutionSpace::name());
    EXPECT_EQ(h5::read_attr_string(gh, "device_requested"), "host");
  }
}
