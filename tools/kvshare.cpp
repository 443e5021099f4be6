// kvshare: command-line entry point. Subcommands live in cmd_*.cpp.
// No exception leaves main: a subcommand that throws (out of memory, a bug) prints a clear error and exits 1;
// bad command-line input exits 2 (CLI11's message).
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"kvshare: LLM inference with semantic KV-cache sharing"};
  app.require_subcommand(1);
#ifndef KVS_VERSION
#define KVS_VERSION "unknown"
#endif
  app.set_version_flag("--version", std::string("kvshare ") + KVS_VERSION);
  int exit_code = 0;
  try {
    kvs::cli::add_tokenize(app, exit_code);
    kvs::cli::add_generate(app, exit_code);
    kvs::cli::add_bench(app, exit_code);
    kvs::cli::add_score(app, exit_code);
    kvs::cli::add_embed(app, exit_code);
    kvs::cli::add_serve(app, exit_code);
    kvs::cli::add_eval(app, exit_code);
    kvs::cli::add_chat_template(app, exit_code);
    kvs::cli::add_dequant(app, exit_code);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory (an allocation failed; is the input far larger than expected?)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "error: unknown exception\n");
    return 1;
  }
  return exit_code;
}
