"""The ``funrl bfcl`` subcommands (``score``, ``evaluate``, ``generate``, ``info``): their options and what each one
runs in :mod:`funrl_lib.bfcl`, which is imported only when a subcommand runs (``generate``'s options excepted: its
module names the backends and prompts, torch-free)."""

from __future__ import annotations

import argparse
import sys


def add_data_dir(p: argparse.ArgumentParser) -> None:
    """``--data-dir``: where the BFCL data is (every ``funrl bfcl`` subcommand and ``funrl tour``)."""
    p.add_argument("--data-dir", help="BFCL data: a gorilla checkout (its root, berkeley-function-call-leaderboard or "
                                      "bfcl_eval/data folder); default: the installed bfcl-eval wheel")


def _add_underscore_to_dot(p: argparse.ArgumentParser) -> None:
    p.add_argument("--underscore-to-dot", action="store_true",
                   help="expect '.' in function names as '_' (BFCL's setting for OpenAI-style FC models)")


def add_bfcl(p: argparse.ArgumentParser) -> None:
    """``funrl bfcl``: one subparser per subcommand, each bound to its handler."""
    bsub = p.add_subparsers(dest="bfcl_command", required=True)
    score = bsub.add_parser("score", help="score one category's result file with funrl's BFCL checker")
    score.add_argument("--category", required=True, help="e.g. simple_python, live_multiple, irrelevance")
    score.add_argument("--results", required=True, help="BFCL result lines: {\"id\": ..., \"result\": \"<raw text>\"}; "
                                                        "decoded FC style when the file's model folder ends in -FC "
                                                        "(as in funrl bfcl evaluate)")
    score.add_argument("--out", help="write one verdict per input line here (JSONL)")
    add_data_dir(score)
    score.add_argument("--strip-think", action="store_true",
                       help="remove a leading <think>...</think> before scoring (BFCL itself does not)")
    _add_underscore_to_dot(score)
    score.set_defaults(func=run_score)
    ev = bsub.add_parser("evaluate", help="score every BFCL result file under a folder; summary.json, tables, chart")
    ev.add_argument("--results", required=True, nargs="+", metavar="DIR",
                    help="folder(s) searched for BFCL_v4_<category>_result.json files (one model); a model folder "
                         "whose name ends in -FC (BFCL's convention; `funrl bfcl generate --prompt fc` names it so) "
                         "is decoded FC style like BFCL's Qwen -FC models (<tool_call> blocks), others prompt style")
    ev.add_argument("--out", required=True, help="folder for summary.json, summary.md, errors.json, verdicts/, "
                                                 "comparison.png")
    ev.add_argument("--label", default="this model", help="name of the model in the tables and the chart")
    ev.add_argument("--strip-think", action="store_true", help="remove a leading <think>...</think> before scoring")
    _add_underscore_to_dot(ev)
    add_data_dir(ev)
    ev.set_defaults(func=run_evaluate)
    _add_generate(bsub)
    info = bsub.add_parser("info", help="where the BFCL data is, its version and category sizes")
    add_data_dir(info)
    info.set_defaults(func=run_info)


def _add_generate(bsub: argparse._SubParsersAction) -> None:
    from ..bfcl import generate

    p = bsub.add_parser("generate", help="run a model on BFCL questions; result files in BFCL's layout",
                        description=generate.__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model directory, LoRA adapter directory, hub id, or the served "
                                                  "model name (--backend openai)")
    p.add_argument("--backend", default="hf", choices=generate.BACKENDS,
                   help="hf (transformers), vllm, or openai (an OpenAI-compatible chat server); default hf")
    p.add_argument("--categories", required=True,
                   help="comma-separated categories or groups (single_turn, all_single_turn, non_live, non_python, "
                        "live, multi_turn, memory, web_search, agentic, all), e.g. simple_python,live_simple")
    p.add_argument("--limit", type=int, help="at most N entries per category (default: all)")
    p.add_argument("--stratified", action="store_true",
                   help="with --limit: N entries spread over each category (seeded by --seed), not the first N")
    p.add_argument("--seed", type=int, default=0, help="for --stratified and for sampling (default 0)")
    p.add_argument("--prompt", default="bfcl", choices=generate.PROMPTS,
                   help="bfcl: BFCL's prompting mode (default); funrl: the FunRL think prompt; fc: the chat "
                        "template's own tools= format (raw text stored; the result folder gets BFCL's -FC suffix, "
                        "so funrl bfcl evaluate decodes it FC style)")
    p.add_argument("--batch-size", type=int, help="entries per batch (default: hf 8, vllm 256, openai 32); results "
                                                  "are flushed after each batch")
    p.add_argument("--max-new-tokens", type=int, default=1024, help="default 1024")
    p.add_argument("--temperature", type=float, default=0.001,
                   help="default 0.001 (BFCL's); hf and vllm decode greedily at <= 0.01")
    p.add_argument("--model-name", help="result folder name (default: the model directory's name, or the hub id "
                                        "with / as _); with --prompt fc, -FC is appended if missing; a name ending in "
                                        "-FC is refused with the other prompts")
    p.add_argument("--out", required=True, help="results folder: OUT/<model_name>/<group>/BFCL_v4_<cat>_result.json")
    p.add_argument("--strip-think", action=argparse.BooleanOptionalAction, default=None,
                   help="store the answer after a leading <think>...</think> in result (raw text in result_raw); "
                        "default: on for --prompt funrl, off otherwise")
    p.add_argument("--base-url", help="--backend openai: e.g. http://localhost:8000/v1 (default: "
                                      "FUNRL_OPENAI_BASE_URL or OPENAI_BASE_URL); the key comes from OPENAI_API_KEY")
    p.add_argument("--concurrency", type=int, default=8, help="--backend openai: requests in flight (default 8)")
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"],
                   help="hf/vllm weights dtype (default auto: the checkpoint's)")
    p.add_argument("--embedding-model", metavar="PATH",
                   help="memory_vector: a local sentence-transformers model folder, used in place of the "
                        "all-MiniLM-L6-v2 that BFCL's vector memory loads by name (needs sentence-transformers and "
                        "faiss-cpu); without it memory_vector is not generated (said, not scored as 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_data_dir(p)
    p.set_defaults(func=run_generate)


def run_score(args: argparse.Namespace) -> int:
    """``funrl bfcl score``: 0 every line scored; 1 some could not be (each reported); 2 no file or no lines."""
    from ..bfcl.data import bfcl_data_version, find_data_dir
    from ..bfcl.evaluate import model_folder
    from ..bfcl.score import is_fc_model_name, quarantine_lines, score_results_file, write_verdicts
    from ..io import check_own_output, quarantine_path

    data_dir = find_data_dir(args.data_dir)
    fc = is_fc_model_name(model_folder(args.results).name)
    if args.out:
        check_own_output(args.out, lambda v: isinstance(v, dict) and "valid" in v and "error_type" in v,
                         "BFCL verdicts (funrl bfcl score --out)")
    try:
        from ..bfcl.multi_turn import MULTI_TURN_CATEGORIES, score_multi_turn_file
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


def run_evaluate(args: argparse.Namespace) -> int:
    """``funrl bfcl evaluate``: 0 when something was scored (lines that could not be scored are reported as
    ``FILE:LINE`` and quarantined in ``<out>.quarantine.jsonl``); 2 when nothing was (no result files, or no line of
    any file could be scored) or ``--out`` is not a folder of this command's outputs."""
    from pathlib import Path

    from ..bfcl.evaluate import EvaluateError, evaluate_results, overall_lines, write_outputs
    from ..io import InputError, check_own_json, quarantine_path

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


def run_generate(args: argparse.Namespace) -> int:
    """``funrl bfcl generate``: 0 every requested entry generated; 1 some requests failed (a re-run retries them);
    2 arguments or files that make generation impossible."""
    from ..bfcl.generate import GenerateError, generate

    try:
        report = generate(args.model, categories=args.categories, out=args.out, backend=args.backend,
                          prompt=args.prompt, limit=args.limit, stratified=args.stratified, seed=args.seed,
                          batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                          temperature=args.temperature, model_name=args.model_name, data_dir=args.data_dir,
                          strip_think=args.strip_think, base_url=args.base_url, concurrency=args.concurrency,
                          dtype=args.dtype, progress=not args.no_progress, embedding_model=args.embedding_model)
    except GenerateError as e:
        print(f"funrl: error: {e}", file=sys.stderr)
        return 2
    failed = 0
    for category, s in report["categories"].items():
        failed += s["failed"]
        extra = f", {s['failed']} failed (re-run to retry)" if s["failed"] else ""
        print(f"{category:<24} {s['requested']:5d} requested, {s['already_done']} already done, "
              f"{s['generated']} generated{extra}  {s['path']}")
    for category, reason in report["not_generated"].items():
        print(f"{category:<24} NOT GENERATED: {reason}")
    print(f"config: {report['config']}")
    return 1 if failed else 0


def run_info(args: argparse.Namespace) -> int:
    """``funrl bfcl info``: where the data is, its version and each category's size."""
    from ..bfcl.data import SUPPORTED_CATEGORIES, bfcl_data_version, find_data_dir, load_category

    data_dir = find_data_dir(args.data_dir)
    print(f"BFCL data: {data_dir}\nversion: {bfcl_data_version(data_dir)}")
    for category in SUPPORTED_CATEGORIES:
        print(f"  {category:24s} {len(load_category(category, data_dir)):5d} entries")
    return 0
