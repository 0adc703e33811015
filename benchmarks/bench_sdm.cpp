// z-SDM window throughput on a synthetic FCC block (Al, a = 0.405 nm, with
// APT-like noise and detection efficiency), against the scipy cKDTree +
// numpy reference benchmarks/ref_zsdm_ckdtree.py run in the same process
// on the same ions: both must give the SAME integer counts on the compared
// windows, and the per-window time ratio is reported.
//
//   bench_sdm            full run: ~40 x 40 x 40 nm block (~1.9 M ions, ~490 k windows)
//   bench_sdm --smoke    a few seconds: 6 nm block, python on a few windows
//   options: --cells=N (FCC cells per edge, default 99), --reach=1|2|3 (cells per
//   r_cut, default 2), --chunk=N (windows per chunk, default 32768),
//   --algorithm=cells|team (the host algorithm, default; or the device
//   team-per-window algorithm run on the host, for comparison)
// Other arguments go to Google Benchmark. One process on the default host
// execution space (Kokkos::Serial with Debian's Kokkos; run with
// OMP_NUM_THREADS=1 against an OpenMP Kokkos for a per-core figure).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <time.h>
#include <unistd.h>

#include "aptflow/core/runtime.hpp"
#include "aptflow/kernels/windows.hpp"

namespace {

using namespace aptflow;
using Exec = Kokkos::DefaultHostExecutionSpace;
using Mem = Kokkos::HostSpace;
using Rows = Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem>;
using Counts = Kokkos::View<std::int64_t*, Mem>;

constexpr int kAl = 1;

// FCC lattice of n^3 cells (a in nm), Gaussian noise sigma_xy on x, y and
// sigma_z on z, each site kept with probability eta. All ions are Al.
HostIonCloud fcc_block(int n, double a, double sigma_xy, double sigma_z, double eta, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gxy(0.0, sigma_xy), gz(0.0, sigma_z);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  std::vector<float> x, y, z;
  for (int k = 0; k < n; ++k)
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < n; ++i)
        for (const auto& b : basis) {
          const double px = (i + b[0]) * a + gxy(rng), py = (j + b[1]) * a + gxy(rng),
                       pz = (k + b[2]) * a + gz(rng);
          if (u(rng) < eta) {
            x.push_back(static_cast<float>(px));
            y.push_back(static_cast<float>(py));
            z.push_back(static_cast<float>(pz));
          }
        }
  HostIonCloud c(static_cast<IonIndex>(x.size()), "bench::fcc");
  for (std::size_t i = 0; i < x.size(); ++i) {
    c.x(i) = x[i];
    c.y(i) = y[i];
    c.z(i) = z[i];
    c.mq(i) = 27.0f;
    c.species(i) = kAl;
  }
  return c;
}

struct Setup {
  HostIonCloud cloud;
  SdmCells<Mem> cells;
  WindowGrid grid;
  WindowSpec wspec;
  SdmSpec spec = SdmSpec::z();
  HostIonCloud block;  // 13^3-cell block for whole-block SDMs
  std::int64_t chunk = 8192;
  SdmAlgorithm algorithm = SdmAlgorithm::automatic;
};

// Owns Kokkos Views: released in main() before Kokkos is finalised.
std::unique_ptr<Setup> g_setup;
Setup& setup() { return *g_setup; }

// CPU time of this process: the machine may be shared, wall time is noisy.
double cpu_seconds() {
  timespec t;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

struct ScanResult {
  double seconds = 0;      // wall
  double cpu_seconds = 0;  // process CPU
  std::int64_t pairs = 0;  // binned (centre, neighbour) pairs over all windows
  std::int64_t centres = 0;
};

ScanResult scan_all(const Setup& s) {
  ScanResult r;
  Rows out("bench::out", s.chunk, s.spec.size());
  Counts cnt("bench::cnt", s.chunk);
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  for (std::int64_t first = 0; first < s.grid.size(); first += s.chunk) {
    const std::int64_t m = std::min(s.chunk, s.grid.size() - first);
    auto o = Kokkos::subview(out, Kokkos::make_pair(std::int64_t(0), m), Kokkos::ALL);
    auto c = Kokkos::subview(cnt, Kokkos::make_pair(std::int64_t(0), m));
    compute_window_sdms(Exec(), s.cells, s.grid, s.wspec, s.spec, first, m, Rows(o), Counts(c), s.algorithm);
    for (std::int64_t i = 0; i < m; ++i) {
      r.centres += c(i);
      for (std::int64_t k = 0; k < s.spec.size(); ++k) r.pairs += o(i, k);
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.cpu_seconds = cpu_seconds() - c0;
  return r;
}

ScanResult g_last;

void BM_zsdm_feal_windows(benchmark::State& state) {
  const Setup& s = setup();
  for (auto _ : state) {
    g_last = scan_all(s);
    benchmark::DoNotOptimize(g_last.pairs);
  }
  const double w = double(s.grid.size());
  state.counters["windows"] = w;
  state.counters["ions"] = double(s.cloud.size());
  state.counters["windows_per_s"] = benchmark::Counter(w, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["pairs_per_s"] =
      benchmark::Counter(double(g_last.pairs), benchmark::Counter::kIsIterationInvariantRate);
}

// Whole-block SDMs as used for synthetic libraries (published block: 13^3 cells).
void BM_block_sdm(benchmark::State& state) {
  const SdmSpec spec = state.range(0) == 0   ? SdmSpec::z()
                       : state.range(0) == 1 ? SdmSpec::zx()
                                             : SdmSpec::cube();
  const HostIonCloud& block = setup().block;
  Kokkos::View<std::int64_t*, Mem> out("bench::block", spec.size());
  std::int64_t pairs = 0;
  for (auto _ : state) {
    compute_sdm(Exec(), block, spec, kAl, kAl, out);
    pairs = 0;
    for (std::size_t k = 0; k < out.extent(0); ++k) pairs += out(k);
  }
  state.SetLabel(to_string(spec.kind));
  state.counters["ions"] = double(block.size());
  state.counters["blocks_per_s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["pairs_per_s"] =
      benchmark::Counter(double(pairs), benchmark::Counter::kIsIterationInvariantRate);
}

std::filesystem::path script_path() {
  if (const char* src = std::getenv("APTFLOW_SOURCE_DIR"))
    return std::filesystem::path(src) / "benchmarks" / "ref_zsdm_ckdtree.py";
  return std::filesystem::path(__FILE__).parent_path() / "ref_zsdm_ckdtree.py";
}

template <class T>
void write_raw(const std::filesystem::path& p, const T* data, std::size_t n) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n * sizeof(T)));
  if (!f)
    throw ResourceError("bench_sdm: cannot write '" + p.string() + "': check free space in the temp dir");
}

// Runs the python reference on n_py evenly spread windows, compares counts
// with aptflow window by window. Returns python CPU seconds per window (wall
// seconds per window in wall_spw); mismatching windows are counted.
double run_reference(const Setup& s, std::int64_t n_py, std::int64_t& mismatches, double& wall_spw) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("aptflow_bench_sdm_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const IonIndex n = s.cloud.size();
  std::vector<float> xyz(3 * n);
  for (IonIndex i = 0; i < n; ++i) {
    xyz[3 * i] = s.cloud.x(i);
    xyz[3 * i + 1] = s.cloud.y(i);
    xyz[3 * i + 2] = s.cloud.z(i);
  }
  write_raw(dir / "xyz.f32", xyz.data(), xyz.size());
  write_raw(dir / "species.u16", s.cloud.species.data(), n);
  std::vector<std::int64_t> wins;
  const std::int64_t W = s.grid.size();
  for (std::int64_t k = 0; k < n_py; ++k) wins.push_back(std::min(W - 1, (2 * k + 1) * W / (2 * n_py)));
  write_raw(dir / "windows.i64", wins.data(), wins.size());

  char origin[200];
  std::snprintf(origin, sizeof origin, "%.17g %.17g %.17g", s.grid.origin[0], s.grid.origin[1],
                s.grid.origin[2]);
  std::ostringstream cmd;
  cmd.precision(17);
  cmd << "/usr/bin/python3 " << script_path() << " --xyz " << dir / "xyz.f32"
      << " --species " << dir / "species.u16"
      << " --a " << kAl << " --b " << kAl << " --origin " << origin << " --edge " << s.grid.edge
      << " --stride " << s.grid.stride << " --counts " << s.grid.counts[0] << ' ' << s.grid.counts[1] << ' '
      << s.grid.counts[2] << " --centre-radius " << double(s.wspec.centre_radius) << " --r-cut "
      << s.spec.r_cut << " --range " << s.spec.range << " --bin " << s.spec.bin << " --crop-first "
      << s.spec.crop_first << " --crop-count " << s.spec.crop_count << " --windows " << dir / "windows.i64"
      << " --out " << dir / "out.i64";
  FILE* pipe = ::popen(cmd.str().c_str(), "r");
  if (!pipe)
    throw ResourceError("bench_sdm: cannot start /usr/bin/python3: install python3 with numpy and scipy");
  std::string text;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) text += buf;
  const int rc = ::pclose(pipe);
  if (rc != 0)
    throw ResourceError("bench_sdm: the python reference failed (" + text +
                        "): check /usr/bin/python3 has numpy and scipy");
  auto field = [&text](const std::string& key) {
    const auto pos = text.find("\"" + key + "\":");
    if (pos == std::string::npos) throw ResourceError("bench_sdm: python output lacks " + key + ": " + text);
    return std::stod(text.substr(pos + key.size() + 3));
  };
  const double s_per_window = field("cpu_s_per_window");
  wall_spw = field("s_per_window");
  std::cout << "python reference: " << text;

  // Compare window by window.
  const std::int64_t cc = s.spec.crop_count;
  std::vector<std::int64_t> ref(wins.size() * (cc + 1));
  {
    std::ifstream f(dir / "out.i64", std::ios::binary);
    f.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(ref.size() * 8));
    if (!f) throw ResourceError("bench_sdm: python output truncated");
  }
  mismatches = 0;
  std::int64_t compared_pairs = 0;
  Rows out("bench::one", 1, s.spec.size());
  Counts cnt("bench::one_cnt", 1);
  for (std::size_t r = 0; r < wins.size(); ++r) {
    compute_window_sdms(Exec(), s.cells, s.grid, s.wspec, s.spec, wins[r], 1, out, cnt, s.algorithm);
    bool same = cnt(0) == ref[r * (cc + 1) + cc];
    for (std::int64_t k = 0; k < cc; ++k) {
      same = same && out(0, k) == ref[r * (cc + 1) + k];
      compared_pairs += out(0, k);
    }
    if (!same) ++mismatches;
  }
  std::cout << "compared " << wins.size() << " windows (" << compared_pairs << " binned pairs) with python: "
            << (mismatches == 0 ? "identical counts" : std::to_string(mismatches) + " windows DIFFER")
            << "\n";
  fs::remove_all(dir);
  return s_per_window;
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  int reach = 2;
  std::int64_t chunk = 32768;
  int cells = 99;  // 40 nm of a = 0.405 nm
  SdmAlgorithm algorithm = SdmAlgorithm::automatic;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0)
      smoke = true;
    else if (std::strncmp(argv[i], "--reach=", 8) == 0)
      reach = std::atoi(argv[i] + 8);
    else if (std::strncmp(argv[i], "--chunk=", 8) == 0)
      chunk = std::atoll(argv[i] + 8);
    else if (std::strncmp(argv[i], "--cells=", 8) == 0)
      cells = std::atoi(argv[i] + 8);
    else if (std::strcmp(argv[i], "--algorithm=team") == 0)
      algorithm = SdmAlgorithm::team;
    else if (std::strcmp(argv[i], "--algorithm=cells") == 0)
      algorithm = SdmAlgorithm::cells;
    else
      args.push_back(argv[i]);
  }
  if (smoke) cells = 15;  // 6 nm
  int n_args = static_cast<int>(args.size());
  char** a = args.data();
  aptflow::Runtime runtime(n_args, a);
  try {
    g_setup = std::make_unique<Setup>();
    Setup& s = setup();
    s.block = fcc_block(13, 0.405, 0.4, 0.02, 0.55, 7);
    s.cloud = fcc_block(cells, 0.405, 0.3, 0.03, 0.5, 2024);
    const Box box = cloud_bounds(Exec(), s.cloud);
    s.cells = build_sdm_cells(Exec(), s.cloud, make_cell_grid(box, s.spec.r_cut, reach), kAl, kAl);
    s.chunk = chunk;
    s.algorithm = algorithm;
    s.grid = WindowGrid::over(box, 1.0, 0.5);
    s.wspec = WindowSpec::feal(1.0);
    std::cout << "block: " << s.cloud.size() << " Al ions, " << s.grid.size() << " windows ("
              << s.grid.counts[0] << " x " << s.grid.counts[1] << " x " << s.grid.counts[2] << "), chunk "
              << s.chunk << ", cells per r_cut " << reach << ", "
              << (algorithm == SdmAlgorithm::team ? "team algorithm" : "host algorithm") << ", z binning "
              << detail::z_histogram_isa() << ", " << Exec::name() << " x " << Exec().concurrency() << "\n";

    benchmark::RegisterBenchmark("zsdm_feal_windows", BM_zsdm_feal_windows)->Unit(benchmark::kMillisecond);
    auto* blk = benchmark::RegisterBenchmark("block_sdm_13cells", BM_block_sdm)->Arg(0)->Arg(1)->Arg(2);
    blk->Unit(benchmark::kMillisecond);
    if (smoke) blk->Iterations(1);
    std::vector<char*> bargs(a, a + n_args);
    std::string min_time = "--benchmark_min_time=0.01";
    if (smoke) bargs.push_back(min_time.data());
    int bn = static_cast<int>(bargs.size());
    benchmark::Initialize(&bn, bargs.data());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();

    // Throughput of one full scan (also the last benchmark iteration).
    const ScanResult full = scan_all(s);
    const double cpp_wps = double(s.grid.size()) / full.cpu_seconds;
    std::int64_t mismatches = 0;
    double py_wall_spw = 0;
    const double py_spw = run_reference(s, smoke ? 12 : 400, mismatches, py_wall_spw);
    const double ratio = py_spw * cpp_wps;
    std::printf(
        "\nz-SDM feal windows (one process, %s x %d; CPU time, wall time in brackets):\n"
        "  aptflow : %.0f windows/s (%.0f), %.3g binned pairs/s\n"
        "            %lld windows, %lld binned pairs, %lld centre-ion slots, %.3f s CPU (%.3f s wall)\n"
        "  python  : %.1f windows/s (%.1f) (scipy cKDTree + numpy, per window)\n"
        "  ratio   : %.0fx per process (%.0fx wall) (target >= 300x per core)\n",
        Exec::name(), Exec().concurrency(), cpp_wps, double(s.grid.size()) / full.seconds,
        double(full.pairs) / full.cpu_seconds, static_cast<long long>(s.grid.size()),
        static_cast<long long>(full.pairs), static_cast<long long>(full.centres), full.cpu_seconds,
        full.seconds, 1.0 / py_spw, 1.0 / py_wall_spw, ratio,
        py_wall_spw * double(s.grid.size()) / full.seconds);
    g_setup.reset();
    if (mismatches != 0) {
      std::fprintf(stderr, "bench_sdm: aptflow and the python reference disagree on %lld windows\n",
                   static_cast<long long>(mismatches));
      return 1;
    }
  } catch (const std::exception& e) {
    g_setup.reset();
    std::fprintf(stderr, "bench_sdm: %s\n", e.what());
    return 1;
  }
  return 0;
}
