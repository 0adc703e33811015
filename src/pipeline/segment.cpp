// Domains from labelled ions (method.md section 6): sub-cell geometry, specs,
// DBSCAN over z slabs with a sparse cell list and union-find, domain
// statistics, size histogram and control statistics. See
// include/aptflow/pipeline/segment.hpp and docs/segmentation.md.
#include "aptflow/pipeline/segment.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"

namespace aptflow {

// ------------------------------------------------------------ sub-cells, specs

SubcellGrid SubcellGrid::of(const WindowGrid& g) {
  if (!(g.edge > 0) || !(g.stride > 0))
    throw ConfigError("windows.stride", "edge and stride must be positive numbers of nm");
  const double k = std::round(g.edge / g.stride);
  if (k < 1 || std::abs(g.edge - k * g.stride) > 1e-9 * g.edge)
    throw ConfigError(
        "windows.stride",
        fmt::format("segmentation needs edge / stride to be a whole number (edge {} nm, stride {} "
                    "nm); use e.g. edge 1.0 and stride 0.5 (paper)",
                    g.edge, g.stride));
  SubcellGrid s;
  s.size = g.stride;
  s.span = static_cast<int>(k);
  for (int a = 0; a < 3; ++a) {
    s.origin[a] = g.origin[a];
    s.windows[a] = g.counts[a];
    s.counts[a] = g.counts[a] > 0 ? g.counts[a] + s.span - 1 : 0;
  }
  return s;
}

void DomainSpec::validate() const {
  if (!(eps > 0) || !std::isfinite(eps))
    throw ConfigError("segment.eps",
                      fmt::format("eps = {} nm: must be a positive number of nm (paper: 0.4)", eps));
  if (min_samples < 1)
    throw ConfigError("segment.min_samples",
                      fmt::format("min_samples = {}: must be >= 1 (paper: 3)", min_samples));
  if (!(atomic_density > 0) || !std::isfinite(atomic_density))
    throw ConfigError("segment.atomic_density", "must be a positive number of atoms per nm^3");
  if (!(detection_efficiency > 0) || !(detection_efficiency <= 1))
    throw ConfigError("segment.detection_efficiency", "must lie in (0, 1]");
  if (histogram.bins < 1)
    throw ConfigError("domains.histogram.bins",
                      fmt::format("{} bins: must be >= 1 (paper: 32)", histogram.bins));
  if (!(histogram.hi > histogram.lo) || !std::isfinite(histogram.lo) || !std::isfinite(histogram.hi))
    throw ConfigError("domains.histogram.hi",
                      "the histogram range needs finite lo < hi (paper: 0 - 160 ions)");
}

SegmentSpec SegmentSpec::feal() {
  SegmentSpec s;
  s.thresholds = {std::numeric_limits<double>::infinity(), 4.0, 3.75};
  return s;
}

SegmentSpec SegmentSpec::cocrni() {
  SegmentSpec s;
  s.thresholds = {std::numeric_limits<double>::infinity(), 3.75};
  return s;
}

void SegmentSpec::validate(int n_classes) const {
  if (static_cast<int>(thresholds.size()) != n_classes)
    throw ConfigError("segment.thresholds", fmt::format("{} thresholds for {} classes: give one per class "
                                                        "(inf for classes that are never labelled)",
                                                        thresholds.size(), n_classes));
  for (double t : thresholds)
    if (std::isnan(t)) throw ConfigError("segment.thresholds", "NaN threshold: use a number or inf");
  if (!(ion_radius > 0) || !std::isfinite(ion_radius))
    throw ConfigError("segment.ion_radius", "must be a positive number of nm (paper: 0.3535)");
  if (!std::isfinite(smoothing) || smoothing < 0)
    throw ConfigError("segment.smoothing", "must be a number of nm >= 0 (Gaussian sigma; 0 = no smoothing)");
  if (empty_window == EmptyWindow::veto && rule != IonRule::subcell)
    throw ConfigError("segment.empty_window",
                      "\"veto\" (NaN sums) belongs to segment.rule = \"subcell\": use \"zero\" with the "
                      "interpolate rule");
  if (composition.enabled()) {
    if (rule != IonRule::interpolate)
      throw ConfigError("segment.composition.class",
                        "composition evidence needs segment.rule = "
                        "\"interpolate\" (the subcell rule labels sub-cells)");
    if (composition.species.empty())
      throw ConfigError("segment.composition.species", "give at least one solute ion type (e.g. [\"Li\"])");
    if (!std::isfinite(composition.radius) || composition.radius <= 0)
      throw ConfigError("segment.composition.radius", "must be a positive number of nm (e.g. 1.2)");
    if (!std::isfinite(composition.weight))
      throw ConfigError("segment.composition.weight", "must be a finite number");
    if (!std::isfinite(composition.ion_weight))
      throw ConfigError("segment.composition.ion_weight", "must be a finite number");
  }
  domains.validate();
}

IonRule parse_ion_rule(const std::string& name) {
  if (name == "subcell") return IonRule::subcell;
  if (name == "interpolate") return IonRule::interpolate;
  throw ConfigError("segment.rule",
                    fmt::format("'{}' is not a rule: use \"subcell\" (paper) or \"interpolate\"", name));
}

const char* ion_rule_name(IonRule rule) { return rule == IonRule::subcell ? "subcell" : "interpolate"; }

EmptyWindow parse_empty_window(const std::string& text, const std::string& key) {
  if (text == "zero") return EmptyWindow::zero;
  if (text == "veto") return EmptyWindow::veto;
  throw ConfigError(key, fmt::format("'{}' is not an empty-window rule: use \"zero\" (an empty window adds 0 "
                                     "to the sums) or \"veto\" (the published code: its sub-cells are never "
                                     "labelled)",
                                     text));
}

const char* empty_window_name(EmptyWindow e) { return e == EmptyWindow::veto ? "veto" : "zero"; }

bool parse_histogram_overflow(const std::string& text, const std::string& key) {
  if (text == "drop") return false;
  if (text == "last_bin") return true;
  throw ConfigError(key,
                    fmt::format("'{}' is not an overflow rule: use \"drop\" (larger domains are left out "
                                "of the bins) or \"last_bin\" (the published code: counted in the last bin)",
                                text));
}

void LabelledIons::push_back(float px, float py, float pz, std::int64_t g, std::int32_t c) {
  x.push_back(px);
  y.push_back(py);
  z.push_back(pz);
  gid.push_back(g);
  cls.push_back(c);
}

LabelledIons collect_labelled_ions(const HostIonCloud& cloud,
                                   const Kokkos::View<std::int32_t*, Kokkos::HostSpace>& ion_label,
                                   std::int64_t gid_offset) {
  if (static_cast<IonIndex>(ion_label.extent(0)) != cloud.size())
    throw InternalError("collect_labelled_ions: one label per ion expected");
  LabelledIons out;
  for (IonIndex i = 0; i < cloud.size(); ++i)
    if (ion_label(i) >= 0) out.push_back(cloud.x(i), cloud.y(i), cloud.z(i), gid_offset + i, ion_label(i));
  return out;
}

// ------------------------------------------------------------ sparse cell list

// Cells of edge eps (1 + 1e-6) over the kept ions; only occupied cells exist:
// slots sorted by key = (cz * ny + cy) * nx + cx, so the three cells of one
// (cy, cz) row are one slot range found by binary search. Memory O(ions).
struct SlabDbscan::Cells {
  double lo[3] = {0, 0, 0};
  double edge = 1;
  std::int64_t n[3] = {1, 1, 1};
  std::vector<std::int64_t> key;   // per slot, ascending
  std::vector<std::int64_t> slot;  // per slot: input ion index
  std::vector<float> x, y, z;      // per slot: position (copies, for locality)
  std::vector<std::int32_t> cls;   // per slot: class
  std::int64_t coord(int a, float v) const {
    const std::int64_t c = static_cast<std::int64_t>(std::floor((double(v) - lo[a]) / edge));
    return std::clamp<std::int64_t>(c, 0, n[a] - 1);
  }
  std::int64_t cell(std::int64_t cx, std::int64_t cy, std::int64_t cz) const {
    return (cz * n[1] + cy) * n[0] + cx;
  }
};

namespace {

std::int64_t find_root(std::vector<std::int64_t>& parent, std::int64_t i) {
  while (parent[i] != i) {
    parent[i] = parent[parent[i]];
    i = parent[i];
  }
  return i;
}

void unite(std::vector<std::int64_t>& parent, std::int64_t a, std::int64_t b) {
  a = find_root(parent, a);
  b = find_root(parent, b);
  if (a == b) return;
  if (a < b) std::swap(a, b);
  parent[a] = b;  // the smaller index is the root
}

}  // namespace

SlabDbscan::SlabDbscan(const LabelledIons& ions, const Slab& slab, const DomainSpec& spec)
    : ions_(ions), slab_(slab), spec_(spec) {
  spec_.validate();
  const std::int64_t n = static_cast<std::int64_t>(ions.size());
  if (ions.x.size() != ions.size() || ions.y.size() != ions.size() || ions.z.size() != ions.size() ||
      ions.cls.size() != ions.size())
    throw InternalError("SlabDbscan: LabelledIons arrays differ in length");
  const double eps = spec_.eps;
  const bool bounded = std::isfinite(slab.z_lo) || std::isfinite(slab.z_hi);
  if (std::isnan(slab.z_lo) || std::isnan(slab.z_hi) || !(slab.z_lo < slab.z_hi))
    throw InternalError("SlabDbscan: slab needs z_lo < z_hi");
  if (bounded && !(slab.halo >= 2 * eps * (1 + 1e-6)))
    throw ConfigError(
        "segment.halo",
        fmt::format("halo {} nm is narrower than 2 eps = {} nm: exchange at least 2 eps + 0.01 nm "
                    "of labelled ions with the neighbouring slabs",
                    slab.halo, 2 * eps));
  // Core flags are exact within t of the owned slab (all their neighbours are held).
  const double t = bounded ? slab.halo - eps * (1 + 1e-6) : 0.0;
  const double keep_lo = bounded ? slab.z_lo - slab.halo : slab.z_lo;
  const double keep_hi = bounded ? slab.z_hi + slab.halo : slab.z_hi;
  const double trust_lo = bounded ? slab.z_lo - t : slab.z_lo;
  const double trust_hi = bounded ? slab.z_hi + t : slab.z_hi;

  core_.assign(n, 0);
  trusted_.assign(n, 0);
  owned_.assign(n, 0);
  name_.assign(n, -1);
  domain_.assign(n, -1);
  global_name_.assign(n, -1);
  std::vector<std::uint8_t> kept(n, 0);
  cells_ = std::make_shared<Cells>();
  Cells& cl = *cells_;
  cl.edge = eps * (1 + 1e-6);
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (std::int64_t i = 0; i < n; ++i) {
    const float p[3] = {ions.x[i], ions.y[i], ions.z[i]};
    if (!std::isfinite(p[0]) || !std::isfinite(p[1]) || !std::isfinite(p[2]))
      throw InternalError(
          fmt::format("SlabDbscan: ion gid {} has a non-finite position; drop non-finite ions "
                      "when reading the dataset",
                      ions.gid[i]));
    if (ions.cls[i] < 0)
      throw InternalError(fmt::format("SlabDbscan: ion gid {} has class < 0", ions.gid[i]));
    const double z = p[2];
    if (!(z >= keep_lo && z < keep_hi)) continue;
    kept[i] = 1;
    owned_[i] = slab.owns(p[2]);
    trusted_[i] = z >= trust_lo && z < trust_hi;
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], double(p[a]));
      hi[a] = std::max(hi[a], double(p[a]));
    }
  }
  for (int a = 0; a < 3; ++a) {
    cl.lo[a] = std::isfinite(lo[a]) ? lo[a] : 0.0;
    cl.n[a] = std::isfinite(lo[a]) ? static_cast<std::int64_t>(std::floor((hi[a] - lo[a]) / cl.edge)) + 1 : 1;
  }
  if (double(cl.n[0]) * double(cl.n[1]) * double(cl.n[2]) > 9e18)
    throw ResourceError("SlabDbscan: the labelled ions span too many cells; decompose over more ranks");
  std::vector<std::pair<std::int64_t, std::int64_t>> ks;
  for (std::int64_t i = 0; i < n; ++i)
    if (kept[i])
      ks.emplace_back(cl.cell(cl.coord(0, ions.x[i]), cl.coord(1, ions.y[i]), cl.coord(2, ions.z[i])), i);
  std::sort(ks.begin(), ks.end());
  cl.key.resize(ks.size());
  cl.slot.resize(ks.size());
  for (std::size_t s = 0; s < ks.size(); ++s) {
    cl.key[s] = ks[s].first;
    cl.slot[s] = ks[s].second;
  }
  cl.x.resize(ks.size());
  cl.y.resize(ks.size());
  cl.z.resize(ks.size());
  cl.cls.resize(ks.size());
  for (std::size_t s = 0; s < ks.size(); ++s) {
    const std::int64_t i = cl.slot[s];
    cl.x[s] = ions.x[i];
    cl.y[s] = ions.y[i];
    cl.z[s] = ions.z[i];
    cl.cls[s] = ions.cls[i];
  }

  // Core flags of the trusted ions.
  std::vector<std::int64_t> nb;
  for (const std::int64_t i : cl.slot) {  // cell order: locality
    if (!trusted_[i]) continue;
    neighbours(i, nb);
    core_[i] = static_cast<std::int64_t>(nb.size()) >= spec_.min_samples;
  }
  // Union of trusted core neighbours: every such pair is a true edge.
  parent_.resize(n);
  std::iota(parent_.begin(), parent_.end(), std::int64_t(0));
  for (const std::int64_t i : cl.slot) {  // cell order: locality
    if (!core_[i]) continue;
    neighbours(i, nb);
    for (std::int64_t j : nb)
      if (j > i && core_[j]) unite(parent_, i, j);
  }
  // Local cluster name = smallest gid of the component.
  std::vector<std::int64_t> root_name(n, std::numeric_limits<std::int64_t>::max());
  for (std::int64_t i = 0; i < n; ++i)
    if (core_[i]) {
      const std::int64_t r = find_root(parent_, i);
      root_name[r] = std::min(root_name[r], ions.gid[i]);
    }
  for (std::int64_t i = 0; i < n; ++i)
    if (core_[i]) name_[i] = root_name[find_root(parent_, i)];
  // Core ions that another rank may also hold: within t of a finite bound or in the halo.
  if (bounded)
    for (std::int64_t i = 0; i < n; ++i) {
      if (!core_[i]) continue;
      const double z = ions.z[i];
      const bool near_lo = std::isfinite(slab.z_lo) && z < slab.z_lo + t;
      const bool near_hi = std::isfinite(slab.z_hi) && z >= slab.z_hi - t;
      if (near_lo || near_hi) pairs_.push_back({ions.gid[i], name_[i]});
    }
}

void SlabDbscan::neighbours(std::int64_t i, std::vector<std::int64_t>& out) const {
  out.clear();
  const Cells& cl = *cells_;
  const double eps2 = spec_.eps * spec_.eps;
  const double px = ions_.x[i], py = ions_.y[i], pz = ions_.z[i];
  const std::int32_t c = ions_.cls[i];
  const std::int64_t cx = cl.coord(0, ions_.x[i]), cy = cl.coord(1, ions_.y[i]), cz = cl.coord(2, ions_.z[i]);
  const std::int64_t x0 = std::max<std::int64_t>(cx - 1, 0), x1 = std::min(cx + 1, cl.n[0] - 1);
  for (std::int64_t z = std::max<std::int64_t>(cz - 1, 0); z <= std::min(cz + 1, cl.n[2] - 1); ++z)
    for (std::int64_t y = std::max<std::int64_t>(cy - 1, 0); y <= std::min(cy + 1, cl.n[1] - 1); ++y) {
      const auto b = std::lower_bound(cl.key.begin(), cl.key.end(), cl.cell(x0, y, z));
      const auto e = std::upper_bound(b, cl.key.end(), cl.cell(x1, y, z));
      for (auto s = b - cl.key.begin(), se = e - cl.key.begin(); s < se; ++s) {
        if (cl.cls[s] != c) continue;
        const double dx = double(cl.x[s]) - px, dy = double(cl.y[s]) - py, dz = double(cl.z[s]) - pz;
        if ((dx * dx + dy * dy) + dz * dz <= eps2) out.push_back(cl.slot[s]);
      }
    }
}

std::vector<DomainRoot> SlabDbscan::resolve(const std::vector<LabelPair>& all_pairs) {
  // Global union-find over the names and gids in the pairs; root = smallest value.
  std::vector<std::int64_t> values;
  values.reserve(2 * all_pairs.size());
  for (const auto& p : all_pairs) {
    values.push_back(p.gid);
    values.push_back(p.name);
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  auto idx = [&](std::int64_t v) {
    return static_cast<std::int64_t>(std::lower_bound(values.begin(), values.end(), v) - values.begin());
  };
  std::vector<std::int64_t> parent(values.size());
  std::iota(parent.begin(), parent.end(), std::int64_t(0));
  for (const auto& p : all_pairs) unite(parent, idx(p.gid), idx(p.name));
  auto global = [&](std::int64_t name) {
    const auto it = std::lower_bound(values.begin(), values.end(), name);
    if (it == values.end() || *it != name) return name;
    return values[find_root(parent, it - values.begin())];
  };
  std::vector<DomainRoot> roots;
  std::unordered_map<std::int64_t, std::int64_t> cache;
  const std::int64_t n = static_cast<std::int64_t>(ions_.size());
  for (std::int64_t i = 0; i < n; ++i) {
    if (!core_[i]) continue;
    auto it = cache.find(name_[i]);
    if (it == cache.end()) it = cache.emplace(name_[i], global(name_[i])).first;
    global_name_[i] = it->second;
    if (owned_[i]) roots.push_back({it->second, ions_.cls[i]});
  }
  return unique_roots(roots);
}

std::vector<DomainRoot> unique_roots(const std::vector<DomainRoot>& all_roots) {
  std::vector<DomainRoot> u = all_roots;
  std::sort(u.begin(), u.end(), [](const DomainRoot& a, const DomainRoot& b) {
    return a.name < b.name || (a.name == b.name && a.cls < b.cls);
  });
  u.erase(std::unique(u.begin(), u.end(),
                      [](const DomainRoot& a, const DomainRoot& b) { return a.name == b.name; }),
          u.end());
  return u;
}

void SlabDbscan::number(const std::vector<DomainRoot>& all_roots) {
  const auto u = unique_roots(all_roots);
  n_domains_ = static_cast<std::int64_t>(u.size());
  auto id_of = [&](std::int64_t name) {
    const auto it = std::lower_bound(u.begin(), u.end(), name,
                                     [](const DomainRoot& r, std::int64_t v) { return r.name < v; });
    if (it == u.end() || it->name != name)
      throw InternalError(
          fmt::format("SlabDbscan::number: cluster {} missing from the gathered roots", name));
    return static_cast<std::int64_t>(it - u.begin());
  };
  const std::int64_t n = static_cast<std::int64_t>(ions_.size());
  std::unordered_map<std::int64_t, std::int64_t> cache;
  auto cached_id = [&](std::int64_t name) {
    auto it = cache.find(name);
    if (it == cache.end()) it = cache.emplace(name, id_of(name)).first;
    return it->second;
  };
  std::vector<std::int64_t> nb;
  for (std::int64_t i = 0; i < n; ++i) {
    domain_[i] = -1;
    if (!owned_[i]) continue;
    if (core_[i]) {
      domain_[i] = cached_id(global_name_[i]);
      continue;
    }
    neighbours(i, nb);
    for (std::int64_t j : nb)
      if (core_[j]) {
        const std::int64_t d = cached_id(global_name_[j]);
        if (domain_[i] < 0 || d < domain_[i]) domain_[i] = d;
      }
  }
}

DomainMoments& DomainMoments::operator+=(const DomainMoments& o) {
  if (v.size() != o.v.size()) throw InternalError("DomainMoments: adding moments of different domain counts");
  for (std::size_t k = 0; k < v.size(); ++k) v[k] += o.v[k];
  return *this;
}

DomainMoments SlabDbscan::moments() const {
  DomainMoments m;
  m.v.assign(static_cast<std::size_t>(n_domains_) * DomainMoments::kFields, 0);
  const std::int64_t n = static_cast<std::int64_t>(ions_.size());
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t d = domain_[i];
    if (d < 0) continue;
    __int128* f = m.v.data() + d * DomainMoments::kFields;
    // float -> double and * 2^20 are exact; rounding half away from zero.
    const __int128 q[3] = {std::llround(double(ions_.x[i]) * 1048576.0),
                           std::llround(double(ions_.y[i]) * 1048576.0),
                           std::llround(double(ions_.z[i]) * 1048576.0)};
    f[0] += 1;
    f[1] += core_[i];
    f[2] += q[0];
    f[3] += q[1];
    f[4] += q[2];
    f[5] += q[0] * q[0];
    f[6] += q[0] * q[1];
    f[7] += q[0] * q[2];
    f[8] += q[1] * q[1];
    f[9] += q[1] * q[2];
    f[10] += q[2] * q[2];
  }
  return m;
}

// ------------------------------------------------------------ statistics

namespace {

// Cyclic Jacobi eigen decomposition of a symmetric 3x3 matrix: eigenvalues
// descending, vec[k] = unit eigenvector of val[k] with its largest |component| > 0.
void eigen_symmetric3(const double m[3][3], double val[3], double vec[3][3]) {
  double a[3][3], v[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) a[r][c] = m[r][c];
  for (int sweep = 0; sweep < 60; ++sweep) {
    const double off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
    const double diag = a[0][0] * a[0][0] + a[1][1] * a[1][1] + a[2][2] * a[2][2];
    if (off <= 1e-32 * diag || off == 0) break;
    for (int p = 0; p < 2; ++p)
      for (int q = p + 1; q < 3; ++q) {
        if (a[p][q] == 0) continue;
        const double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const double tt = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(tt * tt + 1), s = tt * c;
        for (int k = 0; k < 3; ++k) {  // A <- A J
          const double akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (int k = 0; k < 3; ++k) {  // A <- J^T A
          const double apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (int k = 0; k < 3; ++k) {  // V <- V J
          const double vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
  }
  int order[3] = {0, 1, 2};
  std::sort(order, order + 3,
            [&](int x, int y) { return a[x][x] > a[y][y] || (a[x][x] == a[y][y] && x < y); });
  for (int k = 0; k < 3; ++k) {
    const int col = order[k];
    val[k] = a[col][col];
    int big = 0;
    for (int r = 1; r < 3; ++r)
      if (std::abs(v[r][col]) > std::abs(v[big][col])) big = r;
    const double sign = v[big][col] < 0 ? -1.0 : 1.0;
    for (int r = 0; r < 3; ++r) vec[k][r] = sign * v[r][col];
  }
}

}  // namespace

std::vector<DomainStats> domain_stats(const DomainMoments& summed, const std::vector<DomainRoot>& all_roots,
                                      const DomainSpec& spec) {
  const auto u = unique_roots(all_roots);
  constexpr int F = DomainMoments::kFields;
  if (summed.v.size() != u.size() * F)
    throw InternalError("domain_stats: moments and roots disagree on the number of domains");
  const double q = DomainMoments::kQuantum;
  const double pi = 3.14159265358979323846;
  std::vector<DomainStats> out(u.size());
  for (std::size_t d = 0; d < u.size(); ++d) {
    const __int128* f = summed.v.data() + d * F;
    DomainStats& s = out[d];
    s.id = static_cast<std::int64_t>(d);
    s.cls = u[d].cls;
    s.name = u[d].name;
    s.ions = static_cast<std::int64_t>(f[0]);
    s.core_ions = static_cast<std::int64_t>(f[1]);
    if (s.ions <= 0) throw InternalError(fmt::format("domain_stats: domain {} has no ions", d));
    const __int128 n = f[0];
    const double dn = double(s.ions);
    for (int a = 0; a < 3; ++a) s.centroid[a] = double(f[2 + a]) / dn * q;
    // Central second moments, exact in integers: (n S_ab - S_a S_b) / n^2.
    const int idx[3][3] = {{5, 6, 7}, {6, 8, 9}, {7, 9, 10}};
    double g[3][3];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        g[a][b] = double(n * f[idx[a][b]] - f[2 + a] * f[2 + b]) / (dn * dn) * q * q;
    s.rg = std::sqrt(std::max(0.0, g[0][0] + g[1][1] + g[2][2]));
    eigen_symmetric3(g, s.gyration, s.axes);
    s.volume = dn / (spec.atomic_density * spec.detection_efficiency);
    s.radius = std::cbrt(3 * s.volume / (4 * pi));
  }
  return out;
}

DomainResult find_domains(const LabelledIons& ions, const DomainSpec& spec) {
  SlabDbscan part(ions, Slab{}, spec);
  const auto roots = part.resolve({});
  part.number(roots);
  DomainResult r;
  r.domains = domain_stats(part.moments(), roots, spec);
  r.domain = part.domain();
  r.core = part.core();
  return r;
}

namespace {

std::vector<std::int64_t> allgather_i64(MPI_Comm comm, const std::vector<std::int64_t>& mine) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  if (mine.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw ResourceError("find_domains_mpi: too many boundary entries on one rank; use more ranks");
  const int count = static_cast<int>(mine.size());
  std::vector<int> counts(size), displs(size);
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);  // collective
  std::int64_t total = 0;
  for (int r = 0; r < size; ++r) {
    displs[r] = static_cast<int>(total);
    total += counts[r];
  }
  if (total > std::numeric_limits<int>::max())
    throw ResourceError("find_domains_mpi: more than 2^31 gathered boundary entries");
  std::vector<std::int64_t> all(static_cast<std::size_t>(total));
  MPI_Allgatherv(mine.data(), count, MPI_INT64_T, all.data(), counts.data(), displs.data(), MPI_INT64_T,
                 comm);  // collective
  return all;
}

}  // namespace

DomainResult find_domains_mpi(MPI_Comm comm, const LabelledIons& ions, const Slab& slab,
                              const DomainSpec& spec) {
  SlabDbscan part(ions, slab, spec);
  std::vector<std::int64_t> flat;
  for (const auto& p : part.boundary_pairs()) {
    flat.push_back(p.gid);
    flat.push_back(p.name);
  }
  const auto all_flat = allgather_i64(comm, flat);  // collective
  std::vector<LabelPair> pairs(all_flat.size() / 2);
  for (std::size_t k = 0; k < pairs.size(); ++k) pairs[k] = {all_flat[2 * k], all_flat[2 * k + 1]};
  const auto mine = part.resolve(pairs);
  flat.clear();
  for (const auto& r : mine) {
    flat.push_back(r.name);
    flat.push_back(r.cls);
  }
  const auto roots_flat = allgather_i64(comm, flat);  // collective
  std::vector<DomainRoot> roots(roots_flat.size() / 2);
  for (std::size_t k = 0; k < roots.size(); ++k)
    roots[k] = {roots_flat[2 * k], static_cast<std::int32_t>(roots_flat[2 * k + 1])};
  part.number(roots);
  DomainMoments m = part.moments();
  // Integer sums: exact, so the result does not depend on the reduction order.
  dist::sum_exact(comm, m.v);  // collective
  DomainResult r;
  r.domains = domain_stats(m, roots, spec);
  r.domain = part.domain();
  r.core = part.core();
  return r;
}

// ------------------------------------------------------------ histograms

SizeHistogram domain_size_histogram(const std::vector<DomainStats>& domains, const SizeHistogramSpec& spec) {
  if (spec.bins < 1 || !(spec.hi > spec.lo))
    throw ConfigError("domains.histogram.bins",
                      "needs bins >= 1 and lo < hi (paper: 32 bins over 0 - 160 ions)");
  SizeHistogram h;
  h.counts.assign(spec.bins, 0);
  const double w = (spec.hi - spec.lo) / spec.bins;
  for (const auto& d : domains) {
    const double v = double(d.ions);
    if (v < spec.lo) {
      ++h.underflow;
    } else if (v > spec.hi) {
      ++h.overflow;
      if (spec.overflow_in_last_bin) ++h.counts[spec.bins - 1];  // published: sizes clipped to hi
    } else {
      const int b = std::min(spec.bins - 1, static_cast<int>(std::floor((v - spec.lo) / w)));
      ++h.counts[b];
    }
  }
  return h;
}

HistogramComparison compare_histograms(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.empty())
    throw InternalError("compare_histograms: histograms must have the same, non-zero number of bins");
  const double n = static_cast<double>(a.size());
  HistogramComparison r;
  double ma = 0, mb = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    ma += a[k];
    mb += b[k];
  }
  const double ta = ma, tb = mb;
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    sab += (a[k] - ma) * (b[k] - mb);
    saa += (a[k] - ma) * (a[k] - ma);
    sbb += (b[k] - mb) * (b[k] - mb);
  }
  r.pearson_r = (saa > 0 && sbb > 0) ? sab / std::sqrt(saa * sbb) : std::numeric_limits<double>::quiet_NaN();
  const double total = ta + tb;
  int used = 0;
  if (ta > 0 && tb > 0)
    for (std::size_t k = 0; k < a.size(); ++k) {
      const double col = a[k] + b[k];
      if (col <= 0) continue;
      ++used;
      const double ea = ta * col / total, eb = tb * col / total;
      r.chi2 += (a[k] - ea) * (a[k] - ea) / ea + (b[k] - eb) * (b[k] - eb) / eb;
    }
  r.dof = used > 0 ? used - 1 : 0;
  r.contingency = total > 0 ? std::sqrt(r.chi2 / (r.chi2 + total)) : 0.0;
  // The published statistics: chi^2 of a against b over the bins with b >= 1,
  // cq with the mean total.
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (!(b[k] >= 1)) continue;
    ++r.published_bins;
    r.chi2_published += (a[k] - b[k]) * (a[k] - b[k]) / b[k];
  }
  const double mean_total = total / 2;
  r.contingency_published = r.chi2_published + mean_total > 0
                                ? std::sqrt(r.chi2_published / (r.chi2_published + mean_total))
                                : std::numeric_limits<double>::quiet_NaN();
  return r;
}

}  // namespace aptflow
