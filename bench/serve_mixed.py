#!/usr/bin/env python3
"""Mixed paraphrase serving benchmark: one server command run with semantic sharing on and off.

Usage:
  bench/serve_mixed.py [options] -- SERVER_CMD...    ("{port}" in it is replaced by a free port)

Workload (from data/medquad_eval.jsonl.gz, see data/README.md): MedQuAD paraphrase groups whose reference answer
has at least --min-passage-chars characters (default 800, about 180+ SmolLM2 tokens; 227 of the 400 groups).
Each group gives one PAIR of rag-style requests, built like `kvshare eval`'s rag workload (src/eval/workload.cpp):
    system: the eval's rag system prompt
    user:   "<user profile preamble>\\n\\nReference passage:\\n<answer>\\n\\nQuestion: <question>"
the ORIGINAL asks the group's first wording, the PARAPHRASE the same passage with another wording of the same
(focus, qtype) (alternately the other MedQuAD collection's wording and the hand-written re-wording). Every request
has its own preamble (a user profile of varying content and length, as in the eval), so the exact prefix cache
(on in both modes) stops after the system prompt and "User profile: id ": only semantic sharing can reuse the
passage, at a shifted position. Half of the requests are paraphrases.

Schedule (per level of C clients): pairs are taken W = --window (default max(4, C)) at a time and listed as
W originals, then their W paraphrases, then the next W originals, ... . C client threads pull from that list:
each takes the first request not yet taken whose original (for a paraphrase) has COMPLETED; a paraphrase whose
original is still streaming is skipped for now, so clients run ahead to later originals instead of idling, and
wait only when nothing is eligible. So every paraphrase is sent after its original finished (the donor exists),
usually right after it. Time budget (--level-budget-s): after it no new original starts (each client still
sends at least one request), but paraphrases of originals already sent still go, so pairs stay complete.

Every (level, mode) run starts a fresh server (empty KV cache, no donors), sends one unmeasured warm-up request
(a group outside the level's pairs), runs the level and stops the server. Modes: "on" = SERVER_CMD,
"off" = SERVER_CMD + --off-args (default "--no-semantic"). Requests: streaming chat, max_tokens 64, temperature 0,
ignore_eos, stream_options.include_usage, "kvshare": {"report": true} (per-request reused tokens; drop it with
--no-report for servers without the extension).

Per run: aggregate decode tok/s (completion tokens / wall time), TTFT p50/p99 and inter-token latency p50/p99
(gaps between consecutive content chunks, pooled over all requests), TTFT p50 of the paraphrases and of the
originals, the paraphrases' median reused share of the prompt (share report) and the server's semantic donor
hits (/metrics). Per level: ITL p99 on/off and paraphrase TTFT p50 off/on, the latter over the paraphrases that
completed in both runs. Acceptance (issue 8, at the largest level, normally 16 clients): ITL p99 on/off <= 1.25
and paraphrase TTFT p50 off/on >= 2.

Exit status: 0 ok, 1 usage/server failure, 2 some requests failed, 3 (--check only) acceptance not met.
"""
import argparse
import gzip
import http.client
import json
import os
import random
import re
import shlex
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_bench as sb  # noqa: E402  (one_request, pct, free_port, wait_health, discover_model, stop_server)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# src/eval/workload.h kRagSystemPrompt.
RAG_SYSTEM_PROMPT = ("You are a careful medical assistant. Answer the user's question using the reference passage. "
                     "Keep the answer short and factual.")

# src/eval/workload.cpp user_preamble(): the same vocabulary and generator (SplitMix64), so the preambles have the
# eval's mix of contents and lengths (not necessarily byte-identical: C++ leaves the order of the draws open).
ROLES = ["nurse", "retired teacher", "software engineer", "pharmacist", "high-school student", "farmer",
         "physiotherapist", "journalist", "bus driver", "accountant", "medical student", "chef", "social worker",
         "lawyer", "caregiver", "librarian"]
CITIES = ["Lyon", "Austin", "Nairobi", "Osaka", "Leeds", "Porto", "Denver", "Krakow", "Lagos", "Montreal", "Pune",
          "Perth", "Bergen", "Quito", "Seoul", "Tucson"]
PREFS = ["prefers short answers", "likes step-by-step explanations", "wants plain language, no jargon",
         "prefers bullet points", "asks for the key facts first", "likes a brief summary at the end",
         "prefers a formal tone", "wants sources mentioned when possible"]
FACTS = ["Allergic to penicillin.", "Has type 2 diabetes and mild hypertension.",
         "Asks on behalf of an elderly parent.", "Speaks English as a second language.",
         "Is preparing for a nursing exam next month.", "Recently moved and has no regular doctor yet.",
         "Has a family history of heart disease.", "Is 28 weeks pregnant.",
         "Runs marathons and trains five days a week.", "Takes a daily statin and a low-dose aspirin.",
         "Works night shifts.", "Cares for two children under five."]
M64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n


def user_preamble(seed, index):
    rng = SplitMix64(seed ^ ((0xA24BAED4963EE407 * (index + 1)) & M64))
    s = (f"User profile: id {1000 + rng.below(9000)}, {ROLES[rng.below(len(ROLES))]} in "
         f"{CITIES[rng.below(len(CITIES))]}, {PREFS[rng.below(len(PREFS))]}.")
    n_facts = rng.below(4)
    f = rng.below(len(FACTS))
    for _ in range(n_facts):
        s += " " + FACTS[f]
        f = (f + 1 + rng.below(3)) % len(FACTS)
    return s


def norm(s):
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).strip()


def load_pairs(path, min_chars, seed):
    """Shuffled list of (group id, passage, original question, paraphrase question, paraphrase origin)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        groups = [r for r in (json.loads(line) for line in f) if r.get("kind") == "paraphrase"]
    groups = [g for g in groups if len(g.get("reference") or "") >= min_chars and len(g["questions"]) >= 2]
    random.Random(seed).shuffle(groups)
    pairs = []
    for i, g in enumerate(groups):
        qs = g["questions"]
        # Alternate: the other collection's wording (MedQuAD's own paraphrase; often differing in case/spacing
        # only) and the last wording (the hand-written re-wording, genuinely different).
        para = qs[1] if i % 2 == 0 else qs[-1]
        pairs.append({"group": g["group"], "passage": g["reference"], "original": qs[0]["text"],
                      "paraphrase": para["text"], "para_origin": para["origin"],
                      "reworded": norm(para["text"]) != norm(qs[0]["text"])})
    return pairs


def rag_messages(seed, index, passage, question):
    user = f"{user_preamble(seed, index)}\n\nReference passage:\n{passage}\n\nQuestion: {question}"
    return [{"role": "system", "content": RAG_SYSTEM_PROMPT}, {"role": "user", "content": user}]


def make_schedule(pairs, window, seed):
    """W originals, their W paraphrases, the next W originals, ... (a paraphrase's `dep` = its original)."""
    items = []
    for w in range(0, len(pairs), window):
        chunk = pairs[w:w + window]
        orig_at = {}
        for k, p in enumerate(chunk):
            orig_at[k] = len(items)
            items.append({"pair": w + k, "group": p["group"], "role": "orig", "dep": None,
                          "messages": rag_messages(seed, len(items) + 1, p["passage"], p["original"])})
        for k, p in enumerate(chunk):
            items.append({"pair": w + k, "group": p["group"], "role": "para", "dep": orig_at[k],
                          "reworded": p["reworded"],
                          "messages": rag_messages(seed, len(items) + 1, p["passage"], p["paraphrase"])})
    return items


def scrape_metrics(host, port):
    out = {}
    try:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        conn.close()
        if r.status != 200:
            return out
        for line in body.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            name, val = line.rsplit(" ", 1)
            if name.endswith("}") and name.count("=") == 1 and "model_name=" in name:  # only the model's label
                name = name[:name.index("{")]
            if name.startswith("kvshare_") and "{" not in name:
                try:
                    out[name[len("kvshare_"):]] = float(val)
                except ValueError:
                    pass
    except (OSError, ValueError):
        pass
    return out


def run_schedule(host, port, conc, items, args, extra):
    cond = threading.Condition()
    n = len(items)
    taken = [False] * n
    state = [None] * n          # originals: "ok" | "failed" once finished
    results, errors = [], []
    cut = [False]
    t0 = time.perf_counter()

    def pick(first):
        with cond:
            while True:
                over = bool(args.level_budget_s) and not first and time.perf_counter() - t0 > args.level_budget_s
                pending = False
                for i in range(n):
                    if taken[i]:
                        continue
                    it = items[i]
                    d = it["dep"]
                    if d is None:
                        if over:
                            cut[0] = True
                            continue
                    elif not taken[d] or state[d] == "failed":
                        continue    # original cut by the budget or failed: this paraphrase never goes
                    elif state[d] is None:
                        pending = True  # original still streaming
                        continue
                    taken[i] = True
                    return i
                if not pending:
                    return None
                cond.wait()

    def worker():
        first = True
        while True:
            i = pick(first)
            first = False
            if i is None:
                return
            it = items[i]
            t_send = time.perf_counter() - t0
            try:
                res = sb.one_request(host, port, None, args, messages=it["messages"], extra=extra)
                ok = True
            except Exception as e:  # noqa: BLE001 - recorded and reported
                ok = False
                err = str(e)
            with cond:
                if ok:
                    gaps = [b - a for a, b in zip(res["chunk_t"], res["chunk_t"][1:])]
                    share = res.get("share") or {}
                    results.append({"i": i, "pair": it["pair"], "group": it["group"], "role": it["role"],
                                    "t_send_s": t_send, "ttft_s": res["ttft_s"], "latency_s": res["latency_s"],
                                    "tokens": res["tokens"], "gaps_s": gaps,
                                    "share_mode": share.get("mode"),
                                    "reused_tokens": share.get("reused_tokens"),
                                    "prompt_tokens_share": share.get("total_tokens")})
                else:
                    errors.append(f"{it['role']} pair {it['pair']}: {err}")
                if it["dep"] is None:
                    state[i] = "ok" if ok else "failed"
                cond.notify_all()

    load0 = os.getloadavg()[0]
    ths = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    wall = time.perf_counter() - t0
    return results, errors, wall, cut[0], load0, os.getloadavg()[0], sum(taken)


def summarize(results, errors, wall, cut, load0, load1, sent, planned):
    tokens = sum(r["tokens"] for r in results)
    ttft = [r["ttft_s"] * 1000 for r in results]
    gaps = [g * 1000 for r in results for g in r["gaps_s"]]
    para = [r for r in results if r["role"] == "para"]
    orig = [r for r in results if r["role"] == "orig"]
    frac = [r["reused_tokens"] / r["prompt_tokens_share"] for r in para
            if r["reused_tokens"] is not None and r["prompt_tokens_share"]]
    p = lambda xs, q: sb.pct(xs, q) if xs else None  # noqa: E731
    return {
        "requests_planned": planned, "requests_sent": sent, "budget_hit": cut, "ok": len(results),
        "n_errors": len(errors), "errors": errors[:5], "wall_s": wall, "completion_tokens": tokens,
        "agg_tok_s": tokens / wall if wall > 0 else 0.0,
        "ttft_p50_ms": p(ttft, 50), "ttft_p99_ms": p(ttft, 99),
        "itl_p50_ms": p(gaps, 50), "itl_p99_ms": p(gaps, 99), "itl_samples": len(gaps),
        "para_n": len(para), "orig_n": len(orig),
        "para_ttft_p50_ms": p([r["ttft_s"] * 1000 for r in para], 50),
        "orig_ttft_p50_ms": p([r["ttft_s"] * 1000 for r in orig], 50),
        "para_reused_frac_p50": p(frac, 50),
        "para_with_reuse": sum(1 for f in frac if f > 0), "para_with_report": len(frac),
        "loadavg_1m_start": load0, "loadavg_1m_end": load1,
    }


def fmt(x, spec=".0f"):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--levels", default="1,4,16", help="comma-separated client counts (default 1,4,16)")
    ap.add_argument("--modes", default="on,off", help="which runs, in order: on, off or both (default on,off)")
    ap.add_argument("--off-args", default="--no-semantic", help="appended to SERVER_CMD for mode off")
    ap.add_argument("--n", type=int, default=0,
                    help="requests per level, half of them paraphrases (default 0 = max(32, 4 x clients))")
    ap.add_argument("--window", type=int, default=0, help="pairs per schedule window (default 0 = max(4, clients))")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--level-budget-s", type=float, default=0.0,
                    help="per (level, mode): no new original after this many seconds (0 = no limit)")
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "medquad_eval.jsonl.gz"))
    ap.add_argument("--min-passage-chars", type=int, default=800)
    ap.add_argument("--seed", type=int, default=20250214)
    ap.add_argument("--model", help="'model' field of the requests (default: first id of GET /v1/models)")
    ap.add_argument("--no-report", action="store_true", help="do not ask for the kvshare share report")
    ap.add_argument("--health-timeout", type=float, default=120.0)
    ap.add_argument("--request-timeout", type=float, default=300.0)
    ap.add_argument("--log-dir", help="server logs go here as mixed-<clients>-<mode>.log (default: discarded)")
    ap.add_argument("--json", help="write the results as JSON to this path")
    ap.add_argument("--check", action="store_true", help="exit 3 when the acceptance ratios are not met")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- SERVER_CMD... (use {port} for the port)")
    args = ap.parse_args()

    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        ap.error("give the server command after --")
    try:
        levels = [int(x) for x in args.levels.split(",") if x.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1:
        ap.error("--levels must be positive integers")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("on", "off") for m in modes) or len(set(modes)) != len(modes):
        ap.error("--modes must be on, off or on,off")
    if args.n < 0 or args.window < 0:
        ap.error("--n and --window must be >= 0")
    extra_off = shlex.split(args.off_args)
    if "--no-semantic" in cmd:
        ap.error("SERVER_CMD must not hold --no-semantic (mode off adds --off-args)")

    pairs_all = load_pairs(args.data, args.min_passage_chars, args.seed)
    n_req = {c: (args.n or max(32, 4 * c)) for c in levels}
    need = max((n + 1) // 2 for n in n_req.values()) + 1  # + the warm-up's group
    if len(pairs_all) < need:
        print(f"error: {args.data} has {len(pairs_all)} groups with a passage of >= {args.min_passage_chars} chars; "
              f"need {need} (lower --n or --min-passage-chars)", file=sys.stderr)
        return 1
    warm_pair = pairs_all[-1]
    extra = None if args.no_report else {"kvshare": {"report": True}}
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)

    out = {"command": cmd, "off_args": extra_off, "max_tokens": args.max_tokens, "seed": args.seed,
           "min_passage_chars": args.min_passage_chars, "levels": levels, "modes": modes, "runs": [],
           "loadavg_start": list(os.getloadavg()), "cpu_count": os.cpu_count()}
    rc = 0
    runs = {}
    per_req = {}
    for c in levels:
        pairs = pairs_all[:(n_req[c] + 1) // 2]
        window = args.window or max(4, c)
        items = make_schedule(pairs, window, args.seed)
        for mode in modes:
            label = f"{c} clients, sharing {mode}"
            full = [x for x in cmd] + (extra_off if mode == "off" else [])
            port = sb.free_port()
            full = [x.replace("{port}", str(port)) for x in full]
            log_path = os.path.join(args.log_dir, f"mixed-{c}-{mode}.log") if args.log_dir else None
            logf = open(log_path, "wb") if log_path else subprocess.DEVNULL
            print(f"[mixed] {label}: starting {' '.join(full)}", file=sys.stderr, flush=True)
            proc = subprocess.Popen(full, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            try:
                t0 = time.perf_counter()
                sb.wait_health("127.0.0.1", port, args.health_timeout, proc)
                if not args.model:
                    args.model = sb.discover_model("127.0.0.1", port)
                sb.one_request("127.0.0.1", port, None, args, extra=extra,
                               messages=rag_messages(args.seed, 0, warm_pair["passage"], warm_pair["original"]))
                t_ready = time.perf_counter() - t0
                res, errs, wall, cut, l0, l1, sent = run_schedule("127.0.0.1", port, c, items, args, extra)
                met = scrape_metrics("127.0.0.1", port)
            except Exception as e:  # noqa: BLE001
                print(f"[mixed] {label}: error: {e}" + (f" (log: {log_path})" if log_path else ""), file=sys.stderr)
                sb.stop_server(proc)
                return 1
            finally:
                sb.stop_server(proc)
                if logf is not subprocess.DEVNULL:
                    logf.close()
            if log_path and mode == "on":
                with open(log_path, errors="replace") as f:
                    if "semantic KV sharing off" in f.read():
                        print(f"[mixed] error: the 'on' server ran without semantic sharing (see {log_path})",
                              file=sys.stderr)
                        return 1
            s = summarize(res, errs, wall, cut, l0, l1, sent, len(items))
            s.update({"clients": c, "mode": mode, "window": window, "ready_s": t_ready,
                      "server_metrics": {k: met.get(k) for k in (
                          "semantic_queries_total", "semantic_hits_total", "semantic_reused_tokens_total",
                          "semantic_recomputed_tokens_total", "semantic_fallbacks_total",
                          "cached_prompt_tokens_total", "prompt_tokens_total", "computed_prompt_tokens_total",
                          "preemptions_total")}})
            if mode == "on" and not met.get("semantic_queries_total"):
                print(f"[mixed] warning: {label}: the server reports no semantic donor lookups", file=sys.stderr)
            s["requests"] = [{k: r[k] for k in ("pair", "group", "role", "t_send_s", "ttft_s", "latency_s", "tokens",
                                                 "share_mode", "reused_tokens", "prompt_tokens_share")} for r in res]
            runs[(c, mode)] = s
            per_req[(c, mode)] = res
            out["runs"].append(s)
            cuts = f", budget hit: {s['requests_sent']}/{s['requests_planned']} sent" if cut else ""
            print(f"[mixed] {label}: {s['ok']}/{s['requests_sent']} ok{cuts}, {s['agg_tok_s']:.1f} tok/s, "
                  f"TTFT p50 {fmt(s['ttft_p50_ms'])} ms, ITL p99 {fmt(s['itl_p99_ms'], '.1f')} ms, "
                  f"paraphrase TTFT p50 {fmt(s['para_ttft_p50_ms'])} ms, donor hits "
                  f"{fmt(met.get('semantic_hits_total'))}, load {l0:.2f}->{l1:.2f}", file=sys.stderr, flush=True)
            if errs:
                rc = 2
                print(f"[mixed]   errors: {errs[:5]}", file=sys.stderr, flush=True)
    out["loadavg_end"] = list(os.getloadavg())

    # Ratios per level; paraphrase TTFT over the pairs whose paraphrase completed in both runs.
    ratios = {}
    for c in levels:
        a, b = runs.get((c, "on")), runs.get((c, "off"))
        if not a or not b:
            continue
        on_p = {r["pair"]: r["ttft_s"] * 1000 for r in per_req[(c, "on")] if r["role"] == "para"}
        off_p = {r["pair"]: r["ttft_s"] * 1000 for r in per_req[(c, "off")] if r["role"] == "para"}
        common = sorted(set(on_p) & set(off_p))
        on50 = sb.pct([on_p[k] for k in common], 50) if common else None
        off50 = sb.pct([off_p[k] for k in common], 50) if common else None
        ratios[c] = {
            "clients": c,
            "itl_p99_on_over_off": a["itl_p99_ms"] / b["itl_p99_ms"] if a["itl_p99_ms"] and b["itl_p99_ms"] else None,
            "para_ttft_p50_off_over_on": off50 / on50 if on50 and off50 else None,
            "para_common": len(common), "para_ttft_p50_on_ms": on50, "para_ttft_p50_off_ms": off50,
            "tok_s_on_over_off": a["agg_tok_s"] / b["agg_tok_s"] if b["agg_tok_s"] else None,
        }
    out["ratios"] = list(ratios.values())

    model = next((cmd[i + 1] for i, x in enumerate(cmd[:-1]) if x in ("--model", "-m")), None)
    thr = next((cmd[i + 1] for i, x in enumerate(cmd[:-1]) if x in ("--threads", "-t")), "?")
    print(f"\nMixed paraphrase workload: {os.path.basename(model) if model else 'server default model'}, threads {thr}, "
          f"{os.cpu_count()} CPUs, max_tokens {args.max_tokens} (ignore_eos), streaming chat, rag prompts "
          f"(passage >= {args.min_passage_chars} chars), half paraphrases; fresh server per run; "
          f"off = {' '.join(extra_off)}")
    print(f"loadavg start {' '.join(f'{x:.2f}' for x in out['loadavg_start'])}, "
          f"end {' '.join(f'{x:.2f}' for x in out['loadavg_end'])}")
    hdr = (f"{'clients':>7} | {'sharing':>7} | {'reqs':>5} | {'tok/s':>6} | {'TTFT p50/p99 ms':>15} | "
           f"{'ITL p50/p99 ms':>14} | {'para TTFT p50':>13} | {'orig TTFT p50':>13} | {'para reuse':>10} | "
           f"{'donor hits':>10} | {'load':>9}")
    print(hdr)
    print("-" * len(hdr))
    for c in levels:
        for mode in modes:
            s = runs.get((c, mode))
            if not s:
                continue
            reuse = (f"{100 * s['para_reused_frac_p50']:.0f}% {s['para_with_reuse']}/{s['para_n']}"
                     if s["para_reused_frac_p50"] is not None else "-")
            hits = s["server_metrics"].get("semantic_hits_total")
            q = s["server_metrics"].get("semantic_queries_total")
            hits_s = f"{hits:.0f}/{q:.0f}" if hits is not None and q else "-"
            reqs = f"{s['ok']}{'*' if s['budget_hit'] else ''}"
            print(f"{c:>7} | {mode:>7} | {reqs:>5} | {s['agg_tok_s']:>6.1f} | "
                  f"{fmt(s['ttft_p50_ms']) + ' / ' + fmt(s['ttft_p99_ms']):>15} | "
                  f"{fmt(s['itl_p50_ms'], '.1f') + ' / ' + fmt(s['itl_p99_ms'], '.1f'):>14} | "
                  f"{fmt(s['para_ttft_p50_ms']):>13} | {fmt(s['orig_ttft_p50_ms']):>13} | {reuse:>10} | "
                  f"{hits_s:>10} | {s['loadavg_1m_start']:>4.2f}-{s['loadavg_1m_end']:<4.2f}")
    if any(s["budget_hit"] for s in runs.values()):
        print("* cut by the time budget: no new originals after it (their paraphrases still sent)")
    print("para reuse: median share of a paraphrase's prompt reused (share report; with sharing off only the "
          "exact prefix: system prompt + template), paraphrases that reused any; donor hits: semantic hits / "
          "lookups incl. the warm-up (/metrics)")
    if ratios:
        print(f"\n{'clients':>7} | {'ITL p99 on/off':>14} | {'para TTFT p50 off/on':>20} | "
              f"{'para TTFT p50 on / off ms (common)':>34} | {'tok/s on/off':>12}")
        for c, r in ratios.items():
            f2 = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
            print(f"{c:>7} | {f2(r['itl_p99_on_over_off']):>14} | {f2(r['para_ttft_p50_off_over_on']):>20} | "
                  f"{fmt(r['para_ttft_p50_on_ms']) + ' / ' + fmt(r['para_ttft_p50_off_ms']) + ' (' + str(r['para_common']) + ')':>34} | "
                  f"{f2(r['tok_s_on_over_off']):>12}")
        top = max(ratios)
        r = ratios[top]
        itl_ok = r["itl_p99_on_over_off"] is not None and r["itl_p99_on_over_off"] <= 1.25
        ttft_ok = r["para_ttft_p50_off_over_on"] is not None and r["para_ttft_p50_off_over_on"] >= 2.0
        out["acceptance"] = {"clients": top, "itl_ok": itl_ok, "para_ttft_ok": ttft_ok}
        print(f"acceptance at {top} clients{'' if top == 16 else ' (the issue names 16)'}: "
              f"ITL p99 on/off {'-' if r['itl_p99_on_over_off'] is None else format(r['itl_p99_on_over_off'], '.2f')}"
              f" <= 1.25 {'PASS' if itl_ok else 'FAIL'}; paraphrase TTFT p50 off/on "
              f"{'-' if r['para_ttft_p50_off_over_on'] is None else format(r['para_ttft_p50_off_over_on'], '.2f')}"
              f" >= 2 {'PASS' if ttft_ok else 'FAIL'}")
        if args.check and rc == 0 and not (itl_ok and ttft_ok):
            rc = 3
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return rc


if __name__ == "__main__":
    sys.exit(main())
