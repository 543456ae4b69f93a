#!/usr/bin/env python3
"""Requests per second of the OpenAI-compatible backend against a loopback server with a fixed 200 ms latency.

    python benchmarks/synthesis_speed_openai.py

With latency L and concurrency c, a client that keeps c requests on the wire does c / L requests per second
(5 per second per slot at 200 ms). The goal is 80 % of that at every concurrency: it shows the semaphore, the
connection pool and the event loop add little, so a real synthesis run is bound by the server, not by funrl.
The cache is off (every request goes over HTTP) and the server runs in this process, in threads; no network.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # loopback_server lives with the tests that also use it

LATENCY = 0.2
CONCURRENCIES = (1, 8, 32, 64)


def openai_throughput_rows(concurrencies=CONCURRENCIES, latency: float = LATENCY) -> list[dict]:
    """One row per concurrency: requests, seconds, requests/s, goal (0.8 x c / latency) and the ratio to it."""
    from funrl_lib.synth.backends import ChatRequest, OpenAIBackend
    from loopback_server import LoopbackServer

    rows = []
    with LoopbackServer(latency=latency) as server:
        for c in concurrencies:
            n = max(20, 5 * c * 2)  # about 2 s of work at full overlap (4 s at c=1): enough to average out start-up
            backend = OpenAIBackend(server.base_url, "loopback", concurrency=c, cache=False, timeout=30)
            requests = [ChatRequest([{"role": "user", "content": f"request {i} at concurrency {c}"}],
                                    stage="bench", max_tokens=16) for i in range(n)]
            start = time.perf_counter()
            results = backend.chat(requests)
            seconds = time.perf_counter() - start
            failed = sum(not r.ok for r in results)
            if failed:
                raise RuntimeError(f"{failed} of {n} requests failed at concurrency {c}: {results[0].error}")
            goal = 0.8 * c / latency
            rows.append({"concurrency": c, "requests": n, "seconds": seconds, "requests_per_s": n / seconds,
                         "goal": goal, "ratio": n / seconds / goal})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| concurrency | requests | seconds | requests/s | goal (req/s) | ratio to goal |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['concurrency']} | {r['requests']} | {r['seconds']:.2f} | {r['requests_per_s']:.1f} | "
                     f"{r['goal']:.1f} | {r['ratio']:.2f} |")
    return "\n".join(lines)


def main() -> int:
    rows = openai_throughput_rows()
    print(f"OpenAI-compatible backend, loopback server with {LATENCY * 1000:.0f} ms latency, cache off")
    print(markdown(rows))
    return 0 if all(r["ratio"] >= 1 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
