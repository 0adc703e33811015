#pragma once
// The domain table of classify and cluster results (internal to src/pipeline):
// <group>/{id, class, ions, core_ions, volume, radius, radius_of_gyration}
// (domains,) and <group>/{centroid, gyration} (domains, 3). Collective when
// the file is a parallel one (every rank passes the same domains).
#include <string>
#include <vector>

#include "aptflow/io/h5.hpp"
#include "aptflow/pipeline/segment.hpp"

namespace aptflow::detail {

inline void write_domain_table(const h5::File& f, const std::string& group,
                               const std::vector<DomainStats>& domains) {
  const std::size_t nd = domains.size();
  std::vector<std::int64_t> id(nd), ions(nd), core(nd);
  std::vector<std::int32_t> cls(nd);
  std::vector<double> vol(nd), rad(nd), rg(nd), cen(nd * 3), gyr(nd * 3);
  for (std::size_t k = 0; k < nd; ++k) {
    const auto& d = domains[k];
    id[k] = d.id;
    cls[k] = d.cls;
    ions[k] = d.ions;
    core[k] = d.core_ions;
    vol[k] = d.volume;
    rad[k] = d.radius;
    rg[k] = d.rg;
    for (int a = 0; a < 3; ++a) {
      cen[k * 3 + a] = d.centroid[a];
      gyr[k * 3 + a] = d.gyration[a];
    }
  }
  h5::write(f, group + "/id", id);
  h5::write(f, group + "/class", cls);
  h5::write(f, group + "/ions", ions);
  h5::write(f, group + "/core_ions", core);
  h5::write(f, group + "/volume", vol);
  h5::write(f, group + "/radius", rad);
  h5::write(f, group + "/radius_of_gyration", rg);
  h5::write(f, group + "/centroid", cen, {static_cast<hsize_t>(nd), 3});
  h5::write(f, group + "/gyration", gyr, {static_cast<hsize_t>(nd), 3});
}

}  // namespace aptflow::detail
