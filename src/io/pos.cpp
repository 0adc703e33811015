// POS: 16 bytes per ion, big-endian float32 x, y, z (nm), m/q (Da); no header.
#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "aptflow/core/error.hpp"
#include "aptflow/io/detail/readers.hpp"

namespace aptflow::io::detail {

namespace {

inline float load_be_float(const unsigned char* p) {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return std::bit_cast<float>(__builtin_bswap32(w));
}
inline void store_be_float(unsigned char* p, float v) {
  std::uint32_t w = __builtin_bswap32(std::bit_cast<std::uint32_t>(v));
  std::memcpy(p, &w, 4);
}

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
    constexpr IonIndex block = IonIndex{1} << 16;  // 1 MiB per pread
    float* x = out.x.data();
    float* y = out.y.data();
    float* z = out.z.data();
    float* mq = out.mq.data();
    Species* sp = out.species.data();
    for (IonIndex done = 0; done < count; done += block) {
      const IonIndex n = std::min(block, count - done);
      buf_.resize(static_cast<std::size_t>(n) * kPosRecord);
      file_.read_at(static_cast<std::uint64_t>(first + done) * kPosRecord, buf_.size(), buf_.data());
      const unsigned char* p = buf_.data();
      const IonIndex o = at + done;
      for (IonIndex i = 0; i < n; ++i, p += kPosRecord) {
        x[o + i] = load_be_float(p);
        y[o + i] = load_be_float(p + 4);
        z[o + i] = load_be_float(p + 8);
        mq[o + i] = load_be_float(p + 12);
        sp[o + i] = 0;
      }
    }
  }

 private:
  RawFile file_;
  std::vector<unsigned char> buf_;
};

}  // namespace

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

bool pos_plausible(const unsigned char* p, std::uint64_t records) {
  for (std::uint64_t r = 0; r < records; ++r, p += kPosRecord) {
    // Finiteness from the bits first: comparing a (signalling) NaN raises FE_INVALID.
    for (int k = 0; k < 4; ++k)
      if (nonfinite_bits(std::bit_cast<std::uint32_t>(load_be_float(p + 4 * k)))) return false;
    for (int k = 0; k < 3; ++k)
      if (std::fabs(load_be_float(p + 4 * k)) > 1e6f) return false;
    const float m = load_be_float(p + 12);
    if (m < 0.f || m > 1e4f) return false;
  }
  return true;
}

}  // namespace aptflow::io::detail
