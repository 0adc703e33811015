#pragma once
// Progress of a long driver on rank 0 (stderr, internal to src/pipeline): one
// line per stage; for a counted stage a redrawn bar on a terminal, else a
// line every `interval` seconds (batch logs).
#include <chrono>
#include <cstdint>
#include <string>

namespace aptflow::detail {

class Progress {
 public:
  // who: the prefix of every line ("aptflow classify").
  Progress(std::string who, bool on, int rank, double interval);
  void line(const std::string& s);
  // A counted stage of `total` items, `already` of them done before (resume).
  void start(const std::string& label, std::int64_t total, std::int64_t already);
  void update(std::int64_t done, bool last);

 private:
  using Clock = std::chrono::steady_clock;
  void end_bar();
  std::string who_;
  bool on_, tty_, bar_ = false;
  double interval_;
  std::string label_;
  std::int64_t total_ = 0, already_ = 0;
  Clock::time_point t0_, last_;
};

}  // namespace aptflow::detail
