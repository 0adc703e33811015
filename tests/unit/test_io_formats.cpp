// Point-cloud formats: bit-exact round trips through every writer, checked
// against independent references (numpy/h5py, hand-built APT bytes),
// chunked and ranged reads, content-based detection, streaming writers.
#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "test_util.hpp"

namespace io = aptflow::io;
using aptflow::HostIonCloud;
using aptflow::IonIndex;

namespace {

HostIonCloud random_cloud(IonIndex n, unsigned seed, bool extras, bool species = false) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> pos(-60.f, 60.f), mq(0.5f, 250.f), t(100.f, 2000.f), v(1.f, 12.f),
      det(-40.f, 40.f);
  std::uniform_int_distribution<std::uint32_t> any;
  HostIonCloud c(n);
  for (IonIndex i = 0; i < n; ++i) {
    c.x(i) = pos(rng);
    c.y(i) = pos(rng);
    c.z(i) = pos(rng) * 3;
    c.mq(i) = mq(rng);
    c.species(i) = species ? static_cast<aptflow::Species>(any(rng) % 7) : 0;
  }
  if (extras) {
    c.allocate_extras();
    for (IonIndex i = 0; i < n; ++i) {
      c.extras.tof(i) = t(rng);
      c.extras.v_dc(i) = v(rng);
      c.extras.v_pulse(i) = v(rng) * 0.2f;
      c.extras.x_det(i) = det(rng);
      c.extras.y_det(i) = det(rng);
      c.extras.pulses_since_last(i) = any(rng);
      c.extras.multiplicity(i) = any(rng) % 5;
    }
  }
  return c;
}

template <class V>
bool same_bits(const V& a, const V& b, IonIndex a0 = 0, IonIndex b0 = 0, IonIndex n = -1) {
  if (n < 0) {
    if (a.extent(0) != b.extent(0)) return false;
    n = static_cast<IonIndex>(a.extent(0));
  }
  return n == 0 ||
         std::memcmp(a.data() + a0, b.data() + b0, sizeof(*a.data()) * static_cast<std::size_t>(n)) == 0;
}

// Compare b[0, n) with a[a0, a0 + n): core fields, species if asked, extras if asked.
void expect_equal(const HostIonCloud& a, const HostIonCloud& b, IonIndex a0, IonIndex n, bool species,
                  bool extras, bool v_pulse = true) {
  ASSERT_EQ(b.size(), n);
  EXPECT_TRUE(same_bits(a.x, b.x, a0, 0, n));
  EXPECT_TRUE(same_bits(a.y, b.y, a0, 0, n));
  EXPECT_TRUE(same_bits(a.z, b.z, a0, 0, n));
  EXPECT_TRUE(same_bits(a.mq, b.mq, a0, 0, n));
  if (species) EXPECT_TRUE(same_bits(a.species, b.species, a0, 0, n));
  if (!extras) return;
  ASSERT_TRUE(b.has_extras() || n == 0);
  if (n == 0) return;
  EXPECT_TRUE(same_bits(a.extras.tof, b.extras.tof, a0, 0, n));
  EXPECT_TRUE(same_bits(a.extras.v_dc, b.extras.v_dc, a0, 0, n));
  if (v_pulse) EXPECT_TRUE(same_bits(a.extras.v_pulse, b.extras.v_pulse, a0, 0, n));
  EXPECT_TRUE(same_bits(a.extras.x_det, b.extras.x_det, a0, 0, n));
  EXPECT_TRUE(same_bits(a.extras.y_det, b.extras.y_det, a0, 0, n));
  EXPECT_TRUE(same_bits(a.extras.pulses_since_last, b.extras.pulses_since_last, a0, 0, n));
  EXPECT_TRUE(same_bits(a.extras.multiplicity, b.extras.multiplicity, a0, 0, n));
}

// Run python (numpy/h5py) and return its output; the test fails if it fails.
std::string python(const std::string& script, const std::string& dir) {
  const std::string file = dir + "/ref.py";
  std::ofstream(file) << script;
  auto r = aptflow::test::run_command(aptflow::test::python_exe() + " " + file + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

// Little-endian float32/uint32 arrays dumped by the python reference.
template <class T>
std::vector<T> load_le(const std::string& path) {
  auto bytes = aptflow::test::read_bytes(path);
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

void expect_view_eq(const std::vector<float>& ref, const Kokkos::View<float*, Kokkos::HostSpace>& v) {
  ASSERT_EQ(ref.size(), v.extent(0));
  EXPECT_EQ(std::memcmp(ref.data(), v.data(), ref.size() * 4), 0);
}
void expect_view_eq(const std::vector<std::uint32_t>& ref,
                    const Kokkos::View<std::uint32_t*, Kokkos::HostSpace>& v) {
  ASSERT_EQ(ref.size(), v.extent(0));
  EXPECT_EQ(std::memcmp(ref.data(), v.data(), ref.size() * 4), 0);
}

}  // namespace

TEST(IoFormats, PosRoundTripMatchesNumpy) {
  aptflow::test::TempDir dir;
  const auto path = (dir / "a.pos").string();
  auto c = random_cloud(1237, 1, false);
  io::write_pos(path, c);
  EXPECT_EQ(std::filesystem::file_size(path), 1237u * 16);
  EXPECT_EQ(io::detect_format(path), io::Format::pos);
  auto r = io::read_dataset(path);
  expect_equal(c, r, 0, c.size(), true, false);
  // Independent reference: numpy reads big-endian float32 records.
  python("import numpy as np\na = np.fromfile('" + path +
             "', dtype='>f4').reshape(-1, 4)\n"
             "for k, n in enumerate('xyzm'): a[:, k].astype('<f4').tofile('" +
             dir.path().string() + "/' + n)\n",
         dir.path().string());
  expect_view_eq(load_le<float>((dir / "x").string()), r.x);
  expect_view_eq(load_le<float>((dir / "y").string()), r.y);
  expect_view_eq(load_le<float>((dir / "z").string()), r.z);
  expect_view_eq(load_le<float>((dir / "m").string()), r.mq);
}

TEST(IoFormats, EposRoundTripMatchesNumpy) {
  aptflow::test::TempDir dir;
  const auto path = (dir / "a.epos").string();
  auto c = random_cloud(999, 2, true);
  io::write_epos(path, c);
  EXPECT_EQ(std::filesystem::file_size(path), 999u * 44);
  EXPECT_EQ(io::detect_format(path), io::Format::epos);
  auto r = io::read_dataset(path);
  expect_equal(c, r, 0, c.size(), false, true);
  python(
      "import numpy as np\n"
      "dt = np.dtype([(n, '>f4') for n in ['x','y','z','m','tof','vdc','vp','xd','yd']] + "
      "[('dp', '>u4'), ('mult', '>u4')])\n"
      "a = np.fromfile('" +
          path +
          "', dtype=dt)\n"
          "for n in dt.names: a[n].astype('<' + dt[n].str[1:]).tofile('" +
          dir.path().string() + "/' + n)\n",
      dir.path().string());
  auto f = [&](const char* n) { return load_le<float>((dir / n).string()); };
  auto u = [&](const char* n) { return load_le<std::uint32_t>((dir / n).string()); };
  expect_view_eq(f("x"), r.x);
  expect_view_eq(f("m"), r.mq);
  expect_view_eq(f("tof"), r.extras.tof);
  expect_view_eq(f("vdc"), r.extras.v_dc);
  expect_view_eq(f("vp"), r.extras.v_pulse);
  expect_view_eq(f("xd"), r.extras.x_det);
  expect_view_eq(f("yd"), r.extras.y_det);
  expect_view_eq(u("dp"), r.extras.pulses_since_last);
  expect_view_eq(u("mult"), r.extras.multiplicity);
  // A cloud without extras is written with zero extras.
  auto plain = random_cloud(10, 3, false);
  io::write_epos(path, plain);
  auto r2 = io::read_dataset(path);
  expect_equal(plain, r2, 0, 10, false, false);
  for (IonIndex i = 0; i < 10; ++i) EXPECT_EQ(r2.extras.tof(i), 0.f);
}

TEST(IoFormats, AptRoundTrip) {
  aptflow::test::TempDir dir;
  const auto path = (dir / "a.apt").string();
  auto c = random_cloud(777, 4, true);
  io::write_apt(path, c);
  EXPECT_EQ(io::detect_format(path), io::Format::apt);
  auto info = io::probe_dataset(path);
  EXPECT_EQ(info.ions, 777);
  EXPECT_TRUE(info.has_extras);
  auto r = io::read_dataset(path);
  // Voltages go through volts (Cameca's unit): equal to float rounding.
  expect_equal(c, r, 0, c.size(), false, false);
  for (IonIndex i = 0; i < r.size(); ++i) {
    ASSERT_EQ(r.extras.tof(i), c.extras.tof(i));
    ASSERT_EQ(r.extras.x_det(i), c.extras.x_det(i));
    ASSERT_EQ(r.extras.multiplicity(i), c.extras.multiplicity(i));
    // Pulse Delta is int32: larger values saturate at 2^31 - 1.
    ASSERT_EQ(r.extras.pulses_since_last(i),
              std::min<std::uint32_t>(c.extras.pulses_since_last(i), 0x7fffffffu));
    ASSERT_NEAR(r.extras.v_dc(i), c.extras.v_dc(i), 1e-6f * c.extras.v_dc(i));
    ASSERT_NEAR(r.extras.v_pulse(i), c.extras.v_pulse(i), 1e-6f * c.extras.v_pulse(i));
  }
  // Without extras: Position + Mass only.
  auto plain = random_cloud(50, 5, false);
  io::write_apt(path, plain);
  EXPECT_FALSE(io::probe_dataset(path).has_extras);
  expect_equal(plain, io::read_dataset(path), 0, 50, false, false);
}

namespace {
// Independent little-endian APT builder for reader tests.
struct AptBuilder {
  std::vector<unsigned char> b;
  template <class T>
  void put(T v) {
    unsigned char tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
  }
  void utf16(const std::string& s, int units) {
    for (int i = 0; i < units; ++i) put<std::uint16_t>(i < static_cast<int>(s.size()) ? s[i] : 0);
  }
  void header(std::uint64_t ions, int header_size = 540) {
    b.insert(b.end(), {'A', 'P', 'T', 0});
    put<std::int32_t>(header_size);
    put<std::int32_t>(2);
    utf16("test.apt", 256);
    put<std::int64_t>(0);
    put<std::uint64_t>(ions);
    b.resize(b.size() + static_cast<std::size_t>(header_size - 540), 0xee);  // unknown header extension
  }
  void section(const std::string& type, std::uint32_t data_type, int record, const std::string& unit,
               std::uint64_t records, std::uint64_t bytes, int header_size = 148) {
    const int elem_bits = type == "Position" ? 32 : 8 * record;
    b.insert(b.end(), {'S', 'E', 'C', 0});
    put<std::int32_t>(header_size);
    put<std::int32_t>(2);
    utf16(type, 32);
    put<std::int32_t>(1);
    put<std::uint32_t>(1);
    put<std::uint32_t>(1);
    put<std::uint32_t>(data_type);
    put<std::int32_t>(elem_bits);
    put<std::int32_t>(record);
    utf16(unit, 16);
    put<std::uint64_t>(records);
    put<std::uint64_t>(bytes);
    b.resize(b.size() + static_cast<std::size_t>(header_size - 148), 0xdd);
  }
  void save(const std::string& path) const {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
  }
};
}  // namespace

TEST(IoFormats, AptReaderHandlesVariants) {
  // Larger file and section headers, unknown sections (skipped by byte count),
  // Position without bounding box, Voltage in V, int16 pulseDelta (not read),
  // int32 Delta Pulse, int32 Multiplicity, sections in any order.
  aptflow::test::TempDir dir;
  const auto path = (dir / "v.bin").string();
  const int n = 33;
  auto c = random_cloud(n, 6, true);
  AptBuilder a;
  a.header(n, 600);
  a.section("Fancy", 3, 4, "", 7, 28);
  for (int i = 0; i < 7; ++i) a.put<float>(1.5f);
  a.section("Mass", 3, 4, "Da", n, 4 * n);
  for (int i = 0; i < n; ++i) a.put<float>(c.mq(i));
  a.section("Position", 3, 12, "nm", n, 12 * n, 160);
  for (int i = 0; i < n; ++i) a.put<float>(c.x(i)), a.put<float>(c.y(i)), a.put<float>(c.z(i));
  a.section("Voltage", 3, 4, "V", n, 4 * n);
  for (int i = 0; i < n; ++i) a.put<float>(c.extras.v_dc(i) * 1000.f);
  a.section("pulseDelta", 1, 2, "", n, 2 * n);  // a pulse-number correction: not read
  for (int i = 0; i < n; ++i) a.put<std::int16_t>(static_cast<std::int16_t>(i - 3));
  a.section("Delta Pulse", 1, 4, "", n, 4 * n);  // pulses since the last event
  for (int i = 0; i < n; ++i) a.put<std::int32_t>(i - 3);
  a.section("Multiplicity", 1, 4, "", n, 4 * n);
  for (int i = 0; i < n; ++i) a.put<std::int32_t>(static_cast<std::int32_t>(c.extras.multiplicity(i)));
  a.save(path);
  EXPECT_EQ(io::detect_format(path), io::Format::apt);
  auto r = io::read_dataset(path);
  expect_equal(c, r, 0, n, false, false);
  ASSERT_TRUE(r.has_extras());
  for (int i = 0; i < n; ++i) {
    EXPECT_NEAR(r.extras.v_dc(i), c.extras.v_dc(i), 1e-5f * c.extras.v_dc(i));
    EXPECT_EQ(r.extras.pulses_since_last(i),
              i < 3 ? 0u : static_cast<std::uint32_t>(i - 3));  // negative -> 0
    EXPECT_EQ(r.extras.multiplicity(i), c.extras.multiplicity(i));
    EXPECT_EQ(r.extras.tof(i), 0.f);  // absent section
    EXPECT_EQ(r.extras.x_det(i), 0.f);
  }
  // Position with bounding box and an empty dataset.
  AptBuilder e;
  e.header(0);
  e.section("Position", 3, 12, "nm", 0, 24);
  for (int i = 0; i < 6; ++i) e.put<float>(0.f);
  e.section("Mass", 3, 4, "Da", 0, 0);
  e.save(path);
  EXPECT_EQ(io::read_dataset(path).size(), 0);
}

TEST(IoFormats, H5RoundTripMatchesH5py) {
  aptflow::test::TempDir dir;
  const auto path = (dir / "a.h5").string();
  auto c = random_cloud(2001, 7, true, true);
  aptflow::RangeTable t;
  t.ion_types = {{"Al", {{"Al", 1}}}, {"NiO", {{"Ni", 1}, {"O", 1}}}};
  t.ranges = {{26.5, 27.5, 0, 0}, {37.0, 37.6, 1, 0}, {74.1, 75.0, 1, 0}};
  io::write_h5_cloud(path, c, &t);
  EXPECT_EQ(io::detect_format(path), io::Format::h5);
  auto r = io::read_dataset(path);
  expect_equal(c, r, 0, c.size(), true, true);
  auto back = io::read_h5_ranges(path);
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->ion_types.size(), 2u);
  EXPECT_EQ(back->ion_types[1].name, "NiO");
  EXPECT_EQ(back->ion_types[1].composition, t.ion_types[1].composition);
  ASSERT_EQ(back->ranges.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(back->ranges[i].lo, t.ranges[i].lo);
    EXPECT_EQ(back->ranges[i].hi, t.ranges[i].hi);
    EXPECT_EQ(back->ranges[i].ion_type, t.ranges[i].ion_type);
  }
  // h5py reads the layout with no aptflow code involved.
  const auto d = dir.path().string();
  auto out = python("import h5py, numpy as np\nf = h5py.File('" + path +
                        "', 'r')\n"
                        "assert f.attrs['format'] == 'aptflow-ions', f.attrs['format']\n"
                        "p = f['ions/position'][...]\nassert p.shape == (2001, 3) and p.dtype == np.float32\n"
                        "p[:, 2].astype('<f4').tofile('" +
                        d +
                        "/z')\n"
                        "f['ions/species'][...].astype('<u4').tofile('" +
                        d +
                        "/s')\n"
                        "f['ions/multiplicity'][...].astype('<u4').tofile('" +
                        d +
                        "/m')\n"
                        "print(f['ions/position'].attrs['units'])\n",
                    d);
  EXPECT_NE(out.find("nm"), std::string::npos);
  expect_view_eq(load_le<float>(d + "/z"), r.z);
  expect_view_eq(load_le<std::uint32_t>(d + "/m"), r.extras.multiplicity);
  auto s = load_le<std::uint32_t>(d + "/s");
  ASSERT_EQ(s.size(), 2001u);
  for (IonIndex i = 0; i < 2001; ++i) ASSERT_EQ(s[i], c.species(i));
  // Without ranges / extras.
  auto plain = random_cloud(5, 8, false);
  io::write_h5_cloud(path, plain);
  EXPECT_FALSE(io::read_h5_ranges(path).has_value());
  EXPECT_FALSE(io::probe_dataset(path).has_extras);
  expect_equal(plain, io::read_dataset(path), 0, 5, true, false);
}

TEST(IoFormats, H5ReaderAcceptsH5pyWrittenContiguousFile) {
  // A file written by h5py (contiguous, float64 m/q, no species): the reader
  // converts types and reports byte offsets of non-finite records.
  aptflow::test::TempDir dir;
  const auto path = (dir / "py.h5").string();
  python(
      "import h5py, numpy as np\nr = np.random.default_rng(3)\n"
      "p = r.uniform(-5, 5, (100, 3)).astype('f4'); p[41, 1] = np.nan\n"
      "with h5py.File('" +
          path +
          "', 'w') as f:\n"
          "  f.attrs['format'] = 'aptflow-ions'; f.attrs['version'] = 1\n"
          "  f['ions/position'] = p; f['ions/mq'] = np.arange(100, dtype='f8') + 0.5\n",
      dir.path().string());
  try {
    io::read_dataset(path);
    FAIL() << "expected InputError";
  } catch (const aptflow::InputError& e) {
    EXPECT_EQ(e.where(), aptflow::InputError::Where::byte);
    EXPECT_NE(e.reason().find("ion 41"), std::string::npos) << e.what();
  }
  io::ReadOptions o;
  o.nonfinite = io::NonFinite::drop;
  auto r = io::read_dataset(path, o);
  ASSERT_EQ(r.size(), 99);
  EXPECT_EQ(r.mq(41), 42.5f);  // ion 42 moved up
  EXPECT_EQ(r.species(0), 0);
}

namespace {
struct FormatCase {
  io::Format format;
  bool extras;
};
const FormatCase kCases[] = {{io::Format::pos, false}, {io::Format::epos, true},  {io::Format::apt, true},
                             {io::Format::h5, true},   {io::Format::text, false}, {io::Format::nxapm, false}};

std::string write_case(const aptflow::test::TempDir& dir, const FormatCase& fc, const HostIonCloud& c) {
  const auto path = (dir / ("f." + std::string(io::format_name(fc.format)))).string();
  io::write_dataset(path, fc.format, c);
  return path;
}
}  // namespace

TEST(IoFormats, ChunkedReadEqualsWholeRead) {
  aptflow::test::TempDir dir;
  for (const auto& fc : kCases) {
    auto c = random_cloud(1000, 9, fc.extras, fc.format == io::Format::h5);
    const auto path = write_case(dir, fc, c);
    auto whole = io::read_dataset(path);
    for (IonIndex chunk : {IonIndex{1}, IonIndex{37}, IonIndex{1000}, IonIndex{4096}}) {
      io::ReadOptions o;
      o.chunk_ions = chunk;
      IonIndex expect_first = 0;
      HostIonCloud got = whole;
      io::for_each_chunk(path, o, [&](const HostIonCloud& ch, IonIndex first) {
        ASSERT_EQ(first, expect_first);
        ASSERT_EQ(ch.size(), std::min(chunk, 1000 - first));
        expect_equal(whole, ch, first, ch.size(), true, fc.extras);
        expect_first += ch.size();
      });
      EXPECT_EQ(expect_first, 1000) << io::format_name(fc.format) << " chunk " << chunk;
      // Whole read with small blocks equals the default.
      expect_equal(whole, io::read_dataset(path, o), 0, 1000, true, fc.extras);
    }
  }
}

TEST(IoFormats, RangeReadEqualsSlice) {
  aptflow::test::TempDir dir;
  std::mt19937 rng(10);
  for (const auto& fc : kCases) {
    auto c = random_cloud(500, 11, fc.extras, fc.format == io::Format::h5);
    const auto path = write_case(dir, fc, c);
    for (int t = 0; t < 12; ++t) {
      IonIndex first = std::uniform_int_distribution<IonIndex>(0, 500)(rng);
      IonIndex count = std::uniform_int_distribution<IonIndex>(0, 500 - first)(rng);
      io::ReadOptions o;
      o.chunk_ions = 1 + t * 13;
      auto r = io::read_dataset_range(path, first, count, o);
      // APT stores voltages in volts and Pulse Delta as int32: not bit-exact (AptRoundTrip checks them).
      expect_equal(c, r, first, count, fc.format == io::Format::h5,
                   fc.extras && fc.format != io::Format::apt);
    }
    EXPECT_THROW(io::read_dataset_range(path, 400, 101), aptflow::InputError);
    EXPECT_THROW(io::read_dataset_range(path, -1, 1), aptflow::InputError);
  }
}

TEST(IoFormats, DetectionUsesContentNotExtension) {
  aptflow::test::TempDir dir;
  auto c = random_cloud(123, 12, true);
  // Wrong extensions everywhere.
  io::write_pos((dir / "pos.epos").string(), c);
  io::write_epos((dir / "epos.pos").string(), c);
  io::write_apt((dir / "apt.h5").string(), c);
  io::write_h5_cloud((dir / "h5.pos").string(), c);
  EXPECT_EQ(io::detect_format((dir / "pos.epos").string()),
            io::Format::pos);  // 1968 bytes: 16 | 1968, 44 does not
  EXPECT_EQ(io::detect_format((dir / "epos.pos").string()), io::Format::epos);
  EXPECT_EQ(io::detect_format((dir / "apt.h5").string()), io::Format::apt);
  EXPECT_EQ(io::detect_format((dir / "h5.pos").string()), io::Format::h5);
  expect_equal(c, io::read_dataset((dir / "epos.pos").string()), 0, 123, false, true);
  // Ambiguous sizes (multiples of 176 bytes): plausibility decides, even against the extension.
  auto p44 = random_cloud(44, 13, false);  // 704 bytes = 16 * 44 = 44 * 16
  io::write_pos((dir / "amb.epos").string(), p44);
  EXPECT_EQ(io::detect_format((dir / "amb.epos").string()), io::Format::pos);
  expect_equal(p44, io::read_dataset((dir / "amb.epos").string()), 0, 44, false, false);
  auto e16 = random_cloud(16, 14, true);
  io::write_epos((dir / "amb.dat").string(), e16);
  EXPECT_EQ(io::detect_format((dir / "amb.dat").string()), io::Format::epos);
  // All-zero records fit no format (no position spread): an error, whatever the
  // extension says; it names the candidates and --format.
  HostIonCloud zeros(44);
  for (IonIndex i = 0; i < 44; ++i) zeros.x(i) = zeros.y(i) = zeros.z(i) = zeros.mq(i) = 0;
  io::write_pos((dir / "z.pos").string(), zeros);
  io::write_pos((dir / "z.bin").string(), zeros);
  for (const char* f : {"z.pos", "z.bin"}) {
    try {
      io::detect_format((dir / f).string());
      ADD_FAILURE() << f << ": detected";
    } catch (const aptflow::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--format"), std::string::npos) << e.what();
    }
  }
  // A forced format overrides detection.
  io::ReadOptions o;
  o.format = io::Format::pos;
  EXPECT_EQ(io::read_dataset((dir / "z.bin").string(), o).size(), 44);
  EXPECT_EQ(io::parse_format("HDF5"), io::Format::h5);
  EXPECT_THROW(io::parse_format("xyz"), aptflow::ConfigError);
  for (auto f : {io::Format::pos, io::Format::epos, io::Format::apt, io::Format::h5, io::Format::ato,
                 io::Format::text, io::Format::nxapm, io::Format::cameca})
    EXPECT_EQ(io::parse_format(io::format_name(f)), f);
  EXPECT_EQ(io::parse_format("CSV"), io::Format::text);
  EXPECT_EQ(io::parse_format("nxs"), io::Format::nxapm);
}

TEST(IoFormats, ProbeReadsOnlyHeaders) {
  aptflow::test::TempDir dir;
  auto c = random_cloud(321, 15, true);
  for (const auto& fc : kCases) {
    const auto path = write_case(dir, fc, c);
    auto info = io::probe_dataset(path);
    EXPECT_EQ(info.format, fc.format);
    EXPECT_EQ(info.ions, 321);
    EXPECT_EQ(info.bytes, std::filesystem::file_size(path));
    EXPECT_EQ(info.has_extras, fc.extras);
    EXPECT_EQ(info.path, path);
  }
}

TEST(IoFormats, NonFiniteRecordsErrorOrDrop) {
  aptflow::test::TempDir dir;
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (const auto& fc : kCases) {
    auto c = random_cloud(300, 16, fc.extras);
    c.x(17) = nan;
    c.mq(18) = -inf;
    c.z(250) = inf;
    const auto path = write_case(dir, fc, c);
    try {
      io::read_dataset(path);
      FAIL() << "expected InputError";
    } catch (const aptflow::InputError& e) {
      EXPECT_NE(e.reason().find("3 record(s)"), std::string::npos) << e.what();
      EXPECT_NE(e.reason().find("ion 17"), std::string::npos) << e.what();
      EXPECT_NE(e.reason().find("drop"), std::string::npos) << e.what();
      if (fc.format == io::Format::pos) EXPECT_EQ(e.location(), 17 * 16);
      if (fc.format == io::Format::epos) EXPECT_EQ(e.location(), 17 * 44);
      if (fc.format == io::Format::apt) EXPECT_EQ(e.location(), 540 + 148 + 24 + 17 * 12);
    }
    for (IonIndex chunk : {IonIndex{7}, IonIndex{1} << 22}) {
      io::ReadOptions o;
      o.nonfinite = io::NonFinite::drop;
      o.chunk_ions = chunk;
      io::ReadStats st;
      auto r = io::read_dataset(path, o, &st);
      EXPECT_EQ(st.nonfinite, 3);
      EXPECT_EQ(st.dropped, 3);
      ASSERT_EQ(r.size(), 297);
      // Reference: the records that remain, in order.
      IonIndex w = 0;
      for (IonIndex i = 0; i < 300; ++i) {
        if (i == 17 || i == 18 || i == 250) continue;
        ASSERT_EQ(std::bit_cast<std::uint32_t>(r.x(w)), std::bit_cast<std::uint32_t>(c.x(i)));
        ASSERT_EQ(std::bit_cast<std::uint32_t>(r.mq(w)), std::bit_cast<std::uint32_t>(c.mq(i)));
        if (fc.extras) ASSERT_EQ(r.extras.multiplicity(w), c.extras.multiplicity(i));
        ++w;
      }
      // Chunked drop: chunks concatenate to the same.
      IonIndex total = 0;
      io::ReadStats cst;
      io::for_each_chunk(
          path, o,
          [&](const HostIonCloud& ch, IonIndex) {
            expect_equal(r, ch, total, ch.size(), false, false);
            total += ch.size();
          },
          &cst);
      EXPECT_EQ(total, 297);
      EXPECT_EQ(cst.dropped, 3);
    }
    // Error mode through for_each_chunk: the chunks before the bad one are delivered, then the error.
    io::ReadOptions o;
    o.chunk_ions = 10;
    IonIndex delivered = 0;
    EXPECT_THROW(
        io::for_each_chunk(path, o, [&](const HostIonCloud& ch, IonIndex) { delivered += ch.size(); }),
        aptflow::InputError);
    EXPECT_EQ(delivered, 10);
  }
}

TEST(IoFormats, StreamingWriterEqualsWholeWrite) {
  aptflow::test::TempDir dir;
  auto c = random_cloud(1000, 17, true, true);
  auto part = [&](IonIndex a, IonIndex b) {
    return io::read_dataset_range((dir / "ref.h5").string(), a, b - a);
  };
  io::write_h5_cloud((dir / "ref.h5").string(), c);
  for (auto f : {io::Format::pos, io::Format::epos}) {
    const auto whole = (dir / "whole").string(), streamed = (dir / "streamed").string();
    io::write_dataset(whole, f, c);
    {
      io::CloudWriter w(streamed, f);
      w.append(part(0, 300));
      w.append(part(300, 300));
      w.append(part(300, 1000));
      EXPECT_EQ(w.written(), 1000);
      w.close();
    }
    EXPECT_EQ(aptflow::test::read_bytes(whole), aptflow::test::read_bytes(streamed)) << io::format_name(f);
  }
  {
    io::CloudWriter w((dir / "s.h5").string(), io::Format::h5, MPI_COMM_NULL, true);
    w.append(part(0, 999));
    w.append(part(999, 1000));
  }  // destructor closes
  expect_equal(c, io::read_dataset((dir / "s.h5").string()), 0, 1000, true, true);
  EXPECT_THROW(io::CloudWriter((dir / "x.apt").string(), io::Format::apt), aptflow::ConfigError);
  EXPECT_THROW(io::write_pos((dir / "no/such/dir.pos").string(), c), aptflow::ResourceError);
}

TEST(IoFormats, PosReadThroughput) {
  // Reports the POS read rate from the page cache (target >= 1 GB/s per process
  // in a Release build); asserts the content.
  aptflow::test::TempDir dir;
  const auto path = (dir / "big.pos").string();
  const IonIndex n = IonIndex{1} << 22;  // 64 MiB
  auto c = random_cloud(n, 18, false);
  io::write_pos(path, c);
  io::read_dataset(path);  // warm the page cache
  double best = 1e30;
  HostIonCloud r;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    r = io::read_dataset(path);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("[ POS read ] %.0f MiB in %.3f s: %.2f GB/s\n", n * 16 / 1048576.0, best, n * 16 / best / 1e9);
  expect_equal(c, r, 0, n, false, false);
}
