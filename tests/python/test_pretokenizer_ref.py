"""kvshare's hand-written pre-tokenizer splits against the same regular expressions run by Python's `regex`.

    KVS_BIN=build/kvshare pytest tests/python/test_pretokenizer_ref.py

`kvshare tokenize --split PRE --jsonl FILE` prints the words of tokenizer.ggml.pre = PRE; `regex.findall` with the
pattern from the model's tokenizer.json (as llama.cpp's llama-vocab.cpp carries them) must give the same list
for every string of the tokenizer corpus, the hard cases and the non-Latin cases.
"""
import json
import subprocess

import pytest
import regex

from test_tokenizer_gemma_ref import NON_LATIN
from test_tokenizer_ref import HARD_CASES, load_corpus

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3 = (r"""(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"""
          r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN2 = (r"""(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"""
         r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

EXTRA = [
    "1234567", "12 345 6789", "x1234y", "١٢٣٤٥", "a\n\n\nb", "a \n \n b", "  \n\t\n  x", "\r\n\r\nx", "x\r\n",
    "Hello,\nWorld!\n\n", "!!!\n\n", " !!!\n", "(a)", "\tif x:", "don'T WE'LL 'Ve", "'S'T'M'D", "I'm\n'll", "foo's",
    "a\u3000b", "\u3000\u3000x", "x\u00a0\u00a0", "“quoted”\n", "…and", "#hash", "$100,000.00", "e-mail", "👍🏽 ok",
]


def split(kvs_bin, tmp_path, pre, strings):
    src = tmp_path / "split.jsonl"
    src.write_text("".join(json.dumps(s) + "\n" for s in strings), encoding="utf-8")
    proc = subprocess.run([str(kvs_bin), "tokenize", "--split", pre, "--jsonl", str(src)], capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode("utf-8").split("\n")
    assert lines.pop() == ""
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("pre,pattern", [("llama-bpe", LLAMA3), ("llama3", LLAMA3), ("qwen2", QWEN2), ("gpt2", GPT2)])
def test_split_matches_regex(kvs_bin, tmp_path, pre, pattern):
    strings = load_corpus() + HARD_CASES + NON_LATIN + EXTRA
    results = split(kvs_bin, tmp_path, pre, strings)
    assert len(results) == len(strings)
    rx = regex.compile(pattern)
    bad = []
    for s, r in zip(strings, results):
        want = rx.findall(s)
        if r.get("words") != want:
            k = next((i for i, (a, b) in enumerate(zip(r.get("words", []), want)) if a != b), None)
            bad.append(f"  {s[:80]!r}: first difference at word {k}: kvshare {r.get('words', r)!r:.200} "
                       f"regex {want!r:.200}")
    assert not bad, f"{len(bad)} of {len(strings)} strings split differently:\n" + "\n".join(bad[:10])


def test_unknown_pre_tokenizer_is_an_error(kvs_bin, tmp_path):
    src = tmp_path / "x.jsonl"
    src.write_text('"x"\n', encoding="utf-8")
    proc = subprocess.run([str(kvs_bin), "tokenize", "--split", "no-such-pre", "--jsonl", str(src)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert b"no-such-pre" in proc.stderr
