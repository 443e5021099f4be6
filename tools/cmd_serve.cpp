// `kvshare serve`: the OpenAI-compatible HTTP server (src/server/http_server.h) over one Engine.
//
// Settings: built-in defaults < the --config file < command-line flags.
// Shutdown: SIGTERM or SIGINT drains (health -> 503, new requests -> 503, in-flight requests finish within
// limits.shutdown_grace_s, then are cancelled), stops the engine and exits 0; a second signal cancels at once.
// Signals: our threads block SIGINT/SIGTERM (the mask is set before they start). Some library threads exist before
// main (OpenBLAS starts its workers at load time) and cannot be masked, so the signal may land anywhere: the
// handler only writes the signal number to a self-pipe that the signal thread polls. The pipe's write end is the
// one process-wide variable, as a signal handler can reach nothing else.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cli_util.h"
#include "commands.h"
#include "share/embedder/embedder.h"
#include "engine/engine.h"
#include "engine/sharing_defaults.h"
#include "kernels/cpu/ops.h"
#include "server/config.h"
#include "server/http_server.h"

namespace kvs::cli {

namespace {

struct ServeArgs {
  std::string precision = "f32";
  std::string kv_dtype = "f16";
  std::string host, config, model, embedder, chat_template;
  std::vector<std::string> api_keys;  // --api-key / KVS_API_KEY: an open server's single tenant needs one of them
  std::string served_model_name;      // --served-model-name: the id /v1/models lists and requests name
  std::string log_format = "text";    // --log-format text|json: one request log line per request on stderr
  bool no_semantic = false;
  // Sharing defaults: the planner's own r and guard, plus engine/sharing_defaults.h's selection and repair
  // (run retrieval + attn-v + edit-aware + decode-stage repair: `kvshare eval`'s semantic-runs-attn-edit-repair
  // mode runs exactly what serve runs), and background repair, which only a server with idle time between requests has use for.
  double recompute_ratio = share::PlannerConfig{}.recompute_ratio;
  double adaptive_residual = share::PlannerConfig{}.adaptive_residual;
  double adaptive_max_ratio = share::PlannerConfig{}.adaptive_max_ratio;
  double fragment_ratio = share::PlannerConfig{}.fragment_ratio;
  int fragment_tail = engine::SharingDefaults::kFragmentTail;
  double run_retrieval = -1;  // -1: SharingDefaults::kRunRetrieval, or 0 under --fragments (measured that way)
  std::string deviation = share::deviation_scorer_name(engine::SharingDefaults::kDeviation);
  std::vector<std::string> faults;  // --inject-fault point:kind:marker (error-boundary tests)
  bool cache_aware = true;
  double max_wait_beyond_fifo_s = 2.0;
  int blend_layer = engine::EngineConfig{}.blend_layer;
  int refine_layer = engine::EngineConfig{}.refine_layer;
  double refine_widen = engine::EngineConfig{}.refine_widen;
  int edit_window = engine::SharingDefaults::kEditWindow, edit_tail = engine::SharingDefaults::kEditTail;
  int repair_rows = engine::SharingDefaults::kRepairRows, background_repair_rows = 32;
  bool fragments = engine::EngineConfig{}.fragments;
  int port = 8080;
  int64_t kv_cache_mib = 0;
  int threads = 0, max_batch_tokens = 0, max_running = 0, max_waiting = 0;
  // HTTP limits (server::ServerLimits); a flag given overrides the config file.
  int max_connections = 0, max_connections_per_client = 0;
  double header_timeout_s = 0, body_timeout_s = 0, idle_timeout_s = 0;
  int64_t max_body_bytes = 0;
  bool metrics_public = false;
  std::string disk_cache;       // --disk-cache DIR (empty: RAM only)
  double disk_cache_gib = 4.0;  // --disk-cache-gib
  std::string redis;            // --redis URL / KVS_REDIS (empty: no Redis tier)
  double redis_ttl_s = engine::EngineConfig{}.redis_ttl_s, redis_max_mib = engine::EngineConfig{}.redis_max_mib;
  int redis_timeout_ms = engine::EngineConfig{}.redis_timeout_ms;
  // Which flags were given (they override the config file).
  bool host_set = false, port_set = false, kv_set = false, threads_set = false, batch_set = false, running_set = false,
       waiting_set = false;
};

int g_signal_pipe_write = -1;  // see the file comment; set once before the handlers are installed

extern "C" void on_shutdown_signal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = write(g_signal_pipe_write, &b, 1);  // async-signal-safe; full pipe: dropped
}

// SIGINT/SIGTERM for the lifetime of the object: blocked in the calling thread (and every thread it starts),
// handled by writing to a self-pipe; take() returns them one by one.
class ShutdownSignals {
 public:
  ShutdownSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    KVS_CHECK(pipe2(fds_, O_CLOEXEC | O_NONBLOCK) == 0);
    g_signal_pipe_write = fds_[1];
    struct sigaction sa {};
    sa.sa_handler = on_shutdown_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    pthread_sigmask(SIG_BLOCK, &set_, &old_mask_);
  }
  ~ShutdownSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    g_signal_pipe_write = -1;
    close(fds_[0]);
    close(fds_[1]);
  }
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // Call on the thread that waits for signals: lets them be delivered there.
  void unblock_here() { pthread_sigmask(SIG_UNBLOCK, &set_, nullptr); }

  // The next signal within `wait`, or 0.
  int take(std::chrono::milliseconds wait) {
    pollfd p{fds_[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return 0;
    unsigned char b = 0;
    return read(fds_[0], &b, 1) == 1 ? b : 0;
  }

 private:
  sigset_t set_{}, old_mask_{};
  int fds_[2] = {-1, -1};
  struct sigaction old_int_ {}, old_term_{};
};

// Flags that were given override the config's HTTP limits (0 = not given; CLI11 checked the ranges).
void apply_http_flags(const ServeArgs& a, server::ServerConfig& cfg) {
  server::ServerLimits& l = cfg.limits;
  if (a.max_connections) l.max_connections = a.max_connections;
  if (a.max_connections_per_client) l.max_connections_per_client = a.max_connections_per_client;
  if (a.header_timeout_s > 0) l.header_timeout_s = a.header_timeout_s;
  if (a.body_timeout_s > 0) l.body_timeout_s = a.body_timeout_s;
  if (a.idle_timeout_s > 0) l.idle_timeout_s = a.idle_timeout_s;
  if (a.max_body_bytes) l.max_body_bytes = a.max_body_bytes;
  if (a.metrics_public) cfg.metrics_public = true;
  if (cfg.auth_required() && cfg.metrics_need_key() && cfg.operator_keys.empty())
    std::fprintf(stderr, "kvshare serve: warning: API keys are configured but no operator_keys: /metrics answers 403 to "
                         "everyone (add operator_keys to the config, or --metrics-public)\n");
}

int run_serve(const ServeArgs& a) {
  // Before our threads start, so they (engine, pools, HTTP workers) inherit the mask.
  ShutdownSignals signals;

  server::ServerConfig cfg = server::open_server_config();
  if (!a.config.empty()) {
    auto c = server::load_server_config(a.config);
    if (!c.is_ok()) {
      std::fprintf(stderr, "error: %s\n", c.status().message().c_str());
      return 2;
    }
    cfg = std::move(c).value();
  }
  if (a.host_set) cfg.host = a.host;
  if (a.port_set) cfg.port = a.port;
  if (!a.api_keys.empty()) {
    if (cfg.auth_required()) {
      std::fprintf(stderr, "error: --api-key (or KVS_API_KEY) conflicts with the config's tenants and keys\n");
      return 2;
    }
    for (const std::string& k : a.api_keys) {
      if (k.empty() || k.size() > 256 || k.find_first_of(" \t\r\n") != std::string::npos) {
        std::fprintf(stderr, "error: --api-key: a key is 1..256 printable characters without spaces\n");
        return 2;
      }
      cfg.keys.push_back({k, 0});  // the open server's tenant "default"
    }
  }
  if (!a.served_model_name.empty()) cfg.model_name = a.served_model_name;
  cfg.log_json = a.log_format == "json";
  apply_http_flags(a, cfg);
  if (!cfg.auth_required())
    std::fprintf(stderr, "kvshare serve: no API keys configured%s: the server is OPEN; every request is tenant "
                         "'default' in share domain 'default'\n", a.config.empty() ? " (no --config)" : "");
  else
    std::fprintf(stderr, "kvshare serve: %zu tenant(s), %zu API key(s) from %s\n", cfg.tenants.size(), cfg.keys.size(),
                 a.config.c_str());

  const std::string model_path = resolve_model_path(a.model);
  Loaded L = load_model_or_report(a.model, a.precision);
  if (!L.model) return 1;

  engine::EngineConfig ec;
  if (cfg.engine.kv_cache_mib) ec.kv_cache_mib = *cfg.engine.kv_cache_mib;
  if (cfg.engine.threads) ec.n_threads = *cfg.engine.threads;
  if (cfg.engine.max_batch_tokens) ec.max_batch_tokens = *cfg.engine.max_batch_tokens;
  if (cfg.engine.max_running) ec.max_running = *cfg.engine.max_running;
  if (cfg.engine.max_waiting) ec.max_waiting = *cfg.engine.max_waiting;
  if (a.kv_set) ec.kv_cache_mib = a.kv_cache_mib;
  ec.kv_dtype = kv_dtype_of(a.kv_dtype);
  if (a.threads_set) ec.n_threads = a.threads;
  if (a.batch_set) ec.max_batch_tokens = a.max_batch_tokens;
  if (a.running_set) ec.max_running = a.max_running;
  if (a.waiting_set) ec.max_waiting = a.max_waiting;

  server::ServedModel served;
  served.id = !cfg.model_name.empty() ? cfg.model_name : std::filesystem::path(model_path).stem().string();
  served.created = static_cast<int64_t>(std::time(nullptr));
  bool template_ok = true;
  served.chat_template = load_chat_template_or_report(L.model->file(), *L.tokenizer, a.chat_template, &template_ok);
  if (!template_ok) return 1;
  if (!served.chat_template)
    std::fprintf(stderr, "kvshare serve: warning: the model has no chat template; /v1/chat/completions will fail "
                         "(pass --chat-template FILE)\n");

  // Semantic sharing (on by default): needs the sentence embedder (scripts/fetch_embedder.sh).
  std::unique_ptr<share::Embedder> embedder;
  ec.planner.recompute_ratio = a.recompute_ratio;
  ec.planner.adaptive_residual = a.adaptive_residual;
  ec.planner.adaptive_max_ratio = a.adaptive_max_ratio;
  ec.planner.fragment_ratio = a.fragment_ratio;
  ec.fragment_tail = a.fragment_tail;
  ec.run_retrieval = a.run_retrieval >= 0 ? a.run_retrieval
                     : a.fragments        ? 0.0
                                          : engine::SharingDefaults::kRunRetrieval;
  share::parse_deviation_scorer(a.deviation, &ec.deviation);  // checked by CLI11 (IsMember)
  if (!a.no_semantic) {
    const std::string epath = resolve_embedder_path(a.embedder);
    share::EmbedderOptions eo;
    eo.n_threads = 1;  // the engine runs it on its own pool
    auto e = epath.empty() ? Result<std::unique_ptr<share::Embedder>>(not_found("no embedder found"))
                           : share::Embedder::load(epath, eo);
    if (e.is_ok()) {
      embedder = std::move(e).value();
      served.embedder_id = std::filesystem::path(epath).stem().string();
      std::fprintf(stderr, "kvshare serve: semantic KV sharing on (embedder %s, recompute ratio %.2f)\n", epath.c_str(),
                   a.recompute_ratio);
    } else {
      std::fprintf(stderr, "kvshare serve: warning: semantic KV sharing off: %s (run scripts/fetch_embedder.sh)\n",
                   e.status().to_string().c_str());
    }
  } else {
    std::fprintf(stderr, "kvshare serve: semantic KV sharing off (--no-semantic); exact prefix caching stays on\n");
  }
  ec.semantic = embedder != nullptr;
  ec.cache_aware = a.cache_aware;
  ec.max_wait_beyond_fifo_s = a.max_wait_beyond_fifo_s;
  ec.blend_layer = a.blend_layer;
  ec.refine_layer = a.refine_layer;
  ec.refine_widen = a.refine_widen;
  ec.planner.edit_window = a.edit_window;
  ec.planner.edit_tail = a.edit_tail;
  ec.repair_rows = a.repair_rows;
  ec.background_repair_rows = a.background_repair_rows;
  ec.disk_cache_dir = a.disk_cache;
  ec.disk_cache_gib = a.disk_cache_gib;
  ec.redis_url = a.redis;
  ec.redis_ttl_s = a.redis_ttl_s;
  ec.redis_max_mib = a.redis_max_mib;
  ec.redis_timeout_ms = a.redis_timeout_ms;
  ec.fragments = a.fragments;
  for (const std::string& f : a.faults) {
    auto spec = engine::FaultSpec::parse(f);
    if (!spec.is_ok()) {
      std::fprintf(stderr, "error: --inject-fault: %s\n", spec.status().message().c_str());
      return 2;
    }
    std::fprintf(stderr, "kvshare serve: warning: injecting fault %s (testing only)\n", f.c_str());
    ec.faults.push_back(std::move(spec).value());
  }
  if (Status s = ec.validate(L.model->hparams().n_layer); !s.is_ok()) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return 2;
  }
  engine::Engine engine(*L.model, *L.tokenizer, ec, embedder.get());
  if (!engine.disk_status().is_ok()) {
    std::fprintf(stderr, "error: --disk-cache %s: %s\n", a.disk_cache.c_str(), engine.disk_status().message().c_str());
    engine.shutdown(/*cancel_inflight=*/true);
    return 1;
  }
  if (!engine.redis_status().is_ok()) {
    std::fprintf(stderr, "error: --redis %s: %s\n", a.redis.c_str(), engine.redis_status().message().c_str());
    engine.shutdown(/*cancel_inflight=*/true);
    return 1;
  }
  served.embedder = embedder.get();
  const double grace_s = cfg.limits.shutdown_grace_s;
  server::HttpServer http(cfg, engine, served);
  if (Status s = http.bind(); !s.is_ok()) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    engine.shutdown(/*cancel_inflight=*/true);
    return 1;
  }
  const auto m = engine.metrics();
  std::fprintf(stderr,
               "kvshare serve: listening on http://%s:%d  model=%s context=%lld kv_blocks=%lld x %lld tokens "
               "max_batch_tokens=%d max_running=%d max_waiting=%d isa=%s\n",
               cfg.host.c_str(), http.port(), served.id.c_str(), static_cast<long long>(engine.max_context()),
               static_cast<long long>(m.kv_blocks_total), static_cast<long long>(m.kv_block_size), ec.max_batch_tokens,
               ec.max_running, ec.max_waiting, kernels::active_isa());

  std::atomic<bool> serving{true};
  std::thread signal_thread([&] {
    signals.unblock_here();
    while (serving.load()) {
      const int sig = signals.take(std::chrono::milliseconds(200));
      if (sig == 0) continue;
      std::fprintf(stderr, "kvshare serve: %s received: shutting down (again to cancel in-flight requests)\n",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      http.drain_and_stop(std::chrono::milliseconds(static_cast<int64_t>(grace_s * 1000)),
                          [&] { return signals.take(std::chrono::milliseconds(0)) != 0; });
      return;
    }
  });
  http.serve();
  serving.store(false);
  signal_thread.join();
  engine.shutdown(/*cancel_inflight=*/false);
  std::fprintf(stderr, "kvshare serve: stopped\n");
  return 0;
}

}  // namespace

void add_serve(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* sub = app.add_subcommand("serve", "OpenAI-compatible HTTP server (chat/completions, SSE, /metrics)");
  sub->add_option("--host", a->host, "Address to listen on (default 127.0.0.1, or the config's host)")->envname("KVS_HOST");
  sub->add_option("--port", a->port, "Port (default 8080, or the config's port; 0 = any free port)")
      ->check(CLI::Range(0, 65535))
      ->envname("KVS_PORT");
  sub->add_option("--config", a->config, "JSON config: API keys -> tenants and share domains, limits (see src/server/config.h)")
      ->envname("KVS_CONFIG");
  sub->add_option("--api-key", a->api_keys,
                  "API key(s) of a server without a config's tenants: /v1 routes then need 'Authorization: Bearer "
                  "KEY' (repeatable; KVS_API_KEY holds one)")
      ->envname("KVS_API_KEY");
  sub->add_option("--served-model-name", a->served_model_name,
                  "Model id that /v1/models lists and requests name (default: the config's model_name, else the GGUF "
                  "file stem)")
      ->envname("KVS_SERVED_MODEL_NAME");
  sub->add_option("--log-format", a->log_format, "Request log lines on stderr: text (default) or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->envname("KVS_LOG_FORMAT");
  sub->add_option("--precision", a->precision, "Matmul precision: f32 (default, exact) | mixed (float q/k/v and head, int8 rest) | int8 (fastest)")
      ->check(CLI::IsMember({"int8", "mixed", "f32"}));
  sub->add_option("-m,--model", a->model, "GGUF model file (default: $KVS_MODEL, else the SmolLM2 model under models/)");
  sub->add_option("--chat-template", a->chat_template,
                  "Jinja chat template file to render chats with (default: the model's tokenizer.chat_template)");
  sub->add_option("--kv-cache-mib", a->kv_cache_mib, "K/V cache memory in MiB (default 256)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24))
      ->envname("KVS_KV_CACHE_MIB");
  add_kv_dtype_option(sub, &a->kv_dtype);
  sub->add_option("-t,--threads", a->threads, "Compute threads (default: all cores)")
      ->check(CLI::Range(0, 1024))
      ->envname("KVS_THREADS");
  sub->add_option("--max-batch-tokens", a->max_batch_tokens, "Tokens per engine step (default 512)")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--max-running", a->max_running, "Sequences decoding at once (default 64)")->check(CLI::Range(1, 1 << 16));
  sub->add_option("--embedder", a->embedder,
                  "Sentence embedder GGUF (default: $KVS_EMBEDDER, else models/all-MiniLM-L6-v2.gguf); also serves "
                  "/v1/embeddings");
  sub->add_flag("--no-semantic", a->no_semantic, "Disable semantic KV sharing (exact prefix caching only)");
  sub->add_option("--recompute-ratio", a->recompute_ratio, "Share of reused tokens recomputed by deviation (default 0.15)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--adaptive-residual", a->adaptive_residual,
                  "Adaptive budget: recompute the fewest top-deviation tokens (at least --recompute-ratio) that leave a "
                  "mean relative K/V deviation <= this in the reused KV; a request that cannot within "
                  "--adaptive-max-ratio falls back to full prefill (default 0 = off)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--adaptive-max-ratio", a->adaptive_max_ratio,
                  "Adaptive budget: the largest share of reused tokens recomputed before falling back (default 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--fragment-ratio", a->fragment_ratio,
                  "With --fragments: share of the reused tokens inside fragment runs recomputed by deviation, ranked "
                  "apart from the own donor's (default: --recompute-ratio, one ranking)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--fragment-tail", a->fragment_tail,
                  "With --fragments: fragments never fill the prompt's final gap (what the best donor lacks after its "
                  "last run: the passage nearest the question, computed) within this many last tokens (default 512)")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("--run-retrieval", a->run_retrieval,
                  "Run retrieval: before embedding a prompt, look for a donor by the token runs it shares with it "
                  "(a fragment index); one whose alignment keeps at least this share of the prompt is used without "
                  "embedding, which then runs after the first token (default 0.7, or 0 with --fragments, whose settings "
                  "were chosen with it off; 0 = off: embed every prompt)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--deviation", a->deviation,
                  "How reused tokens are ranked for recompute: kv (relative K/V deviation, CacheBlend) or attn-v "
                  "(attention-weighted V deviation); default attn-v")
      ->check(CLI::IsMember({"kv", "attn-v"}));
  sub->add_option("--blend-layer", a->blend_layer,
                  "Layer whose K/V deviation selects the reused tokens to recompute (default 1; 1 .. n_layer-1)");
  sub->add_option("--refine-layer", a->refine_layer,
                  "Gradual filtering: a later layer whose K/V deviation filters the blend layer's selection (which "
                  "then keeps --refine-widen x as many candidates); default 0 = off")
      ->check(CLI::Range(0, 1024));
  sub->add_option("--refine-widen", a->refine_widen,
                  "Gradual filtering: candidates kept at the blend layer, as a multiple of the final selection "
                  "(default 2)")
      ->check(CLI::Range(1.0, 64.0));
  sub->add_option("--edit-window", a->edit_window,
                  "Edit-aware selection: always recompute this many reused tokens after each edit (default 2; 0 = off)")
      ->check(CLI::Range(0, 4096));
  sub->add_option("--edit-tail", a->edit_tail,
                  "Edit-aware selection: always recompute the prompt's last N tokens (chat template after the user's "
                  "text; default 6; 0 = off)")
      ->check(CLI::Range(0, 4096));
  sub->add_option("--repair-rows", a->repair_rows,
                  "Decode-stage repair: spare rows per step that recompute a semantic sequence's approximate KV in "
                  "position order until it is exact (default 64; 0 = off)")
      ->check(CLI::Range(0, 1 << 16));
  sub->add_option("--background-repair-rows", a->background_repair_rows,
                  "Background repair: rows per idle step that make a finished semantic prompt's KV exact, so it "
                  "publishes and donates (new content becomes reusable; dropped whenever a request waits; "
                  "default 32, 0 = off)")
      ->check(CLI::Range(0, 1 << 16));
  sub->add_flag("--fragments,!--no-fragments", a->fragments,
                "Fragments from several donors: what the best donor lacks is covered by runs of other donors of the "
                "share domain, found by a fragment index (default off; with --fragment-ratio 0.3 --adaptive-residual 0.01 "
                "--adaptive-max-ratio 0.65 and the default --fragment-tail it reuses 2x plain sharing at one donor's "
                "fidelity, docs/eval/growing_test_tail_n60.md)");
  sub->add_flag("!--no-cache-aware", a->cache_aware,
                "Admit waiting requests in arrival order (default: smallest predicted compute first, age-capped)");
  sub->add_option("--max-wait-beyond-fifo", a->max_wait_beyond_fifo_s,
                  "Cache-aware admission: seconds a request may wait before FIFO order wins (default 2)")
      ->check(CLI::Range(0.0, 3600.0));
  sub->add_option("--inject-fault", a->faults,
                  "Testing only: point:kind:marker fails requests whose text contains marker at point "
                  "(embed|search|admit|forward|sample|donate) with kind (throw|oom|status)");
  sub->add_option("--max-waiting", a->max_waiting, "Queued requests before 429 (default 256)")->check(CLI::Range(0, 1 << 20));
  sub->add_option("--max-connections", a->max_connections,
                  "Open HTTP connections at once, all clients; more get 503 (default 256)")
      ->check(CLI::Range(2, 4096));
  sub->add_option("--max-connections-per-client", a->max_connections_per_client,
                  "Open HTTP connections at once from one client address; more get 503 (default 64)")
      ->check(CLI::Range(1, 4096));
  sub->add_option("--header-timeout", a->header_timeout_s, "Seconds for a request line and headers (default 10)")
      ->check(CLI::Range(0.1, 3600.0));
  sub->add_option("--body-timeout", a->body_timeout_s, "Seconds for a whole request body (default 30)")
      ->check(CLI::Range(0.1, 3600.0));
  sub->add_option("--idle-timeout", a->idle_timeout_s, "Seconds a keep-alive connection may wait for its next request (default 5)")
      ->check(CLI::Range(0.1, 3600.0));
  sub->add_option("--max-body-bytes", a->max_body_bytes, "Largest request body, chunked or not; larger get 413 (default 1 MiB)")
      ->check(CLI::Range(int64_t{1024}, int64_t{1} << 30));
  sub->add_option("--disk-cache", a->disk_cache,
                  "Disk tier directory: donors' KV blocks and records are written there (crash-safe segments) and "
                  "read back when evicted from RAM or after a restart (default: RAM only)");
  sub->add_option("--disk-cache-gib", a->disk_cache_gib, "Disk tier budget in GiB, oldest segments deleted first (default 4)")
      ->check(CLI::Range(0.001, 1e6));
  sub->add_option("--redis", a->redis,
                  "Redis tier, redis://HOST:PORT[/DB]: donations are written there and shared with every instance "
                  "on the same Redis (same model); Redis down: serving continues from local tiers (default: off)")
      ->envname("KVS_REDIS");
  sub->add_option("--redis-ttl", a->redis_ttl_s, "TTL in seconds of every key the Redis tier writes (default 86400)")
      ->check(CLI::Range(1.0, 1e9));
  sub->add_option("--redis-max-mib", a->redis_max_mib,
                  "This instance's bytes in Redis, oldest keys deleted first (its own accounting; default 1024)")
      ->check(CLI::Range(0.001, 1e9));
  sub->add_option("--redis-timeout-ms", a->redis_timeout_ms, "Timeout of every Redis command (default 200)")
      ->check(CLI::Range(1, 60000));
  sub->add_flag("--metrics-public", a->metrics_public,
                "Serve /metrics without a key even when API keys are configured (default: operator key needed)");
  sub->callback([a, sub, &exit_code] {
    a->host_set = sub->count("--host") > 0;
    a->port_set = sub->count("--port") > 0;
    a->kv_set = sub->count("--kv-cache-mib") > 0;
    a->threads_set = sub->count("--threads") > 0;
    a->batch_set = sub->count("--max-batch-tokens") > 0;
    a->running_set = sub->count("--max-running") > 0;
    a->waiting_set = sub->count("--max-waiting") > 0;
    exit_code = run_serve(*a);
  });
}

}  // namespace kvs::cli
