// The archive use of the meta-analysis (method.md section 8) on synthetic mass
// spectra: 60 datasets of 3 or 4 materials, each a Poisson-count spectrum on
// the archive binning (0-200 Da at 0.01 Da, 20000 bins) with 1e4-1e5 ions, a
// uniform background and a hydrogen level (H+, H2+, H3+) that varies from 1 %
// to 50 % of the ions independently of the material. The recommended
// pipeline (Hellinger normalisation of all bins -> self-tuning spectral clustering)
// must recover the materials (ARI >= 0.9), not the hydrogen level.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "aptflow/analysis/meta.hpp"

namespace an = aptflow::analysis;

namespace {

constexpr double kBin = 0.01;  // Da
constexpr int kBins = 20000;   // 0-200 Da

struct Isotope {
  double mass;  // Da
  double abundance;
};
struct Element {
  std::vector<Isotope> isotopes;
  double doubly_charged;  // fraction of ions evaporated as 2+
};

// Natural isotopic abundances; charge-state ratios typical of laser/voltage APT.
const Element kLi{{{6.015, 0.076}, {7.016, 0.924}}, 0.0};
const Element kMg{{{23.985, 0.790}, {24.986, 0.100}, {25.983, 0.110}}, 0.6};
const Element kAl{{{26.982, 1.0}}, 0.3};
const Element kCr{{{49.946, 0.043}, {51.941, 0.838}, {52.941, 0.095}, {53.939, 0.024}}, 0.8};
const Element kFe{{{53.940, 0.058}, {55.935, 0.918}, {56.935, 0.021}, {57.933, 0.003}}, 0.8};
const Element kNi{{{57.935, 0.681}, {59.931, 0.262}, {60.931, 0.011}, {61.928, 0.036}, {63.928, 0.009}}, 0.7};

struct Material {
  std::vector<std::pair<const Element*, double>> composition;  // atomic fractions
};
const std::vector<Material> kMaterials{
    {{{&kAl, 0.90}, {&kLi, 0.08}, {&kMg, 0.02}}},  // Al-Li alloy
    {{{&kFe, 0.70}, {&kCr, 0.19}, {&kNi, 0.11}}},  // stainless steel
    {{{&kMg, 0.92}, {&kAl, 0.08}}},                // Mg-Al alloy
    {{{&kNi, 0.70}, {&kCr, 0.20}, {&kAl, 0.10}}},  // Ni superalloy
};

// Adds `weight` x a peak at m/q `centre` to the bin probabilities: a Gaussian of
// mass resolving power m / FWHM = 1000 plus an exponential thermal tail (30 %, decay
// length 0.004 m) to higher m/q, both integrated exactly over each bin.
void add_peak(std::vector<double>& pdf, double centre, double weight) {
  const double sigma = centre / 1000.0 / 2.3548, tail = 0.004 * centre;
  const int lo = std::max(0, static_cast<int>((centre - 6 * sigma) / kBin));
  const int hi = std::min(kBins - 1, static_cast<int>((centre + 12 * tail) / kBin) + 1);
  auto gauss_cdf = [&](double m) { return 0.5 * std::erfc(-(m - centre) / (sigma * std::sqrt(2.0))); };
  auto tail_cdf = [&](double m) { return m <= centre ? 0.0 : 1.0 - std::exp(-(m - centre) / tail); };
  for (int b = lo; b <= hi; ++b) {
    const double m0 = b * kBin, m1 = m0 + kBin;
    pdf[b] += weight * (0.7 * (gauss_cdf(m1) - gauss_cdf(m0)) + 0.3 * (tail_cdf(m1) - tail_cdf(m0)));
  }
}

struct Archive {
  Eigen::MatrixXd counts;  // datasets x bins
  std::vector<int> material;
  std::vector<double> hydrogen;  // fraction of ions
};

Archive make_archive(int materials, int datasets, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  std::normal_distribution<double> normal;
  Archive a;
  a.counts.resize(datasets, kBins);
  std::vector<double> pdf(kBins);
  for (int d = 0; d < datasets; ++d) {
    const int m = d % materials;
    const double h = 0.01 + 0.49 * uni(gen);
    const double background = 0.02 + 0.08 * uni(gen);
    const double ions = std::pow(10.0, 4.0 + uni(gen));
    std::fill(pdf.begin(), pdf.end(), background / kBins);
    // Composition jitter: each fraction x lognormal(0, 0.15), renormalised.
    std::vector<double> frac;
    double total = 0.0;
    for (const auto& [el, x] : kMaterials[m].composition) {
      frac.push_back(x * std::exp(0.15 * normal(gen)));
      total += frac.back();
    }
    const double metal = 1.0 - h - background;
    for (std::size_t e = 0; e < frac.size(); ++e) {
      const Element& el = *kMaterials[m].composition[e].first;
      for (const Isotope& iso : el.isotopes) {
        const double w = metal * frac[e] / total * iso.abundance;
        add_peak(pdf, iso.mass, w * (1.0 - el.doubly_charged));
        if (el.doubly_charged > 0.0) add_peak(pdf, iso.mass / 2.0, w * el.doubly_charged);
      }
    }
    add_peak(pdf, 1.008, 0.5 * h);  // H+
    add_peak(pdf, 2.016, 0.4 * h);  // H2+
    add_peak(pdf, 3.024, 0.1 * h);  // H3+
    for (int b = 0; b < kBins; ++b) {
      std::poisson_distribution<long> poisson(std::max(ions * pdf[b], 1e-300));
      a.counts(d, b) = pdf[b] > 0.0 ? static_cast<double>(poisson(gen)) : 0.0;
    }
    a.material.push_back(m);
    a.hydrogen.push_back(h);
  }
  return a;
}

// Hydrogen level in `groups` equal-count groups (quantiles): a labeling to compare with.
std::vector<int> hydrogen_groups(const std::vector<double>& h, int groups) {
  std::vector<double> sorted = h;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> out;
  for (double v : h) {
    const auto rank = std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin();
    out.push_back(static_cast<int>(rank * groups / static_cast<long>(h.size())));
  }
  return out;
}

}  // namespace

TEST(MetaArchive, SpectralClusteringRecoversMaterialsNotHydrogen) {
  for (int materials : {3, 4}) {
    const Archive a = make_archive(materials, 60, 100 + materials);
    // The recommended pipeline: Hellinger spectra, all bins, default spectral options
    // (number of clusters by the eigengap).
    const Eigen::MatrixXd x = an::normalise_spectra(a.counts, an::SpectrumTransform::hellinger);
    const an::SpectralResult r = an::spectral(x, an::SpectralOptions{});
    EXPECT_EQ(r.clusters, materials);
    EXPECT_GE(an::adjusted_rand_index(r.labels, a.material), 0.9) << materials << " materials";
    // The clusters do not follow the hydrogen level.
    EXPECT_LT(an::adjusted_rand_index(r.labels, hydrogen_groups(a.hydrogen, materials)), 0.2);
    // The log1p transform works as well.
    const an::SpectralResult rl =
        an::spectral(an::normalise_spectra(a.counts, an::SpectrumTransform::log1p), an::SpectralOptions{});
    EXPECT_EQ(rl.clusters, materials);
    EXPECT_GE(an::adjusted_rand_index(rl.labels, a.material), 0.9);
    // A t-SNE map of the top principal components keeps the materials apart.
    const an::PcaResult p = an::pca(x, 30);
    an::TsneOptions t;
    t.iterations = 500;
    const Eigen::MatrixXd y = an::tsne(p.scores, t);
    EXPECT_GE(an::adjusted_rand_index(an::kmeans(y, materials, 10, 0), a.material), 0.9);
  }
}

TEST(MetaArchive, UnitSumSpectraFailWhereHellingerWorks) {
  // Why the Hellinger transform: on unit-sum spectra the distances are set by the
  // largest peaks (H at 1-50 % of the ions, the main element), which vary continuously
  // with the hydrogen level; each material becomes a chain, the eigengap over-splits and
  // the materials are not recovered. (Shows that the archive test can fail.)
  const Archive a = make_archive(4, 60, 104);
  const an::SpectralResult raw =
      an::spectral(an::normalise_spectra(a.counts, an::SpectrumTransform::none), an::SpectralOptions{});
  EXPECT_NE(raw.clusters, 4);
  EXPECT_LT(an::adjusted_rand_index(raw.labels, a.material), 0.8);
  const an::SpectralResult hel = an::spectral(an::normalise_spectra(a.counts), an::SpectralOptions{});
  EXPECT_DOUBLE_EQ(an::adjusted_rand_index(hel.labels, a.material), 1.0);
}
