// A synthetic archive for `aptflow archive` (tests, benchmark, demos): POS and
// EPOS datasets of four materials with their natural isotopes in the 1+ and
// 2+ charge states, a hydrogen signal (H+, H2+) that varies per dataset, a
// uniform background, one range file per material, a manifest with metadata
// columns and a few bad entries. Deterministic: a counter-keyed generator.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/pipeline/archive.hpp"

namespace aptflow {

namespace fs = std::filesystem;

namespace {

// splitmix64: a small, well-mixed generator; one stream per (seed, dataset).
class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream)
      : s_(seed * 0x9E3779B97F4A7C15ull ^ (stream + 1) * 0xD1B54A32D192ED03ull) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::uint64_t s_;
};

struct Isotope {
  double mass, abundance;
};
struct Element {
  const char* symbol;
  std::vector<Isotope> isotopes;
  double doubly;  // fraction of ions in the 2+ charge state
};
struct Material {
  const char* name;
  std::vector<std::pair<int, double>> composition;  // element index, atomic fraction
};

const std::vector<Element>& elements() {
  static const std::vector<Element> e = {
      {"Li", {{6.0151, 0.076}, {7.0160, 0.924}}, 0.0},
      {"Mg", {{23.985, 0.790}, {24.986, 0.100}, {25.983, 0.110}}, 0.6},
      {"Al", {{26.982, 1.0}}, 0.3},
      {"Fe", {{53.940, 0.058}, {55.935, 0.918}, {56.935, 0.024}}, 0.8},
      {"Cr", {{49.946, 0.043}, {51.941, 0.838}, {52.941, 0.095}, {53.939, 0.024}}, 0.7},
      {"Co", {{58.933, 1.0}}, 0.8},
      {"Ni", {{57.935, 0.681}, {59.931, 0.262}, {60.931, 0.011}, {61.928, 0.036}, {63.928, 0.009}}, 0.7},
  };
  return e;
}

const std::vector<Material>& materials() {
  static const std::vector<Material> m = {
      {"AlLiMg", {{2, 0.85}, {0, 0.09}, {1, 0.06}}},
      {"FeAl", {{3, 0.72}, {2, 0.28}}},
      {"CoCrNi", {{5, 0.333}, {4, 0.333}, {6, 0.334}}},
      {"NiAlCr", {{6, 0.75}, {2, 0.15}, {4, 0.10}}},
  };
  return m;
}

constexpr double kHalfWidth = 0.15;  // Da: range half width around each peak
constexpr double kSigma = 0.02;      // Da: peak width
constexpr double kTail = 0.04;       // Da: mean of the thermal tail (30 % of ions)

struct Peak {
  double mq, weight;
  int type;  // ion type index in the range table
};

// Peaks of a material (for the range file): every isotope at 1+ and 2+.
std::vector<Peak> peaks_of(const Material& mat) {
  std::vector<Peak> p;
  int type = 2;  // 0 = H, 1 = H2
  for (const auto& [ei, frac] : mat.composition) {
    const auto& el = elements()[static_cast<std::size_t>(ei)];
    for (const auto& iso : el.isotopes) {
      if (el.doubly < 1) p.push_back({iso.mass, frac * iso.abundance * (1 - el.doubly), type});
      if (el.doubly > 0) p.push_back({iso.mass / 2, frac * iso.abundance * el.doubly, type});
    }
    ++type;
  }
  return p;
}

RangeTable range_table_of(const Material& mat) {
  RangeTable t;
  t.source = mat.name;
  t.ion_types.push_back({"H", {{"H", 1}}, "", 0});
  t.ion_types.push_back({"H2", {{"H", 2}}, "", 0});
  for (const auto& [ei, frac] : mat.composition) {
    const char* s = elements()[static_cast<std::size_t>(ei)].symbol;
    t.ion_types.push_back({s, {{s, 1}}, "", 0});
  }
  auto peaks = peaks_of(mat);
  peaks.push_back({1.008, 1.0, 0});
  peaks.push_back({2.016, 1.0, 1});
  std::sort(peaks.begin(), peaks.end(), [](const Peak& a, const Peak& b) { return a.mq < b.mq; });
  // Overlapping peaks of different ion types (e.g. 54Fe2+ and Al+ at 27 Da):
  // the stronger one keeps the range, as a user would range them.
  std::vector<Peak> kept;
  for (const auto& pk : peaks) {
    if (!kept.empty() && pk.mq - kept.back().mq < 2 * kHalfWidth) {
      if (pk.weight > kept.back().weight) kept.back() = pk;
      continue;
    }
    kept.push_back(pk);
  }
  for (const auto& pk : kept) t.ranges.push_back({pk.mq - kHalfWidth, pk.mq + kHalfWidth, pk.type, 0});
  return t;
}

HostIonCloud make_dataset(const Material& mat, std::int64_t n, double hydrogen, Rng& rng) {
  // Per-dataset composition jitter (+-10 % relative), renormalised.
  std::vector<Peak> peaks;
  double total = 0;
  for (const auto& [ei, frac] : mat.composition) {
    const double f = frac * (0.9 + 0.2 * rng.uniform());
    const auto& el = elements()[static_cast<std::size_t>(ei)];
    for (const auto& iso : el.isotopes) {
      if (el.doubly < 1) peaks.push_back({iso.mass, f * iso.abundance * (1 - el.doubly), 0});
      if (el.doubly > 0) peaks.push_back({iso.mass / 2, f * iso.abundance * el.doubly, 0});
    }
  }
  for (const auto& p : peaks) total += p.weight;
  std::vector<double> cdf;
  double acc = 0;
  for (const auto& p : peaks) cdf.push_back(acc += p.weight / total);
  constexpr double kBackground = 0.03;
  HostIonCloud c(n, "aptflow::archive::synth");
  for (std::int64_t i = 0; i < n; ++i) {
    const double r = 20.0 * std::sqrt(rng.uniform()), phi = 6.283185307179586 * rng.uniform();
    c.x(i) = static_cast<float>(r * std::cos(phi));
    c.y(i) = static_cast<float>(r * std::sin(phi));
    c.z(i) = static_cast<float>(100.0 * rng.uniform());
    const double u = rng.uniform();
    double mq;
    if (u < kBackground) {
      mq = 0.5 + 119.5 * rng.uniform();
    } else if (u < kBackground + hydrogen) {
      mq = (rng.uniform() < 0.7 ? 1.008 : 2.016) + kSigma * rng.normal();
    } else {
      const double v = rng.uniform();
      const auto k = static_cast<std::size_t>(std::lower_bound(cdf.begin(), cdf.end(), v) - cdf.begin());
      mq = peaks[std::min(k, peaks.size() - 1)].mq + kSigma * rng.normal();
      if (rng.uniform() < 0.3) mq += -kTail * std::log(1.0 - rng.uniform());
    }
    c.mq(i) = static_cast<float>(mq);
  }
  return c;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

}  // namespace

SyntheticArchive write_synthetic_archive(const std::string& dir, const SyntheticArchiveSpec& spec) {
  if (spec.datasets < 1) throw ConfigError("datasets", "must be >= 1");
  if (spec.min_ions < 1 || spec.max_ions < spec.min_ions)
    throw ConfigError("ions", "need 1 <= min_ions <= max_ions");
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "data", ec);
  fs::create_directories(fs::path(dir) / "ranges", ec);
  if (ec) throw ResourceError(fmt::format("synthetic archive '{}': cannot create ({})", dir, ec.message()));
  for (const auto& mat : materials())
    write_rrng((fs::path(dir) / "ranges" / (std::string(mat.name) + ".rrng")).string(), range_table_of(mat));

  const char* instruments[] = {"LEAP 4000X HR", "LEAP 5000 XS", "LEAP 5000 XR"};
  struct Row {
    std::string path, range, material, instrument, date;
    bool corrupt;
  };
  std::vector<Row> rows;
  const auto nmat = static_cast<int>(materials().size());
  // Bad entries go after these good rows (kind k after row bad_after[k]).
  const int nbad = spec.corrupt ? 5 : 0;
  std::vector<int> bad_after;
  for (int k = 0; k < nbad; ++k) bad_after.push_back((k + 1) * spec.datasets / (nbad + 1));
  int bad_next = 0;
  for (int d = 0; d < spec.datasets; ++d) {
    Rng rng(spec.seed, static_cast<std::uint64_t>(d));
    const int mi = d % nmat;
    const auto& mat = materials()[static_cast<std::size_t>(mi)];
    const std::int64_t n =
        spec.min_ions +
        static_cast<std::int64_t>(rng.uniform() * static_cast<double>(spec.max_ions - spec.min_ions + 1));
    const double hydrogen = 0.005 + 0.195 * rng.uniform();
    const bool epos = d % 3 == 2;
    const std::string name = fmt::format("{}_{:03d}.{}", mat.name, d, epos ? "epos" : "pos");
    const auto cloud = make_dataset(mat, std::min(n, spec.max_ions), hydrogen, rng);
    const std::string path = (fs::path(dir) / "data" / name).string();
    if (epos)
      io::write_epos(path, cloud);
    else
      io::write_pos(path, cloud);
    const int year = 2017 + static_cast<int>(rng.next() % 8), month = 1 + static_cast<int>(rng.next() % 12),
              day = 1 + static_cast<int>(rng.next() % 28);
    rows.push_back({"data/" + name, fmt::format("ranges/{}.rrng", mat.name), mat.name,
                    instruments[rng.next() % 3], fmt::format("{:04d}-{:02d}-{:02d}", year, month, day),
                    false});
    while (bad_next < nbad && bad_after[static_cast<std::size_t>(bad_next)] == d) {
      Rng brng(spec.seed, 100000u + static_cast<std::uint64_t>(bad_next));
      const auto& bmat = materials()[static_cast<std::size_t>(bad_next % nmat)];
      const std::string rrng = fmt::format("ranges/{}.rrng", bmat.name);
      Row b{"", rrng, bmat.name, instruments[bad_next % 3], "2020-02-29", true};
      const auto small = make_dataset(bmat, 2000, 0.05, brng);
      switch (bad_next) {
        case 0: {  // truncated POS: 7 bytes short of whole records
          b.path = "data/bad_truncated.pos";
          const std::string p = (fs::path(dir) / b.path).string();
          io::write_pos(p, small);
          fs::resize_file(p, fs::file_size(p) - 7);
          break;
        }
        case 1: {  // garbage: not a multiple of the POS or EPOS record size
          b.path = "data/bad_garbage.pos";
          std::ofstream out(fs::path(dir) / b.path, std::ios::binary);
          for (int i = 0; i < 1001; ++i) out.put(static_cast<char>(brng.next() & 0xff));
          break;
        }
        case 2: {  // an EPOS with a NaN m/q in the middle
          b.path = "data/bad_nan.epos";
          auto bad = small;
          bad.mq(1000) = std::numeric_limits<float>::quiet_NaN();
          io::write_epos((fs::path(dir) / b.path).string(), bad);
          break;
        }
        case 3:  // listed but absent
          b.path = "data/bad_missing.pos";
          break;
        default: {  // a good file whose range file is absent
          b.path = "data/bad_norange.pos";
          b.range = "ranges/absent.rrng";
          io::write_pos((fs::path(dir) / b.path).string(), small);
          break;
        }
      }
      rows.push_back(b);
      ++bad_next;
    }
  }
  SyntheticArchive out;
  out.manifest = (fs::path(dir) / "manifest.csv").string();
  std::ofstream csv(out.manifest, std::ios::binary);
  csv << "path,range,material,instrument,date\n";
  for (const auto& r : rows) {
    csv << csv_field(r.path) << ',' << csv_field(r.range) << ',' << csv_field(r.material) << ','
        << csv_field(r.instrument) << ',' << csv_field(r.date) << '\n';
    out.material.push_back(r.material);
    out.corrupt.push_back(r.corrupt);
  }
  csv.close();
  if (!csv) throw ResourceError(fmt::format("synthetic archive: cannot write '{}'", out.manifest));
  return out;
}

}  // namespace aptflow
