#!/usr/bin/env python3
"""Derives tests/data/embedder_sentences.jsonl.gz (the embedder reference test's inputs) from MedQuAD (CC BY 4.0;
see README.md) plus hand-written edge cases.

Run once by a developer (the tests never read ../shared):
    python3 tests/data/make_embedder_sentences.py ../shared/data/medquad.jsonl.gz tests/data/embedder_sentences.jsonl.gz

Deterministic (fixed seed, records in file order). Rows, one JSON object per line, gzip with mtime 0:
  {"kind": "question", "qid", "text"}                      180 distinct questions, seeded sample
  {"kind": "paraphrase", "qid", "group": g, "text"}        15 pairs: same focus and qtype, two collections,
                                                           different wording (natural paraphrases; MedQuAD
                                                           holds only 15 such (focus, qtype) keys)
  {"kind": "answer", "qid", "text"}                        16 answers cut to at most 2,500 characters
                                                           (most exceed the embedder's 256-token window)
  {"kind": "handmade", "text"}                             edge cases for the tokenizer and the forward
"""
import collections
import gzip
import io
import json
import random
import sys

SEED = 20241126
N_QUESTIONS = 180
N_PAIRS = 15
N_ANSWERS = 16
MAX_ANSWER_CHARS = 2500

HANDMADE = [
    "What are the symptoms of diabetes?",
    "Which signs show diabetes?",
    "How is a broken leg treated?",
    "",
    " ",
    "a",
    "Diabetes",
    "DIABETES MELLITUS TYPE 2",
    "naïve café résumé Ünïcödé façade",
    "Müller's syndrome vs. Ménière's disease — what's the difference?",
    "İstanbul, Ærø, Øresund, Straße, Σίσυφος",
    "糖尿病の症状は何ですか？",
    "糖尿病有哪些症状？",
    "당뇨병의 증상은 무엇입니까?",
    "Каковы симптомы диабета?",
    "ما هي أعراض مرض السكري؟",
    "मधुमेह के लक्षण क्या हैं?",
    "I feel 😀 but my 🥺 friend has a 🤒 fever",
    "Dose: 2.5 mg/kg q.i.d. (max 40 mg/day); HbA1c ≥ 6.5% → diabetes?",
    "email me at doctor@example.org or visit https://medlineplus.gov/diabetes.html",
    "x^2 + y_1 = {a|b} ~ [c] <d> `e` \\f",
    "tab\tseparated\nnew line\r\nand\u00a0no-break\u3000ideographic space",
    "soft\u00adhyphen zero\u200bwidth BOM\ufeffinside",
    "[CLS] the patient [SEP] the doctor [MASK] [UNK] [PAD]",
    "[cls] lower-case brackets are not special",
    "pneumonoultramicroscopicsilicovolcanoconiosis and hippopotomonstrosesquippedaliophobia",
    "a" * 101,
    "supercalifragilisticexpialidocious " * 3,
    "COVID-19 SARS-CoV-2 mRNA-1273 BNT162b2 H1N1 HIV/AIDS",
    "What's the prognosis? Isn't it treatable?? It's... complicated!!!",
    "e\u0301 vs \u00e9 (combining vs precomposed)",
    "ﬁbrosis ﬂu ﬀ ligatures",
    "½ cup, ² squared, ₂ subscript, Ⅻ roman",
    " ".join(["word"] * 300),
]


def main(src: str, dst: str) -> None:
    with gzip.open(src, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    rng = random.Random(SEED)

    # Paraphrase pairs: one (focus, qtype) asked by two collections in different words.
    by_key = collections.defaultdict(list)
    for r in records:
        if r["question"]:
            by_key[(r["focus"].strip().lower(), r["qtype"])].append(r)
    candidates = []
    for key in sorted(by_key):
        rs = by_key[key]
        for a in rs:
            b = next((b for b in rs if b["collection"] != a["collection"] and
                      b["question"].strip().lower() != a["question"].strip().lower()), None)
            if b is not None:
                candidates.append((a, b))
                break
    pairs = rng.sample(candidates, N_PAIRS)
    used = set()
    rows = []
    for g, (a, b) in enumerate(pairs):
        for r in (a, b):
            rows.append({"kind": "paraphrase", "qid": r["qid"], "group": g, "text": r["question"]})
            used.add(r["question"])

    questions = []
    for r in rng.sample(records, len(records)):
        q = r["question"]
        if q and q not in used:
            used.add(q)
            questions.append(r)
        if len(questions) == N_QUESTIONS:
            break
    questions.sort(key=lambda r: r["qid"])
    rows = [{"kind": "question", "qid": r["qid"], "text": r["question"]} for r in questions] + rows

    with_answer = sorted((r for r in records if r["answer"]), key=lambda r: r["qid"])
    for r in sorted(rng.sample(with_answer, N_ANSWERS), key=lambda r: r["qid"]):
        rows.append({"kind": "answer", "qid": r["qid"], "text": r["answer"][:MAX_ANSWER_CHARS]})
    rows += [{"kind": "handmade", "text": t} for t in HANDMADE]

    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for row in rows:
            gz.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    with open(dst, "wb") as f:
        f.write(buf.getvalue())
    print(f"{dst}: {len(rows)} rows", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
