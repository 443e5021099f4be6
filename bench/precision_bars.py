"""Which matmul precision passes the engine's accuracy bars? (issue 12: `mixed` or `int8` becomes the default only
if it does.)

For each of `kvshare score --precision f32 | mixed | int8` on the reference prompts of tests/python/test_model_ref.py
(tests/data/model_prompts.jsonl.gz, SmolLM2's own chat template), against transformers + torch (float32, the same
GGUF dequantised), it prints: max |logit diff|, top-1 agreement, top-5 overlap >= 4, greedy 32-token continuations
identical, and PASS / MISS against the bars the engine tests apply to the default (top-1 >= n-1, top-5 >= n-1,
greedy identical >= n-2). Also the prefill speed of each precision from `kvshare bench` in the same run, so the
trade-off is on one screen.

  ~/.cache/kvshare/venv/bin/python bench/precision_bars.py [--threads 2]
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from conftest import KVS_BIN, KVS_MODEL  # noqa: E402
from test_model_ref import N_GREEDY, prompts, reference_greedy, run_kvshare  # noqa: E402


def agreement(ours_logits, ours_greedy, ref):
    top1 = top5 = identical = 0
    max_diff = 0.0
    for i, (ref_logits, ref_gen, _) in enumerate(ref):
        max_diff = max(max_diff, float(np.max(np.abs(ours_logits[i] - ref_logits))))
        top1 += int(np.argmax(ours_logits[i]) == np.argmax(ref_logits))
        top5 += int(len(set(np.argsort(-ours_logits[i])[:5]) & set(np.argsort(-ref_logits)[:5])) >= 4)
        identical += int(ours_greedy[i] == ref_gen)
    return max_diff, top1, top5, identical


def prefill_speed(precision, threads):
    res = subprocess.run([str(KVS_BIN), "bench", "--model", str(KVS_MODEL), "--precision", precision, "-p", "512",
                          "-n", "16", "--reps", "2", "--threads", str(threads)], capture_output=True, text=True,
                         timeout=900)
    if res.returncode != 0:
        return "bench failed: " + res.stderr.strip()[:200]
    rows = [l for l in res.stdout.splitlines() if "pp512" in l or "tg16" in l]
    return "; ".join(" ".join(r.split()) for r in rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    ids = prompts()
    n = len(ids)
    ref = [reference_greedy(p, N_GREEDY) for p in ids]
    print(f"{n} prompts, greedy {N_GREEDY} tokens, reference transformers float32, model {KVS_MODEL.name}")
    print("| precision | max abs logit diff | top-1 | top-5 overlap>=4 | greedy identical | bars | speed |")
    print("|---|---:|---:|---:|---:|---|---|")
    for precision in ("f32", "mixed", "int8"):
        with tempfile.TemporaryDirectory() as tmp:
            logits, greedy = run_kvshare(KVS_BIN, KVS_MODEL, ids, pathlib.Path(tmp), ["--precision", precision])
        max_diff, top1, top5, identical = agreement(logits, greedy, ref)
        misses = [f"{name} {got}/{n} < {need}" for name, got, need in
                  (("top-1", top1, n - 1), ("top-5", top5, n - 1), ("greedy", identical, n - 2)) if got < need]
        verdict = "PASS" if not misses else "MISS: " + ", ".join(misses)
        print(f"| {precision} | {max_diff:.3f} | {top1}/{n} | {top5}/{n} | {identical}/{n} | {verdict} | "
              f"{prefill_speed(precision, args.threads)} |", flush=True)


if __name__ == "__main__":
    main()
