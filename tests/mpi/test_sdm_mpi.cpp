// run_sdm (aptflow sdm) under the z-slab decomposition (np 1, 2, 4): the
// feature file written by all ranks equals the file of one rank
// (MPI_COMM_SELF) dataset by dataset, and the serial kernels on the whole
// ranged cloud, for window SDMs (feal, cocrni; windows.box) and whole-dataset
// SDMs (z, zx, 3d), with a region of interest and a fixed alignment, on a
// deep specimen (slabs thicker than the halo) and a thin one (thinner).
#include <gtest/gtest.h>
#include <mpi.h>

#include <random>
#include <string>
#include <vector>

#include "aptflow/core/runtime.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/features.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/windows.hpp"
#include "aptflow/pipeline/sdm.hpp"
#include "ranged_cloud.hpp"
#include "test_util.hpp"

namespace {

using aptflow::HostIonCloud;
using Exec = Kokkos::DefaultHostExecutionSpace;

HostIonCloud cloud_of(std::int64_t n, float zlo, float zhi, unsigned seed) {
  return aptflow::test::ranged_random_cloud(n, -4.0f, 4.5f, -3.0f, 4.0f, zlo, zhi, seed, "test.sdm");
}

aptflow::RangeTable table_of() { return aptflow::test::three_type_table(); }

// Every dataset of a feature file that run_sdm writes (values), by path.
struct FileImage {
  std::vector<std::pair<std::string, std::vector<float>>> f32;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> i64;
  std::vector<std::pair<std::string, std::vector<double>>> f64;
};

FileImage image_of(const std::string& path, const aptflow::SdmOptions& o) {
  FileImage im;
  auto f = aptflow::h5::File::open(path);
  const std::string kind = aptflow::to_string(o.spec.kind);
  for (const auto& p : o.pairs) {
    im.f32.emplace_back("/features/" + kind + "/" + p,
                        aptflow::h5::read<float>(f, "/features/" + kind + "/" + p));
    if (o.windowed)
      im.i64.emplace_back("/windows/centre_ions/" + p,
                          aptflow::h5::read<std::int64_t>(f, "/windows/centre_ions/" + p));
  }
  if (o.windowed) im.f32.emplace_back("/windows/centre", aptflow::h5::read<float>(f, "/windows/centre"));
  im.f64.emplace_back("/bins/" + kind, aptflow::h5::read<double>(f, "/bins/" + kind));
  f.close();
  return im;
}

template <class T>
void expect_same(const std::vector<std::pair<std::string, std::vector<T>>>& a,
                 const std::vector<std::pair<std::string, std::vector<T>>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    ASSERT_EQ(a[k].second.size(), b[k].second.size()) << a[k].first;
    std::size_t diff = 0;
    for (std::size_t i = 0; i < a[k].second.size(); ++i) diff += a[k].second[i] != b[k].second[i];
    EXPECT_EQ(diff, 0u) << a[k].first << ": values differ";
  }
}

struct Case {
  const char* name;
  aptflow::SdmKind kind;
  bool windowed;
  aptflow::WindowVariant variant;
  bool roi, align, box;
};

aptflow::SdmOptions options_of(const Case& k, const std::string& pos, const std::string& rrng) {
  using namespace aptflow;
  SdmOptions o;
  o.input = pos;
  o.range = rrng;
  o.spec = k.kind == SdmKind::z ? SdmSpec::z() : k.kind == SdmKind::zx ? SdmSpec::zx() : SdmSpec::cube();
  o.spec.finalize();
  o.pairs = {"Al-Al", "Mg-Al"};
  o.windowed = k.windowed;
  o.variant = k.variant;
  if (k.kind != SdmKind::z) o.edge = o.stride = 2.0;  // 40000-bin rows: fewer windows
  o.wspec = k.variant == WindowVariant::feal ? WindowSpec::feal(o.edge) : WindowSpec::cocrni(o.edge);
  o.chunk = 97;  // several write rounds, uneven over the ranks
  if (k.box) o.box = std::array<double, 6>{-2.0, -1.0, -1.5, 3.0, 2.5, 60.0};
  if (k.roi) o.roi = parse_roi_spec("cylinder:0.5,0.5,3.2", "--roi");
  if (k.align) {
    o.align.mode = AlignSpec::Mode::fixed;
    o.align.tilt_deg = 4.0;
    o.align.azimuth_deg = 30.0;
  }
  o.config_text = std::string("case = \"") + k.name + "\"\n";
  return o;
}

// The serial kernels on the whole ranged cloud (no ROI, no alignment).
void expect_equals_kernels(const aptflow::SdmOptions& o, const FileImage& got,
                           const aptflow::RangeTable& table) {
  using namespace aptflow;
  HostIonCloud cloud = io::read_dataset(o.input);
  apply_ranges(Exec(), cloud, make_device_range_table<Kokkos::HostSpace>(table));
  const Box box = cloud_bounds(Exec(), cloud);
  const CellGrid cg = make_cell_grid(box, o.spec.r_cut);
  const std::int64_t bins = o.spec.size();
  const std::pair<int, int> ids[2] = {{1, 1}, {2, 1}};
  for (int c = 0; c < 2; ++c) {
    const auto cells = build_sdm_cells(Exec(), cloud, cg, ids[c].first, ids[c].second);
    std::vector<float> want;
    std::int64_t total = 0;
    if (!o.windowed) {
      Kokkos::View<std::int64_t*, Kokkos::HostSpace> out("want", bins);
      compute_sdm(Exec(), cells, o.spec, out);
      for (std::int64_t q = 0; q < bins; ++q) want.push_back(static_cast<float>(out(q))), total += out(q);
    } else {
      const WindowGrid g = o.box ? WindowGrid::on_box(o.box->data(), o.box->data() + 3, o.edge, o.stride)
                                 : WindowGrid::over(box, o.edge, o.stride);
      Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace> out("want", g.size(), bins);
      Kokkos::View<std::int64_t*, Kokkos::HostSpace> counts("counts", g.size());
      compute_window_sdms(Exec(), cells, g, o.wspec, o.spec, 0, g.size(), out, counts);
      for (std::int64_t w = 0; w < g.size(); ++w)
        for (std::int64_t q = 0; q < bins; ++q)
          want.push_back(static_cast<float>(out(w, q))), total += out(w, q);
    }
    ASSERT_GT(total, 1000) << "test specimen too sparse to mean anything";
    const auto& have = got.f32[static_cast<std::size_t>(c)].second;
    ASSERT_EQ(have.size(), want.size());
    std::size_t diff = 0;
    for (std::size_t i = 0; i < want.size(); ++i) diff += have[i] != want[i];
    EXPECT_EQ(diff, 0u) << "pair " << o.pairs[c] << ": rows differ from the serial kernel";
  }
}

TEST(SdmMpi, FileDoesNotDependOnTheRankCount) {
  using namespace aptflow;
  test::TempDir dir;
  const RangeTable table = table_of();
  const auto rrng = (dir / "t.rrng").string();
  const auto pos = (dir / "t.pos").string();
  struct Specimen {
    std::int64_t n;
    float zlo, zhi;
  };
  const Case cases[] = {
      {"z feal", SdmKind::z, true, WindowVariant::feal, false, false, false},
      {"zx cocrni", SdmKind::zx, true, WindowVariant::cocrni, false, false, false},
      {"z feal box", SdmKind::z, true, WindowVariant::feal, false, false, true},
      {"z feal roi align", SdmKind::z, true, WindowVariant::feal, true, true, false},
      {"z cocrni roi", SdmKind::z, true, WindowVariant::cocrni, true, false, false},
      {"z whole", SdmKind::z, false, WindowVariant::feal, false, false, false},
      {"zx whole", SdmKind::zx, false, WindowVariant::feal, false, false, false},
      {"3d whole", SdmKind::xyz, false, WindowVariant::feal, false, false, false},
      {"z whole roi align", SdmKind::z, false, WindowVariant::feal, true, true, false},
      {"3d whole align", SdmKind::xyz, false, WindowVariant::feal, false, true, false},
  };
  // Deep: slabs of several nm at np 4; thin: slabs thinner than the halo.
  for (const Specimen& s : {Specimen{24000, 0.0f, 40.0f}, Specimen{6000, 3.0f, 6.0f}}) {
    if (aptflow::test::world_rank() == 0) {
      io::write_pos(pos, cloud_of(s.n, s.zlo, s.zhi, 77 + static_cast<unsigned>(s.n)));
      write_rrng(rrng, table);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    for (const Case& k : cases) {
      SCOPED_TRACE(::testing::Message() << k.name << ", z [" << s.zlo << ", " << s.zhi << ")");
      SdmOptions o = options_of(k, pos, rrng);
      o.output = (dir / "all.h5").string();
      const SdmSummary all = run_sdm(MPI_COMM_WORLD, o);
      if (aptflow::test::world_rank() == 0) {
        SdmOptions one = o;
        one.output = (dir / "one.h5").string();
        const SdmSummary single = run_sdm(MPI_COMM_SELF, one);
        EXPECT_EQ(all.rows, single.rows);
        EXPECT_EQ(all.ions, single.ions);
        const FileImage a = image_of(o.output, o), b = image_of(one.output, one);
        expect_same(a.f32, b.f32);
        expect_same(a.i64, b.i64);
        expect_same(a.f64, b.f64);
        // The root and window-grid attributes (config, origin, counts, ...).
        const io::FeatureFileInfo ia = io::read_feature_info(o.output),
                                  ib = io::read_feature_info(one.output);
        EXPECT_EQ(ia.layout.samples, ib.layout.samples);
        EXPECT_EQ(ia.layout.config_text, ib.layout.config_text);
        for (int ax = 0; ax < 3; ++ax) {
          EXPECT_EQ(ia.layout.window_grid.origin[ax], ib.layout.window_grid.origin[ax]);
          EXPECT_EQ(ia.layout.window_grid.counts[ax], ib.layout.window_grid.counts[ax]);
        }
        EXPECT_EQ(ia.layout.window_grid.variant, ib.layout.window_grid.variant);
        if (k.roi) EXPECT_LT(all.ions, s.n);
        if (!k.roi && !k.align) expect_equals_kernels(o, a, table);
        EXPECT_EQ(all.device, have_gpu_backend() ? "gpu" : "host");
      }
      // The device path (`--device gpu`: the counts on Kokkos::DefaultExecutionSpace
      // with the device algorithms; here a host space) on every rank: the same
      // integers (the small specimen: the team algorithms on one host thread are slow).
      if (s.n <= 6000) {
        SdmOptions d = o;
        d.test_device_path = true;
        d.output = (dir / "dev.h5").string();
        const SdmSummary dev = run_sdm(MPI_COMM_WORLD, d);
        if (aptflow::test::world_rank() == 0) {
          EXPECT_EQ(dev.device, have_gpu_backend() ? "gpu" : "default execution space");
          const FileImage a = image_of(o.output, o), b = image_of(d.output, d);
          expect_same(a.f32, b.f32);
          expect_same(a.i64, b.i64);
          expect_same(a.f64, b.f64);
        }
      }
      MPI_Barrier(MPI_COMM_WORLD);
    }
  }
}

// Errors are agreed: every rank raises the same one and nothing is written.
TEST(SdmMpi, ErrorsOnEveryRankAndNoFile) {
  using namespace aptflow;
  test::TempDir dir;
  const auto rrng = (dir / "t.rrng").string();
  const auto pos = (dir / "t.pos").string();
  if (aptflow::test::world_rank() == 0) {
    io::write_pos(pos, cloud_of(3000, 0.0f, 10.0f, 5));
    write_rrng(rrng, table_of());
  }
  MPI_Barrier(MPI_COMM_WORLD);
  SdmOptions o =
      options_of({"z feal", SdmKind::z, true, WindowVariant::feal, false, false, false}, pos, rrng);
  o.output = (dir / "bad.h5").string();
  o.pairs = {"Al-Fe"};
  EXPECT_THROW(run_sdm(MPI_COMM_WORLD, o), ConfigError);
  o.pairs = {"Al-Al"};
  o.roi = parse_roi_spec("box:100,100,100,101,101,101", "--roi");
  EXPECT_THROW(run_sdm(MPI_COMM_WORLD, o), InputError);
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_FALSE(std::filesystem::exists(o.output));
}

}  // namespace
