#!/usr/bin/env python3
"""Summarise `kvshare eval --workload growing` reports (eval_growing.json) by session step.

Reads one or more reports (each with a `full` mode) and prints one markdown row per mode: the whole stream, the
recombined prompts (steps whose passages come from two earlier prompts: [B D] qD, [C A] qA', [D A B C] qB) and
the semantic hits alone (requests served by semantic reuse without falling back). Quality is against the same
report's `full` answers, as kvshare eval measures it.

    python3 bench/growing_table.py eval_out/eval_growing.json [more.json ...]
"""
import json
import math
import sys

# Session steps (EvalRequest::use, 0-based) whose passages come from two earlier prompts: kGrowingSteps in
# src/eval/workload.cpp (steps 6 [B D] qD, 7 [C A] qA', 9 [D A B C] qB). Keep the two in step.
RECOMBINED = {6, 7, 9}


def subset_stats(rows, full_rows, keep):
    idx = [i for i, r in enumerate(rows) if keep(i, r)]
    if not idx:
        return None
    n = len(idx)
    prompt = sum(rows[i]["prompt_tokens"] for i in idx)
    computed = sum(rows[i]["computed_prompt_tokens"] for i in idx)
    lp = sum(rows[i]["answer_logprob"] for i in idx)
    nt = sum(len(rows[i]["tokens"]) for i in idx)
    lpf = sum(full_rows[i]["answer_logprob"] for i in idx)
    ntf = sum(len(full_rows[i]["tokens"]) for i in idx)
    kls = [rows[i]["first_token_kl"] for i in idx if "first_token_kl" in rows[i]]
    return {
        "n": n,
        "reuse": 1.0 - computed / prompt,
        "rouge": sum(rows[i]["rouge_l_vs_full"] for i in idx) / n,
        "exact": sum(bool(rows[i]["exact_match"]) for i in idx) / n,
        "first": sum(bool(rows[i]["first_token_agrees"]) for i in idx) / n,
        "ppl": math.exp(lpf / max(ntf, 1) - lp / max(nt, 1)),
        "kl": sum(kls) / len(kls) if kls else float("nan"),
    }


def fmt(s):
    if s is None:
        return "-"
    return (f"{s['n']}: {s['reuse']:.1%} / {s['rouge']:.3f} / {s['exact']:.0%} / {s['first']:.0%} / "
            f"{s['ppl']:.3f} / {s['kl']:.4f}")


def main(paths):
    print("| report | mode | reuse | ROUGE-L | exact | first-tok | PPL | KL "
          "| recombined n: reuse / ROUGE-L / exact / first-tok / PPL / KL "
          "| semantic hits n: reuse / ROUGE-L / exact / first-tok / PPL / KL |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for path in paths:
        with open(path) as f:
            rep = json.load(f)
        uses = [q["use"] for q in rep["requests"]]
        full = rep["modes"]["full"]["rows"]
        for name in rep["mode_order"]:
            m = rep["modes"][name]
            rows = m["rows"]
            rec = subset_stats(rows, full, lambda i, r: uses[i] in RECOMBINED)
            hits = subset_stats(rows, full, lambda i, r: r["share"]["mode"] == "semantic" and not r["share"]["fell_back"])
            # The whole stream: kvshare eval's own summary of the mode.
            print(f"| {path} | {name} | {m['reuse_rate']:.1%} | {m['rouge_l_vs_full']:.3f} | {m['exact_match_rate']:.0%} | "
                  f"{m['first_token_agreement']:.0%} | {m['ppl_ratio_vs_full'] or 1.0:.3f} | {m['first_token_kl']:.4f} | "
                  f"{fmt(rec)} | {fmt(hits)} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
