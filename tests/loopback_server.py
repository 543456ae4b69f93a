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
handled at once is kept in ``max_in_flight`` for concurrency-bound tests; ``hold(n)`` makes replies wait until
``n`` requests are in flight, so such a peak does not depend on timing.

A server can die as a process dies: ``kill()`` (or ``kill_after(n)``, at the n-th request) closes the listening
socket and every connection at once; the requests it was handling get no reply (``dropped`` counts them) and new
connections are refused. ``start()`` again brings it back on the same port.

For benchmarks, ``python tests/loopback_server.py --latency 0.2`` (:class:`LoopbackProcess` from Python) serves
the same good answers from an asyncio server in a process of its own, so the server neither shares the client's
interpreter lock nor spends a thread per connection; ``GET /stats`` gives its counts.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = ["Behaviour", "LoopbackProcess", "LoopbackServer", "Received", "echo_text", "malformed", "ok", "raw",
           "slow", "status"]


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
        self.killed = False
        self.dropped = 0  # requests received but never answered because the server was killed
        self._script: list[Behaviour] = []
        self._lock = threading.Lock()
        self._gate = threading.Condition(self._lock)
        self._hold: int | None = None
        self._hold_timeout = 0.0
        self._kill_at: int | None = None
        self._stop = threading.Event()
        self._port = 0
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

    def hold(self, n: int, timeout: float = 30.0) -> "LoopbackServer":
        """Keep every reply waiting until ``n`` requests are in flight at once (then answer as usual, and stop
        holding); after ``timeout`` seconds without that, answer anyway (the peak then tells the test)."""
        with self._lock:
            self._hold, self._hold_timeout = n, timeout
        return self

    def kill_after(self, n: int) -> "LoopbackServer":
        """Die (:meth:`kill`) when the ``n``-th request from now arrives; that request gets no reply either."""
        with self._lock:
            self._kill_at = len(self.received) + n
        return self

    def kill(self) -> None:
        """Die as a killed process does: the listening socket and every connection closed at once, no reply to the
        requests being handled (counted in ``dropped``), and new connections refused. ``start()`` revives it."""
        with self._lock:
            httpd = self._die()
        if httpd is not None:
            self._teardown(httpd)

    def _die(self) -> "_Server | None":
        """Mark the server dead (with the lock held): from now on no handler replies. Returns what to tear down."""
        if self.killed or self._httpd is None:
            return None
        self.killed = True
        httpd, self._httpd = self._httpd, None
        return httpd

    def _teardown(self, httpd: "_Server") -> None:
        httpd.socket.close()  # refuse new connections first
        httpd.abort_connections()
        self._stop.set()  # wake the handlers that sleep: they see `killed` and send nothing
        httpd.shutdown()
        httpd.server_close()

    @property
    def calls(self) -> int:
        return len(self.received)

    @property
    def base_url(self) -> str:
        """The URL it serves at (also while killed: the port stays its own for ``start()``)."""
        assert self._port, "server not started"
        return f"http://127.0.0.1:{self._port}/v1"

    def start(self) -> "LoopbackServer":
        """Serve, on a free port the first time and on the same port after :meth:`kill` or :meth:`close`."""
        self._stop.clear()
        self.killed = False
        self._httpd = _Server(("127.0.0.1", self._port), _handler_for(self))
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="loopback-openai", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()  # wakes sleeping handlers
        with self._lock:
            httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- one request ----------------------------------------------------------------------------------------------
    def _behaviour(self, request: Received) -> Behaviour:
        with self._lock:
            if self.killed:
                self.dropped += 1
                raise _Killed
            self.received.append(request)
            if self._kill_at is not None and len(self.received) >= self._kill_at:
                self._kill_at = None
                httpd = self._die()  # this request gets no reply either; the sockets close in another thread
                if httpd is not None:
                    threading.Thread(target=self._teardown, args=(httpd,), name="loopback-kill", daemon=True).start()
                self.dropped += 1
                raise _Killed
            if self._script:
                return self._script.pop(0)
        return self.respond(request) if self.respond is not None else ok()

    def _serve(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        behaviour = self._behaviour(request)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self._hold is not None:
                self._gate.notify_all()
                self._gate.wait_for(lambda: self._hold is None or self.in_flight >= self._hold or self.killed,
                                    timeout=self._hold_timeout)
                self._hold = None  # reached (or timed out): answer this one and everything after
                self._gate.notify_all()
        try:
            delay = self.latency if behaviour.delay is None else behaviour.delay
            if delay > 0 and not self.killed:
                self._stop.wait(delay)
        finally:
            # Leave the in-flight count *before* the reply is written: once the client has the reply it may send
            # its next request, which must not be counted on top of this one.
            with self._lock:
                self.in_flight -= 1
                if self.killed:
                    self.dropped += 1
        if self.killed:
            raise _Killed
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


class _Killed(Exception):
    """Raised in a handler of a killed server: close the connection without a reply."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # close() must not wait for handlers (a client may hold a keep-alive connection)
    request_queue_size = 256  # the default backlog of 5 refuses connections when 64 clients connect at once

    def __init__(self, *args: Any, **kwargs: Any):
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def abort_connections(self) -> None:
        """Reset every open connection (SO_LINGER 0: an RST, as when a process dies with its sockets)."""
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

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
            try:
                code, headers, payload = server._serve(Received(self.path, dict(self.headers.items()), body))
            except _Killed:
                self.close_connection = True
                return
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


# ---------------------------------------------------------------------------------------------------------------------
# The same good answers from an asyncio server in a process of its own (benchmarks; a real process to kill)


async def _serve_async(latency: float, port: int, ready: Any, die_after: int = 0, reuse_port: bool = False) -> None:
    stats = {"calls": 0, "in_flight": 0, "max_in_flight": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, path = head[0].split(" ")[:2]
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
                data = await reader.readexactly(int(headers.get("content-length") or 0))
                if method == "GET" and path == "/stats":
                    code, payload = 200, json.dumps(stats).encode()
                else:
                    try:
                        body = json.loads(data)
                    except ValueError:
                        body = None
                    stats["calls"] += 1
                    if die_after and stats["calls"] >= die_after:  # a crash, at a request count, not a time
                        os.kill(os.getpid(), signal.SIGKILL)
                    stats["in_flight"] += 1
                    stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
                    try:
                        await asyncio.sleep(latency)
                    finally:
                        stats["in_flight"] -= 1
                    code, payload = 200, json.dumps(_completion(body, None)).encode()
                writer.write(b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                             % (code, len(payload)) + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass  # the client hung up (or sent something that is not HTTP): drop the connection
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024, reuse_address=True,
                                        reuse_port=reuse_port or None)
    host, port = server.sockets[0].getsockname()[:2]
    ready(f"http://{host}:{port}/v1")
    async with server:
        await server.serve_forever()


class LoopbackProcess:
    """``python tests/loopback_server.py`` as a context manager: ``base_url``, ``stats()`` (calls, max_in_flight)
    and ``kill()`` (SIGKILL: the process dies with its connections, as a crashed server does). ``die_after=n``: the
    process SIGKILLs itself when the n-th chat request arrives, with every request it holds unanswered.

    ``workers=n`` (Linux): n such processes listening on one port (``SO_REUSEPORT``, the kernel spreads the
    connections), as ``uvicorn --workers n`` does, so that one server URL is not bound by one interpreter's CPU.
    ``stats()`` then reads whichever worker answers, and ``kill()`` kills them all."""

    def __init__(self, latency: float = 0.0, port: int = 0, die_after: int = 0, workers: int = 1):
        self.latency, self.port, self.die_after, self.workers = latency, port, die_after, int(workers)
        self.proc: subprocess.Popen | None = None
        self.others: list[subprocess.Popen] = []
        self.base_url = ""

    def _spawn(self, port: int) -> tuple[subprocess.Popen, str]:
        argv = [sys.executable, os.path.abspath(__file__), "--latency", str(self.latency), "--port", str(port),
                "--die-after", str(self.die_after)] + (["--reuse-port"] if self.workers > 1 else [])
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        return proc, proc.stdout.readline().strip()

    def start(self) -> "LoopbackProcess":
        self.proc, line = self._spawn(self.port)
        if not line.startswith("http://"):
            self.close()
            raise RuntimeError(f"loopback server process did not start (said {line!r})")
        self.base_url = line
        self.port = int(line.rsplit(":", 1)[1].split("/")[0])
        for _ in range(self.workers - 1):
            proc, line = self._spawn(self.port)
            self.others.append(proc)
            if line != self.base_url:
                self.close()
                raise RuntimeError(f"loopback worker did not join {self.base_url} (said {line!r})")
        return self

    def stats(self) -> dict[str, int]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/stats")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def kill(self) -> None:
        for proc in [self.proc, *self.others]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            if proc is not None:
                proc.wait()

    @property
    def died(self) -> bool:
        """Whether the process has ended (killed, or by ``die_after``)."""
        return self.proc is None or self.proc.poll() is not None

    def close(self) -> None:
        if self.proc is not None:
            self.kill()
            for proc in [self.proc, *self.others]:
                proc.stdout.close()
            self.proc, self.others = None, []

    def __enter__(self) -> "LoopbackProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="An OpenAI-compatible loopback chat server (echo answers, fixed "
                                                 "latency) on 127.0.0.1; prints its base URL, then serves")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--die-after", type=int, default=0, help="SIGKILL itself at the n-th chat request (0: never)")
    parser.add_argument("--reuse-port", action="store_true", help="SO_REUSEPORT: several processes share one port")
    args = parser.parse_args()

    def ready(url: str) -> None:
        print(url, flush=True)

    try:
        asyncio.run(_serve_async(args.latency, args.port, ready, args.die_after, args.reuse_port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
