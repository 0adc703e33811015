// inspect_dataset over MPI_COMM_WORLD equals the single-process result
// (MPI_COMM_SELF) at any number of ranks, also with small read chunks, a
// range file and dropped non-finite ions; an input error on some ranks is
// raised on every rank with the same message (no hang).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>
#include <string>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/pipeline/inspect.hpp"
#include "test_util.hpp"

namespace {

namespace io = aptflow::io;
using aptflow::HostIonCloud;
using aptflow::InspectOptions;
using aptflow::InspectResult;

int rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

HostIonCloud cloud(std::int64_t n) {
  HostIonCloud c(n, "test.cloud");
  std::mt19937_64 rng(99);
  std::uniform_real_distribution<float> u(-30.f, 30.f), bg(0.5f, 80.f);
  std::normal_distribution<float> peak(0.f, 0.02f);
  for (std::int64_t i = 0; i < n; ++i) {
    c.x(i) = u(rng), c.y(i) = u(rng) * 0.5f, c.z(i) = u(rng) + 40.f;
    const int k = static_cast<int>(rng() % 5);
    c.mq(i) = k == 0 ? 27.f + peak(rng) : k == 1 ? 13.5f + peak(rng) : k == 2 ? 32.f + peak(rng) : bg(rng);
  }
  return c;
}

aptflow::RangeTable table() {
  aptflow::RangeTable t;
  t.source = "t";
  t.ion_types = {{"Al", {{"Al", 1}}, "", 0}, {"O2", {{"O", 2}}, "", 0}};
  t.ranges = {{13.3, 13.7, 0, 0}, {26.8, 27.2, 0, 0}, {31.8, 32.2, 1, 0}};
  return t;
}

void expect_same(const InspectResult& a, const InspectResult& b) {
  EXPECT_EQ(a.format, b.format);
  EXPECT_EQ(a.file_bytes, b.file_bytes);
  EXPECT_EQ(a.ions, b.ions);
  EXPECT_EQ(a.nonfinite_dropped, b.nonfinite_dropped);
  for (int d = 0; d < 3; ++d) {
    EXPECT_EQ(a.bounds.lo[d], b.bounds.lo[d]);
    EXPECT_EQ(a.bounds.hi[d], b.bounds.hi[d]);
  }
  EXPECT_EQ(a.mq_min, b.mq_min);
  EXPECT_EQ(a.mq_max, b.mq_max);
  ASSERT_EQ(a.peaks.size(), b.peaks.size());
  for (std::size_t k = 0; k < a.peaks.size(); ++k) {
    EXPECT_EQ(a.peaks[k].mq, b.peaks[k].mq);
    EXPECT_EQ(a.peaks[k].counts, b.peaks[k].counts);
  }
  EXPECT_EQ(a.species_counts, b.species_counts);
  EXPECT_EQ(a.composition, b.composition);
  EXPECT_EQ(aptflow::format_inspect_json(a), aptflow::format_inspect_json(b));
}

TEST(InspectMpi, EqualsSerialResult) {
  aptflow::test::TempDir dir;
  auto c = cloud(25013);
  c.x(20000) = std::numeric_limits<float>::quiet_NaN();  // in the last rank's share at np 1..4
  const auto pos = (dir / "a.pos").string(), h5 = (dir / "a.h5").string(), rrng = (dir / "a.rrng").string();
  if (rank() == 0) {
    io::write_pos(pos, c);
    io::write_h5_cloud(h5, c);
    aptflow::write_rrng(rrng, table());
  }
  MPI_Barrier(MPI_COMM_WORLD);
  InspectOptions opt;
  opt.range_file = rrng;
  opt.drop_nonfinite = true;
  opt.max_peaks = 5;
  for (const auto& path : {pos, h5}) {
    for (std::int64_t chunk : {std::int64_t{1} << 22, std::int64_t{777}}) {
      SCOPED_TRACE(path + " chunk " + std::to_string(chunk));
      opt.chunk_ions = chunk;
      const auto par = aptflow::inspect_dataset(MPI_COMM_WORLD, path, opt);
      const auto ser = aptflow::inspect_dataset(MPI_COMM_SELF, path, opt);
      expect_same(par, ser);
      EXPECT_EQ(par.ions, c.size() - 1);
      EXPECT_EQ(par.nonfinite_dropped, 1);
      ASSERT_EQ(par.species_counts.size(), 3u);
      // Independent counts: linear scan of the ranges.
      std::int64_t al = 0, o2 = 0;
      for (std::int64_t i = 0; i < c.size(); ++i) {
        if (i == 20000) continue;
        const double m = c.mq(i);
        al += (m >= 13.3 && m < 13.7) || (m >= 26.8 && m < 27.2);
        o2 += m >= 31.8 && m < 32.2;
      }
      EXPECT_EQ(par.species_counts[1], al);
      EXPECT_EQ(par.species_counts[2], o2);
      EXPECT_EQ(par.species_counts[0], c.size() - 1 - al - o2);
      ASSERT_GE(par.peaks.size(), 3u);
      EXPECT_NEAR(par.peaks[0].mq, 27.0, 0.02);
    }
  }
}

TEST(InspectMpi, InputErrorRaisedOnEveryRank) {
  aptflow::test::TempDir dir;
  auto c = cloud(4000);
  c.mq(3900) = std::numeric_limits<float>::infinity();  // only the last rank reads it
  const auto pos = (dir / "bad.pos").string();
  if (rank() == 0) io::write_pos(pos, c);
  MPI_Barrier(MPI_COMM_WORLD);
  std::string msg;
  try {
    aptflow::inspect_dataset(MPI_COMM_WORLD, pos);
    ADD_FAILURE() << "no error";
  } catch (const aptflow::Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(pos), std::string::npos) << msg;
  EXPECT_NE(msg.find("at byte " + std::to_string(3900 * 16)), std::string::npos) << msg;
  // The same message on every rank.
  int len = static_cast<int>(msg.size()), max_len = 0, min_len = 0;
  MPI_Allreduce(&len, &max_len, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(&len, &min_len, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  EXPECT_EQ(min_len, max_len);
  std::string root = msg;
  root.resize(static_cast<std::size_t>(max_len));
  MPI_Bcast(root.data(), max_len, MPI_CHAR, 0, MPI_COMM_WORLD);
  EXPECT_EQ(root, msg);

  // A file that does not exist: every rank raises.
  bool raised = false;
  try {
    aptflow::inspect_dataset(MPI_COMM_WORLD, (dir / "nope.pos").string());
  } catch (const aptflow::InputError&) {
    raised = true;
  }
  EXPECT_TRUE(raised);
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
