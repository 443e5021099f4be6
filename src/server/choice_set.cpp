#include "server/choice_set.h"

namespace kvs::server {

ChoiceSet::ChoiceSet(const tok::Tokenizer& tok, ChoiceOptions opt, std::vector<int32_t> prompt)
    : tok_(tok), opt_(opt), prompt_(std::move(prompt)) {}

void ChoiceSet::add(std::shared_ptr<engine::RequestHandle> h) {
  handles_.push_back(std::move(h));
  choices_.emplace_back();
}

bool ChoiceSet::pump(std::chrono::milliseconds wait) {
  bool any = false;
  bool waited = false;
  for (size_t i = 0; i < handles_.size(); ++i) {
    if (choices_[i].finished) continue;
    const auto first_wait = waited ? std::chrono::milliseconds(0) : wait;
    waited = true;
    for (auto ev = handles_[i]->next(first_wait); ev; ev = handles_[i]->next(std::chrono::milliseconds(0))) {
      any = true;
      const bool fin = ev->finished;
      apply(i, std::move(*ev));
      if (fin) break;
    }
  }
  return any;
}

bool ChoiceSet::all_finished() const {
  for (const Choice& c : choices_)
    if (!c.finished) return false;
  return !choices_.empty();
}

void ChoiceSet::cancel_all() {
  for (auto& h : handles_) h->cancel();
}

LogprobToken ChoiceSet::to_text(const engine::TokenLogprob& lp) const {
  LogprobToken t;
  t.token = tok_.token_to_piece(lp.token);
  t.logprob = lp.logprob;
  for (const auto& [id, v] : lp.top) t.top.emplace_back(tok_.token_to_piece(id), v);
  return t;
}

void ChoiceSet::apply(size_t i, engine::StreamEvent ev) {
  Choice& c = choices_[i];
  ChunkDelta d;
  d.index = static_cast<int32_t>(i);
  d.text_offset = c.text_bytes;
  std::string text;
  std::vector<LogprobToken> lps;
  if (c.events++ == 0 && opt_.echo) {  // the prompt first, with its scores (the engine sends them on this event)
    text = tok_.decode(prompt_);
    if (opt_.logprobs) {
      LogprobToken first;
      first.token = prompt_.empty() ? std::string() : tok_.token_to_piece(prompt_[0]);
      lps.push_back(std::move(first));
      for (const auto& lp : ev.prompt_logprobs) lps.push_back(to_text(lp));
    }
  }
  if (!opt_.score_only) {
    text += ev.text;
    if (opt_.logprobs)
      for (const auto& lp : ev.logprobs) lps.push_back(to_text(lp));
  }
  if (ev.finished) {
    c.finished = true;
    c.engine_finish = ev.finish_reason;
    c.usage = ev.usage;
    c.error = ev.error;
    if (c.engine_finish != "cancelled" && c.engine_finish != "error")
      d.finish_reason = opt_.score_only ? "length" : openai_finish_reason(c.engine_finish);
  }
  c.text += text;
  c.text_bytes += static_cast<int64_t>(text.size());
  for (auto& lp : lps) c.logprobs.push_back(lp);
  if (!text.empty()) d.text = std::move(text);
  if (opt_.logprobs && !lps.empty()) d.logprobs = std::move(lps);
  if (d.text || d.logprobs || d.finish_reason) deltas_.push_back(std::move(d));
}

std::vector<ChunkDelta> ChoiceSet::take_deltas() { return std::exchange(deltas_, {}); }

std::string ChoiceSet::engine_outcome() const {
  std::string out = "stop";
  for (const Choice& c : choices_) {
    if (c.engine_finish == "error") return "error";
    if (c.engine_finish == "cancelled") out = "cancelled";
  }
  return out;
}

Status ChoiceSet::error() const {
  for (const Choice& c : choices_)
    if (!c.error.is_ok()) return c.error;
  return Status::ok();
}

std::vector<ChoiceOutput> ChoiceSet::outputs() const {
  std::vector<ChoiceOutput> out;
  for (const Choice& c : choices_) {
    ChoiceOutput o{c.text, opt_.score_only ? "length" : openai_finish_reason(c.engine_finish), std::nullopt};
    if (opt_.logprobs) o.logprobs = c.logprobs;
    out.push_back(std::move(o));
  }
  return out;
}

engine::Usage ChoiceSet::usage() const {
  engine::Usage u = choices_.front().usage;
  u.completion_tokens = 0;
  for (const Choice& c : choices_) u.completion_tokens += opt_.score_only ? 0 : c.usage.completion_tokens;
  return u;
}

}  // namespace kvs::server
