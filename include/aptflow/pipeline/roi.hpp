#pragma once
// Region of interest (docs/classify.md "Region of interest"): the published
// analyses cut a column around the pole (e.g. 20 x 20 x 120 nm) and analyse
// only the ions inside. An Roi is an axis-aligned box or a cylinder along z
// (centre, radius, optional z range); `classify`, `sdm`, `cluster` and
// `voxelize` keep the ions inside and give the others -1 in their per-ion
// output (which stays in input order).
//
// Inside (inclusive, in double from the float32 positions, as the published
// cut df[(z >= z0) & (z <= z1) & ...]):
//   box      : x0 <= x <= x1, y0 <= y <= y1, z0 <= z <= z1
//   cylinder : (x - cx)^2 + (y - cy)^2 <= r^2 and z0 <= z <= z1 (default: all z)
#include <mpi.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "aptflow/core/config.hpp"
#include "aptflow/core/ion_cloud.hpp"

namespace aptflow {

struct Roi {
  enum class Shape { none, box, cylinder };
  Shape shape = Shape::none;
  double lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};  // box, nm
  double cx = 0, cy = 0, radius = 0;            // cylinder, nm
  double z0 = -std::numeric_limits<double>::infinity(), z1 = std::numeric_limits<double>::infinity();
  std::string key = "roi";  // config key or option, for messages

  bool enabled() const { return shape != Shape::none; }
  bool contains(float x, float y, float z) const;
  // "box [x0, y0, z0] - [x1, y1, z1] nm" or "cylinder centre (cx, cy) radius r nm, z [z0, z1]"; "" when none.
  std::string describe() const;
};

// Config keys (classify, sdm --set): roi.box = [x0, y0, z0, x1, y1, z1], or
// roi.cylinder = [cx, cy, radius] with optional roi.z = [z0, z1]. None of
// them: no ROI. ConfigError naming the key for a bad value or both shapes.
Roi parse_roi(const Config& cfg, const std::string& prefix = "roi");
// Command-line form (cluster, voxelize --roi): "box:x0,y0,z0,x1,y1,z1" or
// "cylinder:cx,cy,r" or "cylinder:cx,cy,r,z0,z1". ConfigError naming option.
Roi parse_roi_spec(const std::string& spec, const std::string& option = "--roi");

// Per ion of cloud: 1 inside, 0 outside (all 1 without an ROI).
std::vector<std::uint8_t> roi_mask(const HostIonCloud& cloud, const Roi& roi);
// The ions with mask 1, in order (positions, m/q, species; no extras).
HostIonCloud select_ions(const HostIonCloud& cloud, const std::vector<std::uint8_t>& mask);

// Collective over comm: the ROI applied to the ions this rank read (global
// input indices [first, first + cloud.size())). Replaces cloud by the ions
// inside and returns the compacted global index of its first kept ion (kept
// ions of all ranks numbered in input order) and the global counts. With
// require_ions, an ROI that holds no ion of the whole dataset is an
// InputError naming the file and the ROI. No ROI: nothing changes.
struct RoiSelection {
  std::vector<std::uint8_t> mask;  // per ion read by this rank; empty when there is no ROI
  IonIndex first_kept = 0;         // global index of this rank's first kept ion (compacted)
  IonIndex kept_total = 0, read_total = 0;
};
RoiSelection apply_roi(MPI_Comm comm, HostIonCloud& cloud, IonIndex first, const Roi& roi,
                       const std::string& input_file);
// Collective over comm: the same for any mask (1 = keep; empty = keep all),
// without the error (kept_total may be 0).
RoiSelection keep_ions(MPI_Comm comm, HostIonCloud& cloud, IonIndex first, std::vector<std::uint8_t> mask);

// Per-ion values of the kept ions (this rank's, in input order) spread back
// over the ions this rank read; `outside` for the others.
template <class T>
std::vector<T> expand_to_read(const RoiSelection& sel, const T* kept, IonIndex n_kept, T outside) {
  if (sel.mask.empty()) return std::vector<T>(kept, kept + n_kept);
  std::vector<T> out(sel.mask.size(), outside);
  IonIndex k = 0;
  for (std::size_t i = 0; i < sel.mask.size(); ++i)
    if (sel.mask[i]) out[i] = kept[k++];
  return out;
}

}  // namespace aptflow
