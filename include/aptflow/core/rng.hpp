#pragma once
// Counter-based random numbers (synthetic data, training, shuffles): Philox-4x32-10 (Salmon et
// al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), implemented
// here from the published round function and constants.
//
// A random block is a pure function of (seed, sample, atom, purpose, block):
//   key     = (seed low 32 bits, seed high 32 bits)
//   counter = (atom low 32, atom high 32, sample, purpose << 16 | block)
// so a value never depends on how many ranks generate the data, nor on the
// order of generation: the same config gives the same bytes on 1 or 64 ranks.
// `sample` is the realisation (library sample index, specimen sample) and is
// limited to 32 bits; `atom` is any 64-bit identifier of the atom (block
// index, packed lattice site); `purpose` separates independent uses (site
// occupation, thinning, noise, ...) and `block` numbers successive blocks of
// one purpose. All functions are usable inside Kokkos kernels.
#include <Kokkos_Macros.hpp>
#include <cmath>
#include <cstdint>

namespace aptflow {

struct U32x4 {
  std::uint32_t v[4];
};

// Independent uses of the stream of one atom.
enum class RngPurpose : std::uint32_t {
  site = 1,           // occupation of a partially ordered site + detection (thinning)
  noise = 2,          // Gaussian displacement (x, y), (z, m/q peak width)
  domain_centre = 3,  // placement of domains in a specimen
  domain_radius = 4,  // radius draw of a domain
  test = 0xfff,       // reserved for tests
};

namespace detail {

KOKKOS_INLINE_FUNCTION void mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi,
                                      std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(b);
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

}  // namespace detail

// Philox-4x32 with 10 rounds: bijection of the 128-bit counter for each 64-bit key.
KOKKOS_INLINE_FUNCTION U32x4 philox4x32_10(U32x4 ctr, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += W0;
      k1 += W1;
    }
    std::uint32_t hi0, lo0, hi1, lo1;
    detail::mulhilo32(M0, ctr.v[0], hi0, lo0);
    detail::mulhilo32(M1, ctr.v[2], hi1, lo1);
    ctr = U32x4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
  }
  return ctr;
}

// The 128 random bits of block `block` of `purpose` for one atom of one sample.
KOKKOS_INLINE_FUNCTION U32x4 random_bits(std::uint64_t seed, std::uint32_t sample, std::uint64_t atom,
                                         RngPurpose purpose, std::uint32_t block = 0) {
  const U32x4 ctr{{static_cast<std::uint32_t>(atom), static_cast<std::uint32_t>(atom >> 32), sample,
                   (static_cast<std::uint32_t>(purpose) << 16) | (block & 0xffffu)}};
  return philox4x32_10(ctr, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

// Uniform double in the open interval (0, 1) from 52 random bits of the words
// (hi, lo): (k + 1/2) 2^-52, k in [0, 2^52), exact in double (53-bit mantissa).
KOKKOS_INLINE_FUNCTION double uniform_open(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 20) | (lo >> 12);  // 52 bits
  return (static_cast<double>(bits) + 0.5) * 0x1.0p-52;
}

struct Double2 {
  double a, b;
};

// Two uniforms in (0, 1) from one block.
KOKKOS_INLINE_FUNCTION Double2 uniform2(const U32x4& r) {
  return Double2{uniform_open(r.v[0], r.v[1]), uniform_open(r.v[2], r.v[3])};
}

// Two independent standard normal variates from one block (Box-Muller).
// |value| < 8.6 always (the smallest uniform is 2^-53).
KOKKOS_INLINE_FUNCTION Double2 normal2(const U32x4& r) {
  const Double2 u = uniform2(r);
  const double rad = std::sqrt(-2.0 * std::log(u.a));
  const double phi = 6.283185307179586476925 * u.b;
  return Double2{rad * std::cos(phi), rad * std::sin(phi)};
}

// Bound on |normal variate| from normal2 (sqrt(-2 ln 2^-53) = 8.57).
inline constexpr double kMaxNormal = 8.66;

}  // namespace aptflow
