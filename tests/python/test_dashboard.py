"""The dashboard at /dashboard against a running `kvshare serve`: the request log's access rules (an operator sees
every request with its tenant; a tenant's key only its own, never another tenant's prompt), the sharing view checked
against the reference tokenizer, the page's assets (embedded, nothing from another origin), and the page itself in
headless Chromium (Debian's `chromium`): the charts got data points, the sharing view drew coloured tokens, and
screenshots are saved (to $KVS_SCREENSHOT_DIR when set, e.g. docs/img, else the test's temporary folder)."""
import html.parser
import json
import os
import pathlib
import shutil
import struct
import subprocess
import zlib

import pytest

from conftest import ROOT, reference_tokenizer
from test_server import Server, chat_body

OPERATOR = "sk-dash-operator-0123456789"
KEYS = {"alice": "sk-dash-alice-0123456789", "bob": "sk-dash-bob-0123456789", "zoe": "sk-dash-zoe-0123456789"}
CONFIG = {
    "limits": {"default_max_tokens": 8},
    "operator_keys": [OPERATOR],
    "tenants": [
        {"name": "alice", "api_keys": [KEYS["alice"]], "share_domain": "clinic"},
        {"name": "bob", "api_keys": [KEYS["bob"]], "share_domain": "clinic"},
        {"name": "zoe", "api_keys": [KEYS["zoe"]]},
    ],
}
QUESTION = "What are the symptoms of Graves disease ? I feel tired and my heart races at night, and my hands shake."
PARAPHRASE = "Which symptoms does Graves disease cause? I feel tired and my heart races at night, and my hands shake."
OTHER = "How is asthma diagnosed in children?"
ASSETS = ROOT / "src" / "server" / "dashboard" / "assets"
WINDOW = (1400, 1000)


@pytest.fixture(scope="module")
def srv(tmp_path_factory, kvs_bin, kvs_model):
    s = Server(tmp_path_factory.mktemp("dashboard"), CONFIG, name="dashboard")
    try:
        s.ids = {}
        for tenant, text, share in (("alice", QUESTION, {}), ("bob", PARAPHRASE, {"mode": "semantic"}),
                                    ("zoe", OTHER, {})):
            status, _, raw = s.request("POST", "/v1/chat/completions",
                                       chat_body(text, max_tokens=6, kvshare={"report": True, **share}),
                                       {"Content-Type": "application/json", "Authorization": f"Bearer {KEYS[tenant]}"})
            assert status == 200, raw
            resp = json.loads(raw)
            s.ids[tenant] = resp["id"]
            if tenant == "bob":
                assert resp["kvshare"]["mode"] == "semantic", resp["kvshare"]
                s.bob_report = resp["kvshare"]
        yield s
    finally:
        s.stop()


def get(srv, path, key=None):
    status, headers, body = srv.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
    return status, headers, body


def get_json(srv, path, key=None, expect=200):
    status, _, body = get(srv, path, key)
    assert status == expect, (path, status, body[:300])
    return json.loads(body)


def test_request_log_needs_a_key_and_shows_a_tenant_only_its_own(srv):
    assert get(srv, "/dashboard/api/requests")[0] == 401
    assert get(srv, "/dashboard/api/requests", "sk-not-a-key")[0] == 401
    everything = get_json(srv, "/dashboard/api/requests", OPERATOR)["data"]
    assert [r["id"] for r in everything] == [srv.ids["zoe"], srv.ids["bob"], srv.ids["alice"]]  # newest first
    assert [r["tenant"] for r in everything] == ["zoe", "bob", "alice"]
    for tenant in KEYS:
        own = get_json(srv, "/dashboard/api/requests", KEYS[tenant])["data"]
        assert [r["id"] for r in own] == [srv.ids[tenant]]
        assert "tenant" not in own[0]
    # Another tenant's request does not exist for a tenant's key, even in the same share domain.
    for viewer, owner in (("bob", "alice"), ("alice", "bob"), ("zoe", "bob")):
        assert get(srv, f"/dashboard/api/requests/{srv.ids[owner]}", KEYS[viewer])[0] == 404
    assert get(srv, f"/dashboard/api/requests/{srv.ids['alice']}")[0] == 401
    assert get(srv, "/dashboard/api/requests?limit=x", OPERATOR)[0] == 400
    # Bob sees his own sharing view, but his donor is Alice's prompt: classes only, no text.
    mine = get_json(srv, f"/dashboard/api/requests/{srv.ids['bob']}", KEYS["bob"])
    assert mine["donor"] and not mine["donor_text_shown"]
    assert all("piece" not in t for t in mine["donor"])
    assert "donor_request_id" not in mine and "tenant" not in mine
    assert all("piece" in t for t in mine["prompt"])
    # Aggregate counts are the operator's (as /metrics).
    assert get(srv, "/dashboard/api/stats")[0] == 401
    assert get(srv, "/dashboard/api/stats", KEYS["bob"])[0] == 403
    stats = get_json(srv, "/dashboard/api/stats", OPERATOR)
    now, samples = stats["now"], stats["samples"]
    assert now["requests_finished"] >= 3 and now["semantic_hits"] >= 1 and now["kv_blocks_total"] > 0
    times = [x["unix_ms"] for x in samples]
    assert times and times == sorted(set(times)) and times[-1] <= now["unix_ms"]
    assert samples[0]["requests_finished"] == 0  # sampled since the server started, before any request
    later = get_json(srv, f"/dashboard/api/stats?since={times[-1]}", OPERATOR)["samples"]
    assert all(x["unix_ms"] > times[-1] for x in later)
    assert get(srv, "/dashboard/api/stats?since=yesterday", OPERATOR)[0] == 400


def chat_text(tok, content):
    return tok.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)


def test_sharing_view_matches_the_reference_tokenizer(srv):
    v = get_json(srv, f"/dashboard/api/requests/{srv.ids['bob']}", OPERATOR)
    assert v["mode"] == "semantic" and v["tenant"] == "bob" and v["donor_text_shown"]
    assert v["donor_request_id"] == srv.ids["alice"]
    tok = reference_tokenizer()
    prompt_text, donor_text = chat_text(tok, PARAPHRASE), chat_text(tok, QUESTION)
    prompt_ids = tok.encode(prompt_text, add_special_tokens=False)
    donor_ids = tok.encode(donor_text, add_special_tokens=False)
    # The pieces are the tokens of the two prompts as the reference tokenizer cuts them.
    assert "".join(t["piece"] for t in v["prompt"]) == prompt_text
    assert len(v["prompt"]) == len(prompt_ids)
    assert donor_text.startswith("".join(t["piece"] for t in v["donor"]))
    assert len(v["donor"]) <= len(donor_ids)
    for i, t in enumerate(v["prompt"]):
        if "src" in t:  # reused KV: the same token of the donor, and the shift is the position difference
            assert t["cls"] in ("reused", "moved", "recomputed"), t
            assert prompt_ids[i] == donor_ids[t["src"]], (i, t)
            assert t["shift"] == i - t["src"]
            assert (t["cls"] == "moved") == (t["shift"] != 0) or t["cls"] == "recomputed"
            assert v["donor"][t["src"]]["dst"] == i
        else:
            assert t["cls"] == "inserted", t
    for j, t in enumerate(v["donor"]):
        assert (t["cls"] == "deleted") == ("dst" not in t), (j, t)
    # The view's classes agree with the response's sharing report (counted by the blend, a separate path).
    c = v["counts"]["prompt"]
    rep = srv.bob_report
    assert c["reused"] + c["moved"] == rep["reused_tokens"]
    assert c["inserted"] + c["recomputed"] == rep["recomputed_tokens"]
    assert c["recomputed"] >= 1  # the last token at least
    assert v["edit_script"] == rep["edit_script"]
    assert v["ttft_ms"] > 0


def test_page_and_assets_are_embedded_and_local(srv):
    status, headers, body = get(srv, "/dashboard")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert body == (ASSETS / "index.html").read_bytes()
    for f in sorted(ASSETS.iterdir()):
        status, _, served = get(srv, f"/dashboard/assets/{f.name}")
        assert status == 200 and served == f.read_bytes(), f.name
        text = served.decode()
        for scheme in ("http://", "https://"):
            rest = text.replace("http://www.w3.org/2000/svg", "")
            assert scheme not in rest, f"{f.name} refers to another origin"
    assert get(srv, "/dashboard/assets/nope.js")[0] == 404
    assert get(srv, "/dashboard/assets/..%2Fconfig.cpp")[0] == 404


class DomScan(html.parser.HTMLParser):
    """Collects the elements the test looks for in Chromium's serialised DOM."""

    def __init__(self):
        super().__init__()
        self.charts, self.tokens, self.rows, self.sharing, self.series_max = {}, [], 0, {}, {}
        self._in_tbody, self._chart = False, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "data-chart" in a:
            self._chart = a["data-chart"]
            self.charts[self._chart] = int(a.get("data-points", "0"))
        if tag == "path" and "series" in a.get("class", "").split():
            self.series_max[(self._chart, a["data-series"])] = float(a["data-max"])
        if tag == "span" and "tok" in a.get("class", "").split():
            self.tokens.append((a.get("data-side"), [c for c in a["class"].split() if c.startswith("c-")]))
        if tag == "div" and a.get("id") == "sharing":
            self.sharing = a
        if tag == "tbody":
            self._in_tbody = True
        if tag == "tr" and self._in_tbody:
            self.rows += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_tbody = False


def chromium(tmp_path, url, *args):
    exe = shutil.which("chromium")
    assert exe, "chromium not installed: run scripts/install_deps.sh (Debian package chromium)"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
           "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
           "--virtual-time-budget=6000", *args, url]
    r = subprocess.run(cmd, capture_output=True, timeout=180)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    return r.stdout.decode(errors="replace")


def png_pixels(path):
    """(width, height, set of RGB colours) of an 8-bit RGB/RGBA PNG (what Chromium writes), decoded here."""
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw, stride, prev, colours = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set()
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            colours.update(bytes(line[x:x + 3]) for x in range(0, stride, bpp * 2))
        prev = line
    return w, h, colours


def has_colour(colours, hex_rgb, tol=6):
    want = bytes.fromhex(hex_rgb)
    return any(all(abs(p[k] - want[k]) <= tol for k in range(3)) for p in colours)


def test_dashboard_renders_in_headless_chromium(srv, tmp_path):
    base = f"http://127.0.0.1:{srv.port}/dashboard#key={OPERATOR}&poll=500"
    dom = DomScan()
    dom.feed(chromium(tmp_path, base, "--dump-dom"))
    # Every chart got data points: several polls of the stats, and the three requests' TTFTs.
    assert set(dom.charts) == {"throughput", "ttft", "rates", "kv"}, dom.charts
    assert dom.charts["ttft"] == 3 and dom.charts["throughput"] >= 2, dom.charts
    assert dom.charts["rates"] >= 8 and dom.charts["kv"] >= 4, dom.charts  # >= 2 samples of 4 and 2 series
    # The server's samples from before the page opened hold the three requests: tokens were generated, and the
    # semantic hit rate (1 of the searches) and reuse are above zero.
    assert dom.series_max[("throughput", "generated")] > 0, dom.series_max
    assert dom.series_max[("rates", "semantic hit")] > 0 and dom.series_max[("rates", "semantic reuse")] > 0
    assert dom.rows == 3
    # The sharing view follows the newest semantic request (Bob's) and colours both sides.
    assert dom.sharing.get("data-request") == srv.ids["bob"] and dom.sharing.get("data-mode") == "semantic"
    prompt = [c[0] for side, c in dom.tokens if side == "prompt"]
    donor = [c[0] for side, c in dom.tokens if side == "donor"]
    v = get_json(srv, f"/dashboard/api/requests/{srv.ids['bob']}", OPERATOR)
    assert prompt == ["c-" + t["cls"] for t in v["prompt"]]
    assert donor == ["c-" + t["cls"] for t in v["donor"]]
    assert {"c-reused", "c-recomputed"} <= set(prompt) and "c-inserted" in prompt

    out = pathlib.Path(os.environ.get("KVS_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "dashboard.png"
    chromium(tmp_path, base, f"--screenshot={shot}")
    w, h, colours = png_pixels(shot)
    assert (w, h) == WINDOW
    assert len(colours) > 50, "the screenshot is (nearly) blank"
    view = out / "sharing_view.png"
    chromium(tmp_path, f"{base}&focus=sharing&req={srv.ids['bob']}", f"--screenshot={view}")
    w, h, colours = png_pixels(view)
    assert (w, h) == WINDOW
    # The token classes' colours (dashboard.css) are on the picture: reused, inserted and recomputed tokens.
    for name, rgb in (("reused", "c8e6c9"), ("inserted", "ffe0b2"), ("recomputed", "e1bee7")):
        assert has_colour(colours, rgb), f"no {name} token colour in {view}"
    print(f"screenshots: {shot} {view}")
