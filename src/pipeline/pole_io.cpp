// aptflow pole: result file (/pole in HDF5 + XDMF sidecar of the tile map),
// JSON and text summaries (include/aptflow/pipeline/pole.hpp, docs/alignment.md).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/xdmf.hpp"
#include "aptflow/pipeline/pole.hpp"

namespace aptflow::pole {

namespace {

namespace fs = std::filesystem;

std::string g17(double v) { return fmt::format("{:.17g}", v); }

nlohmann::ordered_json estimate_json(const PoleEstimate& e) {
  nlohmann::ordered_json j;
  j["direction"] = {e.direction[0], e.direction[1], e.direction[2]};
  j["tilt_deg"] = e.tilt_deg;
  j["azimuth_deg"] = e.azimuth_deg;
  j["spacing_nm"] = e.spacing_nm;
  j["uncertainty_deg"] = e.uncertainty_deg;
  j["tilt_uncertainty_deg"] = e.tilt_uncertainty_deg;
  j["azimuth_uncertainty_deg"] = e.azimuth_uncertainty_deg;
  j["cross_uncertainty_deg"] = e.cross_uncertainty_deg;
  j["spacing_uncertainty_nm"] = e.spacing_uncertainty_nm;
  j["score"] = e.score;
  j["contrast"] = e.contrast;
  j["pairs"] = e.pairs;
  j["subsamples_used"] = e.subsamples_used;
  return j;
}

// Values of every tile, in tile order, of one field.
template <class F>
std::vector<double> tile_field(const TileMap& tm, F&& f) {
  std::vector<double> v;
  v.reserve(tm.tiles.size());
  for (const auto& t : tm.tiles) v.push_back(f(t));
  return v;
}

}  // namespace

std::string xdmf_path_for(const std::string& h5_path) {
  fs::path p(h5_path);
  p.replace_extension(".xdmf");
  return p.string();
}

void write_pole_file(MPI_Comm comm, const std::string& path, const PoleResult& r, const std::string& input,
                     const std::string& range, const std::vector<std::string>& species_names) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const auto& o = r.options;
  const auto& p = r.pole;
  {
    auto f = h5::File::create(path, comm);
    auto one = [&](const std::string& name, double v) {
      h5::write(f, "/pole/" + name, std::vector<double>{v});
    };
    h5::write(f, "/pole/direction", std::vector<double>(p.direction.begin(), p.direction.end()));
    h5::write(f, "/pole/k", std::vector<double>(p.k.begin(), p.k.end()));
    one("tilt_deg", p.tilt_deg);
    one("azimuth_deg", p.azimuth_deg);
    one("spacing_nm", p.spacing_nm);
    one("uncertainty_deg", p.uncertainty_deg);
    one("tilt_uncertainty_deg", p.tilt_uncertainty_deg);
    one("azimuth_uncertainty_deg", p.azimuth_uncertainty_deg);
    one("cross_uncertainty_deg", p.cross_uncertainty_deg);
    one("spacing_uncertainty_nm", p.spacing_uncertainty_nm);
    one("score", p.score);
    one("contrast", p.contrast);
    h5::write(f, "/pole/pairs", std::vector<std::int64_t>{p.pairs});
    h5::write(f, "/pole/ions", std::vector<std::int64_t>{r.ions});
    h5::write(f, "/pole/centres", std::vector<std::int64_t>{r.centres});
    // Sub-samples (z blocks).
    std::vector<double> sd, ss;
    for (std::size_t g = 0; g < p.sub_directions.size(); ++g) {
      for (int a = 0; a < 3; ++a) sd.push_back(p.sub_directions[g][static_cast<std::size_t>(a)]);
      ss.push_back(p.sub_spacing[g]);
    }
    if (!ss.empty()) {
      h5::write(f, "/pole/subsamples/direction", sd, {static_cast<hsize_t>(ss.size()), 3});
      h5::write(f, "/pole/subsamples/spacing_nm", ss);
    }
    // Scan of the cone at the best spacing.
    const auto& sc = r.scan;
    std::vector<double> axis(static_cast<std::size_t>(sc.nu));
    for (int i = 0; i < sc.nu; ++i) axis[static_cast<std::size_t>(i)] = (i - (sc.nu - 1) / 2) * sc.step;
    if (sc.nu > 0) {
      h5::write(f, "/pole/scan/score", sc.score_at_best_q,
                {static_cast<hsize_t>(sc.nu), static_cast<hsize_t>(sc.nu)});
      h5::write(f, "/pole/scan/axis", axis);
      h5::write(f, "/pole/scan/q", sc.q);
      h5::write(f, "/pole/scan/median", sc.median);
      const h5::Handle g = h5::open_object(f, "/pole/scan");
      h5::write_attr(g, "best_q", sc.best_q >= 0 ? sc.q[static_cast<std::size_t>(sc.best_q)] : kNaN);
      h5::write_attr(g, "step", sc.step);
      h5::write_attr(g, "cone_deg", sc.cone_deg);
      h5::write_attr(
          g, "description",
          std::string("score (rows v, columns u) of the directions n = (u, v, 1) / |(u, v, 1)| at "
                      "|k| = best_q (rad/nm); u = tan(tilt) cos(azimuth), v = tan(tilt) sin(azimuth); "
                      "NaN outside the cone"));
    }
    // Tile map.
    if (r.has_tiles) {
      const auto& tm = r.tiles;
      const std::vector<hsize_t> shape{static_cast<hsize_t>(tm.n[2]), static_cast<hsize_t>(tm.n[1]),
                                       static_cast<hsize_t>(tm.n[0])};
      auto field = [&](const std::string& name, const std::vector<double>& v) {
        h5::write(f, "/pole/tiles/" + name, v, shape);
      };
      field("tilt_deg", tile_field(tm, [](const PoleEstimate& e) { return e.tilt_deg; }));
      field("azimuth_deg", tile_field(tm, [](const PoleEstimate& e) { return e.azimuth_deg; }));
      field("spacing_nm", tile_field(tm, [](const PoleEstimate& e) { return e.spacing_nm; }));
      field("uncertainty_deg", tile_field(tm, [](const PoleEstimate& e) { return e.uncertainty_deg; }));
      field("tilt_uncertainty_deg",
            tile_field(tm, [](const PoleEstimate& e) { return e.tilt_uncertainty_deg; }));
      field("score", tile_field(tm, [](const PoleEstimate& e) { return e.score; }));
      std::vector<double> dir, centre;
      for (std::int64_t t = 0; t < tm.size(); ++t) {
        const auto& e = tm.tiles[static_cast<std::size_t>(t)];
        for (int a = 0; a < 3; ++a) dir.push_back(e.direction[static_cast<std::size_t>(a)]);
        const std::int64_t ix = t % tm.n[0], iy = (t / tm.n[0]) % tm.n[1], iz = t / (tm.n[0] * tm.n[1]);
        const std::int64_t idx[3] = {ix, iy, iz};
        for (int a = 0; a < 3; ++a) centre.push_back(tm.origin[a] + (idx[a] + 0.5) * tm.edge[a]);
      }
      auto shape4 = shape;
      shape4.push_back(3);
      h5::write(f, "/pole/tiles/direction", dir, shape4);
      h5::write(f, "/pole/tiles/centre", centre, shape4);
      std::vector<double> cen;
      for (const auto& c : tm.centroid) cen.insert(cen.end(), c.begin(), c.end());
      h5::write(f, "/pole/tiles/centroid", cen, shape4);
      h5::write(f, "/pole/tiles/ions", tm.ions, shape);
      std::vector<std::int8_t> st;
      for (auto s : tm.status) st.push_back(static_cast<std::int8_t>(s));
      h5::write(f, "/pole/tiles/status", st, shape);
      const h5::Handle g = h5::open_object(f, "/pole/tiles");
      h5::write_attr(g, "origin", std::vector<double>{tm.origin[0], tm.origin[1], tm.origin[2]});
      h5::write_attr(g, "edge", std::vector<double>{tm.edge[0], tm.edge[1], tm.edge[2]});
      h5::write_attr(g, "counts", std::vector<double>{double(tm.n[0]), double(tm.n[1]), double(tm.n[2])});
      h5::write_attr(g, "columns", static_cast<std::int64_t>(o.tile_z > 0 ? 0 : 1));
      h5::write_attr(g, "status_codes", std::string("0 measured, 1 too few ions, 2 no periodicity"));
      h5::write_attr(g, "measured", tm.measured);
      h5::write_attr(g, "too_few_ions", tm.too_few);
      h5::write_attr(g, "no_periodicity", tm.no_periodicity);
    }
    {  // every handle closed before the file (MPI-IO files close only when nothing is open)
      const h5::Handle g = h5::open_object(f, "/pole");
      h5::write_attr(g, "NX_class", std::string("NXprocess"));
      h5::write_attr(g, "program",
                     std::string("aptflow pole ") + APTFLOW_VERSION + " (" + APTFLOW_GIT_HASH + ")");
      h5::write_attr(g, "input_file", input);
      h5::write_attr(g, "range_file", range);
      h5::write_attr(g, "species", species_names);
      h5::write_attr(g, "roi", o.roi.enabled() ? o.roi.describe() : std::string("all"));
      h5::write_attr(g, "cone_deg", o.cone_deg);
      h5::write_attr(g, "r_cut_nm", o.r_cut);
      h5::write_attr(g, "margin_nm", o.margin);
      h5::write_attr(g, "bin_nm", o.bin);
      h5::write_attr(g, "spacing_range_nm", std::vector<double>{o.spacing_min, o.spacing_max});
      h5::write_attr(g, "subsamples", static_cast<std::int64_t>(o.subsamples));
      h5::write_attr(g, "min_score", o.min_score);
      h5::write_attr(g, "tile_nm", o.tile);
      h5::write_attr(g, "tile_z_nm", o.tile_z);
      h5::write_attr(g, "min_tile_ions", o.min_tile_ions);
      h5::write_attr(g, "mpi_ranks", static_cast<std::int64_t>(r.ranks));
      h5::write_attr(g, "bounds",
                     std::vector<double>{r.bounds.lo[0], r.bounds.hi[0], r.bounds.lo[1], r.bounds.hi[1],
                                         r.bounds.lo[2], r.bounds.hi[2]});
    }
    f.close();
  }
  if (!r.has_tiles || rank != 0) {
    MPI_Barrier(comm);
    return;
  }
  // XDMF 3: the tiles as cells of a 3DCoRectMesh (nodes = tile corners).
  const auto& tm = r.tiles;
  const std::string xpath = xdmf_path_for(path);
  const fs::path xdir = fs::absolute(fs::path(xpath)).parent_path();
  const std::string ref =
      io::xml_escape(fs::absolute(fs::path(path)).lexically_relative(xdir).generic_string());
  const std::string cells = fmt::format("{} {} {}", tm.n[2], tm.n[1], tm.n[0]);
  std::string x;
  x += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n";
  x += "<Xdmf Version=\"3.0\" xmlns:xi=\"http://www.w3.org/2001/XInclude\">\n  <Domain>\n";
  x += "    <Grid Name=\"pole_tiles\" GridType=\"Uniform\">\n";
  x += fmt::format("      <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"{} {} {}\"/>\n", tm.n[2] + 1,
                   tm.n[1] + 1, tm.n[0] + 1);
  x += "      <Geometry GeometryType=\"ORIGIN_DXDYDZ\">\n";
  x += fmt::format(
      "        <DataItem Name=\"Origin\" Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" "
      "Format=\"XML\">{} {} {}</DataItem>\n",
      g17(tm.origin[2]), g17(tm.origin[1]), g17(tm.origin[0]));
  x += fmt::format(
      "        <DataItem Name=\"Spacing\" Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" "
      "Format=\"XML\">{} {} {}</DataItem>\n",
      g17(tm.edge[2]), g17(tm.edge[1]), g17(tm.edge[0]));
  x += "      </Geometry>\n";
  auto scalar = [&](const std::string& name, const std::string& type) {
    x += fmt::format("      <Attribute Name=\"{}\" AttributeType=\"Scalar\" Center=\"Cell\">\n", name);
    x += fmt::format("        <DataItem Dimensions=\"{}\" {} Format=\"HDF\">{}:/pole/tiles/{}</DataItem>\n",
                     cells, type, ref, name);
    x += "      </Attribute>\n";
  };
  const std::string f8 = "NumberType=\"Float\" Precision=\"8\"";
  for (const char* name : {"tilt_deg", "azimuth_deg", "spacing_nm", "uncertainty_deg", "score"})
    scalar(name, f8);
  scalar("ions", "NumberType=\"Int\" Precision=\"8\"");
  scalar("status", "NumberType=\"Char\" Precision=\"1\"");
  x += "      <Attribute Name=\"direction\" AttributeType=\"Vector\" Center=\"Cell\">\n";
  x += fmt::format(
      "        <DataItem Dimensions=\"{} 3\" {} Format=\"HDF\">{}:/pole/tiles/direction</DataItem>\n", cells,
      f8, ref);
  x += "      </Attribute>\n    </Grid>\n  </Domain>\n</Xdmf>\n";
  std::ofstream out(xpath, std::ios::binary | std::ios::trunc);
  out << x;
  out.close();
  const bool ok = static_cast<bool>(out);
  MPI_Barrier(comm);
  if (!ok) throw ResourceError(fmt::format("cannot write '{}': check the path and free space", xpath));
}

std::string pole_json(const PoleResult& r, const std::string& input,
                      const std::vector<std::string>& species_names, const std::string& out_file) {
  const auto& o = r.options;
  nlohmann::ordered_json j;
  j["input"] = input;
  j["ions"] = r.ions;
  j["centres"] = r.centres;
  j["species"] = species_names;
  j["roi"] = o.roi.enabled() ? o.roi.describe() : std::string("all");
  j["ranks"] = r.ranks;
  j["seconds"] = {{"histograms", r.seconds_histograms}, {"analysis", r.seconds_analysis}};
  j["settings"] = {{"cone_deg", o.cone_deg},
                   {"r_cut_nm", o.r_cut},
                   {"margin_nm", o.margin},
                   {"bin_nm", o.bin},
                   {"spacing_range_nm", {o.spacing_min, o.spacing_max}},
                   {"subsamples", o.subsamples},
                   {"min_score", o.min_score}};
  j["pole"] = estimate_json(r.pole);
  if (r.has_tiles) {
    const auto& tm = r.tiles;
    nlohmann::ordered_json t;
    t["counts"] = {tm.n[0], tm.n[1], tm.n[2]};
    t["origin_nm"] = {tm.origin[0], tm.origin[1], tm.origin[2]};
    t["edge_nm"] = {tm.edge[0], tm.edge[1], tm.edge[2]};
    t["measured"] = tm.measured;
    t["too_few_ions"] = tm.too_few;
    t["no_periodicity"] = tm.no_periodicity;
    double lo = kNaN, hi = kNaN;
    for (std::size_t i = 0; i < tm.tiles.size(); ++i)
      if (tm.status[i] == TileStatus::measured) {
        const double v = tm.tiles[i].tilt_deg;
        lo = std::isnan(lo) ? v : std::min(lo, v);
        hi = std::isnan(hi) ? v : std::max(hi, v);
      }
    t["tilt_range_deg"] = {lo, hi};
    j["tiles"] = t;
  }
  j["output"] = out_file.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(out_file);
  return j.dump(2);
}

std::string pole_text(const PoleResult& r, const std::vector<std::string>& species_names) {
  const auto& p = r.pole;
  std::string species;
  for (std::size_t i = 0; i < species_names.size(); ++i) species += (i ? "," : "") + species_names[i];
  std::string s = fmt::format(
      "aptflow pole: {} ions ({}), {} centres, cone {} deg: pole ({:.5f}, {:.5f}, {:.5f})\n"
      "  tilt {:.3f} +- {:.3f} deg, azimuth {:.2f} +- {:.2f} deg, spacing {:.5f} +- {:.5f} nm, "
      "uncertainty {:.3f} deg, score {:.1f}, contrast {:.3f}\n",
      r.ions, species.empty() ? "all ranged" : species, r.centres, r.options.cone_deg, p.direction[0],
      p.direction[1], p.direction[2], p.tilt_deg, p.tilt_uncertainty_deg, p.azimuth_deg,
      p.azimuth_uncertainty_deg, p.spacing_nm, p.spacing_uncertainty_nm, p.uncertainty_deg, p.score,
      p.contrast);
  s += fmt::format("  time: pair histograms {:.2f} s, analysis {:.2f} s ({} ranks)\n", r.seconds_histograms,
                   r.seconds_analysis, r.ranks);
  if (r.has_tiles) {
    const auto& tm = r.tiles;
    s += fmt::format(
        "  tiles: {} x {} x {} of {} x {} x {:.4g} nm: {} measured, {} with too few ions, {} without "
        "periodicity\n",
        tm.n[0], tm.n[1], tm.n[2], tm.edge[0], tm.edge[1], tm.edge[2], tm.measured, tm.too_few,
        tm.no_periodicity);
  }
  return s;
}

}  // namespace aptflow::pole
