#include "engine/donation_policy.h"

#include "share/sensitive_screen.h"

namespace kvs::engine {

DonationLimit donation_limit(const tok::Tokenizer& tokenizer, std::span<const int32_t> prompt,
                             const std::string& share_text, bool donate, bool screen, size_t screen_from) {
  DonationLimit d;
  if (!donate) {
    d.shareable_tokens = 0;
    d.truncated = true;
    d.reason = "opt-out";
    return d;
  }
  if (!screen) return d;
  // The prompt's bytes as the model sees them (decode = the concatenation of each token's bytes), so a span's
  // byte offset maps to the first token that overlaps it.
  std::string text;
  std::vector<size_t> end;  // (n) end[i]: bytes of tokens [0, i]
  end.reserve(prompt.size());
  for (int32_t id : prompt) {
    text += tokenizer.token_to_piece(id);
    end.push_back(text.size());
  }
  std::optional<share::SensitiveSpan> span;
  for (const share::SensitiveSpan& s : share::find_sensitive_spans(text))
    if (s.begin >= screen_from) {
      span = s;
      break;
    }
  if (!span) return d;
  int64_t first = 0;
  while (first < static_cast<int64_t>(end.size()) && end[first] <= span->begin) ++first;
  d.shareable_tokens = first;
  d.truncated = true;
  d.reason = share::sensitive_kind_name(span->kind);
  // The donor text is cut at its first span that also occurs in the screened part of the prompt (share_text may
  // hold the system prompt too); when none does, at its first span at all (conservative).
  d.donor_text = share_text;
  const auto spans = share::find_sensitive_spans(share_text);
  for (const share::SensitiveSpan& s : spans)
    if (text.find(share_text.substr(s.begin, s.end - s.begin), screen_from) != std::string::npos) {
      d.donor_text = share_text.substr(0, s.begin);
      return d;
    }
  if (!spans.empty()) d.donor_text = share_text.substr(0, spans.front().begin);
  return d;
}

}  // namespace kvs::engine
