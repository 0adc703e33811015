// Command line of the Google Benchmark drivers that take --smoke (a run of
// seconds for ctest): --smoke is taken out, the rest goes to
// benchmark::Initialize, with a tiny minimum time added under --smoke.
#pragma once

#include <string_view>
#include <vector>

namespace aptflow::bench {

struct SmokeArgs {
  bool smoke = false;
  std::vector<char*> args;  // argv without --smoke, for benchmark::Initialize
};

inline SmokeArgs parse_smoke_args(int argc, char** argv) {
  static char min_time[] = "--benchmark_min_time=0.001";  // Google Benchmark 1.7: seconds as a float
  SmokeArgs r;
  for (int i = 0; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--smoke")
      r.smoke = true;
    else
      r.args.push_back(argv[i]);
  }
  if (r.smoke && !r.args.empty()) r.args.insert(r.args.begin() + 1, min_time);
  return r;
}

}  // namespace aptflow::bench
