#pragma once
// Training of aptflow's CNNs on synthetic libraries (method.md section 5,
// docs/training.md): a Sequential architecture from a TOML layer list,
// min-max preprocessing per row and channel (recorded in the model's
// ModelFeatures so that predict applies the same), stratified train/test
// split, optional stratified k-fold cross-validation (the fold ensemble),
// augmentation by bin shifts, Adam / RMSprop, categorical or binary
// cross-entropy, and MPI data parallelism (each rank computes the gradient of
// its share of every global batch; the sums are combined with MPI_Allreduce,
// so every rank applies the same update).
//
// Randomness is counter based (Philox-4x32-10 keyed by the seed) and a pure
// function of (seed, purpose, indices): the split, the fold assignment, the
// shuffling of each epoch, the augmentation shifts, the initial weights and
// the dropout masks do not depend on the number of ranks.
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aptflow/core/config.hpp"
#include "aptflow/nn/loss.hpp"
#include "aptflow/nn/model.hpp"
#include "aptflow/nn/optim.hpp"
#include "aptflow/nn/train_config.hpp"

namespace aptflow::nn {

// ------------------------------------------------------------------ data

// Labelled samples ready for the network: (samples, bins..., channels).
struct LabelledData {
  Tensor x;
  std::vector<std::int32_t> labels;
  std::vector<std::int64_t> rows;  // row of each sample in the library file
  std::vector<std::string> class_names;
  ModelFeatures features;                 // kind, pairs, bins, normalisation, preprocessing
  std::int64_t file_rows = 0;             // rows in the library file
  std::vector<std::int32_t> file_labels;  // label of every file row
  std::int64_t dropped = 0;               // rows left out: NaN after preprocessing (constant curves)
  std::string source;
};

struct DataOptions {
  std::string kind;                           // "" = the only kind in the file
  std::vector<std::string> pairs;             // empty = every pair of that kind, sorted
  std::string preprocessing = "minmax_only";  // none | minmax_only | experimental (z only)
  std::string variant = "cocrni";             // background window of `experimental`
  std::int64_t subsample = 1;                 // keep file rows r with r % subsample == 0
};

// True for the published Fe-Al z-SDM bank layout (groups BCC, B2, D03 with
// datasets FeFe, AlAl (curves, 93); ../shared/data/mlapt/feal_zsdm_bank.h5).
bool is_feal_bank(const std::string& path);

// Rows of a library file (features/<kind>/<A>-<B>, labels, class_names;
// docs/file-layouts.md) or of the Fe-Al bank (read as a library with classes
// BCC, B2, D0_3, kind z, pairs Fe-Fe and Al-Al, rows BCC then B2 then D03),
// stacked as channels (last axis) and preprocessed per row and channel.
// InputError naming the file for a missing part.
LabelledData load_labelled(const std::string& path, const DataOptions& options);

// Write the Fe-Al bank as an aptflow library file (so that `aptflow predict`
// reads it too).
void convert_feal_bank(const std::string& bank, const std::string& out);

// ------------------------------------------------------------------ splits and randomness

// Purposes of the training random streams.
enum class TrainRng : std::uint32_t { split = 1, fold = 2, shuffle = 3, augment = 4, init = 5 };
// 64 random bits, a pure function of (seed, purpose, a, b).
std::uint64_t train_random(std::uint64_t seed, TrainRng purpose, std::uint64_t a, std::uint64_t b = 0);

// Stratified split of the rows `rows` with labels `labels` (parallel arrays):
// in each class the rows are ordered by train_random(seed, split, row) and
// the first round(n_c * test_fraction) go to the test set. Both lists are in
// increasing row order.
struct Split {
  std::vector<std::int64_t> train, test;
};
Split stratified_split(const std::vector<std::int64_t>& rows, const std::vector<std::int32_t>& labels,
                       double test_fraction, std::uint64_t seed);

// Stratified k-fold assignment: in each class the rows are ordered by
// train_random(seed, fold, row) and the i-th gets fold i % k. Returns the
// fold of each row (parallel to rows).
std::vector<int> stratified_folds(const std::vector<std::int64_t>& rows,
                                  const std::vector<std::int32_t>& labels, int k, std::uint64_t seed);

// Shift sample x (bins..., channels) by `shift` bins along the first bin
// axis (the dz axis), zero padded: out[i] = x[i - shift].
void shift_sample(const float* x, const Shape& sample_shape, int shift, float* out);

// ------------------------------------------------------------------ configuration

struct TrainSpec {
  std::uint64_t seed = 0;
  DataOptions data;
  nlohmann::json layers = nlohmann::json::array();  // architecture layer entries (docs/models.md)
  OptimizerSpec optimizer;
  LossKind loss = LossKind::categorical_crossentropy;
  std::int64_t epochs = 30;
  std::int64_t batch_size = 32;
  double test_fraction = 0.2;
  int folds = 1;                   // >= 2: stratified k-fold ensemble
  int shift_lo = 0, shift_hi = 0;  // augmentation shift range (bins, inclusive)
  int augment_copies = 0;          // extra shifted copies of each training sample
  std::string config_text;         // effective TOML (provenance)

  // Every key of docs/training.md; Config::check_all_used is left to the caller.
  static TrainSpec from_config(const Config& cfg);
  nlohmann::json to_json() const;
};

// A model of that architecture on `input_shape`, weights initialised as
// Keras does by default (kernels Glorot-uniform: U(-l, l), l = sqrt(6 /
// (fan_in + fan_out)), fan = kernel taps x channels; biases zero), drawn from
// train_random(seed, init, layer, element).
Model build_model(const nlohmann::json& layers, const Shape& input_shape, std::uint64_t seed);

// ------------------------------------------------------------------ training

struct EpochMetrics {
  int fold = 0, epoch = 0;  // 0-based
  double loss = 0, accuracy = 0;
  double val_loss = 0, val_accuracy = 0;  // NaN-free: 0 when there is no validation set
  std::int64_t samples = 0;               // training samples seen (with augmentation)
  double seconds = 0, samples_per_second = 0;
  nlohmann::json to_json() const;
};

struct TrainResult {
  std::vector<Model> members;             // one per fold (one without cross-validation)
  std::vector<EpochMetrics> history;      // every epoch of every fold
  Split split;                            // library rows
  std::vector<std::int32_t> test_labels;  // of the test samples (rows in split order, NaN rows left out)
  std::vector<std::int32_t> test_predicted;
  double test_accuracy = 0;
  double seconds = 0;
};

using ProgressFn = std::function<void(const EpochMetrics&, int folds, std::int64_t epochs)>;

// Train on `data` (identical on every rank of comm; comm may be
// MPI_COMM_NULL for one process). Every rank returns the same members.
// The members carry class names, features and the training JSON
// (config, split, history, test metrics).
TrainResult train(const TrainSpec& spec, const LabelledData& data, MPI_Comm comm,
                  const ProgressFn& progress = {});

}  // namespace aptflow::nn
