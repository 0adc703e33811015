// The report pages render in headless Chromium: every <img> figure loads
// (naturalWidth > 0, recorded into the DOM by a small script injected into a
// copy of the page; tests/python/report_check.py render), and a 1200 x 3000
// screenshot is not blank: decoded here (zlib + PNG filters), its pixel
// variance is well above zero and it shows the viridis ends of the heatmap
// colour bars, which only the SVG figures contain. Skips when chromium is
// absent (bash scripts/setup.sh installs it).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "report_fixtures.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
using aptflow::test::TempDir;

struct Image {
  std::uint32_t width = 0, height = 0;
  int channels = 0;
  std::vector<std::uint8_t> px;  // rows of width * channels bytes
};

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

// 8-bit RGB / RGBA, non-interlaced PNG (what Chromium writes).
Image decode_png(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<std::uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  static const std::uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
  if (b.size() < 8 || !std::equal(sig, sig + 8, b.begin())) throw std::runtime_error("not a PNG");
  Image im;
  std::vector<std::uint8_t> idat;
  for (std::size_t p = 8; p + 12 <= b.size();) {
    const std::uint32_t len = be32(&b[p]);
    const std::string type(reinterpret_cast<const char*>(&b[p + 4]), 4);
    const std::uint8_t* d = &b[p + 8];
    if (type == "IHDR") {
      im.width = be32(d), im.height = be32(d + 4);
      if (d[8] != 8 || d[12] != 0) throw std::runtime_error("only 8-bit non-interlaced PNG");
      im.channels = d[9] == 6 ? 4 : d[9] == 2 ? 3 : 0;
      if (!im.channels) throw std::runtime_error("only RGB(A) PNG");
    } else if (type == "IDAT") {
      idat.insert(idat.end(), d, d + len);
    }
    p += 12 + len;
  }
  const std::size_t stride = std::size_t(im.width) * im.channels;
  std::vector<std::uint8_t> raw((stride + 1) * im.height);
  uLongf n = raw.size();
  if (uncompress(raw.data(), &n, idat.data(), idat.size()) != Z_OK || n != raw.size())
    throw std::runtime_error("bad IDAT");
  im.px.assign(stride * im.height, 0);
  const int bpp = im.channels;
  for (std::uint32_t y = 0; y < im.height; ++y) {
    const std::uint8_t ft = raw[y * (stride + 1)];
    const std::uint8_t* s = &raw[y * (stride + 1) + 1];
    std::uint8_t* o = &im.px[y * stride];
    const std::uint8_t* up = y ? &im.px[(y - 1) * stride] : nullptr;
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= std::size_t(bpp) ? o[i - bpp] : 0, bb = up ? up[i] : 0,
                c = (up && i >= std::size_t(bpp)) ? up[i - bpp] : 0;
      int pred = 0;
      switch (ft) {
        case 0:
          pred = 0;
          break;
        case 1:
          pred = a;
          break;
        case 2:
          pred = bb;
          break;
        case 3:
          pred = (a + bb) / 2;
          break;
        case 4: {
          const int p = a + bb - c, pa = std::abs(p - a), pb = std::abs(p - bb), pc = std::abs(p - c);
          pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? bb : c);
          break;
        }
        default:
          throw std::runtime_error("bad PNG filter");
      }
      o[i] = static_cast<std::uint8_t>(s[i] + pred);
    }
  }
  return im;
}

void render_and_check(const fs::path& dir, const fs::path& png, bool expect_heatmap) {
  const auto r =
      aptflow::test::run_command(aptflow::test::python_exe() + " '" +
                                 (aptflow::test::source_dir() / "tests/python/report_check.py").string() +
                                 "' render '" + dir.string() + "' '" + png.string() + "'");
  if (r.exit_code == 77) GTEST_SKIP() << r.output;
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto im = decode_png(png);
  ASSERT_EQ(im.width, 1200u);
  ASSERT_EQ(im.height, 3000u);
  double sum = 0, sum2 = 0;
  std::int64_t dark = 0, yellow = 0, purple = 0;
  const std::size_t n = std::size_t(im.width) * im.height;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = &im.px[i * im.channels];
    const double l = 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
    sum += l, sum2 += l * l;
    dark += l < 100;
    auto near = [&](int R, int G, int B) {
      return std::abs(p[0] - R) + std::abs(p[1] - G) + std::abs(p[2] - B) < 30;
    };
    yellow += near(0xfd, 0xe7, 0x25);
    purple += near(0x44, 0x01, 0x54);
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_GT(var, 100.0) << "screenshot looks blank (mean luminance " << mean << ")";
  EXPECT_GT(dark, 5000) << "no text or lines drawn";
  if (expect_heatmap) {
    EXPECT_GT(yellow, 50) << "no viridis yellow: heatmap figures not drawn";
    EXPECT_GT(purple, 50) << "no viridis purple: heatmap figures not drawn";
  }
}

TEST(ReportRender, ClassifyPageInChromium) {
  TempDir tmp;
  aptflow::test::ClassifyFixture fx;
  fx.nz = 30, fx.ny = 20, fx.nx = 22;
  aptflow::test::make_classify_result((tmp / "r.h5").string(), fx, 51);
  const auto run =
      aptflow::test::run_command(aptflow::test::aptflow_exe() + " report '" + (tmp / "r.h5").string() +
                                 "' --out '" + (tmp / "rep").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  render_and_check(tmp / "rep", tmp / "shot.png", true);
}

TEST(ReportRender, ArchivePageInChromium) {
  TempDir tmp;
  aptflow::test::make_archive_index((tmp / "index.h5").string(), 60, 4, 800, 52);
  const auto run =
      aptflow::test::run_command(aptflow::test::aptflow_exe() + " report '" + (tmp / "index.h5").string() +
                                 "' --out '" + (tmp / "rep").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  render_and_check(tmp / "rep", tmp / "shot.png", false);
}

}  // namespace
