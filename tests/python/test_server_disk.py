"""The disk tier over HTTP (`kvshare serve --disk-cache DIR`): a donor written before a restart (clean stop or
kill -9 during the writes) serves a paraphrase after it as a semantic hit whose blocks come from tier "disk", with
the same bits as when the donor was in RAM; truncated, bit-flipped and other-model segments are detected and
skipped: the server starts, fails no request, and an exact repeat served from what is left equals full compute.

Segment layout checked here independently of the C++ code (python `xxhash`): a 64-byte header (magic
"KVSSEG\\0\\1", version, model fingerprint at byte 16, xxh3_64 of bytes [0, 56) at byte 56), then records."""
import json
import re
import pathlib
import shutil
import signal
import struct
import time

import pytest
import xxhash

from test_server import MODEL_ID, Server

KEY = "sk-disk-0123456789"
OPERATOR_KEY = "sk-operator-0123456789"
CONFIG = {"limits": {"default_max_tokens": 16}, "operator_keys": [OPERATOR_KEY],
          "tenants": [{"name": "disk", "api_keys": [KEY]}, {"name": "other", "api_keys": ["sk-other-0123456789"]}]}
QUESTIONS = [
    "What are the symptoms of Graves disease? I feel tired, my heart races at night and my hands shake a lot.",
    "How is type 2 diabetes treated in older adults who also have kidney problems and high blood pressure?",
    "What causes migraine headaches in teenagers, and which foods or habits can make the attacks worse?",
]
PARAPHRASE = "Which symptoms does Graves disease cause? I feel tired, my heart races at night and my hands shake."
# A served paraphrase stays approximate (no decode-stage or background repair): it never becomes a donor, so the
# tier holds exactly the three questions' donors and a paraphrase's plan can be compared across tiers.
ARGS = ("--background-repair-rows", "0", "--repair-rows", "0")


def ask(srv, content, key=KEY, max_tokens=12, **share):
    body = {"model": MODEL_ID, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "temperature": 0, "kvshare": {"report": True, **share}}
    status, _, raw = srv.request("POST", "/v1/chat/completions", body,
                                 {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    assert status == 200, raw
    return json.loads(raw)


def metrics(srv):
    # kvshare_* samples by name; every sample carries a model_name label, other labels stay in the key
    # (tier_hits_total{tier="disk"}).
    status, _, body = srv.request("GET", "/metrics", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r'^kvshare_([a-z_]+)\{model_name="[^"]*",?([^}]*)\} (\S+)$', line)
        if m:
            out[m.group(1) + ("{" + m.group(2) + "}" if m.group(2) else "")] = float(m.group(3))
    return out


def wait_written(srv, donors, timeout=60):
    deadline = time.time() + timeout
    while True:
        m = metrics(srv)
        if m["disk_donors"] >= donors and m["disk_demotions_total"] > 0:
            return m
        assert time.time() < deadline, m
        time.sleep(0.1)


def start(tmp, disk, name, *extra):
    return Server(tmp, CONFIG, extra_args=("--disk-cache", str(disk), *ARGS, *extra), name=name)


def segments(disk):
    return sorted(pathlib.Path(disk).glob("seg-*.kvs"))


def text(resp):
    return resp["choices"][0]["message"]["content"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory, kvs_bin, kvs_model):
    """A disk directory holding the three questions' donors, written by a server stopped cleanly, plus the
    answers a RAM-resident donor gave the paraphrase and full computation gave each question."""
    tmp = tmp_path_factory.mktemp("disk")
    disk = tmp / "cache"
    srv = start(tmp, disk, "writer")
    try:
        for q in QUESTIONS:
            ask(srv, q, max_tokens=2)
        wait_written(srv, len(QUESTIONS))
        ram = ask(srv, PARAPHRASE, mode="semantic")
        assert ram["kvshare"]["mode"] == "semantic" and ram["kvshare"]["tier"] == "ram", ram["kvshare"]
        full = {q: text(ask(srv, q, mode="full")) for q in QUESTIONS}
    finally:
        srv.stop()
    assert srv.proc.returncode == 0
    return {"tmp": tmp, "disk": disk, "ram": ram, "full": full}


def test_restart_serves_a_paraphrase_from_disk(stored, tmp_path):
    disk = tmp_path / "cache"
    shutil.copytree(stored["disk"], disk)
    srv = start(tmp_path, disk, "restarted")
    try:
        m = metrics(srv)
        assert m["disk_donors"] == len(QUESTIONS) and m["donors"] == 0, m
        got = ask(srv, PARAPHRASE)  # auto mode: the planner decides, as for any user
        rep = got["kvshare"]
        assert rep["mode"] == "semantic" and rep["tier"] == "disk" and rep["disk_blocks"] > 0, rep
        # The promoted blocks hold the bytes the donor had in RAM: the same plan, the same answer.
        ram = stored["ram"]["kvshare"]
        assert rep["edit_script"] == ram["edit_script"] and rep["reused_tokens"] == ram["reused_tokens"], (rep, ram)
        assert text(got) == text(stored["ram"])
        m = metrics(srv)
        assert m['tier_hits_total{tier="disk"}'] >= 1 and m["disk_promotions_total"] >= rep["disk_blocks"], m
        assert m["disk_bytes_read_total"] > 0 and m["disk_fetch_seconds_count"] >= rep["disk_blocks"]
        # Another share domain never gets the stored blocks.
        other = ask(srv, QUESTIONS[0], key="sk-other-0123456789")
        assert other["kvshare"]["mode"] == "full" and other["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
        # An exact repeat is served from the promoted prefix blocks and equals full computation.
        again = ask(srv, QUESTIONS[1])
        assert again["usage"]["prompt_tokens_details"]["cached_tokens"] > 0 and again["kvshare"]["tier"] == "disk"
        assert text(again) == stored["full"][QUESTIONS[1]]
        assert metrics(srv)["requests_failed_total"] == 0
    finally:
        srv.stop()


def test_kill9_during_writes_loses_nothing_written_and_serves_no_torn_record(stored, tmp_path, kvs_bin):
    disk = tmp_path / "cache"
    srv = start(tmp_path, disk, "killed")
    try:
        for q in QUESTIONS[:2]:
            ask(srv, q, max_tokens=1)
        deadline = time.time() + 60
        while metrics(srv)["disk_bytes_written_total"] == 0:  # something is on disk before the crash
            assert time.time() < deadline
            time.sleep(0.05)
        ask(srv, QUESTIONS[2], max_tokens=1)
        srv.proc.send_signal(signal.SIGKILL)  # the writer thread may be in the middle of a record
        srv.proc.wait(timeout=30)
    finally:
        srv.log.close()
    # And a torn tail for certain: the last record cut in half, as a crash inside write() leaves it.
    seg = segments(disk)[-1]
    data = seg.read_bytes()
    seg.write_bytes(data[: len(data) - 1000])
    srv = start(tmp_path, disk, "after-kill")
    try:
        log = srv.log_path.read_text()
        assert "torn tail" in log or "runs past the end" in log, log
        for q in QUESTIONS:
            assert text(ask(srv, q)) == stored["full"][q]
        assert metrics(srv)["requests_failed_total"] == 0
    finally:
        srv.stop()


def corrupt_copies(src, dst):
    """Three damaged copies of the stored segments: one truncated mid-file, one with bytes flipped all over, one
    re-stamped as written by another model (valid header checksum, other fingerprint)."""
    shutil.copytree(src, dst)
    segs = segments(dst)
    assert segs, "the writer left no segment"
    seg = segs[0]
    data = bytearray(seg.read_bytes())
    assert data[:8] == b"KVSSEG\x00\x01" and struct.unpack_from("<Q", data, 56)[0] == xxhash.xxh3_64_intdigest(bytes(data[:56]))
    (dst / "seg-00000101.kvs").write_bytes(data[: len(data) // 2])  # truncated
    flipped = bytearray(data)
    for at in range(200, len(flipped), 4099):
        flipped[at] ^= 0x5A
    (dst / "seg-00000102.kvs").write_bytes(bytes(flipped))
    foreign = bytearray(data)
    struct.pack_into("<Q", foreign, 16, struct.unpack_from("<Q", foreign, 16)[0] ^ 0xDEADBEEF)
    struct.pack_into("<Q", foreign, 56, xxhash.xxh3_64_intdigest(bytes(foreign[:56])))
    (dst / "seg-00000103.kvs").write_bytes(bytes(foreign))
    seg.unlink()  # only the damaged copies are left
    for s in segs[1:]:
        s.unlink()


def test_corrupted_and_foreign_segments_are_skipped(stored, tmp_path):
    disk = tmp_path / "cache"
    corrupt_copies(stored["disk"], disk)
    srv = start(tmp_path, disk, "corrupt")
    try:
        m = metrics(srv)
        assert m["disk_segments_skipped_total"] == 1, m  # the other model's
        assert m["disk_corrupt_records_total"] >= 1, m   # the flipped copy's damaged records
        for q in QUESTIONS:
            got = ask(srv, q)
            assert text(got) == stored["full"][q], got["kvshare"]
        got = ask(srv, PARAPHRASE)  # whatever was left: a correct answer or an honest miss, never a failure
        assert got["choices"][0]["finish_reason"] in ("stop", "length")
        m = metrics(srv)
        assert m["requests_failed_total"] == 0, m
    finally:
        srv.stop()
    assert srv.proc.returncode == 0
