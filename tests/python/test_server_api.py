"""The serving surface of `kvshare serve` against independent references (issue 15, items 1-6).

- Tolerant parsing: an unknown top-level field is ignored and named in x-kvshare-ignored-fields; answer-changing
  fields stay 400s; cache_salt only where the config allows it, and it only narrows the share domain.
- Log-probabilities (official openai client): chat logprobs / top_logprobs, streaming too, and completions echo
  with logprobs (prompt scoring), all checked against transformers' log-softmax on the same GGUF.
- n = 3: three distinct samples, the prompt's full blocks computed once (counted on /metrics).
- /v1/embeddings (openai client, batch, base64 as the client asks by default) against the transformers reference of
  the embedder; /tokenize and /detokenize against the reference tokenizer; /v1/models max_model_len; --version.
- /metrics parsed by prometheus_client's parser: every series has model_name, the vllm: names are there and agree.
- Operations: KVS_API_KEY / KVS_SERVED_MODEL_NAME environment variables, --log-format json.
"""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
from openai import OpenAI

from conftest import KVS_BIN, KVS_MODEL, reference_model, reference_tokenizer
from test_embedder_ref import KVS_EMBEDDER, KVS_EMBEDDER_REF, reference_embeddings
from test_server import Server

MODEL_ID = KVS_MODEL.stem
KEY, SALTED_KEY = "sk-plain-0123456789", "sk-salted-0123456789"
OPERATOR_KEY = "sk-operator-0123456789"
CONFIG = {
    "limits": {"default_max_tokens": 16},
    "operator_keys": [OPERATOR_KEY],
    "tenants": [
        {"name": "plain", "api_keys": [KEY]},
        {"name": "salted", "api_keys": [SALTED_KEY], "allow_cache_salt": True},
    ],
}
LOGPROB_TOL = 2e-2       # nats per token: kvshare (f16 KV, the default) vs transformers float32; the logits agree
                         # to ~1.5e-2 with f16 KV (tests/python/test_model_ref.py), ~1e-4 with f32 KV
MEAN_LOGPROB_TOL = 2e-3  # the mean over a sequence (as tests/python/test_eval_small.py)
BLOCK = 16


@pytest.fixture(scope="module")
def srv(tmp_path_factory, kvs_bin, kvs_model):
    if not KVS_EMBEDDER.exists():
        pytest.fail(f"embedder not found at {KVS_EMBEDDER}: run scripts/fetch_embedder.sh")
    s = Server(tmp_path_factory.mktemp("api"), CONFIG, extra_args=["--embedder", str(KVS_EMBEDDER)])
    yield s
    s.stop()


def client(srv, key=KEY):
    return OpenAI(base_url=f"http://127.0.0.1:{srv.port}/v1", api_key=key, max_retries=0, timeout=300)


def post(srv, path, body, key=KEY):
    return srv.request("POST", path, body, {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})


def metrics_families(srv):
    from prometheus_client.parser import text_string_to_metric_families

    status, _, body = srv.request("GET", "/metrics", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
    assert status == 200, body
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def value(fams, name, **labels):
    """The value of the sample `name` (e.g. x_total, h_count, a gauge) with these labels."""
    fam = fams.get(name)
    for suffix in ("_total", "_count", "_sum"):
        if fam is None and name.endswith(suffix):
            fam = fams.get(name[:-len(suffix)])
    assert fam is not None, name
    for s in fam.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError((name, labels))


# --- references ------------------------------------------------------------------------------------------------

def _byte_decoder():
    """GPT-2's byte-level BPE alphabet (SmolLM2's tokenizer): raw byte -> the character its vocabulary uses."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHAR = _byte_decoder()


def token_id(raw_bytes):
    """The reference vocabulary's id of a token given by its raw bytes (what the API's "bytes" field holds)."""
    tok = reference_tokenizer()
    i = tok.convert_tokens_to_ids("".join(BYTE_CHAR[b] for b in raw_bytes))
    assert i is not None and i != tok.unk_token_id, raw_bytes
    return i


def token_bytes(i):
    tok = reference_tokenizer()
    inv = {c: b for b, c in BYTE_CHAR.items()}
    return bytes(inv[c] for c in tok.convert_ids_to_tokens(i))


def reference_logprobs(ids):
    """(len(ids) - 1, vocab) float64 log-softmax: row j scores ids[j + 1]."""
    with torch.no_grad():
        logits = reference_model()(torch.tensor([ids])).logits[0].double()
    return torch.log_softmax(logits[:-1], dim=-1)


def chat_prompt_ids(messages):
    return reference_tokenizer().apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                     return_dict=False)


# --- 1. tolerant parsing, cache_salt ---------------------------------------------------------------------------

def test_unknown_field_is_ignored_and_named_in_a_header(srv):
    body = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4, "temperature": 0,
            "bogus_vendor_flag": True, "another-one": {"x": 1}}
    status, headers, raw = post(srv, "/v1/chat/completions", body)
    assert status == 200, raw
    named = {k.lower(): v for k, v in headers.items()}["x-kvshare-ignored-fields"].split(",")
    assert sorted(named) == ["another-one", "bogus_vendor_flag"]
    # The same request without the fields: the same answer, and no header.
    status, headers2, raw2 = post(srv, "/v1/chat/completions", {k: body[k] for k in ("messages", "max_tokens",
                                                                                      "temperature")})
    assert status == 200 and "x-kvshare-ignored-fields" not in {k.lower() for k in headers2}
    assert json.loads(raw)["choices"][0]["message"] == json.loads(raw2)["choices"][0]["message"]
    assert "ignoring unknown request field 'bogus_vendor_flag'" in srv.log_path.read_text()


@pytest.mark.parametrize("extra,param", [
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"logit_bias": {"42": 5}}, "logit_bias"),
    ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ({"guided_json": {"type": "object"}}, "guided_json"),
    ({"min_tokens": 3}, "min_tokens"),
])
def test_answer_changing_fields_stay_400(srv, extra, param):
    status, _, raw = post(srv, "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], **extra})
    assert status == 400, raw
    assert json.loads(raw)["error"]["param"] == param


def computed(srv):
    return value(metrics_families(srv), "kvshare_computed_prompt_tokens_total", model_name=MODEL_ID)


def test_cache_salt_needs_the_operator_and_only_narrows(srv):
    text = "Salted-domain probe: list three rivers of Europe and one fact about each, briefly. " * 3
    body = {"prompt": text, "max_tokens": 1, "temperature": 0, "kvshare": {"mode": "prefix"}}
    status, _, raw = post(srv, "/v1/completions", {**body, "cache_salt": "u1"}, key=KEY)
    assert status == 400 and json.loads(raw)["error"]["param"] == "cache_salt"
    n_prompt = len(reference_tokenizer()(text)["input_ids"])
    assert n_prompt > 2 * BLOCK
    full_blocks = (n_prompt - 1) // BLOCK * BLOCK

    def run(**extra):
        before = computed(srv)
        status, _, raw = post(srv, "/v1/completions", {**body, **extra}, key=SALTED_KEY)
        assert status == 200, raw
        return computed(srv) - before

    assert run() == n_prompt                            # cold
    assert run() == n_prompt - full_blocks              # the tenant's own domain: its prefix is reused
    assert run(cache_salt="user-1") == n_prompt         # salted: a new sub-domain, nothing of the parent's
    assert run(cache_salt="user-1") == n_prompt - full_blocks  # ... shared with itself
    assert run(cache_salt="user-2") == n_prompt         # another salt: nothing of user-1's


# --- 2. logprobs -----------------------------------------------------------------------------------------------

def test_chat_logprobs_match_transformers(srv):
    messages = [{"role": "user", "content": "Name the largest planet of the solar system."}]
    r = client(srv).chat.completions.create(model=MODEL_ID, messages=messages, max_tokens=12, temperature=0,
                                            logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens > 0
    ids = chat_prompt_ids(messages)
    assert len(ids) == r.usage.prompt_tokens
    gen = [token_id(bytes(c.bytes)) for c in content]
    ref = reference_logprobs(ids + gen)[len(ids) - 1:]
    ours = np.array([c.logprob for c in content])
    theirs = ref[torch.arange(len(gen)), torch.tensor(gen)].numpy()
    assert np.abs(ours - theirs).max() < LOGPROB_TOL, (ours, theirs)
    assert abs(ours.mean() - theirs.mean()) < MEAN_LOGPROB_TOL
    assert "".join(bytes(c.bytes).decode("utf-8", "replace") for c in content) == r.choices[0].message.content
    for j, c in enumerate(content):
        assert len(c.top_logprobs) == 3
        top_v, top_i = torch.topk(ref[j], 3)
        assert [bytes(t.bytes) for t in c.top_logprobs] == [token_bytes(int(i)) for i in top_i]
        assert np.allclose([t.logprob for t in c.top_logprobs], top_v.numpy(), atol=LOGPROB_TOL)
        assert c.top_logprobs[0].logprob == pytest.approx(c.logprob, abs=1e-6)  # greedy: the top token


def test_streamed_logprobs_equal_the_non_streamed(srv):
    c = client(srv)
    kw = dict(model=MODEL_ID, messages=[{"role": "user", "content": "Count from one to five."}], max_tokens=10,
              temperature=0, logprobs=True, top_logprobs=2)
    whole = c.chat.completions.create(**kw).choices[0].logprobs.content
    streamed = []
    for chunk in c.chat.completions.create(stream=True, **kw):
        if chunk.choices and chunk.choices[0].logprobs:
            streamed.extend(chunk.choices[0].logprobs.content)
    assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in whole]
    assert [[(a.token, a.logprob) for a in t.top_logprobs] for t in streamed] == \
           [[(a.token, a.logprob) for a in t.top_logprobs] for t in whole]
    # Completions stream the same way.
    kw = dict(model=MODEL_ID, prompt="The capital of France is", max_tokens=6, temperature=0, logprobs=1)
    whole = c.completions.create(**kw).choices[0].logprobs
    lps = []
    for chunk in c.completions.create(stream=True, **kw):
        if chunk.choices and chunk.choices[0].logprobs:
            lps.extend(chunk.choices[0].logprobs.token_logprobs)
    assert lps == whole.token_logprobs and len(lps) == 6


def test_echo_scores_the_prompt_like_transformers(srv):
    ids = reference_tokenizer()("The quick brown fox jumps over the lazy dog because it")["input_ids"]
    r = client(srv).completions.create(model=MODEL_ID, prompt=ids, max_tokens=0, echo=True, logprobs=3)
    lp = r.choices[0].logprobs
    assert r.choices[0].text == reference_tokenizer().decode(ids)
    assert len(lp.tokens) == len(ids) and lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert r.usage.completion_tokens == 0 and r.choices[0].finish_reason == "length"
    ref = reference_logprobs(ids)
    theirs = ref[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].numpy()
    ours = np.array(lp.token_logprobs[1:])
    assert np.abs(ours - theirs).max() < LOGPROB_TOL, (ours, theirs)
    for j in range(1, len(ids)):
        top_v, top_i = torch.topk(ref[j - 1], 3)
        want = {token_bytes(int(i)).decode("utf-8", "replace"): float(v) for i, v in zip(top_i, top_v)}
        got = lp.top_logprobs[j]
        assert set(got) == set(want), (j, got, want)
        assert all(abs(got[k] - want[k]) < LOGPROB_TOL for k in want)
    assert lp.text_offset == list(np.cumsum([0] + [len(t.encode()) for t in lp.tokens[:-1]]))
    # Echo with generation: the prompt, then the completion, scored in one list.
    g = client(srv).completions.create(model=MODEL_ID, prompt=ids, max_tokens=3, echo=True, logprobs=0,
                                       temperature=0)
    assert g.choices[0].text.startswith(r.choices[0].text)
    assert len(g.choices[0].logprobs.tokens) == len(ids) + g.usage.completion_tokens
    assert np.allclose(g.choices[0].logprobs.token_logprobs[1:len(ids)], lp.token_logprobs[1:], atol=1e-6)


# --- 3. n > 1 --------------------------------------------------------------------------------------------------

def test_n_samples_share_the_prompt_and_differ(srv):
    prompt = "n-sample probe. Write one short sentence about a lighthouse keeper and the sea at night:" * 2
    n_prompt = len(reference_tokenizer()(prompt)["input_ids"])
    tail = n_prompt - (n_prompt - 1) // BLOCK * BLOCK  # rows after the last full block (<= one block)
    before = computed(srv)
    r = client(srv).completions.create(model=MODEL_ID, prompt=prompt, n=3, max_tokens=16, temperature=1.0, seed=11,
                                       extra_body={"kvshare": {"mode": "prefix"}})
    assert [c.index for c in r.choices] == [0, 1, 2]
    texts = [c.text for c in r.choices]
    assert len(set(texts)) == 3, texts
    assert r.usage.prompt_tokens == n_prompt
    assert 3 <= r.usage.completion_tokens <= 3 * 16
    assert computed(srv) - before == n_prompt + 2 * tail  # one prefill; the others adopt its blocks
    # Choice i is the single-choice request with seed + i.
    one = client(srv).completions.create(model=MODEL_ID, prompt=prompt, max_tokens=16, temperature=1.0, seed=12,
                                         extra_body={"kvshare": {"mode": "prefix"}})
    assert one.choices[0].text == texts[1]
    # Streaming: every index streams and finishes.
    seen, finished = {}, set()
    for chunk in client(srv).chat.completions.create(model=MODEL_ID, n=3, max_tokens=8, temperature=1.0, seed=3,
                                                     messages=[{"role": "user", "content": "Say a color."}],
                                                     stream=True):
        for ch in chunk.choices:
            seen[ch.index] = seen.get(ch.index, "") + (ch.delta.content or "")
            if ch.finish_reason:
                finished.add(ch.index)
    assert sorted(seen) == [0, 1, 2] and finished == {0, 1, 2}


# --- 4. endpoints ----------------------------------------------------------------------------------------------

def test_embeddings_match_the_reference(srv):
    texts = ["How do I reset my password?", "What is the boiling point of water?", "Wie spät ist es?"]
    c = client(srv)
    r = c.embeddings.create(model=KVS_EMBEDDER.stem, input=texts)  # the client asks for base64 by default
    assert [d.index for d in r.data] == [0, 1, 2]
    ours = np.array([d.embedding for d in r.data])
    ref = reference_embeddings(texts)
    assert (np.sum(ours * ref, axis=1) > 0.999).all()
    from transformers import AutoTokenizer

    ref_tok = AutoTokenizer.from_pretrained(str(KVS_EMBEDDER_REF))
    assert r.usage.prompt_tokens == sum(len(ref_tok(t)["input_ids"]) for t in texts)
    f = c.embeddings.create(model=KVS_EMBEDDER.stem, input=texts[0], encoding_format="float")
    assert np.allclose(f.data[0].embedding, ours[0], atol=1e-7)
    status, _, raw = post(srv, "/v1/embeddings", {"input": [1, 2, 3]})
    assert status == 400, raw
    status, _, raw = post(srv, "/v1/embeddings", {"input": "x", "model": "nope"})
    assert status == 404, raw


def test_tokenize_detokenize_and_models(srv):
    tok = reference_tokenizer()
    text = "Hello, world! Ünïcödé and <|im_start|> markers"
    status, _, raw = post(srv, "/tokenize", {"prompt": text})
    assert status == 200, raw
    j = json.loads(raw)
    assert j["tokens"] == tok(text)["input_ids"] and j["count"] == len(j["tokens"])
    ascii_text = "Hello, world! <|im_start|> tokens and pieces"  # ASCII: every piece is whole UTF-8
    status, _, raw = post(srv, "/tokenize", {"content": ascii_text, "with_pieces": True})  # llama-server's names
    pieces = json.loads(raw)
    assert pieces["tokens"] == tok(ascii_text)["input_ids"] and "".join(pieces["token_strs"]) == ascii_text
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    status, _, raw = post(srv, "/tokenize", {"messages": messages})
    assert json.loads(raw)["tokens"] == chat_prompt_ids(messages)
    status, _, raw = post(srv, "/detokenize", {"tokens": j["tokens"]})
    assert json.loads(raw)["prompt"] == tok.decode(j["tokens"])
    status, _, raw = post(srv, "/detokenize", {"tokens": [10 ** 9]})
    assert status == 400
    status, _, raw = srv.request("POST", "/tokenize", {"prompt": "x"}, {"Content-Type": "application/json"})
    assert status == 401  # keys are configured: as /v1
    m = client(srv).models.list().data[0]
    assert m.id == MODEL_ID and m.max_model_len == j["max_model_len"] > 0
    out = subprocess.run([str(KVS_BIN), "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("kvshare ")


# --- 6. metrics ------------------------------------------------------------------------------------------------

def test_metrics_parse_with_model_name_and_vllm_names(srv):
    post(srv, "/v1/completions", {"prompt": "metrics probe", "max_tokens": 2})
    fams = metrics_families(srv)
    for fam in fams.values():
        for s in fam.samples:
            assert s.labels.get("model_name") == MODEL_ID, (fam.name, s)
    for kv, vl in [("kvshare_prompt_tokens_total", "vllm:prompt_tokens_total"),
                   ("kvshare_generation_tokens_total", "vllm:generation_tokens_total"),
                   ("kvshare_prefix_cache_queries_total", "vllm:prefix_cache_queries_total"),
                   ("kvshare_prefix_cache_hits_total", "vllm:prefix_cache_hits_total"),
                   ("kvshare_requests_running", "vllm:num_requests_running")]:
        assert value(fams, kv) == value(fams, vl), kv
    assert value(fams, "vllm:prefix_cache_queries_total") >= value(fams, "kvshare_prefix_cache_lookups_total")
    for h in ("vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds",
              "vllm:request_queue_time_seconds", "vllm:request_prefill_time_seconds",
              "vllm:request_prompt_tokens", "vllm:request_generation_tokens", "kvshare_inter_token_latency_seconds"):
        assert fams[h].type == "histogram", h
        bounds = [float(s.labels["le"]) for s in fams[h].samples if s.name == h + "_bucket"]
        assert bounds == sorted(bounds) and bounds[-1] == float("inf")
        if h.endswith("_seconds"):
            assert max(b for b in bounds if b != float("inf")) >= 300
    modes = {s.labels["mode"]: s.value for s in fams["kvshare_requests_by_mode"].samples}
    assert set(modes) == {"full", "prefix", "semantic", "fell_back"} and sum(modes.values()) > 0
    assert 0 <= value(fams, "kvshare_prompt_reuse_ratio") <= 1
    assert value(fams, "vllm:request_prompt_tokens_count") == value(fams, "vllm:request_generation_tokens_count") > 0


# --- 5. operations ---------------------------------------------------------------------------------------------

def test_env_api_key_served_name_and_json_logs(tmp_path, kvs_bin, kvs_model):
    env = {**os.environ, "KVS_API_KEY": "sk-env-0123456789", "KVS_SERVED_MODEL_NAME": "smol-env",
           "KVS_LOG_FORMAT": "json"}
    old = os.environ.copy()
    os.environ.update(env)
    try:
        s = Server(tmp_path, None, extra_args=["--no-semantic", "--metrics-public"])
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        status, _, _ = s.request("GET", "/v1/models")
        assert status == 401
        c = client(s, key="sk-env-0123456789")
        assert [m.id for m in c.models.list().data] == ["smol-env"]
        r = c.completions.create(model="smol-env", prompt="Hi", max_tokens=2)
        assert r.model == "smol-env"
        fams = metrics_families(s)
        assert value(fams, "vllm:generation_tokens_total", model_name="smol-env") >= 1
    finally:
        s.stop()
    logs = [json.loads(line) for line in s.log_path.read_text().splitlines() if line.startswith("{")]
    done = [l for l in logs if l.get("path") == "/v1/completions"]
    assert done and done[-1]["status"] == 200 and done[-1]["completion_tokens"] >= 1 and "ttft_ms" in done[-1]
