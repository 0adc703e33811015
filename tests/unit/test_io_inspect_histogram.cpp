// inspect's peak histogram is computed by multiplication with an exact
// fix-up near bin edges (src/pipeline/inspect.cpp); it must give the same
// bins as the definition, floor(m/q / bin) in double precision, to the last
// ion. The test puts ions exactly on and one float step either side of bin
// edges (where a product and a quotient can floor differently), plus random
// m/q over [-5, 1100) Da, writes a POS file and compares every local maximum
// (position and count) with a histogram by division and an independent copy
// of the peak rule (docs/cli.md). Edge clusters are isolated (no ions within
// five bins), so an ion moved across an edge changes a reported count. Small
// blocks exercise the vector and the scalar tails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "aptflow/io/dataset.hpp"
#include "aptflow/pipeline/inspect.hpp"
#include "test_util.hpp"

namespace {

using aptflow::HostIonCloud;
using aptflow::MassPeak;

struct RefPeak {
  double mq;
  std::int64_t counts;
};

// Every local maximum (>= left, > right), strongest first, ties in bin order.
std::vector<RefPeak> reference_peaks(const std::vector<float>& mq, double bin) {
  const auto nbins = static_cast<std::size_t>(std::ceil(1000.0 / bin));
  std::vector<std::int64_t> h(nbins, 0);
  for (float q : mq) {
    if (!(q >= 0.0f && q < 1000.0f)) continue;
    const double k = std::floor(static_cast<double>(q) / bin);
    if (k < static_cast<double>(nbins)) ++h[static_cast<std::size_t>(k)];
  }
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < nbins; ++i) {
    const std::int64_t l = i > 0 ? h[i - 1] : 0, r = i + 1 < nbins ? h[i + 1] : 0;
    if (h[i] > 0 && h[i] >= l && h[i] > r) idx.push_back(i);
  }
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return h[a] > h[b]; });
  std::vector<RefPeak> out;
  for (auto i : idx) out.push_back({(static_cast<double>(i) + 0.5) * bin, h[i]});
  return out;
}

std::vector<float> edge_and_random_mq(double bin, std::int64_t random_ions, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> mq;
  const auto nbins = static_cast<std::int64_t>(std::ceil(1000.0 / bin));
  // Edge clusters in the lower half, at least 12 bins apart; random ions in the upper half.
  std::uniform_int_distribution<int> copies(1, 4);
  for (std::int64_t k = 6; k < nbins / 2 && mq.size() < 60000;
       k += 12 + static_cast<std::int64_t>(rng() % 50)) {
    const float e = static_cast<float>(static_cast<double>(k) * bin);
    const float below = std::nextafter(e, 0.0f), above = std::nextafter(e, 2000.0f);
    for (float q : {below, e, above, std::nextafter(below, 0.0f), std::nextafter(above, 2000.0f)})
      for (int c = copies(rng); c > 0; --c) mq.push_back(q);
  }
  std::uniform_real_distribution<float> any(static_cast<float>(500.0 + 6 * bin), 1100.f), low(-5.f, 0.f);
  for (std::int64_t i = 0; i < random_ions; ++i) mq.push_back(i % 50 == 0 ? low(rng) : any(rng));
  // The largest floats below 1000 and 1000 itself (outside).
  mq.push_back(std::nextafter(1000.0f, 0.0f));
  mq.push_back(1000.0f);
  std::shuffle(mq.begin(), mq.end(), rng);
  return mq;
}

TEST(IoInspectHistogram, PeaksEqualHistogramByDivision) {
  aptflow::test::TempDir dir;
  unsigned seed = 11;
  for (const double bin : {0.01, 0.003, 0.7, 1.0 / 3.0, 0.025}) {
    for (const std::int64_t chunk : {std::int64_t{37}, std::int64_t{1} << 22}) {
      SCOPED_TRACE("bin " + std::to_string(bin) + ", chunk " + std::to_string(chunk));
      const auto mq = edge_and_random_mq(bin, 30000, ++seed);
      HostIonCloud c(static_cast<std::int64_t>(mq.size()), "edges");
      for (std::int64_t i = 0; i < c.size(); ++i) {
        c.x(i) = static_cast<float>(i % 97), c.y(i) = static_cast<float>(i % 89), c.z(i) = 0.01f * i;
        c.mq(i) = mq[static_cast<std::size_t>(i)];
      }
      const auto path = (dir / "edges.pos").string();
      aptflow::io::write_dataset(path, aptflow::io::Format::pos, c);

      aptflow::InspectOptions opt;
      opt.spectrum_bin = bin;
      opt.max_peaks = 1 << 30;
      opt.peak_separation = 0;
      opt.chunk_ions = chunk;
      opt.format = aptflow::io::Format::pos;
      const auto r = aptflow::inspect_dataset(MPI_COMM_SELF, path, opt);
      const auto ref = reference_peaks(mq, bin);
      ASSERT_GT(ref.size(), 100u);
      ASSERT_EQ(r.peaks.size(), ref.size());
      for (std::size_t k = 0; k < ref.size(); ++k) {
        ASSERT_EQ(r.peaks[k].mq, ref[k].mq) << k;
        ASSERT_EQ(r.peaks[k].counts, ref[k].counts) << k;
      }
    }
  }
}

}  // namespace
