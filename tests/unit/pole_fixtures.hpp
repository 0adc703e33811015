#pragma once
// Shared by the aptflow pole / transform.align tests: an Al FCC lattice
// (a = 0.405 nm, <002> on z, species id 1 = Al at 27 Da) tilted by
// orientation.tilt = [tilt, azimuth], with the APT artefact model, made by
// the synthetic specimen generator in memory.
#include <fmt/format.h>

#include <array>
#include <cstdint>

#include "aptflow/core/config.hpp"
#include "aptflow/synth/specimen.hpp"

namespace aptflow::test {

inline HostIonCloud tilted_al_lattice(double tilt, double azimuth, const std::array<double, 3>& size,
                                      double sigma_xy, double sigma_z = 0.03, double efficiency = 0.5,
                                      std::uint64_t seed = 41) {
  const auto cfg = Config::from_string(fmt::format(R"(
seed = {}
[specimen]
size = [{}, {}, {}]
[orientation]
tilt = [{}, {}]
[matrix]
structure = "A1"
a = 0.405
species = {{ A = {{ Al = 1.0 }} }}
[artefacts]
sigma_xy = {}
sigma_z = {}
efficiency = {}
[ions]
mass = {{ Al = 27.0 }}
)",
                                                   seed, size[0], size[1], size[2], tilt, azimuth, sigma_xy,
                                                   sigma_z, efficiency));
  const synth::SpecimenGenerator gen(cfg);
  return gen.generate_slab(0, gen.num_slabs()).ions;
}

}  // namespace aptflow::test
