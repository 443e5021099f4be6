// kvshare CLI subcommands. Each add_* registers one subcommand on the app; when it runs, it stores
// its process exit code in `exit_code` (0 ok, 1 runtime error, 2 bad input).
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace kvs::cli {

void add_tokenize(CLI::App& app, int& exit_code);
void add_generate(CLI::App& app, int& exit_code);
void add_bench(CLI::App& app, int& exit_code);
void add_score(CLI::App& app, int& exit_code);
void add_embed(CLI::App& app, int& exit_code);
void add_serve(CLI::App& app, int& exit_code);
void add_eval(CLI::App& app, int& exit_code);
void add_chat_template(CLI::App& app, int& exit_code);
void add_dequant(CLI::App& app, int& exit_code);

// The model to load: --model flag, else $KVS_MODEL, else the default model under models/ of the source
// tree this binary was built from, ./models/, or ~/.cache/kvshare/models/. Empty when none exists.
std::string resolve_model_path(const std::string& flag);
// The sentence embedder GGUF: --embedder flag, else $KVS_EMBEDDER, else models/all-MiniLM-L6-v2.gguf (see
// tools/cmd_embed.cpp). Empty when none exists.
std::string resolve_embedder_path(const std::string& flag);

}  // namespace kvs::cli
