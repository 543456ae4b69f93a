#!/usr/bin/env python3
"""Synthesis throughput: the programmatic pipeline in verified samples per second, and the OpenAI backend's
requests per second against a loopback server.

    python benchmarks/synthesis_speed.py                 # both tables
    python benchmarks/synthesis_speed.py --skip-openai   # the programmatic table only

Programmatic (goal: at least 1,000 verified samples/s on one core): build a pool of ``--apis`` APIs, generate
``--dialogs`` dialogs from it, verify every dialog with both layers (the rule layer executes each call against the
pool's implementation). Single process, so one core. The pool is built once per run and counted in the total,
although a real run reuses one pool for many dialog batches.

OpenAI-compatible backend (goal: at least 80% of concurrency x 5 requests/s): see synthesis_speed_openai.py.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

GOAL = 1000.0


def programmatic_rows(n_apis: int, n_dialogs: int, seed: int = 0) -> tuple[list[dict], float]:
    from funrl_lib.synth.api_pool import build_pool
    from funrl_lib.synth.dialogs import generate_dialogs
    from funrl_lib.synth.verify import VerifyContext, verify_sample

    rows = []
    t0 = time.perf_counter()
    pool = build_pool(n_apis, seed, progress=False)
    t1 = time.perf_counter()
    samples = generate_dialogs(pool, n_dialogs, seed, progress=False)
    t2 = time.perf_counter()
    ctx = VerifyContext(pool=pool)
    kept = sum(verify_sample(s, ctx).kept for s in samples)
    t3 = time.perf_counter()
    rows.append({"stage": "pool (TSS)", "items": n_apis, "seconds": t1 - t0})
    rows.append({"stage": "dialogs (SDG)", "items": n_dialogs, "seconds": t2 - t1})
    rows.append({"stage": "verification (rule + model layers, executed)", "items": n_dialogs, "seconds": t3 - t2})
    rows.append({"stage": f"all: verified samples ({kept} kept)", "items": kept, "seconds": t3 - t0})
    return rows, kept / (t3 - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--apis", type=int, default=2000)
    ap.add_argument("--dialogs", type=int, default=5000)
    ap.add_argument("--skip-openai", action="store_true")
    args = ap.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, one process")
    rows, verified_per_s = programmatic_rows(args.apis, args.dialogs)
    print("\nProgrammatic synthesis (one core)")
    print("| stage | items | seconds | items/s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['items']} | {r['seconds']:.2f} | {r['items'] / r['seconds']:,.0f} |")
    print(f"\nverified samples/s: {verified_per_s:,.0f} (goal {GOAL:,.0f}; ratio {verified_per_s / GOAL:.2f})")
    ok = verified_per_s >= GOAL
    if not args.skip_openai:
        from synthesis_speed_openai import markdown, openai_throughput_rows

        orows = openai_throughput_rows()
        print("\nOpenAI-compatible backend, loopback server with 200 ms latency, cache off")
        print(markdown(orows))
        ok = ok and all(r["ratio"] >= 1 for r in orows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
