// Randomised-mutation fuzzing of the range-file readers: valid RRNG (written
// by write_rrng from random tables), RNG and ENV texts get bytes flipped,
// lines duplicated, deleted, swapped or overwritten with extreme numbers, and
// are truncated; every reader (detected format, each forced format, from a
// file) must then either return a valid table or throw an aptflow::Error --
// never throw anything else (std::out_of_range, std::invalid_argument, ...).
// Fixed seed; ~3 s by default, APTFLOW_FUZZ_SECONDS=<s> runs longer.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/io/range_file.hpp"
#include "test_util.hpp"

namespace {

using aptflow::RangeTable;

double fuzz_seconds() {
  if (const char* s = std::getenv("APTFLOW_FUZZ_SECONDS")) return std::atof(s);
  return 3.0;
}

// A random valid table: sorted, non-overlapping, some molecular ions.
RangeTable random_table(std::mt19937_64& rng) {
  static const char* kElements[] = {"Al", "Li", "Mg", "Fe", "O", "Ni", "Ti", "H", "C", "Cr"};
  RangeTable t;
  t.source = "random";
  const int ntypes = 1 + static_cast<int>(rng() % 6);
  for (int k = 0; k < ntypes; ++k) {
    aptflow::IonType it;
    aptflow::Composition comp{{kElements[(k * 3 + rng() % 2) % 10], 1 + static_cast<int>(rng() % 2)}};
    if (rng() % 3 == 0) comp.push_back({kElements[(k * 7 + 5) % 10], 1});
    comp = aptflow::canonical_composition(comp);
    it.composition = comp;
    it.name = aptflow::formula_of(comp);
    bool dup = false;
    for (const auto& o : t.ion_types) dup |= o.name == it.name;
    if (dup) continue;
    it.volume = 0.01 + 0.001 * static_cast<double>(rng() % 10);
    it.color = "33AA55";
    t.ion_types.push_back(it);
  }
  double m = 1.0;
  const int nranges = 1 + static_cast<int>(rng() % 10);
  for (int r = 0; r < nranges; ++r) {
    m += 0.1 + static_cast<double>(rng() % 1000) / 100.0;
    const double w = 0.05 + static_cast<double>(rng() % 50) / 100.0;
    t.ranges.push_back({m, m + w, static_cast<int>(rng() % t.ion_types.size()), 0});
    m += w;
  }
  return t;
}

const char* kRng =
    "3 4\n"
    "Fe\nFe 1.0 0.0 1.0\n"
    "O\nO 0.0 0.8 1.0\n"
    "TiO2\nTiO2 0.0 1.0 0.0\n"
    "------------ Fe O TiO2\n"
    ". 27.9 28.1 1 0 0\n"
    ". 35.8 36.2 1 1 0\n"
    ". 39.9 40.1 0 0 1\n"
    ". 47.9 48.1 0.05 0 1 1\n";
const char* kRngPoly =
    "2 1\nAl\nAl 0.2 1.0 1.0\nH\nH 0.8 0.8 0.0\n------- Al H\n. 13.95 14.10 1 1\n\n\n"
    "--- polyatomic extension\n1 1\nAlH2\nAlH2 1 0 0\n------- AlH2\n. 14.95 15.10 1\n";
const char* kEnv =
    "# GPM\n#\nRev_2.0\n\n# Number of elements / Number of mass ranges\n3\t3\n"
    "O\t0.0\t1.0\t0.0\nMnO2\t0.5\t0.5\t0.5\nX23\t0.3\t0.5\t0.5\n"
    "# ranges\nO\t15.88\t16.84\t20.0\t1.0\nMnO2\t43.38\t43.65\t11.66\t1.0\nX23\t22.24\t22.72\t11.66\t1.0\n"
    "\n# Flight length (m)\n0.100500\n";

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t b = 0;
  while (b <= s.size()) {
    auto e = s.find('\n', b);
    if (e == std::string::npos) {
      if (b < s.size()) out.push_back(s.substr(b));
      break;
    }
    out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += l + "\n";
  return s;
}

void mutate(std::string& s, std::mt19937_64& rng) {
  static const char* kTokens[] = {"nan",
                                  "inf",
                                  "-inf",
                                  "1e308",
                                  "-1e308",
                                  "1e-320",
                                  "0",
                                  "-1",
                                  "99999999999999999999",
                                  "=",
                                  "[Ranges]",
                                  "[Ions]",
                                  "Number=",
                                  "Range1=",
                                  "Ion1=",
                                  ":",
                                  "-------",
                                  "\t",
                                  " ",
                                  "",
                                  "\r",
                                  "\xff\xfe",
                                  "4294967297",
                                  "2147483648",
                                  "-2147483649",
                                  "0x10",
                                  "1,5",
                                  "Vol:",
                                  "Color:",
                                  "Name:",
                                  "Al:",
                                  "Al:0",
                                  "Al:-1",
                                  "polyatomic extension"};
  auto pick = [&](std::size_t n) { return n == 0 ? std::size_t{0} : static_cast<std::size_t>(rng() % n); };
  const int kind = static_cast<int>(rng() % 8);
  if (kind == 0 && !s.empty()) {  // flip random bytes
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) s[pick(s.size())] = static_cast<char>(rng() & 0xff);
  } else if (kind == 1) {  // truncate
    s.resize(pick(s.size() + 1));
  } else if (kind == 2 || kind == 3) {  // insert a token at a random place
    const std::string tok = kTokens[pick(std::size(kTokens))];
    s.insert(pick(s.size() + 1), tok);
  } else if (kind == 4) {  // replace a number-ish word by a token
    auto lines = split_lines(s);
    if (lines.empty()) return;
    auto& l = lines[pick(lines.size())];
    const std::size_t at = pick(l.size() + 1);
    const std::size_t len = pick(8);
    l.replace(at, std::min(len, l.size() - at), kTokens[pick(std::size(kTokens))]);
    s = join_lines(lines);
  } else {  // line operations: delete, duplicate, swap
    auto lines = split_lines(s);
    if (lines.empty()) return;
    const std::size_t i = pick(lines.size()), j = pick(lines.size());
    if (kind == 5)
      lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(i));
    else if (kind == 6)
      lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(i), lines[j]);
    else
      std::swap(lines[i], lines[j]);
    s = join_lines(lines);
  }
}

// Run every reader on the text; returns the number of readers that accepted it.
// Fails the test (and returns -1) when anything but aptflow::Error escapes, or
// when an accepted table breaks the RangeTable invariants.
int run_readers(const std::string& text, const std::string& file_path) {
  using F = std::function<RangeTable()>;
  const std::vector<std::pair<const char*, F>> readers = {
      {"auto", [&] { return aptflow::parse_range_string(text, "fuzz"); }},
      {"rrng", [&] { return aptflow::parse_rrng_string(text, "fuzz.rrng"); }},
      {"rng", [&] { return aptflow::parse_rng_string(text, "fuzz.rng"); }},
      {"env", [&] { return aptflow::parse_env_string(text, "fuzz.env"); }},
      {"first_wins",
       [&] {
         aptflow::RangeOptions o;
         o.overlap = aptflow::OverlapPolicy::first_wins;
         return aptflow::parse_range_string(text, "fuzz", o);
       }},
      {"file", [&] { return aptflow::read_range_file(file_path); }},
  };
  {
    std::ofstream out(file_path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  int accepted = 0;
  for (const auto& [name, f] : readers) {
    try {
      const RangeTable t = f();
      aptflow::validate_range_table(t);  // an accepted table must be valid
      ++accepted;
    } catch (const aptflow::Error&) {
      // expected for bad input
    } catch (const std::exception& e) {
      ADD_FAILURE() << "reader " << name << " threw a non-aptflow exception: " << e.what()
                    << "\n--- input ---\n"
                    << text;
      return -1;
    } catch (...) {
      ADD_FAILURE() << "reader " << name << " threw a non-std exception\n--- input ---\n" << text;
      return -1;
    }
  }
  return accepted;
}

TEST(FuzzRanges, MutatedRangeFilesOnlyThrowAptflowErrors) {
  aptflow::test::TempDir dir;
  const auto path = (dir / "fuzz.rrng").string();
  std::mt19937_64 rng(20261121);
  const auto old_level = spdlog::get_level();
  spdlog::set_level(spdlog::level::off);  // merge/clip warnings would flood the log

  std::vector<std::string> seeds = {kRng, kRngPoly, kEnv};
  for (int k = 0; k < 6; ++k) {
    const auto t = random_table(rng);
    const auto p = (dir / ("seed" + std::to_string(k) + ".rrng")).string();
    aptflow::write_rrng(p, t);
    std::ifstream in(p, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The unmutated seeds are valid for the auto-detecting reader.
  for (const auto& s : seeds) EXPECT_NO_THROW(aptflow::parse_range_string(s, "seed")) << s;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(fuzz_seconds());
  std::int64_t cases = 0, accepted = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = seeds[static_cast<std::size_t>(rng() % seeds.size())];
    const int rounds = 1 + static_cast<int>(rng() % 4);
    for (int r = 0; r < rounds; ++r) mutate(text, rng);
    const int a = run_readers(text, path);
    if (a < 0) break;
    accepted += a > 0;
    ++cases;
  }
  spdlog::set_level(old_level);
  std::printf("fuzz ranges: %lld mutated inputs, %lld accepted by at least one reader\n",
              static_cast<long long>(cases), static_cast<long long>(accepted));
  EXPECT_GT(cases, 100);
  // Mutations that keep a file valid exist (e.g. a flipped colour digit): the fuzzer reaches the parsers'
  // success paths as well as their error paths.
  EXPECT_GT(accepted, 0);
}

}  // namespace
