#include "aptflow/pipeline/inspect.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
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

InspectResult inspect_dataset(MPI_Comm comm, const std::string& path, const InspectOptions& opt) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);

  InspectResult r;
  r.path = path;
  // Every rank probes the header (cheap) so that a bad file fails everywhere.
  const DatasetInfo info = io::probe_dataset(path);
  r.format = std::string(io::format_name(info.format));
  r.file_bytes = info.bytes;
  r.has_extras = info.has_extras;

  std::optional<RangeTable> table;
  std::optional<DeviceRangeTable<Kokkos::HostSpace>> dtable;
  if (opt.range_file) {
    table = read_range_file(*opt.range_file);
    dtable = make_device_range_table<Kokkos::HostSpace>(*table);
  }
  const std::size_t nspecies = table ? table->num_types() + 1 : 1;

  ReadOptions ropt;
  ropt.nonfinite = opt.drop_nonfinite ? NonFinite::drop : NonFinite::error;
  ropt.chunk_ions = opt.chunk_ions;

  const IonIndex n = info.ions;
  const IonIndex first = n * rank / size;
  const IonIndex last = n * (rank + 1) / size;

  float lo[3] = {std::numeric_limits<float>::max(), std::numeric_limits<float>::max(),
                 std::numeric_limits<float>::max()};
  float hi[3] = {std::numeric_limits<float>::lowest(), std::numeric_limits<float>::lowest(),
                 std::numeric_limits<float>::lowest()};
  float mq_lo = std::numeric_limits<float>::max(), mq_hi = std::numeric_limits<float>::lowest();
  const auto nbins = static_cast<std::size_t>(std::ceil(kSpectrumMaxDa / opt.spectrum_bin));
  std::vector<std::int64_t> hist(nbins, 0);
  std::vector<std::int64_t> counts(nspecies, 0);
  const std::size_t nbins2 =
      opt.spectrum ? static_cast<std::size_t>(std::max<std::int64_t>(opt.spectrum->bins, 0)) : 0;
  std::vector<std::int64_t> spectrum(nbins2, 0);
  std::vector<std::int64_t> windows(opt.count_windows.size(), 0);
  std::int64_t kept = 0, dropped = 0;

  Kokkos::DefaultHostExecutionSpace exec;
  // An input error on any rank ends every rank with the message (never a hang).
  dist::collective_step(comm, [&] {
    for (IonIndex begin = first; begin < last; begin += opt.chunk_ions) {
      const IonIndex count = std::min<IonIndex>(opt.chunk_ions, last - begin);
      ReadStats stats;
      HostIonCloud chunk = io::read_dataset_range(path, begin, count, ropt, &stats);
      dropped += stats.dropped;
      const IonIndex m = chunk.size();
      kept += m;
      for (IonIndex i = 0; i < m; ++i) {
        const float p[3] = {chunk.x(i), chunk.y(i), chunk.z(i)};
        for (int d = 0; d < 3; ++d) {
          lo[d] = std::min(lo[d], p[d]);
          hi[d] = std::max(hi[d], p[d]);
        }
        const float q = chunk.mq(i);
        mq_lo = std::min(mq_lo, q);
        mq_hi = std::max(mq_hi, q);
        if (q >= 0.0f && q < kSpectrumMaxDa) {
          auto b = static_cast<std::size_t>(static_cast<double>(q) / opt.spectrum_bin);
          if (b < nbins) ++hist[b];
        }
        if (nbins2 > 0) {
          const double k =
              std::floor((static_cast<double>(q) - opt.spectrum->mq_min) / opt.spectrum->bin_width);
          if (k >= 0 && k < static_cast<double>(nbins2)) ++spectrum[static_cast<std::size_t>(k)];
        }
        for (std::size_t w = 0; w < windows.size(); ++w)
          if (static_cast<double>(q) >= opt.count_windows[w].first &&
              static_cast<double>(q) < opt.count_windows[w].second)
            ++windows[w];
      }
      if (dtable) {
        apply_ranges(exec, chunk, *dtable);
        auto c = count_species(exec, chunk, static_cast<int>(nspecies - 1));
        for (std::size_t s = 0; s < nspecies; ++s) counts[s] += c[s];
      }
    }
  });

  MPI_Allreduce(MPI_IN_PLACE, lo, 3, MPI_FLOAT, MPI_MIN, comm);          // collective
  MPI_Allreduce(MPI_IN_PLACE, hi, 3, MPI_FLOAT, MPI_MAX, comm);          // collective
  MPI_Allreduce(MPI_IN_PLACE, &mq_lo, 1, MPI_FLOAT, MPI_MIN, comm);      // collective
  MPI_Allreduce(MPI_IN_PLACE, &mq_hi, 1, MPI_FLOAT, MPI_MAX, comm);      // collective
  MPI_Allreduce(MPI_IN_PLACE, &kept, 1, MPI_INT64_T, MPI_SUM, comm);     // collective
  MPI_Allreduce(MPI_IN_PLACE, &dropped, 1, MPI_INT64_T, MPI_SUM, comm);  // collective
  MPI_Allreduce(MPI_IN_PLACE, hist.data(), static_cast<int>(nbins), MPI_INT64_T, MPI_SUM,
                comm);  // collective
  MPI_Allreduce(MPI_IN_PLACE, counts.data(), static_cast<int>(nspecies), MPI_INT64_T, MPI_SUM,
                comm);  // collective
  if (nbins2 > 0)
    MPI_Allreduce(MPI_IN_PLACE, spectrum.data(), static_cast<int>(nbins2), MPI_INT64_T, MPI_SUM,
                  comm);  // collective
  if (!windows.empty())
    MPI_Allreduce(MPI_IN_PLACE, windows.data(), static_cast<int>(windows.size()), MPI_INT64_T, MPI_SUM,
                  comm);  // collective

  r.ions = kept;
  r.nonfinite_dropped = dropped;
  if (kept > 0) {
    for (int d = 0; d < 3; ++d) {
      r.bounds.lo[d] = lo[d];
      r.bounds.hi[d] = hi[d];
    }
    r.mq_min = mq_lo;
    r.mq_max = mq_hi;
  }
  r.spectrum = std::move(spectrum);
  r.window_counts = std::move(windows);
  r.peaks = find_peaks(hist, opt.spectrum_bin, opt.max_peaks, opt.peak_separation);
  if (table) {
    r.species_counts = counts;
    r.composition = element_composition(*table, counts);
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
