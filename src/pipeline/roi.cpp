// Region of interest: parsing, membership, selection (include/aptflow/pipeline/roi.hpp).
#include "aptflow/pipeline/roi.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "aptflow/core/error.hpp"

namespace aptflow {

namespace {

void check_finite(const std::vector<double>& v, const std::string& key) {
  for (double x : v)
    if (!std::isfinite(x)) throw ConfigError(key, "every value must be a finite number of nm");
}

void set_box(Roi& r, const std::vector<double>& v, const std::string& key) {
  if (v.size() != 6)
    throw ConfigError(key, fmt::format("{} values: give [x0, y0, z0, x1, y1, z1] in nm", v.size()));
  check_finite(v, key);
  r.shape = Roi::Shape::box;
  r.key = key;
  for (int a = 0; a < 3; ++a) {
    r.lo[a] = v[static_cast<std::size_t>(a)];
    r.hi[a] = v[static_cast<std::size_t>(a + 3)];
    if (!(r.lo[a] < r.hi[a]))
      throw ConfigError(
          key, fmt::format("the box is empty along {} ({} >= {}): give x0 < x1, y0 < y1, z0 < z1", "xyz"[a],
                           r.lo[a], r.hi[a]));
  }
}

void set_cylinder(Roi& r, const std::vector<double>& v, const std::string& key) {
  if (v.size() != 3 && v.size() != 5)
    throw ConfigError(key, fmt::format("{} values: give centre x, centre y, radius (nm){}", v.size(),
                                       key.rfind("--", 0) == 0 ? " and optionally z0, z1" : ""));
  check_finite(v, key);
  r.shape = Roi::Shape::cylinder;
  r.key = key;
  r.cx = v[0];
  r.cy = v[1];
  r.radius = v[2];
  if (!(r.radius > 0)) throw ConfigError(key, fmt::format("radius {} nm: must be positive", r.radius));
  if (v.size() == 5) {
    r.z0 = v[3];
    r.z1 = v[4];
    if (!(r.z0 < r.z1)) throw ConfigError(key, fmt::format("z range [{}, {}]: give z0 < z1", r.z0, r.z1));
  }
}

}  // namespace

bool Roi::contains(float x, float y, float z) const {
  const double px = x, py = y, pz = z;
  switch (shape) {
    case Shape::none:
      return true;
    case Shape::box:
      return px >= lo[0] && px <= hi[0] && py >= lo[1] && py <= hi[1] && pz >= lo[2] && pz <= hi[2];
    case Shape::cylinder: {
      const double dx = px - cx, dy = py - cy;
      return dx * dx + dy * dy <= radius * radius && pz >= z0 && pz <= z1;
    }
  }
  return true;
}

std::string Roi::describe() const {
  switch (shape) {
    case Shape::none:
      return "";
    case Shape::box:
      return fmt::format("box [{}, {}, {}] - [{}, {}, {}] nm", lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]);
    case Shape::cylinder:
      return std::isfinite(z0)
                 ? fmt::format("cylinder centre ({}, {}) radius {} nm, z [{}, {}] nm", cx, cy, radius, z0, z1)
                 : fmt::format("cylinder centre ({}, {}) radius {} nm", cx, cy, radius);
  }
  return "";
}

Roi parse_roi(const Config& cfg, const std::string& prefix) {
  Roi r;
  const std::string kb = prefix + ".box", kc = prefix + ".cylinder", kz = prefix + ".z";
  const bool box = cfg.has(kb), cyl = cfg.has(kc), zr = cfg.has(kz);
  if (box && cyl) throw ConfigError(kc, fmt::format("give {} or {}, not both", kb, kc));
  if (zr && !cyl)
    throw ConfigError(kz, fmt::format("a z range belongs to {} (a box has its own z0, z1)", kc));
  if (box) set_box(r, cfg.get_doubles(kb), kb);
  if (cyl) {
    std::vector<double> v = cfg.get_doubles(kc);
    if (v.size() != 3)
      throw ConfigError(kc, fmt::format("{} values: give [centre x, centre y, radius] in nm", v.size()));
    if (zr) {
      const auto z = cfg.get_doubles(kz);
      if (z.size() != 2) throw ConfigError(kz, fmt::format("{} values: give [z0, z1] in nm", z.size()));
      v.insert(v.end(), z.begin(), z.end());
    }
    set_cylinder(r, v, kc);
  }
  return r;
}

Roi parse_roi_spec(const std::string& spec, const std::string& option) {
  Roi r;
  const auto colon = spec.find(':');
  const std::string shape = spec.substr(0, colon);
  if (colon == std::string::npos || (shape != "box" && shape != "cylinder"))
    throw ConfigError(option,
                      fmt::format("'{}': give box:x0,y0,z0,x1,y1,z1 or cylinder:cx,cy,r[,z0,z1] (nm)", spec));
  std::vector<double> v;
  std::stringstream ss(spec.substr(colon + 1));
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      v.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw ConfigError(option, fmt::format("'{}' in '{}' is not a number", item, spec));
    }
  }
  if (shape == "box")
    set_box(r, v, option);
  else
    set_cylinder(r, v, option);
  return r;
}

std::vector<std::uint8_t> roi_mask(const HostIonCloud& cloud, const Roi& roi) {
  std::vector<std::uint8_t> m(static_cast<std::size_t>(cloud.size()), 1);
  if (!roi.enabled()) return m;
  for (IonIndex i = 0; i < cloud.size(); ++i)
    m[static_cast<std::size_t>(i)] = roi.contains(cloud.x(i), cloud.y(i), cloud.z(i)) ? 1 : 0;
  return m;
}

HostIonCloud select_ions(const HostIonCloud& cloud, const std::vector<std::uint8_t>& mask) {
  IonIndex n = 0;
  for (auto v : mask) n += v;
  HostIonCloud out(n, "aptflow::roi::ions");
  IonIndex k = 0;
  for (IonIndex i = 0; i < cloud.size(); ++i) {
    if (!mask[static_cast<std::size_t>(i)]) continue;
    out.x(k) = cloud.x(i);
    out.y(k) = cloud.y(i);
    out.z(k) = cloud.z(i);
    out.mq(k) = cloud.mq(i);
    out.species(k) = cloud.species(i);
    ++k;
  }
  return out;
}

RoiSelection keep_ions(MPI_Comm comm, HostIonCloud& cloud, IonIndex first, std::vector<std::uint8_t> mask) {
  RoiSelection sel;
  int nranks = 1;
  MPI_Comm_size(comm, &nranks);
  const bool filter = !mask.empty();
  if (filter && mask.size() != static_cast<std::size_t>(cloud.size()))
    throw InternalError("keep_ions: one mask entry per ion expected");
  std::int64_t mine[2] = {first, cloud.size()};
  if (filter) {
    mine[1] = 0;
    for (auto v : mask) mine[1] += v ? 1 : 0;
  }
  std::vector<std::int64_t> all(2 * static_cast<std::size_t>(nranks));
  MPI_Allgather(mine, 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, comm);
  std::int64_t before = 0, total = 0;
  for (int r = 0; r < nranks; ++r) {
    const auto f = all[2 * static_cast<std::size_t>(r)], k = all[2 * static_cast<std::size_t>(r) + 1];
    total += k;
    if (f < first) before += k;  // read blocks are disjoint: those of the ranks before this one
  }
  std::int64_t read = cloud.size(), read_total = 0;
  MPI_Allreduce(&read, &read_total, 1, MPI_INT64_T, MPI_SUM, comm);
  sel.first_kept = filter ? before : first;
  sel.kept_total = total;
  sel.read_total = read_total;
  if (filter) {
    cloud = select_ions(cloud, mask);
    sel.mask = std::move(mask);
  }
  return sel;
}

RoiSelection apply_roi(MPI_Comm comm, HostIonCloud& cloud, IonIndex first, const Roi& roi,
                       const std::string& input_file) {
  if (!roi.enabled()) return keep_ions(comm, cloud, first, {});
  RoiSelection sel = keep_ions(comm, cloud, first, roi_mask(cloud, roi));
  if (sel.kept_total == 0)  // the same on every rank
    throw InputError(input_file, fmt::format("the region of interest ({} = {}) holds none of its {} ions: "
                                             "move it inside the data (aptflow inspect prints the bounds)",
                                             roi.key, roi.describe(), sel.read_total));
  return sel;
}

}  // namespace aptflow
