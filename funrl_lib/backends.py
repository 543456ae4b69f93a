"""Chat backends for every stage (synthesis, verification, BFCL generation): a batch of chat requests in, one text (or a
reason) per request out.

Three kinds, one interface (:class:`Backend`: ``await achat(requests)`` or ``chat(requests)``):

``"programmatic"`` (:class:`ProgrammaticBackend`)
    The offline default: no model at all. Stages check ``backend.is_programmatic`` and run their deterministic
    implementations, drawing randomness from ``backend.rng(*keys)`` so every sample depends on ``(seed, keys)`` alone.
``"openai"`` (:class:`OpenAIBackend`)
    Any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, SGLang, Ollama) over ``aiohttp``, or a fleet
    of them (``endpoints``, each with its own concurrency; :func:`load_fleet` reads a fleet file), with bounded
    concurrency, load balanced to the least loaded endpoint, retries with exponential backoff on 429 / 5xx /
    timeouts / dropped connections, fail-over when an endpoint dies (marked down, the request sent elsewhere, the
    endpoint probed again later), and an sqlite response cache so that re-running a stage (after a crash, or to
    change a later stage) costs nothing.
``"hf"`` (:class:`HFBackend`)
    A local ``transformers`` model, batched and left-padded, run in a worker thread so the event loop stays free.

:func:`chat_json` is the ask-parse-reask loop the stages use for structured replies: a reply that does not parse
is asked again with ``attempt + 1`` (a different cache key, so not the same cached reply), and after ``retries`` the
sample is :class:`Quarantined` with the reason rather than crashing a long run. :func:`extract_json` pulls a JSON
object or array out of an LLM reply (bare, fenced, or inside prose) with ``json`` only; nothing is ever executed.

Async callers close the connections of their event loop when done, ``async with backend:`` or ``await
backend.aclose()`` (``chat()`` does it for its own loop, and the end of an ``asyncio.run`` for a caller that did
neither); the backend itself stays usable from any loop.

API keys come from the environment (a config file may only name the variable, ``api_key_env``). They are never
written to the cache (not part of the key, not stored), never shown by ``repr``, and redacted from error messages
(servers like to echo a wrong key back) before any message is cut short. A reply that contains the key is dropped:
never cached, never returned, so no stage can write it.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import email.utils
import hashlib
import inspect
import json
import logging
import os
import random
import re
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

from . import llm_http

__all__ = ["Backend", "ChatRequest", "ChatResult", "Endpoint", "HFBackend", "OpenAIBackend", "ProgrammaticBackend",
           "Quarantined", "RETRY_TEMPERATURE", "TokenUsage", "backend_from_cli", "chat_json", "extract_json",
           "load_fleet", "make_backend", "parse_endpoint", "run_sync"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_CACHE = Path("outputs/cache/llm.sqlite")  # relative to the working directory, like the other outputs/
BASE_URL_ENV = ("FUNRL_OPENAI_BASE_URL", "OPENAI_BASE_URL")
MODEL_ENV = "FUNRL_OPENAI_MODEL"
ENDPOINTS_ENV = "FUNRL_OPENAI_ENDPOINTS"  # endpoint specs (URL[,concurrency=N]) separated by spaces or ';'
FLEET_ENV = "FUNRL_OPENAI_FLEET"  # a fleet file (YAML or JSON), read by make_backend("openai")
KEY_ENV = "OPENAI_API_KEY"
HF_MODEL_ENV = "FUNRL_HF_MODEL"
MAX_RETRY_AFTER = 120.0  # a Retry-After beyond this is a misbehaving server; do not hang a run on it
ERROR_CHARS = 300  # how much of a server's error message a ChatResult.error keeps (cut after redaction)


# ---------------------------------------------------------------------------------------------------------------------
# Requests, results, token accounting


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to make. ``stage`` only labels token accounting; every other field is sent to the model
    and is part of the cache key. ``attempt`` is never sent: it exists so that a retry after an unusable reply is a
    *different* request for the cache (and for the sampler's seed in :class:`HFBackend`)."""

    messages: Sequence[Mapping[str, Any]]
    stage: str = "default"
    temperature: float = 0.7
    max_tokens: int = 1024
    seed: int | None = None
    attempt: int = 0
    json_mode: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.messages, (str, bytes)) or not isinstance(self.messages, Sequence) or not self.messages:
            raise TypeError("ChatRequest.messages must be a non-empty list of {'role', 'content'} dicts")
        messages = []
        for i, m in enumerate(self.messages):
            if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or "content" not in m:
                raise TypeError(f"ChatRequest.messages[{i}] must be a dict with 'role' (str) and 'content'")
            messages.append(dict(m))
        # A tuple of private copies: a caller mutating its list after building the request cannot change what is
        # sent, nor make the cache key disagree with the request.
        object.__setattr__(self, "messages", tuple(messages))


@dataclass
class ChatResult:
    """The reply to one request: ``text``, or ``error`` (the reason, after all retries) with ``text=None``.
    ``cached`` replies cost nothing; ``usage`` is the server's token count for the reply (also for cached ones)."""

    text: str | None
    error: str | None = None
    cached: bool = False
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})

    @property
    def ok(self) -> bool:
        return self.error is None


class TokenUsage:
    """Per-stage counters: ``requests`` asked, of which ``cached`` (served from the cache or shared with an identical
    request in flight) and ``failures`` (no text after all retries); tokens of the live calls only, since cached
    replies cost nothing. Thread-safe: ``chat()`` may run a batch in a worker thread."""

    FIELDS = ("requests", "cached", "failures", "prompt_tokens", "completion_tokens")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stages: dict[str, dict[str, int]] = {}

    def add(self, stage: str, **counts: int) -> None:
        with self._lock:
            row = self._stages.setdefault(stage, dict.fromkeys(self.FIELDS, 0))
            for name, n in counts.items():
                row[name] += int(n)

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {stage: dict(row) for stage, row in self._stages.items()}

    def total(self) -> dict[str, int]:
        stages = self.as_dict().values()
        return {name: sum(row[name] for row in stages) for name in self.FIELDS}

    def table(self) -> str:
        """A markdown table, one row per stage and a total."""
        lines = ["| stage | " + " | ".join(f.replace("_", " ") for f in self.FIELDS) + " |",
                 "|---" * (len(self.FIELDS) + 1) + "|"]
        for stage, row in sorted(self.as_dict().items()) + [("total", self.total())]:
            lines.append(f"| {stage} | " + " | ".join(f"{row[f]:,}" for f in self.FIELDS) + " |")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"TokenUsage({self.as_dict()})"


# ---------------------------------------------------------------------------------------------------------------------
# The interface


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from blocking code: on a fresh event loop, or, when called from inside a running
    loop (a Jupyter cell, where ``asyncio.run`` is refused), on a fresh loop in a worker thread, waiting for it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="funrl-sync") as pool:
        return pool.submit(asyncio.run, coro).result()


class Backend(abc.ABC):
    """``await achat(requests)`` gives one :class:`ChatResult` per request, in order; it never raises for a failed
    request (the result carries the reason), so one bad sample cannot stop a batch."""

    name = "backend"
    is_programmatic = False

    def __init__(self) -> None:
        self.usage = TokenUsage()

    @abc.abstractmethod
    async def achat(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        ...

    async def aclose(self) -> None:
        """Release what this event loop's calls opened (connections). The backend stays usable."""

    def chat(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        """Blocking :meth:`achat`. Inside a running event loop (a Jupyter cell) ``asyncio.run`` is not allowed, so the
        batch then runs on a fresh loop in a worker thread and this call waits for it."""
        requests = _as_request_list(requests)

        async def run() -> list[ChatResult]:
            try:
                return await self.achat(requests)
            finally:
                await self.aclose()  # the loop ends with this call; its connections must not outlive it

        return run_sync(run())

    async def __aenter__(self) -> "Backend":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def _as_request_list(requests: Sequence[ChatRequest]) -> list[ChatRequest]:
    if isinstance(requests, ChatRequest):
        raise TypeError("pass a list of ChatRequest (a batch), not a single ChatRequest")
    requests = list(requests)
    for r in requests:
        if not isinstance(r, ChatRequest):
            raise TypeError(f"expected ChatRequest, got {type(r).__name__}")
    return requests


def _stable_int(*parts: Any) -> int:
    """A 64-bit integer from JSON-serialisable parts, identical across runs and machines (``hash()`` is salted)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")


# ---------------------------------------------------------------------------------------------------------------------
# Programmatic: no model


class ProgrammaticBackend(Backend):
    """The offline default. There is nothing to ask: stages see ``is_programmatic`` and generate deterministically,
    with ``rng(*keys)`` as their source of randomness (same ``seed`` and keys, same stream, on any machine)."""

    name = "programmatic"
    is_programmatic = True

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = int(seed)

    def rng(self, *keys: Any) -> random.Random:
        """A ``random.Random`` for one sample, e.g. ``backend.rng("dialogs", index)``. Keys must be JSON values."""
        return random.Random(_stable_int(self.seed, *keys))

    async def achat(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        raise RuntimeError("the programmatic backend has no model to chat with: a stage should check "
                           "backend.is_programmatic and use its deterministic implementation (or configure an "
                           "'openai' or 'hf' backend)")

    def __repr__(self) -> str:
        return f"ProgrammaticBackend(seed={self.seed})"


# ---------------------------------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP


class _Secret:
    """Holds the API key so that neither ``repr(backend)`` nor ``vars(backend)`` nor a debugger's view shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None):
        self._value = value or None

    def get(self) -> str | None:
        return self._value

    def redact(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value else text

    def within(self, text: str | None) -> bool:
        """Whether ``text`` contains the key."""
        return bool(self._value) and isinstance(text, str) and self._value in text

    def __repr__(self) -> str:
        return "'***'" if self._value else "None"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("an API key is not pickled; build the backend again from the environment")


class ResponseCache:
    """Replies on disk, one sqlite file: ``sha256(request) -> (text, usage)``. WAL mode so readers never wait for a
    writer; one connection guarded by a lock, shared by the coroutines of one process (a short local write per
    reply). Only successful replies are stored, and nothing that identifies the account (no key, no headers)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash may lose the last replies, never corrupt
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
                         "usage TEXT NOT NULL, created REAL NOT NULL)")

    def get(self, key: str) -> tuple[str, dict[str, int]] | None:
        with self._lock:
            row = self._db.execute("SELECT text, usage FROM replies WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def put(self, key: str, text: str, usage: dict[str, int]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?)",
                             (key, text, json.dumps(usage), time.time()))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass(frozen=True)
class Endpoint:
    """One server of a fleet: its base URL (``.../v1``) and how many requests it gets at once."""

    url: str
    concurrency: int


def parse_endpoint(spec: "str | Mapping[str, Any] | Endpoint", default_concurrency: int = 8) -> Endpoint:
    """An :class:`Endpoint` from ``"URL"``, ``"URL,concurrency=N"`` (``c=N`` for short; the ``--endpoint`` syntax)
    or ``{"url": URL, "concurrency": N}`` (a fleet file). ``default_concurrency`` is used when the spec names none."""
    if isinstance(spec, Endpoint):
        return spec
    concurrency: Any = default_concurrency
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"url", "base_url", "concurrency"})
        if unknown:
            raise ValueError(f"endpoint {dict(spec)!r}: unknown field(s) {', '.join(map(str, unknown))}; "
                             "accepted: url, concurrency")
        url = spec.get("url") or spec.get("base_url")
        concurrency = spec.get("concurrency", default_concurrency)
    elif isinstance(spec, str):
        url, *options = [part.strip() for part in spec.split(",")]
        for option in options:
            name, sep, value = option.partition("=")
            if not sep or name.strip() not in ("concurrency", "c"):
                raise ValueError(f"endpoint {spec!r}: expected URL[,concurrency=N], got the option {option!r}")
            try:
                concurrency = int(value)
            except ValueError:
                raise ValueError(f"endpoint {spec!r}: concurrency must be an integer, got {value!r}") from None
    else:
        raise ValueError(f"an endpoint is a URL string or a mapping with `url`, got {type(spec).__name__}")
    if not isinstance(url, str) or not re.match(r"https?://[^/\s]", url.strip()):
        raise ValueError(f"endpoint {spec!r}: the URL must start with http:// or https://")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"endpoint {spec!r}: concurrency must be an integer >= 1, got {concurrency!r}")
    return Endpoint(url.strip().rstrip("/"), concurrency)


def load_fleet(path: str | os.PathLike) -> dict[str, Any]:
    """The backend settings in a fleet file (YAML, or JSON when it ends in ``.json``): ``endpoints`` (a list of
    ``URL[,concurrency=N]`` strings or ``{url, concurrency}`` mappings) and any other :class:`OpenAIBackend` field
    (``model``, ``concurrency`` for the endpoints that name none, ``max_retries``, ``cache_scope``...). Like any
    config, it may name the key's variable (``api_key_env``) but not hold a key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"fleet file {path}: cannot read it ({e.strerror or e})") from None
    import yaml

    is_json = path.suffix.lower() == ".json"
    try:
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise ValueError(f"fleet file {path}: not valid {'JSON' if is_json else 'YAML'}: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"fleet file {path}: expected a mapping with `endpoints`, got {type(data).__name__}")
    kind = data.pop("kind", "openai")
    if str(kind).lower() != "openai":
        raise ValueError(f"fleet file {path}: a fleet is of OpenAI-compatible servers, not kind {kind!r}")
    if "api_key" in data:
        raise ValueError(f"fleet file {path}: must not contain `api_key` (config files get committed and shared): "
                         f"put the key in an environment variable ({KEY_ENV} by default) and name another with "
                         "`api_key_env` if needed")
    endpoints = data.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        raise ValueError(f"fleet file {path}: `endpoints` must be a non-empty list of URL[,concurrency=N] strings "
                         "or {url, concurrency} mappings")
    return data


TIMEOUTS_DOWN = llm_http.TIMEOUTS_DOWN  # consecutive timeouts that mark an endpoint down


class _GiveUp(Exception):
    """A reply that retrying will not fix (4xx other than 429, a body that is not a chat completion)."""


class OpenAIBackend(Backend):
    """An OpenAI-compatible chat endpoint, or a fleet of them. Each argument falls back to the environment:

    * ``base_url`` (one server): ``FUNRL_OPENAI_BASE_URL``, then ``OPENAI_BASE_URL`` (``http://localhost:8000/v1``);
    * ``endpoints`` (a fleet, instead of ``base_url``): ``URL[,concurrency=N]`` strings or ``{url, concurrency}``
      mappings, else ``FUNRL_OPENAI_ENDPOINTS`` (such specs separated by spaces or ``;``); the servers must serve
      the same model (replicas), since any of them may answer any request;
    * ``model``: ``FUNRL_OPENAI_MODEL``;
    * ``api_key``: the variable named by ``api_key_env`` (default ``OPENAI_API_KEY``); none is fine for a local
      server. Prefer the environment: a key passed here is kept out of reprs, errors and the cache all the same.
      One key for the whole fleet.

    ``concurrency`` requests are on the wire at once per event loop and endpoint (an endpoint may name its own); a
    request goes to the endpoint with the fewest requests in flight for its concurrency (round robin among equals).
    Each request gets ``max_retries`` retries on 429, 5xx, timeouts (an attempt whose connection or reply does not
    come within ``timeout`` seconds) and connection errors, waiting ``Retry-After`` when the server says, else
    ``backoff * 2**n`` seconds (at most ``max_backoff``) times a random factor in [0.5, 1] so that many clients
    rate-limited together do not come back together; a retry prefers another endpoint. An endpoint that drops or
    refuses a connection (or times out :data:`TIMEOUTS_DOWN` times in a row) is marked down: its requests go to the
    others at once, without waiting and without using a retry, and it gets one probe request after ``probe_after``
    seconds (doubling to ``max_probe_after`` while probes fail). With every endpoint down, requests retry with
    backoff as with one server.

    ``cache`` (on by default, at ``cache_path``) serves a request it has answered before without any HTTP; identical
    requests in flight at the same time are sent once. The cache key holds the server (``cache_scope``, by default
    the one URL, or all of a fleet's), so replies of another server are not mixed up; name a ``cache_scope`` (e.g.
    ``"qwen-7b-replicas"``) to keep the cache when the fleet changes. ``extra_body`` is merged into every request
    (e.g. vLLM's ``{"chat_template_kwargs": {...}}``).

    HTTP goes through ``aiohttp`` (:mod:`funrl_lib.llm_http`, imported on the first request), one session per event
    loop, closed by :meth:`aclose` or when the loop ends: proxies come from the environment (``HTTPS_PROXY``,
    ``NO_PROXY``...), TLS certificates from ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, else certifi's bundle.
    """

    name = "openai"

    def __init__(self, base_url: str | None = None, model: str | None = None, *,
                 endpoints: Sequence[str | Mapping[str, Any] | Endpoint] | None = None, api_key: str | None = None,
                 api_key_env: str | None = None, concurrency: int = 8, max_retries: int = 5, timeout: float = 60.0,
                 backoff: float = 1.0, max_backoff: float = 30.0, probe_after: float = 2.0,
                 max_probe_after: float = 60.0, cache: bool = True, cache_path: str | os.PathLike | None = None,
                 cache_scope: str | None = None, extra_body: Mapping[str, Any] | None = None):
        super().__init__()
        if base_url and endpoints:
            raise ValueError("openai backend: give `base_url` (one server) or `endpoints` (a fleet), not both")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1 or max_retries < 0 \
                or timeout <= 0 or probe_after < 0 or max_probe_after < probe_after:
            raise ValueError("openai backend: need concurrency >= 1, max_retries >= 0, timeout > 0 and "
                             "0 <= probe_after <= max_probe_after")
        if not base_url and not endpoints and (os.environ.get(ENDPOINTS_ENV) or "").strip():
            endpoints = os.environ[ENDPOINTS_ENV].replace(";", " ").split()
        if not endpoints:
            base_url = base_url or next((os.environ[v] for v in BASE_URL_ENV if os.environ.get(v)), None)
            if not base_url:
                raise ValueError("openai backend needs a server: set `base_url` (or a fleet's `endpoints`) in the "
                                 f"backend config or the {BASE_URL_ENV[0]} (or {BASE_URL_ENV[1]}) environment "
                                 "variable, e.g. http://localhost:8000/v1 for a local vLLM server")
            endpoints = [Endpoint(base_url.rstrip("/"), int(concurrency))]
        if isinstance(endpoints, (str, Mapping, Endpoint)):
            endpoints = [endpoints]
        self.endpoints = tuple(parse_endpoint(e, int(concurrency)) for e in endpoints)
        urls = [e.url for e in self.endpoints]
        if len(set(urls)) < len(urls):
            raise ValueError(f"openai backend: an endpoint is listed twice: {', '.join(urls)}")
        model = model or os.environ.get(MODEL_ENV)
        if not model:
            raise ValueError(f"openai backend needs a model name: set `model` in the backend config or the "
                             f"{MODEL_ENV} environment variable")
        if api_key is None:
            env = api_key_env or KEY_ENV
            api_key = os.environ.get(env)
            if api_key_env and not api_key:  # named on purpose, so its absence is a mistake worth stopping for
                raise ValueError(f"openai backend: api_key_env names {api_key_env}, which is not set")
        if api_key:
            api_key = api_key.strip()  # a key read from a file often ends in a line break, never part of the key
            if any(ord(c) < 32 or ord(c) == 127 for c in api_key):  # no HTTP header may hold one
                raise ValueError("openai backend: the API key contains a control character (not shown here); check "
                                 f"the variable that holds it ({api_key_env or KEY_ENV} unless passed directly)")
        self.base_url = urls[0]
        self.model = model
        self._key = _Secret(api_key)
        self.concurrency = sum(e.concurrency for e in self.endpoints)  # on the wire at once, the whole fleet
        self.max_retries, self.timeout = int(max_retries), float(timeout)
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.probe_after, self.max_probe_after = float(probe_after), float(max_probe_after)
        # One server: its URL, as the cache key always had (old caches stay valid). A fleet: all its URLs.
        self.cache_scope = cache_scope or (urls[0] if len(urls) == 1 else "fleet:" + " ".join(sorted(urls)))
        self.extra_body = dict(extra_body or {})
        self.cache = ResponseCache(cache_path or DEFAULT_CACHE) if cache else None
        self.json_mode_supported = True  # cleared when the server rejects response_format
        self._fleet = llm_http.Fleet(self.endpoints, self.probe_after, self.max_probe_after)
        # Per event loop (see _state and aclose). A session holds its loop, so this holds them all until each is
        # closed: by aclose(), by the loop's end (LoopState.arm), or, for a loop closed without shutting down its
        # async generators, by the next _state() or this backend's end.
        self._states: dict[asyncio.AbstractEventLoop, llm_http.LoopState] = {}
        self._states_lock = threading.Lock()
        weakref.finalize(self, llm_http.forget_closed, self._states, self._states_lock)
        self._jitter = random.Random()
        self._sleep = asyncio.sleep  # tests swap this to see the backoff delays without waiting for them

    def __repr__(self) -> str:
        cache = self.cache.path if self.cache else None
        where = (f"base_url={self.base_url!r}" if len(self.endpoints) == 1 else
                 "endpoints=[" + ", ".join(f"'{e.url},concurrency={e.concurrency}'" for e in self.endpoints) + "]")
        return (f"OpenAIBackend({where}, model={self.model!r}, api_key={self._key!r}, "
                f"concurrency={self.concurrency}, cache={str(cache) if cache else None!r})")

    # -- plumbing -------------------------------------------------------------------------------------------------
    def cache_key(self, request: ChatRequest) -> str:
        """sha256 of everything that shapes the reply, and nothing else (not the key, not the stage label, not which
        endpoint of a fleet answered)."""
        blob = json.dumps({"base_url": self.cache_scope, "model": self.model, "messages": request.messages,
                           "temperature": request.temperature, "max_tokens": request.max_tokens,
                           "seed": request.seed, "attempt": request.attempt, "json_mode": request.json_mode,
                           "extra_body": self.extra_body}, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def close(self) -> None:
        """Close the cache file (connections belong to event loops: see :meth:`aclose`)."""
        if self.cache is not None:
            self.cache.close()

    def endpoint_status(self) -> list[dict[str, Any]]:
        """Each endpoint: ``url``, ``concurrency``, ``up`` and, while down, ``probe_in`` seconds."""
        return self._fleet.status()

    def _state(self) -> llm_http.LoopState:
        """The running loop's slots and session, made on its first request (aiohttp is imported then)."""
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is not None:
            return state
        llm_http.forget_closed(self._states, self._states_lock)  # loops closed without shutdown_asyncgens()
        headers = {"Authorization": f"Bearer {self._key.get()}"} if self._key.get() else {}
        state = self._fleet.open(headers, self.timeout)
        with self._states_lock:
            self._states[loop] = state
        state.arm(self._drop_state)  # closed with the loop when nobody calls aclose()
        return state

    def _drop_state(self, state: llm_http.LoopState) -> None:
        with self._states_lock:
            for loop, s in list(self._states.items()):
                if s is state:
                    del self._states[loop]

    async def aclose(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        with self._states_lock:
            state = self._states.pop(loop, None)
        if state is not None:
            await state.close()

    def _payload(self, request: ChatRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, "messages": list(request.messages),
                                   "temperature": request.temperature, "max_tokens": request.max_tokens}
        if request.seed is not None:
            payload["seed"] = request.seed
        if request.json_mode and self.json_mode_supported:
            payload["response_format"] = {"type": "json_object"}
        payload.update(self.extra_body)
        return payload

    def _delay(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        return min(self.max_backoff, self.backoff * 2 ** (retry - 1)) * self._jitter.uniform(0.5, 1.0)

    # -- one request ----------------------------------------------------------------------------------------------
    async def achat(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        requests = _as_request_list(requests)
        state = self._state()
        return list(await asyncio.gather(*(self._one(state, r) for r in requests)))

    async def _one(self, state: llm_http.LoopState, request: ChatRequest) -> ChatResult:
        if self.cache is not None:
            key = self.cache_key(request)
            hit = self.cache.get(key)
            if hit is not None:
                self.usage.add(request.stage, requests=1, cached=1)
                return ChatResult(hit[0], cached=True, usage=hit[1])
            task = state.in_flight.get(key)
            if task is not None:  # the same request is on the wire: share its reply, as a re-run would
                result = await asyncio.shield(task)
                self.usage.add(request.stage, requests=1, cached=int(result.ok), failures=int(not result.ok))
                return replace(result, cached=result.ok)
            task = state.in_flight[key] = asyncio.ensure_future(self._fetch(state, request, key))
            task.add_done_callback(lambda _: state.in_flight.pop(key, None))
            return await asyncio.shield(task)  # a cancelled caller must not cancel the reply others wait for
        return await self._fetch(state, request, None)

    async def _fetch(self, state: llm_http.LoopState, request: ChatRequest, key: str | None) -> ChatResult:
        fleet = self._fleet
        last_error = "no attempt made"
        # ``tries`` counts the attempts that use the retry budget; a fail-over (the endpoint died, another is up)
        # does not, so a server dying mid-run loses no request. Fail-overs are bounded all the same, in case the
        # endpoints keep dying and coming back.
        tries = failovers = 0
        max_failovers = len(self.endpoints) * (self.max_retries + 1)
        avoid: int | None = None
        while True:
            retry_after = None
            failed_over = False
            payload = self._payload(request)
            endpoint, probe = await fleet.acquire(state, avoid)  # held for the HTTP exchange only
            base_url = self.endpoints[endpoint].url
            verdict = False  # whether the probe (if this is one) ended with a verdict on the endpoint
            try:
                try:
                    response = await state.post(endpoint, payload)
                    if (response.status in (400, 422) and "response_format" in payload
                            and "response_format" in response.text):
                        # The server has no JSON mode (older vLLM, some proxies): ask again without it, and stop
                        # asking for it; the prompt still says "reply in JSON" and extract_json copes.
                        log.info("%s rejects response_format; continuing without JSON mode", base_url)
                        self.json_mode_supported = False
                        response = await state.post(endpoint, self._payload(request))
                finally:
                    fleet.release(state, endpoint)
                fleet.alive(state, endpoint)
                verdict = True
                result = self._read(response, base_url)
                if result is not None:
                    self.usage.add(request.stage, requests=1, **result.usage)
                    if self._key.within(result.text):  # a server echoing the key: never cached, never returned
                        return self._failed(request, "the reply contains the API key; dropped unread (not cached, "
                                                     "not written)", counted=True)
                    if self.cache is not None and key is not None:
                        self.cache.put(key, result.text, result.usage)
                    return result
                last_error = f"HTTP {response.status}: {_server_message(response, self._key)}"
                retry_after = _retry_after(response.headers.get("Retry-After"))
            except llm_http.TimedOut:
                last_error = f"timed out after {self.timeout:g} s"
                failed_over, verdict = fleet.dead(state, endpoint, probe, timeout=True), True
            except llm_http.ConnectionFailed as e:
                last_error = f"connection error ({e})"
                failed_over, verdict = fleet.dead(state, endpoint, probe), True
            except _GiveUp as e:
                return self._failed(request, str(e))
            finally:
                if probe and not verdict:
                    fleet.end_probe(endpoint)
            avoid = endpoint
            if len(self.endpoints) > 1:
                last_error = f"{base_url}: {last_error}"
            if failed_over and failovers < max_failovers:
                failovers += 1
                log.info("%s: %s; failing over", request.stage, self._key.redact(last_error))
                continue
            tries += 1
            if tries > self.max_retries:
                break
            delay = self._delay(tries, retry_after)
            log.info("%s: %s; retry %d/%d in %.2f s", request.stage, self._key.redact(last_error), tries,
                     self.max_retries, delay)
            await self._sleep(delay)
        return self._failed(request, f"gave up after {tries + failovers} attempts: {last_error}")

    def _read(self, response: llm_http.Reply, base_url: str) -> ChatResult | None:
        """The result of a reply; None when it is worth retrying (429, 5xx); raises _GiveUp when it is not."""
        code = response.status
        if code == 429 or code >= 500:
            return None
        if code != 200:
            raise _GiveUp(f"HTTP {code} from {base_url}/chat/completions (not retried): "
                          f"{_server_message(response, self._key)}")
        try:
            data = response.json()
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            body = _cut(self._key.redact(response.text))  # redact first: a cut key would survive in part
            raise _GiveUp(f"HTTP 200 but not a chat completion: {body!r}") from None
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str):
            finish = data["choices"][0].get("finish_reason")
            raise _GiveUp(f"reply has no text content (finish_reason={finish!r})")
        usage = data.get("usage") or {}
        return ChatResult(text, usage={"prompt_tokens": int(usage.get("prompt_tokens") or 0),
                                       "completion_tokens": int(usage.get("completion_tokens") or 0)})

    def _failed(self, request: ChatRequest, reason: str, *, counted: bool = False) -> ChatResult:
        """A failed request: the reason redacted (every message that could hold the key was redacted before it was
        cut short; this catches any other path). ``counted``: the request is already in the usage counters."""
        reason = self._key.redact(reason)
        self.usage.add(request.stage, requests=0 if counted else 1, failures=1)
        log.warning("%s: request failed: %s", request.stage, reason)
        return ChatResult(None, error=reason)


def _server_message(response: llm_http.Reply, key: "_Secret | None" = None) -> str:
    """The server's own explanation, from OpenAI's ``{"error": {"message"}}`` shape or the raw body, with ``key``
    redacted and only then truncated to :data:`ERROR_CHARS` (truncating first would leave most of a key that
    straddles the cut)."""
    try:
        data = response.json()
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message", error) if isinstance(error, dict) else error
        text = message if isinstance(message, str) else json.dumps(message)
    except ValueError:
        text = response.text
    if key is not None:
        text = key.redact(text)
    return _cut(" ".join(text.split()))


def _cut(text: str) -> str:
    """At most :data:`ERROR_CHARS` characters of an (already redacted) error text."""
    return text[:ERROR_CHARS] + ("..." if len(text) > ERROR_CHARS else "")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# ---------------------------------------------------------------------------------------------------------------------
# Local transformers model


class HFBackend(Backend):
    """A local ``transformers`` causal LM: ``model`` is a path / hub id (loaded on first use) or a loaded model, then
    ``tokenizer`` is required. Requests with the same sampling settings are batched ``batch_size`` at a time,
    shortest first to waste less padding, left-padded so every prompt ends where generation starts. Greedy when
    ``temperature == 0`` (a retry then gives the same text), else sampling seeded from ``(seed, request.seed,
    attempt)``; a sampled text also depends on its batch mates, so it is reproducible for the same batch only.
    ``json_mode`` is not constrained decoding (the prompt has to ask for JSON), but a row whose reply starts with a
    JSON object or array ends as soon as that value closes (:mod:`funrl_lib.json_stop`), so a batch does not wait
    for a model that goes on writing after its JSON."""

    name = "hf"

    def __init__(self, model: Any = None, tokenizer: Any = None, *, batch_size: int = 8, device: str | None = None,
                 dtype: str = "auto", seed: int = 0):
        super().__init__()
        model = model or os.environ.get(HF_MODEL_ENV)
        if model is None or (isinstance(model, str) and not model.strip()):
            raise ValueError(f"hf backend needs a model: set `model` (a local path or hub id) in the backend config "
                             f"or the {HF_MODEL_ENV} environment variable")
        if not isinstance(model, (str, os.PathLike)) and tokenizer is None:
            raise ValueError("hf backend: a loaded model needs its `tokenizer` too")
        if batch_size < 1:
            raise ValueError("hf backend: batch_size must be >= 1")
        self._model, self._tokenizer = model, tokenizer
        self.batch_size, self.device, self.dtype, self.seed = int(batch_size), device, dtype, int(seed)
        self._lock = threading.Lock()  # one generate() at a time: the model is not reentrant, memory is finite

    def __repr__(self) -> str:
        source = self._model if isinstance(self._model, (str, os.PathLike)) else type(self._model).__name__
        return f"HFBackend(model={str(source)!r}, batch_size={self.batch_size})"

    def _load(self) -> tuple[Any, Any]:
        if isinstance(self._model, (str, os.PathLike)):
            import torch

            from .model_source import load_causal_lm

            # a folder, a LoRA adapter folder, a GGUF file (converted once) or a Hub id
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model, tokenizer = load_causal_lm(str(self._model), dtype=self.dtype, device=device, merge_adapter=True)
            self._tokenizer = self._tokenizer or tokenizer
            self._model = model
        self._model.eval()  # inference mode for dropout; torch's Module.eval, not Python's
        return self._model, self._tokenizer

    async def achat(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        requests = _as_request_list(requests)
        return await asyncio.to_thread(self._generate_all, requests)

    def _generate_all(self, requests: list[ChatRequest]) -> list[ChatResult]:
        with self._lock:
            model, tokenizer = self._load()
            prompts = [tokenizer.apply_chat_template(list(r.messages), tokenize=False, add_generation_prompt=True)
                       for r in requests]
            groups: dict[tuple, list[int]] = {}
            for i, r in enumerate(requests):
                groups.setdefault((r.temperature, r.max_tokens, r.seed, r.attempt, r.json_mode), []).append(i)
            results: list[ChatResult | None] = [None] * len(requests)
            for (temperature, max_tokens, seed, attempt, json_mode), indices in groups.items():
                indices.sort(key=lambda i: len(prompts[i]))
                for start in range(0, len(indices), self.batch_size):
                    chunk = indices[start:start + self.batch_size]
                    texts = self._generate(model, tokenizer, [prompts[i] for i in chunk], temperature, max_tokens,
                                           seed, attempt, start, json_mode=json_mode)
                    for i, result in zip(chunk, texts):
                        results[i] = result
                        self.usage.add(requests[i].stage, requests=1, **result.usage)
            return results  # type: ignore[return-value]

    def _generate(self, model: Any, tokenizer: Any, prompts: list[str], temperature: float, max_tokens: int,
                  seed: int | None, attempt: int, chunk: int, json_mode: bool = False) -> list[ChatResult]:
        import copy

        import torch

        if tokenizer.pad_token_id is None:  # many chat models ship without one; EOS is the usual stand-in
            tokenizer.pad_token = tokenizer.eos_token
        batch = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        batch = batch.to(model.device)
        config = copy.deepcopy(model.generation_config)  # keep the model's own EOS ids and defaults
        config.max_new_tokens, config.pad_token_id = max_tokens, tokenizer.pad_token_id
        config.do_sample = temperature > 0
        if config.do_sample:
            config.temperature = temperature
            torch.manual_seed(_stable_int(self.seed, seed, attempt, chunk) % 2**63)
        else:
            config.temperature = config.top_p = config.top_k = None  # unused when greedy; avoids a warning
        kwargs: dict[str, Any] = {}
        if json_mode:
            from .json_stop import json_stopping_criteria
            from transformers import StoppingCriteriaList
            json_end = json_stopping_criteria(tokenizer, batch["input_ids"].shape[1], len(prompts))
            kwargs["stopping_criteria"] = StoppingCriteriaList([json_end])
        with torch.no_grad():
            out = model.generate(**batch, generation_config=config, **kwargs)
        new = out[:, batch["input_ids"].shape[1]:]  # left padding: every prompt ends at the same column
        eos = config.eos_token_id
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        results = []
        for j, (row, prompt_mask) in enumerate(zip(new, batch["attention_mask"])):
            ids = row.tolist()
            n = next((k + 1 for k, t in enumerate(ids) if t in eos_ids), len(ids))  # up to and with the first EOS
            if json_mode and json_end.scanners[j].stopped_at is not None:
                n = min(n, json_end.scanners[j].stopped_at)  # the JSON closed here; pad tokens follow
            text = tokenizer.decode(ids[:n], skip_special_tokens=True)
            results.append(ChatResult(text, usage={"prompt_tokens": int(prompt_mask.sum()), "completion_tokens": n}))
        return results


# ---------------------------------------------------------------------------------------------------------------------
# Construction from a config


BACKEND_KINDS: dict[str, type[Backend]] = {"programmatic": ProgrammaticBackend, "openai": OpenAIBackend,
                                           "hf": HFBackend}


def make_backend(kind: str | Mapping[str, Any] = "programmatic", /, **config: Any) -> Backend:
    """``make_backend("openai", model=..., concurrency=16)`` or ``make_backend({"kind": "openai", ...})`` (a section
    of a YAML config; keyword arguments override it). A config mapping may not hold a literal ``api_key``: config
    files get committed and shared, so name the variable that holds it with ``api_key_env`` instead.

    For ``openai``, ``fleet=PATH`` reads a fleet file (:func:`load_fleet`; the other settings override its own),
    and so does the ``FUNRL_OPENAI_FLEET`` environment variable when no server is given otherwise."""
    if isinstance(kind, Mapping):
        from_file = dict(kind)
        if "api_key" in from_file:
            raise ValueError("a backend config must not contain `api_key` (config files get committed and shared): "
                             f"put the key in an environment variable ({KEY_ENV} by default) and name another "
                             "with `api_key_env` if needed")
        kind = from_file.pop("kind", "programmatic")
        config = {**from_file, **config}
    if not isinstance(kind, str) or kind.lower() not in BACKEND_KINDS:
        raise ValueError(f"unknown backend kind {kind!r}: expected one of {', '.join(BACKEND_KINDS)}")
    cls = BACKEND_KINDS[kind.lower()]
    if cls is OpenAIBackend:
        fleet = config.pop("fleet", None)
        if not fleet and not config.get("base_url") and not config.get("endpoints"):
            fleet = os.environ.get(FLEET_ENV) or None
        if fleet:
            config = {**load_fleet(fleet), **{k: v for k, v in config.items() if v is not None}}
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise ValueError(f"{kind} backend: unknown config field(s) {', '.join(unknown)}; "
                         f"accepted: {', '.join(accepted)}")
    return cls(**config)


def backend_from_cli(kind: str | None, *, model: str | None = None, base_url: str | None = None,
                     endpoints: Sequence[str] | None = None, fleet: str | None = None,
                     concurrency: int | None = None) -> Backend | None:
    """The backend a command's options ask for; None for ``programmatic`` (the stages' offline path). For
    ``openai``, ``concurrency`` applies to each endpoint that names none of its own (a fleet file's
    ``concurrency`` included: the command line wins); the other kinds ignore it."""
    kind = (kind or "programmatic").lower()
    if kind in ("programmatic", "none"):
        return None
    config: dict[str, Any] = {}
    if model:
        config["model"] = model
    if kind == "openai":
        if base_url and endpoints:
            raise ValueError("give --base-url (one server) or --endpoint (a fleet), not both")
        config.update({k: v for k, v in (("base_url", base_url), ("endpoints", list(endpoints or []) or None),
                                         ("fleet", fleet), ("concurrency", concurrency)) if v})
    return make_backend(kind, **config)


# ---------------------------------------------------------------------------------------------------------------------
# Structured replies


@dataclass
class Quarantined:
    """A sample given up on: why (the last parse error, or the request's error) and the last reply, if any, kept so
    that a person can look at what the model said."""

    reason: str
    last_text: str | None = None
    attempts: int = 0


# A greedy request that gave an unusable reply is asked again with sampling at this temperature (see chat_json).
RETRY_TEMPERATURE = 0.7


async def chat_json(backend: Backend, request: ChatRequest, parse: Callable[[str], T], *,
                    retries: int = 2) -> T | Quarantined:
    """Ask, then ``parse(text)``; a ``ValueError`` from ``parse`` (``json.JSONDecodeError`` is one) asks again with
    ``attempt + 1``, up to ``retries`` times. A greedy request (``temperature == 0``) is asked again at
    :data:`RETRY_TEMPERATURE`: greedy decoding of the same prompt gives the same unusable text again (a local model
    always, most servers nearly always), so a greedy retry would only cost time. A request that failed at the
    backend (already retried there) is quarantined at once: asking again would only repeat the same failure."""
    last_text, reason = None, "no attempt made"
    for k in range(retries + 1):
        temperature = RETRY_TEMPERATURE if k and request.temperature == 0 else request.temperature
        [result] = await backend.achat([replace(request, attempt=request.attempt + k, temperature=temperature)])
        if not result.ok:
            return Quarantined(f"backend error: {result.error}", last_text, k + 1)
        last_text = result.text
        try:
            return parse(result.text)
        except ValueError as e:
            reason = f"unparsable reply: {e}"
    return Quarantined(f"{reason} (after {retries + 1} attempts)", last_text, retries + 1)


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n?(.*?)```", re.S)
_DECODER = json.JSONDecoder()
# Each failed start costs up to a scan of the rest of the text; capping them keeps junk like '["[", "[", ...' (every
# "[" a start that fails only at the end) from taking quadratic time. A real reply has a handful.
MAX_FAILED_STARTS = 200


def extract_json(text: str) -> Any:
    """The JSON object or array in an LLM reply: the whole text, else the first fenced block that parses (a
    ```` ```json ```` fence first), else the longest JSON value starting at a ``{`` or ``[`` in the prose (scanned
    with ``raw_decode``, skipping the inside of values found, and giving up after ``MAX_FAILED_STARTS`` broken
    ones, so junk costs no more than a few hundred scans). ``ValueError`` otherwise,
    saying what was wrong (no JSON at all, or where the JSON broke, e.g. a reply cut off by ``max_tokens``)."""
    if not isinstance(text, str):
        raise ValueError(f"expected the reply text, got {type(text).__name__}")
    stripped = text.strip()
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        pass
    else:
        if isinstance(value, (dict, list)):
            return value
        raise ValueError(f"the reply is a JSON {type(value).__name__}, not an object or array")
    fences = sorted(_FENCE.finditer(text), key=lambda m: m.group(1).lower() != "json")
    for m in fences:
        try:
            value = json.loads(m.group(2).strip())
        except (ValueError, RecursionError):
            continue
        if isinstance(value, (dict, list)):
            return value
    best, first_error, failures, pos = None, None, 0, 0
    while failures < MAX_FAILED_STARTS:
        starts = [i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0]
        if not starts:
            break
        start = min(starts)
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError as e:
            first_error = first_error or f"JSON starting at character {start} is broken: {e.msg} at character {e.pos}"
            failures, pos = failures + 1, start + 1
            continue
        except RecursionError:  # every later start would recurse as deep again: stop here, this is not a reply
            raise ValueError(f"JSON starting at character {start} is nested too deeply") from None
        if best is None or end - start > best[1]:
            best = (value, end - start)
        pos = end
    if best is not None:
        return best[0]
    if first_error:
        raise ValueError(first_error)
    raise ValueError("no JSON object or array in the reply" + (" (empty reply)" if not stripped else ""))
