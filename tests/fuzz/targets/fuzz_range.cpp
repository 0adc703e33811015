// libFuzzer target for one range-file parser, chosen at compile time
// (-DAPTFLOW_FUZZ_FORMAT=rrng|rng|env). The bytes are parsed as text, directly
// and through format detection; an accepted table must be valid
// (validate_range_table), and a table the RRNG writer accepts must read back
// to the same ranges.
#include <spdlog/spdlog.h>

#include <string>

#include "aptflow/io/range_file.hpp"
#include "fuzz_common.hpp"

#ifndef APTFLOW_FUZZ_FORMAT
#error "compile with -DAPTFLOW_FUZZ_FORMAT=<rrng|rng|env>"
#endif
#define APTFLOW_STR2(x) #x
#define APTFLOW_STR(x) APTFLOW_STR2(x)

using aptflow::fuzz::accepts;
using aptflow::fuzz::invariant_failed;

namespace {

aptflow::RangeTable parse(const std::string& text, const aptflow::RangeOptions& o) {
  const std::string f = APTFLOW_STR(APTFLOW_FUZZ_FORMAT);
  if (f == "rrng") return aptflow::parse_rrng_string(text, "fuzz.rrng", o);
  if (f == "rng") return aptflow::parse_rng_string(text, "fuzz.rng", o);
  return aptflow::parse_env_string(text, "fuzz.env", o);
}

void check_round_trip(const aptflow::RangeTable& t) {
  aptflow::validate_range_table(t);  // throws InputError: a bug for an accepted table
  std::string rrng;
  if (!accepts([&] { rrng = aptflow::format_rrng(t); })) return;  // names RRNG cannot store
  const auto back = aptflow::parse_rrng_string(rrng, "roundtrip.rrng");
  if (back.ranges.size() != t.ranges.size() || back.ion_types.size() != t.ion_types.size())
    invariant_failed("RRNG round trip changed the table size");
  for (std::size_t i = 0; i < t.ranges.size(); ++i)
    if (back.ranges[i].lo != t.ranges[i].lo || back.ranges[i].hi != t.ranges[i].hi ||
        back.ranges[i].ion_type != t.ranges[i].ion_type)
      invariant_failed("RRNG round trip changed a range");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // merge/clip warnings would flood the log
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // One overlap policy per input (by the size's parity): both are reached.
  aptflow::RangeOptions o;
  o.overlap = size % 2 ? aptflow::OverlapPolicy::first_wins : aptflow::OverlapPolicy::error;
  aptflow::RangeTable t;
  if (accepts([&] { t = parse(text, o); })) {
    try {
      check_round_trip(t);
    } catch (const aptflow::Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      invariant_failed("an accepted table is invalid or does not read back");
    }
  }
  accepts([&] { aptflow::parse_range_string(text, "fuzz." APTFLOW_STR(APTFLOW_FUZZ_FORMAT), o); });
  return 0;
}
