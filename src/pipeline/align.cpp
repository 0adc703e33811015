// transform.align: parse, resolve (fixed pole or aptflow pole), apply, record
// (include/aptflow/pipeline/align.hpp, docs/alignment.md).
#include "aptflow/pipeline/align.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/window_ownership.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/pipeline/segment.hpp"

namespace aptflow {

namespace {

// transform.<key> for each CLI option that PoleOptions::validate names.
const std::map<std::string, std::string>& option_keys() {
  static const std::map<std::string, std::string> m = {{"--cone", "cone"},
                                                       {"--r-cut", "r_cut"},
                                                       {"--bin", "bin"},
                                                       {"--spacing", "cone"},
                                                       {"--subsamples", "subsamples"},
                                                       {"--min-score", "min_score"},
                                                       {"--tile", "tile"},
                                                       {"--tile-z", "tile"}};
  return m;
}

}  // namespace

std::string to_string(AlignSpec::Mode m) {
  switch (m) {
    case AlignSpec::Mode::none:
      return "none";
    case AlignSpec::Mode::fixed:
      return "fixed";
    case AlignSpec::Mode::autodetect:
      return "auto";
  }
  return "none";
}

AlignSpec parse_align(const Config& cfg, const std::string& table) {
  AlignSpec s;
  const std::string key = table + ".align";
  if (cfg.has(key)) {
    if (cfg.is_string(key)) {
      const std::string v = cfg.get_string(key);
      if (v == "none")
        s.mode = AlignSpec::Mode::none;
      else if (v == "auto")
        s.mode = AlignSpec::Mode::autodetect;
      else
        throw ConfigError(key, fmt::format("'{}' is not \"none\", \"auto\" or [tilt, azimuth] (degrees)", v));
    } else if (cfg.is_array(key)) {
      const auto v = cfg.get_doubles(key);
      if (v.size() != 2 || !std::isfinite(v[0]) || !std::isfinite(v[1]) || v[0] < 0 || v[0] > 45)
        throw ConfigError(key, "expected [tilt, azimuth] in degrees with 0 <= tilt <= 45, e.g. [5.0, 0.0]");
      s.mode = AlignSpec::Mode::fixed;
      s.tilt_deg = v[0];
      s.azimuth_deg = v[1];
    } else {
      throw ConfigError(key, "expected \"none\", \"auto\" or [tilt, azimuth] (degrees)");
    }
  }
  const char* auto_keys[] = {"cone", "species", "tile", "min_score", "r_cut", "bin", "subsamples"};
  if (s.mode != AlignSpec::Mode::autodetect) {
    for (const char* k : auto_keys)
      if (cfg.has(table + "." + k))
        throw ConfigError(table + "." + k, fmt::format("only used with {} = \"auto\" (now {}): remove it",
                                                       key, to_string(s.mode)));
    return s;
  }
  auto& o = s.pole;
  o.cone_deg = cfg.get_double(table + ".cone", o.cone_deg);
  o.tile = cfg.get_double(table + ".tile", 0.0);
  o.min_score = cfg.get_double(table + ".min_score", o.min_score);
  o.r_cut = cfg.get_double(table + ".r_cut", o.r_cut);
  o.bin = cfg.get_double(table + ".bin", o.bin);
  const auto sub = cfg.get_int(table + ".subsamples", o.subsamples);
  if (sub < 2 || sub > 64) throw ConfigError(table + ".subsamples", "must be in 2..64");
  o.subsamples = static_cast<int>(sub);
  s.species = cfg.get_strings(table + ".species", std::vector<std::string>{});
  try {
    o.validate();
  } catch (const ConfigError& e) {
    const auto it = option_keys().find(e.key());
    std::string reason = e.what();
    const std::string prefix = "config key '" + e.key() + "': ";
    if (reason.rfind(prefix, 0) == 0) reason = reason.substr(prefix.size());
    throw ConfigError(table + "." + (it == option_keys().end() ? e.key() : it->second), reason);
  }
  return s;
}

AlignSpec parse_align_overrides(const std::vector<std::string>& assignments) {
  Config cfg = Config::from_string("", "--set");
  cfg.apply_overrides(assignments);
  const AlignSpec s = parse_align(cfg);
  cfg.check_all_used();
  return s;
}

Alignment resolve_alignment(MPI_Comm comm, const HostIonCloud& local, const AlignSpec& spec,
                            const RangeTable& table, const std::string& source) {
  Alignment a;
  a.mode = spec.mode;
  if (spec.mode == AlignSpec::Mode::none) return a;
  const Box b = dist::global_bounds(comm, local);  // collective
  const std::array<double, 3> centre{0.5 * (double(b.lo[0]) + b.hi[0]), 0.5 * (double(b.lo[1]) + b.hi[1]),
                                     0.5 * (double(b.lo[2]) + b.hi[2])};
  if (spec.mode == AlignSpec::Mode::fixed) {
    a.pole = pole_direction(spec.tilt_deg, spec.azimuth_deg);
    tilt_azimuth(a.pole, a.tilt_deg, a.azimuth_deg);
    a.rotation = rotation_to_z(a.pole, centre);
    return a;
  }
  pole::PoleOptions o = spec.pole;
  o.source = source;
  o.species.clear();
  for (const auto& name : spec.species) {
    const int id = find_species(table, name);
    if (id <= 0)
      throw ConfigError("transform.species",
                        fmt::format("ion type '{}' is not in the range file {}", name, table.source));
    o.species.push_back(id);
  }
  a.found = pole::find_pole(comm, local, o);
  a.pole = a.found.pole.direction;
  tilt_azimuth(a.pole, a.tilt_deg, a.azimuth_deg);
  a.rotation = rotation_to_z(a.pole, centre);
  if (a.found.has_tiles) {
    const auto& tm = a.found.tiles;
    a.per_tile = true;
    for (int ax = 0; ax < 3; ++ax) {
      a.tiles.origin[ax] = tm.origin[ax];
      a.tiles.edge[ax] = tm.edge[ax];
      a.tiles.n[ax] = tm.n[ax];
    }
    for (std::int64_t t = 0; t < tm.size(); ++t) {
      const std::int64_t idx[3] = {t % tm.n[0], (t / tm.n[0]) % tm.n[1], t / (tm.n[0] * tm.n[1])};
      std::array<double, 3> c{};
      for (int ax = 0; ax < 3; ++ax)
        c[static_cast<std::size_t>(ax)] = tm.origin[ax] + (idx[ax] + 0.5) * tm.edge[ax];
      const bool measured = tm.status[static_cast<std::size_t>(t)] == pole::TileStatus::measured;
      a.tiles.rotations.push_back(
          rotation_to_z(measured ? tm.tiles[static_cast<std::size_t>(t)].direction : a.pole, c));
    }
  }
  return a;
}

void apply_alignment(const Alignment& a, const HostIonCloud& cloud,
                     const Kokkos::View<std::int64_t*, Kokkos::HostSpace>& tile_of_ion) {
  const Kokkos::DefaultHostExecutionSpace exec;
  if (a.mode == AlignSpec::Mode::none) return;
  if (a.per_tile)
    rotate_cloud_tiles(exec, cloud, a.tiles, tile_of_ion);
  else if (!a.rotation.is_identity())
    rotate_cloud(exec, cloud, a.rotation);
}

std::array<double, 3> to_input_frame(const Alignment& a, const std::array<double, 3>& p, std::int64_t tile) {
  double x = p[0], y = p[1], z = p[2];
  if (a.mode == AlignSpec::Mode::none) return p;
  const Rotation& r = (a.per_tile && tile >= 0 && tile < a.tiles.size())
                          ? a.tiles.rotations[static_cast<std::size_t>(tile)]
                          : a.rotation;
  r.inverse().apply(x, y, z);
  return {x, y, z};
}

void domains_to_input_frame(const Alignment& a, std::vector<DomainStats>& domains) {
  if (a.mode == AlignSpec::Mode::none) return;
  for (auto& d : domains) {
    const std::array<double, 3> c{d.centroid[0], d.centroid[1], d.centroid[2]};
    std::int64_t tile = -1;
    if (a.per_tile) {
      const auto g = to_input_frame(a, c);
      tile = a.tiles.tile_of(g[0], g[1], g[2]);
    }
    const auto q = to_input_frame(a, c, tile);
    for (auto& axis : d.axes) {  // a direction: the rotation without the translation
      const auto e = to_input_frame(a, {c[0] + axis[0], c[1] + axis[1], c[2] + axis[2]}, tile);
      double v[3], norm = 0;
      int big = 0;
      for (int k = 0; k < 3; ++k) {
        v[k] = e[static_cast<std::size_t>(k)] - q[static_cast<std::size_t>(k)];
        norm += v[k] * v[k];
        if (std::abs(v[k]) > std::abs(v[big])) big = k;
      }
      const double scale = (norm > 0 ? 1.0 / std::sqrt(norm) : 0.0) * (v[big] < 0 ? -1.0 : 1.0);
      for (int k = 0; k < 3; ++k) axis[k] = v[k] * scale;
    }
    for (int k = 0; k < 3; ++k) d.centroid[k] = q[static_cast<std::size_t>(k)];
  }
}

std::string describe(const Alignment& a) {
  return fmt::format("align ({}): pole at tilt {:.3f} deg, azimuth {:.2f} deg turned onto z{}",
                     to_string(a.mode), a.tilt_deg, a.azimuth_deg,
                     a.per_tile ? fmt::format(", per column ({} columns)", a.tiles.size()) : "");
}

void write_alignment(const h5::File& f, const std::string& path, const Alignment& a) {
  const auto rot = a.rotation.pack();
  h5::write(f, path + "/rotation", std::vector<double>(rot.begin(), rot.end()));
  h5::write(f, path + "/pole", std::vector<double>(a.pole.begin(), a.pole.end()));
  if (a.mode == AlignSpec::Mode::autodetect) {
    const auto& p = a.found.pole;
    h5::write(f, path + "/score", std::vector<double>{p.score});
    h5::write(f, path + "/spacing_nm", std::vector<double>{p.spacing_nm});
    h5::write(f, path + "/uncertainty_deg", std::vector<double>{p.uncertainty_deg});
  }
  if (a.per_tile) {
    std::vector<double> r;
    for (const auto& t : a.tiles.rotations) {
      const auto v = t.pack();
      r.insert(r.end(), v.begin(), v.end());
    }
    h5::write(f, path + "/tiles/rotation", r, {static_cast<hsize_t>(a.tiles.rotations.size()), 12});
    h5::write(f, path + "/tiles/origin", std::vector<double>(a.tiles.origin, a.tiles.origin + 3));
    h5::write(f, path + "/tiles/edge", std::vector<double>(a.tiles.edge, a.tiles.edge + 3));
    h5::write(f, path + "/tiles/counts", std::vector<std::int64_t>(a.tiles.n, a.tiles.n + 3));
    std::vector<std::int8_t> st;
    for (auto s : a.found.tiles.status) st.push_back(static_cast<std::int8_t>(s));
    h5::write(f, path + "/tiles/status", st);
  }
  const h5::Handle g = h5::open_object(f, path);
  h5::write_attr(g, "mode", to_string(a.mode));
  h5::write_attr(g, "tilt_deg", a.tilt_deg);
  h5::write_attr(g, "azimuth_deg", a.azimuth_deg);
  h5::write_attr(g, "per_tile", static_cast<std::int64_t>(a.per_tile ? 1 : 0));
  h5::write_attr(
      g, "description",
      std::string("aligned position = centre + R (input position - centre); rotation = R row-major "
                  "(9) then centre (3), nm; per tile: each ion by its tile's rotation"));
}

}  // namespace aptflow
