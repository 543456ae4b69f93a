"""``funrl verify`` and ``funrl export``, the commands that read samples (funrl, ToolACE or OpenAI format; JSONL or a
JSON array): their options and handlers. Verification itself is :func:`funrl_lib.synth.verify.verify_file` (ToolACE
§2.3 dual-layer verification, optionally FunRL's filter); the exporters are :mod:`funrl_lib.synth.export`."""

from __future__ import annotations

import argparse
import gc
import sys

def add_verify(p: argparse.ArgumentParser) -> None:
    from ..synth.sample import SAMPLE_FORMATS
    from ..synth.verify import RULES

    p.description = ("Verify function-calling samples (funrl, ToolACE or OpenAI format; JSONL or a JSON array): kept "
                     "samples keep their format; rejected ones carry the failed rules and reasons. Re-running the "
                     "same command resumes.")
    p.add_argument("--in", dest="input", required=True, help="samples to verify (e.g. Team-ACE/ToolACE's data.json)")
    p.add_argument("--format", default="auto", choices=["auto", *SAMPLE_FORMATS],
                   help="input format (default: detected)")
    p.add_argument("--out", required=True, help="kept samples (JSONL, input format, with ids)")
    p.add_argument("--rejected", required=True, help="rejected samples with reasons (JSONL)")
    p.add_argument("--report", required=True, help="counts per rule and layer (JSON)")
    p.add_argument("--backend", default="programmatic", help="programmatic (deterministic model layer) or an LLM "
                                                             "backend kind (openai, hf) for the judges")
    p.add_argument("--pool", help="API pool JSONL: calls to its APIs are executed and tool outputs compared")
    p.add_argument("--rules", help=f"comma-separated subset of: {', '.join(RULES)}")
    p.add_argument("--funrl-filter", action="store_true", help="also apply FunRL's two-stage data filter")
    p.add_argument("--max-response-chars", type=int, default=2000, help="longest text answer allowed (default 2000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """``funrl verify``: 0 once every sample is decided (kept or rejected, with the report written); 2 for bad
    input (no samples in it, an unreadable pool, an output that is not this command's)."""
    from ..io import InputError, report_quarantine
    from ..synth.verify import VerifyContext, verify_file

    rules = [r.strip() for r in args.rules.split(",") if r.strip()] if args.rules else None
    try:
        backend = None
        if args.backend and args.backend != "programmatic":
            from ..backends import make_backend

            backend = make_backend(args.backend)
        pool = None
        if args.pool:
            from ..synth.api_pool import load_pool

            pool = load_pool(args.pool)
        ctx = VerifyContext(pool=pool, backend=backend, rules=rules, max_response_chars=args.max_response_chars)
        gc.freeze()  # the pool lives to the end: later collections need not walk it again
        report = verify_file(args.input, args.format, args.out, args.rejected, args.report, ctx=ctx,
                             funrl_filter=args.funrl_filter, progress=not args.no_progress)
    except (InputError, ValueError) as e:
        print(f"funrl: error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"kept: {args.out}\nrejected: {args.rejected}\nreport: {args.report}")
    report_quarantine(args.out)
    return 0


def add_export(p: argparse.ArgumentParser) -> None:
    from ..synth.sample import SAMPLE_FORMATS

    p.add_argument("--in", dest="inp", required=True, help="samples (funrl, ToolACE or OpenAI format; JSONL or "
                                                          "a JSON array)")
    p.add_argument("--format", default="auto", choices=["auto", *SAMPLE_FORMATS],
                   help="format of --in (default: detected per record)")
    p.add_argument("--to", required=True, choices=["toolace", "openai", "bfcl", "trl"])
    p.add_argument("--out", required=True, help="JSONL file to write")
    p.add_argument("--dataset", help="also save a datasets.Dataset here (save_to_disk)")
    p.set_defaults(func=run_export)


# The field that tells a row of each export format (so an existing --out of that format may be replaced).
_EXPORT_KEY = {"toolace": "conversations", "openai": "messages", "bfcl": "question", "trl": "prompt"}


def run_export(args: argparse.Namespace) -> int:
    """``funrl export``: 0 all records exported; 1 some skipped (each quarantined); 2 nothing usable (an empty
    input, or no record is a sample), an output that is not an export of this kind, or an unreadable file. Records
    are read, converted and written one at a time (``--dataset`` keeps the samples, as a Dataset holds them all)."""
    import os
    from pathlib import Path

    from ..io import InputError, Quarantine, check_own_output, dumps_record
    from ..synth.export import iter_export_rows, to_dataset
    from ..synth.sample import read_samples

    key = _EXPORT_KEY[args.to]
    own = lambda row: isinstance(row, dict) and key in row  # noqa: E731
    what = f"{args.to} rows (funrl export --to {args.to})"
    check_own_output(args.out, own, what)  # before reading: a refused --out leaves nothing behind
    if args.dataset:
        ds = Path(args.dataset)
        if ds.exists() and (not ds.is_dir() or (any(ds.iterdir()) and not (ds / "state.json").exists())):
            raise InputError("exists and is not a saved dataset; refusing to overwrite it: choose another --dataset "
                             "or remove it", path=ds)
    kept: list | None = [] if args.dataset else None
    n_samples = n_rows = bad = 0
    out = Path(args.out)
    made = [d for d in (out.parent, *out.parent.parents) if not d.exists()]  # removed again if nothing is written
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")  # renamed over --out at the end: a failed export leaves --out as it was

    def samples(quarantine: Quarantine):
        nonlocal n_samples, bad
        for _, sample, error in read_samples(args.inp, args.format, quarantine=quarantine):
            if error is not None:
                print(f"funrl: skipped: {error}", file=sys.stderr)
                bad += 1
                continue
            n_samples += 1
            if kept is not None:
                kept.append(sample)
            yield sample

    try:
        with Quarantine(args.out) as quarantine, open(tmp, "w", encoding="utf-8") as f:
            for row in iter_export_rows(samples(quarantine), args.to):
                f.write(dumps_record(row) + "\n")  # dumps_line's bytes; each distinct tool encoded once
                n_rows += 1
        if not n_samples:
            why = (f"none of its {bad} records is a sample (--format {args.format})" if bad
                   else "no records: the input is empty")
            raise InputError(f"{why}; nothing written" + (f" (bad lines: {quarantine.path})" if bad else ""),
                             path=args.inp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        if not out.exists():
            for d in made:  # innermost first
                d.rmdir()
    print(f"{n_samples} samples -> {n_rows} {args.to} rows: {args.out}" + (f" ({bad} records skipped)" if bad else ""))
    if bad:
        print(f"quarantined: {bad} (see {quarantine.path})")
    if args.dataset:
        to_dataset(kept, args.to).save_to_disk(args.dataset)
        print(f"dataset: {args.dataset}")
    return 1 if bad else 0
