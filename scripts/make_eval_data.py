#!/usr/bin/env python3
"""Derives data/medquad_eval.jsonl.gz (the `kvshare eval` workloads' source) from MedQuAD (CC BY 4.0; see
data/README.md).

Run once by a developer (the eval never reads ../shared):
    python3 scripts/make_eval_data.py ../shared/data/medquad.jsonl.gz data/medquad_eval.jsonl.gz

Deterministic (fixed seed, records sorted before sampling; gzip with mtime 0): the same input gives the same
bytes. One JSON object per line, paraphrase groups first, then RAG items:

  {"kind": "paraphrase", "group": g, "focus", "qtype",
   "questions": [{"text", "origin": collection | "template", "qid"}, ...],   >= 2 distinct wordings
   "reference": answer text (<= 2,500 chars) or ""}
      One (focus, qtype) key (focus compared lower-cased, non-alphanumerics folded to one space) whose question
      is asked by >= 2 collections. MedQuAD's questions are templated: only 14 such keys differ in more than
      letter case and spacing ("What is (are) Botulism ?" / "what is botulism?"); the others differ in the
      case of the focus ("... Achondroplasia ?" / "... achondroplasia ?"), which changes the model's tokens
      but not the meaning. So every group also gets one hand-written re-wording of its question type
      (TEMPLATES below, origin "template"; qtypes without a template get none). All 14 re-worded keys are
      kept, the rest is a seeded sample; N_GROUPS groups in all.

  {"kind": "rag", "item": i, "qid", "collection", "doc", "focus", "qtype", "question", "passage",
   "qid2", "qtype2", "question2"}
      An answer of >= MIN_PASSAGE_CHARS characters after folding whitespace (about 300 model tokens), cut at the last sentence end
      before MAX_PASSAGE_CHARS, as a retrieval passage, with its own question and, where the same document
      has one, a question of another type about it ("" otherwise). Answers holding the Human Phenotype
      Ontology symptom tables (term lists, not prose) and duplicate answers are left out. Sampled round-robin
      over collections (seeded), N_RAG items.
"""
import collections
import gzip
import io
import json
import random
import re
import sys

SEED = 20250214
N_GROUPS = 400
N_RAG = 300
MIN_PASSAGE_CHARS = 1300
MAX_PASSAGE_CHARS = 2500
MAX_REFERENCE_CHARS = 2500

# One re-wording per question type ({f} = the focus as the records spell it). Chosen by hand to keep the
# meaning of MedQuAD's own template for that type.
TEMPLATES = {
    "information": "Can you tell me what {f} is?",
    "symptoms": "Which signs and symptoms does {f} cause?",
    "treatment": "How do doctors treat {f}?",
    "causes": "What is the cause of {f}?",
    "inheritance": "Is {f} passed down in families?",
    "exams and tests": "Which tests are used to diagnose {f}?",
    "outlook": "What is the prognosis for someone with {f}?",
    "frequency": "How common is {f}?",
    "genetic changes": "Which gene mutations are linked to {f}?",
    "prevention": "Can {f} be prevented, and how?",
    "complications": "What complications can {f} lead to?",
    "susceptibility": "Who is at risk of getting {f}?",
    "research": "What research is being done on {f}?",
    "stages": "What are the stages of {f}?",
    "considerations": "What should I keep in mind about {f}?",
    "precautions": "What precautions should I take with {f}?",
}


def norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).strip()


def cut_passage(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_PASSAGE_CHARS:
        return text
    head = text[:MAX_PASSAGE_CHARS]
    end = max(head.rfind(". "), head.rfind("? "), head.rfind("! "))
    return head[: end + 1] if end >= MIN_PASSAGE_CHARS else head.rsplit(" ", 1)[0]


def paraphrase_groups(records, rng):
    by_key = collections.defaultdict(list)
    for r in records:
        if r["question"].strip():
            by_key[(norm(r["focus"]), r["qtype"])].append(r)
    reworded, case_only = [], []
    for key in sorted(by_key):
        rs = sorted(by_key[key], key=lambda r: (r["collection"], r["qid"]))
        if len({r["collection"] for r in rs}) < 2:
            continue
        seen, questions = set(), []
        for r in rs:
            q = " ".join(r["question"].split())
            if q not in seen:
                seen.add(q)
                questions.append({"text": q, "origin": r["collection"], "qid": r["qid"]})
        if len(questions) < 2:
            continue
        reference = next((r["answer"] for r in rs if r["answer"]), "")
        group = {"focus": rs[0]["focus"].strip(), "qtype": key[1], "questions": questions,
                 "reference": cut_passage(reference)[:MAX_REFERENCE_CHARS] if reference else ""}
        (reworded if len({norm(q["text"]) for q in questions}) >= 2 else case_only).append(group)
    chosen = reworded + rng.sample(case_only, N_GROUPS - len(reworded))
    chosen.sort(key=lambda g: (norm(g["focus"]), g["qtype"]))
    rows = []
    for g, group in enumerate(chosen):
        t = TEMPLATES.get(group["qtype"])
        if t:
            text = t.format(f=group["focus"])
            if norm(text) not in {norm(q["text"]) for q in group["questions"]}:
                group["questions"].append({"text": text, "origin": "template", "qid": ""})
        rows.append({"kind": "paraphrase", "group": g, **group})
    return rows, len(reworded)


def rag_items(records, rng):
    by_doc = collections.defaultdict(list)
    for r in records:
        by_doc[(r["collection"], r["doc"])].append(r)
    seen_answers = set()
    by_collection = collections.defaultdict(list)
    for r in sorted(records, key=lambda r: r["qid"]):
        a = " ".join(r["answer"].split())
        if len(a) < MIN_PASSAGE_CHARS or "Human Phenotype Ontology" in a or a in seen_answers:
            continue
        seen_answers.add(a)
        by_collection[r["collection"]].append(r)
    pools = {c: rng.sample(rs, len(rs)) for c, rs in sorted(by_collection.items())}
    picked = []
    while len(picked) < N_RAG and any(pools.values()):
        for c in sorted(pools):
            if pools[c] and len(picked) < N_RAG:
                picked.append(pools[c].pop())
    picked.sort(key=lambda r: r["qid"])
    rows = []
    for i, r in enumerate(picked):
        q = " ".join(r["question"].split())
        others = [o for o in sorted(by_doc[(r["collection"], r["doc"])], key=lambda o: o["qid"])
                  if o["qtype"] != r["qtype"] and norm(o["question"]) != norm(q)]
        o = others[rng.randrange(len(others))] if others else None
        rows.append({"kind": "rag", "item": i, "qid": r["qid"], "collection": r["collection"], "doc": r["doc"],
                     "focus": r["focus"].strip(), "qtype": r["qtype"], "question": q,
                     "passage": cut_passage(r["answer"]),
                     "qid2": o["qid"] if o else "", "qtype2": o["qtype"] if o else "",
                     "question2": " ".join(o["question"].split()) if o else ""})
    return rows


def main(src: str, dst: str) -> None:
    with gzip.open(src, "rt", encoding="utf-8") as f:
        records = sorted((json.loads(line) for line in f), key=lambda r: r["qid"])
    rng = random.Random(SEED)
    groups, n_reworded = paraphrase_groups(records, rng)
    rag = rag_items(records, rng)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for row in groups + rag:
            gz.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    with open(dst, "wb") as f:
        f.write(buf.getvalue())
    n_ref = sum(1 for g in groups if g["reference"])
    n_q2 = sum(1 for r in rag if r["question2"])
    print(f"{dst}: {len(groups)} paraphrase groups ({n_reworded} re-worded across collections, {n_ref} with a "
          f"reference), {len(rag)} RAG items ({n_q2} with a second question); {len(buf.getvalue())} bytes",
          file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
