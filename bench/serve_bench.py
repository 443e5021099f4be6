#!/usr/bin/env python3
"""Serving benchmark: concurrent streaming chat completions against an OpenAI-compatible server.

Usage:
  bench/serve_bench.py [options] -- SERVER_CMD...   start SERVER_CMD ("{port}" in it is replaced by
                                                   the chosen port), wait for /health, bench, stop it
  bench/serve_bench.py [options] --url http://127.0.0.1:8080   bench a server that is already running

For each concurrency level C (default 1,4,16) it sends max(--min-requests, --per-client * C) requests
with C client threads pulling from a shared queue. Every request is a streaming chat completion with
a distinct medical question (the distinguishing words come first, so two prompts share no prefix
beyond the chat template), max_tokens 64, temperature 0, "ignore_eos": true (every request decodes
exactly max_tokens) and stream_options.include_usage. Per request: TTFT = time until the first SSE
chunk carrying content; completion tokens = usage.completion_tokens of the final chunk (falls back to
the number of content chunks). Per level: aggregate decode tok/s = total completion tokens / wall
time of the level, TTFT p50/p99 in ms. One unmeasured warm-up request runs first.

Prints a table and, with --json PATH, writes the results. Exit status: 0 ok, 1 usage/server failure,
2 some requests failed.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

CONDITIONS = [
    "Type 2 diabetes", "Hypertension", "Asthma", "Migraine", "Hypothyroidism", "Iron deficiency anemia",
    "Gout", "Psoriasis", "Atrial fibrillation", "Chronic kidney disease", "Rheumatoid arthritis",
    "Osteoporosis", "Celiac disease", "Crohn's disease", "Gastroesophageal reflux", "Sleep apnea",
    "Glaucoma", "Shingles", "Lyme disease", "Tuberculosis", "Hepatitis B", "Pneumonia", "Sciatica",
    "Kidney stones", "Urinary tract infection", "Eczema", "Vertigo", "Parkinson's disease",
    "Multiple sclerosis", "Epilepsy", "Heart failure", "Peripheral artery disease", "Anaphylaxis",
    "Plantar fasciitis", "Carpal tunnel syndrome", "Tinnitus", "Pancreatitis", "Appendicitis",
    "Endometriosis", "Polycystic ovary syndrome", "Hyperthyroidism", "Cellulitis", "Bronchiolitis",
    "Sickle cell disease", "Lupus", "Diverticulitis", "Dengue fever", "Malaria", "Scabies",
    "Rosacea", "Bell's palsy", "Meniere's disease", "Deep vein thrombosis", "Pulmonary embolism",
    "Osteoarthritis", "Fibromyalgia", "Cirrhosis", "Gallstones", "Hemochromatosis", "Sarcoidosis",
    "Myasthenia gravis", "Raynaud's phenomenon", "Tonsillitis", "Conjunctivitis",
]

TEMPLATES = [
    "{c}: what are the earliest warning signs a patient should watch for, and when should they see a doctor "
    "instead of waiting for symptoms to improve on their own?",
    "{c} in a 67-year-old who also takes blood thinners: which first-line treatments are usually safe, "
    "and which common medications should be avoided?",
    "{c} was just diagnosed in my teenage son. How will it change his daily routine, sports and school, "
    "and what should we ask at the next appointment?",
    "{c} runs in my family. Which lifestyle changes, screening tests or vaccines actually lower the "
    "risk, and how often should the tests be repeated?",
    "{c} and pregnancy: what are the main risks for mother and baby, and how is treatment usually "
    "adjusted during each trimester?",
    "{c} keeps coming back after treatment. What are the typical reasons for relapse and what options "
    "does a specialist usually consider next?",
    "{c} versus a simple viral infection: how can a nurse tell them apart from the history, the physical "
    "exam and basic laboratory tests?",
    "{c} explained for a patient leaflet: describe the cause, the usual course and the outlook in plain "
    "language, in no more than five sentences.",
]


def make_prompts(n):
    out = []
    for i in range(n):
        c = CONDITIONS[i % len(CONDITIONS)]
        t = TEMPLATES[(i // len(CONDITIONS) + i * 3) % len(TEMPLATES)]
        p = t.format(c=c)
        if i >= len(CONDITIONS) * len(TEMPLATES):
            p = f"Case {i}. " + p
        out.append(p)
    return out


def pct(xs, q):
    """Linear-interpolated percentile (q in [0,100]) of a non-empty list."""
    s = sorted(xs)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(host, port, timeout, proc=None):
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before becoming healthy")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=5)
            conn.request("GET", "/health")
            r = conn.getresponse()
            body = r.read()
            conn.close()
            if r.status == 200:
                return
            last = f"HTTP {r.status} {body[:120]!r}"
        except OSError as e:
            last = str(e)
        time.sleep(0.25)
    raise RuntimeError(f"/health not ready after {timeout}s ({last})")


def discover_model(host, port):
    try:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/v1/models")
        r = conn.getresponse()
        body = r.read()
        conn.close()
        if r.status == 200:
            data = json.loads(body).get("data") or []
            if data and data[0].get("id"):
                return data[0]["id"]
    except (OSError, ValueError):
        pass
    return None


def one_request(host, port, prompt, args, messages=None, extra=None):
    """One streaming chat completion of `prompt` (or of `messages` when given; `extra` adds body fields).
    Returns TTFT, latency, tokens, the arrival times of the content chunks (s after the send) and the
    response's "kvshare" share report when the server sent one."""
    body = {
        "messages": messages if messages is not None else [{"role": "user", "content": prompt}],
        "max_tokens": args.max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
    }
    if args.model:
        body["model"] = args.model
    if extra:
        body.update(extra)
    data = json.dumps(body).encode()
    t0 = time.perf_counter()
    ttft = None
    chunks = 0
    chunk_t = []
    usage_tokens = None
    share = None
    conn = http.client.HTTPConnection(host, port, timeout=args.request_timeout)
    try:
        conn.request("POST", "/v1/chat/completions", body=data,
                     headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
        r = conn.getresponse()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
        for ev in sse_events(r):
            for ch in ev.get("choices") or []:
                content = (ch.get("delta") or {}).get("content")
                if content:
                    chunks += 1
                    chunk_t.append(time.perf_counter() - t0)
                    if ttft is None:
                        ttft = chunk_t[-1]
            if isinstance(ev.get("kvshare"), dict):
                share = ev["kvshare"]
            u = ev.get("usage")
            if u and u.get("completion_tokens") is not None:
                usage_tokens = int(u["completion_tokens"])
    finally:
        conn.close()
    t1 = time.perf_counter()
    if ttft is None:
        raise RuntimeError("no content chunk received")
    tokens = usage_tokens if usage_tokens is not None else chunks
    return {"ttft_s": ttft, "latency_s": t1 - t0, "tokens": tokens, "content_chunks": chunks,
            "usage_reported": usage_tokens is not None, "chunk_t": chunk_t, "share": share}


def sse_events(r):
    """Yields the JSON events of an OpenAI SSE response until [DONE] (then returns True) or EOF (False); an
    error event raises."""
    while True:
        line = r.readline()
        if not line:
            return False
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            return True
        ev = json.loads(payload)
        if "error" in ev:
            raise RuntimeError(f"stream error: {ev['error']}")
        yield ev


def run_level(host, port, conc, prompts, args):
    lock = threading.Lock()
    idx = [0]
    results, errors = [], []

    stopped = [False]

    def worker():
        first = True
        while True:
            with lock:
                if idx[0] >= len(prompts):
                    return
                # Time budget: after it, each client finishes what it has and takes no new request
                # (but every client sends at least one, so the level still has C concurrent streams).
                if not first and args.level_budget_s and time.perf_counter() - t0 > args.level_budget_s:
                    stopped[0] = True
                    return
                first = False
                p = prompts[idx[0]]
                idx[0] += 1
            try:
                res = one_request(host, port, p, args)
                with lock:
                    results.append(res)
            except Exception as e:  # noqa: BLE001 - recorded and reported
                with lock:
                    errors.append(str(e))

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    ths = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    tokens = sum(r["tokens"] for r in results)
    ttfts = [r["ttft_s"] * 1000 for r in results]
    # Per-request decode speed after the first token (what one client sees).
    per_req = [(r["tokens"] - 1) / (r["latency_s"] - r["ttft_s"])
               for r in results if r["tokens"] > 1 and r["latency_s"] > r["ttft_s"]]
    return {
        "clients": conc,
        "requests": idx[0],
        "requests_planned": len(prompts),
        "budget_hit": stopped[0],
        "ok": len(results),
        "errors": errors[:5],
        "n_errors": len(errors),
        "wall_s": wall,
        "completion_tokens": tokens,
        "tokens_exact": all(r["tokens"] == args.max_tokens for r in results),
        "agg_tok_s": tokens / wall if wall > 0 else 0.0,
        "ttft_p50_ms": pct(ttfts, 50) if ttfts else None,
        "ttft_p99_ms": pct(ttfts, 99) if ttfts else None,
        "ttft_mean_ms": statistics.fmean(ttfts) if ttfts else None,
        "per_request_decode_tok_s_p50": pct(per_req, 50) if per_req else None,
        "loadavg_1m_start": load0,
        "loadavg_1m_end": load1,
    }


def stop_server(proc, grace=10.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--url", help="bench an already running server at this base URL")
    ap.add_argument("--port", type=int, default=0, help="port substituted for {port} in the command (0 = free)")
    ap.add_argument("--label", default="server", help="name shown in the output / JSON")
    ap.add_argument("--levels", default="1,4,16", help="comma-separated client counts (default 1,4,16)")
    ap.add_argument("--per-client", type=int, default=2, help="requests per client at each level (default 2)")
    ap.add_argument("--min-requests", type=int, default=8, help="minimum requests per level (default 8)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--model", help="'model' field of the requests (default: first id of GET /v1/models)")
    ap.add_argument("--level-budget-s", type=float, default=0.0,
                    help="stop sending new requests in a level after this many seconds (0 = no limit)")
    ap.add_argument("--health-timeout", type=float, default=120.0)
    ap.add_argument("--request-timeout", type=float, default=300.0)
    ap.add_argument("--no-warmup", action="store_true", help="skip the unmeasured warm-up request")
    ap.add_argument("--log", help="file for the server's stdout/stderr (default: discarded)")
    ap.add_argument("--json", help="write the results as JSON to this path")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- SERVER_CMD... (use {port} for the port)")
    args = ap.parse_args()

    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if bool(cmd) == bool(args.url):
        ap.error("give either --url or a server command after --")
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if not levels or min(levels) < 1:
        ap.error("--levels must be positive integers")

    proc = None
    logf = None
    if args.url:
        u = urllib.parse.urlparse(args.url)
        host, port = u.hostname or "127.0.0.1", u.port or 80
    else:
        host = "127.0.0.1"
        port = args.port or free_port()
        cmd = [c.replace("{port}", str(port)) for c in cmd]
        logf = open(args.log, "wb") if args.log else subprocess.DEVNULL
        print(f"[{args.label}] starting: {' '.join(cmd)}", file=sys.stderr, flush=True)
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)

    out = {"label": args.label, "command": cmd or None, "url": args.url, "max_tokens": args.max_tokens,
           "levels": [], "loadavg_start": list(os.getloadavg()), "cpu_count": os.cpu_count(),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    n_needed = sum(max(args.min_requests, args.per_client * c) for c in levels) + 1
    prompts = make_prompts(n_needed)
    rc = 0
    try:
        t0 = time.perf_counter()
        wait_health(host, port, args.health_timeout, proc)
        print(f"[{args.label}] healthy after {time.perf_counter() - t0:.1f}s on port {port}", file=sys.stderr,
              flush=True)
        if not args.model:
            args.model = discover_model(host, port)
        out["model"] = args.model
        pi = 0
        if not args.no_warmup:
            one_request(host, port, prompts[pi], args)
            pi += 1
        for c in levels:
            n = max(args.min_requests, args.per_client * c)
            lv = run_level(host, port, c, prompts[pi:pi + n], args)
            pi += n
            out["levels"].append(lv)
            hit = f" (time budget hit, {n} planned)" if lv["budget_hit"] else ""
            print(f"[{args.label}] {c:>3} clients: {lv['ok']}/{lv['requests']} ok{hit}, {lv['agg_tok_s']:.1f} tok/s, "
                  f"TTFT p50 {fmt(lv['ttft_p50_ms'])} ms p99 {fmt(lv['ttft_p99_ms'])} ms, "
                  f"load {lv['loadavg_1m_start']:.2f}->{lv['loadavg_1m_end']:.2f}", file=sys.stderr, flush=True)
            if lv["n_errors"]:
                rc = 2
                print(f"[{args.label}]   errors: {lv['errors']}", file=sys.stderr, flush=True)
    except Exception as e:  # noqa: BLE001
        print(f"[{args.label}] error: {e}", file=sys.stderr)
        rc = 1
    finally:
        stop_server(proc)
        if logf not in (None, subprocess.DEVNULL):
            logf.close()
    out["loadavg_end"] = list(os.getloadavg())

    by = {lv["clients"]: lv for lv in out["levels"]}
    lo, hi = min(levels), max(levels)
    if lo in by and hi in by and by[lo]["agg_tok_s"] > 0:
        out["scaling"] = {"from": lo, "to": hi, "ratio": by[hi]["agg_tok_s"] / by[lo]["agg_tok_s"]}

    print(f"\n{args.label}: max_tokens {args.max_tokens}, ignore_eos, temperature 0; "
          f"loadavg start {' '.join(f'{x:.2f}' for x in out['loadavg_start'])}, "
          f"end {' '.join(f'{x:.2f}' for x in out['loadavg_end'])} ({os.cpu_count()} CPUs)")
    print(f"{'clients':>7} | {'reqs':>4} | {'tok/s':>8} | {'TTFT p50':>9} | {'TTFT p99':>9} | "
          f"{'1-req tok/s':>11} | {'load':>11}")
    for lv in out["levels"]:
        print(f"{lv['clients']:>7} | {lv['ok']:>4}{'*' if lv['budget_hit'] else ' '}| {lv['agg_tok_s']:>8.1f} | {fmt(lv['ttft_p50_ms']):>9} | "
              f"{fmt(lv['ttft_p99_ms']):>9} | {fmt(lv['per_request_decode_tok_s_p50']):>11} | "
              f"{lv['loadavg_1m_start']:>5.2f}-{lv['loadavg_1m_end']:<5.2f}")
    if any(lv["budget_hit"] for lv in out["levels"]):
        print("* level cut short by --level-budget-s (fewer requests than planned)")
    if "scaling" in out:
        s = out["scaling"]
        print(f"aggregate throughput scaling {s['to']}/{s['from']} clients: {s['ratio']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return rc


if __name__ == "__main__":
    sys.exit(main())
