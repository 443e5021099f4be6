// Sensitive-span screen: finds text that identifies a person (e-mail addresses, phone and ID-like numbers,
// dates, names after "my name is" / "I am" and their equivalents in the main European languages), so that a
// prompt donates only the KV computed before its first such span (docs/security.md).
//
// Why only before: attention is causal, so the K/V of token i at every layer was computed from tokens [0, i]
// only. Blocks that end before the first sensitive token never saw it; every later block may carry it.
//
// Invariants:
//   - linear in the text's length (hand-written scanners, no backtracking regex: a prompt cannot make it slow);
//   - spans are byte ranges [begin, end) of the input, sorted by begin, non-overlapping;
//   - conservative: a false positive only costs reuse (a shorter donation), a false negative leaks, so ambiguous
//     numbers (7+ digits, full dates, digit-bearing codes) count as sensitive.
#pragma once
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace kvs::share {

enum class SensitiveKind { kEmail, kNumber, kIdCode, kDate, kName };
const char* sensitive_kind_name(SensitiveKind k);

struct SensitiveSpan {
  size_t begin = 0, end = 0;  // bytes of the screened text
  SensitiveKind kind = SensitiveKind::kNumber;
};

// Every sensitive span of `text` (UTF-8; invalid bytes are treated as non-word characters).
std::vector<SensitiveSpan> find_sensitive_spans(std::string_view text);

// The first one, if any.
std::optional<SensitiveSpan> first_sensitive_span(std::string_view text);

}  // namespace kvs::share
