#!/usr/bin/env python3
"""Stream-pause benchmark: how long a running stream stalls while a long prompt is admitted, full vs semantic.

Usage:
  bench/pause_bench.py [--threads T] [--runs R] [--target-tokens N] [--kvshare build/kvshare] [--json PATH] ...

Issue 8 acceptance: "with --max-batch-tokens 64, a running stream's longest pause during a 3,000-token semantic
admission is at most that during a full prefill of the same length (give both)".

Every run starts a FRESH `kvshare serve --max-batch-tokens 64 --kv-cache-mib 640 --threads T` (loopback, free
port; semantic sharing on, which needs models/all-MiniLM-L6-v2.gguf: the run fails when the server log says
semantic sharing is off) and:
  1. starts a long streaming request S (a short story prompt, ignore_eos, max_tokens --stream-tokens (3000),
     temperature 0, "kvshare": {"mode": "full"} so it never shares), waits until it has streamed --warm-chunks
     (32) chunks and from then on records the arrival time of every content chunk;
  2. sends A, a ~N-token (default 3,000) chat prompt: system prompt, then the user message
     "Question: <q>\\n\\nAnswer the question using the reference passages below. ...\\n\\nReference passages:\\n\\n
     [1] <the question's MedQuAD answer>\\n\\n[2] <another MedQuAD answer> ..." (passages from
     data/medquad_eval.jsonl.gz, question FIRST, so a paraphrase changes tokens near the start and the whole
     passage is reused shifted). Nothing can donate yet, so A is a full prefill in chunks of 64 tokens beside S's
     decode; after its prefill it becomes a donor. A decodes --max-tokens (16) tokens and finishes;
  3. waits --settle-s (0.5 s), then sends A' = the same passages with another wording of the question (the
     group's hand-written re-wording), with "kvshare": {"report": true}: it should be admitted semantically from
     A (response kvshare.mode == "semantic"; its report is printed);
  4. stops S (closes its connection, the server cancels it) --tail-s (1 s) after A' finished, stops the server.
Measured per run: TTFT of A and A' (from the send to the first content chunk) and S's LONGEST inter-chunk gap
overlapping [send of A, first token of A] ("pause during the full prefill") and [send of A', first token of A']
("pause during the semantic admission"): every gap between consecutive S chunks that ends after the send and
starts before the first token counts. Baseline: S's median inter-chunk gap before A was sent (and its max).
Each run uses its own question group and passages.

Prints the per-run table, max and median over runs, the ratio semantic/full, S's baseline gap and a PASS/FAIL
line for "max over runs of the semantic pause <= max over runs of the full pause" (runs where A' was not
admitted semantically are shown but left out of the verdict, both sides; no semantic run at all = FAIL). Per run
(stderr) also S's median gap in each window and when the longest gap began, which tells the admission step
(embedding, donor copy) from the chunk steps.

Exit status: 0 ok, 1 usage/server failure, 2 a request failed, 3 (--check only) acceptance not met.
"""
import argparse
import gzip
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_bench as sb  # noqa: E402  (one_request, pct, free_port, wait_health, discover_model, stop_server)
from serve_mixed import scrape_metrics  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SYSTEM_A = ("You are a careful medical assistant. Answer the user's question using the reference passages. "
            "Keep the answer short and factual.")
INSTRUCTION = ("Answer the question using the reference passages below. Quote the passage that supports each "
               "statement and say so when the passages do not answer it.")
SYSTEM_S = "You are a storyteller who never stops."
PROMPT_S = ("Tell me a very long story about a lighthouse keeper on a remote island, her dog, the ships that "
            "pass, the storms of every season and the letters she writes to her brother in the city.")


# --------------------------------------------------------------------------------------------- prompts

def load_data(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    groups = [r for r in rows if r.get("kind") == "paraphrase" and len(r.get("reference") or "") >= 1500
              and len(r["questions"]) >= 2]
    rag = [r for r in rows if r.get("kind") == "rag"]
    return groups, rag


def chatml(system, user):
    """SmolLM2's chat template (ChatML) with the generation prompt, for counting tokens; checked against the
    server's reported prompt length after the run."""
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            f"<|im_start|>assistant\n")


def tokenize_many(kvshare, model, texts):
    """Token counts of texts with `kvshare tokenize --jsonl` (one process for all)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps(t) + "\n")
        path = f.name
    try:
        cmd = [kvshare, "tokenize", "--jsonl", path] + (["--model", model] if model else [])
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[:300]}")
        out = []
        for line in p.stdout.splitlines():
            if not line.strip():
                continue
            j = json.loads(line)
            if "error" in j:
                raise RuntimeError(f"tokenize: {j['error']}")
            out.append(len(j["ids"]))
        if len(out) != len(texts):
            raise RuntimeError(f"tokenize returned {len(out)} lines for {len(texts)} texts")
        return out
    finally:
        os.unlink(path)


def user_message(question, passages):
    body = "\n\n".join(f"[{i + 1}] {p}" for i, p in enumerate(passages))
    return f"Question: {question}\n\n{INSTRUCTION}\n\nReference passages:\n\n{body}"


def build_pair(group, rag_pool, target, kvshare, model):
    """(A messages, A' messages, info): the group's first and last (re-)wording over the same passages, the
    group's reference first, then RAG passages until the prompt has about `target` tokens (last one cut at a
    sentence end)."""
    q_a = group["questions"][0]["text"]
    q_p = group["questions"][-1]["text"]
    cands = [group["reference"]] + [r["passage"] for r in rag_pool]
    base = tokenize_many(kvshare, model, [chatml(SYSTEM_A, user_message(q_a, []))])[0]
    sizes = tokenize_many(kvshare, model, [f"[{i + 1}] {p}\n\n" for i, p in enumerate(cands[:40])])
    passages, total = [], base
    for p, n in zip(cands, sizes):
        if total + n <= target:
            passages.append(p)
            total += n
            continue
        # Cut the last passage at a sentence end so the prompt lands near the target.
        sents = p.replace("? ", "?\x00").replace(". ", ".\x00").split("\x00")
        frac = (target - total) / n
        keep = max(1, int(len(sents) * frac))
        passages.append(" ".join(sents[:keep]))
        break
    # Exact counts; trim or extend by sentences of the last passage if the estimate was off by > 100 tokens.
    for _ in range(6):
        n_a, n_p = tokenize_many(kvshare, model, [chatml(SYSTEM_A, user_message(q_a, passages)),
                                                  chatml(SYSTEM_A, user_message(q_p, passages))])
        if abs(n_a - target) <= 100:
            break
        sents = passages[-1].replace("? ", "?\x00").replace(". ", ".\x00").split("\x00")
        if n_a > target and len(sents) > 1:
            passages[-1] = " ".join(sents[:-max(1, len(sents) // 4)])
        elif n_a > target:
            passages.pop()
        else:
            break
    msgs_a = [{"role": "system", "content": SYSTEM_A}, {"role": "user", "content": user_message(q_a, passages)}]
    msgs_p = [{"role": "system", "content": SYSTEM_A}, {"role": "user", "content": user_message(q_p, passages)}]
    info = {"group": group["group"], "focus": group["focus"], "question_a": q_a, "question_p": q_p,
            "n_passages": len(passages), "tokens_a_est": n_a, "tokens_p_est": n_p}
    return msgs_a, msgs_p, info


# --------------------------------------------------------------------------------------------- stream S

class Stream:
    """The long stream S: a streaming chat completion read on its own thread, every content chunk's arrival
    time (perf_counter) appended to `t`. serve_bench.one_request only returns at the end of a request; S has to
    be watched while it runs and stopped early, hence this reader."""

    def __init__(self, host, port, model, max_tokens, timeout):
        body = {"messages": [{"role": "system", "content": SYSTEM_S}, {"role": "user", "content": PROMPT_S}],
                "max_tokens": max_tokens, "temperature": 0, "stream": True, "ignore_eos": True,
                "kvshare": {"mode": "full"}}
        if model:
            body["model"] = model
        self.body = json.dumps(body).encode()
        self.host, self.port, self.timeout = host, port, timeout
        self.t = []
        self.error = None
        self.finished = False  # the server ended S on its own (max_tokens): the window may be cut
        self.stopping = False
        self.sock = None
        self.th = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.th.start()

    def _run(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("POST", "/v1/chat/completions", body=self.body,
                         headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
            self.sock = conn.sock
            r = conn.getresponse()
            if r.status != 200:
                raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
            events = sb.sse_events(r)
            while True:
                try:
                    ev = next(events)
                except StopIteration as done:
                    self.finished = bool(done.value)  # [DONE]: the server ended S on its own
                    break
                for ch in ev.get("choices") or []:
                    if (ch.get("delta") or {}).get("content"):
                        self.t.append(time.perf_counter())
        except Exception as e:  # noqa: BLE001 - reported by the caller unless we stopped it
            if not self.stopping:
                self.error = str(e)
        finally:
            conn.close()

    def stop(self):
        self.stopping = True
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.th.join(timeout=10)


def window_gaps(ts, w0, w1):
    """Gaps between consecutive chunk times that overlap [w0, w1]: {longest, its start relative to w0, median,
    count} in ms (None when there is none)."""
    gaps = [(b - a, a) for a, b in zip(ts, ts[1:]) if b > w0 and a < w1]
    if not gaps:
        return {"longest_ms": None, "longest_at_ms": None, "median_ms": None, "n": 0}
    g, at = max(gaps)
    return {"longest_ms": g * 1000, "longest_at_ms": (at - w0) * 1000,
            "median_ms": statistics.median(x for x, _ in gaps) * 1000, "n": len(gaps)}


# --------------------------------------------------------------------------------------------- one run

def server_cmd(args, port):
    cmd = [args.kvshare, "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", str(args.threads),
           "--max-batch-tokens", str(args.max_batch_tokens), "--kv-cache-mib", str(args.kv_cache_mib)]
    if args.model:
        cmd += ["--model", args.model]
    return cmd + args.server_args.split()


def check_semantic_on(log_path, proc):
    """The server prints its semantic-sharing state at start-up; wait for the line (a few seconds at most)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        with open(log_path, errors="replace") as f:
            text = f.read()
        if "semantic KV sharing off" in text:
            line = next(x for x in text.splitlines() if "semantic KV sharing off" in x)
            raise RuntimeError(f"semantic sharing is OFF on the server: {line.strip()} (log: {log_path})")
        if "semantic KV sharing on" in text:
            return next(x for x in text.splitlines() if "semantic KV sharing on" in x).strip()
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"the server log never said whether semantic sharing is on (log: {log_path})")


def one_run(k, args, pair):
    msgs_a, msgs_p, info = pair
    port = sb.free_port()
    cmd = server_cmd(args, port)
    log_path = os.path.join(args.log_dir, f"pause-run{k}.log")
    logf = open(log_path, "wb")
    print(f"[pause] run {k}: starting {' '.join(cmd)}", file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    host = "127.0.0.1"
    s = None
    try:
        sb.wait_health(host, port, args.health_timeout, proc)
        sem_line = check_semantic_on(log_path, proc)
        if k == 1:
            print(f"[pause] {sem_line}", file=sys.stderr, flush=True)
        model = args.request_model or sb.discover_model(host, port)
        req = types.SimpleNamespace(max_tokens=args.max_tokens, model=model, request_timeout=args.request_timeout)
        s = Stream(host, port, model, args.stream_tokens, args.request_timeout)
        s.start()
        deadline = time.perf_counter() + args.health_timeout
        while len(s.t) < args.warm_chunks:
            if s.error or not s.th.is_alive():
                raise RuntimeError(f"stream S ended before streaming {args.warm_chunks} chunks: {s.error}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"stream S streamed only {len(s.t)} chunks in {args.health_timeout}s")
            time.sleep(0.02)
        t_base0 = s.t[-1]
        time.sleep(args.baseline_s)
        extra = {"kvshare": {"report": True}}
        # A: full prefill (no donor yet), becomes the donor.
        t_a = time.perf_counter()
        ra = sb.one_request(host, port, None, req, messages=msgs_a, extra=extra)
        a_first = t_a + ra["ttft_s"]
        time.sleep(args.settle_s)
        # A': the paraphrase, semantic admission from A.
        t_p = time.perf_counter()
        rp = sb.one_request(host, port, None, req, messages=msgs_p, extra=extra)
        p_first = t_p + rp["ttft_s"]
        time.sleep(args.tail_s)
        s_done = s.finished
        s.stop()
        if s.error:
            raise RuntimeError(f"stream S failed: {s.error}")
        met = scrape_metrics(host, port)
    finally:
        if s is not None and s.th.is_alive():
            s.stop()
        sb.stop_server(proc)
        logf.close()

    ts = list(s.t)
    if not ts or ts[-1] < p_first:
        raise RuntimeError(f"stream S ended (after {len(ts)} chunks) before A' got its first token: raise "
                           f"--stream-tokens")
    base = [b - a for a, b in zip(ts, ts[1:]) if a >= t_base0 and b <= t_a]
    wa, wp = window_gaps(ts, t_a, a_first), window_gaps(ts, t_p, p_first)
    rep_a, rep_p = ra.get("share") or {}, rp.get("share") or {}
    run = {
        "run": k, **info, "port": port, "log": log_path,
        "prompt_tokens_a": rep_a.get("total_tokens"), "prompt_tokens_p": rep_p.get("total_tokens"),
        "ttft_a_ms": ra["ttft_s"] * 1000, "ttft_p_ms": rp["ttft_s"] * 1000,
        "pause_full_ms": wa["longest_ms"], "pause_sem_ms": wp["longest_ms"], "window_full": wa, "window_sem": wp,
        "mode_a": rep_a.get("mode"), "mode_p": rep_p.get("mode"), "report_a": rep_a, "report_p": rep_p,
        "s_chunks": len(ts), "s_finished_on_its_own": s_done,
        "s_base_median_ms": statistics.median(base) * 1000 if base else None,
        "s_base_max_ms": max(base) * 1000 if base else None, "s_base_gaps": len(base),
        "server_metrics": {m: met.get(m) for m in ("semantic_queries_total", "semantic_hits_total",
                                                     "semantic_reused_tokens_total", "semantic_fallbacks_total",
                                                     "preemptions_total")},
    }
    run["semantic"] = run["mode_p"] == "semantic"
    run["ratio"] = (run["pause_sem_ms"] / run["pause_full_ms"]
                    if run["pause_sem_ms"] is not None and run["pause_full_ms"] else None)
    return run


def short_report(r):
    keep = ("mode", "fell_back", "reused_tokens", "recomputed_tokens", "total_tokens", "donor_similarity",
            "deviation_median", "edit_script")
    out = {k: r[k] for k in keep if k in r}
    if isinstance(out.get("donor_similarity"), float):
        out["donor_similarity"] = round(out["donor_similarity"], 4)
    if isinstance(out.get("deviation_median"), float):
        out["deviation_median"] = round(out["deviation_median"], 4)
    return json.dumps(out)


def fmt(x, spec=".0f"):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--kvshare", default=os.path.join(ROOT, "build", "kvshare"), help="the kvshare binary")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="server compute threads (default: nproc)")
    ap.add_argument("--model", help="GGUF model for the server and the tokenizer (default: the server's default)")
    ap.add_argument("--max-batch-tokens", type=int, default=64)
    ap.add_argument("--kv-cache-mib", type=int, default=640)
    ap.add_argument("--server-args", default="", help="extra args for `kvshare serve` (split on spaces)")
    ap.add_argument("--runs", type=int, default=3, help="runs, each on a fresh server with its own prompts (3)")
    ap.add_argument("--target-tokens", type=int, default=3000, help="prompt length of A and A' (default 3000)")
    ap.add_argument("--max-tokens", type=int, default=16, help="tokens A and A' decode (default 16)")
    ap.add_argument("--stream-tokens", type=int, default=3000, help="max_tokens of S (it is stopped earlier)")
    ap.add_argument("--warm-chunks", type=int, default=32, help="S chunks before measuring starts (32)")
    ap.add_argument("--baseline-s", type=float, default=2.0, help="S alone after warm-up: its baseline gap (2 s)")
    ap.add_argument("--settle-s", type=float, default=0.5, help="pause between A's end and A' (0.5 s)")
    ap.add_argument("--tail-s", type=float, default=1.0, help="S keeps streaming this long after A' (1 s)")
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "medquad_eval.jsonl.gz"))
    ap.add_argument("--seed", type=int, default=20250308)
    ap.add_argument("--request-model", help="'model' field of the requests (default: GET /v1/models)")
    ap.add_argument("--health-timeout", type=float, default=120.0)
    ap.add_argument("--request-timeout", type=float, default=600.0)
    ap.add_argument("--log-dir", help="server logs go here as pause-run<k>.log (default: a temp dir, kept)")
    ap.add_argument("--json", help="write the results as JSON to this path")
    ap.add_argument("--check", action="store_true", help="exit 3 when the acceptance is not met")
    args = ap.parse_args()
    if args.runs < 1 or args.threads < 1 or args.target_tokens < 200:
        ap.error("--runs and --threads must be >= 1, --target-tokens >= 200")
    if not os.access(args.kvshare, os.X_OK):
        print(f"error: {args.kvshare} not found or not executable (build it: cmake --build build)", file=sys.stderr)
        return 1
    emb = os.path.join(ROOT, "models", "all-MiniLM-L6-v2.gguf")
    if "--embedder" not in args.server_args and not os.path.exists(emb):
        print(f"error: {emb} missing: semantic sharing would be off (scripts/fetch_embedder.sh)", file=sys.stderr)
        return 1
    if "--no-semantic" in args.server_args.split():
        ap.error("--server-args must not hold --no-semantic")
    args.log_dir = args.log_dir or tempfile.mkdtemp(prefix="kvshare-pause-bench.")
    os.makedirs(args.log_dir, exist_ok=True)

    groups, rag = load_data(args.data)
    rng = random.Random(args.seed)
    rng.shuffle(groups)
    rng.shuffle(rag)
    # Prefer groups whose last wording is a real re-wording (all have the hand-written one last).
    pairs = []
    for k in range(args.runs):
        g = groups[k % len(groups)]
        pool = [r for r in rag if r["focus"].lower() != g["focus"].lower()]
        pool = pool[(k * 12) % len(pool):] + pool[:(k * 12) % len(pool)]
        pairs.append(build_pair(g, pool, args.target_tokens, args.kvshare, args.model))
        i = pairs[-1][2]
        print(f"[pause] run {k + 1} prompts: group {i['group']} ({i['focus']}), {i['n_passages']} passages, "
              f"~{i['tokens_a_est']}/{i['tokens_p_est']} tokens; A asks {i['question_a']!r}, "
              f"A' asks {i['question_p']!r}", file=sys.stderr, flush=True)

    out = {"command": server_cmd(args, 0), "threads": args.threads, "runs": [], "cpu_count": os.cpu_count(),
           "loadavg_start": list(os.getloadavg()), "log_dir": args.log_dir}
    rc = 0
    for k in range(1, args.runs + 1):
        l0 = os.getloadavg()[0]
        try:
            r = one_run(k, args, pairs[k - 1])
        except Exception as e:  # noqa: BLE001
            print(f"[pause] run {k}: error: {e}", file=sys.stderr, flush=True)
            msg = str(e)
            rc = max(rc, 1 if "semantic sharing is OFF" in msg or "health" in msg or "server" in msg else 2)
            if "semantic sharing is OFF" in msg:
                break
            continue
        r["loadavg_1m"] = [l0, os.getloadavg()[0]]
        out["runs"].append(r)
        print(f"[pause] run {k}: A {r['mode_a']} TTFT {r['ttft_a_ms']:.0f} ms, A' {r['mode_p']} TTFT "
              f"{r['ttft_p_ms']:.0f} ms; S longest pause: full {fmt(r['pause_full_ms'], '.1f')} ms, semantic "
              f"{fmt(r['pause_sem_ms'], '.1f')} ms (S baseline median {fmt(r['s_base_median_ms'], '.1f')} ms)",
              file=sys.stderr, flush=True)
        for name, w in (("full prefill", r["window_full"]), ("semantic admission", r["window_sem"])):
            print(f"[pause] run {k}:   S during the {name}: {w['n']} gaps, median {fmt(w['median_ms'], '.1f')} ms, "
                  f"longest {fmt(w['longest_ms'], '.1f')} ms starting {fmt(w['longest_at_ms'])} ms after the send",
                  file=sys.stderr, flush=True)
        print(f"[pause] run {k}: A' report: {short_report(r['report_p'])}", file=sys.stderr, flush=True)
        if not r["semantic"]:
            why = ("the guard fell back to a full prefill" if r["report_p"].get("fell_back") else
                   "no donor was chosen (similarity, alignment or cost model; see the report)")
            print(f"[pause] run {k}: WARNING: A' was not admitted semantically ({r['mode_p']}): {why}",
                  file=sys.stderr, flush=True)
    out["loadavg_end"] = list(os.getloadavg())
    runs = out["runs"]

    print(f"\nStream pause during admission: kvshare serve --max-batch-tokens {args.max_batch_tokens} --kv-cache-mib "
          f"{args.kv_cache_mib} --threads {args.threads} {args.server_args}".rstrip() +
          f"; {os.cpu_count()} CPUs, loadavg start {' '.join(f'{x:.2f}' for x in out['loadavg_start'])}, end "
          f"{' '.join(f'{x:.2f}' for x in out['loadavg_end'])}")
    print("S: streaming chat, kvshare.mode full, ignore_eos; A: ~{} tokens, full prefill (no donor); A': same passages, "
          "re-worded question first, admitted from A; fresh server per run".format(args.target_tokens))
    hdr = (f"{'run':>6} | {'tokens A/A1':>11} | {'TTFT full A ms':>14} | {'TTFT sem A1 ms':>14} | "
           f"{'pause full ms':>13} | {'pause sem ms':>12} | {'sem/full':>8} | {'med gap full/sem':>16} | {'A1 mode':>8} | "
           f"{'reused/recomp':>13} | {'S base ms':>9} | {'load':>9}")
    print(hdr)
    print("-" * len(hdr))
    for r in runs:
        rp = r["report_p"]
        toks = f"{fmt(r['prompt_tokens_a'])}/{fmt(r['prompt_tokens_p'])}"
        rr = f"{rp.get('reused_tokens', '-')}/{rp.get('recomputed_tokens', '-')}"
        mode = (r["mode_p"] or "-") + ("*" if rp.get("fell_back") else "")
        med = f"{fmt(r['window_full']['median_ms'], '.1f')} / {fmt(r['window_sem']['median_ms'], '.1f')}"
        print(f"{r['run']:>6} | {toks:>11} | {r['ttft_a_ms']:>14.0f} | {r['ttft_p_ms']:>14.0f} | "
              f"{fmt(r['pause_full_ms'], '.1f'):>13} | {fmt(r['pause_sem_ms'], '.1f'):>12} | "
              f"{fmt(r['ratio'], '.2f'):>8} | {med:>16} | {mode:>8} | {rr:>13} | {fmt(r['s_base_median_ms'], '.1f'):>9} | "
              f"{r['loadavg_1m'][0]:>4.2f}-{r['loadavg_1m'][1]:<4.2f}")
    sem = [r for r in runs if r["semantic"] and r["pause_full_ms"] is not None and r["pause_sem_ms"] is not None]
    verdict = None
    if runs:
        def agg(f, key, rs):
            xs = [r[key] for r in rs if r[key] is not None]
            return f(xs) if xs else None
        for name, f in (("max", max), ("median", statistics.median)):
            pf, ps = agg(f, "pause_full_ms", runs), agg(f, "pause_sem_ms", sem)
            ratio = ps / pf if ps is not None and pf else None
            print(f"{name:>6} | {'':>11} | {fmt(agg(f, 'ttft_a_ms', runs)):>14} | {fmt(agg(f, 'ttft_p_ms', sem)):>14} | "
                  f"{fmt(pf, '.1f'):>13} | {fmt(ps, '.1f'):>12} | {fmt(ratio, '.2f'):>8} |")
        base = [r["s_base_median_ms"] for r in runs if r["s_base_median_ms"] is not None]
        bmax = [r["s_base_max_ms"] for r in runs if r["s_base_max_ms"] is not None]
        print(f"S baseline (alone, {args.baseline_s:g} s before A): median inter-chunk gap "
              f"{fmt(statistics.median(base) if base else None, '.1f')} ms, longest "
              f"{fmt(max(bmax) if bmax else None, '.1f')} ms")
        if len(sem) < len(runs):
            print(f"semantic columns over the {len(sem)} run(s) whose A' was admitted semantically "
                  f"(mode '*' = the guard fell back)")
        if sem:
            pf = max(r["pause_full_ms"] for r in sem)
            ps = max(r["pause_sem_ms"] for r in sem)
            verdict = ps <= pf
            out["acceptance"] = {"pause_full_max_ms": pf, "pause_sem_max_ms": ps, "pass": verdict,
                                 "semantic_runs": len(sem), "runs": len(runs)}
            over = "runs" if len(sem) == len(runs) else f"the {len(sem)} semantic runs"
            print(f"acceptance (issue 8): longest stream pause, semantic admission {ps:.1f} ms <= full prefill "
                  f"{pf:.1f} ms (max over {over}): {'PASS' if verdict else 'FAIL'}")
        else:
            out["acceptance"] = {"pass": False, "semantic_runs": 0, "runs": len(runs)}
            verdict = False
            print("acceptance (issue 8): FAIL: A' was never admitted semantically")
    print(f"server logs: {args.log_dir}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    if args.check and rc == 0 and not verdict:
        rc = 3
    return rc


if __name__ == "__main__":
    sys.exit(main())
