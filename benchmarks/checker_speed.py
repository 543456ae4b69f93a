#!/usr/bin/env python3
"""Checks per second of funrl's BFCL checker on the committed parity fixtures, and of the official checker on the
same rows in the same run when bfcl-eval's full package is importable.

    python benchmarks/checker_speed.py                                   # funrl only (project environment)
    python benchmarks/checker_speed.py --official-venv /tmp/funrl-bfcl-official   # both, side by side

The second form re-runs this script with that venv's interpreter (made by scripts/bfcl_parity.py), where the full
bfcl-eval is installed and funrl_lib (pure Python) is imported from this checkout.

Two measurements per checker, each the best of ``--repeat`` passes over all rows, single process (one core):
* "decode+check": one raw output -> verdict, the path of ``bfcl evaluate`` (decoder, format check, checker);
* "check only": decoded calls -> verdict (AST rows only; the decode is done before timing).
Goal (issue #2): funrl at least the official throughput (about 40k checks/s on one core).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIXTURES = REPO / "tests" / "fixtures" / "bfcl_parity"
PROBE_MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def load_rows(categories):
    from funrl_lib.bfcl.data import load_category
    from funrl_lib.bfcl.mutations import mutations

    rows = []
    for category in categories:
        with gzip.open(FIXTURES / f"{category}.jsonl.gz", "rt") as f:
            f.readline()
            ids = [json.loads(line)["id"] for line in f]
        entries = load_category(category)
        for entry_id in ids:
            entry = entries[entry_id]
            rows.extend((entry, text) for _, text in mutations(entry))
    return rows


def best_of(repeat, fn):
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-venv", help="re-run inside this venv (full bfcl-eval installed)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--categories", nargs="+", default=None)
    args = parser.parse_args()
    if args.official_venv and Path(sys.prefix).resolve() != Path(args.official_venv).resolve():
        cmd = [str(Path(args.official_venv) / "bin" / "python"), __file__, "--repeat", str(args.repeat)]
        if args.categories:
            cmd += ["--categories", *args.categories]
        return subprocess.run(cmd).returncode

    from funrl_lib.bfcl.checker import check_calls, score_entry
    from funrl_lib.bfcl.data import AST_CATEGORIES, SUPPORTED_CATEGORIES, BFCLDataError
    from funrl_lib.calls import DecodeError, decode_python

    categories = args.categories or list(SUPPORTED_CATEGORIES)
    try:
        rows = load_rows(categories)
    except BFCLDataError as e:
        print(f"checker_speed: {e}\n(run it in the project environment: `make bench`)", file=sys.stderr)
        return 2
    ast_rows = []
    for entry, text in rows:
        if entry.category in AST_CATEGORIES:
            try:
                ast_rows.append((entry, decode_python(text)))
            except DecodeError:
                pass

    def funrl_full():
        for entry, text in rows:
            score_entry(entry, text)

    def funrl_check():
        for entry, calls in ast_rows:
            check_calls(entry.functions, calls, entry.possible_answer, entry.category)

    results = {"funrl": (best_of(args.repeat, funrl_full), best_of(args.repeat, funrl_check))}

    official = None
    try:
        os.environ.setdefault("BFCL_PROJECT_ROOT", "/tmp/funrl-bench-bfcl-root")
        os.environ.setdefault("OPENAI_API_KEY", "unused")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        Path(os.environ["BFCL_PROJECT_ROOT"]).mkdir(parents=True, exist_ok=True)
        from bfcl_eval.constants.enums import Language, ReturnFormat
        from bfcl_eval.eval_checker import eval_runner
        from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
        official = True
    except Exception as e:  # only the data wheel (--no-deps) or nothing installed
        official_reason = f"{type(e).__name__}: {e}"

    if official:
        from bfcl_eval.utils import load_dataset_entry

        handler = eval_runner.get_handler(PROBE_MODEL)
        model = PROBE_MODEL.replace("/", "_")
        prompts = {}
        for category in categories:
            for e in load_dataset_entry(category, include_prereq=False, include_language_specific_hint=False):
                prompts[e["id"]] = e
        off_rows = [(entry, prompts[entry.id], text) for entry, text in rows]
        off_ast = [(entry.raw_functions, [c.to_bfcl() for c in calls], entry.possible_answer, entry.category)
                   for entry, calls in ast_rows]

        def official_full():
            for entry, prompt, text in off_rows:
                if entry.possible_answer is None:
                    eval_runner._evaluate_single_relevance_entry(handler, entry.id, text, prompt, model, entry.category)
                else:
                    try:
                        eval_runner._evaluate_single_ast_entry(handler, entry.id, text, entry.possible_answer, prompt,
                                                               model, entry.category, language=Language.PYTHON,
                                                               return_format=ReturnFormat.PYTHON)
                    except Exception:
                        pass

        def official_check():
            for functions, calls, answer, category in off_ast:
                try:
                    ast_checker(functions, calls, answer, Language.PYTHON, category, model)
                except Exception:
                    pass

        results["official"] = (best_of(args.repeat, official_full), best_of(args.repeat, official_check))

    print(f"BFCL checker speed: {len(rows)} rows ({len(ast_rows)} decodable AST rows), {len(categories)} categories, "
          f"best of {args.repeat}, Python {platform.python_version()}, one process")
    print(f"{'checker':10s} {'decode+check /s':>16s} {'check only /s':>15s}")
    for name, (full, check) in results.items():
        print(f"{name:10s} {len(rows) / full:16,.0f} {len(ast_rows) / check:15,.0f}")
    if official:
        (ff, fc), (of, oc) = results["funrl"], results["official"]
        print(f"{'ratio':10s} {of / ff:15.2f}x {oc / fc:14.2f}x   (funrl throughput / official throughput)")
    else:
        print(f"official checker not importable here ({official_reason.splitlines()[0][:120]}); run with "
              "--official-venv /tmp/funrl-bfcl-official for the side-by-side ratio")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
