"""kvshare's sentence embedder (`kvshare embed`, src/share/embedder) against the independent reference:
transformers AutoTokenizer + AutoModel (torch, CPU, float32) on the original Hugging Face snapshot that
scripts/fetch_embedder.sh verified (sha256) and converted, pooled as the model card says (all-MiniLM-L6-v2:
mean over the attention mask, then L2-normalised; sentence-transformers' max_seq_length 256).

Inputs: tests/data/embedder_sentences.jsonl.gz (260 strings: MedQuAD questions, paraphrase pairs, long answers
that get truncated, hand-written edge cases; see tests/data/README.md).
Checks: WordPiece ids identical to the reference tokenizer's for every sentence; cosine >= 0.999 per sentence;
unit norm; batched == one-by-one; paraphrase sanity.

Environment: KVS_BIN (kvshare binary), KVS_EMBEDDER (GGUF, default models/all-MiniLM-L6-v2.gguf),
KVS_EMBEDDER_REF (HF snapshot, default $KVS_CACHE/models/all-MiniLM-L6-v2-hf, KVS_CACHE = ~/.cache/kvshare).
"""
import functools
import gzip
import json
import os
import pathlib
import subprocess
import time

import numpy as np
import pytest

from conftest import KVS_BIN, ROOT

NAME = "all-MiniLM-L6-v2"
KVS_CACHE = pathlib.Path(os.environ.get("KVS_CACHE", pathlib.Path.home() / ".cache" / "kvshare"))
KVS_EMBEDDER = pathlib.Path(os.environ.get("KVS_EMBEDDER", ROOT / "models" / f"{NAME}.gguf"))
KVS_EMBEDDER_REF = pathlib.Path(os.environ.get("KVS_EMBEDDER_REF", KVS_CACHE / "models" / f"{NAME}-hf"))
MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
MIN_COSINE = 0.999


def _require_files():
    if not KVS_BIN.exists():
        pytest.fail(f"kvshare binary not found at {KVS_BIN}: build first (scripts/build.sh)")
    if not KVS_EMBEDDER.exists():
        pytest.fail(f"embedder not found at {KVS_EMBEDDER}: run scripts/fetch_embedder.sh")
    if not (KVS_EMBEDDER_REF / "model.safetensors").exists():
        pytest.fail(f"reference snapshot not found at {KVS_EMBEDDER_REF}: run scripts/fetch_embedder.sh")


@functools.lru_cache(maxsize=1)
def sentences():
    with gzip.open(ROOT / "tests" / "data" / "embedder_sentences.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@functools.lru_cache(maxsize=1)
def reference():
    import torch
    from transformers import AutoModel, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tok = AutoTokenizer.from_pretrained(str(KVS_EMBEDDER_REF))
    model = AutoModel.from_pretrained(str(KVS_EMBEDDER_REF), dtype=torch.float32)
    model.eval()
    return tok, model


def reference_ids(texts):
    tok, _ = reference()
    return [tok(t, truncation=True, max_length=MAX_TOKENS)["input_ids"] for t in texts]


def reference_embeddings(texts, batch=32):
    import torch

    tok, model = reference()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            enc = tok(texts[i:i + batch], padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
            hidden = model(**enc).last_hidden_state  # (b, T, 384)
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
    return np.concatenate(out).astype(np.float64)


def run_embed(texts, tmp_path, *extra):
    inp = tmp_path / "texts.jsonl"
    inp.write_text("".join(json.dumps(t) + "\n" for t in texts), encoding="utf-8")
    cmd = [str(KVS_BIN), "embed", "--jsonl", str(inp), "--embedder", str(KVS_EMBEDDER), "--stats", *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == len(texts)
    return rows, res.stderr.strip(), wall


@pytest.fixture(scope="module")
def texts():
    _require_files()
    t = [r["text"] for r in sentences()]
    assert len(t) >= 200
    return t


@pytest.fixture(scope="module")
def ours(texts, tmp_path_factory):
    rows, stats, wall = run_embed(texts, tmp_path_factory.mktemp("embed"))
    print(f"\n[embedder] {len(texts)} texts batched: {stats} (process wall {wall:.2f} s)")
    bad = [r for r in rows if not isinstance(r, list)]
    assert not bad, bad[:3]
    return np.array(rows, dtype=np.float64)


def test_wordpiece_ids_match_reference(texts, tmp_path):
    rows, _, _ = run_embed(texts, tmp_path, "--ids")
    ref = reference_ids(texts)
    mismatches = [(t, o, r) for t, o, r in zip(texts, rows, ref) if o != r]
    n_tokens = sum(len(r) for r in ref)
    print(f"\n[embedder] WordPiece: {len(texts) - len(mismatches)}/{len(texts)} identical ({n_tokens} tokens); "
          f"{sum(len(r) == MAX_TOKENS for r in ref)} truncated to {MAX_TOKENS}")
    assert not mismatches, "\n".join(f"{t[:80]!r}\n ours {o[:40]}\n ref  {r[:40]}" for t, o, r in mismatches[:5])


def test_embeddings_match_reference(texts, ours):
    ref = reference_embeddings(texts)
    assert ours.shape == ref.shape == (len(texts), 384)
    cos = np.sum(ours * ref, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    worst = int(np.argmin(cos))
    print(f"\n[embedder] cosine vs reference over {len(texts)} sentences: min {cos.min():.7f} "
          f"(#{worst} {texts[worst][:50]!r}), mean {cos.mean():.7f}; max |diff| {np.abs(ours - ref).max():.2e}")
    low = [(i, float(c), texts[i][:60]) for i, c in enumerate(cos) if c < MIN_COSINE]
    assert not low, low[:5]


def test_embeddings_unit_norm(ours):
    norms = np.linalg.norm(ours, axis=1)
    assert np.all(np.abs(norms - 1.0) < 1e-5), norms[np.abs(norms - 1.0) >= 1e-5][:5]
    assert np.all(np.isfinite(ours))


def test_batched_equals_one_by_one(texts, ours, tmp_path):
    idx = list(range(0, len(texts), 13))
    rows, stats, _ = run_embed([texts[i] for i in idx], tmp_path, "--one-by-one")
    print(f"\n[embedder] one by one: {stats}")
    single = np.array(rows, dtype=np.float64)
    cos = np.sum(single * ours[idx], axis=1)
    assert cos.min() > 0.99999, cos.min()


def test_paraphrase_sanity(tmp_path):
    _require_files()
    q = "What are the symptoms of diabetes?"
    rows, _, _ = run_embed([q, "Which signs show diabetes?", "How is a broken leg treated?"], tmp_path)
    e = np.array(rows, dtype=np.float64)
    para, other = float(e[0] @ e[1]), float(e[0] @ e[2])
    print(f"\n[embedder] cos(paraphrase) {para:.4f} > cos(unrelated) {other:.4f}")
    assert para > other


def test_medquad_paraphrase_pairs(texts, ours):
    rows = sentences()
    groups = {}
    for i, r in enumerate(rows):
        if r["kind"] == "paraphrase":
            groups.setdefault(r["group"], []).append(i)
    pairs = [g for g in groups.values() if len(g) == 2]
    assert pairs
    members = [i for g in pairs for i in g]
    # Each paraphrase's partner ranks among its 3 nearest neighbours within the paraphrase rows.
    hits = 0
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            sims = sorted(((float(ours[x] @ ours[j]), j) for j in members if j != x), reverse=True)
            hits += y in [j for _, j in sims[:3]]
    print(f"\n[embedder] paraphrase partner in top-3: {hits}/{2 * len(pairs)}")
    assert hits >= int(0.8 * 2 * len(pairs))


def test_bad_lines_are_reported(tmp_path):
    _require_files()
    inp = tmp_path / "mixed.jsonl"
    inp.write_text('"fine"\n{"not": "a string"}\nnot json\n"also fine"\n', encoding="utf-8")
    res = subprocess.run([str(KVS_BIN), "embed", "--jsonl", str(inp), "--embedder", str(KVS_EMBEDDER)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [isinstance(r, list) for r in rows] == [True, False, False, True]
    assert "error" in rows[1] and "error" in rows[2]
