"""The OpenAI backend's HTTP layer (funrl_lib/llm_http.py, aiohttp): a loop's session is closed when the loop ends
even without ``aclose()``, proxies come from the environment, one TLS context serves the process, and aiohttp is
imported on the first request only. Loopback servers only (tests/loopback_server.py)."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from funrl_lib import llm_http
from funrl_lib.backends import ChatRequest, OpenAIBackend
from loopback_server import Behaviour, LoopbackServer, echo_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("FUNRL_OPENAI_BASE_URL", "OPENAI_BASE_URL", "FUNRL_OPENAI_MODEL", "OPENAI_API_KEY",
                "FUNRL_OPENAI_ENDPOINTS", "FUNRL_OPENAI_FLEET", "http_proxy", "HTTP_PROXY", "https_proxy",
                "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    with LoopbackServer() as s:
        yield s


def req(text: str = "hello") -> ChatRequest:
    return ChatRequest([{"role": "user", "content": text}])


class _Unclosed(logging.Handler):
    """Collects asyncio's "Unclosed client session" / "Unclosed connector" reports."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _no_unclosed_reports(run):
    handler = _Unclosed()
    logging.getLogger("asyncio").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = run()
            gc.collect()
    finally:
        logging.getLogger("asyncio").removeHandler(handler)
    unclosed = [m for m in handler.messages if "Unclosed" in m]
    unclosed += [str(w.message) for w in caught if "Unclosed" in str(w.message)]
    assert unclosed == []
    return out


def test_asyncio_run_without_aclose_closes_the_session(server):
    backend = OpenAIBackend(server.base_url, "m", cache=False)

    async def main():
        [result] = await backend.achat([req("no aclose")])  # and no `async with backend` either
        return result, backend._states[asyncio.get_running_loop()].session

    result, session = _no_unclosed_reports(lambda: asyncio.run(main()))
    assert result.text == echo_text(server.received[0].body)
    assert session.closed and backend._states == {}  # closed and dropped as asyncio.run shut the loop down


def test_async_with_and_chat_close_their_sessions(server):
    backend = OpenAIBackend(server.base_url, "m", cache=False)

    async def main():
        async with backend:
            await backend.achat([req("a")])
            return backend._states[asyncio.get_running_loop()].session

    session = _no_unclosed_reports(lambda: asyncio.run(main()))
    assert session.closed and backend._states == {}
    _no_unclosed_reports(lambda: backend.chat([req("b")]))
    assert backend._states == {} and server.calls == 2


def test_a_loop_closed_without_shutting_down_is_forgotten(server):
    """A hand-made loop closed without shutdown_asyncgens(): its session is released at the next loop's first
    request, without an "Unclosed client session" report."""
    backend = OpenAIBackend(server.base_url, "m", cache=False)
    loop = asyncio.new_event_loop()

    def run():
        loop.run_until_complete(backend.achat([req("by hand")]))
        session = backend._states[loop].session
        loop.close()
        assert backend.chat([req("again")])[0].ok
        return session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the closed loop's socket: only the loop could close it
        session = _no_unclosed_reports(run)
    assert session.closed and backend._states == {}


def test_proxy_from_the_environment_with_its_credentials_and_no_proxy(monkeypatch):
    with LoopbackServer() as proxy, LoopbackServer() as target:
        port = proxy.base_url.split(":")[2].split("/")[0]
        monkeypatch.setenv("HTTP_PROXY", f"http://user:s3cret@127.0.0.1:{port}")
        backend = OpenAIBackend(target.base_url, "m", cache=False)
        [result] = backend.chat([req("through the proxy")])
        assert result.ok and target.calls == 0 and proxy.calls == 1
        [seen] = proxy.received
        assert seen.path == f"{target.base_url}/chat/completions"  # the absolute URL: a proxy request
        assert seen.headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"user:s3cret").decode()

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert backend.chat([req("direct")])[0].ok
        assert (proxy.calls, target.calls) == (1, 1)


def test_one_tls_context_per_process(monkeypatch):
    import ssl

    made = []
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **kw: made.append(kw) or real(*a, **kw))
    monkeypatch.setattr(llm_http, "_SSL_CONTEXT", None)

    async def open_session(backend):
        async with backend:
            backend._state()  # the session a first request would use (no request: nothing listens there)

    for url in ("https://a.example/v1", "https://b.example/v1", "https://a.example/v1"):
        asyncio.run(open_session(OpenAIBackend(url, "m", cache=False)))
    assert len(made) == 1  # the CA bundle was loaded once, for three backends and loops
    assert llm_http.ssl_context() is llm_http.ssl_context()


def test_aiohttp_is_imported_by_the_first_request_only():
    code = """
import sys
from funrl_lib.backends import ChatRequest, make_backend
backend = make_backend("openai", base_url="http://127.0.0.1:9/v1", model="m", cache=False, max_retries=0)
before = "aiohttp" in sys.modules
[result] = backend.chat([ChatRequest([{"role": "user", "content": "x"}])])
print(before, "aiohttp" in sys.modules, result.error.split(":")[0])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.stdout.split() == ["False", "True", "gave", "up", "after", "1", "attempts"], out.stderr[-2000:]


def test_a_key_with_a_line_break_is_trimmed_or_refused_without_being_shown(server, monkeypatch):
    """aiohttp refuses a header with a control character (by raising, where httpx reported a connection error with
    the header's bytes in it): a key read from a file with its final line break is trimmed, any other is refused
    before any request, and neither message shows it."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-a-file-0123456789\n")
    assert OpenAIBackend(server.base_url, "m", cache=False).chat([req()])[0].ok
    assert server.received[0].headers["Authorization"] == "Bearer sk-from-a-file-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-broken\n0123456789")
    with pytest.raises(ValueError, match="control character") as e:
        OpenAIBackend(server.base_url, "m", cache=False)
    assert "sk-broken" not in str(e.value) and "0123456789" not in str(e.value)


def test_a_redirect_is_not_followed(server):
    server.script(Behaviour(307, body={"error": {"message": "moved"}}, headers={"Location": "/v2/chat/completions"}))
    [result] = OpenAIBackend(server.base_url, "m", cache=False).chat([req()])
    assert server.calls == 1 and "HTTP 307" in result.error and "not retried" in result.error
