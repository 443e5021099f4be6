#include "engine/text_stream.h"

#include <algorithm>

namespace kvs::engine {

namespace {
// Length of the UTF-8 sequence a lead byte starts; 0 for a continuation byte.
int utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 0;
}
}  // namespace

std::string Utf8Assembler::push(std::string_view piece) {
  pending_.append(piece);
  // Find the start of a possibly incomplete last character (look back at most 3 bytes).
  size_t n = pending_.size(), cut = n;
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(pending_[n - back]);
    int len = utf8_len(c);
    if (len == 0) continue;  // continuation byte: keep looking for the lead
    if (static_cast<size_t>(len) > back) cut = n - back;  // lead whose sequence is not complete yet
    break;
  }
  std::string out = pending_.substr(0, cut);
  pending_.erase(0, cut);
  return out;
}

std::string Utf8Assembler::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

StopMatcher::Out StopMatcher::push(std::string_view text) {
  held_.append(text);
  Out out;
  size_t first = std::string::npos;
  for (const auto& s : stops_) {
    if (s.empty()) continue;
    size_t at = held_.find(s);
    if (at != std::string::npos) first = std::min(first, at);
  }
  if (first != std::string::npos) {
    out.text = held_.substr(0, first);
    out.stopped = true;
    held_.clear();
    return out;
  }
  // Keep the longest suffix of held_ that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const auto& s : stops_)
    for (size_t k = std::min(s.size() - (s.empty() ? 0 : 1), held_.size()); k > keep; --k)
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) { keep = k; break; }
  out.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace kvs::engine
