// `kvshare chat-template`: renders conversations with a model's chat template (tokenizer only; the model's
// weights are not loaded, so any GGUF with a tokenizer works).
//   kvshare chat-template --jsonl FILE [--model PATH] [--chat-template TEMPLATE]
//       FILE holds one JSON object per line: {"messages": [{"role": ..., "content": ...}, ...],
//       "add_generation_prompt": bool}; prints one line per input line: {"text": "...", "ids": [...]} (ids: the
//       text encoded with special-token parsing) or {"error": "..."}  (used by tests/python/test_chat_template_ref.py)
// Exit codes: 0 ok (per-line errors included), 1 model or template missing, unreadable or unsupported, 2 bad
// arguments or unreadable FILE.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.h"
#include "commands.h"

namespace kvs::cli {

namespace {

struct ChatTemplateArgs {
  std::string jsonl, model, chat_template;
};

// One input line -> its result object.
nlohmann::json render_line(const tok::ChatTemplate& tmpl, const tok::Tokenizer& t, const std::string& line, size_t n) {
  const nlohmann::json in = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  const std::string where = "line " + std::to_string(n);
  if (in.is_discarded() || !in.is_object() || !in.contains("messages") || !in["messages"].is_array())
    return {{"error", where + " is not a JSON object with a \"messages\" array"}};
  std::vector<tok::ChatMessage> msgs;
  for (const auto& m : in["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string())
      return {{"error", where + ": each message needs string \"role\" and \"content\""}};
    msgs.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  const bool gen = in.value("add_generation_prompt", false);
  auto text = tmpl.apply(msgs, gen);
  if (!text.is_ok()) return {{"error", text.status().to_string()}};
  auto ids = t.encode(text.value(), /*parse_special=*/true);
  if (!ids.is_ok()) return {{"error", ids.status().to_string()}};
  return {{"text", text.value()}, {"ids", ids.value()}};
}

int run_chat_template(const ChatTemplateArgs& a) {
  const std::string path = resolve_model_path(a.model);
  if (path.empty()) {
    std::fprintf(stderr, "error: no model found; pass --model PATH or run scripts/fetch_model.sh\n");
    return 1;
  }
  auto file = gguf::GgufFile::open(path);
  if (!file.is_ok()) {
    std::fprintf(stderr, "error: cannot read model %s: %s\n", path.c_str(), file.status().to_string().c_str());
    return 1;
  }
  auto t = tok::Tokenizer::from_gguf(*file.value());
  if (!t.is_ok()) {
    std::fprintf(stderr, "error: cannot load tokenizer from %s: %s\n", path.c_str(), t.status().to_string().c_str());
    return 1;
  }
  bool ok = true;
  auto tmpl = load_chat_template_or_report(*file.value(), *t.value(), a.chat_template, &ok);
  if (!ok) return 1;
  if (!tmpl) {
    std::fprintf(stderr, "error: %s has no chat template (tokenizer.chat_template); pass --chat-template FILE\n",
                 path.c_str());
    return 1;
  }
  std::ifstream in(a.jsonl, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "error: cannot open %s\n", a.jsonl.c_str());
    return 2;
  }
  std::string line, out;
  size_t n = 0;
  while (std::getline(in, line)) {
    out += render_line(*tmpl, *t.value(), line, ++n).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

void add_chat_template(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ChatTemplateArgs>();
  CLI::App* sub = app.add_subcommand("chat-template", "Render conversations with the model's chat template (JSON lines)");
  sub->add_option("--jsonl", a->jsonl, "File with one {\"messages\": [...], \"add_generation_prompt\": bool} per line")
      ->required();
  sub->add_option("-m,--model", a->model, "GGUF model (default: $KVS_MODEL, then models/)");
  sub->add_option("--chat-template", a->chat_template, "Jinja template file (default: the model's tokenizer.chat_template)");
  sub->callback([a, &exit_code] { exit_code = run_chat_template(*a); });
}

}  // namespace kvs::cli
