// DonationPolicy: how much of a prompt may be shared with other users of its share domain (published in the
// prefix cache, lent as a donor), decided once per request from the tenant's and the request's settings and the
// sensitive-span screen (share/sensitive_screen.h, docs/security.md).
//
// Invariants:
//   - shareable_tokens <= prompt.size(); 0 when donation is off (the request still reads the caches);
//   - when the screen finds a span, shareable_tokens is the index of the first token whose bytes overlap it, so
//     every shared slot's K/V was computed from tokens before the secret only (attention is causal);
//   - generated tokens are shareable only when the whole prompt is (an answer attends to the whole prompt);
//   - donor_text (the text whose embedding indexes the donor) never contains a span the screen found.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "tokenizer/tokenizer.h"

namespace kvs::engine {

struct DonationLimit {
  int64_t shareable_tokens = INT64_MAX;  // leading tokens of the sequence that may be shared
  bool truncated = false;                // a sensitive span (or the opt-out) cut the prompt's donation short
  std::string donor_text;                // when truncated by the screen: share_text before its first span
  const char* reason = "";               // "", "opt-out", or the first span's kind
};

// donate: the request (and its tenant) allow sharing; screen: run the sensitive-span screen.
// Spans that begin before screen_from (bytes of the decoded prompt: a system prompt) are not counted.
DonationLimit donation_limit(const tok::Tokenizer& tokenizer, std::span<const int32_t> prompt,
                             const std::string& share_text, bool donate, bool screen, size_t screen_from = 0);

}  // namespace kvs::engine
