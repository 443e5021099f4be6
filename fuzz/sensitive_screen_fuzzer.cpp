// fuzz_sensitive_screen: share/sensitive_screen.h on arbitrary bytes (prompts are untrusted). Oracle (the header's
// invariants): spans are non-empty byte ranges inside the text, sorted and disjoint; first_sensitive_span is the
// first of them; an e-mail span holds its '@'. libFuzzer's -timeout catches a scan that is not linear.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "share/sensitive_screen.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto spans = kvs::share::find_sensitive_spans(text);
  for (size_t i = 0; i < spans.size(); ++i) {
    FUZZ_CHECK(spans[i].begin < spans[i].end && spans[i].end <= size, "span outside the text or empty");
    if (i > 0) FUZZ_CHECK(spans[i - 1].end <= spans[i].begin, "spans overlap or are out of order");
    if (spans[i].kind == kvs::share::SensitiveKind::kEmail)
      FUZZ_CHECK(text.substr(spans[i].begin, spans[i].end - spans[i].begin).find('@') != std::string_view::npos,
                 "an e-mail span without '@'");
  }
  const auto first = kvs::share::first_sensitive_span(text);
  FUZZ_CHECK(first.has_value() == !spans.empty(), "first_sensitive_span disagrees with find_sensitive_spans");
  if (first) FUZZ_CHECK(first->begin == spans.front().begin && first->end == spans.front().end, "first is not first");
  return 0;
}
