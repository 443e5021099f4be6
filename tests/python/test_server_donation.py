"""The donation policy over HTTP: a prompt with a secret lends only the KV before it (its report says how many
tokens, checked against the reference tokenizer), a paraphrase from another user of the same share domain reuses
no more than that and never sees the secret, and a tenant or a request that opts out lends nothing."""
import json
import re

import pytest

from conftest import reference_tokenizer
from test_server import MODEL_ID, Server, chat_body

KEYS = {"desk": "sk-desk-0123456789", "clinic": "sk-clinic-0123456789"}
CONFIG = {
    "limits": {"default_max_tokens": 16},
    "tenants": [
        {"name": "desk", "api_keys": [KEYS["desk"]]},
        {"name": "clinic", "api_keys": [KEYS["clinic"]], "donate": False},
    ],
}
SECRET = "Zorblat Quixley"
QUESTION = ("What are the symptoms of Graves disease ? I feel tired and my heart races at night, and my hands "
            "shake. My name is " + SECRET + ", my phone is 555-013-2487.")
PARAPHRASE = "Which symptoms does Graves disease cause? I feel tired and my heart races at night, and my hands shake."


@pytest.fixture(scope="module")
def srv(tmp_path_factory, kvs_bin, kvs_model):
    s = Server(tmp_path_factory.mktemp("donation"), CONFIG, name="donation")
    yield s
    s.stop()


def ask(srv, tenant, content, max_tokens=16, **share):
    status, _, raw = srv.request("POST", "/v1/chat/completions",
                                 chat_body(content, max_tokens=max_tokens, kvshare={"report": True, **share}),
                                 {"Content-Type": "application/json", "Authorization": f"Bearer {KEYS[tenant]}"})
    assert status == 200, raw
    return json.loads(raw)


def donor_side_tokens(script):
    """Kept and deleted tokens of an edit script ("K27 D3 I5 K8(+3)") come from the donor."""
    return sum(int(n) for op, n in re.findall(r"([KDI])(\d+)", script) if op in "KD")


def test_a_secret_is_never_lent(srv):
    donor = ask(srv, "desk", QUESTION, max_tokens=4)
    rep = donor["kvshare"]
    assert rep["donation_limit"] == "name", rep
    # Independent check: the reference tokenizer's ids of the same chat prompt; the limit is the first token whose
    # text reaches the secret.
    tok = reference_tokenizer()
    text = tok.apply_chat_template([{"role": "user", "content": QUESTION}], add_generation_prompt=True, tokenize=False)
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) == donor["usage"]["prompt_tokens"]
    first = next(i for i in range(len(ids)) if "Z" in tok.decode(ids[: i + 1]))
    assert rep["shareable_tokens"] == first

    shared = ask(srv, "desk", PARAPHRASE, max_tokens=24, mode="semantic")
    srep = shared["kvshare"]
    assert srep["mode"] == "semantic", srep
    assert srep["reused_tokens"] > 16
    assert donor_side_tokens(srep["edit_script"]) <= first, srep
    text = shared["choices"][0]["message"]["content"]
    for piece in ("Zorblat", "Quixley", "555-013", "2487"):
        assert piece not in text, text
    # The identical prompt again reuses the prefix cache only up to the secret.
    again = ask(srv, "desk", QUESTION, max_tokens=2)
    assert 0 < again["usage"]["prompt_tokens_details"]["cached_tokens"] <= first


def test_system_prompts_are_not_screened(srv):
    """A system prompt is the application's text: its support address does not stop the prompt from lending."""
    body = {"model": MODEL_ID, "max_tokens": 2, "temperature": 0, "kvshare": {"report": True},
            "messages": [{"role": "system", "content": "You answer for the clinic; write to help@clinic.example.org."},
                         {"role": "user", "content": "How is asthma diagnosed?"}]}
    status, _, raw = srv.request("POST", "/v1/chat/completions", body,
                                 {"Content-Type": "application/json", "Authorization": f"Bearer {KEYS['desk']}"})
    assert status == 200, raw
    assert "shareable_tokens" not in json.loads(raw)["kvshare"]
    body["messages"][1]["content"] = "How is asthma diagnosed? Reach me at ana.ruiz@example.org."
    status, _, raw = srv.request("POST", "/v1/chat/completions", body,
                                 {"Content-Type": "application/json", "Authorization": f"Bearer {KEYS['desk']}"})
    assert json.loads(raw)["kvshare"]["donation_limit"] == "email"


def test_tenant_and_request_opt_out(srv):
    a = ask(srv, "clinic", "What are the symptoms of Graves disease ?", max_tokens=2)
    assert a["kvshare"]["shareable_tokens"] == 0 and a["kvshare"]["donation_limit"] == "opt-out"
    b = ask(srv, "clinic", "What are the signs and symptoms of Graves disease?", max_tokens=2)
    assert b["kvshare"]["mode"] != "semantic"
    assert b["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    # A request may opt out where its tenant lends ...
    c = ask(srv, "desk", "How is asthma treated in children?", max_tokens=2, donate=False)
    assert c["kvshare"]["shareable_tokens"] == 0
    # ... but never opt in where its tenant does not.
    d = ask(srv, "clinic", "How is asthma treated in adults?", max_tokens=2, donate=True)
    assert d["kvshare"]["shareable_tokens"] == 0
    status, _, raw = srv.request("POST", "/v1/chat/completions", chat_body("hi", kvshare={"donate": "no"}),
                                 {"Content-Type": "application/json", "Authorization": f"Bearer {KEYS['desk']}"})
    assert status == 400 and b"kvshare.donate" in raw
