// kvshare: command-line entry point. Subcommands live in cmd_*.cpp.
#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"kvshare: LLM inference with semantic KV-cache sharing"};
  app.require_subcommand(1);
  int exit_code = 0;
  kvs::cli::add_tokenize(app, exit_code);
  kvs::cli::add_generate(app, exit_code);
  kvs::cli::add_bench(app, exit_code);
  kvs::cli::add_score(app, exit_code);
  kvs::cli::add_embed(app, exit_code);
  kvs::cli::add_serve(app, exit_code);
  kvs::cli::add_eval(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}
