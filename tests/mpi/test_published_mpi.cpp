// The published-rule options at np 1, 2, 4: classify with a fixed window box,
// a cylindrical region of interest, the published pair rule, double
// arithmetic, published clipping, the empty-window veto and the histogram
// overflow in the last bin gives the same bytes as a run on MPI_COMM_SELF,
// with -1 for the ions outside the region in input order; `cluster`
// (run_cluster) gives the same domains, histograms, statistics and output
// file on any rank count.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <random>

#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "aptflow/pipeline/cluster.hpp"
#include "aptflow/synth/specimen.hpp"
#include "classify_test_model.hpp"
#include "test_util.hpp"

namespace h5 = aptflow::h5;
namespace nn = aptflow::nn;

using aptflow::test::expect_same;
using aptflow::test::read_all;
using aptflow::test::small_model;

TEST(PublishedMpi, ClassifyWithEveryPublishedRuleHasTheSameBytesOnAnyRankCount) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  aptflow::test::TempDir dir;
  auto scfg =
      aptflow::Config::from_file((aptflow::test::source_dir() / "configs/synth/demo_specimen.toml").string());
  scfg.apply_overrides({"specimen.size=[7.0, 7.0, 9.0]", "domains.delta_prime.count=2", "name=\"pub\""});
  const auto files = aptflow::synth::write_specimen(MPI_COMM_WORLD, scfg, (dir / "spec").string());
  const std::string model = (dir / "m.h5").string();
  if (rank == 0) nn::save_model(small_model(5), model);
  MPI_Barrier(MPI_COMM_WORLD);
  auto cfg = aptflow::Config::from_string(
      "input = \"" + files.pos + "\"\nrange = \"" + files.rrng + "\"\nmodel = \"" + model +
      "\"\noutput = \"x.h5\"\npair = \"Al-Al\"\nprogress = false\n"
      "[windows]\nvariant = \"cocrni\"\nchunk = 97\nbox = [0.25, 0.5, 0.3, 6.75, 6.5, 8.8]\n"
      "[roi]\ncylinder = [3.5, 3.5, 3.0]\nz = [0.5, 8.5]\n"
      "[sdm]\nexclude = \"zero_dx_or_dz\"\narithmetic = \"float64\"\n"
      "[preprocess]\nmode = \"experimental\"\nbackground = \"published\"\n"
      "[segment]\nthresholds = [3.0, 3.0]\nempty_window = \"veto\"\n"
      "[domains.histogram]\nbins = 16\nhi = 80\noverflow = \"last_bin\"\n"
      "[control]\nshuffle_mq = 1\n");
  auto o = aptflow::parse_classify_config(cfg);
  o.output = (dir / "par.h5").string();
  const auto sum = aptflow::run_classify(MPI_COMM_WORLD, o);
  EXPECT_EQ(sum.input_ions, files.num_ions);
  EXPECT_LT(sum.ions, sum.input_ions);  // the cylinder holds part of the specimen
  EXPECT_GT(sum.ions, 0);
  if (rank != 0) return;
  o.output = (dir / "ser.h5").string();
  const auto ref = aptflow::run_classify(MPI_COMM_SELF, o);
  EXPECT_EQ(ref.ions, sum.ions);
  EXPECT_EQ(ref.domains, sum.domains);
  const std::string par = (dir / "par.h5").string(), ser = (dir / "ser.h5").string();
  expect_same<float>(par, ser, "/entry1/windows/probability");
  expect_same<float>(par, ser, "/entry1/subcells/sum");
  expect_same<std::int32_t>(par, ser, "/entry1/subcells/label");
  expect_same<std::int32_t>(par, ser, "/entry1/ions/class");
  expect_same<std::int64_t>(par, ser, "/entry1/ions/domain_id");
  expect_same<std::int64_t>(par, ser, "/entry1/domains/ions");
  expect_same<std::int64_t>(par, ser, "/entry1/control/size_histogram");
  expect_same<double>(par, ser, "/entry1/control/chi2_published");
  expect_same<double>(par, ser, "/entry1/control/contingency_published");
  // The fixed box: 12 x 11 x 16 windows from the published placement.
  auto f = h5::File::open(par);
  std::vector<hsize_t> shape;
  (void)h5::read<float>(f, "/entry1/windows/probability", &shape);
  EXPECT_EQ(shape, (std::vector<hsize_t>{16, 11, 12, 2}));
  // Ions outside the region: -1 in input order; some ions inside are labelled.
  const auto cloud = aptflow::io::read_dataset(files.pos);
  const auto cls = h5::read<std::int32_t>(f, "/entry1/ions/class");
  const auto dom = h5::read<std::int64_t>(f, "/entry1/ions/domain_id");
  ASSERT_EQ(static_cast<aptflow::IonIndex>(cls.size()), cloud.size());
  aptflow::Roi roi = o.roi;
  std::int64_t inside = 0, labelled = 0;
  for (aptflow::IonIndex i = 0; i < cloud.size(); ++i) {
    if (!roi.contains(cloud.x(i), cloud.y(i), cloud.z(i))) {
      EXPECT_EQ(cls[i], -1);
      EXPECT_EQ(dom[i], -1);
    } else {
      ++inside;
      labelled += cls[i] >= 0;
    }
  }
  EXPECT_EQ(inside, sum.ions);
  EXPECT_GT(labelled, 0) << "no ion labelled: the comparison would not mean much";
  EXPECT_EQ(h5::read<std::int64_t>(f, "/entry1/input/roi_ions").at(0), sum.ions);
}

TEST(PublishedMpi, ClusterHasTheSameDomainsAndFileOnAnyRankCount) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  aptflow::test::TempDir dir;
  // Dense blobs of ions plus uniform noise, in file order.
  const std::string real = (dir / "real.pos").string(), control = (dir / "control.pos").string();
  if (rank == 0) {
    for (int which = 0; which < 2; ++which) {
      std::mt19937 rng(70 + which);
      std::uniform_real_distribution<float> u(0.0f, 12.0f);
      std::normal_distribution<float> g(0.0f, 0.35f);
      std::vector<float> x, y, z;
      for (int b = 0; b < (which == 0 ? 30 : 8); ++b) {
        const float cx = u(rng), cy = u(rng), cz = u(rng);
        const int n = 5 + static_cast<int>(u(rng) * 20);
        for (int k = 0; k < n; ++k) {
          x.push_back(cx + g(rng));
          y.push_back(cy + g(rng));
          z.push_back(cz + g(rng));
        }
      }
      for (int k = 0; k < 2000; ++k) {
        x.push_back(u(rng));
        y.push_back(u(rng));
        z.push_back(u(rng));
      }
      aptflow::HostIonCloud c(static_cast<aptflow::IonIndex>(x.size()));
      for (std::size_t i = 0; i < x.size(); ++i) {
        c.x(i) = x[i];
        c.y(i) = y[i];
        c.z(i) = z[i];
        c.mq(i) = 27.0f;
      }
      aptflow::io::write_pos(which == 0 ? real : control, c);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  auto o = aptflow::ClusterOptions::published();
  o.input = real;
  o.control = control;
  o.out = (dir / "par.h5").string();
  const auto r = aptflow::run_cluster(MPI_COMM_WORLD, o);
  EXPECT_GT(r.real.domains.size(), 10u);
  if (rank != 0) return;
  o.out = (dir / "ser.h5").string();
  const auto s = aptflow::run_cluster(MPI_COMM_SELF, o);
  EXPECT_EQ(r.real.histogram.counts, s.real.histogram.counts);
  EXPECT_EQ(r.control->histogram.counts, s.control->histogram.counts);
  EXPECT_EQ(r.real.noise_ions, s.real.noise_ions);
  EXPECT_EQ(r.stats.chi2_published, s.stats.chi2_published);
  EXPECT_EQ(r.stats.contingency_published, s.stats.contingency_published);
  const std::string par = (dir / "par.h5").string(), ser = (dir / "ser.h5").string();
  expect_same<std::int64_t>(par, ser, "/entry1/ions/domain_id");
  expect_same<float>(par, ser, "/entry1/ions/position");
  expect_same<std::int64_t>(par, ser, "/entry1/control/domain_id");
  expect_same<double>(par, ser, "/entry1/domains/centroid");
  expect_same<double>(par, ser, "/entry1/domains/gyration");
  expect_same<std::int64_t>(par, ser, "/entry1/domains/size_histogram");
}
