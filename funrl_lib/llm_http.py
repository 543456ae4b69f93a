"""The HTTP side of the OpenAI-compatible backend (:class:`funrl_lib.backends.OpenAIBackend`): a fleet of endpoints
as one event loop sees it (slots, balance, health) and its ``aiohttp`` session.

:class:`Fleet` is shared by every event loop of a backend: which endpoints are up (:class:`Health`), which request
goes where (the fewest in flight for its concurrency, a retry elsewhere, a down endpoint probed after a wait that
doubles while probes fail). :class:`LoopState` is what one event loop owns (``aiohttp`` sessions and futures cannot
cross loops, and ``chat()`` in Jupyter runs on a loop of its own): the free slots per endpoint, the requests waiting
for one (first come, first served), the identical requests in flight (shared within the loop), and one
``aiohttp.ClientSession`` whose :meth:`LoopState.post` turns every way an exchange can fail into :class:`TimedOut`
or :class:`ConnectionFailed`, so that the backend's retry and fail-over logic names no HTTP library.

Why aiohttp (benchmarks/README.md, "LLM client"): ``httpx`` + ``httpcore`` + ``anyio`` cost 1.5-1.7 ms of CPU per
request against aiohttp's 0.3-0.6, and a synthesis client shares its cores with whatever else runs. What ``httpx``
did for free is done here: proxies from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
``NO_PROXY``; read once per loop and endpoint, as ``httpx`` read them once per client, where aiohttp's
``trust_env`` would read them, and ``~/.netrc``, in a worker thread on every request), one TLS context per process
(:func:`ssl_context`: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, else certifi's bundle when installed, else the
system's), and a loop's session is closed when the loop ends (:meth:`LoopState.arm`), so no "Unclosed client
session" warning is left behind by ``asyncio.run(backend.achat(...))`` without an ``aclose()``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

log = logging.getLogger("funrl_lib.backends")  # one logger for the OpenAI backend, wherever its code lives

TIMEOUTS_DOWN = 2  # consecutive timeouts that mark an endpoint down (a connection error does at once)
# Idle connections are dropped after this many seconds: below uvicorn's 5 s keep-alive (vLLM, SGLang), so that a
# request is not sent on a connection the server is closing (that would read as a dropped connection).
KEEPALIVE = 4.0
_SSL_CONTEXT: Any = None  # one per process (see ssl_context)
_SSL_LOCK = threading.Lock()


class TimedOut(Exception):
    """The attempt took longer than the backend's ``timeout``."""


class ConnectionFailed(Exception):
    """No reply: the connection was refused, dropped, or broke mid-reply. ``str()`` is ``"Kind: detail"``."""


@dataclass
class Reply:
    """An HTTP reply, read whole: ``status``, ``headers`` (case-insensitive) and the ``body`` bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        return json.loads(self.body)


def ssl_context() -> Any:
    """The TLS context every session of this process shares (loading a CA bundle costs about 50 ms of CPU, and a
    backend opens a session per event loop, again on every ``chat()``). Built as ``httpx`` built it:
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's bundle when installed, else the system's store."""
    global _SSL_CONTEXT
    with _SSL_LOCK:
        if _SSL_CONTEXT is None:
            import ssl

            cafile = os.environ.get("SSL_CERT_FILE") or None
            capath = os.environ.get("SSL_CERT_DIR") or None
            cafile = cafile if cafile and os.path.isfile(cafile) else None
            capath = capath if capath and os.path.isdir(capath) else None
            if cafile is None and capath is None:
                try:
                    import certifi

                    cafile = certifi.where()
                except ImportError:
                    pass  # the system's store (ssl.create_default_context's own)
            _SSL_CONTEXT = ssl.create_default_context(cafile=cafile, capath=capath)
        return _SSL_CONTEXT


def env_proxy(url: str) -> dict[str, Any]:
    """The proxy for ``url`` from the environment (``http_proxy``/``https_proxy``, else ``all_proxy``; none for a
    host that ``no_proxy`` names), as keyword arguments of ``aiohttp.ClientSession.post``: ``{}`` for none.
    Credentials in the proxy URL become its ``Proxy-Authorization``: on the request itself for an http URL, on the
    CONNECT for an https one (where aiohttp looks for each). aiohttp speaks to HTTP proxies only (also for https
    URLs, through CONNECT)."""
    import base64
    from urllib.parse import urlsplit
    from urllib.request import getproxies, proxy_bypass

    from yarl import URL

    parts = urlsplit(url)
    if parts.hostname and proxy_bypass(parts.hostname):
        return {}
    proxies = getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return {}
    proxy = URL(proxy if "://" in proxy else f"http://{proxy}")
    if proxy.scheme != "http":
        log.warning("ignoring the %s proxy %s for %s: only http:// proxies are supported", proxy.scheme,
                    proxy.with_user(None), url)
        return {}
    if not proxy.user:
        return {"proxy": proxy}
    credentials = f"{proxy.user}:{proxy.password or ''}"
    try:
        raw = credentials.encode("latin-1")  # as aiohttp.BasicAuth encodes them
    except UnicodeEncodeError:
        raw = credentials.encode("utf-8")
    auth = {"Proxy-Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    return {"proxy": proxy.with_user(None), "proxy_headers" if parts.scheme == "https" else "headers": auth}


@dataclass
class Health:
    """Whether an endpoint is up, shared by every loop of a backend. Down: ``down_until`` (monotonic) is when it
    gets one probe request; a failed probe doubles ``down_for`` (up to the fleet's ``max_probe_after``), any HTTP
    reply ends it."""

    down_until: float | None = None
    down_for: float = 0.0
    probing: bool = False
    timeouts: int = 0


@dataclass
class Site:
    """One endpoint as one event loop sees it: ``free`` slots of its ``capacity``, ``in_flight`` taken."""

    free: int
    capacity: int
    in_flight: int = 0


@dataclass
class LoopState:
    """What one event loop owns: a :class:`Site` per endpoint, the requests waiting for a slot (FIFO), the requests
    in flight by cache key, the session, and per endpoint its chat URL and proxy (:func:`env_proxy`)."""

    sites: list[Site]
    session: Any
    urls: list[Any]
    proxies: list[dict[str, Any]]
    waiters: collections.deque = field(default_factory=collections.deque)
    in_flight: dict[str, asyncio.Task] = field(default_factory=dict)
    turn: int = 0  # round robin among equally loaded endpoints
    _guard: Any = None

    async def post(self, endpoint: int, payload: Mapping[str, Any]) -> Reply:
        """POST ``payload`` (as JSON) to the endpoint's ``/chat/completions`` and read the whole reply."""
        import aiohttp

        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            # Redirects are not followed (as httpx did not): aiohttp would turn the POST into a GET.
            async with self.session.post(self.urls[endpoint], data=body, allow_redirects=False,
                                         **self.proxies[endpoint]) as r:
                return Reply(r.status, r.headers, await r.read())
        except asyncio.TimeoutError:  # aiohttp's own timeouts are subclasses; before OSError, which it is too
            raise TimedOut from None
        except aiohttp.ClientConnectorError as e:  # refused, unreachable, unknown host
            raise ConnectionFailed(f"ConnectError: {e}") from None
        except (aiohttp.ClientError, OSError) as e:  # dropped, reset, a reply cut short or not HTTP
            raise ConnectionFailed(f"{type(e).__name__}: {e}") from None

    def arm(self, on_end: Callable[["LoopState"], None]) -> None:
        """Close the session when the loop ends, even without ``aclose()``: an async generator started here is
        finalized by the loop's ``shutdown_asyncgens()`` (which ``asyncio.run`` calls before closing the loop), in
        the loop, where the session can still be closed. ``on_end(state)`` then drops the state."""
        async def guard() -> Any:
            try:
                yield
            finally:
                self._guard = None
                on_end(self)
                await self.close()

        agen = guard()
        try:
            agen.asend(None).send(None)  # runs to the yield; the loop's first-iteration hook now tracks it
        except StopIteration:
            pass
        self._guard = agen

    async def close(self) -> None:
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.aclose()  # its finally closes the session
        elif not self.session.closed:
            await self.session.close()

    def forget(self) -> None:
        """Close what can be closed without a loop (the loop closed without ``shutdown_asyncgens()``)."""
        _drive(self.close())


def forget_closed(states: dict, lock: Any) -> None:
    """Drop from ``states`` (loop -> :class:`LoopState`) the loops that were closed without
    ``shutdown_asyncgens()``, releasing what can be released without them (:meth:`LoopState.forget`)."""
    with lock:
        stale = [(loop, state) for loop, state in states.items() if loop.is_closed()]
        for loop, _ in stale:
            del states[loop]
    for _, state in stale:
        state.forget()


def _drive(awaitable: Awaitable[Any]) -> None:
    """Run an awaitable that does not suspend (a session whose loop is closed closes at once) without a loop."""
    coro = awaitable.__await__()
    try:
        coro.send(None)
    except StopIteration:
        return
    except RuntimeError:  # the closed loop refused something: nothing more can be released
        return
    coro.close()


class Fleet:
    """The endpoints of a backend: their health (shared by every loop) and, per loop, who gets which slot."""

    def __init__(self, endpoints: Sequence[Any], probe_after: float, max_probe_after: float):
        self.endpoints = tuple(endpoints)
        self.probe_after, self.max_probe_after = float(probe_after), float(max_probe_after)
        self.health = [Health() for _ in self.endpoints]
        self.lock = threading.Lock()

    def open(self, headers: Mapping[str, str], timeout: float) -> LoopState:
        """A :class:`LoopState` for the running loop, with its session: every slot of the fleet may hold a
        connection at once, idle ones are kept for :data:`KEEPALIVE` seconds, and an attempt times out when
        getting a connection takes ``timeout`` seconds, or the server stays silent that long (before its reply or
        within it), as ``httpx.Timeout(timeout)`` did: a long reply that keeps coming is not cut off."""
        import aiohttp
        from yarl import URL

        capacity = sum(e.concurrency for e in self.endpoints)
        https = any(e.url.startswith("https://") for e in self.endpoints)
        connector = aiohttp.TCPConnector(limit=capacity, keepalive_timeout=KEEPALIVE,
                                         ssl=ssl_context() if https else True)
        session = aiohttp.ClientSession(connector=connector, headers={"Content-Type": "application/json", **headers},
                                        timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout),
                                        cookie_jar=aiohttp.DummyCookieJar())  # an API has no use for cookies
        return LoopState([Site(e.concurrency, e.concurrency) for e in self.endpoints], session,
                         [URL(f"{e.url}/chat/completions") for e in self.endpoints],
                         [env_proxy(e.url) for e in self.endpoints])

    def status(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self.lock:
            return [{"url": e.url, "concurrency": e.concurrency, "up": h.down_until is None,
                     **({} if h.down_until is None else {"probe_in": max(0.0, h.down_until - now)})}
                    for e, h in zip(self.endpoints, self.health)]

    # -- slots --------------------------------------------------------------------------------------------------
    def pick(self, state: LoopState, avoid: int | None) -> tuple[int, bool] | None:
        """A free slot: ``(endpoint, probe)``, or None when every usable endpoint is busy. A down endpoint whose
        wait is over gets this request as its probe (unless the request just failed there, ``avoid``); else the up
        endpoint with the fewest requests in flight for its concurrency, not ``avoid`` when another has room. With
        every endpoint down, any endpoint will do (the request's own retries and backoff bound the attempts)."""
        sites = state.sites
        now = time.monotonic()
        probe = None
        with self.lock:
            for i, h in enumerate(self.health):
                if h.down_until is not None and not h.probing and now >= h.down_until and sites[i].free and i != avoid:
                    h.probing, probe = True, i
                    break
            if probe is None:
                up = [h.down_until is None for h in self.health]
                if any(up):
                    candidates = [i for i, site in enumerate(sites) if up[i] and site.free]
                else:
                    candidates = [i for i, site in enumerate(sites) if site.free]
        if probe is not None:
            best = probe
        else:
            if not candidates:
                return None
            if avoid is not None and len(candidates) > 1 and avoid in candidates:
                candidates.remove(avoid)
            n = len(sites)
            best = min(candidates, key=lambda i: (sites[i].in_flight / sites[i].capacity, (i - state.turn) % n))
            state.turn = (best + 1) % n
        site = sites[best]
        site.in_flight += 1
        site.free -= 1
        return best, probe is not None

    async def acquire(self, state: LoopState, avoid: int | None) -> tuple[int, bool]:
        """Wait for a slot (first come, first served; :meth:`release` wakes the next waiter)."""
        if not state.waiters:
            got = self.pick(state, avoid)
            if got is not None:
                return got
        loop = asyncio.get_running_loop()
        front = False
        while True:
            waiter = loop.create_future()
            if front:  # woken but nothing usable after all: keep its place at the head of the line
                state.waiters.appendleft(waiter)
            else:
                state.waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self.wake(state)  # woken, then cancelled: the wake-up goes to the next in line
                raise
            got = self.pick(state, avoid)
            if got is not None:
                if state.waiters and any(site.free for site in state.sites):
                    self.wake(state)  # several slots came free at once (a health change): keep the line moving
                return got
            front = True

    def release(self, state: LoopState, endpoint: int) -> None:
        site = state.sites[endpoint]
        site.free += 1
        site.in_flight -= 1
        self.wake(state)

    @staticmethod
    def wake(state: LoopState, every: bool = False) -> None:
        while state.waiters:
            waiter = state.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                if not every:
                    return

    # -- health -------------------------------------------------------------------------------------------------
    def alive(self, state: LoopState, endpoint: int) -> None:
        """An HTTP reply came from ``endpoint`` (any status): it is up."""
        h = self.health[endpoint]
        if h.down_until is None and not h.timeouts:
            return  # the common case, without the lock (only ever set back under it)
        with self.lock:
            was_down = h.down_until is not None
            h.down_until, h.down_for, h.probing, h.timeouts = None, 0.0, False, 0
        if was_down:
            log.warning("endpoint %s is back up", self.endpoints[endpoint].url)
            self.wake(state, every=True)

    def dead(self, state: LoopState, endpoint: int, probe: bool, *, timeout: bool = False) -> bool:
        """A connection to ``endpoint`` failed (refused, dropped, or timed out). Marks it down when it was up (after
        :data:`TIMEOUTS_DOWN` timeouts in a row) and again for twice as long when this was its probe. Returns
        whether another endpoint is up, so that the request fails over at once."""
        now = time.monotonic()
        with self.lock:
            h = self.health[endpoint]
            if timeout and not probe:
                h.timeouts += 1
            went_down = False
            if probe:
                h.down_for = min(self.max_probe_after, max(2 * h.down_for, self.probe_after))
                h.down_until, h.probing = now + h.down_for, False
            elif h.down_until is None and (not timeout or h.timeouts >= TIMEOUTS_DOWN):
                h.down_for = self.probe_after
                h.down_until, went_down = now + h.down_for, True
            others_up = any(g.down_until is None for i, g in enumerate(self.health) if i != endpoint)
            failover = others_up and h.down_until is not None
        if went_down:
            log.warning("endpoint %s is down; %s, probing it again in %.1f s", self.endpoints[endpoint].url,
                        "failing over to the others" if others_up else "no other endpoint is up", self.probe_after)
            self.wake(state, every=True)
        return failover

    def end_probe(self, endpoint: int) -> None:
        """A probe that ended without a verdict (cancelled): the next request may probe."""
        with self.lock:
            self.health[endpoint].probing = False
