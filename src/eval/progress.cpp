#include "eval/progress.h"

#include <unistd.h>

#include <algorithm>

namespace kvs::eval {

namespace {

std::string format_duration(double s) {
  const int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(t / 3600),
                               static_cast<long long>(t / 60 % 60), static_cast<long long>(t % 60));
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(t / 60), static_cast<long long>(t % 60));
  return buf;
}

}  // namespace

Progress::Progress(int64_t total, std::FILE* out) : Progress(total, out, isatty(fileno(out)) == 1) {}

Progress::Progress(int64_t total, std::FILE* out, bool tty)
    : out_(out), tty_(tty), total_(std::max<int64_t>(total, 1)), t0_(std::chrono::steady_clock::now()) {}

void Progress::start_phase(const std::string& name, int64_t items) {
  phase_ = name;
  phase_items_ = std::max<int64_t>(items, 1);
  phase_done_ = 0;
  last_decile_ = -1;
  draw(true);
}

void Progress::tick() {
  ++done_;
  ++phase_done_;
  draw(phase_done_ == phase_items_);
}

void Progress::draw(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - t0_).count();
  const double left = done_ > 0 ? elapsed * static_cast<double>(total_ - done_) / static_cast<double>(done_) : 0.0;
  const int pct = static_cast<int>(100 * phase_done_ / phase_items_);
  if (tty_) {
    if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    constexpr int kWidth = 24;
    const int fill = static_cast<int>(kWidth * phase_done_ / phase_items_);
    std::string bar;
    for (int i = 0; i < kWidth; ++i) bar += i < fill ? "\xE2\x96\x88" : "\xE2\x96\x91";  // █ ░
    std::fprintf(out_, "\r\x1b[2K[%s] %lld/%lld %s %3d%%  total %lld/%lld, %s elapsed, ~%s left", phase_.c_str(),
                 static_cast<long long>(phase_done_), static_cast<long long>(phase_items_), bar.c_str(), pct,
                 static_cast<long long>(done_), static_cast<long long>(total_), format_duration(elapsed).c_str(),
                 format_duration(left).c_str());
    line_open_ = true;
  } else {
    const int decile = static_cast<int>(10 * phase_done_ / phase_items_);
    if (decile == last_decile_ || (phase_done_ == 0 && !force)) return;
    if (phase_done_ == 0 && decile == 0 && last_decile_ == -1) {
      last_decile_ = 0;
      std::fprintf(out_, "[%s] starting: %lld requests\n", phase_.c_str(), static_cast<long long>(phase_items_));
    } else {
      last_decile_ = decile;
      std::fprintf(out_, "[%s] %lld/%lld (%d%%), %s elapsed, ~%s left\n", phase_.c_str(),
                   static_cast<long long>(phase_done_), static_cast<long long>(phase_items_), pct,
                   format_duration(elapsed).c_str(), format_duration(left).c_str());
    }
  }
  std::fflush(out_);
}

void Progress::finish() {
  if (tty_ && line_open_) std::fputc('\n', out_);
  line_open_ = false;
  std::fflush(out_);
}

}  // namespace kvs::eval
