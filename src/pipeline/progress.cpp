#include "progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace aptflow::detail {

Progress::Progress(std::string who, bool on, int rank, double interval)
    : who_(std::move(who)),
      on_(on && rank == 0),
      tty_(on_ && isatty(fileno(stderr)) == 1),
      interval_(interval) {}

void Progress::line(const std::string& s) {
  if (!on_) return;
  end_bar();
  std::fprintf(stderr, "%s: %s\n", who_.c_str(), s.c_str());
  std::fflush(stderr);
}

void Progress::start(const std::string& label, std::int64_t total, std::int64_t already) {
  label_ = label;
  total_ = total;
  already_ = already;
  t0_ = last_ = Clock::now();
  line(fmt::format("{}: {} windows{}", label, total,
                   already > 0 ? fmt::format(" ({} from the checkpoint)", already) : std::string()));
}

void Progress::update(std::int64_t done, bool last) {
  if (!on_) return;
  const auto now = Clock::now();
  const double dt = std::chrono::duration<double>(now - last_).count();
  if (!last && dt < (tty_ ? 0.2 : interval_)) return;
  last_ = now;
  const double el = std::max(std::chrono::duration<double>(now - t0_).count(), 1e-9);
  const double rate = static_cast<double>(done - already_) / el;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
  const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  if (tty_) {
    const int w = 30, fill = static_cast<int>(frac * w);
    std::fprintf(stderr, "\r%s [%s%s] %5.1f%% %lld/%lld %.0f/s ETA %.0f s ", label_.c_str(),
                 std::string(static_cast<std::size_t>(fill), '#').c_str(),
                 std::string(static_cast<std::size_t>(w - fill), '.').c_str(), 100 * frac,
                 static_cast<long long>(done), static_cast<long long>(total_), rate, eta);
    bar_ = true;
    if (last) end_bar();
  } else {
    std::fprintf(stderr, "%s: %s %lld/%lld windows (%.1f%%, %.0f/s, ETA %.0f s)\n", who_.c_str(),
                 label_.c_str(), static_cast<long long>(done), static_cast<long long>(total_), 100 * frac,
                 rate, eta);
  }
  std::fflush(stderr);
}

void Progress::end_bar() {
  if (bar_) std::fputc('\n', stderr);
  bar_ = false;
}

}  // namespace aptflow::detail
