"""Chat backends: the OpenAI client against a scriptable loopback server (retries, cache, concurrency, secrets),
chat_json / extract_json, the sync wrapper inside a running loop, the programmatic RNG, and batched HF generation
with a tiny model built here (nothing is downloaded).

Backoff waits are recorded by swapping the backend's ``_sleep``, so retry tests check the delays asked for without
waiting for them, and no test asserts on elapsed time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import socket
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib.synth.backends import (RETRY_TEMPERATURE, ChatRequest, ChatResult, HFBackend, OpenAIBackend,
                                      ProgrammaticBackend, Quarantined, TokenUsage, chat_json, extract_json,
                                      make_backend)
from loopback_server import LoopbackServer, echo_text, malformed, ok, raw, slow, status

KEY = "sk-test-7f3a9c1e5b2d4e6f8a0b1c2d3e4f5a6b"


@pytest.fixture
def server():
    with LoopbackServer() as s:
        yield s


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("FUNRL_OPENAI_BASE_URL", "OPENAI_BASE_URL", "FUNRL_OPENAI_MODEL", "OPENAI_API_KEY", "FUNRL_HF_MODEL",
                "MY_KEY"):
        monkeypatch.delenv(var, raising=False)


def backend_for(server, tmp_path, **config):
    """An OpenAIBackend on the loopback server whose backoff sleeps are recorded in ``backend.sleeps``, not slept."""
    config = {"model": "loopback", "cache_path": tmp_path / "llm.sqlite", **config}
    backend = OpenAIBackend(server.base_url, **config)
    backend.sleeps = []

    async def record(delay):
        backend.sleeps.append(delay)

    backend._sleep = record
    return backend


def ask_json(backend, request, parse=extract_json, **kw):
    """chat_json as a stage runs it: in its own loop, closing the loop's connections at the end."""
    async def main():
        async with backend:
            return await chat_json(backend, request, parse, **kw)

    return asyncio.run(main())


def req(text="hello", **kw):
    return ChatRequest([{"role": "user", "content": text}], **kw)


# ---------------------------------------------------------------------------------------------------------------------
# OpenAI: the happy path, configuration from the environment


def test_reply_text_body_and_key_from_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("FUNRL_OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("FUNRL_OPENAI_MODEL", "loopback-model")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    backend = make_backend("openai", cache_path=tmp_path / "c.sqlite")
    [result] = backend.chat([req("Hi there", temperature=0.0, max_tokens=7, seed=3, attempt=2, stage="pool")])

    [seen] = server.received
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.body == {"model": "loopback-model", "messages": [{"role": "user", "content": "Hi there"}],
                         "temperature": 0.0, "max_tokens": 7, "seed": 3}  # no attempt, no stage on the wire
    assert result == ChatResult(echo_text(seen.body), usage={"prompt_tokens": 2, "completion_tokens": 4})


def test_no_key_means_no_authorization_header(server, tmp_path):
    backend_for(server, tmp_path).chat([req()])
    assert "Authorization" not in server.received[0].headers


def test_api_key_env_names_the_variable(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", KEY)
    backend_for(server, tmp_path, api_key_env="MY_KEY").chat([req()])
    assert server.received[0].headers["Authorization"] == f"Bearer {KEY}"
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(ValueError, match="MY_KEY"):
        backend_for(server, tmp_path, api_key_env="MY_KEY")


# ---------------------------------------------------------------------------------------------------------------------
# Retries


def test_retries_429_5xx_and_timeout_then_succeeds(server, tmp_path):
    backend = backend_for(server, tmp_path, timeout=0.2, max_retries=5, backoff=0.5)
    server.script(status(429, retry_after=3), status(500), status(503), slow(2.0), ok())
    [result] = backend.chat([req("x")])
    assert result.ok and result.text == echo_text(server.received[-1].body)
    assert server.calls == 5
    assert backend.sleeps[0] == 3.0  # Retry-After honoured exactly
    for n, delay in enumerate(backend.sleeps[1:], 2):  # then backoff * 2**(n-1), times a jitter in [0.5, 1]
        assert 0.5 * 0.5 * 2 ** (n - 1) <= delay <= 0.5 * 2 ** (n - 1)
    assert backend.usage.as_dict()["default"]["failures"] == 0


def test_backoff_is_capped(server, tmp_path):
    server.respond = lambda r: status(500)
    backend = backend_for(server, tmp_path, max_retries=6, backoff=1.0, max_backoff=4.0)
    backend.chat([req()])
    assert len(backend.sleeps) == 6 and max(backend.sleeps) <= 4.0 and min(backend.sleeps[3:]) >= 2.0


def test_retry_after_as_http_date(server, tmp_path):
    server.script(status(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"), ok())  # in the past: no wait
    backend = backend_for(server, tmp_path)
    assert backend.chat([req()])[0].ok and backend.sleeps == [0.0]


def test_gives_up_after_max_retries_with_the_reason(server, tmp_path):
    server.respond = lambda r: status(503, "model overloaded")
    backend = backend_for(server, tmp_path, max_retries=2)
    [result] = backend.chat([req(stage="verify")])
    assert result.text is None and not result.ok
    assert "gave up after 3 attempts" in result.error and "HTTP 503" in result.error and "overloaded" in result.error
    assert server.calls == 3
    assert backend.usage.as_dict()["verify"] == {"requests": 1, "cached": 0, "failures": 1, "prompt_tokens": 0,
                                                 "completion_tokens": 0}
    assert len(backend.cache) == 0  # failures are not cached: a re-run asks again


def test_timeout_every_time_gives_up(server, tmp_path):
    server.respond = lambda r: slow(2.0)
    [result] = backend_for(server, tmp_path, timeout=0.1, max_retries=1).chat([req()])
    assert "gave up after 2 attempts: timed out after 0.1 s" == result.error


def test_connection_refused_gives_up(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, cache_path=tmp_path / "c.sqlite")
    backend._sleep = lambda d: asyncio.sleep(0)
    [result] = backend.chat([req()])
    assert result.error.startswith("gave up after 2 attempts: connection error (ConnectError")


def test_400_is_not_retried_and_names_status_and_message(server, tmp_path):
    server.script(status(400, "messages[0].content: expected a string " + "x" * 5000))
    backend = backend_for(server, tmp_path)
    [result] = backend.chat([req()])
    assert server.calls == 1 and backend.sleeps == []
    assert "HTTP 400" in result.error and "expected a string" in result.error and "not retried" in result.error
    assert len(result.error) < 500  # the server's message is truncated


def test_200_that_is_not_a_completion_is_an_error(server, tmp_path):
    server.script(raw(b"<html>gateway</html>"), ok(), ok())
    [result] = backend_for(server, tmp_path).chat([req()])
    assert server.calls == 1 and "not a chat completion" in result.error and "gateway" in result.error


# ---------------------------------------------------------------------------------------------------------------------
# Cache


def test_second_identical_run_makes_no_http_request(server, tmp_path):
    requests = [req(f"question {i}", stage="dialogs") for i in range(5)]
    first = backend_for(server, tmp_path).chat(requests)
    assert server.calls == 5 and not any(r.cached for r in first)

    again = backend_for(server, tmp_path)  # a new process would open the same file
    second = again.chat([req(f"question {i}", stage="dialogs") for i in range(5)])
    assert server.calls == 5
    assert [r.text for r in second] == [r.text for r in first] and all(r.cached for r in second)
    assert [r.usage for r in second] == [r.usage for r in first]
    assert again.usage.as_dict()["dialogs"] == {"requests": 5, "cached": 5, "failures": 0, "prompt_tokens": 0,
                                                "completion_tokens": 0}  # cached replies cost nothing


def test_attempt_and_every_sampling_field_change_the_key(server, tmp_path):
    backend = backend_for(server, tmp_path)
    base = req("same")
    variants = [base, req("same", attempt=1), req("same", seed=1), req("same", temperature=0.0),
                req("same", max_tokens=5), req("same", json_mode=True), req("other")]
    assert len({backend.cache_key(r) for r in variants}) == len(variants)
    assert backend.cache_key(req("same", stage="verify")) == backend.cache_key(base)  # a label, not a request
    backend.chat([base])
    backend.chat([req("same", attempt=1)])
    assert server.calls == 2


def test_identical_requests_in_flight_are_sent_once(server, tmp_path):
    server.latency = 0.05
    results = backend_for(server, tmp_path).chat([req("dup"), req("dup"), req("other")])
    assert server.calls == 2
    assert results[0].text == results[1].text and [r.cached for r in results].count(True) == 1


def test_cache_off_always_asks(server, tmp_path):
    backend = backend_for(server, tmp_path, cache=False)
    backend.chat([req(), req()])
    backend.chat([req()])
    assert server.calls == 3 and backend.cache is None and not (tmp_path / "llm.sqlite").exists()


# ---------------------------------------------------------------------------------------------------------------------
# Concurrency


def test_concurrency_bound_is_respected(server, tmp_path):
    server.latency = 0.05
    server.hold(4)  # replies wait until 4 are in flight: the peak does not depend on how fast this machine is
    backend = backend_for(server, tmp_path, concurrency=4)
    results = backend.chat([req(f"q{i}") for i in range(16)])
    assert all(r.ok for r in results) and server.calls == 16
    assert server.max_in_flight == 4  # never more than the bound, and the bound is used
    assert len(backend.cache) == 16


def test_64_requests_overlap(server, tmp_path):
    server.latency = 0.2
    server.hold(64)
    backend = backend_for(server, tmp_path, concurrency=64, cache=False)
    results = backend.chat([req(f"q{i}") for i in range(64)])
    assert all(r.ok for r in results) and server.max_in_flight == 64


def test_concurrency_bound_holds_across_concurrent_achat_calls(server, tmp_path):
    server.latency = 0.05
    server.hold(3)
    backend = backend_for(server, tmp_path, concurrency=3)

    async def main():
        async with backend:  # one request per achat, as chat_json does: the bound is per loop, not per call
            return await asyncio.gather(*(backend.achat([req(f"q{i}")]) for i in range(12)))

    assert len(asyncio.run(main())) == 12 and server.max_in_flight == 3


# ---------------------------------------------------------------------------------------------------------------------
# Token accounting


def test_token_usage_per_stage(server, tmp_path):
    backend = backend_for(server, tmp_path)
    pool = backend.chat([req("one two three", stage="pool"), req("four", stage="pool")])
    dialogs = backend.chat([req("five six", stage="dialogs")])
    backend.chat([req("four", stage="pool")])  # cached: counted, costs nothing
    usage = backend.usage.as_dict()
    assert usage["pool"] == {"requests": 3, "cached": 1, "failures": 0, "prompt_tokens": 4,
                             "completion_tokens": sum(r.usage["completion_tokens"] for r in pool)}
    assert usage["dialogs"]["prompt_tokens"] == 2 == dialogs[0].usage["prompt_tokens"]
    assert backend.usage.total()["requests"] == 4
    table = backend.usage.table().splitlines()
    assert table[0] == "| stage | requests | cached | failures | prompt tokens | completion tokens |"
    assert [line.split("|")[1].strip() for line in table[2:]] == ["dialogs", "pool", "total"]


def test_token_usage_table_formats_thousands():
    usage = TokenUsage()
    usage.add("verify", requests=2, prompt_tokens=12345)
    assert "| verify | 2 | 0 | 0 | 12,345 | 0 |" in usage.table()


# ---------------------------------------------------------------------------------------------------------------------
# Secrets


def test_key_never_in_repr_errors_logs_or_cache(server, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    backend = backend_for(server, tmp_path, max_retries=1)
    server.script(ok(), status(401, f"Incorrect API key provided: {KEY}."), status(500, f"boom {KEY}"),
                  status(500, f"boom {KEY}"))
    results = [backend.chat([req("a")])[0], backend.chat([req("b")])[0], backend.chat([req("c")])[0]]
    assert server.received[0].headers["Authorization"] == f"Bearer {KEY}"
    assert results[0].ok
    assert "HTTP 401" in results[1].error and "***" in results[1].error
    assert "HTTP 500" in results[2].error
    shown = [repr(backend), str(backend), repr(vars(backend)), caplog.text] + [r.error for r in results[1:]]
    assert not any(KEY in s for s in shown)
    assert "api_key='***'" in repr(backend)
    for f in tmp_path.iterdir():  # the database and its WAL / shared-memory files
        assert KEY.encode() not in f.read_bytes()
    with pytest.raises(TypeError) as e:
        pickle.dumps(backend)
    assert KEY not in str(e.value)


def test_literal_key_in_a_config_is_refused_without_echoing_it(server):
    with pytest.raises(ValueError) as e:
        make_backend({"kind": "openai", "base_url": server.base_url, "model": "m", "api_key": KEY})
    assert "api_key_env" in str(e.value) and KEY not in str(e.value)


def _leaks(text: str) -> bool:
    """Whether any 8-character piece of the key is in ``text`` (a key cut short still leaks)."""
    return any(KEY[i:i + 8] in text for i in range(len(KEY) - 7))


@pytest.mark.parametrize("reply", [
    lambda: status(401, "Incorrect API key provided: " + "x" * 256 + KEY + "."),  # the 300-character cut in the key
    lambda: status(500, "y" * 280 + KEY),  # retried, then given up on
    lambda: raw(("z" * 280 + KEY).encode()),  # a 200 that is not a completion: its body is shown
])
def test_error_messages_are_redacted_before_they_are_cut(server, tmp_path, monkeypatch, caplog, reply):
    """Issue 17's repro: a message cut to 300 characters before redaction let 16 of the key's characters through."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    server.respond = lambda request: reply()
    [result] = backend_for(server, tmp_path, max_retries=1).chat([req()])
    assert not result.ok and "***" in result.error
    assert not _leaks(result.error) and not _leaks(caplog.text)


def test_a_reply_echoing_the_key_is_never_cached_or_returned(server, tmp_path, monkeypatch):
    """Issue 17's repro: a 200 reply that echoed the key was stored in the response cache."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.script(ok(f"Sure! Your key is {KEY}."), ok(f"Sure! Your key is {KEY}."), ok("a clean reply"))
    backend = backend_for(server, tmp_path, max_retries=1)
    [first] = backend.chat([req()])
    [again] = backend.chat([req()])  # not served from the cache: asked again
    [third] = backend.chat([req("other")])
    backend.close()
    assert not first.ok and "contains the API key" in first.error and first.text is None
    assert not again.ok and len(server.received) == 3 and third.ok
    assert backend.usage.total()["failures"] == 2 and backend.usage.total()["requests"] == 3
    for f in tmp_path.iterdir():  # the database and its WAL / shared-memory files
        assert not _leaks(f.read_bytes().decode("latin-1"))
    with sqlite3.connect(tmp_path / "llm.sqlite") as db:
        assert [t for (t,) in db.execute("SELECT text FROM replies")] == [third.text]


# ---------------------------------------------------------------------------------------------------------------------
# make_backend


def test_make_backend_kinds_and_dict_config(server, tmp_path):
    assert isinstance(make_backend(), ProgrammaticBackend)
    assert make_backend({"kind": "programmatic", "seed": 7}).seed == 7
    backend = make_backend({"kind": "openai", "base_url": server.base_url + "/", "model": "m", "concurrency": 3},
                           cache_path=tmp_path / "c.sqlite")
    assert isinstance(backend, OpenAIBackend) and backend.concurrency == 3 and backend.base_url == server.base_url
    assert not backend.is_programmatic


@pytest.mark.parametrize("kind, config, words", [
    ("gpt", {}, ["unknown backend kind 'gpt'", "programmatic, openai, hf"]),
    ("openai", {"model": "m"}, ["`base_url`", "FUNRL_OPENAI_BASE_URL", "OPENAI_BASE_URL"]),
    ("openai", {"base_url": "http://x/v1"}, ["`model`", "FUNRL_OPENAI_MODEL"]),
    ("hf", {}, ["`model`", "FUNRL_HF_MODEL"]),
    ("openai", {"base_url": "http://x/v1", "model": "m", "concurency": 2}, ["unknown config field(s) concurency",
                                                                           "concurrency"]),
])
def test_make_backend_errors_name_the_field_and_variable(kind, config, words):
    with pytest.raises(ValueError) as e:
        make_backend(kind, **config)
    assert all(w in str(e.value) for w in words), str(e.value)


# ---------------------------------------------------------------------------------------------------------------------
# JSON mode, chat_json


def test_json_mode_is_sent_and_dropped_when_the_server_rejects_it(server, tmp_path):
    backend = backend_for(server, tmp_path)
    server.script(status(400, "Unknown parameter: response_format"))
    [result] = backend.chat([req("q", json_mode=True)])
    assert result.ok and [r.body.get("response_format") for r in server.received] == [{"type": "json_object"}, None]
    assert backend.json_mode_supported is False
    backend.chat([req("q2", json_mode=True)])
    assert "response_format" not in server.received[-1].body


def test_chat_json_reasks_a_malformed_reply_then_parses(server, tmp_path):
    backend = backend_for(server, tmp_path)
    server.script(malformed())
    value = ask_json(backend, req("the question", json_mode=True))
    assert value == {"echo": "the question"} and server.calls == 2
    assert len(backend.cache) == 2  # attempt 0 (malformed) and attempt 1 are different entries
    assert ask_json(backend, req("the question", json_mode=True)) == value
    assert server.calls == 2  # the re-run is served by the cache, malformed reply included


def test_chat_json_quarantines_after_retries(server, tmp_path):
    server.respond = lambda r: malformed()
    backend = backend_for(server, tmp_path)
    got = ask_json(backend, req("q"), retries=2)
    assert isinstance(got, Quarantined) and got.attempts == 3 and server.calls == 3
    assert got.reason.startswith("unparsable reply: JSON starting at character 0 is broken")
    assert got.reason.endswith("(after 3 attempts)") and got.last_text == '{"answer": [1, 2'


def test_chat_json_samples_when_it_asks_a_greedy_request_again(server, tmp_path):
    # greedy decoding of the same prompt repeats the same broken text, so the retries sample; a sampled request
    # keeps its own temperature
    server.respond = lambda r: malformed()
    got = ask_json(backend_for(server, tmp_path), req("q", temperature=0.0), retries=2)
    assert isinstance(got, Quarantined)
    assert [r.body["temperature"] for r in server.received] == [0.0, RETRY_TEMPERATURE, RETRY_TEMPERATURE]
    assert len({r.body["temperature"] for r in server.received[1:]}) == 1 and RETRY_TEMPERATURE > 0
    server.received.clear()
    ask_json(backend_for(server, tmp_path / "b"), req("q", temperature=0.3), retries=1)
    assert [r.body["temperature"] for r in server.received] == [0.3, 0.3]


def test_chat_json_quarantines_a_backend_error_at_once(server, tmp_path):
    server.respond = lambda r: status(400, "context length exceeded")
    got = ask_json(backend_for(server, tmp_path), req("q"))
    assert isinstance(got, Quarantined) and server.calls == 1 and "context length exceeded" in got.reason


def test_chat_json_parse_may_reject_valid_json(server, tmp_path):
    def parse(text):
        value = extract_json(text)
        if "answer" not in value:
            raise ValueError("missing 'answer'")
        return value

    server.script(ok('{"other": 1}'), ok('Sure: {"answer": 42}'))
    got = ask_json(backend_for(server, tmp_path), req("q"), parse)
    assert got == {"answer": 42}


# ---------------------------------------------------------------------------------------------------------------------
# extract_json


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('  [1, 2]\n', [1, 2]),
    ('```json\n{"a": [1, {"b": null}]}\n```', {"a": [1, {"b": None}]}),
    ('Here you go:\n```\n{"a": 1}\n```\nanything else?', {"a": 1}),
    ('```python\nx = [1]\n```\n```json\n{"a": 2}\n```', {"a": 2}),
    ('Sure! The answer is {"name": "f", "arguments": {"x": "}"}} as asked.', {"name": "f", "arguments": {"x": "}"}}),
    ('See [1] and [2]. Result: {"k": [1, 2, 3]}', {"k": [1, 2, 3]}),
    ('{bad} then {"good": true}', {"good": True}),
    ('two: {"a": 1} and {"b": 2, "c": 3}', {"b": 2, "c": 3}),
])
def test_extract_json_cases(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize("text, reason", [
    ('{"a": [1, 2', "JSON starting at character 0 is broken"),
    ("I cannot help with that.", "no JSON object or array"),
    ("", "empty reply"),
    ("42", "JSON int, not an object or array"),
    ("[" * 100_000, "nested too deeply"),
    ('[' + '"[", ' * 20_000, "broken"),  # thousands of broken starts: bounded work, still a clear reason
])
def test_extract_json_explains_failures(text, reason):
    with pytest.raises(ValueError, match=reason):
        extract_json(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)
prose = st.text(alphabet=st.characters(blacklist_characters="{}[]`", blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(value=st.dictionaries(st.text(), json_values, max_size=5), before=prose, after=prose,
       wrap=st.sampled_from(["bare", "prose", "fence", "plain fence", "fence in prose"]),
       indent=st.sampled_from([None, 2]))
def test_extract_json_recovers_any_embedded_dict(value, before, after, wrap, indent):
    blob = json.dumps(value, indent=indent, ensure_ascii=False)
    text = {"bare": blob, "prose": f"{before}{blob}{after}", "fence": f"```json\n{blob}\n```",
            "plain fence": f"```\n{blob}\n```", "fence in prose": f"{before}\n```json\n{blob}\n```\n{after}"}[wrap]
    assert extract_json(text) == value


# ---------------------------------------------------------------------------------------------------------------------
# The sync wrapper, requests


def test_chat_works_inside_a_running_event_loop(server, tmp_path):
    backend = backend_for(server, tmp_path)

    async def notebook_cell():  # Jupyter runs cells inside a loop, where asyncio.run is refused
        return backend.chat([req("from a cell")])

    [result] = asyncio.run(notebook_cell())
    assert result.text == echo_text(server.received[0].body)
    assert not backend._states  # the worker loop's client was closed with it


def test_request_validation_and_copying():
    messages = [{"role": "user", "content": "hi"}]
    r = ChatRequest(messages)
    messages[0]["content"] = "changed"
    assert r.messages == ({"role": "user", "content": "hi"},) and r.temperature == 0.7
    for bad in ([], "hi", [{"content": "no role"}], [{"role": "user"}]):
        with pytest.raises(TypeError, match="messages"):
            ChatRequest(bad)
    with pytest.raises(TypeError, match="list of ChatRequest"):
        ProgrammaticBackend().chat(r)


# ---------------------------------------------------------------------------------------------------------------------
# Programmatic


def test_programmatic_backend_rng_is_stable_and_keyed():
    backend = ProgrammaticBackend(seed=1)
    assert backend.is_programmatic
    draw = [backend.rng("dialogs", 3).random() for _ in range(2)]
    assert draw[0] == draw[1]
    assert backend.rng("dialogs", 4).random() != draw[0]
    assert ProgrammaticBackend(seed=2).rng("dialogs", 3).random() != draw[0]
    assert backend.rng("dialogs", "3").random() != draw[0]  # keys are typed
    # A fixed value: hash() is salted per process, so this pins that the seed goes through hashlib.
    assert ProgrammaticBackend(seed=0).rng("pool", 0).randrange(10**9) == 220117090


def test_programmatic_backend_refuses_to_chat():
    with pytest.raises(RuntimeError, match="is_programmatic"):
        ProgrammaticBackend().chat([req()])


# ---------------------------------------------------------------------------------------------------------------------
# HF: a tiny random Qwen2 and byte-level BPE tokenizer built here (same approach as test_trl_integration)

@pytest.fixture(scope="module")
def tiny_hf():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from funrl_lib.train.tiny import tiny_qwen2, tiny_tokenizer

    corpus = ["What is the weather in Paris?", "Call get_weather(city='Paris') now.", "None of the functions."] * 20
    tokenizer = tiny_tokenizer(corpus, vocab_size=300)
    tokenizer.padding_side = "right"  # the backend must set left padding itself
    # A wide initialisation makes the random model's logits peaked, so greedy choices are not near-ties that the
    # tiny numeric differences between padded and unpadded attention could flip.
    return tiny_qwen2(tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.5), tokenizer


def spy_generate(model):
    calls = []
    original = model.generate

    def generate(**kwargs):
        calls.append({k: kwargs[k].clone() for k in ("input_ids", "attention_mask")})
        return original(**kwargs)

    model.generate = generate
    return calls


def test_hf_batched_greedy_equals_one_at_a_time(tiny_hf):
    model, tokenizer = tiny_hf
    backend = HFBackend(model, tokenizer, batch_size=2)
    prompts = ["Paris?", "What is the weather in Paris today, please tell me?", "Call get_weather now"]
    requests = [req(p, temperature=0.0, max_tokens=10, stage="verify") for p in prompts]
    calls = spy_generate(model)
    try:
        batched = backend.chat(requests)
        assert len(calls) == 2 and [c["input_ids"].shape[0] for c in calls] == [2, 1]  # 3 prompts, batch_size 2
        first = calls[0]["attention_mask"]
        assert (first[:, -1] == 1).all() and first[0, 0] == 0  # left padding: the shorter prompt is padded in front
        single = [backend.chat([r])[0] for r in requests]
    finally:
        del model.generate
    assert len(batched) == 3 and all(r.ok and isinstance(r.text, str) for r in batched)
    assert [r.text for r in batched] == [r.text for r in single]
    lengths = [len(tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                 add_generation_prompt=True)) for p in prompts]
    assert [r.usage["prompt_tokens"] for r in batched] == [r.usage["prompt_tokens"] for r in single]
    assert sorted(range(3), key=lambda i: batched[i].usage["prompt_tokens"]) == sorted(range(3),
                                                                                      key=lambda i: lengths[i])
    assert all(1 <= r.usage["completion_tokens"] <= 10 for r in batched)
    assert backend.usage.as_dict()["verify"]["requests"] == 6


def test_hf_sampling_is_seeded(tiny_hf):
    model, tokenizer = tiny_hf
    backend = HFBackend(model, tokenizer)
    r = req("Paris?", temperature=1.0, max_tokens=12, seed=5)
    first, again, other = (backend.chat([x])[0].text for x in (r, r, req("Paris?", temperature=1.0, max_tokens=12,
                                                                           seed=5, attempt=1)))
    assert first == again and first != other


def test_hf_needs_a_tokenizer_with_a_loaded_model(tiny_hf):
    with pytest.raises(ValueError, match="tokenizer"):
        HFBackend(tiny_hf[0])

