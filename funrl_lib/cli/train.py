"""The training commands (``funrl sft``, ``train``, ``plot``, ``study``, ``demo``): their options and handlers; the
stages they run (:mod:`funrl_lib.train.run`, :mod:`funrl_lib.study`, :mod:`funrl_lib.pipeline`) and torch are
imported only when a command runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _add_stage(p: argparse.ArgumentParser) -> None:
    """The options ``funrl sft`` and ``funrl train`` share."""
    p.add_argument("--config", help="YAML recipe (configs/*.yaml); omitted: all defaults (the tiny model)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set grpo.max_steps=4 (repeatable)")
    p.add_argument("--output-dir", help="run directory (default: the config's output_dir or outputs/runs/NAME)")
    p.add_argument("--force", action="store_true", help="redo a finished stage (its directory is deleted)")
    p.set_defaults(func=run_stage)


def add_sft(p: argparse.ArgumentParser) -> None:
    _add_stage(p)


def add_train(p: argparse.ArgumentParser) -> None:
    _add_stage(p)
    p.add_argument("--mode", choices=["grpo", "egpo"], help="advantage mode (default: the config's "
                                                            "egpo.advantage_mode)")


def run_stage(args: argparse.Namespace) -> int:
    """``funrl sft`` / ``funrl train``: the config with ``--set``, ``--output-dir`` and ``--mode`` applied, then the
    stage; 2 (with the reason) when it cannot run."""
    from ..train.config import load_config

    overrides = list(args.overrides)
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    if getattr(args, "mode", None):
        overrides.append(f"egpo.advantage_mode={args.mode}")
    cfg = load_config(args.config, overrides)
    from ..train.run import leave_process_group, run_sft, run_train
    try:
        final = run_sft(cfg, force=args.force) if args.command == "sft" else run_train(cfg, force=args.force)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        if os.environ.get("FUNRL_DEBUG"):
            raise
        print(f"funrl {args.command}: error: {e} (FUNRL_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2
    leave_process_group()
    print(f"done: {final}")
    return 0


def add_plot(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory (with sft/, grpo/ and/or egpo/ inside)")
    p.add_argument("--out", help="PNG to write (default: RUN_DIR/training.png)")
    p.set_defaults(func=run_plot)


def run_plot(args: argparse.Namespace) -> int:
    from ..train.plots import plot_training

    out = args.out or str(Path(args.run_dir) / "training.png")
    plot_training(args.run_dir, out)
    print(f"wrote {out}")
    return 0


def _add_eval(p: argparse.ArgumentParser) -> None:
    """The evaluation options ``funrl demo`` and ``funrl study`` share."""
    from ..evaluation_defaults import DEFAULT_EVAL

    d = DEFAULT_EVAL
    p.add_argument("--heldout-limit", type=int, default=d["heldout_limit"], help="held-out rows evaluated per policy")
    p.add_argument("--bfcl-per-category", type=int, default=d["bfcl_per_category"],
                   help="stratified BFCL entries per category (0: skip BFCL)")
    p.add_argument("--bfcl-categories", default=d["bfcl_categories"])
    p.add_argument("--max-new-tokens", type=int, default=d["max_new_tokens"],
                   help=f"evaluation budget per answer (default {d['max_new_tokens']}; the tiny-cpu references take "
                        "up to ~160)")


def _eval_kwargs(args: argparse.Namespace) -> dict:
    return dict(heldout_limit=args.heldout_limit, bfcl_per_category=args.bfcl_per_category,
                bfcl_categories=args.bfcl_categories, max_new_tokens=args.max_new_tokens)


def _arms(text: str) -> tuple[str, ...]:
    from ..runs import parse_arms
    try:
        return parse_arms(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_study(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="configs/tiny-cpu.yaml")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    p.add_argument("--out", default="outputs/study")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--arms", type=_arms, help="comma list, a subset of base,sft,grpo,egpo (default: "
                                              "base,grpo,egpo when grpo.init is base, else sft,grpo,egpo)")
    _add_eval(p)
    p.set_defaults(func=run_study)


def run_study(args: argparse.Namespace) -> int:
    from ..study import run_study as study

    summary = study(args.config, [int(x) for x in args.seeds.split(",")], args.out, overrides=args.overrides,
                    arms=args.arms, **_eval_kwargs(args))
    print(f"wrote {args.out}/report.md, summary.json, study.png, results.jsonl")
    for arm, s in summary.items():
        m = s["metrics"].get("heldout/answer_ok")
        if m:
            print(f"{arm:5} held-out exact-call accuracy {100 * m['mean']:.1f} ± {100 * m['ci95']:.1f}% "
                  f"(n={m['n']} seeds)")
    return 0


def add_demo(p: argparse.ArgumentParser) -> None:
    from ..pipeline import DEFAULT_CORRUPT_RATE

    p.add_argument("--config", default="configs/tiny-cpu.yaml", help="training recipe (default: tiny-cpu)")
    p.add_argument("--out", default="outputs/demo", help="folder for every stage's files (default: outputs/demo)")
    p.add_argument("--smoke", action="store_true", help="every size cut to seconds of work (what the tests run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set sft.max_steps=60 (repeatable)")
    p.add_argument("--corrupt-rate", type=float, default=DEFAULT_CORRUPT_RATE,
                   help="share of dialogs damaged before verification, so the verifier has work (default "
                        f"{DEFAULT_CORRUPT_RATE})")
    _add_eval(p)
    p.add_argument("--force", action="store_true", help="start afresh instead of resuming")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from ..pipeline import run_pipeline

    report = run_pipeline(args.config, args.out, overrides=args.overrides, smoke=args.smoke,
                          corrupt_rate=args.corrupt_rate, force=args.force, **_eval_kwargs(args))
    print(f"report: {report}")
    return 0
