"""``funrl dialogs``: ToolACE's Self-Guided Dialog Generation (arXiv 2409.00920v2 §2.2) from the command line: user,
assistant and tool agents over a pool file (bad pool records skipped and quarantined), ``--n`` dialogs of the
requested type mix and complexity bands, as resumable JSONL, and their statistics.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from ...io import (Quarantine, check_own_json, check_own_output, quarantine_path, read_records, report_quarantine,
                   write_json)
from ..api_pool import ApiRecord, PoolError
from ..sample import Sample
from .complexity import BANDS, DEFAULT_COMPLEXITY_MIX, MIN_CANDIDATES
from .llm_agents import _backends
from .mix import DEFAULT_MIX, parse_mix
from .model_guided import DEFAULT_CALIBRATION, DEFAULT_LOSS_BATCH, DEFAULT_RESAMPLES, ModelGuide
from .resume import _DIALOGS, _is_dialog_record
from .run import generate_dialogs, iter_dialogs
from .stats import DialogStats, format_stats


def load_pool_lenient(path: str | Path, quarantine: Quarantine | None = None) -> tuple[list[ApiRecord], list[str]]:
    """Pool records of a file, skipping bad ones: ``(records, errors)`` with each error as ``FILE:LINE: reason``
    (a line that is not JSON or not UTF-8, a record failing :meth:`ApiRecord.from_dict`, sizes beyond its bounds
    included, a repeated id). Skipping is safe: each dialog only needs the records it uses. Each skipped line also
    goes to ``quarantine`` when given. A file that cannot be read at all raises :class:`InputError`."""
    records: list[ApiRecord] = []
    errors: list[str] = []
    first_line: dict[str, Any] = {}

    def skip(rec: Any, where: str, message: str) -> None:
        errors.append(message)
        if quarantine is not None:
            own = message[len(where) + 2:] if message.startswith(f"{where}: ") else message
            quarantine.add_record(rec, path, error=own)

    for rec in read_records(path):
        where = f"{path}:{rec.line}" if rec.line is not None else f"{path}[{rec.index}]"
        if rec.error is not None:
            skip(rec, where, str(rec.error))
            continue
        try:
            api = ApiRecord.from_dict(rec.value, where=where)
        except (PoolError, ValueError) as e:
            skip(rec, where, str(e))
            continue
        if api.id in first_line:
            skip(rec, where, f"{where}: duplicate id {api.id!r} (first at line {first_line[api.id]}); skipped")
            continue
        first_line[api.id] = rec.line if rec.line is not None else rec.index
        records.append(api)
    return records, errors


def add_dialogs_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``funrl dialogs`` (handler :func:`run_dialogs`)."""
    p = subparsers.add_parser(
        "dialogs", help="generate dialogs from an API pool (ToolACE self-guided dialog generation)",
        description="User, assistant and tool agents over a pool: N dialogs of the requested type mix and "
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
    p.add_argument("--model", default=None, help="LLM backends: model name (openai) or path / hub id (hf)")
    p.add_argument("--base-url", default=None, help="openai backend: the server (else $FUNRL_OPENAI_BASE_URL)")
    p.add_argument("--concurrency", type=int, default=32,
                   help="LLM backends: samples in flight, and openai requests in flight per endpoint that names "
                        "none of its own (default 32)")
    p.add_argument("--endpoint", action="append", default=None, metavar="URL[,concurrency=N]",
                   help="openai backend: one server of a fleet, repeated for several (instead of --base-url); "
                        "requests go to the least loaded, and to the others while one is down")
    p.add_argument("--fleet", default=None, metavar="FILE",
                   help="openai backend: a fleet file (YAML/JSON: endpoints, model...; else $FUNRL_OPENAI_FLEET)")
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
    p.set_defaults(func=run_dialogs, handler=run_dialogs)
    return p


def _backend_from_args(args: argparse.Namespace) -> Any:
    # --concurrency reaches the openai backend too (it used to stop at the backend's default of 8 requests)
    return _backends().backend_from_args(args)


def _guide_from_args(args: argparse.Namespace, backend: Any) -> ModelGuide | None:
    """The :class:`ModelGuide` of ``--complexity-model`` (``None`` without one)."""
    path = getattr(args, "complexity_model", None)
    if not path:
        return None
    if backend is not None:
        raise ValueError("--complexity-model steers the programmatic agents only; leave out --backend")
    return ModelGuide.load(path, dtype=getattr(args, "complexity_dtype", "auto"),
                           calibration=getattr(args, "calibration", DEFAULT_CALIBRATION),
                           max_resamples=getattr(args, "max_resamples", DEFAULT_RESAMPLES),
                           batch_size=getattr(args, "loss_batch", DEFAULT_LOSS_BATCH), log=sys.stderr)


def run_dialogs(args: argparse.Namespace) -> int:
    """``funrl dialogs``: generate (or resume) the dialogs, print statistics. Returns the exit status (2 for bad
    input: unreadable pool, bad --mix, an --out of another seed)."""
    t0 = time.perf_counter()
    try:
        mix = parse_mix(args.mix, option="--mix") if args.mix else None
        cmix = parse_mix(args.complexity_mix, allowed=BANDS, what="complexity band", option="--complexity-mix") \
            if getattr(args, "complexity_mix", None) else None
        check_own_output(args.out, _is_dialog_record, _DIALOGS)  # before anything is written beside it
        if getattr(args, "stats", None):
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
        backend = _backend_from_args(args)
        guide = _guide_from_args(args, backend)
        progress = not getattr(args, "no_progress", False)
        acc = DialogStats()
        if backend is None:  # programmatic: one sample at a time, written, counted and let go
            samples: Iterable[Sample] = iter_dialogs(pool, args.n, args.seed, mix=mix, complexity_mix=cmix,
                                                     out=args.out, progress=progress, guide=guide)
        else:
            samples = generate_dialogs(pool, args.n, args.seed, mix=mix, complexity_mix=cmix, backend=backend,
                                       out=args.out, progress=progress, concurrency=getattr(args, "concurrency", 32),
                                       votes=getattr(args, "votes", 3), quarantined=[])
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
    if getattr(args, "stats", None):
        write_json(args.stats, stats)
    if args.n > 0 and not acc.n:  # every dialog was quarantined: nothing usable was made
        print(f"funrl dialogs: error: no dialog was made (see {quarantine_path(args.out)})", file=sys.stderr)
        return 2
    return 0
