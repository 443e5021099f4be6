// Shared by the engine tests on the real model: the model, tokenizer and embedder (loaded once), chat prompts
// through the model's own template, and a client loop that collects a request's text.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "test_model_path.h"
#include "tokenizer/chat_template.h"

namespace kvs::engine::testing_engine {

struct Fx {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tok::Tokenizer> tok;
  std::unique_ptr<share::Embedder> emb;
};

inline const Fx& fx() {
  static const Fx f = [] {
    Fx f;
    auto m = model::Model::load(testing::default_model_path());
    if (!m.is_ok()) return f;
    f.model = std::move(m).value();
    auto t = tok::Tokenizer::from_gguf(f.model->file());
    if (t.is_ok()) f.tok = std::move(t).value();
    share::EmbedderOptions eo;
    eo.n_threads = 1;
    auto e = share::Embedder::load(testing::default_embedder_path(), eo);
    if (e.is_ok()) f.emb = std::move(e).value();
    return f;
  }();
  return f;
}

inline const char* kPassage =
    "Diabetes is a disease in which blood glucose levels are above normal. Most of the food we eat is turned "
    "into glucose, or sugar, for our bodies to use for energy. The pancreas makes a hormone called insulin to "
    "help glucose get into the cells of our bodies. When you have diabetes, your body either does not make "
    "enough insulin or cannot use its own insulin as well as it should. This causes sugar to build up in your "
    "blood. Common symptoms include increased thirst, frequent urination, extreme hunger, unexplained weight "
    "loss, fatigue, blurred vision and slow-healing sores. Diabetes can cause serious health complications "
    "including heart disease, blindness, kidney failure, and lower-extremity amputations.";

// One user turn through the model's chat template, shared by its text.
inline RequestParams chat(const std::string& user, uint64_t domain, int32_t max_tokens = 8) {
  std::vector<tok::ChatMessage> msgs = {{"user", user}};
  auto tmpl = fx().model->file().get_string("tokenizer.chat_template").value();
  RequestParams p;
  p.prompt = fx().tok->encode(tok::apply_chat_template(tmpl, msgs, true).value()).value();
  p.max_tokens = max_tokens;
  p.domain = domain;
  p.share_text = user;
  return p;
}

inline RequestParams rag(const std::string& preamble, const std::string& question, uint64_t domain, ShareMode mode) {
  RequestParams p = chat(preamble + "\nReference passage:\n" + kPassage + "\nQuestion: " + question, domain, 16);
  p.share_mode = mode;
  return p;
}

// Reads a request's events to the end (bounded: 120 s without an event ends it); its text and token ids.
inline StreamEvent drain(const std::shared_ptr<RequestHandle>& h, std::string* text = nullptr,
                         std::vector<int32_t>* tokens = nullptr) {
  for (;;) {
    auto ev = h->next(std::chrono::seconds(120));
    if (!ev) return StreamEvent{};
    if (text) *text += ev->text;
    if (tokens) tokens->insert(tokens->end(), ev->tokens.begin(), ev->tokens.end());
    if (ev->finished) return *ev;
  }
}

inline StreamEvent run(Engine& e, RequestParams p, std::string* text) { return drain(e.submit(std::move(p)).value(), text); }

}  // namespace kvs::engine::testing_engine
