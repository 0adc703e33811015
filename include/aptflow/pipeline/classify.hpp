#pragma once
// `aptflow classify` (docs/classify.md): dataset -> window z-SDMs -> ensemble
// class probabilities -> sub-cells -> ion labels -> DBSCAN domains, under the
// z-slab MPI decomposition; optional shuffled-m/q control runs; checkpoint and
// resume. The output file does not depend on the number of ranks (the tests
// check byte equality of every dataset outside /entry1/profiling).
#include <mpi.h>

#include <array>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aptflow/core/config.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/kernels/windows.hpp"
#include "aptflow/pipeline/align.hpp"
#include "aptflow/pipeline/roi.hpp"
#include "aptflow/pipeline/segment.hpp"
#include "aptflow/sdm/preprocess.hpp"

namespace aptflow {

// Exit status of `aptflow classify` after a stop request (SIGTERM, SIGUSR1):
// the checkpoint is written; rerun with --resume (sysexits EX_TEMPFAIL).
inline constexpr int kClassifyExitStopped = 75;

struct ClassifyOptions {
  std::string input;                // dataset (POS, EPOS, APT, aptflow HDF5)
  std::string range;                // range file
  std::vector<std::string> models;  // one or more model files (mean of probabilities)
  // Set when a `model` file was missing and `model_fallback` was used instead:
  // the line printed at the start of the run.
  std::string model_note;
  std::string output;  // result HDF5 file
  // z-SDM species pairs "A-B" (ion-type names of the range file), one input
  // channel each, in the model's channel order (config key `pair`: a string
  // or a list).
  std::vector<std::string> pairs = {"Al-Al"};
  // model_pairs = "any": a one-channel model may be applied to another pair
  // than the one it records (the CoCrNi paper applies its Co-Co model to
  // Ni-Ni and Cr-Cr z-SDMs); "match" (default): the pairs must agree.
  bool any_model_pair = false;
  WindowVariant variant = WindowVariant::cocrni;
  double edge = 1.0, stride = 0.5;  // nm
  // windows.box = [x0, y0, z0, x1, y1, z1] (nm): the published window
  // placement on this fixed box (WindowGrid::on_box) instead of the bounds of
  // the (ROI's) ions.
  std::optional<std::array<double, 6>> window_box;
  // roi.box / roi.cylinder (+ roi.z): only the ions inside take part.
  Roi roi;
  // transform.align (+ transform.cone, ...; docs/alignment.md): the ions are
  // turned so that the lattice pole lies on z before the windows are computed.
  AlignSpec align;
  // sdm.exclude, sdm.arithmetic (docs/sdm.md "Published rules").
  SdmExclude sdm_exclude = SdmExclude::self;
  SdmArithmetic sdm_arithmetic = SdmArithmetic::float32;
  // preprocess.mode: "auto" (default: what an aptflow model file records; a
  // Keras file, which records nothing, gets "experimental" on dataset
  // windows), "experimental", "minmax_only" or "none"; preprocess.background:
  // the clipping loop (aptflow's or the published one).
  std::string preprocessing = "auto";
  sdm::BackgroundClip background = sdm::BackgroundClip::aptflow;
  std::int64_t chunk = 4096;  // windows per SDM / network pass (and per checkpoint round)
  SegmentSpec segment;        // thresholds (one per class), ion radius, DBSCAN, size histogram
  // device (`--device`): where the window z-SDMs and the CNN run: "auto" (the
  // GPU in a build with a GPU backend, else the host), "host" or "gpu"
  // (pipeline/device_stages.hpp). A run-control key like progress: not part
  // of /entry1/config nor of the checkpoint identity.
  DeviceChoice device = DeviceChoice::automatic;
  bool progress = true;                   // progress on rank 0 (stderr): bar on a terminal, else lines
  double progress_interval = 5;           // seconds between progress lines when stderr is not a terminal
  bool resume = false;                    // continue from checkpoint_path(output) when it exists
  std::int64_t shuffle_mq = 0;            // shuffled m/q control runs after the real run
  std::uint64_t shuffle_seed = 20231121;  // control run j permutes with seed shuffle_seed + j
  // Effective configuration without the run-control keys (resume, progress):
  // stored in /entry1/config and part of the checkpoint identity.
  std::string config_text;
  // Stop request, e.g. a flag set by a signal handler. When it reads non-zero
  // on any rank, every rank finishes its current chunk of windows, the
  // checkpoint is written and run_classify returns with stopped = true (no
  // output file). nullptr: never stops.
  const volatile std::sig_atomic_t* stop = nullptr;
  // Tests only: milliseconds every rank sleeps after each round of windows
  // (the CLI reads it from APTFLOW_TEST_CHUNK_SLEEP_MS).
  int test_chunk_sleep_ms = 0;
  // Tests only: this rank (of comm) throws InternalError in its second round
  // of windows of the real run (-1: never); checks that an error inside the
  // rounds reaches every rank.
  int test_fail_rank = -1;
  // Tests only: run the device path (pipeline/device_stages.hpp) on
  // Kokkos::DefaultExecutionSpace even in a build without a GPU.
  bool test_device_path = false;
  // Optional specimen truth file (aptflow synth specimen): after the output is
  // written, rank 0 compares with it and adds /entry1/truth (pipeline/truth.hpp).
  std::string truth;
};

// Read every key of cfg (ConfigError naming the key for a missing or bad value,
// and for any key that is not read: a typo). Keys: input, range, model (string
// or list), model_fallback, model_pairs, output, pair (string or list),
// windows.{variant,edge,stride,chunk,box}, roi.{box,cylinder,z}, transform.* (align),
// sdm.{exclude,arithmetic}, preprocess.{mode,background},
// segment.{thresholds,ion_radius,rule,smoothing,empty_window,composition.*},
// domains.{eps,min_samples,atomic_density,detection_efficiency},
// domains.histogram.{bins,lo,hi,overflow}, control.{shuffle_mq,seed},
// progress, resume, device, truth (docs/classify.md).
ClassifyOptions parse_classify_config(const Config& cfg);

// A relative model path as given when it exists (from the working directory),
// else the first existing <dir>/<model> for dir = the directory of
// config_file and each of its parents (so the shipped configs find the
// shipped models/ from any working directory); unchanged when none exists.
std::string resolve_model_path(const std::string& model, const std::string& config_file);

// Checkpoint file of an output: "<output>.checkpoint.h5".
std::string classify_checkpoint_path(const std::string& output);
// The XDMF sidecar written next to the result: output with extension .xdmf.
std::string classify_xdmf_path(const std::string& output);

struct ControlRun {
  std::uint64_t seed = 0;  // dist::shuffle_mq(..., seed, 0)
  std::int64_t domains = 0;
  HistogramComparison vs_real;  // real-run vs this run's domain size histogram
  std::vector<std::int64_t> size_histogram;
};

struct ClassifySummary {
  std::int64_t ions = 0, windows = 0, empty_windows = 0, labelled_ions = 0, domains = 0;
  std::vector<std::int64_t> ions_per_class;  // labelled ions per class
  std::vector<std::int64_t> size_histogram;  // domain sizes of the real run (segment.domains.histogram)
  std::vector<ControlRun> control;           // one per shuffled m/q run
  std::int64_t windows_computed = 0;         // by this call (the others came from a checkpoint)
  std::int64_t input_ions = 0;               // ions of the dataset (ions = those in the ROI)
  std::string preprocessing;                 // what ran, e.g. "experimental (... published clipping)"
  std::string preprocessing_reason;  // why, e.g. "auto: the Keras model records no preprocessing; ..."
  bool resumed = false;              // windows were taken from a checkpoint
  bool stopped = false;              // stop request: checkpoint written, no output
  std::string checkpoint;            // classify_checkpoint_path(output)
  double seconds = 0;
};

// Collective over comm: the whole pipeline; writes options.output (to
// "<output>.tmp", renamed when complete; see docs/classify.md for the layout)
// and removes the checkpoint. Errors on any rank are raised on every rank.
ClassifySummary run_classify(MPI_Comm comm, const ClassifyOptions& options);

}  // namespace aptflow
