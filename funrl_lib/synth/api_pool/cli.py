"""``funrl pool`` (ToolACE §2.1, tool self-evolution synthesis from the command line): with an LLM backend and
``--speciate-domains``, grow the tree first (speciation, :mod:`.speciation`); build or resume the pool, then print and
optionally write its statistics.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ...io import InputError, check_own_json, check_own_output, quarantine_path, report_quarantine, write_json
from .base import PoolError
from .build import _is_pool_record, build_pool
from .llm import _backends
from .speciation import SpeciationConfig, grow_tree, tree_path
from .stats import pool_stats
from .tree import load_tree


def add_pool_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``funrl pool`` to a subparsers object (``cli.py`` wires it; its handler is :func:`run_pool`)."""
    p = subparsers.add_parser("pool", help="synthesize the API pool (ToolACE tool self-evolution synthesis)",
                              description="Build N APIs from the API context tree (resumable JSONL output). With an "
                                          "LLM backend, --speciate-domains first has the LLM grow the tree (domains, "
                                          "subdomains, functionalities; ToolACE speciation), kept in "
                                          "<out>.tree.jsonl.")
    p.add_argument("--backend", default="programmatic", choices=["programmatic", "openai", "hf"],
                   help="programmatic (default, no model); openai / hf write each API with an LLM (settings from "
                        "FUNRL_OPENAI_BASE_URL, FUNRL_OPENAI_MODEL, OPENAI_API_KEY, FUNRL_HF_MODEL)")
    p.add_argument("--model", default=None, help="LLM backends: model name (openai) or path / hub id (hf)")
    p.add_argument("--base-url", default=None, help="openai backend: the server (else $FUNRL_OPENAI_BASE_URL)")
    p.add_argument("--endpoint", action="append", default=None, metavar="URL[,concurrency=N]",
                   help="openai backend: one server of a fleet, repeated for several (instead of --base-url)")
    p.add_argument("--fleet", default=None, metavar="FILE",
                   help="openai backend: a fleet file (YAML/JSON: endpoints, model...; else $FUNRL_OPENAI_FLEET)")
    p.add_argument("--concurrency", type=int, default=None,
                   help="openai backend: requests in flight per endpoint that names none of its own")
    p.add_argument("--speciate-domains", type=int, default=0, metavar="N",
                   help="LLM backends: speciation first (ToolACE 2.1): the LLM grows the tree for N domains "
                        "(default 0: the static tree as it is). The grown tree is kept in <out>.tree.jsonl, so a "
                        "re-run asks only what is missing")
    p.add_argument("--speciate-depth", type=int, default=3, choices=[1, 2, 3],
                   help="levels the LLM writes: 3 (default) N new domains, their subdomains and functionalities; "
                        "2 new subdomains and their functionalities in N existing domains drawn by --seed; 1 new "
                        "functionalities in every subdomain of N drawn domains")
    p.add_argument("--speciate-width", type=int, default=4, metavar="W",
                   help="speciation: subdomains asked per domain and functionalities per subdomain (1-20, "
                        "default 4; extra items in a reply are dropped and counted)")
    p.add_argument("--speciate-max-tokens", type=int, default=768, metavar="T",
                   help="speciation: the longest reply asked for, in tokens (default 768); a reply that is cut "
                        "short or not JSON is asked once more, then recorded as quarantined and skipped")
    p.add_argument("--n", type=int, default=2000, help="number of APIs (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="pool JSONL; re-running the same command resumes it")
    p.add_argument("--tree", default=None, help="API tree folder (default data/api_tree)")
    p.add_argument("--stats", default=None, help="also write the pool statistics here (JSON)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_pool, handler=run_pool)
    return p


def _make_backend(args: argparse.Namespace) -> Any:
    """``None`` for the programmatic path, else :func:`funrl_lib.backends.backend_from_cli` (what the options leave
    out comes from the environment: ``FUNRL_OPENAI_BASE_URL``, ``FUNRL_OPENAI_MODEL``, ``OPENAI_API_KEY``,
    ``FUNRL_HF_MODEL``)."""
    name = getattr(args, "backend", "programmatic")
    try:
        return _backends().backend_from_args(args)
    except (ValueError, TypeError) as e:
        raise PoolError(f"backend {name!r}: {e}") from None


def run_pool(args: argparse.Namespace) -> int:
    """``funrl pool``: build (or resume) the pool, then print its statistics. Returns the exit status."""
    t0 = time.perf_counter()
    try:
        if getattr(args, "stats", None):
            check_own_json(args.stats, lambda d: isinstance(d, dict) and "apis" in d, "pool statistics")
        try:
            config = SpeciationConfig(domains=getattr(args, "speciate_domains", 0) or 0,
                                      depth=getattr(args, "speciate_depth", 3),
                                      width=getattr(args, "speciate_width", 4),
                                      max_tokens=getattr(args, "speciate_max_tokens", 768))
        except ValueError as e:
            raise PoolError(str(e)) from None
        backend = _make_backend(args)
        tree = load_tree(getattr(args, "tree", None))
        before = 0
        out = Path(args.out)
        speciation = None
        if config.domains:
            check_own_output(out, _is_pool_record, "an API pool (funrl pool)")  # before a file is made beside it
            static = {tuple(leaf.path) for leaf in tree}
            tree, speciation = grow_tree(tree, backend, config, seed=args.seed, out=tree_path(out))
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
    if speciation is not None:
        speciation["apis_on_new_functionalities"] = sum(any(tuple(p) not in static for p in r.leaves)
                                                        for r in records)
        stats["speciation"] = speciation
        print(_speciation_line(speciation, tree_path(out)))
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


def _speciation_line(report: dict[str, Any], path: Path) -> str:
    kept, dropped = report["kept"], report["dropped"]
    return (f"speciation: {report['steps']} steps ({report['from_file']} from {path}, {report['quarantined']} "
            f"quarantined); new {kept['domains']} domains, {kept['subdomains']} subdomains, {kept['leaves']} "
            f"functionalities; dropped " + (", ".join(f"{k} {v}" for k, v in dropped.items()) or "none")
            + f"; {report['apis_on_new_functionalities']} APIs use a new functionality")
