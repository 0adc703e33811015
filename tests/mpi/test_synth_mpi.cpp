// write_specimen on 1, 2, 4 ranks: the POS, RRNG and ground-truth bytes equal
// those of a serial generation, and the POS decodes to the generator's ions.
#include <gtest/gtest.h>
#include <mpi.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "aptflow/io/h5.hpp"
#include "aptflow/synth/specimen.hpp"
#include "test_util.hpp"

using namespace aptflow::synth;
namespace h5 = aptflow::h5;

namespace {

// The shipped config in the source tree (test::source_dir(): compiled in,
// not taken from __FILE__, which compiler caches may make relative).
std::string shipped_config_path() {
  return (aptflow::test::source_dir() / "configs/synth/specimen_alli_l12.toml").string();
}

aptflow::Config mpi_config() {
  return aptflow::Config::from_string(R"(
seed = 4242
name = "mpi"
[specimen]
size = [6.0, 5.0, 9.0]
slab_thickness = 0.45
[orientation]
pole = [1, 0, 1]
[matrix]
structure = "A1"
class = "FCC"
a = 0.405
species = { A = { Al = 0.9, Li = 0.08, Mg = 0.02 } }
[domains.dp]
structure = "L1_2"
class = "L1_2"
radius = { distribution = "normal", mean = 1.3, sd = 0.2, min = 0.8, max = 1.6 }
count = 4
species = { A = { Al = 1.0 }, B = { Li = 0.8, Mg = 0.2 } }
[artefacts]
sigma_xy = 0.4
sigma_z = 0.04
efficiency = 0.45
[ions]
mass = { Al = 27.0, Li = 7.0, Mg = 24.0 }
peak_sigma = 0.05
)");
}

std::uint64_t fnv1a(const std::string& bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ULL;
  return h;
}

float be_float(const char* p) {
  std::uint32_t u;
  std::memcpy(&u, p, 4);
  if constexpr (std::endian::native == std::endian::little) u = __builtin_bswap32(u);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

TEST(SynthMpi, WriteSpecimenIsRankIndependent) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  aptflow::test::TempDir dir;
  const SpecimenGenerator gen(mpi_config());
  ASSERT_EQ(gen.num_slabs(), 20);
  // Small chunks: several write rounds, a different number on each rank.
  const auto par = write_specimen(MPI_COMM_WORLD, gen, (dir / "par").string(), 1500);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    const auto ser = write_specimen(MPI_COMM_SELF, gen, (dir / "ser").string());
    EXPECT_EQ(par.num_ions, ser.num_ions);
    EXPECT_EQ(par.num_domains, 4);
    const auto pos_par = aptflow::test::read_text(par.pos), pos_ser = aptflow::test::read_text(ser.pos);
    EXPECT_EQ(pos_par.size(), static_cast<std::size_t>(par.num_ions) * 16);
    EXPECT_EQ(fnv1a(pos_par), fnv1a(pos_ser)) << "POS differs between " << size << " ranks and 1";
    EXPECT_EQ(pos_par, pos_ser);
    EXPECT_EQ(fnv1a(aptflow::test::read_text(par.rrng)), fnv1a(aptflow::test::read_text(ser.rrng)));
    // Truth: the same bytes (datasets carry no timestamps), and every dataset and attribute equal.
    EXPECT_EQ(fnv1a(aptflow::test::read_text(par.truth)), fnv1a(aptflow::test::read_text(ser.truth)))
        << "truth file differs between " << size << " ranks and 1";
    auto fp = h5::File::open(par.truth), fs = h5::File::open(ser.truth);
    EXPECT_EQ(h5::read<std::int64_t>(fp, "/ions/domain_id"), h5::read<std::int64_t>(fs, "/ions/domain_id"));
    EXPECT_EQ(h5::read<std::int32_t>(fp, "/ions/class"), h5::read<std::int32_t>(fs, "/ions/class"));
    std::vector<hsize_t> shape;
    EXPECT_EQ(h5::read<double>(fp, "/domains/centre", &shape), h5::read<double>(fs, "/domains/centre"));
    EXPECT_EQ(shape, (std::vector<hsize_t>{4, 3}));
    EXPECT_EQ(h5::read<double>(fp, "/domains/radii"), h5::read<double>(fs, "/domains/radii"));
    EXPECT_EQ(h5::read<std::int32_t>(fp, "/domains/class"), (std::vector<std::int32_t>{1, 1, 1, 1}));
    EXPECT_EQ(h5::read_attr_strings(fp.id(), "class_names"), (std::vector<std::string>{"FCC", "L1_2"}));
    EXPECT_EQ(h5::read_attr_strings(fp.id(), "species"), (std::vector<std::string>{"Al", "Li", "Mg"}));
    EXPECT_EQ(h5::read_attr_int(fp.id(), "seed"), 4242);
    EXPECT_EQ(h5::read_attr_int(fp.id(), "num_ions"), par.num_ions);
    EXPECT_EQ(h5::read_attr_string(fp.id(), "config"), h5::read_attr_string(fs.id(), "config"));
    EXPECT_NE(h5::read_attr_string(fp.id(), "config").find("4242"), std::string::npos);

    // The POS decodes to the generator's ions, the truth to its labels.
    const auto all = gen.generate_slab(0, gen.num_slabs());
    ASSERT_EQ(all.ions.size(), par.num_ions);
    const auto dom = h5::read<std::int64_t>(fp, "/ions/domain_id");
    const auto cls = h5::read<std::int32_t>(fp, "/ions/class");
    std::int64_t in_domains = 0;
    for (aptflow::IonIndex i = 0; i < all.ions.size(); ++i) {
      const char* p = pos_par.data() + 16 * i;
      ASSERT_EQ(be_float(p), all.ions.x(i));
      ASSERT_EQ(be_float(p + 4), all.ions.y(i));
      ASSERT_EQ(be_float(p + 8), all.ions.z(i));
      ASSERT_EQ(be_float(p + 12), all.ions.mq(i));
      ASSERT_EQ(dom[i], all.domain_id[i]);
      ASSERT_EQ(cls[i], all.class_id[i]);
      in_domains += dom[i] >= 0;
    }
    EXPECT_GT(in_domains, 100);
    const auto rrng = aptflow::test::read_text(par.rrng);
    EXPECT_NE(rrng.find("Ion1=Al\n"), std::string::npos) << rrng;
    EXPECT_NE(rrng.find("Range2=23.7 24.3 Vol:"), std::string::npos) << rrng;
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(SynthMpi, WriteSpecimenFromShippedConfig) {
  aptflow::test::TempDir dir;
  auto cfg = aptflow::Config::from_file(shipped_config_path());
  cfg.apply_overrides({"specimen.size=[10.0, 10.0, 14.0]", "name=\"tiny\""});
  const auto files = write_specimen(MPI_COMM_WORLD, cfg, (dir / "out").string());
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    EXPECT_EQ(std::filesystem::file_size(files.pos), static_cast<std::uintmax_t>(files.num_ions) * 16);
    EXPECT_EQ(files.num_domains, 2);  // llround(1.5e-3 * 1400)
    auto f = h5::File::open(files.truth);
    EXPECT_EQ(h5::dims(f, "/ions/class"), (std::vector<hsize_t>{static_cast<hsize_t>(files.num_ions)}));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}
