"""`kvshare serve --model <Gemma 3 270M>` answering the official `openai` client (issue 14).

    KVS_BIN=build/kvshare KVS_GEMMA_MODEL=models/gemma-3-270m-q4_k_m.gguf pytest tests/python/test_server_gemma.py

Gemma's GGUF carries no tokenizer.chat_template, so the server runs with --chat-template
tests/data/chat_templates/gemma3.jinja (google/gemma-3's template). Checked against independent references:
  - the chat prompt the server builds (its /tokenize endpoint with `messages`, and usage.prompt_tokens of the chat
    request) equals jinja2 rendering the same template, tokenized by sentencepiece (tests/python/spm_reference.py);
  - greedy chat and completion texts (streaming and not) equal `kvshare generate` (--chat for chat) and the greedy
    continuation of transformers + torch loading the same GGUF (f32), decoded by its tokenizer;
  - `kvshare generate --chat --show-prompt` prints jinja2's rendering.
"""
import json
import subprocess

import pytest
import torch

from conftest import KVS_BIN, KVS_GEMMA_MODEL, ROOT
from test_chat_template_ref import jinja2_env, specials
from test_gemma_ref import ref_model, ref_tokenizer
from test_server import Server
from test_tokenizer_gemma_ref import reference as spm_reference

TEMPLATE = ROOT / "tests" / "data" / "chat_templates" / "gemma3.jinja"
MODEL_ID = KVS_GEMMA_MODEL.stem
N = 12  # greedy tokens per request
CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Name a primary colour."}],
]
PROMPTS = ["The capital of France is", "def fibonacci(n):\n"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, gemma_model, kvs_bin):
    s = Server(tmp_path_factory.mktemp("gemma_srv"), None, extra_args=("--chat-template", str(TEMPLATE)), name="gemma",
               model=KVS_GEMMA_MODEL)
    yield s
    s.stop()


def rendered(messages):
    return jinja2_env().from_string(TEMPLATE.read_text(encoding="utf-8")).render(
        messages=messages, add_generation_prompt=True, **specials(KVS_GEMMA_MODEL))


@torch.no_grad()
def reference_text(ids, n=N):
    """transformers' greedy continuation of `ids` (stops after <eos> or <end_of_turn>, as the server does)."""
    tok = ref_tokenizer()
    stops = {tok.eos_token_id, tok.convert_tokens_to_ids("<end_of_turn>")}
    out = ref_model().generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, eos_token_id=list(stops),
                               pad_token_id=tok.eos_token_id)
    gen = [t for t in out[0, len(ids):].tolist()]
    if gen and gen[-1] in stops:
        gen = gen[:-1]
    return tok.decode(gen, skip_special_tokens=True)


def generate_cli(args):
    proc = subprocess.run([str(KVS_BIN), "generate", "--model", str(KVS_GEMMA_MODEL), "-n", str(N), "--temp", "0",
                           "--threads", "1", *args], capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


def test_models_lists_gemma(server):
    assert [m.id for m in server.client().models.list().data] == [MODEL_ID]


@pytest.mark.parametrize("chat", range(len(CHATS)))
def test_chat_prompt_is_jinja2s_rendering(server, chat):
    msgs = CHATS[chat]
    text = rendered(msgs)
    assert text.startswith("<bos><start_of_turn>user\n") and text.endswith("<start_of_turn>model\n")
    want = spm_reference(KVS_GEMMA_MODEL).encode(text)
    status, _, body = server.post("/tokenize", {"messages": msgs}, tenant=None)
    assert status == 200, body
    assert json.loads(body)["tokens"] == want
    assert want.count(2) == 1  # one <bos>: the template's, not a second one from add_bos_token


@pytest.mark.parametrize("chat", range(len(CHATS)))
def test_chat_completions_match_generate_and_reference(server, chat):
    msgs = CHATS[chat]
    c = server.client()
    r = c.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=N, temperature=0)
    assert r.object == "chat.completion" and r.model == MODEL_ID
    assert r.choices[0].message.role == "assistant" and r.choices[0].finish_reason in ("stop", "length")
    content = r.choices[0].message.content
    ids = spm_reference(KVS_GEMMA_MODEL).encode(rendered(msgs))
    assert r.usage.prompt_tokens == len(ids)
    assert 1 <= r.usage.completion_tokens <= N

    chunks = list(c.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=N, temperature=0, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == content
    assert chunks[-1].choices[0].finish_reason == r.choices[0].finish_reason

    system = [m["content"] for m in msgs if m["role"] == "system"]
    args = ["--chat", "--chat-template", str(TEMPLATE), "-p", msgs[-1]["content"], "--show-prompt"]
    out, err = generate_cli(args + (["--system", system[0]] if system else []))
    line = next(l for l in err.splitlines() if l.startswith('{"prompt":'))
    assert json.loads(line)["prompt"] == rendered(msgs)  # generate --chat renders the template as jinja2 does
    assert out.rstrip("\n") == content.rstrip("\n")
    ref = reference_text(ids)
    print(f"\nchat {chat}: {content!r} (transformers: {ref!r})")
    assert content == ref


@pytest.mark.parametrize("prompt", PROMPTS)
def test_completions_match_generate_and_reference(server, prompt):
    c = server.client()
    r = c.completions.create(model=MODEL_ID, prompt=prompt, max_tokens=N, temperature=0)
    assert r.object == "text_completion"
    text = r.choices[0].text
    chunks = list(c.completions.create(model=MODEL_ID, prompt=prompt, max_tokens=N, temperature=0, stream=True,
                                       stream_options={"include_usage": True}))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == text
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    ids = [2] + spm_reference(KVS_GEMMA_MODEL).encode(prompt)  # <bos> (tokenizer.ggml.add_bos_token) + the text
    assert r.usage.prompt_tokens == len(ids)
    out, _ = generate_cli(["-p", prompt])
    assert out.rstrip("\n") == text.rstrip("\n")
    ref = reference_text(ids)
    print(f"\ncompletion {prompt!r}: {text!r} (transformers: {ref!r})")
    assert text == ref


def test_chat_without_a_template_is_a_clear_4xx(tmp_path, gemma_model):
    """Gemma's GGUF has no template: a server started without --chat-template still serves completions, and a chat
    request is refused with a message naming --chat-template (not a 500)."""
    s = Server(tmp_path, None, extra_args=("--no-semantic",), name="notemplate", model=KVS_GEMMA_MODEL)
    try:
        status, _, body = s.post("/v1/chat/completions", {"model": MODEL_ID, "max_tokens": 2,
                                                          "messages": [{"role": "user", "content": "Hi"}]},
                                 tenant=None)
        assert 400 <= status < 500, (status, body)
        assert "chat template" in json.loads(body)["error"]["message"]
        status, _, body = s.post("/v1/completions", {"model": MODEL_ID, "prompt": "Hi", "max_tokens": 2}, tenant=None)
        assert status == 200, body
    finally:
        s.stop()
