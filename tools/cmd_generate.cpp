// `kvshare generate`: one prompt, answer streamed to stdout.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "cli_util.h"
#include "commands.h"
#include "engine/generate.h"
#include "kernels/cpu/ops.h"
#include "tokenizer/chat_template.h"

namespace kvs::cli {

namespace {
struct GenerateArgs {
  std::string precision = "f32";
  std::string kv_dtype = "f16";
  std::string prompt, model, system, chat_template;
  bool chat = false, show_prompt = false;
  int n = 256, threads = 0;
  engine::SamplingParams sp;
  std::vector<std::string> stop;
};

int run_generate(const GenerateArgs& a) {
  Loaded L = load_model_or_report(a.model, a.precision);
  if (!L.model) return 1;
  std::string text = a.prompt;
  if (a.chat) {
    std::vector<tok::ChatMessage> msgs;
    if (!a.system.empty()) msgs.push_back({"system", a.system});
    msgs.push_back({"user", a.prompt});
    bool ok = true;
    auto tmpl = load_chat_template_or_report(L.model->file(), *L.tokenizer, a.chat_template, &ok);
    if (!ok) return 1;
    if (!tmpl) {
      std::fprintf(stderr, "error: the model has no chat template (tokenizer.chat_template); pass --chat-template FILE\n");
      return 1;
    }
    auto r = tmpl->apply(msgs, /*add_generation_prompt=*/true);
    if (!r.is_ok()) {
      std::fprintf(stderr, "error: %s\n", r.status().to_string().c_str());
      return 2;
    }
    text = r.value();
  }
  if (a.show_prompt) {
    const nlohmann::json j = {{"prompt", text}};
    std::fprintf(stderr, "%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  auto ids = L.tokenizer->encode(text, /*parse_special=*/a.chat);
  if (!ids.is_ok()) {
    std::fprintf(stderr, "error: bad prompt: %s\n", ids.status().to_string().c_str());
    return 2;
  }
  L.tokenizer->prepend_bos(ids.value());
  ThreadPool pool(a.threads > 0 ? a.threads : ThreadPool::default_threads());
  engine::GenerateOptions opts;
  opts.max_tokens = a.n;
  opts.kv_dtype = kv_dtype_of(a.kv_dtype);
  opts.sampling = a.sp;
  opts.stop = a.stop;
  auto res = engine::generate(*L.model, *L.tokenizer, ids.value(), opts, &pool, [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  if (!res.is_ok()) {
    std::fprintf(stderr, "error: %s\n", res.status().to_string().c_str());
    return res.status().code() == Code::kInvalidArgument ? 2 : 1;
  }
  const auto& r = res.value();
  std::fprintf(stderr, "[%lld prompt tokens, prefill %.1f ms (%.1f tok/s); %zu tokens, %.1f tok/s; finish: %s; isa %s, %d threads]\n",
               static_cast<long long>(r.prompt_tokens), r.prefill_ms, r.prompt_tokens * 1000.0 / std::max(r.prefill_ms, 1e-9),
               r.tokens.size(), r.tokens.size() > 1 ? (r.tokens.size() - 1) * 1000.0 / std::max(r.decode_ms, 1e-9) : 0.0,
               r.finish_reason.c_str(), kernels::active_isa(), pool.size());
  return 0;
}
}  // namespace

void add_generate(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* sub = app.add_subcommand("generate", "Generate text for a prompt, streamed to stdout");
  sub->add_option("-p,--prompt", a->prompt, "Prompt text (with --chat: the user message)")->required();
  sub->add_flag("--chat", a->chat, "Wrap the prompt in the model's chat template");
  sub->add_option("--system", a->system, "System message (with --chat)");
  sub->add_option("--chat-template", a->chat_template,
                  "Jinja chat template file (with --chat; default: the model's tokenizer.chat_template)");
  sub->add_flag("--show-prompt", a->show_prompt, "Print the prompt text as {\"prompt\": ...} JSON on stderr first");
  sub->add_option("-n,--max-tokens", a->n, "Tokens to generate")->check(CLI::Range(0, 1 << 20));
  sub->add_option("--temp", a->sp.temperature, "Temperature (0 = greedy)");
  sub->add_option("--top-k", a->sp.top_k, "Top-k (0 = off)");
  sub->add_option("--top-p", a->sp.top_p, "Top-p (1 = off)");
  sub->add_option("--min-p", a->sp.min_p, "Min-p (0 = off)");
  sub->add_option("--repeat-penalty", a->sp.repetition_penalty, "Repetition penalty (1 = off)");
  sub->add_option("--repeat-last-n", a->sp.repeat_last_n, "Tokens the repetition penalty looks back over");
  sub->add_option("--seed", a->sp.seed, "RNG seed");
  sub->add_option("--stop", a->stop, "Stop string (repeatable)");
  sub->add_option("--precision", a->precision, "Matmul precision: f32 (default, exact) | mixed (float q/k/v and head, int8 rest) | int8 (fastest)")
      ->check(CLI::IsMember({"int8", "mixed", "f32"}));
  add_kv_dtype_option(sub, &a->kv_dtype);
  sub->add_option("-m,--model", a->model, "GGUF model file (default: the SmolLM2 model under models/)");
  sub->add_option("-t,--threads", a->threads, "Threads (default: all cores)");
  sub->callback([a, &exit_code] { exit_code = run_generate(*a); });
}

}  // namespace kvs::cli
