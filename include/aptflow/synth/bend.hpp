#pragma once
// Tilted and bent lattices for synthetic specimens (docs/synthetic.md,
// "Tilt and bend"): the ground truth of `aptflow pole` (docs/alignment.md).
//
// Tilt: `orientation.tilt = [tilt, azimuth]` (degrees) turns the oriented
// lattice by the smallest rotation that takes +z to the direction
// (sin t cos a, sin t sin a, cos t): a pole that was on z ends at polar angle
// t from z, towards azimuth a (counter-clockwise from +x). tilt = [t, 0] is the
// rotation by t about +y (Bunge euler = [90, t, -90]).
//
// Bend: `orientation.bend = [kx, ky]` (degrees per nm) bends the lattice into
// a cylinder, so the local pole turns steadily across the field of view.
// Every ideal site position p (after orientation and tilt) is moved by
//   1. about an axis along y through (x0, ., z0 - 1/kx): with u = x - x0,
//      w = z - z0, phi = kx u (radians),
//        x' = x0 + sin(phi) / kx + w sin(phi),  z' = z0 + w cos(phi) - (1 - cos(phi)) / kx;
//   2. the same in the y-z plane with ky, v = y' - y0, w = z' - z0.
// Locally this is the rotation Ry(kx (x - x0)) then Rx(-ky (y - y0)) (the
// pole leans towards +x as x grows for kx > 0, towards +y as y grows for ky > 0)
// times a stretch 1 + k w along the bent direction; the spacing of planes normal
// to the bend radius is unchanged. (x0, y0, z0) = bend centre (default: the
// specimen centre), where the map is the identity to first order.
#include <array>

namespace aptflow::synth {

using Vec3d = std::array<double, 3>;
using Mat3d = std::array<std::array<double, 3>, 3>;

// The smallest rotation taking +z to (sin t cos a, sin t sin a, cos t), t and a in degrees.
Mat3d tilt_rotation_deg(double tilt, double azimuth);

class BendMap {
 public:
  BendMap() = default;
  // k in degrees per nm (see above); centre in nm.
  BendMap(const std::array<double, 2>& k_deg_per_nm, const Vec3d& centre);

  bool active() const { return kx_ != 0.0 || ky_ != 0.0; }
  // Bent position of an unbent point (identity when inactive).
  Vec3d apply(const Vec3d& p) const;
  // Unbent point whose bent position is q (fixed-point iteration to 1e-12 nm).
  Vec3d inverse(const Vec3d& q) const;
  // Jacobian d apply / d p at the unbent point p (row = output axis).
  Mat3d jacobian(const Vec3d& p) const;
  // Largest |apply(p) - p| per axis over the box [lo - m, hi + m] with m the
  // result itself (conservative: an unbent point whose bent position lies in
  // [lo, hi] lies within the returned margin of it).
  Vec3d margin(const Vec3d& lo, const Vec3d& hi) const;

 private:
  double kx_ = 0, ky_ = 0;  // rad / nm
  Vec3d c_{0, 0, 0};
};

}  // namespace aptflow::synth
