// CNN inference throughput, aptflow::nn::Model::predict against PyTorch
// (benchmarks/ref_cnn_torch.py), one thread each (OpenBLAS 1 thread,
// torch.set_num_threads(1)), same architecture, same weights, same inputs:
//
//   feal_1d  input 93 x 2: Conv1D 64 k=10 valid ReLU, Dropout 0.5,
//            MaxPooling1D 2, Flatten, Dense 256 ReLU, Dense 3 softmax
//            (the Fe-Al network of method.md section 5)
//   alli_1d  input 93 x 4: Conv1D 16 k=10 valid ReLU, Dropout 0.5,
//            MaxPooling1D 2, Flatten, Dense 256 ReLU, Dense 2 softmax (the
//            shipped Al-Li-Mg model models/alli_l12_pairs_1dcnn.h5: four
//            species pairs, the classify hot path)
//   cnn_3d   input 20^3 x 1: Conv3D 16 3x3x3 ReLU, MaxPooling3D 2,
//            Conv3D 32 3x3x3 ReLU, MaxPooling3D 2, Flatten, Dense 64 ReLU,
//            Dense 2 softmax
//
// aptflow runs twice: on its default path (the direct convolution fused
// with the pool, named "[direct avx2]" or "[direct generic]") and on the
// im2col + GEMM path (ConvAlgorithm::im2col, the path before the direct
// convolution), both against the same PyTorch run.
//
// Each model gets Keras-style random weights (Glorot uniform kernels, small
// random biases), is saved with aptflow::nn::save_model, and the python
// script builds the equivalent torch.nn.Sequential from that file. Both run
// the same random inputs in chunks of --batch samples; the outputs must agree
// (max abs difference < 1e-4) before the timings count. Throughput is
// samples per second of process CPU time (the machine may be shared), wall
// time in brackets.
//
//   bench_cnn [--batch=256] [--samples1d=4096] [--samples3d=1024] [--min-time=2]
//             [--only=feal_1d,alli_1d,cnn_3d]
//   bench_cnn --smoke     seconds: few samples, tiny minimum time; without
//                         an importable torch only the aptflow part runs
// Exit code 1 when the outputs disagree or the reference fails otherwise.
#include <benchmark/benchmark.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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

#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/kernels/gemm.hpp"
#include "aptflow/nn/layers.hpp"
#include "aptflow/nn/model.hpp"
#include "aptflow/nn/model_file.hpp"

namespace {

using namespace aptflow;
using namespace aptflow::nn;

double cpu_now() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The published 1D CNN shape: input 93 x channels, Conv1D `filters` k=10
// valid ReLU, Dropout 0.5, MaxPooling1D 2, Flatten, Dense 256 ReLU, Dense
// `classes` softmax.
Model one_d(std::int64_t channels, std::int64_t filters, std::int64_t classes) {
  Model m(Shape{93, channels});
  m.add(std::make_unique<Conv>("conv1d", ConvSpec{1, filters, {10}, {}, Padding::valid, Activation::relu}));
  m.add(std::make_unique<Dropout>("dropout", 0.5));
  m.add(std::make_unique<MaxPool>("pool", PoolSpec{1, {2}, {}, Padding::valid}));
  m.add(std::make_unique<Flatten>("flatten"));
  m.add(std::make_unique<Dense>("dense", 256, Activation::relu));
  m.add(std::make_unique<Dense>("out", classes, Activation::softmax));
  return m;
}

Model cnn_3d() {
  Model m(Shape{20, 20, 20, 1});
  m.add(std::make_unique<Conv>("conv3d_1", ConvSpec{3, 16, {3, 3, 3}, {}, Padding::valid, Activation::relu}));
  m.add(std::make_unique<MaxPool>("pool_1", PoolSpec{3, {2, 2, 2}, {}, Padding::valid}));
  m.add(std::make_unique<Conv>("conv3d_2", ConvSpec{3, 32, {3, 3, 3}, {}, Padding::valid, Activation::relu}));
  m.add(std::make_unique<MaxPool>("pool_2", PoolSpec{3, {2, 2, 2}, {}, Padding::valid}));
  m.add(std::make_unique<Flatten>("flatten"));
  m.add(std::make_unique<Dense>("dense", 64, Activation::relu));
  m.add(std::make_unique<Dense>("out", 2, Activation::softmax));
  return m;
}

// Glorot uniform kernels (fan in/out as Keras: receptive field x channels),
// biases uniform in [-0.1, 0.1], so that no layer saturates.
void randomise(Model& m, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < m.size(); ++i) {
    for (Param& p : m.layer(i).params()) {
      double limit = 0.1;
      if (p.name == "kernel") {
        std::int64_t receptive = 1;
        for (std::size_t a = 0; a + 2 < p.shape.size(); ++a) receptive *= p.shape[a];
        const double fan_in = double(receptive * p.shape[p.shape.size() - 2]);
        const double fan_out = double(receptive * p.shape.back());
        limit = std::sqrt(6.0 / (fan_in + fan_out));
      }
      std::uniform_real_distribution<float> d(float(-limit), float(limit));
      for (float& v : p.value) v = d(rng);
    }
  }
}

std::vector<float> random_inputs(std::int64_t n, float scale, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(0.0f, scale);
  std::vector<float> x(static_cast<std::size_t>(n));
  for (float& v : x) v = d(rng);
  return x;
}

struct Case {
  std::string name;
  Model model;
  std::vector<float> x;
  std::int64_t samples = 0;
};

std::int64_t g_batch = 256;
std::vector<std::unique_ptr<Case>> g_cases;

void BM_predict(benchmark::State& state, const Case* c) {
  for (auto _ : state) {
    Tensor y = c->model.predict(c->x.data(), c->samples, g_batch);
    benchmark::DoNotOptimize(y.data.data());
  }
  state.counters["samples_per_s"] =
      benchmark::Counter(double(c->samples), benchmark::Counter::kIsIterationInvariantRate);
}

struct Timing {
  double cpu_rate = 0, wall_rate = 0;
  int reps = 0;
  std::string path;  // convolution path that ran
};

Timing time_aptflow(Case& c, ConvAlgorithm algo, double min_time) {
  c.model.set_conv_algorithm(algo);
  (void)c.model.predict(c.x.data(), std::min<std::int64_t>(c.samples, g_batch), g_batch);  // warm-up
  Timing t;
  double cpu = 0, wall = 0;
  while (wall < min_time || t.reps < 2) {
    const double c0 = cpu_now(), w0 = wall_now();
    Tensor y = c.model.predict(c.x.data(), c.samples, g_batch);
    benchmark::DoNotOptimize(y.data.data());
    cpu += cpu_now() - c0;
    wall += wall_now() - w0;
    ++t.reps;
  }
  t.cpu_rate = double(c.samples) * t.reps / cpu;
  t.wall_rate = double(c.samples) * t.reps / wall;
  t.path = c.model.conv_path() ? std::string(conv_path_name(*c.model.conv_path())) : "none";
  c.model.set_conv_algorithm(ConvAlgorithm::automatic);
  return t;
}

std::filesystem::path script_path() {
  if (const char* src = std::getenv("APTFLOW_SOURCE_DIR"))
    return std::filesystem::path(src) / "benchmarks" / "ref_cnn_torch.py";
  return std::filesystem::path(__FILE__).parent_path() / "ref_cnn_torch.py";
}

struct RefResult {
  bool skipped = false;
  std::string why;
  double max_abs_diff = 0;
  Timing timing;
};

double json_field(const std::string& text, const std::string& key) {
  const auto pos = text.find("\"" + key + "\":");
  if (pos == std::string::npos)
    throw ResourceError("bench_cnn: the python output lacks \"" + key + "\" (" + text +
                        "); check benchmarks/ref_cnn_torch.py");
  return std::stod(text.substr(pos + key.size() + 3));
}

// Saves the model and inputs, runs the torch reference, compares outputs.
RefResult run_reference(const Case& c, double min_time) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("aptflow_bench_cnn_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path model_path = dir / (c.name + ".h5"), in_path = dir / "x.f32", out_path = dir / "y.f32";
  save_model(c.model, model_path.string());
  {
    std::ofstream f(in_path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(c.x.data()), std::streamsize(c.x.size() * sizeof(float)));
    if (!f) throw ResourceError("bench_cnn: cannot write '" + in_path.string() + "'; check the temp dir");
  }
  std::ostringstream cmd;
  cmd << "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /usr/bin/python3 " << script_path() << " --model " << model_path
      << " --input " << in_path << " --out " << out_path << " --batch " << g_batch << " --min-time "
      << min_time << " 2>&1";
  FILE* pipe = ::popen(cmd.str().c_str(), "r");
  if (!pipe) throw ResourceError("bench_cnn: cannot start /usr/bin/python3; install python3");
  std::string text;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) text += buf;
  const int status = ::pclose(pipe);
  RefResult r;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
    r.skipped = true;
    r.why = text;
    fs::remove_all(dir);
    return r;
  }
  if (status != 0)
    throw ResourceError("bench_cnn: the torch reference failed (" + text +
                        "); check /usr/bin/python3 has numpy, h5py and torch (scripts/setup.sh)");
  r.timing.wall_rate = json_field(text, "samples_per_s");
  r.timing.cpu_rate = json_field(text, "cpu_samples_per_s");
  r.timing.reps = int(json_field(text, "reps"));
  std::cout << "torch reference (" << c.name << "): " << text;

  const Tensor y = c.model.predict(c.x.data(), c.samples, g_batch);
  std::vector<float> ref(y.data.size());
  {
    std::ifstream f(out_path, std::ios::binary | std::ios::ate);
    if (!f || std::size_t(f.tellg()) != ref.size() * sizeof(float))
      throw ResourceError("bench_cnn: the torch output '" + out_path.string() + "' has the wrong size");
    f.seekg(0);
    f.read(reinterpret_cast<char*>(ref.data()), std::streamsize(ref.size() * sizeof(float)));
  }
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(double(ref[i]) - double(y.data[i]));
    if (!(d <= r.max_abs_diff)) r.max_abs_diff = std::isnan(d) ? INFINITY : d;
  }
  fs::remove_all(dir);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  std::int64_t n1 = 4096, n3 = 1024;
  double min_time = 2.0;
  std::string only;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0)
      smoke = true;
    else if (std::strncmp(argv[i], "--batch=", 8) == 0)
      g_batch = std::max(1LL, std::atoll(argv[i] + 8));
    else if (std::strncmp(argv[i], "--samples1d=", 12) == 0)
      n1 = std::max(1LL, std::atoll(argv[i] + 12));
    else if (std::strncmp(argv[i], "--samples3d=", 12) == 0)
      n3 = std::max(1LL, std::atoll(argv[i] + 12));
    else if (std::strncmp(argv[i], "--min-time=", 11) == 0)
      min_time = std::atof(argv[i] + 11);
    else if (std::strncmp(argv[i], "--only=", 7) == 0)
      only = argv[i] + 7;
    else
      args.push_back(argv[i]);
  }
  if (smoke) {
    n1 = 64;
    n3 = 16;
    g_batch = std::min<std::int64_t>(g_batch, 32);
    min_time = 0.01;
  }
  int n_args = static_cast<int>(args.size());
  args.push_back(nullptr);  // argv[argc] == nullptr, as MPI_Init expects
  char** a = args.data();
  aptflow::Runtime runtime(n_args, a);
  aptflow::blas_set_num_threads(1);
  int failures = 0;
  try {
    auto add = [&](const char* name, Model model, std::int64_t n, std::int64_t sample, float scale,
                   std::uint32_t seed) {
      if (!only.empty() && ("," + only + ",").find(std::string(",") + name + ",") == std::string::npos)
        return;
      auto c = std::make_unique<Case>(Case{name, std::move(model), {}, n});
      randomise(c->model, seed);
      c->x = random_inputs(n * sample, scale, seed + 1);
      g_cases.push_back(std::move(c));
    };
    add("feal_1d", one_d(2, 64, 3), n1, 93 * 2, 1.0f, 11);
    add("alli_1d", one_d(4, 16, 2), n1, 93 * 4, 1.0f, 21);
    add("cnn_3d", cnn_3d(), n3, 20 * 20 * 20, 3.0f, 31);

    for (const auto& c : g_cases)
      benchmark::RegisterBenchmark(("predict/" + c->name).c_str(), BM_predict, c.get())
          ->Unit(benchmark::kMillisecond);
    std::vector<char*> bargs(a, a + n_args);
    std::string bmin = "--benchmark_min_time=0.001";
    if (smoke) bargs.push_back(bmin.data());
    int bn = static_cast<int>(bargs.size());
    benchmark::Initialize(&bn, bargs.data());
    if (benchmark::ReportUnrecognizedArguments(bn, bargs.data())) return 1;
    benchmark::AddCustomContext("blas_threads", std::to_string(aptflow::blas_num_threads()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();

    std::printf(
        "\nCNN inference, one thread per process, batch %lld (samples/s of CPU time, wall in brackets)\n",
        static_cast<long long>(g_batch));
    for (const auto& c : g_cases) {
      const Timing ta = time_aptflow(*c, ConvAlgorithm::automatic, min_time);
      const Timing ti = time_aptflow(*c, ConvAlgorithm::im2col, min_time);
      const RefResult r = run_reference(*c, min_time);
      std::printf("  %-8s aptflow %-18s: %10.0f samples/s (%.0f), %lld samples x %d reps\n", c->name.c_str(),
                  ta.path.c_str(), ta.cpu_rate, ta.wall_rate, static_cast<long long>(c->samples), ta.reps);
      std::printf("  %-8s aptflow %-18s: %10.0f samples/s (%.0f), %lld samples x %d reps\n", c->name.c_str(),
                  ti.path.c_str(), ti.cpu_rate, ti.wall_rate, static_cast<long long>(c->samples), ti.reps);
      if (r.skipped) {
        std::printf("  %-8s pytorch : reference skipped: %s", c->name.c_str(), r.why.c_str());
        continue;
      }
      std::printf("  %-8s pytorch : %10.0f samples/s (%.0f), max |aptflow - torch| = %.3g\n", c->name.c_str(),
                  r.timing.cpu_rate, r.timing.wall_rate, r.max_abs_diff);
      std::printf("  %-8s ratio aptflow/pytorch: %.2f (%.2f wall) %s; %.2f (%.2f wall) %s%s\n",
                  c->name.c_str(), ta.cpu_rate / r.timing.cpu_rate, ta.wall_rate / r.timing.wall_rate,
                  ta.path.c_str(), ti.cpu_rate / r.timing.cpu_rate, ti.wall_rate / r.timing.wall_rate,
                  ti.path.c_str(), r.max_abs_diff < 1e-4 ? "" : "  OUTPUTS DIFFER");
      if (!(r.max_abs_diff < 1e-4)) ++failures;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cnn: %s\n", e.what());
    g_cases.clear();
    return 1;
  }
  g_cases.clear();
  if (failures != 0) {
    std::fprintf(stderr, "bench_cnn: aptflow and torch outputs differ by >= 1e-4 for %d model(s)\n",
                 failures);
    return 1;
  }
  return 0;
}
