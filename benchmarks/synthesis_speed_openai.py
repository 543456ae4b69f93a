#!/usr/bin/env python3
"""Requests per second of the OpenAI-compatible backend against a fleet of 1, 2 and 4 loopback servers with a
fixed 200 ms latency, at concurrency 8 to 64 (the whole fleet's, split evenly between its servers).

    python benchmarks/synthesis_speed_openai.py [--servers 1,2,4] [--concurrency 8,16,32,64] [--latency 0.2]
                                                [--in-process]

With latency L and concurrency c, a client that keeps c requests on the wire does c / L requests per second
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
import contextlib
import os
import sys
import time
from pathlib import Path

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
    ap.add_argument("--servers", type=_ints, default=SERVERS, help="fleet sizes (default 1,2,4)")
    ap.add_argument("--concurrency", type=_ints, default=CONCURRENCIES, help="the fleet's (default 8,16,32,64)")
    ap.add_argument("--latency", type=float, default=LATENCY, help="seconds per reply (default 0.2)")
    ap.add_argument("--in-process", action="store_true", help="threaded servers in this process")
    args = ap.parse_args()
    rows = openai_throughput_rows(args.concurrency, args.latency, args.servers, args.in_process)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    where = "threaded, in this process" if args.in_process else "asyncio, one process each"
    print(f"OpenAI-compatible backend, loopback servers ({where}) with {args.latency * 1000:.0f} ms latency, "
          f"cache off; {os.cpu_count()} CPUs, load average {load:.2f} at the end")
    print(markdown(rows))
    return 0 if all(r["ratio"] >= 1 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
