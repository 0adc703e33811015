#pragma once
// From window probabilities to domains (method.md section 6): DBSCAN on the
// labelled ions, per class, serial or over z slabs with halos (MPI), domain
// statistics, the domain size histogram and the control statistics.
// The sub-cell and ion-label kernels are in aptflow/kernels/segment.hpp;
// docs/segmentation.md has every definition in one place.
//
// DBSCAN as defined here (eps, min_samples as sklearn): two ions of the same
// class are neighbours iff d2 = (dx*dx + dy*dy) + dz*dz <= eps^2, in double from
// the float32 positions. An ion is core iff it has >= min_samples neighbours
// counting itself. Clusters = connected components of the core ions under the
// neighbour relation. Every cluster is named by the smallest global ion index
// (gid) of its core ions; domain ids 0, 1, ... number the clusters of all
// classes in increasing order of that name. A non-core ion with core
// neighbours (border ion) joins the neighbouring cluster with the lowest
// domain id; all other ions are noise (-1). This partition and numbering
// depend only on the positions, classes and gids: not on the ion order nor
// on the number of ranks.
#include <mpi.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/kernels/segment.hpp"

namespace aptflow {

struct SizeHistogramSpec {
  int bins = 32;    // paper: 32 bins over 0 - 160 ions
  double lo = 0;    // ions
  double hi = 160;  // ions
  // Domains of more than hi ions: left out (counted in overflow only;
  // aptflow's default) or put into the last bin as well (the published code
  // clips the sizes to hi before numpy's histogram).
  bool overflow_in_last_bin = false;
};
// "drop" | "last_bin" (config key domains.histogram.overflow); ConfigError(key) otherwise.
bool parse_histogram_overflow(const std::string& text, const std::string& key = "domains.histogram.overflow");

struct DomainSpec {
  double eps = 0.4;                    // nm (paper)
  int min_samples = 3;                 // neighbours within eps, itself included (paper, sklearn)
  double atomic_density = 84.6;        // atoms / nm^3 (bcc Fe, a = 0.287 nm); set per material
  double detection_efficiency = 0.37;  // detected fraction; set per instrument
  SizeHistogramSpec histogram;
  // Throws ConfigError naming segment.<key>.
  void validate() const;
};

// How ions get their class from the sub-cell sums (docs/segmentation.md).
//  subcell:     the paper's: an ion takes the label of a labelled sub-cell
//               centre within ion_radius (sub-cells thresholded).
//  interpolate: the sums, Gaussian-smoothed by `smoothing`, are interpolated
//               trilinearly at the ion, plus the composition evidence, and
//               thresholded per ion.
enum class IonRule { subcell, interpolate };
// Throws ConfigError (segment.rule) for another name.
IonRule parse_ion_rule(const std::string& name);
const char* ion_rule_name(IonRule rule);

// Composition evidence for one class (interpolate rule): the score of class
// `class_name` at ion i gains
//   weight * (solute(i) / ranged(i) - f) + ion_weight * [ion i is a solute],
// with ranged(i), solute(i) the ranged and solute ions within radius of i
// (aptflow/kernels/composition.hpp) and f the solute fraction of all ranged
// ions of the dataset (the fraction term is 0 when ranged(i) = 0).
struct CompositionEvidence {
  std::string class_name;            // empty: no composition evidence
  std::vector<std::string> species;  // solute ion types (range file names)
  double radius = 1.2;               // nm
  double weight = 0;                 // per unit of solute fraction above the dataset's
  double ion_weight = 0;             // added when the ion itself is a solute
  bool enabled() const { return !class_name.empty(); }
};

struct SegmentSpec {
  // Per class: a sub-cell passes for class c when its summed probability is
  // > thresholds[c]; +inf = never (matrix classes). With the interpolate
  // rule the ion's score is compared instead.
  std::vector<double> thresholds;
  double ion_radius = 0.3535;  // nm, stride / 2 * 1.414 (paper); subcell rule
  IonRule rule = IonRule::subcell;
  double smoothing = 0;  // nm, Gaussian sigma of the sums; interpolate rule
  // Empty windows in the sub-cell sums: add 0 (aptflow) or veto the
  // sub-cell (published); veto needs the subcell rule.
  EmptyWindow empty_window = EmptyWindow::zero;
  CompositionEvidence composition;
  DomainSpec domains;
  // Fe-Al (2023) classes BCC, B2, D0_3: thresholds {inf, 4.0, 3.75}.
  static SegmentSpec feal();
  // CoCrNi (2023) classes FCC, CSRO: thresholds {inf, 3.75}.
  static SegmentSpec cocrni();
  void validate(int n_classes) const;
};

// Labelled ions held by one rank (owned plus halo), in any order.
struct LabelledIons {
  std::vector<float> x, y, z;     // nm
  std::vector<std::int64_t> gid;  // global ion index, unique and rank-independent (e.g. file order)
  std::vector<std::int32_t> cls;  // class >= 0
  std::size_t size() const { return gid.size(); }
  void push_back(float px, float py, float pz, std::int64_t g, std::int32_t c);
};

// The ions of cloud with ion_label >= 0, gid = gid_offset + index in cloud.
LabelledIons collect_labelled_ions(const HostIonCloud& cloud,
                                   const Kokkos::View<std::int32_t*, Kokkos::HostSpace>& ion_label,
                                   std::int64_t gid_offset = 0);

// z-slab ownership: a rank owns the ions with z in [z_lo, z_hi) and must also
// hold every labelled ion with z in [z_lo - halo, z_lo) and [z_hi, z_hi + halo)
// (ions farther out are ignored). halo >= 2 eps (1 + 1e-6) wherever a bound is
// finite: core flags are exact within halo - eps of the owned slab.
struct Slab {
  double z_lo = -std::numeric_limits<double>::infinity();
  double z_hi = std::numeric_limits<double>::infinity();
  double halo = 0;
  bool owns(float z) const { return double(z) >= z_lo && double(z) < z_hi; }
};

struct DomainStats {
  std::int64_t id = -1;
  std::int32_t cls = -1;
  std::int64_t name = -1;  // smallest gid of its core ions
  std::int64_t ions = 0;   // core + border
  std::int64_t core_ions = 0;
  double volume = 0;               // nm^3 = ions / (atomic_density * detection_efficiency)
  double radius = 0;               // nm, equivalent sphere radius (3 volume / 4 pi)^(1/3)
  double centroid[3] = {0, 0, 0};  // nm
  double rg = 0;                   // nm, radius of gyration sqrt(trace of the gyration tensor)
  double gyration[3] = {0, 0, 0};  // eigenvalues of the gyration tensor, nm^2, descending
  double axes[3][3] = {};          // axes[k]: unit eigenvector of gyration[k], largest |component| > 0
};

// Per-domain exact moments of the positions quantised to 2^-20 nm (sums are
// integers, so any summation order, hence any number of ranks, gives the same
// bits): per domain n, n_core, S_x, S_y, S_z, S_xx, S_xy, S_xz, S_yy, S_yz, S_zz.
struct DomainMoments {
  static constexpr int kFields = 11;
  static constexpr double kQuantum = 1.0 / 1048576.0;  // nm
  std::vector<__int128> v;                             // domains x kFields
  DomainMoments& operator+=(const DomainMoments& o);
};

// One entry per (cluster, rank) for clusters with an owned core ion.
struct DomainRoot {
  std::int64_t name = -1;
  std::int32_t cls = -1;
};
// Core ion gid -> local cluster name, for the ions near slab boundaries.
struct LabelPair {
  std::int64_t gid = -1;
  std::int64_t name = -1;
};

// One rank's part of the distributed DBSCAN, in phases that exchange plain
// vectors (find_domains_mpi does the exchanges with MPI; tests simulate ranks):
//   SlabDbscan part(ions, slab, spec);        local DBSCAN on owned + halo
//   pairs  = allgather(part.boundary_pairs());
//   roots  = allgather(part.resolve(pairs));  global cluster names
//   part.number(roots);                       domain ids, border ions
//   moments = sum over ranks of part.moments();
//   stats  = domain_stats(moments, roots, spec) (any rank).
class SlabDbscan {
 public:
  // Keeps a reference to ions: they must outlive this object.
  SlabDbscan(const LabelledIons& ions, const Slab& slab, const DomainSpec& spec);
  // Core ions near a slab boundary (or in the halo) with their local cluster name.
  const std::vector<LabelPair>& boundary_pairs() const { return pairs_; }
  // all_pairs: the boundary pairs of every rank, in any order. Returns this
  // rank's clusters that hold an owned core ion, by global name.
  std::vector<DomainRoot> resolve(const std::vector<LabelPair>& all_pairs);
  // all_roots: resolve() of every rank, in any order (duplicates allowed).
  void number(const std::vector<DomainRoot>& all_roots);
  std::int64_t domain_count() const { return n_domains_; }
  // Moments of the owned members (after number()).
  DomainMoments moments() const;
  // Per input ion: domain id of owned members; -1 for noise and halo ions.
  const std::vector<std::int64_t>& domain() const { return domain_; }
  // Per input ion: 1 for core ions (exact for owned ions).
  const std::vector<std::uint8_t>& core() const { return core_; }

 private:
  const LabelledIons& ions_;
  Slab slab_;
  DomainSpec spec_;
  std::vector<std::int64_t> order_;  // cell-sorted ion indices of the kept ions
  std::vector<std::uint8_t> core_, trusted_, owned_;
  std::vector<std::int64_t> parent_;  // union-find over input ions (core only)
  std::vector<std::int64_t> name_;    // per input ion: local cluster name (core), else -1
  std::vector<LabelPair> pairs_;
  std::vector<std::int64_t> domain_;
  std::int64_t n_domains_ = 0;
  void neighbours(std::int64_t i, std::vector<std::int64_t>& out) const;
  struct Cells;
  std::shared_ptr<Cells> cells_;
  std::vector<std::int64_t> global_name_;  // per input ion (core): resolved global name
};

// Sorted unique names (with class) of all domains: index = domain id.
std::vector<DomainRoot> unique_roots(const std::vector<DomainRoot>& all_roots);
// Stats of every domain from the summed moments; roots as given to number().
std::vector<DomainStats> domain_stats(const DomainMoments& summed, const std::vector<DomainRoot>& all_roots,
                                      const DomainSpec& spec);

struct DomainResult {
  std::vector<std::int64_t> domain;  // per input ion, see SlabDbscan::domain()
  std::vector<std::uint8_t> core;
  std::vector<DomainStats> domains;  // every domain (every rank gets all)
};

// Serial: all ions owned.
DomainResult find_domains(const LabelledIons& ions, const DomainSpec& spec);
// Collective over comm (allgatherv of boundary pairs and roots, allreduce of
// the moments); every rank passes its owned + halo ions and its slab.
DomainResult find_domains_mpi(MPI_Comm comm, const LabelledIons& ions, const Slab& slab,
                              const DomainSpec& spec);

// Domain size histogram over ion counts: bin b = [lo + b w, lo + (b + 1) w),
// w = (hi - lo) / bins, the last bin closed at hi (as numpy.histogram); sizes
// below lo are counted in underflow only, sizes above hi in overflow and, with
// overflow_in_last_bin, in the last bin too.
struct SizeHistogram {
  std::vector<std::int64_t> counts;
  std::int64_t underflow = 0, overflow = 0;
};
SizeHistogram domain_size_histogram(const std::vector<DomainStats>& domains, const SizeHistogramSpec& spec);

// Control statistics of two histograms a (real), b (control) of equal length
// (method.md 6.6).
//  pearson_r: correlation of the bin counts (NaN when either is constant);
//        the same in aptflow and in the published code (scipy.stats.pearsonr).
//  aptflow's: chi2 = homogeneity test of the 2 x K table (rows a, b), bins
//        empty in both skipped: sum (O - E)^2 / E with E = row total *
//        column total / N; dof = (non-empty bins - 1); contingency =
//        sqrt(chi2 / (chi2 + N)), N = total count of both.
//  published (ZSDM_IVAS_cluster_analysis_all_v3.py): chi2_published = sum over
//        the bins with b >= 1 of (a - b)^2 / b (scipy.stats.chisquare of a
//        against the expected b, without scipy >= 1.9's check that the totals
//        agree); contingency_published = sqrt(chi2_published /
//        (chi2_published + (sum a + sum b) / 2)) (NaN when both are 0);
//        published_bins = the bins used.
struct HistogramComparison {
  double pearson_r = 0, chi2 = 0, contingency = 0;
  int dof = 0;
  double chi2_published = 0, contingency_published = 0;
  int published_bins = 0;
};
HistogramComparison compare_histograms(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace aptflow
