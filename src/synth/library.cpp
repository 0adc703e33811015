// Synthetic SDM libraries (include/aptflow/synth/library.hpp).
#include "aptflow/synth/library.hpp"

#include <fmt/format.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "aptflow/core/error.hpp"
#include "aptflow/io/features.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "aptflow/kernels/voxelize.hpp"
#include "aptflow/sdm/features.hpp"

namespace aptflow::synth {

std::vector<double> axis_range(double start, double stop, double step, const std::string& key) {
  if (!(step > 0)) throw ConfigError(key + ".step", "the step of a parameter range must be positive");
  if (!(stop >= start)) throw ConfigError(key + ".stop", "stop must not be smaller than start");
  const double q = (stop - start) / step;
  const auto n = static_cast<std::int64_t>(std::llround(q));
  if (std::abs(q - double(n)) > 1e-6)
    throw ConfigError(key, fmt::format("(stop - start) / step = {} is not a whole number: the range "
                                       "must end on stop (stop is included)",
                                       q));
  std::vector<double> v;
  for (std::int64_t k = 0; k <= n; ++k) v.push_back(start + double(k) * step);
  return v;
}

namespace {

std::vector<double> read_axis(const Config& cfg, const std::string& cls_table, const std::string& name) {
  const std::string own = cls_table + "." + name, shared = "grid." + name;
  const std::string key = cfg.has(own) ? own : shared;
  if (!cfg.has(key))
    throw ConfigError(own,
                      "parameter axis missing: give it in the class table or in [grid] (a list "
                      "[0.2, 0.4] or a range { start = ..., stop = ..., step = ... })");
  std::vector<double> v;
  if (cfg.has(key + ".start"))
    v = axis_range(cfg.get_double(key + ".start"), cfg.get_double(key + ".stop"),
                   cfg.get_double(key + ".step"), key);
  else
    v = cfg.get_doubles(key);
  if (v.empty()) throw ConfigError(key, "a parameter axis needs at least one value");
  for (double x : v)
    if (!(x >= 0) || (name == "eta" && !(x > 0 && x <= 1)))
      throw ConfigError(key, fmt::format("value {} out of range (sigma >= 0, 0 < eta <= 1)", x));
  return v;
}

std::pair<std::string, std::string> parse_pair(const std::string& text, const std::string& key) {
  const auto dash = text.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == text.size() ||
      text.find('-', dash + 1) != std::string::npos)
    throw ConfigError(key, fmt::format("pair '{}' is not of the form A-B (e.g. \"Fe-Fe\")", text));
  return {text.substr(0, dash), text.substr(dash + 1)};
}

}  // namespace

LibrarySpec parse_library_config(const Config& cfg) {
  LibrarySpec spec;
  spec.seed = static_cast<std::uint64_t>(cfg.get_int("seed", 0));
  spec.subsample = cfg.get_int("library.subsample", 1);
  if (spec.subsample < 1) throw ConfigError("library.subsample", "must be >= 1 (1 = the full grid)");
  const auto names = cfg.get_strings("library.classes");
  if (names.empty()) throw ConfigError("library.classes", "list at least one class");

  Thinning thinning = Thinning::exact;
  const auto th = cfg.get_string("grid.thinning", std::string("exact"));
  if (th == "bernoulli")
    thinning = Thinning::bernoulli;
  else if (th != "exact")
    throw ConfigError("grid.thinning", "expected \"exact\" or \"bernoulli\"");

  for (const auto& name : names) {
    const std::string t = "classes." + name;
    if (!cfg.has(t)) throw ConfigError(t, "class listed in library.classes has no [" + t + "] table");
    LibraryClass c;
    c.name = name;
    c.structure = structure_from_config(cfg, t);
    const auto cells = cfg.get_ints(t + ".cells", std::vector<std::int64_t>{13, 13, 13});
    if (cells.size() != 3) throw ConfigError(t + ".cells", "expected three cell counts [nx, ny, nz]");
    for (int d = 0; d < 3; ++d) c.block.cells[d] = static_cast<int>(cells[d]);
    c.block.closed = cfg.get_bool(t + ".closed", true);
    c.orientation = orientation_from_config(cfg, t, c.structure.cell());
    c.artefacts.thinning = thinning;
    c.sigma_xy = read_axis(cfg, t, "sigma_xy");
    c.sigma_z = read_axis(cfg, t, "sigma_z");
    c.eta = read_axis(cfg, t, "eta");
    spec.classes.push_back(std::move(c));
  }

  const auto kinds = cfg.get_strings("sdm.kinds", std::vector<std::string>{"z"});
  if (kinds.empty()) throw ConfigError("sdm.kinds", "list at least one feature kind (z, zx, 3d, occupancy)");
  for (const auto& k : kinds) {
    if (k == "occupancy") {
      if (spec.occupancy) throw ConfigError("sdm.kinds", "kind 'occupancy' listed twice");
      spec.occupancy = true;
      continue;
    }
    const SdmKind kind = parse_sdm_kind(k, "sdm.kinds");
    SdmSpec s = kind == SdmKind::z    ? SdmSpec::z()
                : kind == SdmKind::zx ? SdmSpec::zx()
                                      : SdmSpec::cube(cfg.get_double("sdm.cube_range", 1.0),
                                                      cfg.get_double("sdm.cube_bin", 0.05));
    s.r_cut = cfg.get_double("sdm.r_cut", s.r_cut);
    s.finalize();
    for (const auto& o : spec.sdms)
      if (o.kind == s.kind) throw ConfigError("sdm.kinds", "kind '" + k + "' listed twice");
    spec.sdms.push_back(s);
  }
  for (const auto& p : cfg.get_strings("sdm.pairs", std::vector<std::string>{})) {
    auto ab = parse_pair(p, "sdm.pairs");
    for (const auto& c : spec.classes) {
      const auto sp = c.structure.species();
      for (const auto& s : {ab.first, ab.second})
        if (std::find(sp.begin(), sp.end(), s) == sp.end())
          throw ConfigError("sdm.pairs", fmt::format("species '{}' of pair '{}' does not occur in class {} "
                                                     "(species there: {}): fix the pair or the class species",
                                                     s, p, c.name, fmt::join(sp, ", ")));
    }
    spec.pairs.push_back(ab);
  }
  if (!spec.sdms.empty() && spec.pairs.empty())
    throw ConfigError("sdm.pairs", "list at least one pair, e.g. [\"Fe-Fe\"]");
  if (spec.sdms.empty() && !spec.pairs.empty())
    throw ConfigError("sdm.pairs",
                      "no SDM kind (z, zx, 3d) in sdm.kinds uses the pairs: remove sdm.pairs "
                      "or add an SDM kind");

  const bool occ_keys = cfg.has("library.occupancy");
  if (occ_keys && !spec.occupancy)
    throw ConfigError("library.occupancy",
                      "occupancy settings given but sdm.kinds lacks \"occupancy\": add it or remove them");
  if (spec.occupancy) {
    spec.occ.edge = cfg.get_double("library.occupancy.edge", 2.0);
    if (!(spec.occ.edge > 0) || !std::isfinite(spec.occ.edge))
      throw ConfigError("library.occupancy.edge",
                        fmt::format("must be a positive length in nm, got {}", spec.occ.edge));
    const std::int64_t g = cfg.get_int("library.occupancy.grid", 16);
    if (g < 1 || g > 256)
      throw ConfigError("library.occupancy.grid",
                        fmt::format("voxels per axis must be in [1, 256], got {}", g));
    spec.occ.grid = static_cast<int>(g);
    spec.occ.species = cfg.get_strings("library.occupancy.species", std::vector<std::string>{});
    if (spec.occ.species.empty())
      throw ConfigError("library.occupancy.species",
                        "list the species of the channels, e.g. [\"Fe\", \"Al\"]");
    for (std::size_t i = 0; i < spec.occ.species.size(); ++i) {
      const auto& name = spec.occ.species[i];
      for (std::size_t j = 0; j < i; ++j)
        if (spec.occ.species[j] == name)
          throw ConfigError("library.occupancy.species", fmt::format("species '{}' listed twice", name));
      for (const auto& c : spec.classes) {
        const auto sp = c.structure.species();
        if (std::find(sp.begin(), sp.end(), name) == sp.end())
          throw ConfigError("library.occupancy.species",
                            fmt::format("species '{}' does not occur in class {} (species there: {}): fix "
                                        "the list or the class species",
                                        name, c.name, fmt::join(sp, ", ")));
      }
    }
  }
  cfg.check_all_used();
  spec.config_text = cfg.to_toml();
  return spec;
}

std::vector<LibrarySample> expand_library(const LibrarySpec& spec) {
  std::vector<LibrarySample> out;
  std::int64_t key = 0;
  for (std::size_t ci = 0; ci < spec.classes.size(); ++ci) {
    const auto& c = spec.classes[ci];
    std::int64_t g = 0;
    for (double sxy : c.sigma_xy)
      for (double sz : c.sigma_z)
        for (double eta : c.eta) {
          if (g % spec.subsample == 0) {
            if (key > std::int64_t(UINT32_MAX))
              throw ConfigError("library.classes", "more than 2^32 samples: reduce the grid");
            out.push_back({static_cast<std::int32_t>(ci), static_cast<std::uint32_t>(key), sxy, sz, eta});
          }
          ++g;
          ++key;
        }
  }
  return out;
}

std::size_t num_channels(const LibrarySpec& spec) {
  return spec.sdms.size() * spec.pairs.size() + (spec.occupancy ? spec.occ.species.size() : 0);
}

std::vector<double> OccupancySpec::left_edges() const {
  std::vector<double> e;
  for (int i = 0; i < grid; ++i) e.push_back(-0.5 * edge + double(i) * edge / double(grid));
  return e;
}

std::vector<std::vector<float>> block_occupancy(const OccupancySpec& occ, const LatticeBlock& b) {
  const auto g3 = static_cast<std::size_t>(occ.grid) * occ.grid * occ.grid;
  std::vector<std::vector<float>> rows(occ.species.size(), std::vector<float>(g3, 0.0f));
  // Channel c of the kernel counts species id ids[c]; species the block lacks are left out.
  std::vector<Species> ids;
  std::vector<std::size_t> row_of;
  for (std::size_t c = 0; c < occ.species.size(); ++c)
    for (std::size_t k = 0; k < b.species_names.size(); ++k)
      if (b.species_names[k] == occ.species[c]) {
        ids.push_back(static_cast<Species>(k + 1));
        row_of.push_back(c);
      }
  if (ids.empty() || b.size() == 0) return rows;
  const HostIonCloud cloud = to_ion_cloud(b);
  const Kokkos::DefaultHostExecutionSpace exec;
  Kokkos::View<float* [3], Kokkos::LayoutRight, Kokkos::HostSpace> centre("aptflow::synth::occupancy_centre",
                                                                          1);  // the block centre: origin
  WindowVoxelSpec vs;
  vs.edge = occ.edge;
  vs.grid = occ.grid;
  vs.species = ids;
  const auto vox = voxelize_windows(exec, cloud, centre, vs);  // (1, G, G, G, channels)
  const int G = occ.grid;
  for (std::size_t c = 0; c < ids.size(); ++c) {
    float* dst = rows[row_of[c]].data();
    for (int iz = 0; iz < G; ++iz)
      for (int iy = 0; iy < G; ++iy)
        for (int ix = 0; ix < G; ++ix) *dst++ = vox(0, iz, iy, ix, c);
  }
  return rows;
}

LatticeBlock library_block(const LibrarySpec& spec, const LibrarySample& s) {
  const auto& c = spec.classes.at(static_cast<std::size_t>(s.class_id));
  ArtefactModel m = c.artefacts;
  m.sigma_xy = s.sigma_xy;
  m.sigma_z = s.sigma_z;
  m.efficiency = s.eta;
  return make_library_block(c.structure, c.block, c.orientation, m, spec.seed, s.key);
}

std::vector<std::vector<float>> library_sample_sdms(const LibrarySpec& spec, const LibrarySample& s) {
  const LatticeBlock b = library_block(spec, s);
  const HostIonCloud cloud = to_ion_cloud(b);
  const Kokkos::DefaultHostExecutionSpace exec;
  auto id_of = [&](const std::string& name) {
    for (std::size_t k = 0; k < b.species_names.size(); ++k)
      if (b.species_names[k] == name) return static_cast<int>(k + 1);
    return -1;
  };
  std::vector<std::vector<float>> rows;
  for (const auto& kind : spec.sdms) {
    // The features stage (sdm/features.hpp) on one sample, the block: raw
    // counts (a library stores them; training preprocesses), zeros for a
    // species the block lacks.
    const auto pairs = static_cast<std::int64_t>(spec.pairs.size());
    const sdm::FeatureRows f = sdm::compute_features(
        1, pairs, kind.size(),
        [&](std::size_t p, const sdm::SdmRows& out, const sdm::CentreCounts& centres) {
          const Kokkos::View<std::int64_t*, Kokkos::HostSpace> line(out.data(), out.extent(1));
          Kokkos::deep_copy(line, std::int64_t(0));
          centres(0) = 0;
          const int ia = id_of(spec.pairs[p].first), ib = id_of(spec.pairs[p].second);
          if (ia > 0 && ib > 0 && cloud.size() > 0) compute_sdm(exec, cloud, kind, ia, ib, line);
        },
        sdm::PreprocessSpec::none(), sdm::EmptyRule::keep, static_cast<int>(kind.shape().size()));
    for (std::int64_t p = 0; p < pairs; ++p) rows.emplace_back(f.row(0, p), f.row(0, p) + kind.size());
  }
  if (spec.occupancy)
    for (auto& r : block_occupancy(spec.occ, b)) rows.push_back(std::move(r));
  return rows;
}

LibraryStats write_library(MPI_Comm comm, const LibrarySpec& spec, const std::string& path, bool progress) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const auto samples = expand_library(spec);
  const auto n = static_cast<std::int64_t>(samples.size());

  io::FeatureLayout L;
  L.samples = n;
  for (const auto& sdm : spec.sdms) {
    for (const auto& [a, b] : spec.pairs)
      L.channels.push_back({to_string(sdm.kind), a + "-" + b, sdm.shape()});
    L.bins.emplace_back(to_string(sdm.kind), sdm.left_edges());
  }
  if (spec.occupancy) {
    const std::int64_t g = spec.occ.grid;
    for (const auto& sp : spec.occ.species) L.channels.push_back({"occupancy", sp, {g, g, g}});
    L.bins.emplace_back("occupancy", spec.occ.left_edges());
  }
  L.library = true;
  for (const auto& c : spec.classes) L.class_names.push_back(c.name);
  L.params = {"sigma_xy", "sigma_z", "eta"};
  L.config_text = spec.config_text;
  io::FeatureWriter w(path, L, comm);

  const std::int64_t first = n * rank / size, last = n * (rank + 1) / size;
  constexpr std::int64_t kChunk = 32;
  const std::int64_t my_rounds = (last - first + kChunk - 1) / kChunk;
  std::int64_t rounds = 0;
  MPI_Allreduce(&my_rounds, &rounds, 1, MPI_INT64_T, MPI_MAX, comm);
  const std::size_t nch = L.channels.size();
  auto last_print = t0;
  for (std::int64_t r = 0; r < rounds; ++r) {
    const std::int64_t r0 = std::min(last, first + r * kChunk), r1 = std::min(last, r0 + kChunk);
    const std::int64_t m = r1 - r0;
    std::vector<std::vector<float>> feats(nch);
    for (std::size_t c = 0; c < nch; ++c)
      feats[c].reserve(static_cast<std::size_t>(m * L.channels[c].size()));
    std::vector<std::int32_t> labels;
    std::vector<float> sxy, sz, eta;
    for (std::int64_t i = r0; i < r1; ++i) {
      const auto& s = samples[static_cast<std::size_t>(i)];
      auto rows = library_sample_sdms(spec, s);
      for (std::size_t c = 0; c < nch; ++c) feats[c].insert(feats[c].end(), rows[c].begin(), rows[c].end());
      labels.push_back(s.class_id);
      sxy.push_back(static_cast<float>(s.sigma_xy));
      sz.push_back(static_cast<float>(s.sigma_z));
      eta.push_back(static_cast<float>(s.eta));
      if (progress && rank == 0 && clock::now() - last_print > std::chrono::seconds(3)) {
        last_print = clock::now();
        const double el = std::chrono::duration<double>(last_print - t0).count();
        const std::int64_t done = i + 1 - first;
        std::fprintf(stderr,
                     "aptflow synth library: rank 0 %lld/%lld samples (%lld total on %d ranks), %.1f s\n",
                     static_cast<long long>(done), static_cast<long long>(last - first),
                     static_cast<long long>(n), size, el);
      }
    }
    for (std::size_t c = 0; c < nch; ++c) w.write_features(c, r0, m, feats[c].data());
    w.write_labels(r0, m, labels.data());
    w.write_param("sigma_xy", r0, m, sxy.data());
    w.write_param("sigma_z", r0, m, sz.data());
    w.write_param("eta", r0, m, eta.data());
  }
  w.close();
  LibraryStats st;
  st.samples = n;
  st.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  return st;
}

}  // namespace aptflow::synth
