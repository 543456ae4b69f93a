"""``funrl pool`` and ``funrl dialogs``, ToolACE's synthesis from the command line (arXiv 2409.00920v2 §2.1 tool
self-evolution synthesis, §2.2 self-guided dialog generation): their options and handlers. With an LLM backend and
``--speciate-domains``, ``funrl pool`` grows the tree first (speciation); either command builds or resumes its JSONL
output, then prints and optionally writes its statistics. The stages (:mod:`funrl_lib.synth.api_pool`,
:mod:`funrl_lib.synth.dialogs`) are imported only when a command runs."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any, Iterable


def _add_backend(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--base-url``: the LLM backend options ``funrl pool`` and ``funrl dialogs`` share."""
    p.add_argument("--model", default=None, help="LLM backends: model name (openai) or path / hub id (hf)")
    p.add_argument("--base-url", default=None, help="openai backend: the server (else $FUNRL_OPENAI_BASE_URL)")


def _add_fleet(p: argparse.ArgumentParser, endpoint_help: str) -> None:
    p.add_argument("--endpoint", action="append", default=None, metavar="URL[,concurrency=N]", help=endpoint_help)
    p.add_argument("--fleet", default=None, metavar="FILE",
                   help="openai backend: a fleet file (YAML/JSON: endpoints, model...; else $FUNRL_OPENAI_FLEET)")


def _backend(args: argparse.Namespace) -> Any:
    """The backend of ``--backend``, ``--model``, ``--base-url``, ``--endpoint``, ``--fleet`` and ``--concurrency``
    (:func:`funrl_lib.backends.backend_from_cli`; ``None`` for the programmatic path; what the options leave out
    comes from the environment: ``FUNRL_OPENAI_BASE_URL``, ``FUNRL_OPENAI_MODEL``, ``OPENAI_API_KEY``,
    ``FUNRL_HF_MODEL``)."""
    from ..backends import backend_from_cli

    return backend_from_cli(args.backend, model=args.model, base_url=args.base_url, endpoints=args.endpoint,
                            fleet=args.fleet, concurrency=args.concurrency)


def add_pool(p: argparse.ArgumentParser) -> None:
    p.description = ("Build N APIs from the API context tree (resumable JSONL output). With an LLM backend, "
                     "--speciate-domains first has the LLM grow the tree (domains, subdomains, functionalities; "
                     "ToolACE speciation), kept in <out>.tree.jsonl.")
    p.add_argument("--backend", default="programmatic", choices=["programmatic", "openai", "hf"],
                   help="programmatic (default, no model); openai / hf write each API with an LLM (settings from "
                        "FUNRL_OPENAI_BASE_URL, FUNRL_OPENAI_MODEL, OPENAI_API_KEY, FUNRL_HF_MODEL)")
    _add_backend(p)
    _add_fleet(p, "openai backend: one server of a fleet, repeated for several (instead of --base-url)")
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
    p.set_defaults(func=run_pool)


def run_pool(args: argparse.Namespace) -> int:
    """``funrl pool``: build (or resume) the pool, then print its statistics. Returns the exit status."""
    from ..io import InputError, check_own_json, check_own_output, quarantine_path, report_quarantine, write_json
    from ..synth.api_pool import PoolError, SpeciationConfig, build_pool, grow_tree, load_tree, pool_stats, tree_path
    from ..synth.api_pool.build import _is_pool_record

    t0 = time.perf_counter()
    try:
        if args.stats:
            check_own_json(args.stats, lambda d: isinstance(d, dict) and "apis" in d, "pool statistics")
        try:
            config = SpeciationConfig(domains=args.speciate_domains or 0, depth=args.speciate_depth,
                                      width=args.speciate_width, max_tokens=args.speciate_max_tokens)
        except ValueError as e:
            raise PoolError(str(e)) from None
        try:
            backend = _backend(args)
        except (ValueError, TypeError) as e:
            raise PoolError(f"backend {args.backend!r}: {e}") from None
        tree = load_tree(args.tree)
        before = 0
        out = Path(args.out)
        speciation = None
        if config.domains:
            check_own_output(out, _is_pool_record, "an API pool (funrl pool)")  # before a file is made beside it
            static = {tuple(leaf.path) for leaf in tree}
            tree, speciation = grow_tree(tree, backend, config, seed=args.seed, out=tree_path(out))
        if out.exists():
            before = sum(1 for line in out.read_bytes().split(b"\n") if line.strip())
        records = build_pool(args.n, args.seed, backend=backend, tree=tree, out=out, progress=not args.no_progress)
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
    if args.stats:
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


def add_dialogs(p: argparse.ArgumentParser) -> None:
    from ..synth.dialogs import DEFAULT_COMPLEXITY_MIX, DEFAULT_MIX
    from ..synth.dialogs.model_guided import DEFAULT_CALIBRATION, DEFAULT_LOSS_BATCH, DEFAULT_RESAMPLES

    p.description = ("User, assistant and tool agents over a pool: N dialogs of the requested type mix and "
                     "complexity bands, as resumable JSONL (re-run the same command to finish a killed run).")
    p.add_argument("--pool", required=True, help="API pool JSONL (funrl pool --out)")
    p.add_argument("--n", type=int, default=5000, help="number of dialogs (default 5000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mix", default=None,
                   help="dialog type weights, e.g. single=.3,parallel=.15 (default: "
                        + ",".join(f"{k}={v:g}" for k, v in DEFAULT_MIX.items()) + ")")
    p.add_argument("--complexity-mix", default=None,
                   help="target complexity bands (default: "
                        + ",".join(f"{k}={v:g}" for k, v in DEFAULT_COMPLEXITY_MIX.items()) + ")")
    p.add_argument("--backend", default="programmatic", help="programmatic (default, no model), openai or hf")
    _add_backend(p)
    p.add_argument("--concurrency", type=int, default=32,
                   help="LLM backends: samples in flight, and openai requests in flight per endpoint that names "
                        "none of its own (default 32)")
    _add_fleet(p, "openai backend: one server of a fleet, repeated for several (instead of --base-url); requests go "
                  "to the least loaded, and to the others while one is down")
    p.add_argument("--votes", type=int, default=3, help="LLM backends: assistant generations that must agree")
    p.add_argument("--complexity-model", default=None, metavar="PATH",
                   help="steer the complexity bands by this model's loss on the assistant turns (ToolACE Eq. 1): a "
                        "local causal LM (folder, adapter, GGUF or hub id), e.g. the model being trained. Per "
                        "dialog type, --calibration dialogs set the band edges (loss terciles); each dialog is "
                        "scored and redrawn up to --max-resamples times until its loss is in its target band. "
                        "Losses go to each dialog's meta and --stats. Default: the programmatic formula, no model")
    p.add_argument("--calibration", type=int, default=DEFAULT_CALIBRATION, metavar="N",
                   help=f"--complexity-model: calibration dialogs per type (default {DEFAULT_CALIBRATION})")
    p.add_argument("--max-resamples", type=int, default=DEFAULT_RESAMPLES, metavar="K",
                   help=f"--complexity-model: fresh candidates per dialog at most (default {DEFAULT_RESAMPLES})")
    p.add_argument("--loss-batch", type=int, default=DEFAULT_LOSS_BATCH, metavar="B",
                   help=f"--complexity-model: dialogs per forward pass (default {DEFAULT_LOSS_BATCH})")
    p.add_argument("--complexity-dtype", default="auto",
                   help="--complexity-model: weights' dtype (auto: the model's own; bfloat16 is faster on CPUs "
                        "with AVX512-BF16)")
    p.add_argument("--out", required=True, help="dialogs JSONL; re-running the same command resumes it")
    p.add_argument("--stats", default=None, help="also write the statistics here (JSON)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_dialogs)


def _guide(args: argparse.Namespace, backend: Any) -> Any:
    """The :class:`~funrl_lib.synth.dialogs.ModelGuide` of ``--complexity-model`` (``None`` without one)."""
    if not args.complexity_model:
        return None
    if backend is not None:
        raise ValueError("--complexity-model steers the programmatic agents only; leave out --backend")
    from ..synth.dialogs import ModelGuide

    return ModelGuide.load(args.complexity_model, dtype=args.complexity_dtype, calibration=args.calibration,
                           max_resamples=args.max_resamples, batch_size=args.loss_batch, log=sys.stderr)


def run_dialogs(args: argparse.Namespace) -> int:
    """``funrl dialogs``: generate (or resume) the dialogs, print statistics. Returns the exit status (2 for bad
    input: unreadable pool, bad --mix, an --out of another seed)."""
    from ..io import Quarantine, check_own_json, check_own_output, quarantine_path, report_quarantine, write_json
    from ..synth.api_pool import load_pool_lenient
    from ..synth.dialogs import (BANDS, MIN_CANDIDATES, DialogStats, format_stats, generate_dialogs, iter_dialogs,
                                  parse_mix)
    from ..synth.dialogs.resume import _DIALOGS, _is_dialog_record
    from ..synth.sample import Sample

    t0 = time.perf_counter()
    try:
        mix = parse_mix(args.mix, option="--mix") if args.mix else None
        cmix = parse_mix(args.complexity_mix, allowed=BANDS, what="complexity band", option="--complexity-mix") \
            if args.complexity_mix else None
        check_own_output(args.out, _is_dialog_record, _DIALOGS)  # before anything is written beside it
        if args.stats:
            check_own_json(args.stats, lambda d: isinstance(d, dict) and "types" in d and "bands" in d,
                           "dialog statistics")
        with Quarantine(args.out) as quarantine:
            pool, errors = load_pool_lenient(args.pool, quarantine)
        for e in errors[:20]:
            print(f"funrl dialogs: skipped pool record: {e}", file=sys.stderr)
        if len(errors) > 20:
            print(f"funrl dialogs: ... and {len(errors) - 20} more bad pool records", file=sys.stderr)
        if len(pool) < MIN_CANDIDATES:
            what = "no records (an empty file)" if not pool and not errors else f"{len(pool)} usable API records"
            print(f"funrl dialogs: error: {args.pool}: {what}; need at least {MIN_CANDIDATES}"
                  + (f" ({len(errors)} bad lines quarantined in {quarantine.path})" if errors else ""),
                  file=sys.stderr)
            return 2
        backend = _backend(args)  # --concurrency reaches the openai backend too
        guide = _guide(args, backend)
        progress = not args.no_progress
        acc = DialogStats()
        if backend is None:  # programmatic: one sample at a time, written, counted and let go
            samples: Iterable[Sample] = iter_dialogs(pool, args.n, args.seed, mix=mix, complexity_mix=cmix,
                                                     out=args.out, progress=progress, guide=guide)
        else:
            samples = generate_dialogs(pool, args.n, args.seed, mix=mix, complexity_mix=cmix, backend=backend,
                                       out=args.out, progress=progress, concurrency=args.concurrency,
                                       votes=args.votes, quarantined=[])
        n_pool = len(pool)
        del pool
        gc.freeze()  # the pool and its index live to the end: later collections need not walk them again
        for s in samples:
            acc.add(s)
    except (ValueError, OSError) as e:  # InputError, PoolError and mix errors are ValueErrors
        print(f"funrl dialogs: error: {e}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    stats = acc.result()
    rate = acc.n / dt if dt > 0 else float("inf")
    print(f"dialogs: {acc.n} in {args.out} from {n_pool} APIs in {dt:.2f} s ({rate:,.0f}/s)")
    print(format_stats(stats))
    if guide is not None:
        print(guide.summary())
    report_quarantine(args.out)
    if args.stats:
        write_json(args.stats, stats)
    if args.n > 0 and not acc.n:  # every dialog was quarantined: nothing usable was made
        print(f"funrl dialogs: error: no dialog was made (see {quarantine_path(args.out)})", file=sys.stderr)
        return 2
    return 0
