// aptflow report for an aptflow pole result (/pole; docs/alignment.md):
// the pole found (table), the scan of the cone, the spread of the z-block
// estimates, and with tiles the maps of tilt, azimuth, uncertainty and the
// local poles.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "aptflow/core/error.hpp"
#include "aptflow/report/svg.hpp"
#include "report/detail.hpp"

namespace aptflow::report::detail {

namespace {

namespace fs = std::filesystem;
constexpr double kDeg = 180.0 / 3.14159265358979323846;

double scalar_or_nan(const h5::File& f, const std::string& path) {
  return h5::exists(f, path) ? read_scalar(f, path) : kNaN;
}

std::string attr_text(const h5::Handle& g, const std::string& name) {
  return h5::has_attr(g, name) ? h5::read_attr_string(g, name) : "(not recorded)";
}

std::string pm(double v, double u, const std::string& unit, int digits) {
  if (std::isnan(v)) return "n/a";
  if (std::isnan(u)) return fmt::format("{:.{}f} {}", v, digits, unit);
  return fmt::format("{:.{}f} +- {:.{}f} {}", v, digits, u, digits, unit);
}

void finite_range(const std::vector<double>& v, double& lo, double& hi) {
  lo = kNaN, hi = kNaN;
  for (double x : v)
    if (std::isfinite(x)) {
      lo = std::isnan(lo) ? x : std::min(lo, x);
      hi = std::isnan(hi) ? x : std::max(hi, x);
    }
  if (std::isnan(lo)) lo = 0, hi = 1;
  if (!(hi > lo)) hi = lo + 1e-6;
}

}  // namespace

ReportResult write_pole(const h5::File& f, const std::string& out_dir) {
  PageContext cx{f, out_dir, {}, Page("")};
  cx.result.kind = ReportKind::pole;
  cx.page = Page("aptflow pole report: " + fs::path(f.path()).filename().string());
  const h5::Handle g = h5::open_object(f, "/pole");

  // ---- summary
  const auto dir = read_doubles_if(f, "/pole/direction");
  const double tilt = scalar_or_nan(f, "/pole/tilt_deg"), az = scalar_or_nan(f, "/pole/azimuth_deg");
  cx.page.heading("Pole");
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"result file", f.path()});
  rows.push_back({"input", attr_text(g, "input_file")});
  rows.push_back({"range file", attr_text(g, "range_file")});
  if (h5::has_attr(g, "species")) {
    std::string s;
    for (const auto& n : h5::read_attr_strings(g, "species")) s += (s.empty() ? "" : ", ") + n;
    rows.push_back({"species (centres and neighbours)", s});
  }
  if (h5::exists(f, "/pole/ions"))
    rows.push_back({"ions used", thousands(static_cast<std::int64_t>(read_scalar(f, "/pole/ions")))});
  rows.push_back({"region of interest", attr_text(g, "roi")});
  if (h5::has_attr(g, "cone_deg"))
    rows.push_back(
        {"search cone",
         fmt::format("{} deg about z; spacings {} nm; r_cut {} nm, bins {} nm",
                     short_num(h5::read_attr_double(g, "cone_deg")),
                     h5::has_attr(g, "spacing_range_nm")
                         ? fmt::format("{}-{}", short_num(h5::read_attr_doubles(g, "spacing_range_nm")[0]),
                                       short_num(h5::read_attr_doubles(g, "spacing_range_nm")[1]))
                         : "?",
                     h5::has_attr(g, "r_cut_nm") ? short_num(h5::read_attr_double(g, "r_cut_nm")) : "?",
                     h5::has_attr(g, "bin_nm") ? short_num(h5::read_attr_double(g, "bin_nm")) : "?")});
  if (dir.size() == 3)
    rows.push_back({"direction (x, y, z)", fmt::format("({:.5f}, {:.5f}, {:.5f})", dir[0], dir[1], dir[2])});
  rows.push_back({"tilt from z", pm(tilt, scalar_or_nan(f, "/pole/tilt_uncertainty_deg"), "deg", 3)});
  rows.push_back(
      {"azimuth (from +x towards +y)", pm(az, scalar_or_nan(f, "/pole/azimuth_uncertainty_deg"), "deg", 2)});
  rows.push_back({"plane spacing", pm(scalar_or_nan(f, "/pole/spacing_nm"),
                                      scalar_or_nan(f, "/pole/spacing_uncertainty_nm"), "nm", 5)});
  rows.push_back(
      {"uncertainty of the direction", pm(scalar_or_nan(f, "/pole/uncertainty_deg"), kNaN, "deg", 3)});
  rows.push_back({"score (significance)", short_num(scalar_or_nan(f, "/pole/score"))});
  rows.push_back({"contrast P(k) / P(0)", short_num(scalar_or_nan(f, "/pole/contrast"))});
  if (h5::has_attr(g, "mpi_ranks"))
    rows.push_back({"MPI ranks", std::to_string(h5::read_attr_int(g, "mpi_ranks"))});
  cx.page.table({"quantity", "value"}, rows, "pole");
  cx.page.paragraph(
      "The pole is the direction of the strongest lattice-plane periodicity: the peak of the tapered Fourier "
      "amplitude of the 3D pair histogram (docs/alignment.md). Uncertainties are standard errors from the "
      "spread of the estimates of equal z blocks of the specimen.");

  // ---- scan
  cx.page.heading("Scan of the cone");
  if (h5::exists(f, "/pole/scan/score") && h5::exists(f, "/pole/scan/axis")) {
    std::vector<hsize_t> shape;
    const auto score = read_doubles_if(f, "/pole/scan/score", &shape);
    const auto axis = read_doubles_if(f, "/pole/scan/axis");
    if (shape.size() == 2 && axis.size() >= 2 && shape[0] == axis.size()) {
      const double step = axis[1] - axis[0];
      const double lo = (axis.front() - 0.5 * step) * kDeg, hi = (axis.back() + 0.5 * step) * kDeg;
      double vmin = 0, vmax = 1;
      finite_range(score, vmin, vmax);
      Plot p(520, 460);
      const auto sg = h5::open_object(f, "/pole/scan");
      const double bq = h5::has_attr(sg, "best_q") ? h5::read_attr_double(sg, "best_q") : kNaN;
      p.title(fmt::format("score at |k| = {} rad/nm (spacing {} nm)", short_num(bq),
                          short_num(2 * 3.14159265358979 / bq)))
          .xlabel("tilt towards +x (deg, gnomonic)")
          .ylabel("tilt towards +y (deg, gnomonic)")
          .heatmap(score, static_cast<std::int64_t>(shape[0]), static_cast<std::int64_t>(shape[1]), lo, hi,
                   lo, hi, vmin, vmax, "score");
      if (dir.size() == 3 && dir[2] > 0)
        p.scatter({dir[0] / dir[2] * kDeg}, {dir[1] / dir[2] * kDeg}, {0}, {"pole found"}, "none", 5);
      cx.add(p, "scan.svg",
             "Significance of every direction of the cone at the spacing of the best peak; grey: outside the "
             "cone.");
    } else {
      cx.missing("/pole/scan has an unexpected shape");
    }
  } else {
    cx.missing("the scan of the cone (/pole/scan) is not in this file");
  }
  if (h5::exists(f, "/pole/subsamples/direction") && dir.size() == 3) {
    std::vector<hsize_t> shape;
    const auto sd = read_doubles_if(f, "/pole/subsamples/direction", &shape);
    std::vector<double> x, y;
    for (std::size_t i = 0; i + 2 < sd.size(); i += 3)
      if (std::isfinite(sd[i]) && sd[i + 2] > 0) {
        x.push_back(sd[i] / sd[i + 2] * kDeg);
        y.push_back(sd[i + 1] / sd[i + 2] * kDeg);
      }
    if (!x.empty()) {
      Plot p(520, 420);
      p.title("pole of each z block")
          .xlabel("tilt towards +x (deg, gnomonic)")
          .ylabel("tilt towards +y (deg, gnomonic)");
      p.scatter(x, y, std::vector<int>(x.size(), 0), {"z blocks"});
      if (dir[2] > 0)
        p.scatter({dir[0] / dir[2] * kDeg}, {dir[1] / dir[2] * kDeg}, {0}, {"all ions"}, "none", 5);
      cx.add(p, "subsamples.svg", "The estimates of the z blocks whose spread gives the uncertainty.");
    }
  }

  // ---- tiles
  cx.page.heading("Local pole map");
  if (h5::exists(f, "/pole/tiles/tilt_deg")) {
    const auto tg = h5::open_object(f, "/pole/tiles");
    const auto origin = h5::read_attr_doubles(tg, "origin"), edge = h5::read_attr_doubles(tg, "edge");
    std::vector<hsize_t> shape;
    const auto tilt_map = read_doubles_if(f, "/pole/tiles/tilt_deg", &shape);
    const auto az_map = read_doubles_if(f, "/pole/tiles/azimuth_deg");
    const auto unc_map = read_doubles_if(f, "/pole/tiles/uncertainty_deg");
    const auto dmap = read_doubles_if(f, "/pole/tiles/direction");
    const auto ions = read_doubles_if(f, "/pole/tiles/ions");
    const auto status = read_doubles_if(f, "/pole/tiles/status");
    if (shape.size() != 3 || origin.size() != 3 || edge.size() != 3) {
      cx.missing("/pole/tiles has an unexpected shape");
    } else {
      const auto nz = static_cast<std::int64_t>(shape[0]), ny = static_cast<std::int64_t>(shape[1]),
                 nx = static_cast<std::int64_t>(shape[2]);
      const std::int64_t plane = nx * ny;
      cx.page.paragraph(fmt::format(
          "{} x {} x {} tiles (x, y, z) of {} x {} x {} nm; {} measured, {} with too few ions, {} without "
          "periodicity. Grey tiles hold no measured pole.",
          nx, ny, nz, short_num(edge[0]), short_num(edge[1]), short_num(edge[2]),
          h5::has_attr(tg, "measured") ? h5::read_attr_int(tg, "measured") : -1,
          h5::has_attr(tg, "too_few_ions") ? h5::read_attr_int(tg, "too_few_ions") : -1,
          h5::has_attr(tg, "no_periodicity") ? h5::read_attr_int(tg, "no_periodicity") : -1));
      const std::int64_t layers = std::min<std::int64_t>(nz, 4);
      for (std::int64_t l = 0; l < layers; ++l) {
        const std::int64_t z = nz <= 4 ? l : l * (nz - 1) / (layers - 1);
        auto layer = [&](const std::vector<double>& m) {
          return std::vector<double>(m.begin() + z * plane, m.begin() + (z + 1) * plane);
        };
        const double x0 = origin[0], x1 = origin[0] + nx * edge[0], y0 = origin[1],
                     y1 = origin[1] + ny * edge[1];
        const std::string where = nz > 1 ? fmt::format(", z {}-{} nm", short_num(origin[2] + z * edge[2]),
                                                       short_num(origin[2] + (z + 1) * edge[2]))
                                         : "";
        const std::string suffix = nz > 1 ? fmt::format("_z{}", z) : "";
        double lo = 0, hi = 1;
        finite_range(tilt_map, lo, hi);
        Plot pt(520, 460);
        pt.title("tilt from z" + where).xlabel("x (nm)").ylabel("y (nm)");
        pt.heatmap(layer(tilt_map), ny, nx, x0, x1, y0, y1, lo, hi, "tilt (deg)");
        cx.add(pt, "tile_tilt" + suffix + ".svg", "Tilt of the local pole from z per tile" + where + ".");
        Plot pa(520, 460);
        pa.title("azimuth" + where).xlabel("x (nm)").ylabel("y (nm)");
        pa.heatmap(layer(az_map), ny, nx, x0, x1, y0, y1, 0, 360, "azimuth (deg)");
        cx.add(pa, "tile_azimuth" + suffix + ".svg",
               "Azimuth of the local pole (counter-clockwise from +x) per tile" + where + ".");
        finite_range(unc_map, lo, hi);
        Plot pu(520, 460);
        pu.title("uncertainty" + where).xlabel("x (nm)").ylabel("y (nm)");
        pu.heatmap(layer(unc_map), ny, nx, x0, x1, y0, y1, std::min(lo, 0.0), hi, "deg");
        cx.add(pu, "tile_uncertainty" + suffix + ".svg",
               "Angular standard error of the local pole" + where + ".");
      }
      // Local poles in the tangent plane, with the global one.
      std::vector<double> x, y;
      for (std::size_t i = 0; i + 2 < dmap.size(); i += 3)
        if (std::isfinite(dmap[i]) && dmap[i + 2] > 0) {
          x.push_back(dmap[i] / dmap[i + 2] * kDeg);
          y.push_back(dmap[i + 1] / dmap[i + 2] * kDeg);
        }
      if (!x.empty()) {
        Plot p(520, 420);
        p.title("local poles")
            .xlabel("tilt towards +x (deg, gnomonic)")
            .ylabel("tilt towards +y (deg, gnomonic)");
        p.scatter(x, y, std::vector<int>(x.size(), 0), {"tiles"});
        if (dir.size() == 3 && dir[2] > 0)
          p.scatter({dir[0] / dir[2] * kDeg}, {dir[1] / dir[2] * kDeg}, {0}, {"whole selection"}, "none", 5);
        cx.add(p, "tile_poles.svg", "The pole of every measured tile and of the whole selection.");
      }
      if (tilt_map.size() <= 400) {
        std::vector<std::vector<std::string>> trows;
        const char* names[] = {"measured", "too few ions", "no periodicity"};
        for (std::size_t t = 0; t < tilt_map.size(); ++t) {
          const auto ti = static_cast<std::int64_t>(t);
          const int st = t < status.size() ? static_cast<int>(status[t]) : -1;
          trows.push_back({std::to_string(ti % nx) + ", " + std::to_string((ti / nx) % ny) + ", " +
                               std::to_string(ti / plane),
                           t < ions.size() ? thousands(static_cast<std::int64_t>(ions[t])) : "",
                           st >= 0 && st <= 2 ? names[st] : "?", short_num(tilt_map[t]),
                           t < az_map.size() ? short_num(az_map[t]) : "",
                           t < unc_map.size() ? short_num(unc_map[t]) : ""});
        }
        cx.page.table(
            {"tile (x, y, z)", "ions", "status", "tilt (deg)", "azimuth (deg)", "uncertainty (deg)"}, trows,
            "tiles");
      }
    }
  } else {
    cx.missing("no tile map in this file (run aptflow pole with --tile)");
  }

  cx.result.index_html = (fs::path(out_dir) / "index.html").string();
  std::ofstream o(cx.result.index_html, std::ios::binary);
  o << cx.page.html();
  if (!o) throw ResourceError(fmt::format("cannot write '{}' (disk full?)", cx.result.index_html));
  return cx.result;
}

}  // namespace aptflow::report::detail
