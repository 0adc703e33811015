// libFuzzer target for one headerless or APT point-cloud reader; the reader
// is chosen at compile time (-DAPTFLOW_FUZZ_FORMAT=pos|epos|apt|ato|text).
// The input bytes are written to a scratch file, then:
//  - detection (detect_format) runs on them;
//  - the forced reader opens the file, reads it whole, in odd-sized chunks
//    and by ion ranges, with both non-finite policies;
//  - invariants of an accepted file: the ion count of the info, of the whole
//    read and of the chunked read agree, and every chunk holds the same bits
//    as the whole read.
#include <cstring>

#include "aptflow/io/dataset.hpp"
#include "fuzz_common.hpp"

#ifndef APTFLOW_FUZZ_FORMAT
#error "compile with -DAPTFLOW_FUZZ_FORMAT=<format name>"
#endif
#define APTFLOW_STR2(x) #x
#define APTFLOW_STR(x) APTFLOW_STR2(x)

namespace io = aptflow::io;
using aptflow::HostIonCloud;
using aptflow::IonIndex;
using aptflow::fuzz::accepts;
using aptflow::fuzz::invariant_failed;

namespace {

const io::Format kFormat = io::parse_format(APTFLOW_STR(APTFLOW_FUZZ_FORMAT));

bool same_bits(const float* a, const float* b, IonIndex n) {
  return n == 0 || std::memcmp(a, b, sizeof(float) * static_cast<std::size_t>(n)) == 0;
}

void exercise(const std::string& path, std::size_t size) {
  accepts([&] { io::detect_format(path); });
  // One non-finite policy per input (chosen by the size's parity): both are
  // reached as the fuzzer varies the inputs, at half the cost per run.
  const auto policy = size % 2 ? io::NonFinite::drop : io::NonFinite::error;
  accepts([&] {
    io::ReadOptions o;
    o.format = kFormat;
    o.nonfinite = policy;
    o.chunk_ions = 7;
    io::DatasetReader r(path, o);
    const IonIndex n = r.size();
    if (n < 0) invariant_failed("negative ion count");
    io::ReadStats whole_stats;
    HostIonCloud whole = r.read(0, n, &whole_stats);
    if (whole.size() + whole_stats.dropped != n) invariant_failed("kept + dropped != ions");
    // Three chunks into one reused buffer: the same ions, the same bits.
    HostIonCloud buf;
    IonIndex at = 0;
    const IonIndex step = std::max<IonIndex>(1, (n + 2) / 3);
    for (IonIndex first = 0; first < n; first += step) {
      const IonIndex c = std::min<IonIndex>(step, n - first);
      const IonIndex kept = r.read_into(first, c, buf);
      if (kept > c) invariant_failed("read_into kept more than asked");
      if (at + kept > whole.size()) invariant_failed("chunks hold more ions than the whole read");
      if (!same_bits(buf.x.data(), whole.x.data() + at, kept) ||
          !same_bits(buf.mq.data(), whole.mq.data() + at, kept))
        invariant_failed("chunked read differs from the whole read");
      at += kept;
    }
    if (at != whole.size()) invariant_failed("chunks hold fewer ions than the whole read");
    accepts([&] { r.read(n, 1); });  // past the end: an InputError
  });
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  aptflow::fuzz::init_kokkos();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = aptflow::fuzz::scratch_path("." APTFLOW_STR(APTFLOW_FUZZ_FORMAT));
  aptflow::fuzz::write_file(path, data, size);
  exercise(path, size);
  return 0;
}
