// POS: 16 bytes per ion, big-endian float32 x, y, z (nm), m/q (Da); no header.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "aptflow/core/error.hpp"
#include "aptflow/io/detail/readers.hpp"

namespace aptflow::io::detail {

namespace {

class PosReader final : public IonReader {
 public:
  explicit PosReader(const std::string& path) : file_(path) {
    if (file_.size() == 0)
      throw InputError::at_byte(path, 0, "POS file is empty (0 bytes): nothing to read; check the export");
    if (file_.size() % kPosRecord != 0)
      throw InputError::at_byte(
          path, static_cast<std::int64_t>(file_.size() - file_.size() % kPosRecord),
          fmt::format("POS file size {} is not a multiple of 16 bytes (truncated?): the last record is "
                      "incomplete; re-export the file or check that it is really POS",
                      file_.size()));
  }
  Format format() const override { return Format::pos; }
  IonIndex size() const override { return static_cast<IonIndex>(file_.size() / kPosRecord); }
  bool has_extras() const override { return false; }
  std::uint64_t file_bytes() const override { return file_.size(); }
  std::int64_t byte_offset_of(IonIndex ion) const override {
    return static_cast<std::int64_t>(ion) * static_cast<std::int64_t>(kPosRecord);
  }

  void read(IonIndex first, IonIndex count, HostIonCloud& out, IonIndex at) override {
    APTFLOW_ASSERT(first >= 0 && count >= 0 && first + count <= size(), "POS read outside the file");
    float* x = out.x.data() + at;
    float* y = out.y.data() + at;
    float* z = out.z.data() + at;
    float* mq = out.mq.data() + at;
    std::fill_n(out.species.data() + at, count, Species{0});
    if (const unsigned char* map = file_.mapped()) {
      decode_pos(map + static_cast<std::uint64_t>(first) * kPosRecord, count, x, y, z, mq);
      return;
    }
    constexpr IonIndex block = IonIndex{1} << 13;  // 128 KiB per pread: stays in the cache
    for (IonIndex done = 0; done < count; done += block) {
      const IonIndex n = std::min(block, count - done);
      buf_.resize(static_cast<std::size_t>(n) * kPosRecord);
      file_.read_at(static_cast<std::uint64_t>(first + done) * kPosRecord, buf_.size(), buf_.data());
      decode_pos(buf_.data(), n, x + done, y + done, z + done, mq + done);
    }
  }

 private:
  RawFile file_;
  std::vector<unsigned char> buf_;
};

}  // namespace

namespace {

void decode_pos_scalar(const unsigned char* p, IonIndex n, float* x, float* y, float* z, float* mq) {
  for (IonIndex i = 0; i < n; ++i, p += kPosRecord) {
    x[i] = load_be_float(p);
    y[i] = load_be_float(p + 4);
    z[i] = load_be_float(p + 8);
    mq[i] = load_be_float(p + 12);
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// 8 records (128 bytes) per step: byte swap with vpshufb, 8 x 4 transpose
// with unpack / shuffle / permute. Pure data movement: the same bits as the
// scalar loop.
__attribute__((target("avx2"))) void decode_pos_avx2(const unsigned char* p, IonIndex n, float* x, float* y,
                                                     float* z, float* mq) {
  const __m256i swap = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7,
                                        6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  IonIndex i = 0;
  for (; i + 8 <= n; i += 8, p += 8 * kPosRecord) {
    const __m256i* q = reinterpret_cast<const __m256i*>(p);
    // [x y z m | x y z m]: two records per register, bytes swapped.
    const __m256 r0 = _mm256_castsi256_ps(_mm256_shuffle_epi8(_mm256_loadu_si256(q), swap));
    const __m256 r1 = _mm256_castsi256_ps(_mm256_shuffle_epi8(_mm256_loadu_si256(q + 1), swap));
    const __m256 r2 = _mm256_castsi256_ps(_mm256_shuffle_epi8(_mm256_loadu_si256(q + 2), swap));
    const __m256 r3 = _mm256_castsi256_ps(_mm256_shuffle_epi8(_mm256_loadu_si256(q + 3), swap));
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    _mm256_storeu_ps(x + i, _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t0, t2, 0x44), order));
    _mm256_storeu_ps(y + i, _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t0, t2, 0xEE), order));
    _mm256_storeu_ps(z + i, _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t1, t3, 0x44), order));
    _mm256_storeu_ps(mq + i, _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t1, t3, 0xEE), order));
  }
  decode_pos_scalar(p, n - i, x + i, y + i, z + i, mq + i);
}
#endif

}  // namespace

void decode_pos(const unsigned char* src, IonIndex count, float* x, float* y, float* z, float* mq) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return decode_pos_avx2(src, count, x, y, z, mq);
#endif
  decode_pos_scalar(src, count, x, y, z, mq);
}

std::unique_ptr<IonReader> open_pos_reader(const std::string& path) {
  return std::make_unique<PosReader>(path);
}

void encode_pos(const HostIonCloud& c, IonIndex first, IonIndex count, unsigned char* dst) {
  for (IonIndex i = first; i < first + count; ++i, dst += kPosRecord) {
    store_be_float(dst, c.x(i));
    store_be_float(dst + 4, c.y(i));
    store_be_float(dst + 8, c.z(i));
    store_be_float(dst + 12, c.mq(i));
  }
}

std::string pos_plausible(const unsigned char* p, std::uint64_t records) {
  SpreadCheck spread;
  LayoutMarks marks;
  std::uint64_t nonfinite = 0;
  for (std::uint64_t r = 0; r < records; ++r, p += kPosRecord) {
    // Finiteness from the bits first: comparing a (signalling) NaN raises FE_INVALID.
    bool bad = false;
    for (int k = 0; k < 4; ++k) bad = bad || nonfinite_bits(load_be_u32(p + 4 * k));
    if (bad) {
      ++nonfinite;
      continue;
    }
    const float x = load_be_float(p), y = load_be_float(p + 4), z = load_be_float(p + 8);
    const float m = load_be_float(p + 12);
    if (auto why = implausible_record(r, x, y, z, m); !why.empty()) return why;
    spread.add(x, y, z);
    marks.add(load_be_u32(p), load_be_u32(p + 4), load_be_u32(p + 8), load_be_u32(p + 12), m);
  }
  if (auto why = implausible_sample(nonfinite, records, spread); !why.empty()) return why;
  return marks.why_not();
}

}  // namespace aptflow::io::detail
