// ChoiceSet: the n choices of one completion request, assembled from their engine handles' events: text,
// finish reason, usage and (when asked) log-probabilities turned into OpenAI's token strings, plus the stream
// deltas still to send. Used by both the blocking and the streaming response.
//
// Echo (completions): the prompt (its decoded ids, so the token strings add up to the text) comes first in the
// text, with the prompt tokens' log-probabilities when logprobs are asked (the first token's is null).
// Scoring only (echo, max_tokens 0): the engine generates one token that is never reported; finish "length".
// Usage over n choices: prompt_tokens (and cached_tokens) of the first choice, completion tokens summed.
//
// Invariants: each handle's events are read by this object only, in order; a choice's delta never carries text
// after its finish; take_deltas() returns every delta exactly once, in event order per choice.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "server/openai_api.h"
#include "tokenizer/tokenizer.h"

namespace kvs::server {

struct ChoiceOptions {
  ApiKind kind = ApiKind::kChat;
  bool logprobs = false;
  bool echo = false;        // completions: the prompt text first
  bool score_only = false;  // echo with max_tokens 0: the generated token is dropped
};

class ChoiceSet {
 public:
  ChoiceSet(const tok::Tokenizer& tok, ChoiceOptions opt, std::vector<int32_t> prompt);

  // Adds the next choice's handle (index = number added before).
  void add(std::shared_ptr<engine::RequestHandle> h);
  size_t size() const { return choices_.size(); }
  const std::vector<std::shared_ptr<engine::RequestHandle>>& handles() const { return handles_; }

  // Reads the events that are ready, waiting up to `wait` for the first unfinished choice's next one.
  // Returns true when any event was read.
  bool pump(std::chrono::milliseconds wait);
  bool all_finished() const;
  bool choice_started(size_t i) const { return choices_[i].events > 0; }
  void cancel_all();

  // The deltas of the events read since the last call (streaming), in order.
  std::vector<ChunkDelta> take_deltas();

  // After all_finished(): the worst outcome ("error" > "cancelled" > ok), its status, the response's choices and
  // the usage over every choice.
  std::string engine_outcome() const;
  Status error() const;
  std::vector<ChoiceOutput> outputs() const;
  engine::Usage usage() const;
  const engine::Usage& first_usage() const { return choices_.front().usage; }

 private:
  struct Choice {
    std::string text;
    std::vector<LogprobToken> logprobs;
    int64_t events = 0;
    int64_t text_bytes = 0;  // of text already delivered in deltas (completions' text_offset)
    bool finished = false;
    std::string engine_finish;
    engine::Usage usage;
    Status error;
  };
  void apply(size_t i, engine::StreamEvent ev);
  LogprobToken to_text(const engine::TokenLogprob& lp) const;

  const tok::Tokenizer& tok_;
  const ChoiceOptions opt_;
  const std::vector<int32_t> prompt_;
  std::vector<std::shared_ptr<engine::RequestHandle>> handles_;
  std::vector<Choice> choices_;
  std::vector<ChunkDelta> deltas_;
};

}  // namespace kvs::server
