"""kvshare's chat templates (the Jinja interpreter in src/tokenizer/jinja/) against Python's jinja2.

    KVS_BIN=build/kvshare KVS_MODEL=... KVS_GEMMA_MODEL=... pytest tests/python/test_chat_template_ref.py

Each template renders the same conversations (with and without a system message, multi-turn, one that breaks
Gemma's role alternation, add_generation_prompt true and false) through `kvshare chat-template --jsonl` and
through jinja2 in transformers' chat-template environment (ImmutableSandboxedEnvironment with trim_blocks,
lstrip_blocks, loopcontrols, raise_exception and transformers' tojson). The texts must be identical; where
jinja2 raises, kvshare must report an error. Templates: SmolLM2's GGUF's own (also checked against transformers'
apply_chat_template), Gemma 3's (tests/data/chat_templates/gemma3.jinja: Gemma's GGUF carries no template) and
the feature templates in tests/data/chat_templates/. The rendered prompts' ids are checked too (SmolLM2 against
transformers, Gemma against sentencepiece).
"""
import json
import pathlib
import subprocess

import jinja2
import pytest
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from conftest import ROOT, reference_tokenizer
from gguf_metadata import read_metadata
from test_tokenizer_gemma_ref import reference as gemma_reference

TEMPLATES = ROOT / "tests" / "data" / "chat_templates"
FEATURE_TEMPLATES = ["expressions.jinja", "filters.jinja", "statements.jinja", "whitespace.jinja", "llama3_style.jinja",
                     "gemma3.jinja"]

SYSTEM = {"role": "system", "content": "You are a terse assistant.\n"}
USER1 = {"role": "user", "content": "  What is 2+2?  "}
ASSISTANT = {"role": "assistant", "content": "4"}
USER2 = {"role": "user", "content": "And <b>3+3</b>? Ünïcödé 日本語 \"quotes\" 'single' {{ not jinja }} {% raw %}"}
CONVERSATIONS = [[USER1], [SYSTEM, USER1], [USER1, ASSISTANT, USER2], [SYSTEM, USER1, ASSISTANT, USER2],
                 [SYSTEM, USER1, ASSISTANT], [USER1, USER2]]
CASES = [{"messages": c, "add_generation_prompt": g} for c in CONVERSATIONS for g in (True, False)]


class TemplateError(Exception):
    pass


def jinja2_env():
    """transformers.utils.chat_template_utils._compile_jinja_template's environment."""
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def specials(model):
    m = read_metadata(model)
    tokens = m["tokenizer.ggml.tokens"]
    tok = lambda key: tokens[m[key]] if key in m else ""
    return {"bos_token": tok("tokenizer.ggml.bos_token_id"), "eos_token": tok("tokenizer.ggml.eos_token_id")}


def render_kvshare(kvs_bin, model, tmp_path, template=None, cases=CASES):
    src = tmp_path / "cases.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    cmd = [str(kvs_bin), "chat-template", "--jsonl", str(src), "--model", str(model)]
    if template:
        cmd += ["--chat-template", str(template)]
    proc = subprocess.run(cmd, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode("utf-8").split("\n")
    assert lines.pop() == ""
    assert len(lines) == len(cases)
    return [json.loads(line) for line in lines]


def render_jinja2(source, model, cases=CASES):
    t = jinja2_env().from_string(source)
    out = []
    for c in cases:
        try:
            out.append(("text", t.render(**c, **specials(model))))
        except TemplateError as e:
            out.append(("raised", str(e)))
    return out


def compare(name, ours, want):
    bad = []
    for c, o, (kind, w) in zip(CASES, ours, want):
        tag = f"{name} n={len(c['messages'])} gen={c['add_generation_prompt']}"
        if kind == "raised":
            if "error" not in o or w not in o["error"]:
                bad.append(f"  {tag}: jinja2 raised {w!r}, kvshare gave {o}")
        elif o.get("text") != w:
            bad.append(f"  {tag}:\n    jinja2  {w!r}\n    kvshare {o.get('text', o.get('error'))!r}")
    assert not bad, f"{len(bad)} of {len(CASES)} renderings differ:\n" + "\n".join(bad[:6])
    return sum(1 for k, _ in want if k == "text")


def test_smollm2_gguf_template_matches_jinja2_and_transformers(kvs_bin, kvs_model, tmp_path):
    source = read_metadata(kvs_model)["tokenizer.chat_template"]
    ours = render_kvshare(kvs_bin, kvs_model, tmp_path)
    n = compare("SmolLM2", ours, render_jinja2(source, kvs_model))
    assert n == len(CASES)
    ref = reference_tokenizer()
    for c, o in zip(CASES, ours):
        want = ref.apply_chat_template(c["messages"], tokenize=False, add_generation_prompt=c["add_generation_prompt"])
        assert o["text"] == want
        assert o["ids"] == ref.encode(want, add_special_tokens=False)


@pytest.mark.parametrize("name", FEATURE_TEMPLATES)
def test_feature_template_matches_jinja2(kvs_bin, kvs_model, tmp_path, name):
    path = TEMPLATES / name
    ours = render_kvshare(kvs_bin, kvs_model, tmp_path, template=path)
    n = compare(name, ours, render_jinja2(path.read_text(encoding="utf-8"), kvs_model))
    assert n > 0, f"{name}: every conversation raised"


def test_gemma_template_and_ids(kvs_bin, gemma_model, tmp_path):
    assert "tokenizer.chat_template" not in read_metadata(gemma_model)  # hence --chat-template
    path = TEMPLATES / "gemma3.jinja"
    ours = render_kvshare(kvs_bin, gemma_model, tmp_path, template=path)
    want = render_jinja2(path.read_text(encoding="utf-8"), gemma_model)
    n = compare("gemma3", ours, want)
    assert n >= 8 and sum(1 for k, _ in want if k == "raised") >= 2  # [user, user] breaks alternation
    ref = gemma_reference(gemma_model)
    for o, (kind, w) in zip(ours, want):
        if kind == "text":
            assert w.startswith("<bos><start_of_turn>user\n")
            assert o["ids"] == ref.encode(w), w


def test_generate_chat_renders_the_gguf_template(kvs_bin, kvs_model):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    proc = subprocess.run([str(kvs_bin), "generate", "--chat", "--system", "Be brief.", "-p", "Hi there", "-n", "0",
                           "--show-prompt", "--model", str(kvs_model)], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    line = next(l for l in proc.stderr.decode("utf-8").splitlines() if l.startswith('{"prompt":'))
    source = read_metadata(kvs_model)["tokenizer.chat_template"]
    want = jinja2_env().from_string(source).render(messages=msgs, add_generation_prompt=True, **specials(kvs_model))
    assert json.loads(line)["prompt"] == want


def test_generate_chat_template_override(kvs_bin, kvs_model):
    path = TEMPLATES / "llama3_style.jinja"
    proc = subprocess.run([str(kvs_bin), "generate", "--chat", "-p", "Hi", "-n", "0", "--show-prompt",
                           "--chat-template", str(path), "--model", str(kvs_model)], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    line = next(l for l in proc.stderr.decode("utf-8").splitlines() if l.startswith('{"prompt":'))
    want = jinja2_env().from_string(path.read_text(encoding="utf-8")).render(
        messages=[{"role": "user", "content": "Hi"}], add_generation_prompt=True, **specials(kvs_model))
    assert json.loads(line)["prompt"] == want


BAD_TEMPLATES = {
    "include.jinja": ("{% for m in messages %}{{ m.content }}\n{% include 'other.html' %}{% endfor %}", "line 2"),
    "filter.jinja": ("{{ messages | no_such_filter }}", "no_such_filter"),
    "syntax.jinja": ("{% for m in messages %}{{ m.content }", "line 1"),
    "always_raises.jinja": ("{{ raise_exception('this template accepts nothing') }}", "accepts nothing"),
}


@pytest.mark.parametrize("name", sorted(BAD_TEMPLATES))
def test_unsupported_template_is_a_startup_error(kvs_bin, kvs_model, tmp_path, name):
    source, needle = BAD_TEMPLATES[name]
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(json.dumps(CASES[0]) + "\n", encoding="utf-8")
    for cmd in (["serve", "--port", "0", "--no-semantic"], ["generate", "--chat", "-p", "hi", "-n", "1"],
                ["chat-template", "--jsonl", str(jsonl)]):
        proc = subprocess.run([str(kvs_bin), *cmd, "--model", str(kvs_model), "--chat-template", str(path)],
                              capture_output=True, timeout=120)
        err = proc.stderr.decode(errors="replace")
        assert proc.returncode == 1, f"{cmd[0]}: exit {proc.returncode}: {err}"
        assert needle in err and str(path) in err, f"{cmd[0]}: {err}"
