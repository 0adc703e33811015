// Bad input never crashes, hangs or silently truncates: every case is an
// aptflow::InputError naming the file, the byte offset where known, what is
// wrong and what to do.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "test_util.hpp"

namespace io = aptflow::io;
using aptflow::HostIonCloud;
using aptflow::InputError;
using aptflow::IonIndex;

namespace {

HostIonCloud cloud(IonIndex n, bool extras) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(1.f, 50.f);
  HostIonCloud c(n);
  for (IonIndex i = 0; i < n; ++i) c.x(i) = u(rng), c.y(i) = u(rng), c.z(i) = u(rng), c.mq(i) = u(rng);
  if (extras) {
    c.allocate_extras();
    for (IonIndex i = 0; i < n; ++i) c.extras.tof(i) = u(rng), c.extras.multiplicity(i) = 1;
  }
  return c;
}

void save(const std::string& path, const std::vector<unsigned char>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
}
template <class T>
void poke(std::vector<unsigned char>& b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof(T));
}

// Expect an InputError for path from every entry point; check file, offset and words in the message.
void expect_input_error(const std::string& path, std::int64_t byte, const std::vector<std::string>& words,
                        std::optional<io::Format> format = std::nullopt) {
  io::ReadOptions o;
  o.format = format;
  auto check = [&](const char* what, auto&& fn) {
    try {
      fn();
      ADD_FAILURE() << what << ": expected InputError for " << path;
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), path) << e.what();
      if (byte >= 0) {
        EXPECT_EQ(e.where(), InputError::Where::byte) << e.what();
        EXPECT_EQ(e.location(), byte) << e.what();
      }
      for (const auto& w : words)
        EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << what << ": " << e.what();
    }
  };
  check("read_dataset", [&] { io::read_dataset(path, o); });
  check("probe_dataset", [&] { io::probe_dataset(path, format); });
  check("for_each_chunk", [&] { io::for_each_chunk(path, o, [](const HostIonCloud&, IonIndex) {}); });
}

}  // namespace

TEST(IoErrors, MissingEmptyDirectory) {
  aptflow::test::TempDir dir;
  expect_input_error((dir / "nope.pos").string(), -1, {"does not exist", "check the path"});
  expect_input_error(dir.path().string(), -1, {"is a directory"});
  save((dir / "empty.pos").string(), {});
  expect_input_error((dir / "empty.pos").string(), 0, {"empty"});
  for (auto f : {io::Format::pos, io::Format::epos, io::Format::apt, io::Format::h5})
    EXPECT_THROW(io::read_dataset((dir / "empty.pos").string(), {io::NonFinite::error, 1 << 22, f}),
                 InputError);
}

TEST(IoErrors, UnreadableFile) {
  if (geteuid() == 0) GTEST_SKIP() << "running as root: a file without read permission is still readable";
  aptflow::test::TempDir dir;
  io::write_pos((dir / "locked.pos").string(), cloud(4, false));
  chmod((dir / "locked.pos").c_str(), 0);
  expect_input_error((dir / "locked.pos").string(), -1, {"permission"});
}

TEST(IoErrors, RecordSizeNotWhole) {
  aptflow::test::TempDir dir;
  io::write_pos((dir / "a.pos").string(), cloud(10, false));
  auto b = aptflow::test::read_bytes((dir / "a.pos").string());
  b.resize(b.size() - 3);  // 157 bytes: neither 16 nor 44 divides
  save((dir / "a.pos").string(), b);
  expect_input_error((dir / "a.pos").string(), 144, {"not a multiple of 16", "truncated"});
  save((dir / "a.dat").string(), b);
  expect_input_error((dir / "a.dat").string(), 0, {"neither 16 (POS) nor 44 (EPOS)"});
  io::write_epos((dir / "b.epos").string(), cloud(10, true));
  b = aptflow::test::read_bytes((dir / "b.epos").string());
  b.resize(b.size() - 1);  // 439
  save((dir / "b.epos").string(), b);
  expect_input_error((dir / "b.epos").string(), 396, {"not a multiple of 44"});
  // EPOS truncated to a multiple of 16 whose records are not plausible POS: the extension decides the
  // message.
  b = aptflow::test::read_bytes((dir / "b.epos").string());
  b.resize(432);
  save((dir / "c.epos").string(), b);
  std::vector<unsigned char> bad(432, 0xff);  // NaN patterns: implausible as POS
  save((dir / "c.epos").string(), bad);
  expect_input_error((dir / "c.epos").string(), 396, {"EPOS", "not a multiple of 44"});
  // Forced formats check the size too.
  expect_input_error((dir / "b.epos").string(), 432, {"POS file size"}, io::Format::pos);
}

TEST(IoErrors, AptCorruptions) {
  aptflow::test::TempDir dir;
  const auto good = (dir / "good.apt").string();
  io::write_apt(good, cloud(20, true));
  const auto ref = aptflow::test::read_bytes(good);
  const auto path = (dir / "bad.apt").string();
  // Layout of our writer: header 540, Position section header at 540, box, data.
  const std::size_t sec0 = 540;
  {
    auto b = ref;
    b.resize(300);
    save(path, b);
    expect_input_error(path, 300, {"shorter than its 540-byte header"});
  }
  {
    auto b = ref;
    b[1] = 'X';
    save(path, b);
    // Without magic the content is not APT; forced APT says so.
    expect_input_error(path, 0, {"APT\\0"}, io::Format::apt);
  }
  {
    auto b = ref;
    poke<std::uint64_t>(b, 532, 21);  // header ion count disagrees with the sections
    save(path, b);
    expect_input_error(path, static_cast<std::int64_t>(sec0 + 132), {"20 records", "21 ions"});
  }
  {
    auto b = ref;
    poke<std::uint64_t>(b, 532, std::uint64_t{1} << 60);  // impossible ion count
    save(path, b);
    expect_input_error(path, 532, {"impossible"});
  }
  {
    auto b = ref;
    poke<std::uint64_t>(b, sec0 + 140, 1000000);  // Position runs past the end
    save(path, b);
    expect_input_error(path, static_cast<std::int64_t>(sec0 + 140), {"runs past the end"});
  }
  {
    auto b = ref;
    b.resize(b.size() - 5);  // last section truncated
    save(path, b);
    expect_input_error(path, -1, {"runs past the end"});
  }
  {
    auto b = ref;
    b.resize(b.size() + 100, 0);  // trailing garbage that is not a section
    save(path, b);
    expect_input_error(path, static_cast<std::int64_t>(ref.size()), {"section header truncated"});
  }
  {
    auto b = ref;
    b[sec0] = 'X';  // section magic
    save(path, b);
    expect_input_error(path, static_cast<std::int64_t>(sec0), {"SEC"});
  }
  {
    auto b = ref;
    poke<std::int32_t>(b, 4, 100);  // header size too small
    save(path, b);
    expect_input_error(path, 4, {"header size"});
  }
  {
    auto b = ref;
    poke<std::int32_t>(b, sec0 + 4, 1 << 30);  // section header size past the end
    save(path, b);
    expect_input_error(path, static_cast<std::int64_t>(sec0 + 4), {"section header size"});
  }
  {
    auto b = ref;
    poke<std::uint32_t>(b, sec0 + 88, 5);  // Position of data type 5 ("other")
    save(path, b);
    expect_input_error(path, static_cast<std::int64_t>(sec0 + 88), {"unsupported"});
  }
  {
    auto b = ref;
    poke<std::uint64_t>(b, sec0 + 140, 20 * 12 - 4);  // byte count below the 20 records' 240 bytes
    save(path, b);
    expect_input_error(path, static_cast<std::int64_t>(sec0 + 140), {"data bytes", "fewer"});
  }
  {
    auto b = ref;
    b[sec0 + 12] = 'Q';  // rename "Position" -> "Qosition": no positions
    save(path, b);
    expect_input_error(path, static_cast<std::int64_t>(ref.size()), {"no 'Position' section"});
  }
}

TEST(IoErrors, H5NotAPointCloud) {
  aptflow::test::TempDir dir;
  const auto path = (dir / "x.h5").string();
  {
    auto f = aptflow::h5::File::create(path);
    aptflow::h5::write<float>(f, "/data", {1, 2, 3});
  }
  expect_input_error(path, -1, {"/ions/position"});
  {
    auto f = aptflow::h5::File::create(path);
    auto root = aptflow::h5::open_object(f, "/");
    aptflow::h5::write_attr(root, "format", std::string("something-else"));
  }
  expect_input_error(path, -1, {"something-else"});
  {
    auto f = aptflow::h5::File::create(path);
    aptflow::h5::write<float>(f, "/ions/position", std::vector<float>(12, 1.f), {4, 3});
    aptflow::h5::write<float>(f, "/ions/mq", std::vector<float>(5, 1.f));
  }
  expect_input_error(path, -1, {"/ions/mq", "shape (4)"});
  // HDF5 signature with garbage after it.
  std::vector<unsigned char> b = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  b.resize(4000, 0x5a);
  save(path, b);
  expect_input_error(path, -1, {"HDF5"});
}

TEST(IoErrors, BadOptions) {
  aptflow::test::TempDir dir;
  io::write_pos((dir / "a.pos").string(), cloud(4, false));
  io::ReadOptions o;
  o.chunk_ions = 0;
  EXPECT_THROW(io::read_dataset((dir / "a.pos").string(), o), aptflow::ConfigError);
  EXPECT_THROW(io::for_each_chunk((dir / "a.pos").string(), o, [](const HostIonCloud&, IonIndex) {}),
               aptflow::ConfigError);
}
