#pragma once
// `aptflow cluster` (docs/cli.md "aptflow cluster"): DBSCAN domains of a
// point cloud, e.g. an extraction of labelled ions, and of an optional
// control cloud (its shuffled-m/q counterpart), with the domain size
// histograms and the real-versus-control statistics. MPI-parallel over z
// slabs with the distributed DBSCAN of pipeline/segment.hpp (same domains,
// ids and statistics on any number of ranks).
//
// Which ions take part: every ion, ranged or not (the published cluster
// analysis clusters the whole extraction), or with `species` the ions of
// those ion types (needs a range file); only those inside the region of
// interest when one is given. One class: every taking part ion is class 0.
//
// transform.align (docs/alignment.md): resolved on the ranged ions of the
// input cloud inside the region of interest (input coordinates, as in
// classify), applied to the ions that take part before the decomposition and
// DBSCAN (the control cloud is turned by the same rotation); per-ion results
// stay in input order, domain centroids and axes are mapped back to input
// coordinates, /entry1/alignment records the rotation.
#include <mpi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aptflow/pipeline/align.hpp"
#include "aptflow/pipeline/roi.hpp"
#include "aptflow/pipeline/segment.hpp"

namespace aptflow {

struct ClusterOptions {
  std::string input;                 // point cloud (POS, EPOS, APT, aptflow HDF5)
  std::string range;                 // range file; needed for species
  std::vector<std::string> species;  // ion types that take part; empty: every ion
  std::string control;               // optional second cloud (e.g. the shuffled-m/q extraction)
  DomainSpec domains;                // eps, min_samples, histogram; volumes
  Roi roi;
  std::string out;  // HDF5 result (+ XDMF sidecar); empty: none
  bool drop_nonfinite = false;
  AlignSpec align;  // transform.align (parse_align); none: the ions as read
  // Defaults of the verb: the published analysis (32 bins over 0 - 160 ions,
  // larger domains in the last bin).
  static ClusterOptions published();
};

struct CloudDomains {
  std::string file;
  std::int64_t ions = 0;            // ions of the file
  std::int64_t clustered_ions = 0;  // ions that take part (species, region of interest)
  std::int64_t domain_ions = 0;     // members of a domain
  std::int64_t noise_ions = 0;      // taking part, in no domain
  std::vector<DomainStats> domains;
  SizeHistogram histogram;
};

struct ClusterResult {
  CloudDomains real;
  std::optional<CloudDomains> control;
  HistogramComparison stats;  // real vs control (only with a control)
  Alignment alignment;        // the rotation applied (none: identity)
  double seconds = 0;
};

// Collective over comm. Errors (InputError, ConfigError: one line, exit 2 in
// the CLI) before anything is written: a species not in the range file, a
// cloud or control without ions of the species, a region of interest holding
// none, a histogram with zero bins. Writes opt.out (collectively) when set.
ClusterResult run_cluster(MPI_Comm comm, const ClusterOptions& opt);

// One JSON object: input, ions, clustered_ions, domains, domain_ions,
// noise_ions, size_histogram, histogram {bins, lo, hi, overflow}, eps,
// min_samples, and with a control: control {file, ions, clustered_ions,
// domains, noise_ions, size_histogram, pearson_r, chi2, contingency (the
// published definitions), chi2_homogeneity, contingency_homogeneity, dof,
// bins_used}.
std::string cluster_json(const ClusterResult& r, const ClusterOptions& opt);
// Human-readable summary.
std::string cluster_text(const ClusterResult& r, const ClusterOptions& opt);

}  // namespace aptflow
