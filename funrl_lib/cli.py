"""``funrl`` command line (also ``python -m funrl_lib``).

    funrl bfcl score --category CAT --results RESULT.jsonl [--out VERDICTS.jsonl] [--data-dir DIR]
    funrl bfcl generate --model PATH_OR_NAME --backend hf|vllm|openai --categories CAT[,...] --out DIR [--limit N]
    funrl bfcl evaluate --results DIR --out OUT [--label NAME] [--strip-think] [--data-dir DIR]
        (a model folder named *-FC is decoded FC style, as BFCL's QwenFCHandler; others prompt style)
    funrl bfcl info [--data-dir DIR]
    funrl decode [--format python|json|hermes|qwen_fc|openai|auto] [TEXT | -]
    funrl demo [--config configs/tiny-cpu.yaml] [--out outputs/demo] [--smoke] [--set KEY=VALUE ...] [--force]
    funrl tour [--out DIR]
    funrl pool --backend programmatic --n 2000 --seed 0 --out POOL.jsonl
    funrl dialogs --pool POOL.jsonl --n 5000 --seed 0 [--mix single=.3,...] --out DIALOGS.jsonl
    funrl verify --in FILE [--format auto|funrl|toolace|openai] --out KEPT.jsonl --rejected REJ.jsonl --report R.json
    funrl export --in KEPT.jsonl --to toolace|openai|bfcl|trl --out FILE [--dataset DIR]
    funrl sft --config configs/tiny-cpu.yaml [--set KEY=VALUE ...] [--force]
    funrl train --config configs/tiny-cpu.yaml [--mode grpo|egpo] [--set KEY=VALUE ...] [--force]
    funrl plot RUN_DIR [--out PNG]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from . import __version__

# Each command's one-line help, for `funrl --help` and for the commands not being run: building a command's options
# imports the module that defines them, so `funrl X` builds X's alone (see build_parser). tests/test_startup.py checks
# that these lines equal the ones the full parser gets from the modules.
COMMAND_HELP = {
    "bfcl": "BFCL v4: score result files, show the data in use",
    "decode": "decode model output into calls (JSON on stdout)",
    "pool": "synthesize the API pool (ToolACE tool self-evolution synthesis)",
    "dialogs": "generate dialogs from an API pool (ToolACE self-guided dialog generation)",
    "verify": "ToolACE's dual-layer verification (+ execution, lexical checks, FunRL's filter)",
    "export": "write samples as ToolACE, OpenAI messages, BFCL entries or TRL rows",
    "sft": "SFT warm start (TRL SFTTrainer) from a config",
    "train": "GRPO / EGPO (entropy-guided advantage) from a config",
    "plot": "training curves of a run (GRPO and EGPO overlaid when both exist)",
    "study": "the miniature GRPO-vs-EGPO study: SFT (or, with grpo.init=base, the base model), GRPO, EGPO per seed, "
             "evaluated on held-out APIs and BFCL; report with 95%% intervals",
    "demo": "the whole pipeline offline: API pool, dialogs, verification, SFT, GRPO and EGPO, held-out and BFCL "
            "evaluation; report.md + figures (resumable)",
    "tour": "a tour of the function-call core in seconds: decode, check, score BFCL gold and mutated answers",
}


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="BFCL data: a gorilla checkout (its root, berkeley-function-call-leaderboard or "
                                      "bfcl_eval/data folder); default: the installed bfcl-eval wheel")


def _add_eval_args(p: argparse.ArgumentParser) -> None:
    """The evaluation options ``funrl demo`` and ``funrl study`` share."""
    from .evaluation_defaults import DEFAULT_EVAL

    d = DEFAULT_EVAL
    p.add_argument("--heldout-limit", type=int, default=d["heldout_limit"], help="held-out rows evaluated per policy")
    p.add_argument("--bfcl-per-category", type=int, default=d["bfcl_per_category"],
                   help="stratified BFCL entries per category (0: skip BFCL)")
    p.add_argument("--bfcl-categories", default=d["bfcl_categories"])
    p.add_argument("--max-new-tokens", type=int, default=d["max_new_tokens"],
                   help=f"evaluation budget per answer (default {d['max_new_tokens']}; the tiny-cpu references take "
                        "up to ~160)")


def _arms(text: str) -> tuple[str, ...]:
    from .runs import parse_arms
    try:
        return parse_arms(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``funrl`` parser. ``only``: a command name (or ``""`` for none) whose options alone are built; the other
    commands are listed with their one-line help (:data:`COMMAND_HELP`) and import nothing. ``None``: every
    command's options (which imports every command's module, torch-free)."""
    parser = argparse.ArgumentParser(prog="funrl", description="funrl: function-calling data synthesis (ToolACE), "
                                     "BFCL v4 scoring, GRPO / EGPO training. `funrl COMMAND --help` describes each.")
    parser.add_argument("--version", action="version", version=f"funrl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                title="commands (funrl COMMAND --help for each)")
    _build_commands(sub, only)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """Every (sub)command's ``--help`` opens with a description: its one-line help where it has no longer one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, p in action.choices.items():
                if not p.description and helps.get(name):
                    p.description = helps[name].replace("%%", "%")
                _describe(p)


def _build_commands(sub: argparse._SubParsersAction, only: str | None) -> None:
    def stub(*names: str) -> bool:
        """True (and each command listed by name and help only) unless one of ``names`` is to be built."""
        if only is None or only in names:
            return False
        for name in names:
            sub.add_parser(name, help=COMMAND_HELP[name], add_help=False)
        return True

    if not stub("bfcl"):
        _add_bfcl(sub)
    if not stub("decode"):
        _add_decode(sub)
    # Synthesis stages: each module owns its options and its runner.
    if not stub("pool"):
        from .synth.api_pool import add_pool_parser
        add_pool_parser(sub)
    if not stub("dialogs"):
        from .synth.dialogs import add_dialogs_parser
        add_dialogs_parser(sub)
    if not stub("verify"):
        from .synth.verify import add_verify_parser
        add_verify_parser(sub)
    if not stub("export"):
        _add_export(sub)
    if not stub("sft", "train", "plot"):
        from .train.run import add_train_parsers
        add_train_parsers(sub)
    if not stub("study"):
        _add_study(sub)
    if not stub("demo"):
        _add_demo(sub)
    if not stub("tour"):
        _add_tour(sub)


def _add_bfcl(sub: argparse._SubParsersAction) -> None:
    bfcl = sub.add_parser("bfcl", help=COMMAND_HELP["bfcl"])
    bsub = bfcl.add_subparsers(dest="bfcl_command", required=True)
    score = bsub.add_parser("score", help="score one category's result file with funrl's BFCL checker")
    score.add_argument("--category", required=True, help="e.g. simple_python, live_multiple, irrelevance")
    score.add_argument("--results", required=True, help="BFCL result lines: {\"id\": ..., \"result\": \"<raw text>\"}; "
                                                        "decoded FC style when the file's model folder ends in -FC "
                                                        "(as in funrl bfcl evaluate)")
    score.add_argument("--out", help="write one verdict per input line here (JSONL)")
    _add_data_dir(score)
    score.add_argument("--strip-think", action="store_true",
                       help="remove a leading <think>...</think> before scoring (BFCL itself does not)")
    score.add_argument("--underscore-to-dot", action="store_true",
                       help="expect '.' in function names as '_' (BFCL's setting for OpenAI-style FC models)")
    ev = bsub.add_parser("evaluate", help="score every BFCL result file under a folder; summary.json, tables, chart")
    ev.add_argument("--results", required=True, nargs="+", metavar="DIR",
                    help="folder(s) searched for BFCL_v4_<category>_result.json files (one model); a model folder "
                         "whose name ends in -FC (BFCL's convention; `funrl bfcl generate --prompt fc` names it so) "
                         "is decoded FC style like BFCL's Qwen -FC models (<tool_call> blocks), others prompt style")
    ev.add_argument("--out", required=True, help="folder for summary.json, summary.md, errors.json, verdicts/, "
                                                 "comparison.png")
    ev.add_argument("--label", default="this model", help="name of the model in the tables and the chart")
    ev.add_argument("--strip-think", action="store_true", help="remove a leading <think>...</think> before scoring")
    ev.add_argument("--underscore-to-dot", action="store_true",
                    help="expect '.' in function names as '_' (BFCL's setting for OpenAI-style FC models)")
    _add_data_dir(ev)
    from .bfcl.generate import add_generate_parser
    _add_data_dir(add_generate_parser(bsub))
    info = bsub.add_parser("info", help="where the BFCL data is, its version and category sizes")
    _add_data_dir(info)


def _add_decode(sub: argparse._SubParsersAction) -> None:
    decode = sub.add_parser("decode", help=COMMAND_HELP["decode"])
    decode.add_argument("text", nargs="?", default="-", help="the output to decode, or - for standard input")
    decode.add_argument("--format", default="python", choices=["python", "json", "hermes", "qwen_fc", "openai", "auto"])
    decode.add_argument("--known-name", action="append", default=[],
                        help="a tool name that is not a Python identifier (e.g. 'Market Trends API'); repeatable")


def _add_export(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help=COMMAND_HELP["export"])
    export.add_argument("--in", dest="inp", required=True, help="samples (funrl, ToolACE or OpenAI format; JSONL or "
                                                               "a JSON array)")
    export.add_argument("--format", default="auto", choices=["auto", "funrl", "toolace", "openai"],
                        help="format of --in (default: detected per record)")
    export.add_argument("--to", required=True, choices=["toolace", "openai", "bfcl", "trl"])
    export.add_argument("--out", required=True, help="JSONL file to write")
    export.add_argument("--dataset", help="also save a datasets.Dataset here (save_to_disk)")


def _add_study(sub: argparse._SubParsersAction) -> None:
    study = sub.add_parser("study", help=COMMAND_HELP["study"])
    study.add_argument("--config", default="configs/tiny-cpu.yaml")
    study.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    study.add_argument("--out", default="outputs/study")
    study.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    study.add_argument("--arms", type=_arms, help="comma list, a subset of base,sft,grpo,egpo (default: "
                                                  "base,grpo,egpo when grpo.init is base, else sft,grpo,egpo)")
    _add_eval_args(study)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    from .pipeline import DEFAULT_CORRUPT_RATE

    demo = sub.add_parser("demo", help=COMMAND_HELP["demo"])
    demo.add_argument("--config", default="configs/tiny-cpu.yaml", help="training recipe (default: tiny-cpu)")
    demo.add_argument("--out", default="outputs/demo", help="folder for every stage's files (default: outputs/demo)")
    demo.add_argument("--smoke", action="store_true", help="every size cut to seconds of work (what the tests run)")
    demo.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a config field, e.g. --set sft.max_steps=60 (repeatable)")
    demo.add_argument("--corrupt-rate", type=float, default=DEFAULT_CORRUPT_RATE,
                      help="share of dialogs damaged before verification, so the verifier has work (default "
                           f"{DEFAULT_CORRUPT_RATE})")
    _add_eval_args(demo)
    demo.add_argument("--force", action="store_true", help="start afresh instead of resuming")


def _add_tour(sub: argparse._SubParsersAction) -> None:
    tour = sub.add_parser("tour", help=COMMAND_HELP["tour"])
    tour.add_argument("--out", default="outputs/tour", help="folder for the tour's files (default: outputs/tour)")
    _add_data_dir(tour)


def _bfcl_score(args: argparse.Namespace) -> int:
    from .bfcl.data import bfcl_data_version, find_data_dir
    from .bfcl.evaluate import model_folder
    from .bfcl.score import is_fc_model_name, quarantine_lines, score_results_file, write_verdicts
    from .io import check_own_output, quarantine_path

    data_dir = find_data_dir(args.data_dir)
    fc = is_fc_model_name(model_folder(args.results).name)
    if args.out:
        check_own_output(args.out, lambda v: isinstance(v, dict) and "valid" in v and "error_type" in v,
                         "BFCL verdicts (funrl bfcl score --out)")
    try:
        from .bfcl.multi_turn import MULTI_TURN_CATEGORIES, score_multi_turn_file
        if args.category in MULTI_TURN_CATEGORIES and fc:
            print(f"funrl: error: {args.results}: multi-turn results of an FC model (folder name ends in -FC); funrl "
                  "scores multi-turn in BFCL's prompting mode only", file=sys.stderr)
            return 2
        if args.category in MULTI_TURN_CATEGORIES:  # runs on BFCL's simulated backends with its official checker
            report = score_multi_turn_file(args.category, args.results, data_dir=data_dir,
                                           strip_thinking=args.strip_think)
        else:
            report = score_results_file(args.category, args.results, data_dir=data_dir,
                                        strip_thinking=args.strip_think, underscore_to_dot=args.underscore_to_dot,
                                        fc=fc)
    except FileNotFoundError:
        print(f"funrl: error: --results {args.results}: file not found", file=sys.stderr)
        return 2
    except IsADirectoryError:
        print(f"funrl: error: --results {args.results}: is a directory, expected a result file", file=sys.stderr)
        return 2
    if not report.lines_read:
        print(f"funrl: error: --results {args.results}: no result lines (an empty file)", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if args.out:
        write_verdicts(report, args.out)
        if report.unscored:
            print(f"quarantined: {quarantine_lines(report, args.out)} (see {quarantine_path(args.out)})")
    print(report.summary())
    if fc:
        print("decoded FC style (BFCL's QwenFCHandler; the model folder's name ends in -FC)")
    print(f"data: {bfcl_data_version(data_dir)}")
    if args.out:
        print(f"verdicts: {args.out}")
    return 1 if report.problems else 0


def _bfcl_evaluate(args: argparse.Namespace) -> int:
    """``funrl bfcl evaluate``: 0 when something was scored (lines that could not be scored are reported as
    ``FILE:LINE`` and quarantined in ``<out>.quarantine.jsonl``); 2 when nothing was (no result files, or no line of
    any file could be scored) or ``--out`` is not a folder of this command's outputs."""
    from pathlib import Path

    from .bfcl.evaluate import EvaluateError, evaluate_results, write_outputs
    from .io import InputError, check_own_json, quarantine_path

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("exists and is not a folder; --out names the folder for summary.json, summary.md, ...: "
                         "refusing to overwrite it", path=out_dir)
    check_own_json(out_dir / "summary.json", lambda d: isinstance(d, dict) and "categories" in d,
                   "a BFCL summary (funrl bfcl evaluate)")
    try:  # streamed: verdicts and quarantined lines are written, and FILE:LINE problems printed, as they come
        summary, reports = evaluate_results(args.results, data_dir=args.data_dir, strip_thinking=args.strip_think,
                                            underscore_to_dot=args.underscore_to_dot, out=args.out,
                                            on_problem=lambda text: print(text, file=sys.stderr))
    except EvaluateError as e:
        print(f"funrl: error: {e}", file=sys.stderr)
        return 2
    for note in summary["notes"]:
        print(f"note: {note}", file=sys.stderr)
    out = write_outputs(summary, reports, args.out, label=args.label)
    for mode, what in (("fc", "FC style (BFCL's QwenFCHandler; folder name ends in -FC)"),
                       ("prompt", "prompt style (Python-list syntax)")):
        if summary["decoding"].get(mode):
            print(f"decoded {what}: {', '.join(summary['decoding'][mode])}")
    if summary["decoding"].get("fc"):
        print("FC style: irrelevance and live_irrelevance count as correct when no call is decoded")
    from .bfcl.evaluate import overall_lines
    print("\n".join(overall_lines(summary)))  # the board's Overall first, labelled; the renormalised one after it
    for c, r in summary["categories"].items():
        partial = "" if r["complete"] else f"  PARTIAL: {r['missing']} of {r['category_size']} entries missing"
        print(f"{c:<24} {100 * r['accuracy']:6.2f}%  ({r['correct']}/{r['total']}){partial}")
    for name, s in summary["summaries"].items():
        if s["score"] is not None:
            lacking = (f"  (over the parts present; the board counts {', '.join(s['missing'])} as 0: "
                       f"{100 * s['board']:.2f}%)" if s["missing"] else "")
            print(f"{name:<24} {100 * s['score']:6.2f}%{lacking}")
    for c, why in summary["found_but_not_scored"].items():
        print(f"{c}: not scored: {why}", file=sys.stderr)
    print(f"wrote {out}/summary.json, summary.md, errors.json, verdicts/")
    bad = summary["problems_total"]  # each one quarantined as it was found
    if bad:
        print(f"quarantined: {bad} (see {quarantine_path(args.out)})")
    if not any(r.scored for r in reports.values()):
        print("funrl: error: no result line could be scored" + (f" ({bad} quarantined)" if bad else
                                                                 " (no result lines)"), file=sys.stderr)
        return 2
    return 0


def _bfcl_info(args: argparse.Namespace) -> int:
    from .bfcl.data import SUPPORTED_CATEGORIES, bfcl_data_version, find_data_dir, load_category

    data_dir = find_data_dir(args.data_dir)
    print(f"BFCL data: {data_dir}\nversion: {bfcl_data_version(data_dir)}")
    for category in SUPPORTED_CATEGORIES:
        print(f"  {category:24s} {len(load_category(category, data_dir)):5d} entries")
    return 0


def _decode(args: argparse.Namespace) -> int:
    from .calls import DecodeError, decode_calls

    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        calls = decode_calls(text, args.format, known_names=args.known_name)
    except DecodeError as e:
        print(f"funrl: cannot decode: {e}", file=sys.stderr)
        return 1
    print(json.dumps([{"name": c.name, "arguments": c.arguments} for c in calls], ensure_ascii=False, default=repr))
    return 0


# The field that tells a row of each export format (so an existing --out of that format may be replaced).
_EXPORT_KEY = {"toolace": "conversations", "openai": "messages", "bfcl": "question", "trl": "prompt"}


def _export(args: argparse.Namespace) -> int:
    """``funrl export``: 0 all records exported; 1 some skipped (each quarantined); 2 nothing usable (an empty
    input, or no record is a sample), an output that is not an export of this kind, or an unreadable file. Records
    are read, converted and written one at a time (``--dataset`` keeps the samples, as a Dataset holds them all)."""
    import os
    from pathlib import Path

    from .synth.export import iter_export_rows, to_dataset
    from .io import InputError, Quarantine, check_own_output, dumps_record
    from .synth.sample import read_samples

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


def _command_of(argv: Sequence[str]) -> str:
    """The command named in ``argv`` (its first word that is not an option), or "" when there is none (or it is not
    a command: argparse then lists them)."""
    word = next((a for a in argv if not a.startswith("-")), "")
    return word if word in COMMAND_HELP else ""


# The errors a command reports as `funrl: error: ...` (exit 2): (module, class). Looked up only in modules already
# imported (an error of a class can only come from a module that was imported), so main imports none of them.
_USER_ERRORS = (("funrl_lib.bfcl.data", "BFCLDataError"), ("funrl_lib.io", "InputError"),
                ("funrl_lib.train.config", "ConfigError"), ("funrl_lib.pipeline", "PipelineError"),
                ("funrl_lib.train.backend", "BackendError"))


def _is_user_error(e: BaseException) -> bool:
    classes = tuple(getattr(sys.modules[m], n) for m, n in _USER_ERRORS if m in sys.modules)
    return bool(classes) and isinstance(e, classes)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(only=_command_of(argv)).parse_args(argv)
    from .progress import line_progress
    line_progress()  # stderr not a terminal (a log file, a pipe): progress bars as a few whole lines
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("funrl: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if _is_user_error(e):
            print(f"funrl: error: {e}", file=sys.stderr)
            return 2
        raise


def _run(args: argparse.Namespace) -> int:
    if args.command == "bfcl":
        if args.bfcl_command == "generate":
            from .bfcl.generate import run_cli as run_generate
            return run_generate(args)
        if args.bfcl_command == "evaluate":
            return _bfcl_evaluate(args)
        return _bfcl_score(args) if args.bfcl_command == "score" else _bfcl_info(args)
    if args.command == "decode":
        return _decode(args)
    if args.command == "pool":
        from .synth.api_pool import run_pool
        return run_pool(args)
    if args.command == "dialogs":
        from .synth.dialogs import run_dialogs
        return run_dialogs(args)
    if args.command == "verify":
        from .synth.verify import run_verify
        return run_verify(args)
    if args.command == "export":
        return _export(args)
    if args.command in ("sft", "train", "plot"):
        from .train.run import run_cli
        return run_cli(args)
    if args.command == "study":
        from .study import run_study
        summary = run_study(args.config, [int(x) for x in args.seeds.split(",")], args.out,
                            overrides=args.overrides, heldout_limit=args.heldout_limit,
                            bfcl_per_category=args.bfcl_per_category, bfcl_categories=args.bfcl_categories,
                            max_new_tokens=args.max_new_tokens, arms=args.arms)
        print(f"wrote {args.out}/report.md, summary.json, study.png, results.jsonl")
        for arm, s in summary.items():
            m = s["metrics"].get("heldout/answer_ok")
            if m:
                print(f"{arm:5} held-out exact-call accuracy {100 * m['mean']:.1f} ± {100 * m['ci95']:.1f}% "
                      f"(n={m['n']} seeds)")
        return 0
    if args.command == "demo":
        from .pipeline import run_pipeline
        report = run_pipeline(args.config, args.out, overrides=args.overrides, smoke=args.smoke,
                              corrupt_rate=args.corrupt_rate, heldout_limit=args.heldout_limit,
                              bfcl_per_category=args.bfcl_per_category, bfcl_categories=args.bfcl_categories,
                              max_new_tokens=args.max_new_tokens, force=args.force)
        print(f"report: {report}")
        return 0
    if args.command == "tour":
        from .tour import run_tour
        return run_tour(args.out, data_dir=args.data_dir)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
