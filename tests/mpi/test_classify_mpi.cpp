// aptflow classify (run_classify) at np 1, 2, 4: every result dataset has the
// same bytes as a run on MPI_COMM_SELF, per-ion results are in input order, and
// the ion labels and domains equal those of the serial kernels applied to the
// whole cloud with the written probability map.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <map>
#include <random>

#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/segment.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "aptflow/synth/specimen.hpp"
#include "test_util.hpp"

namespace h5 = aptflow::h5;
namespace nn = aptflow::nn;

namespace {

nn::Model random_model(std::uint32_t seed) {
  nn::Model m({93, 1});
  m.add(std::make_unique<nn::Conv>(
      "c", nn::ConvSpec{1, 4, {5}, {1}, nn::Padding::valid, nn::Activation::relu, true}));
  m.add(std::make_unique<nn::MaxPool>("p", nn::PoolSpec{1, {4}, {}, nn::Padding::valid}));
  m.add(std::make_unique<nn::Flatten>("f"));
  m.add(std::make_unique<nn::Dense>("d", 2, nn::Activation::softmax));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (auto* p : m.parameters())
    for (auto& v : p->value) v = u(rng);
  m.class_names = {"FCC", "L1_2"};
  m.features.kind = "z";
  m.features.pairs = {"Al-Al"};
  m.features.bins = {93};
  m.features.preprocessing = "minmax_only";
  m.features.variant = "cocrni";
  return m;
}

template <class T>
std::vector<T> read_all(const std::string& file, const std::string& path,
                        std::vector<hsize_t>* shape = nullptr) {
  auto f = h5::File::open(file);
  return h5::read<T>(f, path, shape);
}

template <class T>
void expect_same_bytes(const std::string& a, const std::string& b, const std::string& path) {
  std::vector<hsize_t> sa, sb;
  const auto va = read_all<T>(a, path, &sa), vb = read_all<T>(b, path, &sb);
  EXPECT_EQ(sa, sb) << path;
  ASSERT_EQ(va.size(), vb.size()) << path;
  EXPECT_EQ(std::memcmp(va.data(), vb.data(), va.size() * sizeof(T)), 0) << path << " differs";
}

}  // namespace

TEST(ClassifyMpi, SameBytesOnAnyRankCountAndMatchesSerialKernels) {
  int rank = 0, nranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  aptflow::test::TempDir dir;
  auto scfg =
      aptflow::Config::from_file((aptflow::test::source_dir() / "configs/synth/demo_specimen.toml").string());
  scfg.apply_overrides({"specimen.size=[7.0, 7.0, 9.0]", "domains.delta_prime.count=2", "name=\"cls\""});
  const auto files = aptflow::synth::write_specimen(MPI_COMM_WORLD, scfg, (dir / "spec").string());
  const std::string m1 = (dir / "m1.h5").string(), m2 = (dir / "m2.h5").string();
  if (rank == 0) {
    nn::save_model(random_model(11), m1);
    nn::save_model(random_model(12), m2);
  }
  MPI_Barrier(MPI_COMM_WORLD);

  aptflow::ClassifyOptions o;
  o.input = files.pos;
  o.range = files.rrng;
  o.models = {m1, m2};
  o.pair = "Al-Al";
  o.variant = aptflow::WindowVariant::cocrni;
  o.chunk = 97;  // several chunks per rank
  o.segment = aptflow::SegmentSpec::cocrni();
  o.segment.thresholds = {std::numeric_limits<double>::infinity(), 3.6};
  o.progress = false;
  o.config_text = "test = true\n";
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
    expect_same_bytes<float>(par, ser, "/entry1/windows/probability");
    expect_same_bytes<std::int32_t>(par, ser, "/entry1/ions/class");
    expect_same_bytes<std::int64_t>(par, ser, "/entry1/ions/domain_id");
    for (const char* p : {"/entry1/domains/id", "/entry1/domains/ions", "/entry1/domains/core_ions"})
      expect_same_bytes<std::int64_t>(par, ser, p);
    expect_same_bytes<std::int32_t>(par, ser, "/entry1/domains/class");
    for (const char* p : {"/entry1/domains/volume", "/entry1/domains/radius", "/entry1/domains/centroid",
                          "/entry1/domains/gyration", "/entry1/domains/radius_of_gyration"})
      expect_same_bytes<double>(par, ser, p);

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
    std::printf("classify test: %lld ions, %lld windows (%lld empty), %lld labelled, %lld domains\n",
                static_cast<long long>(sum.ions), static_cast<long long>(sum.windows),
                static_cast<long long>(sum.empty_windows), static_cast<long long>(sum.labelled_ions),
                static_cast<long long>(sum.domains));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}
