"""kvshare's SentencePiece tokenizer (Gemma 3's GGUF) against Google's sentencepiece library.

    KVS_BIN=build/kvshare KVS_GEMMA_MODEL=models/gemma-3-270m-Q4_K_M.gguf pytest tests/python/test_tokenizer_gemma_ref.py

Reference: spm_reference.py builds a sentencepiece model (BPE, byte fallback, the GGUF's pieces, scores and types)
from the GGUF's vocabulary and encodes with sentencepiece itself. Corpus: the SmolLM2 corpus
(tests/data/tokenizer_corpus.jsonl.gz, 2,000 MedQuAD strings) plus test_tokenizer_ref.py's hard cases plus the
non-Latin and Gemma-specific cases below. Every id must be identical, and decoding must give the text back.
"""
import functools

import pytest

from spm_reference import SpmReference
from test_tokenizer_ref import HARD_CASES, load_corpus, run_jsonl

NON_LATIN = [
    # scripts without spaces, combining marks, right-to-left, Indic conjuncts, CJK, Hangul jamo, rare planes
    "東京は日本の首都です。人口は約1400万人。", "北京欢迎你！我们一起去长城吧。", "すもももももももものうち",
    "カタカナとひらがなと漢字", "대한민국의 수도는 서울입니다. 한글 자모: ᄀᄁᄂ", "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "ພາສາລາວ", "ភាសាខ្មែរ", "မြန်မာဘာသာ", "བོད་ཡིག", "ᠮᠣᠩᠭᠣᠯ", "ગુજરાતી ભાષા", "ਪੰਜਾਬੀ", "বাংলা ভাষা", "தமிழ் மொழி",
    "తెలుగు", "ಕನ್ನಡ", "മലയാളം", "සිංහල", "ଓଡ଼ିଆ", "संस्कृतम् क्षत्रिय ज्ञान", "اللغة العربية الفصحى ١٢٣",
    "فارسی زبان شیرین است", "اردو زبان", "עברית מימין לשמאל", "ܠܫܢܐ ܣܘܪܝܝܐ", "ދިވެހި", "ትግርኛ ኣማርኛ", "Ελληνικά ΑΒΓ αβγ",
    "Русский ЁЖЗ ёжз", "Українська ЇЄҐ", "Српски Ђ Љ Њ", "Български език", "Қазақ тілі", "Монгол хэл", "ქართული ენა",
    "Հայերեն լեզու", "ᏣᎳᎩ", "ᐃᓄᒃᑎᑐᑦ", "ꦧꦱꦗꦮ", "𐌰𐌱𐌲 gothic", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙", "𠀀𠀁 CJK ext B", "a\u0300\u0301\u0302",
    "Z\u0351\u0308\u0362a\u0353\u034al\u0358g\u0349o", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "\U000e0041\U000e0042", "\U0010fffd", "\ue000 private use",
]

GEMMA_CASES = [
    # Gemma's control tokens with special parsing on, its user-defined whitespace and HTML pieces, byte fallback
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", "<bos>text<eos>", "<pad><unk><mask>",
    "a<start_of_turn>b", "<start_of_turn", "<end_of_turn>>", "<start_of_image>", "<unused0><unused99>",
    "  two spaces", "a    b", " " * 40, "\t\tindent\t", "\n\n\n\nx", "\r\n\r\n", "<table><tr><td>1</td></tr></table>",
    "</div></span>", "<0x41> <0xFF>", "▁already▁escaped", "\x00\x01\x02\x7f", "\U00040000\U00080001",
]


@functools.lru_cache(maxsize=1)
def reference(path):
    return SpmReference(str(path))


def compare(ref, strings, results, parse_special=True):
    bad, errors, not_roundtrip = [], [], []
    for s, r in zip(strings, results):
        if "error" in r:
            errors.append(f"  {s[:80]!r}: {r['error']}")
            continue
        want = ref.encode(s, parse_special=parse_special)
        if r["ids"] != want:
            k = next((i for i, (a, b) in enumerate(zip(r["ids"], want)) if a != b), min(len(r["ids"]), len(want)))
            bad.append(f"  {s[:100]!r}: first difference at token {k}: kvshare {r['ids'][k:k + 6]} "
                       f"{ref.id_to_piece(r['ids'][k:k + 6])}, sentencepiece {want[k:k + 6]} {ref.id_to_piece(want[k:k + 6])}")
        if r["decoded"] != s and "▁" not in s:  # a literal U+2581 decodes as a space (as in sentencepiece)
            not_roundtrip.append(f"  {s[:80]!r} decoded as {r['decoded'][:80]!r}")
    report = []
    if errors:
        report.append(f"{len(errors)} of {len(strings)} strings gave errors:\n" + "\n".join(errors[:10]))
    if bad:
        report.append(f"{len(bad)} of {len(strings)} strings differ from sentencepiece:\n" + "\n".join(bad[:10]))
    if not_roundtrip:
        report.append(f"{len(not_roundtrip)} strings do not decode to the original:\n" + "\n".join(not_roundtrip[:10]))
    assert not report, "\n".join(report)


def test_gemma_corpus_matches_sentencepiece(kvs_bin, gemma_model, tmp_path):
    strings = load_corpus() + HARD_CASES + NON_LATIN + GEMMA_CASES
    assert len(strings) >= 2000
    results, stats = run_jsonl(kvs_bin, gemma_model, tmp_path, strings)
    compare(reference(gemma_model), strings, results)
    n_tokens = sum(len(r.get("ids", [])) for r in results)
    print(f"\n{len(strings)} strings ({n_tokens} tokens) identical to sentencepiece; {stats.strip()}")


def test_gemma_without_special_parsing(kvs_bin, gemma_model, tmp_path):
    strings = [s for s in GEMMA_CASES + HARD_CASES if "<" in s]
    results, _ = run_jsonl(kvs_bin, gemma_model, tmp_path, strings, "--no-special")
    compare(reference(gemma_model), strings, results, parse_special=False)


def test_gemma_reference_ids_spot_check(kvs_bin, gemma_model, tmp_path):
    # Ids printed by sentencepiece for these strings, pasted: the reference construction itself is pinned.
    want = {"Hello world": [9259, 1902], "a  b": [236746, 138, 236763], "Привет мир": [116130, 58562],
            "\U00040000": [479, 366, 366, 366], "x<start_of_turn>y": [236781, 105, 236762]}
    ref = reference(gemma_model)
    for s, ids in want.items():
        assert ref.encode(s) == ids, s
    results, _ = run_jsonl(kvs_bin, gemma_model, tmp_path, list(want))
    assert [r["ids"] for r in results] == list(want.values())
