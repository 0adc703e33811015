#include "aptflow/pipeline/inspect.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <limits>
#include <nlohmann/json.hpp>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"

namespace aptflow {

using io::DatasetInfo;
using io::NonFinite;
using io::ReadOptions;
using io::ReadStats;

namespace {

constexpr double kSpectrumMaxDa = 1000.0;  // peaks are searched in [0, 1000) Da

std::vector<MassPeak> find_peaks(const std::vector<std::int64_t>& hist, double bin, int max_peaks,
                                 double separation) {
  std::vector<std::size_t> maxima;
  for (std::size_t i = 0; i < hist.size(); ++i) {
    if (hist[i] == 0) continue;
    const auto left = i > 0 ? hist[i - 1] : 0;
    const auto right = i + 1 < hist.size() ? hist[i + 1] : 0;
    if (hist[i] >= left && hist[i] > right) maxima.push_back(i);
  }
  std::stable_sort(maxima.begin(), maxima.end(), [&](auto a, auto b) { return hist[a] > hist[b]; });
  std::vector<MassPeak> peaks;
  for (auto i : maxima) {
    const double mq = (static_cast<double>(i) + 0.5) * bin;
    const bool near = std::any_of(peaks.begin(), peaks.end(),
                                  [&](const MassPeak& p) { return std::abs(p.mq - mq) < separation; });
    if (near) continue;
    peaks.push_back({mq, hist[i]});
    if (static_cast<int>(peaks.size()) >= max_peaks) break;
  }
  return peaks;
}

}  // namespace

namespace {

// Per-rank accumulators of one streaming pass.
struct Accumulators {
  float lo[3], hi[3];
  float mq_lo, mq_hi;
  std::vector<std::int64_t> hist, counts, spectrum, windows;
  std::vector<std::uint32_t> bins;    // scratch: histogram bin per ion of a block
  std::vector<std::int64_t> counts4;  // four interleaved species histograms (summed into counts at the end)
  std::vector<std::int64_t> hist4;    // four interleaved peak histograms (summed into hist at the end)
  std::int64_t kept = 0, dropped = 0;
};

// Running minimum and maximum of v[0, n). Per element the same selection as
// `v < lo ? v : lo` (minps/maxps compute exactly that); the lanes are
// combined at the end. Inputs are finite (non-finite ions are dropped or
// raise before); a zero minimum may come out as 0.0 where a strictly
// sequential scan would keep -0.0 (equal values).
void min_max_sse(const float* v, IonIndex n, float& lo_io, float& hi_io) {
  IonIndex i = 0;
  float lo = lo_io, hi = hi_io;
#if defined(__SSE__)
  if (n >= 8) {
    __m128 vlo = _mm_set1_ps(lo), vhi = _mm_set1_ps(hi);
    for (; i + 4 <= n; i += 4) {
      const __m128 x = _mm_loadu_ps(v + i);
      vlo = _mm_min_ps(x, vlo);
      vhi = _mm_max_ps(x, vhi);
    }
    float l[4], h[4];
    _mm_storeu_ps(l, vlo);
    _mm_storeu_ps(h, vhi);
    for (int k = 0; k < 4; ++k) {
      lo = l[k] < lo ? l[k] : lo;
      hi = h[k] > hi ? h[k] : hi;
    }
  }
#endif
  for (; i < n; ++i) {
    lo = v[i] < lo ? v[i] : lo;
    hi = v[i] > hi ? v[i] : hi;
  }
  lo_io = lo, hi_io = hi;
}

// The bin of one in-range m/q with the division (the definition).
inline std::uint32_t bin_by_division(float q, double bin, std::uint32_t nbins) {
  const auto b = static_cast<std::size_t>(static_cast<double>(q) / bin);
  return b < nbins ? static_cast<std::uint32_t>(b) : nbins;
}

// Peak-histogram bins of mq[0, n) by multiplication (see accumulate); an ion
// whose product lies within 1e-6 of an integer is redone with the division.
void bins_by_product_scalar(const float* mq, IonIndex n, double bin, double inv, float top,
                            std::uint32_t nbins, std::uint32_t* bins) {
  for (IonIndex i = 0; i < n; ++i) {
    const float q = mq[i];
    const bool in = q >= 0.0f && q < top;
    const double k = static_cast<double>(in ? q : 0.0f) * inv;
    const auto b = static_cast<std::int32_t>(k);
    const double frac = k - static_cast<double>(b);
    bins[i] = in && static_cast<std::uint32_t>(b) < nbins ? static_cast<std::uint32_t>(b) : nbins;
    if (in && (frac < 1e-6 || frac > 1.0 - 1e-6)) bins[i] = bin_by_division(q, bin, nbins);
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) void min_max_avx2(const float* v, IonIndex n, float& lo_io, float& hi_io) {
  IonIndex i = 0;
  float lo = lo_io, hi = hi_io;
  if (n >= 16) {
    __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    for (; i + 8 <= n; i += 8) {
      const __m256 x = _mm256_loadu_ps(v + i);
      vlo = _mm256_min_ps(x, vlo);
      vhi = _mm256_max_ps(x, vhi);
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, vlo);
    _mm256_storeu_ps(h, vhi);
    for (int k = 0; k < 8; ++k) {
      lo = l[k] < lo ? l[k] : lo;
      hi = h[k] > hi ? h[k] : hi;
    }
  }
  for (; i < n; ++i) {
    lo = v[i] < lo ? v[i] : lo;
    hi = v[i] > hi ? v[i] : hi;
  }
  lo_io = lo, hi_io = hi;
}

// The bins with AVX2, four ions per step (float -> double, multiply,
// truncate, compare): identical bins.
__attribute__((target("avx2"))) void bins_by_product_avx2(const float* mq, IonIndex n, double bin, double inv,
                                                          float top, std::uint32_t nbins,
                                                          std::uint32_t* bins) {
  const __m128 zero = _mm_setzero_ps(), vtop = _mm_set1_ps(top);
  const __m256d vinv = _mm256_set1_pd(inv), eps = _mm256_set1_pd(1e-6), one_eps = _mm256_set1_pd(1.0 - 1e-6);
  const __m128i vn = _mm_set1_epi32(static_cast<std::int32_t>(nbins));
  IonIndex i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m128 q = _mm_loadu_ps(mq + i);
    const __m128 in = _mm_and_ps(_mm_cmpge_ps(q, zero), _mm_cmplt_ps(q, vtop));  // ordered compares
    const __m256d k = _mm256_mul_pd(_mm256_cvtps_pd(_mm_and_ps(q, in)), vinv);
    const __m128i b = _mm256_cvttpd_epi32(k);
    const __m256d frac = _mm256_sub_pd(k, _mm256_cvtepi32_pd(b));
    const __m256d close =
        _mm256_or_pd(_mm256_cmp_pd(frac, eps, _CMP_LT_OQ), _mm256_cmp_pd(frac, one_eps, _CMP_GT_OQ));
    const __m256d near =
        _mm256_and_pd(close, _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_castps_si128(in))));
    // b < nbins as unsigned: b is >= 0 here (k >= 0).
    const __m128i ok = _mm_and_si128(_mm_castps_si128(in), _mm_cmplt_epi32(b, vn));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(bins + i), _mm_blendv_epi8(vn, b, ok));
    if (const int m = _mm256_movemask_pd(near))  // rare: a product within 1e-6 of an integer
      for (int l = 0; l < 4; ++l)
        if (m & (1 << l)) bins[i + l] = bin_by_division(mq[i + l], bin, nbins);
  }
  bins_by_product_scalar(mq + i, n - i, bin, inv, top, nbins, bins + i);
}
#endif

void min_max(const float* v, IonIndex n, float& lo, float& hi) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return min_max_avx2(v, n, lo, hi);
#endif
  min_max_sse(v, n, lo, hi);
}

void bins_by_product(const float* mq, IonIndex n, double bin, float top, std::uint32_t nbins,
                     std::uint32_t* bins) {
  const double inv = 1.0 / bin;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return bins_by_product_avx2(mq, n, bin, inv, top, nbins, bins);
#endif
  bins_by_product_scalar(mq, n, bin, inv, top, nbins, bins);
}

// One block of decoded ions: bounds, m/q range, peak histogram, optional
// spectrum and windows, and with a range table the species counts. Separate
// tight loops (min/max and the bins vectorise; the histograms are scatter
// loops into four interleaved copies, summed at the end).
void accumulate(const HostIonCloud& c, IonIndex n, const InspectOptions& opt,
                const DeviceRangeTable<Kokkos::HostSpace>* table, Accumulators& a) {
  const float* p[3] = {c.x.data(), c.y.data(), c.z.data()};
  const float* mq = c.mq.data();
  for (int d = 0; d < 3; ++d) min_max(p[d], n, a.lo[d], a.hi[d]);
  min_max(mq, n, a.mq_lo, a.mq_hi);
  // Peak histogram over [0, kSpectrumMaxDa): bin = floor(m/q / bin), the
  // quotient rounded in double precision (the same bins as before the fused
  // pass, to the last ion). Computed as m/q * (1 / bin): the product differs
  // from the rounded quotient by a few ulp (< 1e-6 below 2^31), so the two
  // floors agree unless the product lies within 1e-6 of an integer; those
  // rare ions are redone with the division. The quotient is below 2^31
  // (nbins < 2^31): int32 conversions vectorise.
  const std::size_t nh = a.hist.size();  // nbins + the slot of the ions outside
  a.bins.resize(static_cast<std::size_t>(n));
  std::uint32_t* bins = a.bins.data();
  bins_by_product(mq, n, opt.spectrum_bin, static_cast<float>(kSpectrumMaxDa),
                  static_cast<std::uint32_t>(nh - 1), bins);
  std::int64_t* h = a.hist4.data();
  IonIndex i = 0;
  for (; i + 4 <= n; i += 4) {
    ++h[bins[i]];
    ++h[nh + bins[i + 1]];
    ++h[2 * nh + bins[i + 2]];
    ++h[3 * nh + bins[i + 3]];
  }
  for (; i < n; ++i) ++h[bins[i]];
  if (!a.spectrum.empty()) {
    const std::size_t nb2 = a.spectrum.size();
    for (IonIndex i = 0; i < n; ++i) {
      const double k =
          std::floor((static_cast<double>(mq[i]) - opt.spectrum->mq_min) / opt.spectrum->bin_width);
      if (k >= 0 && k < static_cast<double>(nb2)) ++a.spectrum[static_cast<std::size_t>(k)];
    }
  }
  for (std::size_t w = 0; w < a.windows.size(); ++w) {
    const double wlo = opt.count_windows[w].first, whi = opt.count_windows[w].second;
    std::int64_t k = 0;
    for (IonIndex i = 0; i < n; ++i)
      k += (static_cast<double>(mq[i]) >= wlo && static_cast<double>(mq[i]) < whi);
    a.windows[w] += k;
  }
  if (table) {
    // Four interleaved counters: runs of one species do not serialise.
    const std::size_t ns = a.counts.size();
    a.counts4.resize(4 * ns);
    std::int64_t* c = a.counts4.data();
    const auto t = *table;
    IonIndex i = 0;
    for (; i + 4 <= n; i += 4) {
      ++c[t.lookup(mq[i])];
      ++c[ns + t.lookup(mq[i + 1])];
      ++c[2 * ns + t.lookup(mq[i + 2])];
      ++c[3 * ns + t.lookup(mq[i + 3])];
    }
    for (; i < n; ++i) ++c[t.lookup(mq[i])];
  }
}

}  // namespace

InspectResult inspect_dataset(MPI_Comm comm, const std::string& path, const InspectOptions& opt) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);

  ReadOptions ropt;
  ropt.nonfinite = opt.drop_nonfinite ? NonFinite::drop : NonFinite::error;
  ropt.chunk_ions = opt.chunk_ions;
  ropt.format = opt.format;

  InspectResult r;
  r.path = path;
  // Every rank opens the file (headers only; text: one counting pass) so
  // that a bad file fails everywhere with the same message.
  io::DatasetReader reader(path, ropt);
  const DatasetInfo& info = reader.info();
  r.format = std::string(io::format_name(info.format));
  r.file_bytes = info.bytes;
  r.has_extras = info.has_extras;
  r.sections = info.sections;

  std::optional<RangeTable> table;
  std::optional<DeviceRangeTable<Kokkos::HostSpace>> dtable;
  if (opt.range_file) {
    table = read_range_file(*opt.range_file);
    dtable = make_device_range_table<Kokkos::HostSpace>(*table);
  }
  const std::size_t nspecies = table ? table->num_types() + 1 : 1;

  const IonIndex n = info.ions;
  // n * r / p without 64-bit overflow.
  const IonIndex first = static_cast<IonIndex>((static_cast<__int128>(n) * rank) / size);
  const IonIndex last = static_cast<IonIndex>((static_cast<__int128>(n) * (rank + 1)) / size);

  Accumulators a;
  for (int d = 0; d < 3; ++d)
    a.lo[d] = std::numeric_limits<float>::max(), a.hi[d] = std::numeric_limits<float>::lowest();
  a.mq_lo = std::numeric_limits<float>::max(), a.mq_hi = std::numeric_limits<float>::lowest();
  if (!(opt.spectrum_bin >= 1e-6))
    throw ConfigError("spectrum_bin", fmt::format("must be at least 1e-6 Da, got {}", opt.spectrum_bin));
  const auto nbins = static_cast<std::size_t>(std::ceil(kSpectrumMaxDa / opt.spectrum_bin));
  a.hist.assign(nbins + 1, 0);
  a.hist4.assign(4 * (nbins + 1), 0);
  a.counts.assign(nspecies, 0);
  const std::size_t nbins2 =
      opt.spectrum ? static_cast<std::size_t>(std::max<std::int64_t>(opt.spectrum->bins, 0)) : 0;
  a.spectrum.assign(nbins2, 0);
  a.windows.assign(opt.count_windows.size(), 0);

  // Small blocks: the raw bytes, the decoded block and the histogram scratch
  // stay in the cache between the passes.
  const IonIndex block = std::min<IonIndex>(opt.chunk_ions, IonIndex{1} << 13);
  // An input error on any rank ends every rank with its message (never a hang).
  dist::collective_step(comm, [&] {
    HostIonCloud buf;
    for (IonIndex begin = first; begin < last; begin += block) {
      const IonIndex count = std::min<IonIndex>(block, last - begin);
      ReadStats stats;
      const IonIndex m = reader.read_into(begin, count, buf, &stats);
      a.dropped += stats.dropped;
      a.kept += m;
      accumulate(buf, m, opt, dtable ? &*dtable : nullptr, a);
    }
  });
  for (std::size_t k = 0; k < a.hist4.size(); ++k) a.hist[k % a.hist.size()] += a.hist4[k];
  a.hist.pop_back();
  for (std::size_t k = 0; k < a.counts4.size(); ++k)
    a.counts[k % a.counts.size()] += a.counts4[k];  // the slot of ions outside [0, kSpectrumMaxDa)

  MPI_Allreduce(MPI_IN_PLACE, a.lo, 3, MPI_FLOAT, MPI_MIN, comm);          // collective
  MPI_Allreduce(MPI_IN_PLACE, a.hi, 3, MPI_FLOAT, MPI_MAX, comm);          // collective
  MPI_Allreduce(MPI_IN_PLACE, &a.mq_lo, 1, MPI_FLOAT, MPI_MIN, comm);      // collective
  MPI_Allreduce(MPI_IN_PLACE, &a.mq_hi, 1, MPI_FLOAT, MPI_MAX, comm);      // collective
  MPI_Allreduce(MPI_IN_PLACE, &a.kept, 1, MPI_INT64_T, MPI_SUM, comm);     // collective
  MPI_Allreduce(MPI_IN_PLACE, &a.dropped, 1, MPI_INT64_T, MPI_SUM, comm);  // collective
  MPI_Allreduce(MPI_IN_PLACE, a.hist.data(), static_cast<int>(nbins), MPI_INT64_T, MPI_SUM,
                comm);  // collective
  MPI_Allreduce(MPI_IN_PLACE, a.counts.data(), static_cast<int>(nspecies), MPI_INT64_T, MPI_SUM,
                comm);  // collective
  if (nbins2 > 0)
    MPI_Allreduce(MPI_IN_PLACE, a.spectrum.data(), static_cast<int>(nbins2), MPI_INT64_T, MPI_SUM,
                  comm);  // collective
  if (!a.windows.empty())
    MPI_Allreduce(MPI_IN_PLACE, a.windows.data(), static_cast<int>(a.windows.size()), MPI_INT64_T, MPI_SUM,
                  comm);  // collective

  r.ions = a.kept;
  r.nonfinite_dropped = a.dropped;
  if (a.kept > 0) {
    for (int d = 0; d < 3; ++d) {
      r.bounds.lo[d] = a.lo[d];
      r.bounds.hi[d] = a.hi[d];
    }
    r.mq_min = a.mq_lo;
    r.mq_max = a.mq_hi;
  }
  r.spectrum = std::move(a.spectrum);
  r.window_counts = std::move(a.windows);
  r.peaks = find_peaks(a.hist, opt.spectrum_bin, opt.max_peaks, opt.peak_separation);
  if (table) {
    r.species_counts = a.counts;
    r.composition = element_composition(*table, a.counts);
    r.ranges = std::move(table);
  }
  return r;
}

std::string format_inspect_text(const InspectResult& r) {
  std::string s;
  s += fmt::format("file        {}\n", r.path);
  s += fmt::format("format      {} ({} bytes{})\n", r.format, r.file_bytes,
                   r.has_extras ? ", with per-ion extras" : "");
  s += fmt::format("ions        {}\n", r.ions);
  if (!r.sections.empty()) {
    s += "sections    " + r.sections.front() + "\n";
    for (std::size_t k = 1; k < r.sections.size(); ++k) s += "            " + r.sections[k] + "\n";
  }
  if (r.nonfinite_dropped > 0)
    s += fmt::format("dropped     {} ions with NaN/Inf values\n", r.nonfinite_dropped);
  s += fmt::format("bounds nm   x [{:.3f}, {:.3f}]  y [{:.3f}, {:.3f}]  z [{:.3f}, {:.3f}]\n", r.bounds.lo[0],
                   r.bounds.hi[0], r.bounds.lo[1], r.bounds.hi[1], r.bounds.lo[2], r.bounds.hi[2]);
  s += fmt::format("m/q Da      [{:.4f}, {:.4f}]\n", r.mq_min, r.mq_max);
  s += "peaks       m/q (Da)   counts\n";
  for (const auto& p : r.peaks) s += fmt::format("            {:9.3f}  {:>9}\n", p.mq, p.counts);
  if (r.ranges) {
    s += fmt::format("ranges      {} ({} ion types, {} ranges)\n", r.ranges->source, r.ranges->num_types(),
                     r.ranges->ranges.size());
    s += "ion type    counts     fraction\n";
    const double total = r.ions > 0 ? static_cast<double>(r.ions) : 1.0;
    for (std::size_t k = 0; k < r.ranges->num_types(); ++k) {
      const auto c = r.species_counts[k + 1];
      s += fmt::format("  {:<10}{:>10}  {:8.5f}\n", r.ranges->ion_types[k].name, c, c / total);
    }
    s += fmt::format("  {:<10}{:>10}  {:8.5f}\n", "unranged", r.species_counts[0],
                     r.species_counts[0] / total);
    s += "composition (atomic fraction of ranged atoms, molecular ions decomposed)\n";
    for (const auto& [el, frac] : r.composition) s += fmt::format("  {:<4}{:9.5f}\n", el, frac);
  }
  return s;
}

std::string format_inspect_json(const InspectResult& r) {
  nlohmann::ordered_json j;
  j["file"] = r.path;
  j["format"] = r.format;
  j["bytes"] = r.file_bytes;
  j["ions"] = r.ions;
  j["sections"] = r.sections;
  j["nonfinite_dropped"] = r.nonfinite_dropped;
  j["bounds"] = {{"min", {r.bounds.lo[0], r.bounds.lo[1], r.bounds.lo[2]}},
                 {"max", {r.bounds.hi[0], r.bounds.hi[1], r.bounds.hi[2]}}};
  j["mq"] = {{"min", r.mq_min}, {"max", r.mq_max}};
  auto peaks = nlohmann::ordered_json::array();
  for (const auto& p : r.peaks) peaks.push_back({{"mq", p.mq}, {"counts", p.counts}});
  j["peaks"] = peaks;
  if (r.ranges) {
    j["range_file"] = r.ranges->source;
    auto types = nlohmann::ordered_json::array();
    for (std::size_t k = 0; k < r.ranges->num_types(); ++k)
      types.push_back({{"name", r.ranges->ion_types[k].name}, {"count", r.species_counts[k + 1]}});
    j["ion_types"] = types;
    j["unranged"] = r.species_counts[0];
    nlohmann::ordered_json comp = nlohmann::ordered_json::object();
    for (const auto& [el, frac] : r.composition) comp[el] = frac;
    j["composition"] = comp;
  }
  return j.dump(2);
}

}  // namespace aptflow
