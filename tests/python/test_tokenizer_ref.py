"""kvshare's tokenizer against an independent reference: HF transformers loading the same GGUF.

    KVS_BIN=build/kvshare KVS_MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf pytest tests/python/test_tokenizer_ref.py
    (defaults: build/kvshare and models/SmolLM2-135M-Instruct.Q4_1.gguf under the repository root; conftest.py)

Corpus: tests/data/tokenizer_corpus.jsonl.gz (2,000 MedQuAD questions and answers, CC BY 4.0, see
tests/data/README.md) plus the hand-written hard cases below. Every string goes through
`kvshare tokenize --jsonl` in one process and through
`AutoTokenizer.from_pretrained(model_dir, gguf_file=name).encode(s, add_special_tokens=False)`;
the ids must be identical for all and kvshare's decode must give back the original text.
"""
import gzip
import json
import re
import subprocess

import pytest

from conftest import ROOT, reference_tokenizer

CORPUS = ROOT / "tests" / "data" / "tokenizer_corpus.jsonl.gz"

CHAT_PROMPT = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat are the symptoms of diabetes?<|im_end|>\n<|im_start|>assistant\n"
)

HARD_CASES = [
    # empty and whitespace only
    "", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n\n", " \n", "\n ", " \t \n ", "\t\t\t", "\r", "\v\f",
    " " * 100, "\n" * 50, " \u00a0 ", "\u3000", "\u2003\u2003",
    # whitespace runs between and around words (\s+(?!\S) gives the last space to the next word)
    "a b", "a  b", "a   b", "a    b    c", "x  \n\n  y", "a\r\nb", "a \n b", "a\t\tb", "a \t b",
    "trailing   ", "   leading", "  both  ", "\t\tx", "x\t\t", "line1\n\nline2\n\n\nline3", "a\n\n b",
    "end.\n", "end.  \n", "a\u00a0b", "a \u00a0b", "\u3000全角スペース", "em\u2003space", "a\u2028b\u2029c",
    "a\u0085b", "a\u200bb", "\ufeffhello", "soft\u00adhyphen", "tab\tseparated\tvalues\n1\t2\t3",
    # digits, numbers
    "0", "7", "42", "123", "a 123 b", "3.14159", "1,000,000", "12345678901234567890", "x1y2z3", "a  1",
    "a   12", " 42", "  42", "\n7", "\n\n7", "2024-11-25", "+1 (555) 010-9999", "v1.2.3", "0x7fff",
    "1e-9", "50%", "$19.99", "10km/h", "½ ² ³", "٣٤٥", "३४५", "五十", "Ⅻ 12", "x²³ y", "①②③",
    # contractions, all cases
    "don't", "I'm", "you're", "we've", "she'll", "he'd", "it's", "they're", "DON'T", "I'M", "YOU'RE",
    "WE'VE", "SHE'LL", "HE'D", "IT'S", "'S", "'LL", "'s", "'ll", "'re", "'ve", "'m", "'d", "'t",
    "'s'll", "''s", "rock 'n' roll", "it’s", "don’t", "O'Neil's", "'", "''", "'''", " 's", "x's 're",
    # non-ASCII letters
    "café", "naïve", "Ångström", "São Paulo", "Straße", "Ça va? Très bien!", "Ñandú", "Øresund",
    "héllo 😀 wörld", "e\u0301", "Ǆemal", "ﬁne", "ĳ", "Привет, мир!", "Καλημέρα κόσμε", "שלום עולם",
    "مرحبا بالعالم", "السَّلَامُ عَلَيْكُمْ", "नमस्ते दुनिया", "हिन्दी में लिखा गया वाक्य", "日本語のテキストです。",
    "中文分词测试，标点符号。", "한국어 문장입니다", "สวัสดีครับ", "ქართული", "Հայերեն", "Tiếng Việt có dấu",
    "ελληνικά και English mixed 中文 text",
    # emoji: single, skin tones, ZWJ sequences, flags, keycaps, variation selectors
    "😀", "😀😀😀", "👍", "👍🏽", "👍🏿 ok", "👨‍👩‍👧‍👦", "👩🏿‍💻", "🏳️‍🌈", "❤️", "❤", "🇺🇸🇫🇷", "1️⃣",
    "I ❤️ NY", "emoji😀inside", "😀 😃 😄", "🧑‍⚕️ doctor", "🤷‍♀️", "✅ done", "→ ← ↑ ↓",
    # punctuation and symbols
    "...", "?!?!", "!!!", "—", "«guillemets»", "“quoted”", "(parens) [brackets] {braces}", "∑ x² ≤ ∞",
    "© 2024 ®™", "a/b\\c|d", "@user #tag", "~`^", "--flag=value", "<>", "&amp; &lt;", "!" * 300,
    # code
    "def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) { a[i] += 1; }",
    "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); }", '{"key": [1, 2.5, null, true]}',
    "SELECT * FROM t WHERE id = 1;", '<div class="a">Hi</div>', r"^\s+$|[a-z]{2,}",
    "ls -la | grep foo && echo $HOME", "    indented = 4\n\tif x:\n\t\tpass", "x+=1;y-=2;z*=3",
    "https://example.com/path?q=1&r=two#frag", "user.name+tag@example.co.uk", "C:\\Users\\Public",
    # special tokens embedded in text
    "<|im_start|>user", "<|im_start|>user\nhi<|im_end|>\n", "<|endoftext|>", "a<|im_end|>b",
    " <|im_start|> ", "<|im_start|><|im_end|>", "<|im_end|><|im_end|>", "<|im_start", "<|im_start|",
    "<repo_name>x<file_sep>y", "<|IM_START|>", "<<|im_start|>>", "x  <|im_end|>  y", "\n<|im_start|>\n",
    "<|unknown|>", "<issue_start>title<issue_comment>body", CHAT_PROMPT,
    # long inputs
    "a" * 1000, "ab" * 500, "word " * 400, "x" * 5000 + " end", "supercalifragilisticexpialidocious",
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
]

# Bytes with no one-byte token in SmolLM2's vocab (0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, and lead bytes of
# unassigned planes): the reference drops them, so ids must match but decode cannot give them back.
DROPPED_BYTE_CASES = ["a\x04b", "!\x04!", "..\x04.", "\x06", "x\x13\x14y", "\x16\x1d", "\U00040000", "a\U00080001b"]


def load_corpus():
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


@pytest.fixture(scope="module")
def reference(kvs_model):
    return reference_tokenizer()


def run_jsonl(kvs_bin, kvs_model, tmp_path, strings, *extra):
    src = tmp_path / "input.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        for s in strings:
            f.write(json.dumps(s) + "\n")
    proc = subprocess.run([str(kvs_bin), "tokenize", "--jsonl", str(src), "--model", str(kvs_model),
                           "--stats", *extra], capture_output=True, timeout=300)
    assert proc.returncode == 0, f"kvshare tokenize failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
    lines = proc.stdout.decode("utf-8").split("\n")  # not splitlines(): U+2028 etc. may appear inside a line
    assert lines.pop() == "", "output does not end with a newline"
    assert len(lines) == len(strings), f"{len(lines)} output lines for {len(strings)} inputs"
    return [json.loads(line) for line in lines], proc.stderr.decode("utf-8", errors="replace")


def describe_mismatch(ref_tok, s, got, want):
    k = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return (f"  text {s[:120]!r}{'...' if len(s) > 120 else ''}\n"
            f"    first difference at token {k}: kvshare {got[k:k + 6]} "
            f"{ref_tok.convert_ids_to_tokens(got[k:k + 6])}\n"
            f"                               reference {want[k:k + 6]} "
            f"{ref_tok.convert_ids_to_tokens(want[k:k + 6])}")


def compare(reference, strings, results, check_roundtrip=True, **encode_kwargs):
    mismatches, errors, not_roundtrip = [], [], []
    for s, r in zip(strings, results):
        if "error" in r:
            errors.append(f"  {s[:80]!r}: {r['error']}")
            continue
        want = reference.encode(s, add_special_tokens=False, **encode_kwargs)
        if r["ids"] != want:
            mismatches.append(describe_mismatch(reference, s, r["ids"], want))
        if check_roundtrip and r["decoded"] != s:
            not_roundtrip.append(f"  {s[:80]!r} decoded as {r['decoded'][:80]!r}")
    report = []
    if errors:
        report.append(f"{len(errors)} of {len(strings)} strings gave errors:\n" + "\n".join(errors[:10]))
    if mismatches:
        report.append(f"{len(mismatches)} of {len(strings)} strings differ from the reference; first ones:\n"
                      + "\n".join(mismatches[:10]))
    if not_roundtrip:
        report.append(f"{len(not_roundtrip)} strings do not decode to the original:\n" + "\n".join(not_roundtrip[:10]))
    assert not report, "\n".join(report)


def test_corpus_matches_reference(kvs_bin, kvs_model, reference, tmp_path):
    strings = load_corpus() + HARD_CASES
    assert len(strings) >= 2000
    results, stats = run_jsonl(kvs_bin, kvs_model, tmp_path, strings)
    compare(reference, strings, results)
    m = re.search(r"encode ([0-9.]+) ms", stats)
    assert m, f"no timing in stderr: {stats!r}"
    print(f"\n{len(strings)} strings identical to the reference; kvshare encode time {m.group(1)} ms")
    assert float(m.group(1)) < 1000.0, f"encoding {len(strings)} strings took {m.group(1)} ms"


def test_no_special_matches_reference_split_special(kvs_bin, kvs_model, reference, tmp_path):
    strings = [s for s in HARD_CASES if "<" in s]
    results, _ = run_jsonl(kvs_bin, kvs_model, tmp_path, strings, "--no-special")
    compare(reference, strings, results, split_special_tokens=True)


def test_bytes_without_token_are_dropped_like_reference(kvs_bin, kvs_model, reference, tmp_path):
    results, _ = run_jsonl(kvs_bin, kvs_model, tmp_path, DROPPED_BYTE_CASES)
    compare(reference, DROPPED_BYTE_CASES, results, check_roundtrip=False)


def test_chat_prompt_constant_is_the_reference_template_output(reference):
    # The C++ ChatML tests paste this rendering; check it is what the GGUF's Jinja template produces.
    msgs = [{"role": "user", "content": "What are the symptoms of diabetes?"}]
    assert reference.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == CHAT_PROMPT


def test_prompt_flag_prints_json_array(kvs_bin, kvs_model):
    proc = subprocess.run([str(kvs_bin), "tokenize", "-p", "What are the symptoms of diabetes?",
                           "--model", str(kvs_model)], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # transformers: encode('What are the symptoms of diabetes?', add_special_tokens=False)
    assert json.loads(proc.stdout) == [1780, 359, 260, 2336, 282, 4348, 47]


@pytest.mark.parametrize("raw", [b"ab\xffc", b"caf\xc3", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80abc",
                                 b"\xf4\x90\x80\x80", b"ok \xf0\x9f\x98"])
def test_invalid_utf8_prompt_is_rejected(kvs_bin, kvs_model, raw):
    proc = subprocess.run([bytes(kvs_bin), b"tokenize", b"-p", raw, b"--model", bytes(kvs_model)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 2, f"exit {proc.returncode}, stdout {proc.stdout!r}"
    err = proc.stderr.decode("utf-8", errors="replace")
    assert "invalid UTF-8" in err and "byte offset" in err, err
    assert proc.stdout == b""


def test_jsonl_bad_line_reports_error_and_continues(kvs_bin, kvs_model, tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('"ok"\nnot json\n"\\ud800"\n42\n"fine"\n', encoding="utf-8")
    proc = subprocess.run([str(kvs_bin), "tokenize", "--jsonl", str(src), "--model", str(kvs_model)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.decode("utf-8").split("\n")[:-1]]
    assert [("error" in o) for o in out] == [False, True, True, True, False]
    assert out[0]["decoded"] == "ok" and out[4]["decoded"] == "fine"


def test_missing_model_is_a_clear_error(kvs_bin, tmp_path):
    proc = subprocess.run([str(kvs_bin), "tokenize", "-p", "hi", "--model", str(tmp_path / "none.gguf")],
                          capture_output=True, timeout=60)
    assert proc.returncode == 1
    assert b"none.gguf" in proc.stderr


def test_malformed_model_is_a_clear_error(kvs_bin, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
    proc = subprocess.run([str(kvs_bin), "tokenize", "-p", "hi", "--model", str(bad)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 1
    assert b"bad.gguf" in proc.stderr
