#pragma once
// Orientation of a crystal in the specimen (lab) frame, z = analysis direction.
// An Orientation is the active rotation R applied to crystal-frame positions:
// p_lab = R p_crystal.
//
// Pole convention: pole [u, v, w] (a lattice direction, Cartesian vector
// (u a, v a, w c)) is brought onto +z; the lab x axis is the component of the
// crystal [100] axis perpendicular to the pole (crystal [010] when the pole is
// along [100]); y = z cross x. Poles [0,0,1], [0,0,2] give the identity, and
// pole [1,0,1] gives exactly the 45 degree rotation about y of the ML-APT
// papers (method.md section 4): z' = (x + z)/sqrt2, x' = (x - z)/sqrt2, y' = y.
// The papers call that orientation "[011]" (a member of the <011> family); the
// direction [0,1,1] itself lies in the yz plane and gives the 45 degree
// rotation about x: z' = (y + z)/sqrt2, y' = (y - z)/sqrt2, x' = x.
//
// Euler angles: Bunge convention (phi1, Phi, phi2), degrees, rotations about
// Z, X, Z. R = Rz(phi1) Rx(Phi) Rz(phi2) with active rotation matrices, which
// is the transpose of Bunge's orientation matrix g (g maps lab to crystal
// coordinates). The papers' 45 degree rotation about y is (-90, 45, 90).
#include <array>
#include <string>

#include "aptflow/core/config.hpp"

namespace aptflow::synth {

using Mat3 = std::array<std::array<double, 3>, 3>;

struct Orientation {
  Mat3 R{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};

  std::array<double, 3> apply(const std::array<double, 3>& p) const {
    return {R[0][0] * p[0] + R[0][1] * p[1] + R[0][2] * p[2],
            R[1][0] * p[0] + R[1][1] * p[1] + R[1][2] * p[2],
            R[2][0] * p[0] + R[2][1] * p[1] + R[2][2] * p[2]};
  }
  // p_crystal = R^T p_lab.
  std::array<double, 3> apply_inverse(const std::array<double, 3>& p) const {
    return {R[0][0] * p[0] + R[1][0] * p[1] + R[2][0] * p[2],
            R[0][1] * p[0] + R[1][1] * p[1] + R[2][1] * p[2],
            R[0][2] * p[0] + R[1][2] * p[1] + R[2][2] * p[2]};
  }
  bool is_identity() const;

  static Orientation identity() { return {}; }
  // Pole [u, v, w] along +z for a cell with edges (a, a, c) (see above).
  static Orientation from_pole(const std::array<double, 3>& uvw, const std::array<double, 3>& cell);
  // Bunge ZXZ Euler angles in degrees (see above).
  static Orientation from_euler_deg(double phi1, double Phi, double phi2);
};

// Reads `table.pole = [u, v, w]` or `table.euler = [phi1, Phi, phi2]`
// (at most one; neither = identity). `cell` is the edge lengths of the crystal.
Orientation orientation_from_config(const Config& cfg, const std::string& table,
                                    const std::array<double, 3>& cell);

}  // namespace aptflow::synth
