#include "server/openai_logprobs.h"

namespace kvs::server {

namespace {
using nlohmann::json;

json bytes_json(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

json chat_logprobs_json(std::span<const LogprobToken> tokens) {
  json content = json::array();
  for (const LogprobToken& t : tokens) {
    json top = json::array();
    for (const auto& [tok, lp] : t.top) top.push_back({{"token", tok}, {"logprob", lp}, {"bytes", bytes_json(tok)}});
    content.push_back({{"token", t.token},
                       {"logprob", t.logprob ? json(*t.logprob) : json(nullptr)},
                       {"bytes", bytes_json(t.token)},
                       {"top_logprobs", std::move(top)}});
  }
  return json{{"content", std::move(content)}, {"refusal", nullptr}};
}

json completion_logprobs_json(std::span<const LogprobToken> tokens, int64_t text_offset) {
  json toks = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  int64_t off = text_offset;
  for (const LogprobToken& t : tokens) {
    toks.push_back(t.token);
    lps.push_back(t.logprob ? json(*t.logprob) : json(nullptr));
    if (!t.logprob) {
      tops.push_back(nullptr);
    } else {
      json d = json::object();
      for (const auto& [tok, lp] : t.top)
        if (!d.contains(tok)) d[tok] = lp;  // two ids with the same text: the likelier one (first) is kept
      tops.push_back(std::move(d));
    }
    offs.push_back(off);
    off += static_cast<int64_t>(t.token.size());
  }
  return json{{"tokens", std::move(toks)}, {"token_logprobs", std::move(lps)}, {"top_logprobs", std::move(tops)},
              {"text_offset", std::move(offs)}};
}

}  // namespace kvs::server
