// MPI point-cloud I/O (np 1, 2, 4): ranks read disjoint ion ranges whose
// concatenation equals the serial read; collective writes by all ranks equal
// the serial write byte for byte; errors reach every rank.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "test_util.hpp"

namespace io = aptflow::io;
using aptflow::HostIonCloud;
using aptflow::IonIndex;

namespace {

// Ion i's values depend only on (seed, i): any rank can make any block.
HostIonCloud block(IonIndex first, IonIndex n, unsigned seed) {
  HostIonCloud c(n);
  c.allocate_extras();
  for (IonIndex k = 0; k < n; ++k) {
    std::mt19937 rng(seed * 1000003u + static_cast<unsigned>(first + k));
    std::uniform_real_distribution<float> u(-30.f, 30.f), m(1.f, 90.f);
    c.x(k) = u(rng), c.y(k) = u(rng), c.z(k) = u(rng), c.mq(k) = m(rng);
    c.species(k) = static_cast<aptflow::Species>(rng() % 5);
    c.extras.tof(k) = m(rng), c.extras.v_dc(k) = m(rng), c.extras.v_pulse(k) = m(rng);
    c.extras.x_det(k) = u(rng), c.extras.y_det(k) = u(rng);
    c.extras.pulses_since_last(k) = static_cast<std::uint32_t>(rng());
    c.extras.multiplicity(k) = static_cast<std::uint32_t>(rng() % 4);
  }
  return c;
}

// Gather the x, mq, species and tof of every rank's cloud on all ranks, in rank order.
template <class T>
std::vector<T> allgather(const Kokkos::View<T*, Kokkos::HostSpace>& v) {
  const int p = aptflow::test::world_size();
  int n = static_cast<int>(v.extent(0)) * static_cast<int>(sizeof(T));
  std::vector<int> counts(p), displs(p);
  MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < p; ++r) displs[r] = total, total += counts[r];
  std::vector<T> out(static_cast<std::size_t>(total) / sizeof(T));
  MPI_Allgatherv(v.data(), n, MPI_BYTE, out.data(), counts.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD);
  return out;
}

template <class T>
bool same(const std::vector<T>& a, const Kokkos::View<T*, Kokkos::HostSpace>& b) {
  return a.size() == b.extent(0) && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

}  // namespace

TEST(IoMpi, DisjointRangesConcatenateToSerialRead) {
  aptflow::test::TempDir dir;
  const IonIndex n = 1003;
  const auto whole = block(0, n, 1);
  for (auto f : {io::Format::pos, io::Format::epos, io::Format::apt, io::Format::h5}) {
    const auto path = (dir / ("c." + std::string(io::format_name(f)))).string();
    if (aptflow::test::world_rank() == 0) io::write_dataset(path, f, whole);
    MPI_Barrier(MPI_COMM_WORLD);
    const auto serial = io::read_dataset(path);
    io::ReadOptions o;
    o.chunk_ions = 100;
    IonIndex first = -1;
    io::ReadStats st;
    auto mine = io::read_dataset_mpi(MPI_COMM_WORLD, path, o, &st, &first);
    const int r = aptflow::test::world_rank(), p = aptflow::test::world_size();
    EXPECT_EQ(first, n * r / p);
    EXPECT_EQ(mine.size(), n * (r + 1) / p - n * r / p);
    EXPECT_EQ(st.nonfinite, 0);
    EXPECT_TRUE(same(allgather(mine.x), serial.x)) << io::format_name(f);
    EXPECT_TRUE(same(allgather(mine.z), serial.z)) << io::format_name(f);
    EXPECT_TRUE(same(allgather(mine.mq), serial.mq)) << io::format_name(f);
    EXPECT_TRUE(same(allgather(mine.species), serial.species)) << io::format_name(f);
    if (f != io::Format::pos)
      EXPECT_TRUE(same(allgather(mine.extras.multiplicity), serial.extras.multiplicity))
          << io::format_name(f);
  }
}

TEST(IoMpi, CollectiveWriteEqualsSerialWrite) {
  aptflow::test::TempDir dir;
  const int r = aptflow::test::world_rank(), p = aptflow::test::world_size();
  // Two slabs, each split unevenly over the ranks (rank 0 may hold nothing).
  const IonIndex slab[2] = {517, 260};
  const auto whole = block(0, slab[0] + slab[1], 2);
  for (auto f : {io::Format::pos, io::Format::epos, io::Format::h5}) {
    const auto serial = (dir / ("serial." + std::string(io::format_name(f)))).string();
    const auto coll = (dir / ("coll." + std::string(io::format_name(f)))).string();
    if (r == 0) io::write_dataset(serial, f, whole);
    {
      io::CloudWriter w(coll, f, MPI_COMM_WORLD, /*extras=*/true);
      IonIndex base = 0;
      for (IonIndex s : slab) {
        // Rank k holds [s*k^2/p^2, s*(k+1)^2/p^2): uneven blocks.
        const IonIndex a = s * r * r / (p * p), b = s * (r + 1) * (r + 1) / (p * p);
        w.append(block(base + a, b - a, 2));
        base += s;
      }
      EXPECT_EQ(w.written(), slab[0] + slab[1]);
      w.close();
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (r == 0) {
      if (f == io::Format::h5) {
        auto a = io::read_dataset(serial), b = io::read_dataset(coll);
        EXPECT_TRUE(same(std::vector<float>(a.x.data(), a.x.data() + a.size()), b.x));
        EXPECT_TRUE(same(std::vector<float>(a.mq.data(), a.mq.data() + a.size()), b.mq));
        EXPECT_TRUE(
            same(std::vector<aptflow::Species>(a.species.data(), a.species.data() + a.size()), b.species));
        EXPECT_TRUE(same(std::vector<float>(a.extras.y_det.data(), a.extras.y_det.data() + a.size()),
                         b.extras.y_det));
      } else {
        const auto sa = aptflow::test::read_bytes(serial), sb = aptflow::test::read_bytes(coll);
        EXPECT_EQ(sa.size(), sb.size());
        EXPECT_TRUE(sa == sb) << io::format_name(f) << ": collective file differs from the serial one";
      }
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
}

TEST(IoMpi, ErrorsAndNonFiniteReachEveryRank) {
  aptflow::test::TempDir dir;
  const IonIndex n = 64;
  auto c = block(0, n, 3);
  c.y(n - 2) = std::numeric_limits<float>::quiet_NaN();  // on the last rank
  c.mq(n - 1) = std::numeric_limits<float>::infinity();
  const auto path = (dir / "nan.pos").string();
  if (aptflow::test::world_rank() == 0) io::write_pos(path, c);
  MPI_Barrier(MPI_COMM_WORLD);
  try {
    io::read_dataset_mpi(MPI_COMM_WORLD, path);
    ADD_FAILURE() << "expected InputError on rank " << aptflow::test::world_rank();
  } catch (const aptflow::InputError& e) {
    EXPECT_EQ(e.location(), (n - 2) * 16) << e.what();
    EXPECT_NE(e.reason().find("2 record(s)"), std::string::npos) << e.what();
  }
  io::ReadOptions o;
  o.nonfinite = io::NonFinite::drop;
  io::ReadStats st;
  auto mine = io::read_dataset_mpi(MPI_COMM_WORLD, path, o, &st);
  EXPECT_EQ(st.dropped, 2);  // summed over ranks
  IonIndex local = mine.size(), total = 0;
  MPI_Allreduce(&local, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(total, n - 2);
  // A missing file fails on every rank without deadlock.
  EXPECT_THROW(io::read_dataset_mpi(MPI_COMM_WORLD, (dir / "missing.pos").string()), aptflow::InputError);
}
