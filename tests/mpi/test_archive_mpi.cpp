// run_archive over MPI_COMM_WORLD (np 1, 2, 4; the largest datasets on groups
// of 2 ranks) writes the same index as a single process (MPI_COMM_SELF), and a
// stop request before the start leaves no index and resumes to the same one.
#include <gtest/gtest.h>
#include <mpi.h>

#include <csignal>
#include <filesystem>

#include "../unit/test_archive_util.hpp"
#include "aptflow/pipeline/archive.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

aptflow::ArchiveOptions options(const fs::path& dir, const std::string& manifest, const std::string& out) {
  aptflow::ArchiveOptions o;
  o.manifest = manifest;
  o.output = (dir / out).string();
  o.large_bytes = 25000 * 16;  // the biggest datasets go to groups
  o.group_ranks = 2;
  o.chunk_ions = 3001;
  o.tsne.iterations = 300;
  o.progress = false;
  return o;
}

TEST(ArchiveMpi, IndexDoesNotDependOnRanksOrGroups) {
  aptflow::test::TempDir dir;
  std::string manifest;
  if (world_rank() == 0) {
    aptflow::SyntheticArchiveSpec spec;
    spec.datasets = 14, spec.min_ions = 5000, spec.max_ions = 40000;
    manifest = aptflow::write_synthetic_archive((dir / "a").string(), spec).manifest;
  }
  int len = static_cast<int>(manifest.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  manifest.resize(static_cast<std::size_t>(len));
  MPI_Bcast(manifest.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);

  const auto s = aptflow::run_archive(MPI_COMM_WORLD, options(dir.path(), manifest, "world"));
  EXPECT_FALSE(s.interrupted);
  EXPECT_EQ(s.datasets, 19);
  EXPECT_EQ(s.ok, 14);
  EXPECT_EQ(s.failed, 5);
  EXPECT_EQ(s.processed, 19);
  if (world_rank() == 0) {
    const auto t = aptflow::run_archive(MPI_COMM_SELF, options(dir.path(), manifest, "self"));
    EXPECT_EQ(t.ok, 14);
    const auto skip = aptflow::test::archive_index_volatile();
    const auto a = aptflow::test::h5_contents((dir / "world" / "index.h5").string(), skip);
    const auto b = aptflow::test::h5_contents((dir / "self" / "index.h5").string(), skip);
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [name, bytes] : a) {
      ASSERT_TRUE(b.count(name)) << name;
      EXPECT_TRUE(bytes == b.at(name)) << name << " differs";
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);

  // A stop request: nothing is started, no index; then a resume completes it.
  volatile std::sig_atomic_t stop = 1;
  auto o = options(dir.path(), manifest, "stopped");
  o.stop = &stop;
  const auto st = aptflow::run_archive(MPI_COMM_WORLD, o);
  EXPECT_TRUE(st.interrupted);
  EXPECT_EQ(st.processed, 0);
  EXPECT_FALSE(fs::exists(dir / "stopped" / "index.h5"));
  stop = 0;
  o.resume = true;
  const auto rs = aptflow::run_archive(MPI_COMM_WORLD, o);
  EXPECT_FALSE(rs.interrupted);
  EXPECT_EQ(rs.processed, 19);
  const auto again = aptflow::run_archive(MPI_COMM_WORLD, o);
  EXPECT_EQ(again.processed, 0);
  EXPECT_EQ(again.resumed, 19);
  if (world_rank() == 0) {
    const auto skip = aptflow::test::archive_index_volatile();
    EXPECT_TRUE(aptflow::test::h5_contents((dir / "stopped" / "index.h5").string(), skip) ==
                aptflow::test::h5_contents((dir / "world" / "index.h5").string(), skip));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
