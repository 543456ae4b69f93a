"""A scriptable OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks (no network, no model).

    with LoopbackServer(latency=0.2) as server:           # a random free port, served from a thread
        backend = OpenAIBackend(base_url=server.base_url, model="loopback")
        server.script(status(429, retry_after=0), ok())    # behaviour of the next requests, in order
        server.respond = lambda request: ok(...)           # ...or a function of the request, used after the script

What a request gets, first match wins: the next scripted behaviour, else ``respond(request)`` when set, else
:func:`ok`. A good answer is deterministic: ``echo <hash of the request body>: <last message>`` (or, when the
request asks for ``response_format={"type": "json_object"}``, the JSON object ``{"echo": <last message>}``) with a
``usage`` block counting words, so tests can check texts and token accounting without a model.

It is a ``ThreadingHTTPServer`` speaking HTTP/1.1 keep-alive with daemon threads and a deep listen backlog, so 64
concurrent requests with 200 ms latency each overlap (each connection gets its own thread and the sleeps run in
parallel). Sleeps wait on an event that ``close()`` sets, so a "slow" reply never holds up the end of a test.
Every request is recorded (:class:`Received`: path, headers, JSON body) and the peak number of requests being
handled at once is kept in ``max_in_flight`` for concurrency-bound tests.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = ["Behaviour", "LoopbackServer", "Received", "echo_text", "malformed", "ok", "raw", "slow", "status"]


@dataclass
class Behaviour:
    """What the server does with one request: wait ``delay`` seconds, then send ``status`` with ``body`` (a JSON
    value, or ``bytes`` sent as they are) and ``headers``. ``body=None`` on a 200 means "the echo answer", with
    ``content`` replacing the echo text when given."""

    status: int = 200
    delay: float | None = None  # None: the server's fixed latency
    content: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def ok(content: str | None = None, *, delay: float | None = None) -> Behaviour:
    """A good chat completion: the echo text, or ``content``."""
    return Behaviour(200, delay, content)


def malformed(*, delay: float | None = None) -> Behaviour:
    """A well-formed completion whose *content* is broken JSON (a reply cut off mid-object)."""
    return Behaviour(200, delay, '{"answer": [1, 2')


def status(code: int, message: str = "", *, retry_after: float | str | None = None,
           delay: float | None = None) -> Behaviour:
    """An error reply in OpenAI's shape ``{"error": {"message": ...}}``, with ``Retry-After`` when given."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Behaviour(code, delay, body={"error": {"message": message or f"loopback error {code}", "code": code}},
                     headers=headers)


def slow(seconds: float) -> Behaviour:
    """A good answer that only starts after ``seconds`` (set it above the client's timeout)."""
    return Behaviour(200, seconds)


def raw(body: bytes, code: int = 200) -> Behaviour:
    """Send ``body`` as it is (for example an HTML page where JSON was expected)."""
    return Behaviour(code, body=body)


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: Any

    @property
    def last_message(self) -> str:
        messages = (self.body or {}).get("messages") or [{}]
        return str(messages[-1].get("content", ""))


def echo_text(body: Any) -> str:
    """The deterministic good answer to a request body (also used by tests to predict texts)."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    messages = (body or {}).get("messages") or [{}]
    last = str(messages[-1].get("content", ""))
    if ((body or {}).get("response_format") or {}).get("type") == "json_object":
        return json.dumps({"echo": last})
    return f"echo {digest}: {last}"


class LoopbackServer:
    """The server; a context manager. ``latency`` is the default delay of every reply."""

    def __init__(self, latency: float = 0.0):
        self.latency = latency
        self.received: list[Received] = []
        self.respond: Callable[[Received], Behaviour] | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: list[Behaviour] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------------------------------------------
    def script(self, *behaviours: Behaviour) -> "LoopbackServer":
        """Queue behaviours for the next requests, in arrival order."""
        with self._lock:
            self._script.extend(behaviours)
        return self

    def reset(self) -> None:
        """Forget received requests, the script and the in-flight peak."""
        with self._lock:
            self.received.clear()
            self._script.clear()
            self.max_in_flight = 0

    @property
    def calls(self) -> int:
        return len(self.received)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "LoopbackServer":
        self._stop.clear()
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="loopback-openai", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()  # wakes sleeping handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- one request ----------------------------------------------------------------------------------------------
    def _behaviour(self, request: Received) -> Behaviour:
        with self._lock:
            self.received.append(request)
            if self._script:
                return self._script.pop(0)
        return self.respond(request) if self.respond is not None else ok()

    def _serve(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        behaviour = self._behaviour(request)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            delay = self.latency if behaviour.delay is None else behaviour.delay
            if delay > 0:
                self._stop.wait(delay)
        finally:
            # Leave the in-flight count *before* the reply is written: once the client has the reply it may send
            # its next request, which must not be counted on top of this one.
            with self._lock:
                self.in_flight -= 1
        if isinstance(behaviour.body, bytes):
            return behaviour.status, behaviour.headers, behaviour.body
        body = behaviour.body
        if body is None and behaviour.status == 200:
            body = _completion(request.body, behaviour.content)
        return behaviour.status, behaviour.headers, json.dumps(body).encode()


def _completion(body: Any, content: str | None) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    text = echo_text(body) if content is None else content
    prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
    usage = {"prompt_tokens": prompt_words, "completion_tokens": len(text.split())}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return {"id": "chatcmpl-loopback", "object": "chat.completion", "model": body.get("model", "loopback"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": usage}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # close() must not wait for handlers (a client may hold a keep-alive connection)
    request_queue_size = 256  # the default backlog of 5 refuses connections when 64 clients connect at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is expected here, not an error worth a traceback


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
        disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle + delayed ACK would add 40 ms

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            try:
                body = json.loads(data)
            except ValueError:
                body = None
            code, headers, payload = server._serve(Received(self.path, dict(self.headers.items()), body))
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet tests

    return Handler
