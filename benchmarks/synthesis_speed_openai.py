#!/usr/bin/env python3
"""Requests per second of the OpenAI-compatible backend against loopback servers with a fixed 200 ms latency, at
concurrency 8 to 64: against a raw async client doing the same requests (the default), or across a fleet of 1, 2 and
4 servers (``--fleet``).

    python benchmarks/synthesis_speed_openai.py [--concurrency 8,16,32,64] [--latency 0.2] [--workers 4]
                                                [--repeats 5]
    python benchmarks/synthesis_speed_openai.py --fleet [--servers 1,2,4] [--in-process]

**funrl against a raw client** (the default). One server URL backed by ``--workers`` asyncio processes sharing its
port (``SO_REUSEPORT``, as ``uvicorn --workers`` does), so that the server is not what limits the rate. At each
concurrency c, three clients send the same ``5 * c * 2`` chat requests (about 2 s of work at full overlap), with at
most c on the wire: funrl's :class:`OpenAIBackend` (one endpoint, ``concurrency=c``, cache off; aiohttp underneath,
``funrl_lib/llm_http.py``), and the loop a user would write by hand, an ``asyncio.Semaphore(c)`` around ``post`` +
``json()`` on one ``httpx.AsyncClient`` (at most c connections) and on one ``aiohttp.ClientSession`` (a connector
limited to c). httpx is no longer a funrl dependency: its column is there when it is installed (datasets,
huggingface_hub and jupyterlab bring it), and left out otherwise. Rounds are interleaved (round r
runs every (concurrency, client) once, the clients in an order that rotates with r) and each cell gives min /
median / max requests per second over the rounds; the ratio is funrl's over the faster raw client's, per round (the
same load), then min / median / max. The goal (issue 18) is a ratio of at least 0.9. Each client's CPU milliseconds
per request (median; the client runs in this process, the servers in others) say what a busy machine does to the
rates: the client that needs more CPU per request loses more of its rate when the cores are shared.

**The fleet** (``--fleet``). With latency L and concurrency c, a client that keeps c requests on the wire does c / L requests per second
(5 per second per slot at 200 ms). The goal is 80 % of that everywhere: it shows that the slots, the balancing
between endpoints, the connection pools and the event loop add little, so a real synthesis run is bound by the
servers, not by funrl. The cache is off (every request goes over HTTP). Each server is an asyncio process of its
own (``tests/loopback_server.py``), so that the servers are not the bottleneck and do not share the client's
interpreter lock; ``--in-process`` uses the threaded in-process server the tests use instead. The table also
gives the peak number of requests each server had at once (the fleet's concurrency when the client keeps every
slot busy) and how the requests were spread. No network: everything is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # loopback_server lives with the tests that also use it

LATENCY = 0.2
CONCURRENCIES = (8, 16, 32, 64)
SERVERS = (1, 2, 4)


class _InProcess:
    """The threaded test server behind LoopbackProcess's interface."""

    def __init__(self, latency: float):
        from loopback_server import LoopbackServer

        self.server = LoopbackServer(latency=latency)

    def __enter__(self) -> "_InProcess":
        self.server.start()
        self.base_url = self.server.base_url
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()

    def stats(self) -> dict:
        return {"calls": self.server.calls, "max_in_flight": self.server.max_in_flight}


def openai_throughput_rows(concurrencies=CONCURRENCIES, latency: float = LATENCY, servers=SERVERS,
                           in_process: bool = False) -> list[dict]:
    """One row per (servers, concurrency): requests, seconds, requests/s, goal (0.8 x c / latency), the ratio to
    it, and per server the peak in flight and the requests served (the servers are fresh for every row)."""
    from funrl_lib.synth.backends import ChatRequest, OpenAIBackend
    from loopback_server import LoopbackProcess

    rows = []
    for k in servers:
        for c in concurrencies:
            if c < k:
                continue
            n = max(20, 5 * c * 2)  # about 2 s of work at full overlap: enough to average out start-up
            with contextlib.ExitStack() as stack:
                fleet = [stack.enter_context(_InProcess(latency) if in_process else LoopbackProcess(latency))
                         for _ in range(k)]
                share = [c // k + (i < c % k) for i in range(k)]  # the fleet's concurrency, split evenly
                backend = OpenAIBackend(endpoints=[{"url": s.base_url, "concurrency": q} for s, q in zip(fleet, share)],
                                        model="loopback", cache=False, timeout=30)
                requests = [ChatRequest([{"role": "user", "content": f"request {i} at concurrency {c}"}],
                                        stage="bench", max_tokens=16) for i in range(n)]
                start = time.perf_counter()
                results = backend.chat(requests)
                seconds = time.perf_counter() - start
                stats = [s.stats() for s in fleet]
            failed = sum(not r.ok for r in results)
            if failed:
                raise RuntimeError(f"{failed} of {n} requests failed at concurrency {c}: "
                                   f"{next(r.error for r in results if not r.ok)}")
            goal = 0.8 * c / latency
            rows.append({"servers": k, "concurrency": c, "requests": n, "seconds": seconds,
                         "requests_per_s": n / seconds, "goal": goal, "ratio": n / seconds / goal,
                         "peak_in_flight": [s["max_in_flight"] for s in stats], "calls": [s["calls"] for s in stats]})
    return rows


def _chat_requests(n: int, c: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"request {i} at concurrency {c}"}], "max_tokens": 16}
            for i in range(n)]


def _funrl_client(base_url: str, c: int, latency: float) -> Callable[[list[dict]], list[str]]:
    from funrl_lib.backends import ChatRequest, OpenAIBackend

    def send(bodies: list[dict]) -> list[str]:
        backend = OpenAIBackend(base_url=base_url, model="loopback", concurrency=c, cache=False, timeout=30)
        results = backend.chat([ChatRequest(b["messages"], stage="bench", max_tokens=b["max_tokens"])
                                for b in bodies])
        return [r.text if r.ok else f"failed: {r.error}" for r in results]

    return send


def _payload(body: dict) -> dict:
    """What funrl sends for a request (``OpenAIBackend._payload``), so the raw clients send the same bytes' worth."""
    return {"model": "loopback", "messages": body["messages"], "temperature": 0.7, "max_tokens": body["max_tokens"]}


def _raw_httpx(base_url: str, c: int, latency: float) -> Callable[[list[dict]], list[str]]:
    import httpx

    async def run(bodies: list[dict]) -> list[str]:
        gate = asyncio.Semaphore(c)
        limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            async def one(body: dict) -> str:
                async with gate:
                    response = await client.post(f"{base_url}/chat/completions", json=_payload(body))
                    return response.json()["choices"][0]["message"]["content"]
            return list(await asyncio.gather(*(one(b) for b in bodies)))

    return lambda bodies: asyncio.run(run(bodies))


def _raw_aiohttp(base_url: str, c: int, latency: float) -> Callable[[list[dict]], list[str]]:
    import aiohttp

    async def run(bodies: list[dict]) -> list[str]:
        gate = asyncio.Semaphore(c)
        connector = aiohttp.TCPConnector(limit=c)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
            async def one(body: dict) -> str:
                async with gate:
                    async with session.post(f"{base_url}/chat/completions", json=_payload(body)) as response:
                        return (await response.json())["choices"][0]["message"]["content"]
            return list(await asyncio.gather(*(one(b) for b in bodies)))

    return lambda bodies: asyncio.run(run(bodies))


CLIENTS = {"funrl": _funrl_client, "httpx": _raw_httpx, "aiohttp": _raw_aiohttp}


def versus_raw_rows(concurrencies=CONCURRENCIES, latency: float = LATENCY, workers: int = 4, repeats: int = 5,
                    clients: Sequence[str] = tuple(CLIENTS)) -> list[dict]:
    """One row per concurrency: for each client the requests per second of every round (interleaved, after one
    unmeasured warm-up round), ``cpu_ms``: the client's CPU milliseconds per request (this process; the servers
    are other processes), and ``ratio``: funrl's requests per second over the fastest raw client's in the same
    round."""
    from loopback_server import LoopbackProcess, echo_text

    clients = [name for name in clients if _importable(name)]
    rates: dict[tuple[int, str], list[float]] = {(c, name): [] for c in concurrencies for name in clients}
    cpu: dict[tuple[int, str], list[float]] = {(c, name): [] for c in concurrencies for name in clients}
    with LoopbackProcess(latency, workers=workers) as server:
        for r in range(-1, repeats):
            for c in concurrencies:
                bodies = _chat_requests(max(20, 5 * c * 2), c)
                k = max(r, 0) % len(clients)
                for name in clients[k:] + clients[:k]:
                    send = CLIENTS[name](server.base_url, c, latency)
                    gc.collect()
                    start, start_cpu = time.perf_counter(), time.process_time()
                    texts = send(bodies)
                    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
                    want = [echo_text(_payload(b)) for b in bodies]
                    if texts != want:
                        bad = next(t for t, w in zip(texts, want) if t != w)
                        raise RuntimeError(f"{name} at concurrency {c}: a wrong reply: {bad!r}")
                    if r >= 0:
                        rates[c, name].append(len(bodies) / seconds)
                        cpu[c, name].append(1000 * cpu_seconds / len(bodies))
    rows = []
    for c in concurrencies:
        row = {"concurrency": c, "requests": max(20, 5 * c * 2), "ideal": c / latency,
               **{name: rates[c, name] for name in clients},
               "cpu_ms": {name: cpu[c, name] for name in clients}}
        raw = [name for name in clients if name != "funrl"]
        if "funrl" in clients and raw:
            row["ratio"] = [f / max(rates[c, name][i] for name in raw) for i, f in enumerate(rates[c, "funrl"])]
        rows.append(row)
    return rows


def _importable(name: str) -> bool:
    try:
        __import__({"funrl": "funrl_lib", "httpx": "httpx", "aiohttp": "aiohttp"}[name])
        return True
    except ImportError:
        return False


def _mmm(values: list[float], spec: str) -> str:
    return f"{statistics.median(values):{spec}} ({min(values):{spec}} / {max(values):{spec}})"


def versus_raw_markdown(rows: list[dict]) -> str:
    clients = [name for name in CLIENTS if name in rows[0]]
    head = ["concurrency", "ideal (c / latency)"] + [f"{name} req/s" for name in clients]
    if "ratio" in rows[0]:
        head.append("**funrl / best raw**")
    head += [f"{name} CPU ms/req" for name in clients]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["concurrency"]), f"{r['ideal']:.0f}"] + [_mmm(r[name], ".0f") for name in clients]
        if "ratio" in r:
            cells.append(_mmm(r["ratio"], ".2f"))
        cells += [f"{statistics.median(r['cpu_ms'][name]):.2f}" for name in clients]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(rows: list[dict]) -> str:
    lines = ["| servers | concurrency | requests | seconds | requests/s | goal (req/s) | ratio to goal | "
             "peak in flight per server | requests per server |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.get('servers', 1)} | {r['concurrency']} | {r['requests']} | {r['seconds']:.2f} | "
                     f"{r['requests_per_s']:.1f} | {r['goal']:.1f} | {r['ratio']:.2f} | "
                     f"{' / '.join(map(str, r.get('peak_in_flight', [])))} | "
                     f"{' / '.join(map(str, r.get('calls', [])))} |")
    return "\n".join(lines)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=_ints, default=CONCURRENCIES, help="the fleet's (default 8,16,32,64)")
    ap.add_argument("--latency", type=float, default=LATENCY, help="seconds per reply (default 0.2)")
    ap.add_argument("--workers", type=int, default=4, help="server processes behind the one URL (default 4)")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--clients", default=",".join(CLIENTS), help="which of funrl,httpx,aiohttp (default all)")
    ap.add_argument("--fleet", action="store_true", help="funrl alone, across fleets of 1, 2 and 4 servers")
    ap.add_argument("--servers", type=_ints, default=SERVERS, help="--fleet: fleet sizes (default 1,2,4)")
    ap.add_argument("--in-process", action="store_true", help="--fleet: threaded servers in this process")
    args = ap.parse_args()
    if not args.fleet:
        import logging

        logging.basicConfig(format="%(name)s: %(message)s")  # a retry or fail-over in a run says why
        logging.getLogger("funrl_lib.backends").setLevel(logging.INFO)
        up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print(f"funrl's OpenAI backend against raw async clients, one loopback URL served by {args.workers} asyncio "
              f"processes, {args.latency * 1000:.0f} ms per reply, cache off, {args.repeats} interleaved rounds; "
              f"{os.cpu_count()} CPUs; at the start: {up}")
        rows = versus_raw_rows(args.concurrency, args.latency, args.workers, args.repeats, args.clients.split(","))
        up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print(versus_raw_markdown(rows))
        print(f"at the end: {up}")
        return 0 if all(statistics.median(r.get("ratio", [1])) >= 0.9 for r in rows) else 1
    rows = openai_throughput_rows(args.concurrency, args.latency, args.servers, args.in_process)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    where = "threaded, in this process" if args.in_process else "asyncio, one process each"
    print(f"OpenAI-compatible backend, loopback servers ({where}) with {args.latency * 1000:.0f} ms latency, "
          f"cache off; {os.cpu_count()} CPUs, load average {load:.2f} at the end")
    print(markdown(rows))
    return 0 if all(r["ratio"] >= 1 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
