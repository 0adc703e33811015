#include <gtest/gtest.h>
#include <mpi.h>

#include "aptflow/io/h5.hpp"
#include "test_util.hpp"

namespace h5 = aptflow::h5;

// Every rank writes its own rows collectively; the file must equal the
// serially computed whole, whatever the number of ranks.
TEST(H5Mpi, CollectiveRowWriteIsRankIndependent) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  aptflow::test::TempDir dir;
  auto path = (dir / "rows.h5").string();
  const hsize_t rows = 37, cols = 3;
  const hsize_t begin = rows * rank / size, end = rows * (rank + 1) / size;
  std::vector<double> mine;
  for (hsize_t r = begin; r < end; ++r)
    for (hsize_t c = 0; c < cols; ++c) mine.push_back(r * 10.0 + c);
  {
    auto f = h5::File::create(path, MPI_COMM_WORLD);
    h5::create_dataset<double>(f, "/x/data", {rows, cols});
    h5::write_rows(f, "/x/data", begin, end - begin, mine.data());
    h5::write_strings(f, "/x/names", {"a", "b"});
  }
  MPI_Barrier(MPI_COMM_WORLD);
  auto f = h5::File::open(path);
  auto all = h5::read<double>(f, "/x/data");
  ASSERT_EQ(all.size(), rows * cols);
  for (hsize_t r = 0; r < rows; ++r)
    for (hsize_t c = 0; c < cols; ++c) EXPECT_EQ(all[r * cols + c], r * 10.0 + c);
  EXPECT_EQ(h5::read_strings(f, "/x/names"), (std::vector<std::string>{"a", "b"}));
}
