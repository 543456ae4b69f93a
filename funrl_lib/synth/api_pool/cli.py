"""``funrl pool`` (ToolACE §2.1, tool self-evolution synthesis from the command line): build or resume the pool, then
print and optionally write its statistics.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ...io import InputError, check_own_json, quarantine_path, report_quarantine, write_json
from .base import PoolError
from .build import build_pool
from .llm import _backends
from .stats import pool_stats
from .tree import load_tree


def add_pool_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``funrl pool`` to a subparsers object (``cli.py`` wires it; its handler is :func:`run_pool`)."""
    p = subparsers.add_parser("pool", help="synthesize the API pool (ToolACE tool self-evolution synthesis)",
                              description="Build N APIs from the API context tree (resumable JSONL output).")
    p.add_argument("--backend", default="programmatic", choices=["programmatic", "openai", "hf"],
                   help="programmatic (default, no model); openai / hf write each API with an LLM (settings from "
                        "FUNRL_OPENAI_BASE_URL, FUNRL_OPENAI_MODEL, OPENAI_API_KEY, FUNRL_HF_MODEL)")
    p.add_argument("--n", type=int, default=2000, help="number of APIs (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="pool JSONL; re-running the same command resumes it")
    p.add_argument("--tree", default=None, help="API tree folder (default data/api_tree)")
    p.add_argument("--stats", default=None, help="also write the pool statistics here (JSON)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_pool, handler=run_pool)
    return p


def _make_backend(name: str | None) -> Any:
    """``None`` for the programmatic path, else :func:`funrl_lib.backends.make_backend` (its settings come
    from the environment: ``FUNRL_OPENAI_BASE_URL``, ``FUNRL_OPENAI_MODEL``, ``OPENAI_API_KEY``, ``FUNRL_HF_MODEL``)."""
    if name in (None, "", "programmatic"):
        return None
    try:
        return _backends().make_backend(name)
    except (ValueError, TypeError) as e:
        raise PoolError(f"backend {name!r}: {e}") from None


def run_pool(args: argparse.Namespace) -> int:
    """``funrl pool``: build (or resume) the pool, then print its statistics. Returns the exit status."""
    t0 = time.perf_counter()
    try:
        if getattr(args, "stats", None):
            check_own_json(args.stats, lambda d: isinstance(d, dict) and "apis" in d, "pool statistics")
        backend = _make_backend(getattr(args, "backend", "programmatic"))
        tree = load_tree(getattr(args, "tree", None))
        before = 0
        out = Path(args.out)
        if out.exists():
            before = sum(1 for line in out.read_bytes().split(b"\n") if line.strip())
        records = build_pool(args.n, args.seed, backend=backend, tree=tree, out=out,
                             progress=not getattr(args, "no_progress", False))
    except (PoolError, InputError, OSError) as e:
        print(f"funrl pool: error: {e}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    stats = pool_stats(records)
    counts = tree.counts
    print(f"pool: {len(records)} APIs in {out} ({min(before, len(records))} already there) in {dt:.2f} s; tree "
          f"{counts['domains']} domains / {counts['subdomains']} subdomains / {counts['leaves']} leaves")
    print(f"domains: {stats['domains']}")
    print("parameter types: " + ", ".join(f"{k} {v}" for k, v in stats["parameter_types"].items()))
    print("nesting depth: " + ", ".join(f"{k}: {v}" for k, v in stats["nesting_depth"].items()))
    print("constraints: " + ", ".join(f"{k} {v}" for k, v in stats["constraints"].items()))
    print("evolution steps: " + ", ".join(f"{k} {v}" for k, v in stats["evolution"].items()))
    print(f"parameters: {stats['parameters']}; dependent pairs: {stats['dependent_pairs']}")
    quarantined = report_quarantine(out)
    if getattr(args, "stats", None):
        write_json(args.stats, stats)
    if args.n > 0 and not records:  # every request failed or was quarantined: nothing usable was made
        print(f"funrl pool: error: no API was made ({quarantined} quarantined"
              + (f": see {quarantine_path(out)}" if quarantined else "") + ")", file=sys.stderr)
        return 2
    return 0
