#include "engine/donation_policy.h"

#include "share/sensitive_screen.h"

namespace kvs::engine {

DonationLimit donation_limit(const tok::Tokenizer& tokenizer, std::span<const int32_t> prompt,
                             const std::string& share_text, bool donate, bool screen) {
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
  auto span = share::first_sensitive_span(text);
  if (!span) return d;
  int64_t first = 0;
  while (first < static_cast<int64_t>(end.size()) && end[first] <= span->begin) ++first;
  d.shareable_tokens = first;
  d.truncated = true;
  d.reason = share::sensitive_kind_name(span->kind);
  if (auto s = share::first_sensitive_span(share_text)) d.donor_text = share_text.substr(0, s->begin);
  else d.donor_text = share_text;  // the span is outside the text that finds donors (e.g. an earlier turn)
  return d;
}

}  // namespace kvs::engine
