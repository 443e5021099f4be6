"""Two `kvshare serve` instances sharing one Redis (`--redis redis://127.0.0.1:PORT`): a donor prefilled on
instance A serves a paraphrase sent to instance B as a semantic hit whose blocks come from tier "redis", with
the plan and the answer A gives from its own RAM; an exact repeat on B is served from the fetched prefix and
equals full computation; another tenant (share domain) on B never gets A's donation; when Redis dies, both
instances keep answering (from local tiers), report `redis_up 0` and log the outage, and fail no request.

The test starts redis-server itself on loopback (a free port, no persistence) and stops it; every wait is
bounded in time."""
import socket
import subprocess
import time

import pytest

from test_server import Server, free_port
from test_server_disk import ARGS, CONFIG, KEY, PARAPHRASE, QUESTIONS, ask, metrics, text

OTHER_KEY = "sk-other-0123456789"


class RedisServer:
    """redis-server on 127.0.0.1:<free port>, in memory only; ready when it answers PING."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.log_path = tmp_path / "redis.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while not self.ping():
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start:\n" + self.log_path.read_text())
            time.sleep(0.05)

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def wait_for(srv, pred, timeout=60):
    deadline = time.time() + timeout
    while True:
        m = metrics(srv)
        if pred(m):
            return m
        assert time.time() < deadline, m
        time.sleep(0.1)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, kvs_bin, kvs_model):
    tmp = tmp_path_factory.mktemp("redis")
    redis = RedisServer(tmp)
    # No repair: a served paraphrase stays approximate and never donates (test_server_disk.ARGS).
    args = ("--redis", redis.url(), "--redis-timeout-ms", "200", *ARGS)
    servers = []
    try:
        servers.append(Server(tmp, CONFIG, extra_args=args, name="a"))
        servers.append(Server(tmp, CONFIG, extra_args=args, name="b"))
        yield {"redis": redis, "a": servers[0], "b": servers[1], "tmp": tmp}
    finally:
        for s in servers:
            s.stop()
        redis.stop()


def test_a_donor_on_one_instance_serves_a_paraphrase_on_another(pair):
    a, b = pair["a"], pair["b"]
    for q in QUESTIONS:
        ask(a, q, max_tokens=2)
    wait_for(a, lambda m: m["redis_donors_written_total"] >= len(QUESTIONS))
    m = wait_for(b, lambda m: m["redis_donors"] >= len(QUESTIONS))  # B learned them from A's announcements
    assert m["donors"] == 0, m  # and holds none in RAM: whatever B reuses comes through Redis

    got = ask(b, PARAPHRASE)  # auto mode: the planner decides, as for any user
    rep = got["kvshare"]
    assert rep["mode"] == "semantic" and rep["tier"] == "redis" and rep["redis_blocks"] > 0, rep
    # The fetched blocks hold the bits A has in RAM: the same plan and the same answer as A serving it.
    on_a = ask(a, PARAPHRASE, mode="semantic")
    assert on_a["kvshare"]["tier"] == "ram", on_a["kvshare"]
    assert rep["edit_script"] == on_a["kvshare"]["edit_script"], (rep, on_a["kvshare"])
    assert rep["reused_tokens"] == on_a["kvshare"]["reused_tokens"]
    assert text(got) == text(on_a)

    m = metrics(b)
    assert m['tier_hits_total{tier="redis"}'] >= 1 and m["redis_blocks_read_total"] >= rep["redis_blocks"], m
    assert m["redis_bytes_read_total"] > 0 and m["redis_up"] == 1 and m["redis_corrupt_records_total"] == 0, m

    # An exact repeat on B: the fetched prefix blocks, and the answer full computation gives.
    full = text(ask(a, QUESTIONS[1], mode="full"))
    again = ask(b, QUESTIONS[1])
    assert again["usage"]["prompt_tokens_details"]["cached_tokens"] > 0, again["kvshare"]
    assert again["kvshare"]["tier"] in ("redis", "ram"), again["kvshare"]
    assert text(again) == full
    assert metrics(a)["requests_failed_total"] == 0 and metrics(b)["requests_failed_total"] == 0


def test_another_tenant_never_gets_the_shared_donation(pair):
    b = pair["b"]
    wait_for(b, lambda m: m["redis_donors"] >= len(QUESTIONS))
    before = metrics(b)['tier_hits_total{tier="redis"}']
    # The paraphrase first: the other tenant has no donor of its own yet, so anything reused would be A's.
    other = ask(b, PARAPHRASE, key=OTHER_KEY)
    assert other["kvshare"]["mode"] == "full", other["kvshare"]
    assert other["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert other["kvshare"].get("redis_blocks", 0) == 0
    # An exact repeat of A's donor: at most the other tenant's own paraphrase donor, never A's blocks.
    other = ask(b, QUESTIONS[0], key=OTHER_KEY)
    assert other["kvshare"].get("redis_blocks", 0) == 0 and other["kvshare"].get("tier") != "redis", other["kvshare"]
    assert metrics(b)['tier_hits_total{tier="redis"}'] == before


def test_redis_down_costs_no_request(pair):
    a, b, redis = pair["a"], pair["b"], pair["redis"]
    redis.stop()
    t0 = time.time()
    for srv in (a, b):
        got = ask(srv, "What are the early signs of Lyme disease after a tick bite, and when should I see a doctor?")
        assert got["choices"][0]["finish_reason"] in ("stop", "length")
        got = ask(srv, QUESTIONS[2])  # known to be in Redis: served from what is local, or recomputed
        assert got["choices"][0]["finish_reason"] in ("stop", "length")
    assert time.time() - t0 < 120  # four short requests: no request waits out a hung Redis for long
    for name, srv in (("a", a), ("b", b)):
        m = wait_for(srv, lambda m: m["redis_up"] == 0, timeout=30)
        assert m["requests_failed_total"] == 0 and m["redis_errors_total"] > 0, m
        log = (pair["tmp"] / f"{name}.log").read_text()
        assert "redis unavailable" in log, log[-2000:]
