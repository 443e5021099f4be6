"""End-to-end tests of `kvshare serve` with the official OpenAI client and raw HTTP.

One server (module fixture) holds five tenants: acme and initech share the share domain "acme", globex has its own,
probe (its own domain) measures token counts, outsider (its own domain) sends a single request. Other servers are
started for the 429 and SIGTERM tests.
Outputs are compared under greedy decoding; cache effects are asserted on counters (usage, /metrics), never on time.
"""
import concurrent.futures as cf
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
from openai import OpenAI

from conftest import KVS_BIN, KVS_MODEL

KEYS = {"acme": "sk-acme-0123456789", "initech": "sk-initech-0123456789", "globex": "sk-globex-0123456789",
        "probe": "sk-probe-0123456789", "outsider": "sk-outsider-0123456789"}
OPERATOR_KEY = "sk-operator-0123456789"  # reads /metrics (a tenant's key may not)
CONFIG = {
    "limits": {"max_body_bytes": 1 << 20, "default_max_tokens": 32, "shutdown_grace_s": 30},
    "operator_keys": [OPERATOR_KEY],
    "tenants": [
        {"name": "acme", "api_keys": [KEYS["acme"]]},
        {"name": "initech", "api_keys": [KEYS["initech"]], "share_domain": "acme"},
        {"name": "globex", "api_keys": [KEYS["globex"]]},
        {"name": "probe", "api_keys": [KEYS["probe"]]},
        {"name": "outsider", "api_keys": [KEYS["outsider"]]},
    ],
}
BLOCK = 16
KV_MIB = 64  # ~1450 tokens of context for SmolLM2-135M: small, so the over-long prompt stays small too
# One compute thread by default: on a shared, oversubscribed 2-core box the pool's spin-waits make 2 threads ~10x
# slower per decode step than 1 (each of the step's many small jobs can wait a whole time slice).
THREADS = os.environ.get("KVS_SERVE_THREADS", "1")
# The engine's matmul is not batch-invariant yet: fewer than 4 rows take the row kernels, 4 or more the packed GEMM,
# and the two differ in the last bits (~1e-5), so a greedy near-tie can flip between a lone decode step and a batched
# one. Flip to True once the kernels agree bit for bit.
BATCH_INVARIANT_KERNELS = True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp_path, config=None, extra_args=(), name="server", model=None):
        self.port = free_port()
        args = [str(KVS_BIN), "serve", "--port", str(self.port), "--model", str(model or KVS_MODEL), "--kv-cache-mib",
                str(KV_MIB), "--threads", THREADS, *extra_args]
        if config is not None:
            cfg = tmp_path / f"{name}.json"
            cfg.write_text(json.dumps(config))
            args += ["--config", str(cfg)]
        self.log_path = tmp_path / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log_path.read_text()}")
            try:
                if self.request("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("server did not become healthy:\n" + self.log_path.read_text())
            time.sleep(0.2)

    def client(self, tenant="acme"):
        return OpenAI(base_url=f"http://127.0.0.1:{self.port}/v1", api_key=KEYS.get(tenant, "none"), max_retries=0,
                      timeout=300)

    def request(self, method, path, body=None, headers=None, timeout=300):
        """Raw HTTP: (status, headers, body bytes). body: bytes, str or a JSON-able object."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def post(self, path, body, tenant="acme", headers=None):
        h = {"Content-Type": "application/json"}
        if tenant is not None:
            h["Authorization"] = f"Bearer {KEYS[tenant]}"
        h.update(headers or {})
        return self.request("POST", path, body, h)

    def metrics(self):
        status, _, body = self.request("GET", "/metrics", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
        assert status == 200, body
        out = {}
        for line in body.decode().splitlines():
            m = re.match(r'^kvshare_([a-z_]+)\{model_name="[^"]*"\} ([0-9.eE+-]+)$', line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def wait_idle_pool(self, timeout=60):
        """Waits until no sequence runs or waits and every KV block is free again (cached blocks count as free)."""
        deadline = time.time() + timeout
        while True:
            m = self.metrics()
            if m["requests_running"] == 0 and m["requests_waiting"] == 0 and m["kv_blocks_free"] == m["kv_blocks_total"]:
                return m
            assert time.time() < deadline, f"KV pool not back to full: {m}"
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, kvs_bin, kvs_model):
    s = Server(tmp_path_factory.mktemp("srv"), CONFIG)
    yield s
    s.stop()


def chat_body(content, max_tokens=16, **kw):
    return {"model": MODEL_ID, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "temperature": 0, **kw}


MODEL_ID = KVS_MODEL.stem


def error_of(resp):
    status, headers, body = resp
    j = json.loads(body)
    assert set(j["error"]) >= {"message", "type", "param", "code"}, j
    return status, j["error"]


# --- basics ------------------------------------------------------------------------------------------------------

def test_health_and_models(server):
    assert server.request("GET", "/health")[0] == 200
    assert json.loads(server.request("GET", "/health")[2]) == {"status": "ok"}
    models = server.client().models.list()
    assert [m.id for m in models.data] == [MODEL_ID]
    assert server.client().models.retrieve(MODEL_ID).id == MODEL_ID


def test_chat_non_streaming_and_streaming_agree(server):
    c = server.client()
    msgs = [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "Name a color."}]
    r = c.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=16, temperature=0)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.model == MODEL_ID
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.choices[0].message.content
    assert r.usage.completion_tokens <= 16
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens

    chunks = list(c.chat.completions.create(model=MODEL_ID, messages=msgs, max_tokens=16, temperature=0, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == r.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == r.choices[0].finish_reason
    assert all(ch.usage is None for ch in chunks)
    assert len({ch.id for ch in chunks}) == 1


def test_stream_include_usage(server):
    c = server.client()
    chunks = list(c.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "Say hi."}],
                                            max_tokens=8, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert last.usage.prompt_tokens_details.cached_tokens >= 0
    assert all(ch.usage is None for ch in chunks[:-1])
    n_text_chunks = sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content)
    assert 1 <= last.usage.completion_tokens <= 8 and n_text_chunks <= last.usage.completion_tokens


def test_completions_non_streaming_and_streaming(server):
    c = server.client()
    r = c.completions.create(model=MODEL_ID, prompt="The capital of France is", max_tokens=12, temperature=0)
    assert r.object == "text_completion" and r.id.startswith("cmpl-")
    assert r.choices[0].text and r.choices[0].logprobs is None
    assert r.choices[0].finish_reason in ("stop", "length")
    chunks = list(c.completions.create(model=MODEL_ID, prompt="The capital of France is", max_tokens=12, temperature=0,
                                       stream=True, stream_options={"include_usage": True}))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == r.choices[0].text
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == r.usage.prompt_tokens


def test_stop_strings_and_seeded_sampling(server):
    c = server.client()
    r = c.completions.create(model=MODEL_ID, prompt="1, 2, 3, 4,", max_tokens=16, temperature=0, stop=[" 7"])
    assert " 7" not in r.choices[0].text
    a = c.completions.create(model=MODEL_ID, prompt="Once upon a time", max_tokens=12, temperature=0.9, seed=42)
    b = c.completions.create(model=MODEL_ID, prompt="Once upon a time", max_tokens=12, temperature=0.9, seed=42)
    assert a.choices[0].text == b.choices[0].text


# --- batching and the prefix cache --------------------------------------------------------------------------------

QUESTIONS = ["What is the capital of Italy?", "Name three fruits.", "What is 7 times 8?", "Describe the sea.",
             "Who wrote Hamlet?", "What color is the sky?", "Give me a synonym for happy.", "How many legs has a spider?",
             "What is water made of?", "Name a planet.", "What do bees make?", "Translate 'hello' to French.",
             "What is the opposite of cold?", "Count from one to five.", "What is a noun?", "Why do we sleep?"]


RUNS = {}  # question list -> answers, shared by the two tests below


def test_concurrent_requests_all_complete(server):
    c = server.client("globex")

    def ask(q):
        r = c.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": q}], max_tokens=16,
                                      temperature=0)
        assert r.choices[0].finish_reason in ("stop", "length") and r.choices[0].message.content
        return r.choices[0].message.content

    RUNS["sequential"] = [ask(q) for q in QUESTIONS]
    with cf.ThreadPoolExecutor(len(QUESTIONS)) as ex:
        RUNS["concurrent"] = list(ex.map(ask, QUESTIONS))
    server.wait_idle_pool()


@pytest.mark.xfail(not BATCH_INVARIANT_KERNELS, strict=False,
                   reason="engine matmul: row kernels (m<4) and GEMM (m>=4) are not bitwise equal per row")
def test_concurrent_greedy_equals_sequential(server):
    assert RUNS, "needs test_concurrent_requests_all_complete"
    for q, a, b in zip(QUESTIONS, RUNS["sequential"], RUNS["concurrent"]):
        assert a == b, f"{q!r}: sequential {a!r} != concurrent {b!r}"


SYSTEM = ("You are the support assistant of the Example Widget Company. Policy: be polite, answer in at most two "
          "sentences, never promise refunds, refer billing questions to billing@example.com, and mention the order "
          "number when the customer gives one. Our widgets come in red, green and blue; shipping takes three to five "
          "business days inside the country and two weeks abroad. Returns are accepted within thirty days.")


def test_prefix_cache_reuse_and_share_domains(server):
    # Tokens of the shared prefix (system turn + the user turn's opener), measured in a domain nobody else uses.
    prefix = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
    status, _, body = server.post("/v1/completions", {"prompt": prefix, "max_tokens": 1, "temperature": 0}, "probe")
    assert status == 200, body
    shared = json.loads(body)["usage"]["prompt_tokens"]
    full_blocks = shared // BLOCK * BLOCK
    assert full_blocks >= 3 * BLOCK, f"the shared prefix must span at least 3 full blocks, has {shared} tokens"

    # Exact prefix caching on its own (kvshare.mode = prefix): with the default auto mode the planner may serve
    # these prompts semantically (same system prompt, similar wording), which the last request below checks.
    def ask(tenant, question, mode="prefix"):
        before = server.metrics()["computed_prompt_tokens_total"]
        status, _, body = server.post("/v1/chat/completions", {
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
            "max_tokens": 4, "temperature": 0, "kvshare": {"mode": mode}}, tenant)
        assert status == 200, body
        usage = json.loads(body)["usage"]
        after = server.metrics()["computed_prompt_tokens_total"]
        return usage, after - before

    first, computed = ask("acme", "Which colors do widgets come in?")
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert computed == first["prompt_tokens"]

    second, computed = ask("acme", "How long does shipping take?")
    cached = second["prompt_tokens_details"]["cached_tokens"]
    assert cached >= full_blocks, (cached, full_blocks)
    assert cached % BLOCK == 0
    assert computed == second["prompt_tokens"] - cached  # only the rest went through the model

    # initech declared the share domain "acme": it hits acme's blocks.
    third, computed = ask("initech", "Can I return a widget?")
    assert third["prompt_tokens_details"]["cached_tokens"] >= full_blocks
    assert computed == third["prompt_tokens"] - third["prompt_tokens_details"]["cached_tokens"]

    # globex is another share domain: the very same prompt reuses nothing.
    other, computed = ask("globex", "How long does shipping take?")
    assert other["prompt_tokens"] == second["prompt_tokens"]
    assert other["prompt_tokens_details"]["cached_tokens"] == 0
    assert computed == other["prompt_tokens"]

    # The default (auto) mode reuses at least the exact prefix blocks, and computes only what it did not reuse.
    auto, computed = ask("acme", "Do you ship to Canada?", mode="auto")
    assert auto["prompt_tokens_details"]["cached_tokens"] >= full_blocks
    assert computed == auto["prompt_tokens"] - auto["prompt_tokens_details"]["cached_tokens"]


# --- bad input ----------------------------------------------------------------------------------------------------

def test_auth_errors(server):
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": "Basic " + KEYS["acme"]}):
        status, err = error_of(server.request("POST", "/v1/chat/completions", chat_body("hi"),
                                              {"Content-Type": "application/json", **headers}))
        assert status == 401 and err["code"] == "invalid_api_key" and err["type"] == "invalid_request_error"
    status, err = error_of(server.request("GET", "/v1/models"))
    assert status == 401
    # The official client surfaces it as AuthenticationError.
    import openai
    with pytest.raises(openai.AuthenticationError):
        server.client("nobody").chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "x"}],
                                                        max_tokens=1)


@pytest.mark.parametrize("body,param", [
    ({"messages": "hello", "max_tokens": 4}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": "4"}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
    ({"messages": [{"role": "user", "content": "x"}], "n": 17}, "n"),
    ({"messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop[0]"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": "x"}], "frequency_penalty": 1.0}, "frequency_penalty"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "tools"),
    ({"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": True}}, "stream_options"),
    ({"messages": [{"role": "user", "content": "x"}], "kvshare": {"deviation": "magic"}}, "kvshare.deviation"),
    ({"messages": [{"role": "user", "content": "x"}], "kvshare": {"deviation": 1}}, "kvshare.deviation"),
])
def test_invalid_requests_are_400(server, body, param):
    status, err = error_of(server.post("/v1/chat/completions", body))
    assert status == 400, err
    assert err["param"] == param and err["type"] == "invalid_request_error"


def test_malformed_bodies(server):
    for raw in (b"{not json", b"", b"[1, 2]", b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}',
                b'{"messages": [{"role": "user", "content": "\\ud800"}]}'):
        status, err = error_of(server.post("/v1/chat/completions", raw))
        assert status == 400, (raw, err)
    status, err = error_of(server.post("/v1/completions", b'{"prompt": "caf\xc3"}'))
    assert status == 400 and "UTF-8" in err["message"]


def test_unknown_model_route_and_method(server):
    status, err = error_of(server.post("/v1/chat/completions", {**chat_body("x"), "model": "gpt-9"}))
    assert status == 404 and err["code"] == "model_not_found"
    status, err = error_of(server.request("GET", "/v1/models/gpt-9", headers={"Authorization": f"Bearer {KEYS['acme']}"}))
    assert status == 404 and err["code"] == "model_not_found"
    status, err = error_of(server.request("GET", "/v1/nothing"))
    assert status == 404
    status, err = error_of(server.request("GET", "/v1/chat/completions"))
    assert status == 405


def test_prompt_longer_than_context(server):
    status, err = error_of(server.post("/v1/completions", {"prompt": "hello " * 3000, "max_tokens": 4}))
    assert status == 400 and err["code"] == "context_length_exceeded"
    status, err = error_of(server.post("/v1/chat/completions", chat_body("word " * 3000)))
    assert status == 400 and err["code"] == "context_length_exceeded" and err["param"] == "messages"


def test_body_too_large(server):
    body = json.dumps({"prompt": "x" * (2 << 20)}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.putrequest("POST", "/v1/completions")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Authorization", f"Bearer {KEYS['acme']}")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    try:  # the server answers from the headers alone and may close before reading the body
        conn.send(body)
    except OSError:
        pass
    r = conn.getresponse()
    assert r.status == 413
    assert json.loads(r.read())["error"]["code"] == "request_too_large"
    conn.close()


# --- cancellation --------------------------------------------------------------------------------------------------

def open_stream(server, body, tenant="acme"):
    """Starts a streaming request on a raw socket and returns it after the first SSE event arrived."""
    payload = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=120)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + f"Authorization: Bearer {KEYS[tenant]}\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
    got = b""
    while b"data: " not in got:
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    assert got.startswith(b"HTTP/1.1 200"), got
    return s, got


def test_client_disconnect_cancels_stream(server):
    before = server.metrics()
    s, _ = open_stream(server, {**chat_body("Tell me a very long story about dragons.", max_tokens=400),
                                "stream": True, "ignore_eos": True})
    s.close()
    deadline = time.time() + 60
    while server.metrics()["requests_cancelled_total"] <= before["requests_cancelled_total"]:
        assert time.time() < deadline, "the disconnected stream was not cancelled"
        time.sleep(0.1)
    m = server.wait_idle_pool()
    assert m["generation_tokens_total"] - before["generation_tokens_total"] < 400


def test_no_leaked_blocks_and_still_serving(server):
    """Runs after the load, error and cancellation tests above (pytest keeps file order)."""
    m = server.wait_idle_pool()
    assert m["kv_blocks_free"] == m["kv_blocks_total"] > 0
    assert m["requests_failed_total"] == 0
    r = server.client().chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "Hi!"}],
                                                max_tokens=4, temperature=0)
    assert r.choices[0].finish_reason in ("stop", "length")
    status, _, body = server.request("GET", "/metrics", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
    text = body.decode()
    for name in ("kvshare_time_to_first_token_seconds_bucket", "kvshare_inter_token_latency_seconds_count",
                 "kvshare_e2e_request_latency_seconds_sum", "kvshare_kv_cache_usage_ratio",
                 "kvshare_prefix_cache_hits_total", "kvshare_semantic_hits_total", "kvshare_requests_waiting"):
        assert name in text, name


# --- other servers: queue limit, open mode, SIGTERM ----------------------------------------------------------------

def test_queue_full_is_429_with_retry_after(tmp_path, kvs_bin, kvs_model):
    s = Server(tmp_path, CONFIG, ["--max-waiting", "1"], name="q1")
    try:
        def fire(i):
            return s.post("/v1/completions", {"prompt": f"Story number {i}:", "max_tokens": 8, "temperature": 0})

        results = []
        for _ in range(5):  # rounds of concurrent requests until one is refused
            with cf.ThreadPoolExecutor(12) as ex:
                results += list(ex.map(fire, range(12)))
            if any(r[0] == 429 for r in results):
                break
        statuses = [r[0] for r in results]
        assert 429 in statuses, statuses
        assert set(statuses) <= {200, 429}, statuses
        refused = next(r for r in results if r[0] == 429)
        assert int(refused[1]["Retry-After"]) >= 1
        assert json.loads(refused[2])["error"]["code"] == "rate_limit_exceeded"
        m = s.wait_idle_pool()
        assert m["requests_rejected_total"] >= statuses.count(429)
        assert fire(99)[0] == 200  # still serving
    finally:
        s.stop()


def test_open_server_without_config(tmp_path, kvs_bin, kvs_model):
    s = Server(tmp_path, None, name="open")
    try:
        status, _, body = s.post("/v1/completions", {"prompt": "Hello", "max_tokens": 2}, tenant=None)
        assert status == 200, body
        assert "OPEN" in s.log_path.read_text()
    finally:
        s.stop()


def test_sigterm_finishes_inflight_request_then_exits_0(tmp_path, kvs_bin, kvs_model):
    s = Server(tmp_path, CONFIG, name="term")
    sock, got = open_stream(s, {**chat_body("Write a poem about autumn.", max_tokens=24), "stream": True,
                                "ignore_eos": True})
    s.proc.send_signal(signal.SIGTERM)
    # While draining: health is 503 and new work is refused, the in-flight stream runs to its end.
    deadline = time.time() + 10
    while True:
        try:
            if s.request("GET", "/health", timeout=5)[0] == 503:
                break
        except OSError:
            break  # already gone: the stream must still have completed (checked below)
        assert time.time() < deadline
        time.sleep(0.05)
    try:  # new work is refused while draining (unless the server is already gone)
        status, err = error_of(s.post("/v1/completions", {"prompt": "x", "max_tokens": 1}))
        assert status == 503 and err["type"] == "server_error"
    except OSError:
        pass
    sock.settimeout(120)
    while not got.endswith(b"0\r\n\r\n"):  # the last chunk of the chunked body
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    sock.close()
    events = [json.loads(line[6:]) for line in got.decode().split("\n") if line.startswith("data: {")]
    assert events[-1]["choices"][0]["finish_reason"] == "length", events[-1]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text
    assert b"data: [DONE]" in got
    assert s.proc.wait(timeout=30) == 0
    s.stop()
    log = s.log_path.read_text()
    assert "SIGTERM received" in log and "stopped" in log


PASSAGE = ("Asthma is a chronic disease of the airways that carry air to and from the lungs. In people with asthma the "
           "inside walls of the airways are inflamed and swollen, which makes them very sensitive. When the airways "
           "react, the muscles around them tighten and less air flows into the lungs. Common symptoms include "
           "wheezing, coughing, chest tightness and shortness of breath, often worse at night or early in the "
           "morning. Triggers include allergens, smoke, cold air, exercise and respiratory infections. Treatment "
           "combines long-term control medicines such as inhaled corticosteroids with quick-relief inhalers.")


def test_semantic_sharing_report_and_share_domains(server):
    """A paraphrased RAG-style request of the same share domain reuses the donor's KV (report + cached_tokens);
    the same request from another share domain never sees that donor."""
    def ask(preamble, question, tenant, **share):
        body = chat_body(f"{preamble}\nReference passage:\n{PASSAGE}\nQuestion: {question}", max_tokens=8,
                         temperature=0, kvshare={"report": True, **share})
        status, _, raw = server.post("/v1/chat/completions", body, tenant=tenant)
        assert status == 200, raw
        return json.loads(raw)

    donor = ask("User profile: nurse in Lyon.", "What are the symptoms of asthma?", "probe")
    assert donor["kvshare"]["mode"] in ("full", "prefix")
    shared = ask("User profile: retired teacher in Ohio, likes short answers.", "Which signs show asthma?", "probe")
    rep = shared["kvshare"]
    assert rep["mode"] == "semantic", rep
    # The passage repeats the donor's verbatim: found by its shared token runs, before any embedding (run
    # retrieval, on by default), so no similarity was measured.
    assert rep["donor_retrieval"] == "runs" and "donor_similarity" not in rep, rep
    assert rep["reused_tokens"] + rep["recomputed_tokens"] == rep["total_tokens"] == shared["usage"]["prompt_tokens"]
    assert shared["usage"]["prompt_tokens_details"]["cached_tokens"] == rep["reused_tokens"] > rep["total_tokens"] // 2
    # outsider's share domain has never sent a request: the very same prompt finds neither the donor nor any block.
    other = ask("User profile: retired teacher in Ohio, likes short answers.", "Which signs show asthma?", "outsider")
    assert other["kvshare"]["mode"] != "semantic"
    assert other["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    # globex has its own earlier requests (their chat-template opening may be cached in its domain), never probe's.
    other = ask("User profile: retired teacher in Ohio, likes short answers.", "Which signs show asthma?", "globex")
    assert other["kvshare"]["mode"] != "semantic"
    assert other["usage"]["prompt_tokens_details"]["cached_tokens"] <= BLOCK * 2 < rep["reused_tokens"]
    # CacheBlend's K/V-deviation scorer, per request: the same donor, its own ranking of the reused tokens.
    kv = ask("User profile: pharmacist in Porto, wants plain language.", "Which signs show asthma?", "probe",
             deviation="kv")["kvshare"]
    assert kv["mode"] == "semantic", kv
    assert kv["deviation"] == "kv" and rep["deviation"] == "attn-v"  # the server's default ranks by attention
    assert kv["reused_tokens"] + kv["recomputed_tokens"] == kv["total_tokens"]
    # Opting out per request.
    full = server.post("/v1/chat/completions", chat_body("Which signs show asthma?", max_tokens=4,
                                                         kvshare={"mode": "full", "report": True}), tenant="probe")
    assert full[0] == 200 and json.loads(full[2])["kvshare"]["mode"] == "full"
    status, err = error_of(server.post("/v1/chat/completions", chat_body("hi", kvshare={"mode": "magic"})))
    assert status == 400


# --- error boundary ----------------------------------------------------------------------------------------------

def test_injected_faults_fail_only_their_request(tmp_path, kvs_bin, kvs_model):
    """A fault while serving one request (an hnswlib-style exception in the donor search, bad_alloc at admission, a
    failed forward) fails that request with HTTP 500 and a clear message; concurrent and later requests are served."""
    import openai

    faults = ["search:throw:BOOM-SEARCH", "admit:oom:BOOM-ADMIT", "forward:status:BOOM-FORWARD"]
    s = Server(tmp_path, CONFIG, [a for f in faults for a in ("--inject-fault", f)], name="faults")
    try:
        c = s.client()
        for marker, expect in [("BOOM-SEARCH", "injected fault at search"), ("BOOM-ADMIT", "out of memory"),
                               ("BOOM-FORWARD", "injected fault at forward")]:
            # A healthy streaming request runs while the faulty one fails beside it.
            with cf.ThreadPoolExecutor(2) as ex:
                healthy = ex.submit(lambda: c.chat.completions.create(
                    model=MODEL_ID, messages=[{"role": "user", "content": "Tell me about the heart."}], max_tokens=24,
                    temperature=0, extra_body={"ignore_eos": True}))
                with pytest.raises(openai.InternalServerError) as ei:
                    c.chat.completions.create(model=MODEL_ID, temperature=0, max_tokens=8,
                                              messages=[{"role": "user", "content": f"{marker}: what is asthma?"}])
                ok = healthy.result(timeout=300)
            assert ei.value.status_code == 500
            assert expect in str(ei.value), str(ei.value)
            assert ok.choices[0].finish_reason == "length" and ok.usage.completion_tokens == 24
        # Mid-stream (headers already sent): the stream carries the error event.
        status, _, body = s.post("/v1/chat/completions", {**chat_body("BOOM-FORWARD again", max_tokens=4),
                                                          "stream": True})
        assert status == 200
        assert b"injected fault at forward" in body and b'"server_error"' in body
        m = s.wait_idle_pool()
        assert m["requests_failed_total"] >= 4
        r = c.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "Hello"}], max_tokens=4)
        assert r.choices[0].message.content  # still serving
        assert s.proc.poll() is None
        assert "failed in" in s.log_path.read_text()  # logged
    finally:
        s.stop()


@pytest.mark.parametrize("args,needle", [(["--blend-layer", "0"], "blend_layer"),
                                         (["--blend-layer", "999"], "blend_layer"),
                                         (["--inject-fault", "nowhere:throw:X"], "unknown fault point")])
def test_bad_engine_flags_exit_2_with_a_message(tmp_path, kvs_bin, kvs_model, args, needle):
    r = subprocess.run([str(KVS_BIN), "serve", "--port", "0", "--model", str(KVS_MODEL), *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
