// aptflow classify through the executable under mpirun: SIGTERM to one rank
// of an np-2 run mid-windows gives exit 75, a checkpoint and no output; the
// --resume run on one rank gives the same bytes as an uninterrupted np-2 run
// (every dataset outside /entry1/profiling, compared with h5py); a truncated
// input and a bad range file end both ranks with exit 2 and one message, as do
// a segment.composition class the model lacks or an ion type the range file lacks.
// APTFLOW_TEST_CHUNK_SLEEP_MS (test-only) makes each round of windows slow.
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "aptflow/core/config.hpp"
#include "aptflow/nn/layers.hpp"
#include "aptflow/nn/model.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "aptflow/synth/specimen.hpp"
#include "test_util.hpp"

namespace nn = aptflow::nn;
using aptflow::test::run_command;

namespace {

// mpirun for a child job without this process's own MPI job variables.
struct CliSetup {
  aptflow::test::TempDir dir;
  std::string config;
  aptflow::synth::SpecimenFiles files;
  CliSetup() {
    auto scfg = aptflow::Config::from_file(
        (aptflow::test::source_dir() / "configs/synth/demo_specimen.toml").string());
    scfg.apply_overrides({"specimen.size=[7.0, 7.0, 9.0]", "domains.delta_prime.count=2", "name=\"cli\""});
    files = aptflow::synth::write_specimen(MPI_COMM_SELF, scfg, (dir / "spec").string());
    // The shipped model (its GEMM bits depend on the batch layout; see classify).
    const auto model = (aptflow::test::source_dir() / "models/alli_demo_1dcnn.h5").string();
    config = (dir / "c.toml").string();
    std::ofstream(config) << "input = " << aptflow::test::shell_quote(files.pos)
                          << "\nrange = " << aptflow::test::shell_quote(files.rrng)
                          << "\nmodel = " << aptflow::test::shell_quote(model)
                          << "\noutput = " << aptflow::test::shell_quote((dir / "out.h5").string())
                          << "\nprogress = true\n[windows]\nchunk = 40\n[segment]\nthresholds = [inf, 3.0]\n";
  }
  std::string classify(int np, const std::string& extra = "") const {
    return aptflow::test::child_mpirun(np) + aptflow::test::aptflow_exe() + " classify --config " +
           aptflow::test::shell_quote(config) + " " + extra;
  }
};

}  // namespace

TEST(ClassifyCli, SigtermCheckpointsAndResumeGivesTheSameBytes) {
  CliSetup s;
  const auto out = (s.dir / "out.h5").string(), ref = (s.dir / "ref.h5").string();
  auto r = run_command(s.classify(2, "--set progress=false"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The ParaView sidecar names the result by its file name (checked in detail by test_xdmf.cpp).
  const auto xdmf = aptflow::classify_xdmf_path(out);
  ASSERT_TRUE(std::filesystem::exists(xdmf)) << xdmf;
  {
    std::ifstream in(xdmf);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("out.h5:/entry1/windows/probability"), std::string::npos) << text;
  }
  std::filesystem::rename(out, ref);
  // Signal one rank once the windows have started; every rank stops.
  const auto log = (s.dir / "log.txt").string();
  r = run_command(
      "APTFLOW_TEST_CHUNK_SLEEP_MS=40 " + s.classify(2) + " > " + aptflow::test::shell_quote(log) +
      " 2>&1 & m=$!; for i in $(seq 300); do grep -q 'aptflow classify: windows:' " +
      aptflow::test::shell_quote(log) + " 2>/dev/null" +
      " && break; sleep 0.05; done; sleep 0.4; kill -TERM $(pgrep -P $m | head -n 1); wait $m; echo "
      "\"rc=$?\"; cat " +
      aptflow::test::shell_quote(log));
  EXPECT_NE(r.output.find("rc=75"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stop requested"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  ASSERT_TRUE(std::filesystem::exists(aptflow::classify_checkpoint_path(out))) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
  // Resume on one rank.
  r = run_command(s.classify(1, "--resume --set progress=false"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("from the checkpoint"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(aptflow::classify_checkpoint_path(out)));
  const auto py = (s.dir / "cmp.py").string();
  std::ofstream(py) << R"(import sys, h5py
a, b = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
bn = []
b.visititems(lambda n, o: bn.append(n) if isinstance(o, h5py.Dataset) else None)
assert sorted(names) == sorted(bn), (names, bn)
n = 0
for k in names:
    if k.startswith('entry1/profiling'):
        continue
    x, y = a[k][()], b[k][()]
    xb = x.tobytes() if hasattr(x, 'tobytes') else repr(x).encode()
    yb = y.tobytes() if hasattr(y, 'tobytes') else repr(y).encode()
    assert xb == yb, k
    n += 1
print('same', n)
)";
  r = run_command(aptflow::test::python_exe() + " " + aptflow::test::shell_quote(py) + " " +
                  aptflow::test::shell_quote(out) + " " + aptflow::test::shell_quote(ref));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("same "), std::string::npos) << r.output;
}

TEST(ClassifyCli, InputErrorsEndEveryRankWithExitTwo) {
  CliSetup s;
  // Truncated POS: the last record is cut.
  const auto bad = (s.dir / "bad.pos").string();
  std::filesystem::copy_file(s.files.pos, bad);
  std::filesystem::resize_file(bad, std::filesystem::file_size(bad) - 7);
  auto r = run_command("timeout 60 " +
                       s.classify(2, "--set input=" + aptflow::test::shell_quote("\"" + bad + "\"")));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("bad.pos"), std::string::npos) << r.output;
  // A NaN z in the last record: only the last rank's block holds it.
  const auto nan = (s.dir / "nan.pos").string();
  std::filesystem::copy_file(s.files.pos, nan);
  {
    std::fstream f(nan, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(nan) - 8));
    const unsigned char qnan_be[4] = {0x7f, 0xc0, 0x00, 0x00};  // POS is big-endian float32
    f.write(reinterpret_cast<const char*>(qnan_be), 4);
  }
  r = run_command("timeout 60 " +
                  s.classify(2, "--set input=" + aptflow::test::shell_quote("\"" + nan + "\"")));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("nan.pos"), std::string::npos) << r.output;
  // A range file without the pair's ion type.
  const auto rrng = (s.dir / "bad.rrng").string();
  std::ofstream(rrng)
      << "[Ions]\nNumber=1\nIon1=Li\n[Ranges]\nNumber=1\nRange1=6.5 7.5 Vol:0.01 Li:1 Color:FF0000\n";
  r = run_command("timeout 60 " +
                  s.classify(2, "--set range=" + aptflow::test::shell_quote("\"" + rrng + "\"")));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("Al"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(s.dir / "out.h5"));
  // --device: a bad word, and gpu in a build without a GPU backend.
  r = run_command("timeout 60 " + s.classify(2, "--device tpu"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("auto, host or gpu"), std::string::npos) << r.output;
  if (!aptflow::have_gpu_backend()) {
    r = run_command("timeout 60 " + s.classify(2, "--device gpu"));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("GPU backend"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(s.dir / "out.h5"));
}

TEST(ClassifyCli, CompositionClassAndSpeciesCheckedAgainstModelAndRanges) {
  CliSetup s;
  const std::string interp = "--set segment.rule=" + aptflow::test::shell_quote("\"interpolate\"") + " ";
  // A class the model does not have (alli_demo: FCC, L1_2).
  auto r = run_command(
      "timeout 60 " +
      s.classify(1, interp + "--set segment.composition.class=" + aptflow::test::shell_quote("\"B2\"") +
                        " --set segment.composition.species=" + aptflow::test::shell_quote("[\"Li\"]")));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("segment.composition.class"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("L1_2"), std::string::npos) << r.output;  // the classes it has
  // An ion type the range file does not have.
  r = run_command(
      "timeout 60 " +
      s.classify(1,
                 interp + "--set segment.composition.class=" + aptflow::test::shell_quote("\"L1_2\"") +
                     " --set segment.composition.species=" + aptflow::test::shell_quote("[\"Li\", \"Zn\"]")));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("segment.composition.species"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Zn"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(s.dir / "out.h5"));
}
