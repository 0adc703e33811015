// aptflow cluster INPUT [--range R] [--species A,B] [--eps 0.4] [--min-samples 3]
//   [--control CONTROL] [--bins 32] [--lo 0] [--hi 160] [--overflow last_bin|drop]
//   [--roi SPEC] [--set transform.KEY=VALUE] [--json] [--out F.h5]:
// DBSCAN domains of a point cloud (and of a control cloud), size histograms
// and the real-versus-control statistics; MPI-parallel (docs/cli.md).
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/pipeline/cluster.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

void register_cluster(CLI::App& app) {
  struct Args {
    ClusterOptions opt = ClusterOptions::published();
    std::string roi, overflow = "last_bin";
    bool json = false;
    std::vector<std::string> sets;  // --set transform.KEY=VALUE
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "cluster",
      "DBSCAN domains of a point cloud (every ion, or --species), their size histogram and, with --control, "
      "those of a second cloud (e.g. a shuffled-m/q extraction) and the Pearson r, chi2 and contingency "
      "coefficient of the published analysis; MPI-parallel; --out: per-ion domain ids + domain table (HDF5 + "
      "XDMF)");
  sub->add_option("input", a->opt.input, "point cloud (POS, EPOS, APT or aptflow HDF5)")->required();
  sub->add_option("--range,-r", a->opt.range, "range file (needed for --species)");
  sub->add_option("--species", a->opt.species, "ion types that take part, e.g. Ni,Co (default: every ion)")
      ->delimiter(',');
  sub->add_option("--eps", a->opt.domains.eps, "DBSCAN neighbourhood radius, nm")->capture_default_str();
  sub->add_option("--min-samples", a->opt.domains.min_samples, "DBSCAN core size, the ion itself included")
      ->capture_default_str();
  sub->add_option("--control", a->opt.control,
                  "second point cloud compared with the first (e.g. its shuffled "
                  "m/q counterpart)");
  sub->add_option("--bins", a->opt.domains.histogram.bins, "size histogram bins")->capture_default_str();
  sub->add_option("--lo", a->opt.domains.histogram.lo, "size histogram lower edge, ions")
      ->capture_default_str();
  sub->add_option("--hi", a->opt.domains.histogram.hi, "size histogram upper edge, ions")
      ->capture_default_str();
  sub->add_option("--overflow", a->overflow,
                  "domains larger than --hi: last_bin (published: counted in the last bin) or drop")
      ->check(CLI::IsMember({"last_bin", "drop"}))
      ->capture_default_str();
  sub->add_option("--roi", a->roi,
                  "region of interest: box:x0,y0,z0,x1,y1,z1 or cylinder:cx,cy,r[,z0,z1] (nm)");
  sub->add_option("--atomic-density", a->opt.domains.atomic_density, "atoms / nm^3, for domain volumes")
      ->capture_default_str();
  sub->add_option("--efficiency", a->opt.domains.detection_efficiency,
                  "detection efficiency, for domain volumes")
      ->capture_default_str();
  sub->add_flag("--drop-nonfinite", a->opt.drop_nonfinite,
                "drop ions with NaN/Inf values instead of failing");
  sub->add_option("--set", a->sets,
                  "key=value: transform.align (\"none\", \"auto\" or [tilt, azimuth] in degrees) and, with "
                  "auto, transform.cone, transform.species, transform.tile, transform.min_score, "
                  "transform.r_cut, transform.bin, transform.subsamples (docs/alignment.md)");
  sub->add_flag("--json", a->json, "print one JSON object (diagnostics on stderr)");
  sub->add_option("--out,-o", a->opt.out,
                  "write per-ion domain ids and the domain table (HDF5 + XDMF sidecar)");
  sub->callback([a] {
    ClusterOptions opt = a->opt;
    // Bad values name the option (the library names its config keys).
    const auto& h = opt.domains.histogram;
    if (h.bins < 1) throw ConfigError("--bins", fmt::format("{} bins: give at least 1 (paper: 32)", h.bins));
    if (!(h.hi > h.lo) || !std::isfinite(h.lo) || !std::isfinite(h.hi))
      throw ConfigError(
          "--hi",
          fmt::format("the histogram range [{}, {}] is empty: give --lo < --hi (paper: 0, 160)", h.lo, h.hi));
    if (!(opt.domains.eps > 0) || !std::isfinite(opt.domains.eps))
      throw ConfigError("--eps",
                        fmt::format("eps = {} nm: give a positive number (paper: 0.4)", opt.domains.eps));
    if (opt.domains.min_samples < 1)
      throw ConfigError("--min-samples",
                        fmt::format("{}: give at least 1 (paper: 3)", opt.domains.min_samples));
    opt.domains.histogram.overflow_in_last_bin = a->overflow == "last_bin";
    if (!a->roi.empty()) opt.roi = parse_roi_spec(a->roi, "--roi");
    opt.align = parse_align_overrides(a->sets);  // before anything is read or written
    const ClusterResult r = run_cluster(MPI_COMM_WORLD, opt);
    if (Runtime::world_rank() != 0) return;
    if (a->json)
      std::puts(cluster_json(r, opt).c_str());
    else
      std::fputs(cluster_text(r, opt).c_str(), stdout);
  });
}

}  // namespace aptflow::cli
