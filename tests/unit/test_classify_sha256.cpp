// io::Sha256 against the system's sha256sum on random files of lengths around
// the 64-byte block and padding boundaries, fed in random pieces; FIPS 180-4
// example digests.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/io/sha256.hpp"
#include "test_util.hpp"

TEST(ClassifySha256, KnownDigests) {
  EXPECT_EQ(aptflow::io::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(aptflow::io::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(aptflow::io::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(ClassifySha256, MatchesSha256sumOnRandomFiles) {
  aptflow::test::TempDir dir;
  std::mt19937_64 rng(20261121);
  for (const std::size_t n :
       {std::size_t{1}, std::size_t{55}, std::size_t{56}, std::size_t{63}, std::size_t{64}, std::size_t{65},
        std::size_t{119}, std::size_t{1000}, std::size_t{3u << 20}}) {
    std::string bytes(n, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    const auto path = (dir / ("f" + std::to_string(n))).string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(n));
    const auto r = aptflow::test::run_command("sha256sum '" + path + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string expect = r.output.substr(0, 64);
    EXPECT_EQ(aptflow::io::sha256_file(path), expect) << n;
    // Same digest when fed in random pieces.
    aptflow::io::Sha256 h;
    for (std::size_t at = 0; at < n;) {
      const std::size_t take = std::min<std::size_t>(n - at, rng() % 150);
      h.update(bytes.data() + at, take);
      at += take;
    }
    EXPECT_EQ(h.hex(), expect) << n;
  }
  EXPECT_THROW(aptflow::io::sha256_file((dir / "missing").string()), aptflow::InputError);
}
