// Progress: a terminal progress bar for long evaluations, on stderr.
//   TTY: one line redrawn in place with '\r' ("[semantic] 37/200 ██████░░░░ 18% 2:31 left").
//   Not a TTY (CI logs, pipes): one plain line per 10% of each phase and at its end.
// Invariants: writes only to its FILE*; finish() ends the line it drew, so later output starts clean.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace kvs::eval {

class Progress {
 public:
  // total: items over all phases (for the time estimate). tty: whether to redraw in place (default: isatty).
  explicit Progress(int64_t total, std::FILE* out = stderr);
  Progress(int64_t total, std::FILE* out, bool tty);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void start_phase(const std::string& name, int64_t items);
  void tick();  // one item of the current phase done
  void finish();

 private:
  void draw(bool force);

  std::FILE* out_;
  bool tty_;
  int64_t total_, done_ = 0;
  std::string phase_;
  int64_t phase_items_ = 0, phase_done_ = 0;
  int last_decile_ = -1;
  bool line_open_ = false;
  std::chrono::steady_clock::time_point t0_, last_draw_;
};

}  // namespace kvs::eval
