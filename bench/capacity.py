#!/usr/bin/env python3
"""Capacity workload (issue 13 item 5): a stream of distinct MedQuAD question groups whose donor KV is about
10x the RAM pool, served three ways by `kvshare serve`:

  ram        --kv-cache-mib SMALL                  the donors are evicted before their paraphrases arrive
  ram+disk   --kv-cache-mib SMALL --disk-cache D   evicted donors are read back from disk; the server is
                                                   restarted (SIGTERM, same D) in the middle of the stream
  redis      two servers, each --kv-cache-mib SMALL --redis URL, one redis-server (started here on loopback);
                                                   requests alternate between them (request i goes to
                                                   instance i % 2; with an odd WINDOW every paraphrase lands
                                                   on the other instance than its donor)
  unbounded  --kv-cache-mib BIG                    every donor stays resident (the hit-rate reference)

Stream: groups are taken WINDOW at a time; a window asks every group's first wording (a donor), then every
group's second wording (its paraphrase), so WINDOW - 1 other donors arrive between a donor and its paraphrase.
Each request: streaming chat completion, greedy, max_tokens N, kvshare.report; TTFT = time to the first content
chunk (client side). Full-compute answers of the paraphrases (mode "full", on the unbounded server) are the
fidelity reference: exact-match rate and ROUGE-L F1 (rouge-score) of each paraphrase answer against them.

Per configuration it prints: hit rate (paraphrases served by a semantic donor), reuse rate (reused / prompt
tokens over paraphrases), TTFT p50 / p90 of hits and of misses, blocks read from disk, and fidelity; then the
ratios the issue asks for. Usage: bench/capacity.py [--groups 40] [--window 20] [--small-mib 12] [--json OUT]
"""
import argparse
import ast
import gzip
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, model, args, log):
        self.port = free_port()
        self.model_id = pathlib.Path(model).stem
        self.log = open(log, "a")
        self.proc = subprocess.Popen([binary, "serve", "--port", str(self.port), "--model", model, *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 180
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"server exited ({self.proc.returncode}), see {log}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("server did not become healthy")
            time.sleep(0.2)

    def chat(self, text, max_tokens, **share):
        body = {"model": self.model_id, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens,
                "temperature": 0, "stream": True, "kvshare": {"report": True, **share}}
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        t0 = time.perf_counter()
        c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {r.read()[:300]}")
        ttft, out, report = None, [], None
        for line in r:
            line = line.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            ev = json.loads(line[6:])
            for ch in ev.get("choices", []):
                piece = ch.get("delta", {}).get("content")
                if piece:
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    out.append(piece)
            if "kvshare" in ev:
                report = ev["kvshare"]
        c.close()
        return {"text": "".join(out), "ttft": ttft if ttft is not None else time.perf_counter() - t0, "report": report}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def stream(groups, window):
    """[(group index, wording, question)] as the module doc says."""
    out = []
    for w in range(0, len(groups), window):
        part = groups[w:w + window]
        for use in (0, 1):
            out += [(w + i, use, g[use]) for i, g in enumerate(part)]
    return out


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run_config(name, a, args, requests, restart_at=None):
    log = pathlib.Path(a.workdir) / f"{name}.log"
    srv = Server(a.bin, a.model, args, log)
    results = []
    try:
        for i, (g, use, q) in enumerate(requests):
            if restart_at is not None and i == restart_at:
                srv.stop()
                srv = Server(a.bin, a.model, args, log)
            r = srv.chat(q, a.max_tokens)
            r.update(group=g, use=use, index=i)
            results.append(r)
    finally:
        srv.stop()
    return results


class Redis:
    """redis-server on 127.0.0.1:<free port>, in memory only (no RDB/AOF), for the two-instance configuration."""

    def __init__(self, workdir):
        self.port = free_port()
        self.log = open(pathlib.Path(workdir) / "redis.log", "w")
        self.proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--dir", str(workdir)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"*1\r\n$4\r\nPING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                sys.exit("redis-server did not start (apt-get install redis-server)")
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_pair(a, args, requests):
    """Two instances sharing one Redis; request i goes to instance i % 2. Requests flow as a user's would, with
    no wait for the other instance to learn a donor: an announcement not yet learned is simply a miss."""
    redis = Redis(a.workdir)
    url = f"redis://127.0.0.1:{redis.port}"
    servers = []
    results = []
    try:
        for k in range(2):
            servers.append(Server(a.bin, a.model, [*args, "--redis", url],
                                  pathlib.Path(a.workdir) / f"redis-{k}.log"))
        for i, (g, use, q) in enumerate(requests):
            r = servers[i % 2].chat(q, a.max_tokens)
            r.update(group=g, use=use, index=i)
            results.append(r)
    finally:
        for s in servers:
            s.stop()
        redis.stop()
    return results


def summarise(name, results, full, restart_at=None):
    from rouge_score import rouge_scorer
    sc = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    para = [r for r in results if r["use"] == 1]
    hits = [r for r in para if r["report"] and r["report"]["mode"] == "semantic"]
    misses = [r for r in para if r not in hits]
    reused = sum(r["report"]["reused_tokens"] for r in para if r["report"])
    total = sum(r["report"]["total_tokens"] for r in para if r["report"])
    exact = sum(1 for r in para if r["text"] == full[r["group"]])
    rouge = statistics.mean(sc.score(full[r["group"]], r["text"])["rougeL"].fmeasure for r in para)
    after = [r for r in hits if restart_at is not None and r["index"] >= restart_at]
    return {
        "config": name, "paraphrases": len(para), "hit_rate": len(hits) / len(para), "reuse_rate": reused / max(1, total),
        "ttft_hit_p50_ms": 1000 * pct([r["ttft"] for r in hits], 50),
        "ttft_hit_p90_ms": 1000 * pct([r["ttft"] for r in hits], 90),
        "ttft_miss_p50_ms": 1000 * pct([r["ttft"] for r in misses], 50),
        "ttft_miss_p90_ms": 1000 * pct([r["ttft"] for r in misses], 90),
        "disk_hits": sum(1 for r in hits if r["report"].get("tier") == "disk"),
        # the report's disk_blocks counts every block read back from a tier (disk or Redis)
        "disk_blocks": sum(r["report"].get("disk_blocks", 0) - r["report"].get("redis_blocks", 0) for r in hits),
        "hits_after_restart": len(after),
        "redis_hits": sum(1 for r in hits if r["report"].get("tier") == "redis"),
        "redis_blocks": sum(r["report"].get("redis_blocks", 0) for r in hits),
        # the Redis cost model's choices (share::price_fetch): blocks fetched vs recomputed instead
        "remote_fetch": sum(1 for r in para if r["report"] and r["report"].get("remote_decision") == "fetch"),
        "remote_recompute": sum(1 for r in para if r["report"] and r["report"].get("remote_decision") == "recompute"),
        "exact_match": exact / len(para), "rougeL_vs_full": rouge,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=str(ROOT / "build" / "kvshare"))
    p.add_argument("--model", default=str(ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--groups", type=int, default=40)
    p.add_argument("--window", type=int, default=20)
    p.add_argument("--small-mib", type=int, default=12)
    p.add_argument("--big-mib", type=int, default=1024)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--threads", default="1")
    p.add_argument("--kind", choices=["paraphrase", "rag"], default="paraphrase",
                   help="paraphrase: short MedQuAD questions (donor = first wording, then the most reworded one); "
                        "rag: a user profile + reference passage + question (donor = question 1 behind one "
                        "profile, then question 2 or the same one behind another): ~300-600 tokens")
    p.add_argument("--json")
    p.add_argument("--workdir")
    a = p.parse_args()
    a.workdir = a.workdir or tempfile.mkdtemp(prefix="kvs_capacity_")
    rows = [json.loads(l) for l in gzip.open(ROOT / "data" / "medquad_eval.jsonl.gz", "rt")]
    groups = []
    for r in rows:
        if r["kind"] != a.kind:
            continue
        if a.kind == "rag":
            if not 800 <= len(r["passage"]) <= 2000:
                continue
            q2 = r.get("question2") or r["question"]
            groups.append([f"User profile: id {1000 + len(groups)}, nurse in Lyon.\n\nReference passage:\n"
                           f"{r['passage']}\n\nQuestion: {r['question']}",
                           f"User profile: id {5000 + len(groups)}, retired teacher from Ohio, prefers short "
                           f"answers.\n\nReference passage:\n{r['passage']}\n\nQuestion: {q2}"])
        else:
            qs = r["questions"]
            if isinstance(qs, str):  # stored as a Python literal of a list of dicts
                qs = ast.literal_eval(qs)
            texts = [q["text"] if isinstance(q, dict) else q for q in qs]
            if len(texts) >= 2 and texts[0] != texts[-1]:
                groups.append([texts[0], texts[-1]])  # the first and the most reworded wording
        if len(groups) == a.groups:
            break
    requests = stream(groups, a.window)
    common = ["--threads", a.threads, "--background-repair-rows", "0"]
    t0 = time.time()
    unbounded = run_config("unbounded", a, ["--kv-cache-mib", str(a.big_mib), *common], requests)
    # Full-compute references of the paraphrases (same server settings, mode full).
    ref = Server(a.bin, a.model, ["--kv-cache-mib", str(a.big_mib), *common], pathlib.Path(a.workdir) / "full.log")
    try:
        full_runs = [ref.chat(q[1], a.max_tokens, mode="full") for q in groups]
        full = {g: r["text"] for g, r in enumerate(full_runs)}
        full_ttft = [r["ttft"] for r in full_runs]
    finally:
        ref.stop()
    ram = run_config("ram", a, ["--kv-cache-mib", str(a.small_mib), *common], requests)
    disk_dir = pathlib.Path(a.workdir) / "disk"
    shutil.rmtree(disk_dir, ignore_errors=True)
    mid = len(requests) // 2 + a.window // 2   # inside a window: donors before the restart, paraphrases after
    disk = run_config("ram+disk", a, ["--kv-cache-mib", str(a.small_mib), "--disk-cache", str(disk_dir), *common],
                      requests, restart_at=mid)
    if a.window % 2 == 0:
        print("note: an even --window sends every paraphrase to its donor's instance; use an odd one", file=sys.stderr)
    pair = run_pair(a, ["--kv-cache-mib", str(a.small_mib), *common], requests)
    table = [summarise("ram", ram, full), summarise("ram+disk (restart at %d)" % mid, disk, full, mid),
             summarise("2 instances + redis", pair, full), summarise("unbounded", unbounded, full)]
    cols = list(table[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in table:
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    d, rd, u = table[1], table[2], table[3]
    full_p50 = 1000 * pct(full_ttft, 50)
    print(f"\nfull compute of the paraphrases (mode full): TTFT p50 {full_p50:.1f} ms, p90 {1000 * pct(full_ttft, 90):.1f} ms")
    print(f"hit rate ram+disk vs unbounded: {100 * (d['hit_rate'] - u['hit_rate']):+.1f} points; "
          f"TTFT p50 full / hit (ram+disk): {full_p50 / d['ttft_hit_p50_ms']:.2f}x; "
          f"wall {time.time() - t0:.0f} s; {len(requests)} requests per configuration")
    print(f"hit rate 2 instances + redis / unbounded: {rd['hit_rate'] / max(1e-9, u['hit_rate']):.2f}; "
          f"/ ram+disk: {rd['hit_rate'] / max(1e-9, d['hit_rate']):.2f}; "
          f"TTFT p50 full / hit (redis): {full_p50 / rd['ttft_hit_p50_ms']:.2f}x")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({"args": vars(a), "table": table, "full_ttft_ms": full_p50}, indent=1))


if __name__ == "__main__":
    main()
