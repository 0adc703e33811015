// Point-cloud files as other tools write them (issue 12): ATO v3 (both byte
// orders) and v5, text x, y, z, m/q, NeXus NXapm as pynxtools-apm writes it,
// Cameca's HDF5 export and AP Suite APT with Cameca's section names and
// types. Every fixture is written here from the format facts (independent
// little generators, h5py for HDF5), never copied from a peer. Detection
// never guesses: files that fit no format or several are errors that name
// the candidates and --format.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "test_util.hpp"

namespace io = aptflow::io;
using aptflow::HostIonCloud;
using aptflow::InputError;
using aptflow::IonIndex;

namespace {

struct Ion {
  float x, y, z, m;
};

std::vector<Ion> random_ions(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> p(-30.f, 30.f), q(1.f, 120.f);
  std::vector<Ion> v(n);
  for (auto& i : v) i = {p(rng), p(rng), p(rng) * 2.f + 60.f, q(rng)};
  return v;
}

// Bytes with a chosen byte order.
struct Writer {
  std::vector<unsigned char> b;
  bool big = false;
  template <class T>
  void put(T v) {
    unsigned char t[sizeof(T)];
    std::memcpy(t, &v, sizeof(T));
    if (big) std::reverse(t, t + sizeof(T));
    b.insert(b.end(), t, t + sizeof(T));
  }
  void save(const std::string& path) const {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
  }
};

void save_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// h5py / numpy reference run; the test fails when the script does.
void run_python(const std::string& dir, const std::string& script) {
  const std::string file = dir + "/make.py";
  std::ofstream(file) << script;
  const auto r = aptflow::test::run_command(aptflow::test::python_exe() + " " + file + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

}  // namespace

// ---------------------------------------------------------------- ATO

TEST(IoRealWorld, AtoV3BothByteOrdersAngstromToNm) {
  aptflow::test::TempDir dir;
  const auto ions = random_ions(333, 1);  // odd: 8 + 56 * 333 is a multiple of 16 (a POS size)
  for (bool big : {false, true}) {
    Writer w;
    w.big = big;
    w.put<std::uint32_t>(0), w.put<std::uint32_t>(3);
    for (const auto& i : ions) {
      const float rec[14] = {i.x * 10, i.y * 10, i.z * 10, i.m,   0, 17, 6.5f,
                             0.75f,    1.5f,     -2.5f,    1.25f, 0, 0,  0};
      for (float v : rec) w.put<float>(v);
    }
    const auto path = (dir / (big ? "be.ato" : "le.ato")).string();
    w.save(path);
    ASSERT_EQ(std::filesystem::file_size(path) % 16, 0u);
    EXPECT_EQ(io::detect_format(path), io::Format::ato) << big;
    const auto info = io::probe_dataset(path);
    EXPECT_EQ(info.ions, 333);
    EXPECT_TRUE(info.has_extras);
    EXPECT_TRUE(contains(info.sections.front(), big ? "big-endian" : "little-endian"))
        << info.sections.front();
    const HostIonCloud c = io::read_dataset(path);
    ASSERT_EQ(c.size(), 333);
    for (int k = 0; k < 333; ++k) {
      ASSERT_EQ(c.x(k), ions[k].x * 10 * 0.1f);
      ASSERT_EQ(c.z(k), ions[k].z * 10 * 0.1f);
      ASSERT_EQ(c.mq(k), ions[k].m);
      ASSERT_EQ(c.extras.v_dc(k), 6.5f);
      ASSERT_EQ(c.extras.tof(k), 750.f);   // us -> ns
      ASSERT_EQ(c.extras.x_det(k), 15.f);  // cm -> mm
      ASSERT_EQ(c.extras.y_det(k), -25.f);
      ASSERT_EQ(c.extras.v_pulse(k), 1.25f);
    }
  }
}

TEST(IoRealWorld, AtoV5AndBadAtoFiles) {
  aptflow::test::TempDir dir;
  const auto ions = random_ions(50, 2);
  Writer w;
  w.put<std::uint32_t>(0), w.put<std::uint32_t>(5);
  w.b.resize(5000, 0);
  for (const auto& i : ions) {
    w.put<std::int16_t>(static_cast<std::int16_t>(std::lround(i.x * 100)));
    w.put<std::int16_t>(static_cast<std::int16_t>(std::lround(i.y * 100)));
    w.put<float>(i.z * 10);
    w.put<float>(i.m);
    for (int k = 0; k < 28; ++k) w.b.push_back(static_cast<unsigned char>(k * 7));
  }
  const auto path = (dir / "v5.ato").string();
  w.save(path);
  EXPECT_EQ(io::detect_format(path), io::Format::ato);
  const auto c = io::read_dataset(path);
  ASSERT_EQ(c.size(), 50);
  EXPECT_FALSE(io::probe_dataset(path).has_extras);
  for (int k = 0; k < 50; ++k) {
    ASSERT_EQ(c.x(k), static_cast<float>(std::lround(ions[k].x * 100)) * 0.01f);
    ASSERT_EQ(c.z(k), ions[k].z * 10 * 0.1f);
    ASSERT_EQ(c.mq(k), ions[k].m);
  }
  // Truncated: the ATO reason, at byte 0.
  auto cut = w;
  cut.b.resize(cut.b.size() - 3);
  cut.save(path);
  EXPECT_TRUE(contains(input_error([&] { io::detect_format(path); }), "ATO v5")) << path;
  // Version 4 is named.
  Writer v4;
  v4.put<std::uint32_t>(0), v4.put<std::uint32_t>(4);
  for (const auto& i : random_ions(5, 12))
    for (float v : {i.x * 10, i.y * 10, i.z * 10, i.m, 0.f, 1.f, 5.f, 0.5f, 1.f, 1.f, 1.f, 0.f, 0.f, 0.f})
      v4.put<float>(v);
  v4.save(path);
  EXPECT_TRUE(contains(input_error([&] { io::read_dataset(path); }), "version 4"));
}

// ---------------------------------------------------------------- text

TEST(IoRealWorld, TextWithAndWithoutHeaderAnySeparator) {
  aptflow::test::TempDir dir;
  const auto ions = random_ions(200, 3);
  struct Case {
    std::string name, header, sep;
    bool comma_decimal, angstrom;
  };
  const std::vector<Case> cases = {
      {"a.csv", "x,y,z,m/q\n", ",", false, false},
      {"b.txt", "", "\t", false, false},
      {"c.txt", "# exported by a lab script\n", " ", false, false},
      {"d.csv", "ion;X [A];Y [A];Z [A];Mass-to-charge (Da)\n", ";", true, true},
  };
  for (const auto& cs : cases) {
    std::string text = cs.header;
    for (std::size_t k = 0; k < ions.size(); ++k) {
      const float s = cs.angstrom ? 10.f : 1.f;
      std::string line = cs.angstrom ? std::to_string(k) + cs.sep : "";
      line += fmt::format("{}{}{}{}{}{}{}", ions[k].x * s, cs.sep, ions[k].y * s, cs.sep, ions[k].z * s,
                          cs.sep, ions[k].m);
      if (cs.comma_decimal) std::replace(line.begin(), line.end(), '.', ',');
      text += line + (k % 50 == 7 ? "\r\n\n% a comment\n" : "\n");
    }
    const auto path = (dir / cs.name).string();
    save_text(path, text);
    EXPECT_EQ(io::detect_format(path), io::Format::text) << cs.name;
    const auto c = io::read_dataset(path);
    ASSERT_EQ(c.size(), 200) << cs.name;
    for (int k = 0; k < 200; ++k) {
      const float s = cs.angstrom ? 0.1f : 1.f;
      ASSERT_EQ(c.x(k), cs.angstrom ? (ions[k].x * 10.f) * s : ions[k].x) << cs.name << " ion " << k;
      ASSERT_EQ(c.mq(k), ions[k].m) << cs.name;
    }
    // Ranges read from the middle (the streamed index) equal the whole read.
    const auto part = io::read_dataset_range(path, 77, 55);
    for (int k = 0; k < 55; ++k) ASSERT_EQ(part.z(k), c.z(77 + k));
  }
}

TEST(IoRealWorld, TextErrorsNameTheLine) {
  aptflow::test::TempDir dir;
  const auto path = (dir / "bad.csv").string();
  save_text(path, "x,y,z,mq\n1,2,3,4\n5,6,7,8\n1,2,x1.5,4\n");
  auto e = input_error([&] { io::read_dataset(path); });
  EXPECT_TRUE(contains(e, "line 4")) << e;
  EXPECT_TRUE(contains(e, "'x1.5' is not a number")) << e;
  save_text(path, "1 2 3 4\n5 6 7\n");
  e = input_error([&] { io::read_dataset(path); });
  EXPECT_TRUE(contains(e, "line 2") && contains(e, "3 fields")) << e;
  save_text(path, "a,b,c,d\n1,2,3,4\n");
  e = input_error([&] { io::read_dataset(path); });
  EXPECT_TRUE(contains(e, "line 1") && contains(e, "names no x column")) << e;
  save_text(path, "x,y,z,mq\n1,2,3,nan\n");
  e = input_error([&] { io::read_dataset(path); });
  EXPECT_TRUE(contains(e, "line 2") && contains(e, "NaN or Inf")) << e;
}

TEST(IoRealWorld, TextWhoseSizeIsAMultipleOf16IsNotReadAsPos) {
  aptflow::test::TempDir dir;
  std::string text;
  const auto ions = random_ions(64, 4);
  for (const auto& i : ions) text += fmt::format("{:.3f},{:.3f},{:.3f},{:.3f}\n", i.x, i.y, i.z, i.m);
  while (text.size() % 16 != 0) text += "\n";
  const auto path = (dir / "data.dat").string();
  save_text(path, text);
  EXPECT_EQ(io::detect_format(path), io::Format::text);
  EXPECT_EQ(io::read_dataset(path).size(), 64);
}

// ---------------------------------------------------------------- detection

TEST(IoRealWorld, DetectionNeverGuesses) {
  aptflow::test::TempDir dir;
  // Random bytes whose size fits POS and EPOS: nothing fits; the error lists
  // every candidate and --format.
  std::mt19937 rng(5);
  Writer w;
  for (int k = 0; k < 176 * 20; ++k) w.b.push_back(static_cast<unsigned char>(rng()));
  const auto path = (dir / "noise.bin").string();
  w.save(path);
  auto e = input_error([&] { io::detect_format(path); });
  EXPECT_TRUE(contains(e, "no format fits")) << e;
  EXPECT_TRUE(contains(e, "--format")) << e;
  EXPECT_TRUE(contains(e, "not POS") && contains(e, "not EPOS") && contains(e, "not ATO")) << e;
  EXPECT_EQ(aptflow::test::run_command(aptflow::test::aptflow_exe() + " inspect " + path + " 2>&1").exit_code,
            2);
  // A POS file of one point repeated: no position spread, not plausible.
  Writer same;
  same.big = true;
  for (int k = 0; k < 64; ++k)
    same.put<float>(1.f), same.put<float>(2.f), same.put<float>(3.f), same.put<float>(27.f);
  same.save(path);
  e = input_error([&] { io::detect_format(path); });
  EXPECT_TRUE(contains(e, "do not spread")) << e;
  // Forcing the format reads it.
  io::ReadOptions o;
  o.format = io::Format::pos;
  EXPECT_EQ(io::read_dataset(path, o).size(), 64);
  // m/q outside [0, 1e4] Da.
  Writer big_m;
  big_m.big = true;
  for (const auto& i : random_ions(30, 6))
    big_m.put<float>(i.x), big_m.put<float>(i.y), big_m.put<float>(i.z), big_m.put<float>(7.7e35f);
  big_m.save(path);
  EXPECT_TRUE(contains(input_error([&] { io::detect_format(path); }), "m/q"));
}

// ---------------------------------------------------------------- APT, Cameca sections

namespace {
// Little-endian APT writer from the format facts (Cameca's section layout).
struct Apt {
  Writer w;
  void utf16(const std::string& s, int units) {
    for (int i = 0; i < units; ++i) w.put<std::uint16_t>(i < static_cast<int>(s.size()) ? s[i] : 0);
  }
  void header(std::uint64_t ions) {
    w.b.insert(w.b.end(), {'A', 'P', 'T', 0});
    w.put<std::int32_t>(540), w.put<std::int32_t>(2);
    utf16("cameca.apt", 256);
    w.put<std::int64_t>(133000000000000000), w.put<std::uint64_t>(ions);
  }
  void section(const std::string& type, std::uint32_t data_type, int bits, int record,
               const std::string& unit, std::uint64_t records, std::uint64_t bytes, int header = 148) {
    w.b.insert(w.b.end(), {'S', 'E', 'C', 0});
    w.put<std::int32_t>(header), w.put<std::int32_t>(2);
    utf16(type, 32);
    w.put<std::int32_t>(1), w.put<std::uint32_t>(1), w.put<std::uint32_t>(1), w.put<std::uint32_t>(data_type);
    w.put<std::int32_t>(bits), w.put<std::int32_t>(record);
    utf16(unit, 16);
    w.put<std::uint64_t>(records), w.put<std::uint64_t>(bytes);
  }
};
}  // namespace

TEST(IoRealWorld, AptCamecaSectionsByNameAndType) {
  aptflow::test::TempDir dir;
  const int n = 21;
  const auto ions = random_ions(n, 7);
  Apt a;
  a.header(n);
  // Position: 172-byte header (148 + bounding box), byte count 12 n.
  a.section("Position", 3, 32, 12, "nm", n, 12 * n, 172);
  for (int k = 0; k < 6; ++k) a.w.put<float>(static_cast<float>(k));
  for (const auto& i : ions) a.w.put<float>(i.x), a.w.put<float>(i.y), a.w.put<float>(i.z);
  // Mass as float64 with 16 bytes of padding in the byte count.
  a.section("Mass", 3, 64, 8, "Da", n, 8 * n + 16);
  for (const auto& i : ions) a.w.put<double>(i.m);
  for (int k = 0; k < 16; ++k) a.w.b.push_back(0xab);
  // pulseDelta (int16): NOT pulses since the last event.
  a.section("pulseDelta", 1, 16, 2, "", n, 2 * n);
  for (int k = 0; k < n; ++k) a.w.put<std::int16_t>(static_cast<std::int16_t>(-k));
  // Pulse Delta (int32): pulses since the last event.
  a.section("Pulse Delta", 1, 32, 4, "", n, 4 * n);
  for (int k = 0; k < n; ++k) a.w.put<std::int32_t>(k % 3 == 0 ? 0 : 1000 + k);
  // Multiplicity: first ion of a pulse holds the count, the others 0.
  a.section("Multiplicity", 1, 32, 4, "", n, 4 * n);
  for (int k = 0; k < n; ++k) a.w.put<std::int32_t>(k % 3 == 0 ? 3 : 0);
  // Detector Coordinates: float32 x 2 (no XDet_mm / YDet_mm).
  a.section("Detector Coordinates", 3, 32, 8, "mm", n, 8 * n);
  for (int k = 0; k < n; ++k) a.w.put<float>(k * 0.5f), a.w.put<float>(-k * 0.25f);
  a.section("Voltage", 3, 32, 4, "V", n, 4 * n);
  for (int k = 0; k < n; ++k) a.w.put<float>(4000.f + k);
  a.section("freq", 3, 32, 4, "Hz", n, 4 * n);
  for (int k = 0; k < n; ++k) a.w.put<float>(2e5f);
  const auto path = (dir / "cameca.apt").string();
  a.w.save(path);
  const auto info = io::probe_dataset(path);
  ASSERT_TRUE(info.has_extras);
  std::string all;
  for (const auto& s : info.sections) all += s + "\n";
  EXPECT_TRUE(contains(all, "Position (float32 x3, nm)")) << all;
  EXPECT_TRUE(contains(all, "Mass (float64, Da)")) << all;
  EXPECT_TRUE(contains(all, "pulseDelta (int16): pulse-number precision correction, not read")) << all;
  EXPECT_TRUE(contains(all, "Detector Coordinates (float32 x2, mm)")) << all;
  EXPECT_TRUE(contains(all, "freq (float32, Hz): not read")) << all;
  const auto c = io::read_dataset(path);
  ASSERT_EQ(c.size(), n);
  for (int k = 0; k < n; ++k) {
    ASSERT_EQ(c.x(k), ions[k].x);
    ASSERT_EQ(c.mq(k), ions[k].m);
    ASSERT_EQ(c.extras.pulses_since_last(k), k % 3 == 0 ? 0u : 1000u + k);
    ASSERT_EQ(c.extras.multiplicity(k), k % 3 == 0 ? 3u : 0u);
    ASSERT_EQ(c.extras.x_det(k), k * 0.5f);
    ASSERT_EQ(c.extras.y_det(k), -k * 0.25f);
    ASSERT_EQ(c.extras.v_dc(k), static_cast<float>((4000.0 + k) * 1e-3));
  }
  // inspect lists the sections it found.
  const auto r = aptflow::test::run_command(aptflow::test::aptflow_exe() + " inspect " + path + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "pulseDelta (int16)")) << r.output;
  // APT written by aptflow round trips through Cameca's layout (Position 172-byte header).
  HostIonCloud back = c;
  const auto out = (dir / "out.apt").string();
  io::write_apt(out, back);
  const auto again = io::read_dataset(out);
  for (int k = 0; k < n; ++k) {
    ASSERT_EQ(again.extras.pulses_since_last(k), c.extras.pulses_since_last(k));
    ASSERT_EQ(again.extras.multiplicity(k), c.extras.multiplicity(k));
    ASSERT_EQ(again.extras.x_det(k), c.extras.x_det(k));
  }
  std::string sections;
  for (const auto& s : io::probe_dataset(out).sections) sections += s + "\n";
  EXPECT_TRUE(contains(sections, "Pulse Delta (int32)") && contains(sections, "Pulse Voltage (float32, V)"))
      << sections;
}

// ---------------------------------------------------------------- NXapm, Cameca HDF5

TEST(IoRealWorld, NxapmAsPynxtoolsWritesIt) {
  // The pynxtools-apm layout: ion0 = unknown, ions with nuclide_hash (old
  // convention: N = 0 for the element), float32 mass_to_charge_range, charge
  // states; FeO at charge 1 and 2 are one ion type for aptflow.
  aptflow::test::TempDir dir;
  const auto path = (dir / "pynx.nxs").string();
  run_python(
      dir.path().string(),
      "import h5py, numpy as np\n"
      "r = np.random.default_rng(8)\n"
      "with h5py.File('" +
          path +
          "', 'w') as f:\n"
          "  e = f.create_group('entry1'); e.attrs['NX_class'] = 'NXentry'; e['definition'] = 'NXapm'\n"
          "  g = e.create_group('atom_probe'); g.attrs['NX_class'] = 'NXroi_process'\n"
          "  p = r.uniform(-20, 20, (500, 3)).astype('f4') * 10\n"
          "  d = g.create_dataset('reconstruction/reconstructed_positions', data=p); d.attrs['units'] = "
          "'angstrom'\n"
          "  m = r.uniform(1, 80, 500).astype('f4')\n"
          "  d = g.create_dataset('mass_to_charge_conversion/mass_to_charge', data=m); d.attrs['units'] = "
          "'Da'\n"
          "  pk = g.create_group('ranging/peak_identification')\n"
          "  def ion(k, hashes, charge, ranges, name):\n"
          "    i = pk.create_group('ion%d' % k); h = np.zeros(32, 'u2'); h[:len(hashes)] = sorted(hashes, "
          "reverse=True)\n"
          "    i['nuclide_hash'] = h; i['charge_state'] = np.int8(charge)\n"
          "    i['mass_to_charge_range'] = np.array(ranges, 'f4').reshape(-1, 2); i['name'] = name\n"
          "  ion(0, [], 0, [0, 0.0005], 'unknown type')\n"
          "  ion(1, [26 + 256 * 255], 1, [55.5, 56.5], 'Fe +')\n"
          "  ion(2, [26, 8], 1, [71.5, 72.5], 'FeO +')\n"
          "  ion(3, [26 + 256 * 255, 8 + 256 * 255], 2, [35.75, 36.25], 'FeO ++')\n"
          "  ion(4, [1 + 256 * 1], 1, [1.95, 2.05, 3.9, 4.1], 'D')\n"
          "  ion(5, [], 1, [60.0, 60.5], 'X')\n");
  EXPECT_EQ(io::detect_format(path), io::Format::nxapm);
  const auto c = io::read_dataset(path);
  ASSERT_EQ(c.size(), 500);
  EXPECT_LE(std::fabs(c.x(0)), 20.f);  // angstrom -> nm
  const auto t = aptflow::read_range_file(path);
  ASSERT_EQ(t.num_types(), 4u);
  EXPECT_EQ(t.ion_types[0].name, "Fe");
  EXPECT_EQ(t.ion_types[1].name, "FeO");  // charge 1 and 2: one ion type
  EXPECT_EQ(t.ion_types[2].name, "D");
  EXPECT_EQ(t.ion_types[3].name, "X");  // no nuclides: a custom ion named by its name
  EXPECT_EQ(t.ranges.size(), 6u);
  EXPECT_EQ(t.ranges[0].lo, 1.95f);  // float32 bounds read exactly as stored
  // aptflow inspect with the NXapm file as dataset and as range source.
  const auto r = aptflow::test::run_command(aptflow::test::aptflow_exe() + " inspect " + path + " --range " +
                                            path + " --json 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "\"format\": \"nxapm\"")) << r.output;
}

TEST(IoRealWorld, NxapmWriterRoundTripsAndH5pyReadsIt) {
  aptflow::test::TempDir dir;
  const auto ions = random_ions(300, 9);
  HostIonCloud c(300);
  for (int k = 0; k < 300; ++k)
    c.x(k) = ions[k].x, c.y(k) = ions[k].y, c.z(k) = ions[k].z, c.mq(k) = ions[k].m;
  aptflow::RangeTable t = aptflow::parse_rrng_string(
      "[Ions]\nNumber=2\nIon1=Fe\nIon2=O\n[Ranges]\nNumber=3\nRange1=10.5 20.25 Fe:1\nRange2=30 31 O:1\n"
      "Range3=40 41.125 Fe:2 O:3\n",
      "t.rrng");
  for (int k = 0; k < 300; ++k) {
    int s = 0;
    for (const auto& r : t.ranges)
      if (r.lo <= c.mq(k) && c.mq(k) < r.hi) s = r.ion_type + 1;
    c.species(k) = static_cast<aptflow::Species>(s);
  }
  const auto path = (dir / "out.nxs").string();
  io::write_nxapm(path, c, &t);
  EXPECT_EQ(io::detect_format(path), io::Format::nxapm);
  const auto back = io::read_dataset(path);
  for (int k = 0; k < 300; ++k) {
    ASSERT_EQ(back.x(k), c.x(k));
    ASSERT_EQ(back.mq(k), c.mq(k));
  }
  const auto bt = aptflow::read_range_file(path);
  ASSERT_EQ(bt.num_types(), 3u);
  ASSERT_EQ(bt.ranges.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(bt.ranges[k].lo, t.ranges[k].lo);
    EXPECT_EQ(bt.ranges[k].hi, t.ranges[k].hi);
    EXPECT_EQ(bt.ion_types[bt.ranges[k].ion_type].composition, t.ion_types[t.ranges[k].ion_type].composition);
  }
  // h5py: the NXapm paths, units, nuclide hashes and iontypes.
  run_python(
      dir.path().string(),
      "import h5py, numpy as np\n"
      "f = h5py.File('" +
          path +
          "', 'r')\n"
          "assert f['entry1'].attrs['NX_class'] == 'NXentry'\n"
          "assert f['entry1/definition'][()].decode() == 'NXapm'\n"
          "g = f['entry1/atom_probe']\n"
          "p = g['reconstruction/reconstructed_positions']; assert p.shape == (300, 3) and p.attrs['units'] "
          "== 'nm'\n"
          "assert g['mass_to_charge_conversion/mass_to_charge'].attrs['units'] == 'Da'\n"
          "pk = g['ranging/peak_identification']\n"
          "h = pk['ion3/nuclide_hash'][...]; assert h.shape == (32,), h\n"
          "assert sorted(int(v) for v in h if v) == sorted([26 + 256 * 255] * 2 + [8 + 256 * 255] * 3), h\n"
          "assert list(pk['ion1/mass_to_charge_range'][0]) == [10.5, 20.25]\n"
          "it = pk['iontypes'][...]; m = g['mass_to_charge_conversion/mass_to_charge'][...]\n"
          "ref = np.where((m >= 10.5) & (m < 20.25), 1, np.where((m >= 30) & (m < 31), 2, np.where((m >= 40) "
          "& (m < 41.125), 3, 0)))\n"
          "assert (it == ref).all()\n");
}

TEST(IoRealWorld, CamecaHdf5ExportWithRanges) {
  aptflow::test::TempDir dir;
  const auto path = (dir / "cameca.hdf5").string();
  run_python(dir.path().string(),
             "import h5py, numpy as np\n"
             "r = np.random.default_rng(10)\n"
             "with h5py.File('" +
                 path +
                 "', 'w') as f:\n"
                 "  f['xyz'] = r.uniform(-20, 20, (400, 3)).astype('f4')\n"
                 "  f['mass'] = r.uniform(1, 100, 400).astype('f8')\n"
                 "  for k, (el, lo, hi) in enumerate([('Fe', 27.5, 28.5), ('Fe2O3', 79.5, 80.5), ('Al', "
                 "26.9, 27.1), ('un', 90.0, 91.0)]):\n"
                 "    g = f.create_group('ranges/range_%d' % (k + 1)); g.attrs['element'] = el\n"
                 "    g.attrs['min_da'] = np.float64(lo); g.attrs['max_da'] = np.float64(hi)\n");
  EXPECT_EQ(io::detect_format(path), io::Format::cameca);
  EXPECT_EQ(io::read_dataset(path).size(), 400);
  const auto t = aptflow::read_range_file(path);
  ASSERT_EQ(t.ranges.size(), 4u);
  EXPECT_EQ(aptflow::find_species(t, "Fe2O3") > 0, true);
  EXPECT_TRUE(t.ion_types[t.ranges[3].ion_type].composition.empty());  // "un": a custom ion
}

TEST(IoRealWorld, Hdf5FilesOfNoOrSeveralLayouts) {
  aptflow::test::TempDir dir;
  const auto none = (dir / "none.h5").string(), both = (dir / "both.h5").string();
  run_python(dir.path().string(),
             "import h5py, numpy as np\n"
             "with h5py.File('" +
                 none +
                 "', 'w') as f: f['a'] = np.zeros(3)\n"
                 "with h5py.File('" +
                 both +
                 "', 'w') as f:\n"
                 "  f['xyz'] = np.zeros((3, 3), 'f4'); f['mass'] = np.ones(3, 'f4')\n"
                 "  f['ions/position'] = np.zeros((3, 3), 'f4'); f['ions/mq'] = np.ones(3, 'f4')\n");
  EXPECT_TRUE(contains(input_error([&] { io::detect_format(none); }), "no known point-cloud layout"));
  const auto e = input_error([&] { io::detect_format(both); });
  EXPECT_TRUE(contains(e, "several") && contains(e, "--format h5|cameca")) << e;
  io::ReadOptions o;
  o.format = io::Format::cameca;
  EXPECT_EQ(io::read_dataset(both, o).size(), 3);
}
