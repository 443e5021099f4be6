"""Cross-checks kvshare's ROUGE-L and BLEU (src/eval/text_metrics.h, via `kvshare eval --metrics-only`) against
Google's rouge-score (RougeScorer(["rougeL"], use_stemmer=False)) and sacrebleu (13a, smoothing 'exp').

Pairs: >= 200 built from the committed MedQuAD-derived eval data (paraphrases, passage sentences with seeded
edits: deletions, swaps, substitutions, case and punctuation changes) plus hand-written edge cases (empty sides,
punctuation, numbers, HTML entities, Unicode letters and spaces).
Tolerances: ROUGE-L precision/recall/F1 per pair <= 1e-6; corpus BLEU <= 0.01 points; sentence BLEU per pair
<= 0.01 points; the 13a tokenisation must be identical string for string.
"""
import gzip
import json
import pathlib
import random
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "medquad_eval.jsonl.gz"

EDGE_CASES = [
    ("", "A reference with words."),
    ("A hypothesis with words.", ""),
    ("", ""),
    ("!!! ??? ...", "..."),
    ("Hello, world.", "Hello , world ."),
    ("Pi is 3.14 and 1,000 people came; 5-3=2.", "Pi is about 3.14, and 1,000 people came (5-3 = 2)."),
    ("Dose: 2.5 mg/kg q.i.d. (max 40 mg/day)", "dose 2.5 mg / kg four times a day, max 40 mg per day"),
    ("x&amp;y &lt;b&gt; &quot;quoted&quot; &amp;quot;", "x & y <b> \"quoted\" &quot;"),
    ("split-\nword and <skipped> tag", "splitword and tag"),
    ("İstanbul and the \u212aelvin scale", "istanbul and the kelvin scale"),
    ("naïve café résumé façade", "naive cafe resume facade"),
    ("糖尿病の症状は何ですか？", "糖尿病有哪些症状？"),
    ("I feel 😀 but my 🥺 friend has a 🤒 fever", "I feel fine but my friend has a fever"),
    ("no\u00a0break\u3000ideographic\u2003em space", "no break ideographic em space"),
    ("tab\tseparated\nnew line\r\nand\u0085next", "tab separated new line and next"),
    ("trailing spaces   \u00a0 ", "trailing spaces"),
    ("COVID-19 SARS-CoV-2 mRNA-1273 H1N1 HIV/AIDS", "COVID-19, SARS-CoV-2, mRNA-1273, H1N1 and HIV/AIDS"),
    ("What's the prognosis? Isn't it treatable?? It's... complicated!!!", "what is the prognosis"),
    ("e\u0301 vs \u00e9", "é vs é"),
    ("a", "a"),
    ("a b c", "a b c"),
    ("the the the the the the the", "the cat is on the mat"),
    ("1.5.2 v2.0 3,4,5 ,.,.", "1.5.2 v2.0 3, 4, 5"),
    ("$5/day {braces} [brackets] `ticks` ~tilde~ ^caret^ |pipe| @at", "5 day braces brackets ticks tilde caret pipe at"),
    ("UPPER lower MiXeD", "upper LOWER mixed"),
]


def _medquad_pairs(rng: random.Random):
    rows = [json.loads(line) for line in gzip.open(DATA, "rt", encoding="utf-8")]
    groups = [r for r in rows if r["kind"] == "paraphrase"]
    rag = [r for r in rows if r["kind"] == "rag"]
    pairs = []
    for g in rng.sample(groups, 60):  # paraphrases: natural and template wordings
        qs = [q["text"] for q in g["questions"]]
        pairs.append((qs[-1], qs[0]))
    sentences = []
    for r in rag:
        sentences += [s for s in re.split(r"(?<=[.?!])\s+", r["passage"]) if len(s) > 20]
    for s in rng.sample(sentences, 120):  # edited copies of passage sentences
        words = s.split()
        op = rng.randrange(5)
        if op == 0:
            h = [w for w in words if rng.random() > 0.25]
        elif op == 1 and len(words) > 3:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
            h = words
        elif op == 2:
            h = [w.upper() if rng.random() < 0.3 else w for w in words]
        elif op == 3:
            h = [w + rng.choice([",", ".", ";", "!", ""]) for w in words]
        else:
            h = words[: max(1, len(words) // 2)] + rng.choice(sentences).split()[:5]
        pairs.append((" ".join(h), s))
    answers = [g["reference"][:600] for g in groups if g["reference"]]
    for _ in range(30):  # unrelated pairs (low scores)
        pairs.append((rng.choice(sentences), rng.choice(answers)))
    return pairs


@pytest.fixture(scope="module")
def scored(kvs_bin, tmp_path_factory):
    rng = random.Random(1234)
    pairs = _medquad_pairs(rng) + EDGE_CASES
    path = tmp_path_factory.mktemp("metrics") / "pairs.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for h, r in pairs:
            f.write(json.dumps({"hyp": h, "ref": r}, ensure_ascii=False) + "\n")
    out = subprocess.run([str(kvs_bin), "eval", "--metrics-only", str(path)], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return pairs, json.loads(out.stdout)


def test_enough_pairs(scored):
    pairs, ours = scored
    assert len(pairs) >= 200
    assert len(ours["pairs"]) == len(pairs)


def test_rouge_l_matches_rouge_score(scored):
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs, ours = scored
    worst = 0.0
    for (h, r), o in zip(pairs, ours["pairs"]):
        ref = scorer.score(r, h)["rougeL"]  # score(target, prediction)
        for name, theirs in (("precision", ref.precision), ("recall", ref.recall), ("f1", ref.fmeasure)):
            d = abs(o["rouge_l"][name] - theirs)
            worst = max(worst, d)
            assert d <= 1e-6, f"{name} {o['rouge_l'][name]} vs {theirs} for hyp={h!r} ref={r!r}"
    print(f"ROUGE-L: {len(pairs)} pairs, max |diff| = {worst:.3g}")


def test_13a_tokenisation_matches_sacrebleu(scored):
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    tok = Tokenizer13a()
    pairs, ours = scored
    for (h, r), o in zip(pairs, ours["pairs"]):
        assert o["hyp_13a"] == tok(h.rstrip()), repr(h)
        assert o["ref_13a"] == tok(r.rstrip()), repr(r)


def test_bleu_matches_sacrebleu(scored):
    import sacrebleu

    pairs, ours = scored
    hyps = [h for h, _ in pairs]
    refs = [r for _, r in pairs]
    corpus = sacrebleu.corpus_bleu(hyps, [refs])
    assert abs(ours["corpus_bleu"]["score"] - corpus.score) <= 0.01, (ours["corpus_bleu"], str(corpus))
    assert ours["corpus_bleu"]["hyp_len"] == corpus.sys_len
    assert ours["corpus_bleu"]["ref_len"] == corpus.ref_len
    worst = 0.0
    for (h, r), o in zip(pairs, ours["pairs"]):
        s = sacrebleu.sentence_bleu(h, [r]).score
        worst = max(worst, abs(o["sentence_bleu"] - s))
        assert abs(o["sentence_bleu"] - s) <= 0.01, f"{o['sentence_bleu']} vs {s} for hyp={h!r} ref={r!r}"
    # A sub-corpus without the unrelated and edge pairs, where the score is far from 0.
    mid = len(pairs) // 2
    sub = sacrebleu.corpus_bleu(hyps[:mid], [refs[:mid]])
    print(f"BLEU: corpus {ours['corpus_bleu']['score']:.6f} vs sacrebleu {corpus.score:.6f}; "
          f"sentence max |diff| = {worst:.3g}; sub-corpus sacrebleu {sub.score:.3f}")
