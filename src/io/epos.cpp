// EPOS: 44 bytes per ion, big-endian: float32 x, y, z (nm), m/q (Da), tof (ns),
// DC voltage (kV), pulse voltage (kV), x_det, y_det (mm), uint32 pulses since
// the last event, uint32 ions in this pulse (multiplicity); no header.
#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "aptflow/core/error.hpp"
#include "aptflow/io/detail/readers.hpp"

namespace aptflow::io::detail {

namespace {

class EposReader final : public IonReader {
 public:
  explicit EposReader(const std::string& path) : file_(path) {
    if (file_.size() == 0)
      throw InputError::at_byte(path, 0, "EPOS file is empty (0 bytes): nothing to read; check the export");
    if (file_.size() % kEposRecord != 0)
      throw InputError::at_byte(
          path, static_cast<std::int64_t>(file_.size() - file_.size() % kEposRecord),
          fmt::format("EPOS file size {} is not a multiple of 44 bytes (truncated?): the last record is "
                      "incomplete; re-export the file or check that it is really EPOS",
                      file_.size()));
  }
  Format format() const override { return Format::epos; }
  IonIndex size() const override { return static_cast<IonIndex>(file_.size() / kEposRecord); }
  bool has_extras() const override { return true; }
  std::uint64_t file_bytes() const override { return file_.size(); }
  std::int64_t byte_offset_of(IonIndex ion) const override {
    return static_cast<std::int64_t>(ion) * static_cast<std::int64_t>(kEposRecord);
  }

  void read(IonIndex first, IonIndex count, HostIonCloud& out, IonIndex at) override {
    APTFLOW_ASSERT(first >= 0 && count >= 0 && first + count <= size(), "EPOS read outside the file");
    const bool extras = out.extras.tof.extent(0) > 0;
    constexpr IonIndex block = IonIndex{1} << 15;  // 1.4 MB per pread
    auto& e = out.extras;
    const unsigned char* map = file_.mapped();  // decode from the page cache when the file maps
    for (IonIndex done = 0; done < count; done += block) {
      const IonIndex n = std::min(block, count - done);
      const std::uint64_t offset = static_cast<std::uint64_t>(first + done) * kEposRecord;
      const unsigned char* base = map ? map + offset : nullptr;
      if (!base) {
        buf_.resize(static_cast<std::size_t>(n) * kEposRecord);
        file_.read_at(offset, buf_.size(), buf_.data());
        base = buf_.data();
      }
      const unsigned char* p = base;
      const IonIndex o = at + done;
      for (IonIndex i = 0; i < n; ++i, p += kEposRecord) {
        out.x(o + i) = load_be_float(p);
        out.y(o + i) = load_be_float(p + 4);
        out.z(o + i) = load_be_float(p + 8);
        out.mq(o + i) = load_be_float(p + 12);
        out.species(o + i) = 0;
      }
      if (!extras) continue;
      p = base;
      for (IonIndex i = 0; i < n; ++i, p += kEposRecord) {
        e.tof(o + i) = load_be_float(p + 16);
        e.v_dc(o + i) = load_be_float(p + 20);
        e.v_pulse(o + i) = load_be_float(p + 24);
        e.x_det(o + i) = load_be_float(p + 28);
        e.y_det(o + i) = load_be_float(p + 32);
        e.pulses_since_last(o + i) = load_be_u32(p + 36);
        e.multiplicity(o + i) = load_be_u32(p + 40);
      }
    }
  }

 private:
  RawFile file_;
  std::vector<unsigned char> buf_;
};

}  // namespace

std::unique_ptr<IonReader> open_epos_reader(const std::string& path) {
  return std::make_unique<EposReader>(path);
}

void encode_epos(const HostIonCloud& c, IonIndex first, IonIndex count, unsigned char* dst) {
  const bool extras = c.has_extras();
  const auto& e = c.extras;
  for (IonIndex i = first; i < first + count; ++i, dst += kEposRecord) {
    store_be_float(dst, c.x(i));
    store_be_float(dst + 4, c.y(i));
    store_be_float(dst + 8, c.z(i));
    store_be_float(dst + 12, c.mq(i));
    if (extras) {
      store_be_float(dst + 16, e.tof(i));
      store_be_float(dst + 20, e.v_dc(i));
      store_be_float(dst + 24, e.v_pulse(i));
      store_be_float(dst + 28, e.x_det(i));
      store_be_float(dst + 32, e.y_det(i));
      store_be_u32(dst + 36, e.pulses_since_last(i));
      store_be_u32(dst + 40, e.multiplicity(i));
    } else {
      std::memset(dst + 16, 0, kEposRecord - 16);
    }
  }
}

std::string epos_plausible(const unsigned char* p, std::uint64_t records) {
  SpreadCheck spread;
  LayoutMarks marks;
  std::uint64_t nonfinite = 0;
  for (std::uint64_t r = 0; r < records; ++r, p += kEposRecord) {
    bool bad = false;
    for (int k = 0; k < 4; ++k)  // no float compare before this: a signalling NaN would trap
      bad = bad || nonfinite_bits(load_be_u32(p + 4 * k));
    if (bad) {
      ++nonfinite;
      continue;
    }
    for (int k = 4; k < 9; ++k)
      if (nonfinite_bits(load_be_u32(p + 4 * k)))
        return fmt::format("record {} holds NaN or Inf in an extra", r);
    const float x = load_be_float(p), y = load_be_float(p + 4), z = load_be_float(p + 8);
    const float m = load_be_float(p + 12);
    if (auto why = implausible_record(r, x, y, z, m); !why.empty()) return why;
    if (load_be_u32(p + 40) > 65536u)
      return fmt::format("record {} has {} ions in one pulse", r, load_be_u32(p + 40));
    spread.add(x, y, z);
    marks.add(load_be_u32(p), load_be_u32(p + 4), load_be_u32(p + 8), load_be_u32(p + 12), m);
  }
  if (auto why = implausible_sample(nonfinite, records, spread); !why.empty()) return why;
  return marks.why_not();
}

}  // namespace aptflow::io::detail
