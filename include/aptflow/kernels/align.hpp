#pragma once
// Rigid rotations of ion clouds for crystallographic alignment
// (docs/alignment.md): bring a lattice pole onto +z, for the whole cloud or
// per tile, so that z-SDMs see the lattice planes normal to z.
//
// A Rotation maps p -> centre + R (p - centre) (nm; R orthonormal, active).
// Positions are read as float32, rotated in double and rounded back to
// float32. rotation_to_z(n) is the smallest rotation taking the unit vector n
// onto +z: about the axis n x z by the angle between n and z, so a pole at
// (tilt t, azimuth a) is turned back by t in its own azimuthal plane and the
// in-plane frame is disturbed as little as possible.
//
// Per tile: a TileRotations holds a regular grid of tiles (columns when the
// grid has one tile along z) and one Rotation per tile (normally about the
// tile centre). Each ion is rotated by the rotation of the tile that holds
// its position before the rotation (positions outside the grid take the
// nearest tile). The map is piecewise rigid: ions near a tile border move by
// up to (half the tile) x (the difference of the neighbouring rotations)
// relative to each other; part 2 of issue 15 decides where that matters.
#include <Kokkos_Core.hpp>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"

namespace aptflow {

struct Rotation {
  double R[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  double centre[3] = {0, 0, 0};  // nm

  KOKKOS_INLINE_FUNCTION void apply(double& x, double& y, double& z) const {
    const double u = x - centre[0], v = y - centre[1], w = z - centre[2];
    x = centre[0] + R[0][0] * u + R[0][1] * v + R[0][2] * w;
    y = centre[1] + R[1][0] * u + R[1][1] * v + R[1][2] * w;
    z = centre[2] + R[2][0] * u + R[2][1] * v + R[2][2] * w;
  }
  // Direction (no centre): R d.
  std::array<double, 3> turn(const std::array<double, 3>& d) const;
  // R^T about the same centre.
  Rotation inverse() const;
  bool is_identity() const;
  // Row-major R (9 values) then the centre (3): the layout stored in result files.
  std::array<double, 12> pack() const;
  static Rotation unpack(const double* v12);
};

// Unit direction of polar angle tilt from +z towards azimuth (counter-clockwise
// from +x), both in degrees.
std::array<double, 3> pole_direction(double tilt_deg, double azimuth_deg);
// Tilt and azimuth (degrees; azimuth in [0, 360), 0 when the tilt is 0) of a
// direction (normalised here; the sign is chosen so that z >= 0).
void tilt_azimuth(const std::array<double, 3>& n, double& tilt_deg, double& azimuth_deg);
// The smallest rotation taking the direction n (any length > 0; n and -n are
// the same pole: the one with z >= 0 is used) onto +z, about `centre`.
// Exactly the identity when n is along z.
Rotation rotation_to_z(const std::array<double, 3>& n, const std::array<double, 3>& centre);

struct TileRotations;
// InternalError unless rotations.size() == size() and every edge is positive.
void check_tile_rotations(const TileRotations& tiles);

struct TileRotations {
  double origin[3] = {0, 0, 0};     // nm, lower corner of tile (0, 0, 0)
  double edge[3] = {1, 1, 1};       // nm per tile along x, y, z
  std::int64_t n[3] = {1, 1, 1};    // tiles along x, y, z
  std::vector<Rotation> rotations;  // tile (ix, iy, iz) at (iz * n[1] + iy) * n[0] + ix

  std::int64_t size() const { return n[0] * n[1] * n[2]; }
  // Tile holding (x, y, z), clamped into the grid (NaN -> tile 0 along that axis).
  KOKKOS_INLINE_FUNCTION std::int64_t tile_of(double x, double y, double z) const {
    const double p[3] = {x, y, z};
    std::int64_t t[3];
    for (int a = 0; a < 3; ++a) {
      const double f = (p[a] - origin[a]) / edge[a];
      // NaN -> 0 (tested with != first: no ordered comparison of a NaN); the
      // cast only sees values in [1, n - 1).
      t[a] = (f != f || f < 1.0) ? 0 : (f < double(n[a] - 1) ? static_cast<std::int64_t>(f) : n[a] - 1);
    }
    return (t[2] * n[1] + t[1]) * n[0] + t[0];
  }
};

// Rotate every ion of the cloud in place.
template <class Exec, class Mem>
void rotate_cloud(const Exec& exec, const IonCloud<Mem>& cloud, const Rotation& rot) {
  auto x = cloud.x, y = cloud.y, z = cloud.z;
  Kokkos::parallel_for(
      "aptflow::align::rotate", Kokkos::RangePolicy<Exec>(exec, 0, cloud.size()),
      KOKKOS_LAMBDA(const IonIndex i) {
        double px = x(i), py = y(i), pz = z(i);
        rot.apply(px, py, pz);
        x(i) = static_cast<float>(px);
        y(i) = static_cast<float>(py);
        z(i) = static_cast<float>(pz);
      });
  exec.fence();
}

namespace detail {
// The tile grid as the rotate_cloud_tiles kernel captures it (a type at
// namespace scope: nvcc does not allow a function-local type in a device
// lambda's captures).
struct TileGeometry {
  double origin[3], edge[3];
  std::int64_t n[3];
};
}  // namespace detail

// Rotate every ion by the rotation of its tile (see above). tile_of_ion,
// when its extent is the cloud size, receives the tile index of each ion
// (so that results can be turned back with the same rotation).
template <class Exec, class Mem>
void rotate_cloud_tiles(const Exec& exec, const IonCloud<Mem>& cloud, const TileRotations& tiles,
                        const Kokkos::View<std::int64_t*, Mem>& tile_of_ion = {}) {
  const std::int64_t nt = tiles.size();
  check_tile_rotations(tiles);
  Kokkos::View<double* [12], Mem> rot(
      Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, "aptflow::align::tile_rotations"), nt);
  auto host = Kokkos::create_mirror_view(rot);
  for (std::int64_t t = 0; t < nt; ++t) {
    const auto p = tiles.rotations[static_cast<std::size_t>(t)].pack();
    for (int k = 0; k < 12; ++k) host(t, k) = p[k];
  }
  Kokkos::deep_copy(exec, rot, host);
  // Geometry by value (the kernel must not touch the std::vector).
  detail::TileGeometry g{};
  for (int a = 0; a < 3; ++a) {
    g.origin[a] = tiles.origin[a];
    g.edge[a] = tiles.edge[a];
    g.n[a] = tiles.n[a];
  }
  auto x = cloud.x, y = cloud.y, z = cloud.z;
  const bool record = tile_of_ion.extent(0) == static_cast<std::size_t>(cloud.size());
  auto out = tile_of_ion;
  Kokkos::parallel_for(
      "aptflow::align::rotate_tiles", Kokkos::RangePolicy<Exec>(exec, 0, cloud.size()),
      KOKKOS_LAMBDA(const IonIndex i) {
        double p[3] = {x(i), y(i), z(i)};
        std::int64_t ti[3];
        for (int a = 0; a < 3; ++a) {
          const double f = (p[a] - g.origin[a]) / g.edge[a];
          ti[a] =
              (f != f || f < 1.0) ? 0 : (f < double(g.n[a] - 1) ? static_cast<std::int64_t>(f) : g.n[a] - 1);
        }
        const std::int64_t t = (ti[2] * g.n[1] + ti[1]) * g.n[0] + ti[0];
        const double u = p[0] - rot(t, 9), v = p[1] - rot(t, 10), w = p[2] - rot(t, 11);
        x(i) = static_cast<float>(rot(t, 9) + rot(t, 0) * u + rot(t, 1) * v + rot(t, 2) * w);
        y(i) = static_cast<float>(rot(t, 10) + rot(t, 3) * u + rot(t, 4) * v + rot(t, 5) * w);
        z(i) = static_cast<float>(rot(t, 11) + rot(t, 6) * u + rot(t, 7) * v + rot(t, 8) * w);
        if (record) out(i) = t;
      });
  exec.fence();
}

}  // namespace aptflow
