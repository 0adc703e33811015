#include <gtest/gtest.h>

#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"
#include "test_util.hpp"

namespace h5 = aptflow::h5;

TEST(H5, RoundTripDatasetsStringsAttributes) {
  aptflow::test::TempDir dir;
  auto path = (dir / "t.h5").string();
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-5, 5);
  std::vector<float> a(6 * 7);
  for (auto& v : a) v = u(rng);
  std::vector<std::int64_t> b = {-1, 5, 1LL << 40};
  {
    auto f = h5::File::create(path);
    h5::write(f, "/g/a", a, {6, 7});
    h5::write(f, "/b", b);
    h5::write_strings(f, "/names", {"Al", "Li", "Mg"});
    auto g = h5::ensure_group(f, "/g");
    h5::write_attr(g, "class_names", std::vector<std::string>{"FCC", "L1_2"});
    h5::write_attr(g, "edge", 0.5);
    h5::write_attr(g, "n", std::int64_t{42});
  }
  auto f = h5::File::open(path);
  std::vector<hsize_t> shape;
  EXPECT_EQ(h5::read<float>(f, "/g/a", &shape), a);
  EXPECT_EQ(shape, (std::vector<hsize_t>{6, 7}));
  EXPECT_EQ(h5::read<std::int64_t>(f, "/b"), b);
  EXPECT_EQ(h5::read_strings(f, "/names"), (std::vector<std::string>{"Al", "Li", "Mg"}));
  auto g = h5::open_object(f, "/g");
  EXPECT_EQ(h5::read_attr_strings(g, "class_names"), (std::vector<std::string>{"FCC", "L1_2"}));
  EXPECT_DOUBLE_EQ(h5::read_attr_double(g, "edge"), 0.5);
  EXPECT_EQ(h5::read_attr_int(g, "n"), 42);
  std::vector<float> rows(2 * 7);
  h5::read_rows(f, "/g/a", 3, 2, rows.data());
  EXPECT_EQ(rows, std::vector<float>(a.begin() + 21, a.begin() + 35));
}

TEST(H5, ErrorsNameFileAndPath) {
  aptflow::test::TempDir dir;
  auto path = (dir / "t.h5").string();
  { auto f = h5::File::create(path); }
  auto f = h5::File::open(path);
  try {
    h5::read<float>(f, "/missing");
    FAIL();
  } catch (const aptflow::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/missing"), std::string::npos);
    EXPECT_EQ(e.file(), path);
  }
  EXPECT_THROW(h5::File::open((dir / "nope.h5").string()), aptflow::InputError);
  EXPECT_FALSE(h5::is_hdf5((dir / "nope.h5").string()));
}

TEST(H5, EmptyDatasetsAndZeroRowWrites) {
  aptflow::test::TempDir dir;
  auto path = (dir / "e.h5").string();
  {
    auto f = h5::File::create(path);
    h5::create_dataset<double>(f, "/d/centre", {0, 3});
    std::vector<double> none;
    h5::write_rows(f, "/d/centre", 0, 0, none.data());
    h5::write(f, "/d/empty", std::vector<float>{});
  }
  auto f = h5::File::open(path);
  EXPECT_EQ(h5::dims(f, "/d/centre"), (std::vector<hsize_t>{0, 3}));
  EXPECT_TRUE(h5::read<float>(f, "/d/empty").empty());
}

TEST(H5, ReadsStringsOfEitherCharacterSet) {
  // h5py writes variable-length strings from Python bytes as ASCII, from str as UTF-8.
  aptflow::test::TempDir dir;
  const std::string path = (dir / "py.h5").string();
  const auto r = aptflow::test::run_command(
      aptflow::test::python_exe() + " -c \"import h5py, sys; f = h5py.File(sys.argv[1], 'w'); " +
      "f.create_dataset('ascii', data=[b'ok', b'', b'failed: truncated'], "
      "dtype=h5py.string_dtype('ascii')); " +
      "f['fixed'] = [b'ok', b'failed']; " +
      "f.create_dataset('utf8', data=['Al-Li', 'Fe\\u2013Al'], dtype=h5py.string_dtype('utf-8'))\" " + path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto f = h5::File::open(path);
  EXPECT_EQ(h5::read_strings(f, "/ascii"), (std::vector<std::string>{"ok", "", "failed: truncated"}));
  EXPECT_EQ(h5::read_strings(f, "/fixed"), (std::vector<std::string>{"ok", "failed"}));
  EXPECT_EQ(h5::read_strings(f, "/utf8"), (std::vector<std::string>{"Al-Li", "Fe\u2013Al"}));
}
