#!/usr/bin/env python3
"""Derives tests/data/tokenizer_corpus.jsonl.gz from MedQuAD (CC BY 4.0; see README.md).

Run once by a developer (the tests never read ../shared):
    python3 tests/data/make_tokenizer_corpus.py ../shared/data/medquad.jsonl.gz tests/data/tokenizer_corpus.jsonl.gz

Deterministic: a fixed seed over the records in file order; every answer holding a non-ASCII character is
kept; answers are cut to at most MAX_ANSWER_CHARS characters (mid-word cuts are fine: any string is a test).
Output: one JSON object per line {"qid", "field": "question"|"answer", "text"}, gzip with mtime 0.
"""
import gzip
import json
import random
import sys

SEED = 20241125
N_QUESTIONS = 1000
N_ANSWERS = 1000
MAX_ANSWER_CHARS = 1500


def main(src: str, dst: str) -> None:
    with gzip.open(src, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    rng = random.Random(SEED)
    seen = set()
    questions = []
    for r in rng.sample(records, len(records)):
        q = r["question"]
        if q and q not in seen:
            seen.add(q)
            questions.append((r["qid"], q))
        if len(questions) == N_QUESTIONS:
            break
    with_answer = [r for r in records if r["answer"]]
    non_ascii = [r for r in with_answer if any(ord(c) > 127 for c in r["answer"])]
    rest = [r for r in with_answer if not any(ord(c) > 127 for c in r["answer"])]
    answers = non_ascii + rng.sample(rest, N_ANSWERS - len(non_ascii))
    answers.sort(key=lambda r: r["qid"])
    rows = [{"qid": qid, "field": "question", "text": q} for qid, q in sorted(questions)]
    rows += [{"qid": r["qid"], "field": "answer", "text": r["answer"][:MAX_ANSWER_CHARS]} for r in answers]
    with open(dst, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        for row in rows:
            f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    print(f"{len(rows)} strings ({len(questions)} questions, {len(answers)} answers, "
          f"{len(non_ascii)} with non-ASCII) -> {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
