#pragma once
// Host (CPU) z-SDM binning of one centre ion against a contiguous block of
// candidate positions: the hot loop of the window z-SDM on host backends.
// Pass 1 filters and bins a block of candidates without branches (the
// compiler vectorises it; rejected candidates go to a dummy bin), pass 2
// increments interleaved sub-histograms so that runs of equal bins do not
// serialise. kernels/z_histogram.cpp compiles it twice, for the baseline
// x86-64 ISA and for AVX2 (chosen at run time: z_histogram_isa() names the
// one that runs). The float arithmetic is the definition of
// aptflow/core/sdm_spec.hpp (no FMA contraction), so both give identical counts.
#include <cstdint>

#include "aptflow/core/sdm_spec.hpp"

namespace aptflow::detail {

inline constexpr int kZCopies = 2;
inline constexpr int kZMaxBins = 1024;  // >= the SdmSpec z crop limit

// Interleaved sub-histograms of nbins + 1 bins (the last: rejected), so
// that consecutive increments of one bin do not wait on each other.
struct ZHistogram {
  std::int32_t c[kZCopies][kZMaxBins + 1];
  void zero(int nbins) {
    for (int k = 0; k < kZCopies; ++k)
      for (int q = 0; q <= nbins; ++q) c[k][q] = 0;
  }
  // h[q] = sum of the copies, q < nbins.
  template <class T>
  void sum_into(T* h, int nbins) const {
    for (int q = 0; q < nbins; ++q) {
      T v = 0;
      for (int k = 0; k < kZCopies; ++k) v += T(c[k][q]);
      h[q] = v;
    }
  }
};

// The candidates of a group of centres: z in [zlo, zhi], and (x, y) within
// r of the rectangle [xlo, xhi] x [ylo, yhi]. The bounds are float and
// conservative (the caller widens them beyond the float32 rounding).
struct ZGatherBox {
  float xlo, xhi, ylo, yhi, zlo, zhi, r2;
};

// Appends to (bx, by, bz) from position n the candidates k in [0, len)
// inside the box, in order; returns the new n. flags: len bytes of scratch.
std::int64_t z_gather(const ZGatherBox& box, const float* x, const float* y, const float* z, std::int64_t len,
                      float* bx, float* by, float* bz, std::int64_t n, std::uint8_t* flags);

// Adds to hh the z-SDM bins (bn.kind == z) of the displacements from
// (px, py, pz) to the n candidates (x[k], y[k], z[k]) that are kept: r2 <=
// rc2, dx in the axis, dz in the crop (the point itself counts at d = 0
// when it is among the candidates: callers remove it).
void z_histogram_add(const SdmBinning& bn, const float* x, const float* y, const float* z, std::int64_t n,
                     float px, float py, float pz, ZHistogram& hh);

// Candidate windows of a group of centres: chunk row (window - first) and
// float32 centre of each.
struct ZWindowList {
  static constexpr int kCapacity = 512;
  int n = 0;
  alignas(32) std::int32_t row[kCapacity + 8];
  alignas(32) float cx[kCapacity + 8], cy[kCapacity + 8], cz[kCapacity + 8];
};

// The rows of the listed windows whose sphere holds (px, py, pz): the float
// test of windows.hpp's in_sphere, d = p - c, (dx*dx + dy*dy) + dz*dz <= r2.
// rows needs list.n + 8 entries; returns their number.
int z_windows_of(const ZWindowList& list, float px, float py, float pz, float r2, std::int32_t* rows);

// out[rows[k] * stride + q] += h[q] for q < nbins, k < nrows (one thread).
void z_add_rows(std::int64_t* out, std::int64_t stride, const std::int32_t* rows, int nrows,
                const std::int64_t* h, int nbins);

// Candidates of a local-composition count (kernels/composition.hpp):
// positions and, per candidate, ranged / solute as 1 (yes) or 0 (no).
struct SphereCandidates {
  const float *x, *y, *z;
  const std::int32_t *ranged, *solute;
  std::int64_t n;
};

// ranged (solute) += the number of candidates within sqrt(r2) of p whose
// ranged (solute) entry is 1: the exact double test of
// kernels/composition.hpp, d = double(q) - double(p), (dx*dx + dy*dy) +
// dz*dz <= r2 (NaN: out). The AVX2 variant tests in float32 first and takes
// the double test for the candidates the float result cannot decide, so
// both variants give the same counts.
void sphere_counts_add(const SphereCandidates& c, float px, float py, float pz, double r2,
                       std::int32_t& ranged, std::int32_t& solute);

// "avx2" or "baseline": the variant z_histogram_add runs on this CPU.
const char* z_histogram_isa();

}  // namespace aptflow::detail
