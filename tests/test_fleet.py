"""The OpenAI backend as a fleet of endpoints (issue 16, item 5): endpoint specs and fleet files, concurrency as
the user sets it (also through ``funrl dialogs --concurrency``), balance between endpoints, and fail-over when a
server dies mid-run: nothing lost, nothing duplicated, the output identical to an undisturbed run.

Loopback servers only (tests/loopback_server.py), in this process or as processes of their own that really die
(SIGKILL). In-flight peaks come from servers that hold their replies until the expected number of requests is
in flight (``hold``), and servers die at a request count (``kill_after``, ``die_after``), so no assertion depends
on timing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import re
from collections import Counter
from pathlib import Path

import pytest

from funrl_lib.cli import build_parser
from funrl_lib.synth import dialogs as D
from funrl_lib.synth.api_pool import build_pool
from funrl_lib.synth.backends import (ChatRequest, Endpoint, OpenAIBackend, backend_from_cli, load_fleet,
                                      make_backend, parse_endpoint)
from funrl_lib.synth.sample import DIALOG_TYPES
from loopback_server import LoopbackProcess, LoopbackServer, echo_text, ok, status
from scripted_agents import scripted_replies

KEY = "sk-test-fleet-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("FUNRL_OPENAI_BASE_URL", "OPENAI_BASE_URL", "FUNRL_OPENAI_MODEL", "OPENAI_API_KEY",
                "FUNRL_OPENAI_ENDPOINTS", "FUNRL_OPENAI_FLEET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def two():
    with LoopbackServer() as a, LoopbackServer() as b:
        yield a, b


def req(text: str, **kw) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": text}], **kw)


def no_sleep(backend: OpenAIBackend) -> OpenAIBackend:
    backend.sleeps = []

    async def record(delay):
        backend.sleeps.append(delay)

    backend._sleep = record
    return backend


# ---------------------------------------------------------------------------------------------------------------------
# Configuration: endpoint specs, fleet files, the environment, the CLI


@pytest.mark.parametrize("spec, expected", [
    ("http://h:8000/v1", Endpoint("http://h:8000/v1", 8)),
    ("http://h:8000/v1/, concurrency=64", Endpoint("http://h:8000/v1", 64)),
    ("https://h/v1,c=3", Endpoint("https://h/v1", 3)),
    ({"url": "http://h/v1", "concurrency": 2}, Endpoint("http://h/v1", 2)),
    ({"base_url": "http://h/v1"}, Endpoint("http://h/v1", 8)),
])
def test_endpoint_specs(spec, expected):
    assert parse_endpoint(spec, 8) == expected


@pytest.mark.parametrize("spec, words", [
    ("h:8000/v1", "http://"),
    ("http://h/v1,concurrency=0", ">= 1"),
    ("http://h/v1,concurrency=many", "integer"),
    ("http://h/v1,weight=2", "URL[,concurrency=N]"),
    ({"url": "http://h/v1", "conc": 2}, "unknown field"),
    ({"url": "http://h/v1", "concurrency": True}, ">= 1"),
    (42, "URL string"),
])
def test_bad_endpoint_specs_say_what_is_wrong(spec, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_endpoint(spec)


def test_fleet_concurrency_is_per_endpoint_and_adds_up():
    backend = OpenAIBackend(endpoints=["http://a/v1", "http://b/v1,concurrency=40"], model="m", concurrency=24,
                            cache=False)
    assert [(e.url, e.concurrency) for e in backend.endpoints] == [("http://a/v1", 24), ("http://b/v1", 40)]
    assert backend.concurrency == 64 and backend.base_url == "http://a/v1"
    assert "endpoints=['http://a/v1,concurrency=24', 'http://b/v1,concurrency=40']" in repr(backend)


@pytest.mark.parametrize("config, words", [
    ({"base_url": "http://a/v1", "endpoints": ["http://b/v1"]}, "not both"),
    ({"endpoints": ["http://a/v1", "http://a/v1/"]}, "listed twice"),
    ({"endpoints": ["http://a/v1"], "probe_after": 5, "max_probe_after": 1}, "probe_after"),
])
def test_fleet_configuration_errors(config, words):
    with pytest.raises(ValueError, match=words):
        OpenAIBackend(model="m", cache=False, **config)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_fleet_file_and_environment(tmp_path, monkeypatch, suffix):
    data = {"model": "qwen", "concurrency": 16, "max_retries": 2,
            "endpoints": ["http://a:8000/v1", {"url": "http://b:8000/v1", "concurrency": 48}]}
    path = tmp_path / f"fleet{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(data))
    else:
        path.write_text("# two replicas\nmodel: qwen\nconcurrency: 16\nmax_retries: 2\nendpoints:\n"
                        "  - http://a:8000/v1\n  - url: http://b:8000/v1\n    concurrency: 48\n")
    assert load_fleet(path) == data
    backend = make_backend("openai", fleet=str(path), cache=False)
    assert backend.model == "qwen" and backend.max_retries == 2
    assert [e.concurrency for e in backend.endpoints] == [16, 48]
    # explicit settings beat the file's; FUNRL_OPENAI_FLEET is read when no server is given otherwise
    monkeypatch.setenv("FUNRL_OPENAI_FLEET", str(path))
    backend = make_backend("openai", concurrency=4, cache=False)
    assert [e.concurrency for e in backend.endpoints] == [4, 48]
    backend = make_backend("openai", base_url="http://c/v1", model="m", cache=False)  # the file is not read
    assert [e.url for e in backend.endpoints] == ["http://c/v1"]


def test_endpoints_from_the_environment(monkeypatch):
    monkeypatch.setenv("FUNRL_OPENAI_ENDPOINTS", "http://a/v1,concurrency=2; http://b/v1")
    monkeypatch.setenv("FUNRL_OPENAI_MODEL", "m")
    backend = make_backend("openai", cache=False)
    assert [(e.url, e.concurrency) for e in backend.endpoints] == [("http://a/v1", 2), ("http://b/v1", 8)]


@pytest.mark.parametrize("text, words", [
    ("model: m\n", "`endpoints` must be a non-empty list"),
    ("kind: hf\nendpoints: [http://a/v1]\n", "not kind 'hf'"),
    (f"api_key: {KEY}\nendpoints: [http://a/v1]\n", "must not contain `api_key`"),
    ("endpoints: [http://a/v1\n", "not valid YAML"),
    ("- http://a/v1\n", "expected a mapping"),
])
def test_bad_fleet_files(tmp_path, text, words):
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(words)) as e:
        load_fleet(path)
    assert KEY not in str(e.value)
    with pytest.raises(ValueError, match="cannot read"):
        load_fleet(tmp_path / "missing.yaml")


def test_cache_key_of_one_server_is_unchanged_and_a_fleet_key_ignores_who_answered(tmp_path):
    r = req("hello", temperature=0.0, seed=1)
    one = OpenAIBackend("http://a/v1/", "m", cache=False)
    old = hashlib.sha256(json.dumps(
        {"base_url": "http://a/v1", "model": "m", "messages": r.messages, "temperature": 0.0, "max_tokens": 1024,
         "seed": 1, "attempt": 0, "json_mode": False, "extra_body": {}},
        sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    assert one.cache_key(r) == old  # caches written before fleets existed stay valid
    ab = OpenAIBackend(endpoints=["http://a/v1", "http://b/v1"], model="m", cache=False)
    ba = OpenAIBackend(endpoints=["http://b/v1", "http://a/v1,c=3"], model="m", cache=False)
    assert ab.cache_key(r) == ba.cache_key(r) != old
    named = [OpenAIBackend(endpoints=urls, model="m", cache=False, cache_scope="replicas").cache_key(r)
             for urls in (["http://a/v1"], ["http://b/v1", "http://c/v1"])]
    assert named[0] == named[1]


def test_backend_from_cli():
    assert backend_from_cli("programmatic", concurrency=32) is None
    backend = backend_from_cli("openai", model="m", base_url="http://a/v1", concurrency=32)
    assert backend.concurrency == 32  # it used to stay at the backend's default of 8
    backend = backend_from_cli("openai", model="m", endpoints=["http://a/v1", "http://b/v1,concurrency=4"],
                               concurrency=32)
    assert [e.concurrency for e in backend.endpoints] == [32, 4]
    with pytest.raises(ValueError, match="not both"):
        backend_from_cli("openai", model="m", base_url="http://a/v1", endpoints=["http://b/v1"])


# ---------------------------------------------------------------------------------------------------------------------
# Concurrency and balance


def test_each_endpoint_gets_exactly_its_own_concurrency(two, tmp_path):
    a, b = two
    a.hold(4)
    b.hold(12)  # replies wait until the endpoint has all its slots in flight: the peak does not depend on timing
    backend = OpenAIBackend(endpoints=[f"{a.base_url},concurrency=4", f"{b.base_url},concurrency=12"], model="m",
                            cache=False)
    results = backend.chat([req(f"q{i}") for i in range(64)])
    assert all(r.ok for r in results)
    assert (a.max_in_flight, b.max_in_flight) == (4, 12)
    assert a.calls + b.calls == 64 and a.calls >= 4 and b.calls >= 12


def test_concurrency_is_what_the_user_sets_64_per_endpoint(two):
    a, b = two
    a.hold(64)
    b.hold(64)
    backend = OpenAIBackend(endpoints=[a.base_url, b.base_url], model="m", concurrency=64, cache=False)
    results = backend.chat([req(f"q{i}") for i in range(256)])
    assert all(r.ok for r in results) and (a.max_in_flight, b.max_in_flight) == (64, 64)


def test_requests_go_to_the_least_loaded_endpoint():
    # Round robin among equals, then by load: with no latency, 3 endpoints of 2 slots and 6 requests at once, the
    # first six picks fill 2 + 2 + 2 slots.
    with LoopbackServer() as a, LoopbackServer() as b, LoopbackServer() as c:
        for s in (a, b, c):
            s.hold(2)
        backend = OpenAIBackend(endpoints=[s.base_url for s in (a, b, c)], model="m", concurrency=2, cache=False)
        assert all(r.ok for r in backend.chat([req(f"q{i}") for i in range(6)]))
        assert [s.calls for s in (a, b, c)] == [2, 2, 2]


@pytest.mark.parametrize("servers", [1, 2])
def test_dialogs_cli_concurrency_reaches_the_backend(tmp_path, servers):
    """`funrl dialogs --backend openai --concurrency 32` has 32 requests in flight (it peaked at 8), on one
    server (--base-url) or on each of a fleet's (--endpoint, repeated)."""
    pool = build_pool(60, seed=0, progress=False)
    pool_file = tmp_path / "pool.jsonl"
    pool_file.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in pool))
    respond = scripted_replies(pool, 40, seed=0, mix="single=1,parallel=1")
    with contextlib.ExitStack() as stack:
        fleet = [stack.enter_context(LoopbackServer()) for _ in range(servers)]
        for server in fleet:
            server.respond = respond
            server.hold(32 if servers == 1 else 16)
        where = (["--base-url", fleet[0].base_url] if servers == 1 else
                 [arg for s in fleet for arg in ("--endpoint", f"{s.base_url},concurrency=16")])
        parser = build_parser(only="dialogs")
        args = parser.parse_args(["dialogs", "--pool", str(pool_file), "--n", "40", "--mix", "single=1,parallel=1",
                                  "--backend", "openai", "--model", "loopback", *where, "--concurrency", "32",
                                  "--out", str(tmp_path / "d.jsonl"), "--no-progress"])
        assert args.func(args) == 0
        assert [s.max_in_flight for s in fleet] == ([32] if servers == 1 else [16, 16])
    assert len((tmp_path / "d.jsonl").read_text().splitlines()) == 40


# ---------------------------------------------------------------------------------------------------------------------
# Retries and fail-over


def test_a_retry_after_429_prefers_the_other_endpoint(two):
    a, b = two
    a.script(status(429, retry_after=0))
    backend = no_sleep(OpenAIBackend(endpoints=[a.base_url, b.base_url], model="m", concurrency=1, cache=False))
    [result] = backend.chat([req("x")])
    assert result.ok and (a.calls, b.calls) == (1, 1) and backend.sleeps == [0.0]
    assert all(e["up"] for e in backend.endpoint_status())  # a 429 is a busy server, not a dead one


def test_a_dead_endpoint_costs_no_retry_and_is_probed_again(two, caplog):
    a, b = two
    a.kill()
    backend = no_sleep(OpenAIBackend(endpoints=[a.base_url, b.base_url], model="m", concurrency=1, max_retries=0,
                                     probe_after=0.0, cache=False))
    with caplog.at_level(logging.WARNING, "funrl_lib.backends"):
        results = backend.chat([req(f"q{i}") for i in range(10)])
    # max_retries=0, yet nothing failed: a fail-over is not a retry, and it does not wait
    assert all(r.ok for r in results) and b.calls == 10 and backend.sleeps == []
    assert "is down; failing over to the others" in caplog.text
    a.start()  # back on the same port: the next probe finds it (probe_after=0: at the next request)
    with caplog.at_level(logging.WARNING, "funrl_lib.backends"):
        assert all(r.ok for r in backend.chat([req(f"again {i}") for i in range(10)]))
    assert a.calls >= 1 and "is back up" in caplog.text
    assert all(e["up"] for e in backend.endpoint_status())


def test_every_endpoint_down_retries_with_backoff_then_gives_up(two):
    a, b = two
    a.kill()
    b.kill()
    backend = no_sleep(OpenAIBackend(endpoints=[a.base_url, b.base_url], model="m", max_retries=2, cache=False))
    [result] = backend.chat([req("x")])
    assert result.error.startswith("gave up after 4 attempts: ") and "connection error (ConnectError" in result.error
    assert len(backend.sleeps) == 2  # one fail-over (the other was still up), then retries with backoff


def test_the_key_is_redacted_in_fleet_errors(two, monkeypatch):
    a, b = two
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    a.respond = b.respond = lambda r: status(500, f"bad key {KEY}")
    backend = no_sleep(OpenAIBackend(endpoints=[a.base_url, b.base_url], model="m", max_retries=1, cache=False))
    [result] = backend.chat([req("x")])
    assert KEY not in result.error and "bad key ***" in result.error and KEY not in repr(backend)


def test_a_server_process_killed_mid_run_loses_and_duplicates_nothing(tmp_path):
    """A real process dies (SIGKILL, with 8 requests on its connections): every request is answered once, and the
    results written out equal those of an undisturbed run."""
    requests = [req(f"request {i}", seed=i, max_tokens=8) for i in range(300)]

    def run(die_after: int, out: Path) -> tuple[list[dict], list[bool]]:
        with LoopbackProcess(latency=0.01, die_after=die_after) as a, LoopbackProcess(latency=0.01) as b:
            backend = OpenAIBackend(endpoints=[a.base_url, b.base_url], model="loopback", concurrency=8,
                                    probe_after=0.05, cache=False)
            results = backend.chat(requests)
            stats = b.stats()
            died = a.died
        out.write_text("".join(json.dumps({"i": i, "text": r.text, "error": r.error}) + "\n"
                               for i, r in enumerate(results)))
        return [stats], [died]

    (b_disturbed,), (died,) = run(die_after=60, out=tmp_path / "disturbed.jsonl")
    (b_calm,), (alive_died,) = run(die_after=0, out=tmp_path / "calm.jsonl")
    assert died and not alive_died
    assert (tmp_path / "disturbed.jsonl").read_bytes() == (tmp_path / "calm.jsonl").read_bytes()
    lines = [json.loads(line) for line in (tmp_path / "calm.jsonl").read_text().splitlines()]
    assert [x["i"] for x in lines] == list(range(300)) and all(x["error"] is None for x in lines)
    assert lines[7]["text"] == echo_text({"model": "loopback", "messages": [{"role": "user", "content": "request 7"}],
                                          "temperature": 0.7, "max_tokens": 8, "seed": 7})
    assert b_disturbed["calls"] > 300 - 60  # the survivor served the rest, and the dropped ones again


# ---------------------------------------------------------------------------------------------------------------------
# The whole stage: dialogs through a fleet, one server killed mid-run


def test_dialogs_through_a_fleet_survive_a_killed_server(tmp_path, caplog):
    """Two servers; one dies after 40 requests, with requests in flight. The dialogs file is byte-identical to an
    undisturbed run's with the same seed: nothing lost, nothing duplicated, nothing out of order."""
    pool = [dataclasses.replace(a, impl=None) if k % 2 else a for k, a in enumerate(build_pool(120, seed=1,
                                                                                              progress=False))]
    mix = ",".join(f"{t}=1" for t in DIALOG_TYPES)
    n, seed = 24, 3
    respond = scripted_replies(pool, n, seed, mix)

    def run(out: Path, kill_after: int | None):
        with LoopbackServer(latency=0.005) as a, LoopbackServer(latency=0.005) as b:
            a.respond = b.respond = respond
            if kill_after:
                a.kill_after(kill_after)
            backend = OpenAIBackend(endpoints=[a.base_url, b.base_url], model="loopback", concurrency=4,
                                    probe_after=0.05, cache=False)
            samples = D.generate_dialogs(pool, n, seed=seed, mix=mix, backend=backend, out=out, progress=False,
                                         concurrency=8)
            return samples, a, b, backend.endpoint_status()

    with caplog.at_level(logging.WARNING, "funrl_lib.backends"):
        killed, a, b, health = run(tmp_path / "killed.jsonl", kill_after=40)
    assert a.killed and a.dropped >= 1, "the server died with a request in flight (the 40th at least)"
    assert b.calls > 0 and not health[0]["up"] and health[1]["up"]
    assert "is down; failing over to the others" in caplog.text
    calm, a2, b2, _ = run(tmp_path / "calm.jsonl", kill_after=None)
    assert a2.calls > 0 and b2.calls > 0  # the undisturbed run used both servers
    assert (tmp_path / "killed.jsonl").read_bytes() == (tmp_path / "calm.jsonl").read_bytes()
    ids = [json.loads(line)["id"] for line in (tmp_path / "killed.jsonl").read_text().splitlines()]
    assert ids == [f"dlg-{i:06d}" for i in range(n)] and len(killed) == n
    assert Counter(s.type for s in killed) == Counter(s.type for s in calm)
    for q in tmp_path.glob("*.quarantine.jsonl"):
        assert q.read_text() == "", "no sample was quarantined"
