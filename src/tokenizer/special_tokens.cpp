#include "tokenizer/special_tokens.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace kvs::tok {

SpecialTokenMatcher::SpecialTokenMatcher(const Vocab& vocab) {
  for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
    const TokenType t = vocab.type(id);
    if (t != TokenType::kControl && t != TokenType::kUserDefined) continue;
    const std::string& text = vocab.text(id);
    // Invalid UTF-8 could split a character of valid input between fragments: never match those.
    if (text.empty() || !validate_utf8(text).is_ok()) continue;
    if (vocab.find(text) != id) continue;  // duplicate text: the lowest id represents it
    by_first_byte_[static_cast<uint8_t>(text[0])].push_back(Entry{text, id, t == TokenType::kControl});
    ++n_;
  }
  for (auto& bucket : by_first_byte_) {
    std::stable_sort(bucket.begin(), bucket.end(),
                     [](const Entry& a, const Entry& b) { return a.text.size() > b.text.size(); });
  }
}

void SpecialTokenMatcher::split(std::string_view text, bool parse_control, std::vector<Fragment>& out) const {
  size_t plain_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    const auto& bucket = by_first_byte_[static_cast<uint8_t>(text[i])];
    const Entry* hit = nullptr;
    for (const Entry& e : bucket) {
      if (e.control && !parse_control) continue;
      if (text.compare(i, e.text.size(), e.text) == 0) {
        hit = &e;
        break;  // longest first
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    if (i > plain_start) out.push_back(Fragment{text.substr(plain_start, i - plain_start), kNoToken});
    out.push_back(Fragment{text.substr(i, hit->text.size()), hit->id});
    i += hit->text.size();
    plain_start = i;
  }
  if (i > plain_start) out.push_back(Fragment{text.substr(plain_start, i - plain_start), kNoToken});
}

}  // namespace kvs::tok
