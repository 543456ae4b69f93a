#!/usr/bin/env python3
"""Record the OFFICIAL BFCL checker's verdicts on systematically mutated outputs, as test fixtures.

    python scripts/bfcl_parity.py            # creates the throwaway venv if needed, then writes the fixtures
    python scripts/bfcl_parity.py --venv /tmp/bfcl-official --categories simple_python irrelevance

What it does:

1. Creates a separate virtualenv (default ``/tmp/funrl-bfcl-official``) with the **full** ``bfcl-eval==2026.3.23``
   (all its dependencies; torch is pre-installed as the CPU build 2.13.0 so the resolver does not pull CUDA; the
   missing ``soundfile`` dependency is added). Nothing of it touches the project environment.
2. Re-runs itself inside that venv. For every entry of the 11 Python single-turn categories it regenerates the
   mutated outputs of :mod:`funrl_lib.bfcl.mutations` (pure Python, imported from this checkout) and scores each with
   the official code paths of ``bfcl evaluate``: ``eval_runner._evaluate_single_ast_entry`` (decode with the handler's
   ``decode_ast``, format check, ``ast_checker``) or ``_evaluate_single_relevance_entry``, using the handler of a
   registered prompt-mode model (``meta-llama/Llama-3.1-8B-Instruct``: default Python decoder, no underscore_to_dot).
   An exception inside the official checker is recorded as ``checker_error:<ExceptionName>``.
3. Cross-checks the harness: for each category, the gold answers and one mutation are also written as result files
   and scored by the official ``bfcl evaluate`` command; its accuracies must equal the harness's.
4. Runs the per-rule tests of ``tests/test_checker.py`` with the official ``ast_checker`` in place of funrl's, so
   their hand-written expectations are the official behaviour too.
5. Writes ``tests/fixtures/bfcl_parity/<category>.jsonl.gz``: a header line (versions, error-type table) then one
   line per entry ``{"id", "digest", "v": [code, ...]}``, codes aligned with the mutation order (0 = valid, k =
   error_types[k-1]); ``digest`` lets the test confirm it regenerated the same texts.

``tests/test_bfcl_parity.py`` asserts that funrl's checker gives the same (valid, error_type) on every row.

**FC mode** (``--fc``; ``make parity`` runs both)::

    python scripts/bfcl_parity.py --fc       # the same venv; writes tests/fixtures/bfcl_fc_parity/

The same, for the raw FC outputs of :mod:`funrl_lib.bfcl.fc_mutations` (Hermes/Qwen ``<tool_call>`` replies: think
text, several blocks, broken JSON, bare JSON lists, prose, gold and wrong answers), scored as BFCL scores its
function-calling Qwen entries: the handler of the registered ``Qwen/Qwen3-0.6B-FC`` (``QwenFCHandler``,
``underscore_to_dot`` off) first keeps what its generation keeps of a raw reply (``_parse_query_response_prompting``
on a completions-shaped object: the text after the last ``</think>``), then ``_evaluate_single_ast_entry`` /
``_evaluate_single_relevance_entry`` decode it with ``QwenFCHandler.decode_ast`` and check it. The gold and probe
result files (holding the kept text, as BFCL's own generation writes them) are cross-checked with ``bfcl evaluate
--model Qwen/Qwen3-0.6B-FC``, whose counts go into each fixture's header (``cli``). Fixture format as above, with
``fc_mutations_version``. ``tests/test_bfcl_fc_parity.py`` asserts funrl's FC scoring (``funrl bfcl evaluate`` on a
``*-FC`` folder) gives the same verdict on every row and the same per-category accuracies.

**Real model outputs** (``--from-results``)::

    python scripts/bfcl_parity.py --from-results outputs/bfcl/results/Qwen2.5-Coder-0.5B-Instruct-FC

records the official verdicts on every line of the result files of a model folder (as ``funrl bfcl generate``
writes it; a folder whose name ends in ``-FC`` is scored with the FC handler above, any other with the prompt-mode
one, the convention ``funrl bfcl evaluate`` follows) into ``tests/fixtures/bfcl_real/<folder name>/<category>.jsonl.gz``
(header, then ``{"id", "result", "v"}`` per line with the stored result text), cross-checked with ``bfcl evaluate``
(``--partial-eval`` for a subset). ``tests/test_bfcl_fc_parity.py`` scores every such fixture with funrl and asserts
the same verdicts and accuracies; nothing else is needed to add one.

**Java and JavaScript** (``--java-js``)::

    python scripts/bfcl_parity.py --java-js  # writes tests/fixtures/bfcl_java_js_parity/

The outputs of :mod:`funrl_lib.bfcl.java_js_mutations` for every ``simple_java`` / ``simple_javascript`` entry, each
scored twice by ``_evaluate_single_ast_entry`` with the language and return format ``ast_file_runner`` picks: with
the prompt-mode probe's handler (tree-sitter decoding) into ``"v"``, and with ``QwenFCHandler`` (after its response
parsing) into ``"fc"``; both modes' gold and probe files cross-checked with ``bfcl evaluate`` (counts in ``cli``).
``tests/test_bfcl_java_js_parity.py`` asserts funrl's verdicts and ``funrl bfcl evaluate`` counts are the same.

**Agentic** (``--agentic``)::

    python scripts/bfcl_parity.py --agentic  # writes tests/fixtures/bfcl_agentic_parity/

The results of :mod:`funrl_lib.bfcl.agentic_mutations` (``[[step, ...]]``) for every entry of the five web-search and
memory categories, scored by ``eval_runner._evaluate_single_agentic_entry`` in prompt mode and FC mode (each step as
QwenFCHandler's generation keeps it), fixtures and ``bfcl evaluate`` cross-check as for ``--java-js`` (result files in
BFCL's ``agentic/`` and ``agentic/memory/<backend>/`` folders). ``tests/test_bfcl_agentic_parity.py`` asserts them.

**Format sensitivity** (``--format-sensitivity``): the outputs of
:mod:`funrl_lib.bfcl.format_sensitivity_mutations` for each of the 5,200 ids, scored as ``format_sensitivity_runner``
scores them (prompt mode only, as BFCL); the gold and probe files' official score-file headers (per-configuration
accuracy, max delta, variance, std) are kept. ``tests/test_bfcl_format_sensitivity.py``.

**The board** (``--board``): the result sets of :mod:`funrl_lib.bfcl.board_results` (every scoring category plus
format sensitivity; and a subset), each scored by the official ``bfcl evaluate --test-category all`` as one model;
its ``data_overall.csv`` row and per-category counts are kept in ``tests/fixtures/bfcl_board_parity/<scenario>.json``.
``tests/test_bfcl_board_parity.py`` asserts ``funrl bfcl evaluate`` prints the same 27 score columns.

Recorded (2026-12-05): ``python scripts/bfcl_parity.py --fc`` with the venv made by this script; ``--java-js``,
``--agentic``, ``--format-sensitivity`` and ``--board`` (2026-12-06) likewise.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "bfcl_parity"
FC_FIXTURES = REPO / "tests" / "fixtures" / "bfcl_fc_parity"
REAL_FIXTURES = REPO / "tests" / "fixtures" / "bfcl_real"
JAVA_JS_FIXTURES = REPO / "tests" / "fixtures" / "bfcl_java_js_parity"
AGENTIC_FIXTURES = REPO / "tests" / "fixtures" / "bfcl_agentic_parity"
FS_FIXTURES = REPO / "tests" / "fixtures" / "bfcl_format_sensitivity_parity"
BOARD_FIXTURES = REPO / "tests" / "fixtures" / "bfcl_board_parity"
BFCL_EVAL = "bfcl-eval==2026.3.23"
PROBE_MODEL = "meta-llama/Llama-3.1-8B-Instruct"  # registered prompt-mode OSS handler: default decode_ast
FC_PROBE_MODEL = "Qwen/Qwen3-0.6B-FC"  # registered FC model: QwenFCHandler, underscore_to_dot False
CATEGORIES = ["simple_python", "multiple", "parallel", "parallel_multiple", "live_simple", "live_multiple",
              "live_parallel", "live_parallel_multiple", "irrelevance", "live_irrelevance", "live_relevance"]
JAVA_JS = ["simple_java", "simple_javascript"]
AGENTIC = ["web_search_base", "web_search_no_snippet", "memory_kv", "memory_vector", "memory_rec_sum"]


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    marker = venv / ".funrl-bfcl-official"
    if marker.is_file() and marker.read_text().strip() == BFCL_EVAL:
        return python
    print(f"creating the official-checker venv at {venv} (one-off, a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # CPU torch first: bfcl-eval's dependency sentence-transformers needs torch, and an unpinned torch pulls CUDA.
    subprocess.run(pip + ["torch==2.13.0"], check=True)
    subprocess.run(pip + [BFCL_EVAL, "soundfile", "pytest"], check=True)
    marker.write_text(BFCL_EVAL + "\n")
    return python


def run_inner(args: argparse.Namespace) -> int:
    os.environ.setdefault("BFCL_PROJECT_ROOT", str(Path(args.work) / "bfcl_root"))
    os.environ.setdefault("OPENAI_API_KEY", "unused")  # some handlers build a client at import
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    Path(os.environ["BFCL_PROJECT_ROOT"]).mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))

    import importlib.metadata

    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker import eval_runner
    from bfcl_eval.utils import load_dataset_entry, load_ground_truth_entry

    from funrl_lib.bfcl.data import AST_CATEGORIES, find_data_dir, load_category
    from funrl_lib.bfcl.mutations import MUTATIONS_VERSION, mutations, mutations_digest

    official_version = importlib.metadata.version("bfcl-eval")
    data_dir = find_data_dir()
    handler = eval_runner.get_handler(PROBE_MODEL)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    totals = {}
    for category in args.categories:
        started = time.time()
        prompts = {e["id"]: e for e in load_dataset_entry(category, include_prereq=False,
                                                          include_language_specific_hint=False)}
        answers = ({e["id"]: e["ground_truth"] for e in load_ground_truth_entry(category)}
                   if category in AST_CATEGORIES else {})
        entries = load_category(category, data_dir)
        error_types: list[str] = []
        lines = []
        counts = {"rows": 0, "valid": 0}
        gold_results, probe_results = [], []
        for entry_id, entry in entries.items():
            items = mutations(entry)
            codes = []
            for name, text in items:
                valid, error_type = official_verdict(eval_runner, handler, category, prompts[entry_id],
                                                     answers.get(entry_id), text, Language, ReturnFormat)
                if valid:
                    codes.append(0)
                    counts["valid"] += 1
                else:
                    if error_type not in error_types:
                        error_types.append(error_type)
                    codes.append(error_types.index(error_type) + 1)
                counts["rows"] += 1
            lines.append({"id": entry_id, "digest": mutations_digest(items), "v": codes})
            gold_results.append({"id": entry_id, "result": items[0][1], "_valid": codes[0] == 0})
            k = len(gold_results) % len(items)  # a different mutation per entry: a mix of right and wrong
            probe_results.append({"id": entry_id, "result": items[k][1], "_valid": codes[k] == 0})
        header = {"category": category, "bfcl_eval": official_version, "python": platform.python_version(),
                  "mutations_version": MUTATIONS_VERSION, "probe_model": PROBE_MODEL,
                  "created": time.strftime("%Y-%m-%d"), "entries": len(lines), **counts,
                  "error_types": error_types}
        path = out_dir / f"{category}.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as f:
            f.write(json.dumps(header) + "\n")
            for line in lines:
                f.write(json.dumps(line, separators=(",", ":")) + "\n")
        if not args.skip_cli_check:
            for label, results in (("gold", gold_results), ("probe", probe_results)):
                cli_check(category, label, results, Path(args.work))
        totals[category] = counts
        print(f"{category:24s} {len(lines):5d} entries {counts['rows']:7d} rows {counts['valid']:7d} valid "
              f"({time.time() - started:.1f}s) -> {path}", flush=True)
    print(f"total rows: {sum(c['rows'] for c in totals.values())}")
    return check_rule_tests()


def check_rule_tests() -> int:
    """Run the per-rule tests of tests/test_checker.py with the OFFICIAL ast_checker in place of funrl's check_calls,
    so the hand-written expectations are known to be BFCL's, not just funrl's."""
    import inspect
    import traceback

    sys.path.insert(0, str(REPO / "tests"))
    import test_checker
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    from funrl_lib.bfcl.checker import Verdict

    def official_check_calls(tools, calls, possible, category, underscore_to_dot=False):
        model = "gpt-4o-2024-11-20-FC" if underscore_to_dot else PROBE_MODEL.replace("/", "_")
        result = ast_checker([t.to_bfcl() for t in tools], [c.to_bfcl() for c in calls], possible, Language.PYTHON,
                             category, model)
        return Verdict(result["valid"], None if result["valid"] else result["error_type"], result["error"])

    test_checker.check_calls = official_check_calls
    ran, failed = 0, []
    for name, fn in inspect.getmembers(test_checker, inspect.isfunction):
        if name.startswith("test_") and name not in test_checker.FUNRL_ONLY:
            ran += 1
            try:
                fn()
            except Exception:
                failed.append(name)
                traceback.print_exc(limit=3)
    print(f"tests/test_checker.py with the official checker: {ran - len(failed)}/{ran} rule tests pass")
    return 1 if failed else 0


def official_verdict(eval_runner, handler, category, prompt_entry, ground_truth, text, Language, ReturnFormat,
                     model=PROBE_MODEL):
    """(valid, error_type) from the official single-entry evaluators, exceptions recorded as checker errors. The
    language is the one ``ast_file_runner`` picks for the category (Java, JavaScript, else Python)."""
    from bfcl_eval.utils import is_java, is_js

    language, return_format = ((Language.JAVA, ReturnFormat.JAVA) if is_java(category) else
                               (Language.JAVASCRIPT, ReturnFormat.JAVASCRIPT) if is_js(category) else
                               (Language.PYTHON, ReturnFormat.PYTHON))
    try:
        if ground_truth is None:
            result = eval_runner._evaluate_single_relevance_entry(handler, prompt_entry["id"], text, prompt_entry,
                                                                  model.replace("/", "_"), category)
        else:
            result = eval_runner._evaluate_single_ast_entry(handler, prompt_entry["id"], text, ground_truth,
                                                            prompt_entry, model.replace("/", "_"), category,
                                                            language=language, return_format=return_format)
    except Exception as e:  # the official evaluation would abort on this row
        return False, f"checker_error:{type(e).__name__}"
    return bool(result["valid"]), (None if result["valid"] else result["error_type"])


def cli_check(category: str, label: str, results: list[dict], work: Path, model: str = PROBE_MODEL,
              partial: bool = False, header: bool = False) -> dict:
    """Score ``results`` with the official ``bfcl evaluate`` CLI and compare accuracy with the harness; returns the
    official counts."""
    import shutil

    from bfcl_eval.utils import get_directory_structure_by_category

    model_dir = model.replace("/", "_")
    root = work / f"cli_{model_dir}_{category}_{label}"
    shutil.rmtree(root, ignore_errors=True)
    result_dir = root / "result" / model_dir / get_directory_structure_by_category(category)
    result_dir.mkdir(parents=True, exist_ok=True)
    with open(result_dir / f"BFCL_v4_{category}_result.json", "w") as f:
        for r in results:
            f.write(json.dumps({"id": r["id"], "result": r["result"]}) + "\n")
    env = dict(os.environ, BFCL_PROJECT_ROOT=str(root))
    proc = subprocess.run([sys.executable, "-m", "bfcl_eval", "evaluate", "--model", model, "--test-category",
                           category, "--result-dir", str(root / "result"), "--score-dir", str(root / "score")]
                          + (["--partial-eval"] if partial else []),
                          env=env, capture_output=True, text=True)
    score_file = next((root / "score").rglob(f"BFCL_v4_{category}_score.json"), None)
    if proc.returncode != 0 or score_file is None:
        raise SystemExit(f"bfcl evaluate failed for {category}/{label}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    with open(score_file) as f:
        summary = json.loads(f.readline())
    expected = sum(r["_valid"] for r in results)
    if summary["correct_count"] != expected or summary["total_count"] != len(results):
        raise SystemExit(f"{category}/{label}: bfcl evaluate says {summary['correct_count']}/"
                         f"{summary['total_count']}, the harness {expected}/{len(results)}")
    print(f"  bfcl evaluate agrees on {category}/{label}: {expected}/{len(results)}", flush=True)
    if header:  # the whole score-file header (format sensitivity: accuracy per configuration, max delta, ...)
        return summary
    return {"correct": summary["correct_count"], "total": summary["total_count"]}


class _Completion:
    """The part of an OpenAI completions response that ``_parse_query_response_prompting`` reads."""

    def __init__(self, text: str):
        from types import SimpleNamespace

        self.choices = [SimpleNamespace(text=text)]
        self.usage = SimpleNamespace(prompt_tokens=0, completion_tokens=0)


def official_fc_kept(handler, text):
    """What BFCL's FC generation stores as the result of a raw reply (QwenFCHandler's own response parsing)."""
    if not isinstance(text, str):
        return text
    return handler._parse_query_response_prompting(_Completion(text))["model_responses"]


def _setup_inner(args: argparse.Namespace) -> None:
    os.environ.setdefault("BFCL_PROJECT_ROOT", str(Path(args.work) / "bfcl_root"))
    os.environ.setdefault("OPENAI_API_KEY", "unused")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    Path(os.environ["BFCL_PROJECT_ROOT"]).mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))


def _write_fixture(path: Path, header: dict, lines: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as f:
        f.write(json.dumps(header) + "\n")
        for line in lines:
            f.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")


def run_inner_fc(args: argparse.Namespace) -> int:
    """FC fixtures: the raw outputs of funrl_lib.bfcl.fc_mutations through QwenFCHandler and the official checker."""
    _setup_inner(args)
    import importlib.metadata

    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker import eval_runner
    from bfcl_eval.utils import load_dataset_entry, load_ground_truth_entry

    from funrl_lib.bfcl.data import AST_CATEGORIES, find_data_dir, load_category
    from funrl_lib.bfcl.fc_mutations import FC_MUTATIONS_VERSION, fc_mutations, mutations_digest

    official_version = importlib.metadata.version("bfcl-eval")
    data_dir = find_data_dir()
    handler = eval_runner.get_handler(FC_PROBE_MODEL)
    assert type(handler).__name__ == "QwenFCHandler", type(handler)
    out_dir = Path(args.out)
    total = 0
    for category in args.categories:
        started = time.time()
        prompts = {e["id"]: e for e in load_dataset_entry(category, include_prereq=False,
                                                          include_language_specific_hint=False)}
        answers = ({e["id"]: e["ground_truth"] for e in load_ground_truth_entry(category)}
                   if category in AST_CATEGORIES else {})
        entries = load_category(category, data_dir)
        error_types: list[str] = []
        lines = []
        counts = {"rows": 0, "valid": 0}
        gold_results, probe_results = [], []
        for entry_id, entry in entries.items():
            items = fc_mutations(entry)
            codes, kept_texts = [], []
            for name, text in items:
                kept = official_fc_kept(handler, text)
                kept_texts.append(kept)
                valid, error_type = official_verdict(eval_runner, handler, category, prompts[entry_id],
                                                     answers.get(entry_id), kept, Language, ReturnFormat,
                                                     model=FC_PROBE_MODEL)
                if valid:
                    codes.append(0)
                    counts["valid"] += 1
                else:
                    if error_type not in error_types:
                        error_types.append(error_type)
                    codes.append(error_types.index(error_type) + 1)
                counts["rows"] += 1
            lines.append({"id": entry_id, "digest": mutations_digest(items), "v": codes})
            gold_results.append({"id": entry_id, "result": kept_texts[0], "_valid": codes[0] == 0})
            k = len(probe_results) % len(items)  # a different output per entry: a mix of right and wrong
            probe_results.append({"id": entry_id, "result": kept_texts[k], "_valid": codes[k] == 0})
        cli = {}
        if not args.skip_cli_check:
            for label, results in (("gold", gold_results), ("probe", probe_results)):
                cli[label] = cli_check(category, label, results, Path(args.work), model=FC_PROBE_MODEL)
        header = {"category": category, "bfcl_eval": official_version, "python": platform.python_version(),
                  "fc_mutations_version": FC_MUTATIONS_VERSION, "probe_model": FC_PROBE_MODEL,
                  "handler": type(handler).__name__, "created": time.strftime("%Y-%m-%d"), "entries": len(lines),
                  **counts, "cli": cli, "error_types": error_types}
        path = out_dir / f"{category}.jsonl.gz"
        _write_fixture(path, header, lines)
        total += counts["rows"]
        print(f"{category:24s} {len(lines):5d} entries {counts['rows']:7d} rows {counts['valid']:7d} valid "
              f"({time.time() - started:.1f}s) -> {path}", flush=True)
    print(f"total rows: {total}")
    return 0


def _codes(verdicts, error_types):
    codes = []
    for valid, error_type in verdicts:
        if valid:
            codes.append(0)
        else:
            if error_type not in error_types:
                error_types.append(error_type)
            codes.append(error_types.index(error_type) + 1)
    return codes


def _record_two_modes(args: argparse.Namespace, *, load_entries, make_items, digest, version_key: str, version,
                      score, kept_of) -> int:
    """Fixtures of outputs scored by the official code in prompt mode (the prompt-mode probe's handler) and FC mode
    (QwenFCHandler, on what its generation keeps): one line ``{"id", "digest", "v": [prompt codes], "fc": [FC
    codes]}`` per entry; both modes' gold and probe result files cross-checked with ``bfcl evaluate``."""
    import importlib.metadata

    from bfcl_eval.eval_checker import eval_runner
    from bfcl_eval.utils import load_dataset_entry, load_ground_truth_entry

    official_version = importlib.metadata.version("bfcl-eval")
    handlers = {"prompt": eval_runner.get_handler(PROBE_MODEL), "fc": eval_runner.get_handler(FC_PROBE_MODEL)}
    models = {"prompt": PROBE_MODEL, "fc": FC_PROBE_MODEL}
    out_dir = Path(args.out)
    for category in args.categories:
        started = time.time()
        prompts = load_dataset_entry(category, include_prereq=False, include_language_specific_hint=False)
        answers = load_ground_truth_entry(category)  # aligned with the prompts by position, as BFCL aligns them
        entries = load_entries(category)
        assert [e["id"] for e in prompts] == list(entries), f"{category}: funrl's ids differ from BFCL's"
        error_types: list[str] = []
        lines = []
        counts = {"rows": 0, "valid": 0, "valid_fc": 0}
        files = {(mode, label): [] for mode in handlers for label in ("gold", "probe")}
        for n, ((entry_id, entry), prompt, answer) in enumerate(zip(entries.items(), prompts, answers)):
            items = make_items(entry)
            row = {"id": entry_id, "digest": digest(items)}
            for mode, handler in handlers.items():
                kept = [kept_of(handler, out) if mode == "fc" else out for _, out in items]
                verdicts = [score(eval_runner, handler, category, prompt, answer["ground_truth"], out, models[mode])
                            for out in kept]
                codes = _codes(verdicts, error_types)
                row["v" if mode == "prompt" else "fc"] = codes
                k = n % len(items)
                files[(mode, "gold")].append({"id": entry_id, "result": kept[0], "_valid": codes[0] == 0})
                files[(mode, "probe")].append({"id": entry_id, "result": kept[k], "_valid": codes[k] == 0})
            counts["rows"] += len(items)
            counts["valid"] += row["v"].count(0)
            counts["valid_fc"] += row["fc"].count(0)
            lines.append(row)
        cli = {}
        if not args.skip_cli_check:
            for (mode, label), results in files.items():
                cli[f"{mode}_{label}"] = cli_check(category, f"{mode}_{label}", results, Path(args.work),
                                                   model=models[mode])
        header = {"category": category, "bfcl_eval": official_version, "python": platform.python_version(),
                  version_key: version, "probe_model": PROBE_MODEL, "fc_probe_model": FC_PROBE_MODEL,
                  "created": time.strftime("%Y-%m-%d"), "entries": len(lines), **counts, "cli": cli,
                  "error_types": error_types}
        path = out_dir / f"{category}.jsonl.gz"
        _write_fixture(path, header, lines)
        print(f"{category:24s} {len(lines):5d} entries {counts['rows']:7d} rows {counts['valid']:7d} valid (prompt) "
              f"{counts['valid_fc']:7d} valid (fc) ({time.time() - started:.1f}s) -> {path}", flush=True)
    return 0


def run_inner_java_js(args: argparse.Namespace) -> int:
    """Java/JavaScript: the outputs of funrl_lib.bfcl.java_js_mutations through ``_evaluate_single_ast_entry``."""
    _setup_inner(args)
    from bfcl_eval.constants.enums import Language, ReturnFormat

    from funrl_lib.bfcl.data import find_data_dir, load_category
    from funrl_lib.bfcl.java_js_mutations import JAVA_JS_MUTATIONS_VERSION, java_js_mutations, mutations_digest

    data_dir = find_data_dir()

    def score(eval_runner, handler, category, prompt, ground_truth, text, model):
        return official_verdict(eval_runner, handler, category, prompt, ground_truth, text, Language, ReturnFormat,
                                model=model)

    return _record_two_modes(args, load_entries=lambda c: load_category(c, data_dir), make_items=java_js_mutations,
                             digest=mutations_digest, version_key="java_js_mutations_version",
                             version=JAVA_JS_MUTATIONS_VERSION, score=score, kept_of=official_fc_kept)


def run_inner_agentic(args: argparse.Namespace) -> int:
    """Agentic: the results of funrl_lib.bfcl.agentic_mutations through ``_evaluate_single_agentic_entry`` (FC mode:
    each step as QwenFCHandler's generation keeps it)."""
    _setup_inner(args)
    from funrl_lib.bfcl.agentic import load_agentic
    from funrl_lib.bfcl.agentic_mutations import AGENTIC_MUTATIONS_VERSION, agentic_digest, agentic_mutations

    def score(eval_runner, handler, category, prompt, ground_truth, result, model):
        try:
            out = eval_runner._evaluate_single_agentic_entry(handler, prompt["id"], result, ground_truth,
                                                             dict(prompt), model.replace("/", "_"), category)
        except Exception as e:  # the official evaluation would abort on this row
            return False, f"checker_error:{type(e).__name__}"
        return bool(out["valid"]), (None if out["valid"] else out["error"]["error_type"])

    def kept_of(handler, result):
        if not (isinstance(result, list) and len(result) == 1 and isinstance(result[0], list)):
            return result
        return [[official_fc_kept(handler, step) for step in result[0]]]

    return _record_two_modes(args, load_entries=load_agentic, make_items=agentic_mutations, digest=agentic_digest,
                             version_key="agentic_mutations_version", version=AGENTIC_MUTATIONS_VERSION, score=score,
                             kept_of=kept_of)


def run_inner_format_sensitivity(args: argparse.Namespace) -> int:
    """Format sensitivity: every output of funrl_lib.bfcl.format_sensitivity_mutations for each of the 5,200 ids,
    scored as ``format_sensitivity_runner`` scores it (the configuration's return format and tool-call tag, the
    original id as the checker's category), prompt mode only (BFCL skips FC models); the gold and probe files are
    scored by ``bfcl evaluate`` too and its score-file header (per-configuration accuracy, max delta, variance, std)
    is kept in the fixture header."""
    _setup_inner(args)
    import importlib.metadata

    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker import eval_runner
    from bfcl_eval.model_handler.utils import parse_prompt_variation_params
    from bfcl_eval.utils import load_dataset_entry, load_ground_truth_entry

    from funrl_lib.bfcl.format_sensitivity import load_format_sensitivity
    from funrl_lib.bfcl.format_sensitivity_mutations import FS_MUTATIONS_VERSION, format_sensitivity_mutations
    from funrl_lib.bfcl.mutations import mutations_digest

    category = "format_sensitivity"
    started = time.time()
    handler = eval_runner.get_handler(PROBE_MODEL)
    prompts = load_dataset_entry(category, include_prereq=False, include_language_specific_hint=False)
    answers = load_ground_truth_entry(category)
    entries = load_format_sensitivity()
    assert [e["id"] for e in prompts] == list(entries), "funrl's format-sensitivity ids differ from BFCL's"
    error_types: list[str] = []
    lines, gold, probe = [], [], []
    counts = {"rows": 0, "valid": 0}
    for n, ((entry_id, entry), prompt, answer) in enumerate(zip(entries.items(), prompts, answers)):
        ret, tag, *_ = parse_prompt_variation_params(entry_id.split(":")[1])
        items = format_sensitivity_mutations(entry)
        verdicts = []
        for _, text in items:
            try:
                out = eval_runner._evaluate_single_ast_entry(handler, entry_id, text, answer["ground_truth"],
                                                             dict(prompt), PROBE_MODEL.replace("/", "_"), category,
                                                             language=Language.PYTHON,
                                                             return_format=ReturnFormat(ret), has_tool_call_tag=tag)
                verdicts.append((bool(out["valid"]), None if out["valid"] else out["error_type"]))
            except Exception as e:  # the official evaluation would abort on this row
                verdicts.append((False, f"checker_error:{type(e).__name__}"))
        codes = _codes(verdicts, error_types)
        lines.append({"id": entry_id, "digest": mutations_digest(items), "v": codes})
        counts["rows"] += len(codes)
        counts["valid"] += codes.count(0)
        k = n % len(items)
        gold.append({"id": entry_id, "result": items[0][1], "_valid": codes[0] == 0})
        probe.append({"id": entry_id, "result": items[k][1], "_valid": codes[k] == 0})
    cli = {}
    if not args.skip_cli_check:
        for label, results in (("gold", gold), ("probe", probe)):
            cli[label] = cli_check(category, label, results, Path(args.work), header=True)
    header = {"category": category, "bfcl_eval": importlib.metadata.version("bfcl-eval"),
              "python": platform.python_version(), "fs_mutations_version": FS_MUTATIONS_VERSION,
              "probe_model": PROBE_MODEL, "created": time.strftime("%Y-%m-%d"), "entries": len(lines), **counts,
              "cli": cli, "error_types": error_types}
    path = Path(args.out) / f"{category}.jsonl.gz"
    _write_fixture(path, header, lines)
    print(f"{category:24s} {len(lines):5d} ids {counts['rows']:7d} rows {counts['valid']:7d} valid "
          f"({time.time() - started:.1f}s) -> {path}", flush=True)
    return 0


def run_inner_board(args: argparse.Namespace) -> int:
    """The board's summary numbers: the result sets of funrl_lib.bfcl.board_results (every scoring category, and a
    subset where the others are not run), scored by the official ``bfcl evaluate`` as one model; its
    ``data_overall.csv`` row and per-category counts go to ``<scenario>.json``."""
    _setup_inner(args)
    import csv
    import importlib.metadata
    import shutil

    from funrl_lib.bfcl.board_results import SCENARIOS, write_board_results

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_dir = PROBE_MODEL.replace("/", "_")
    for scenario in args.categories:
        started = time.time()
        root = Path(args.work) / f"board_{scenario}"
        shutil.rmtree(root, ignore_errors=True)
        write_board_results(root / "result" / model_dir, scenario)
        env = dict(os.environ, BFCL_PROJECT_ROOT=str(root))
        proc = subprocess.run([sys.executable, "-m", "bfcl_eval", "evaluate", "--model", PROBE_MODEL,
                               "--test-category", "all", "--result-dir", str(root / "result"), "--score-dir",
                               str(root / "score")], env=env, capture_output=True, text=True)
        overall = root / "score" / "data_overall.csv"
        if proc.returncode != 0 or not overall.exists():
            raise SystemExit(f"bfcl evaluate failed for the {scenario} board:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
        with open(overall, newline="") as f:
            rows = list(csv.reader(f))
        categories = {}
        for score_file in sorted((root / "score").rglob("BFCL_v4_*_score.json")):
            with open(score_file) as f:
                head = json.loads(f.readline())
            category = score_file.name[len("BFCL_v4_"):-len("_score.json")]
            categories[category] = {"correct": head["correct_count"], "total": head["total_count"]}
        record = {"scenario": scenario, "bfcl_eval": importlib.metadata.version("bfcl-eval"),
                  "python": platform.python_version(), "probe_model": PROBE_MODEL,
                  "created": time.strftime("%Y-%m-%d"), "categories_present": list(SCENARIOS[scenario]),
                  "data_overall": dict(zip(rows[0], rows[1])), "categories": categories}
        (out_dir / f"{scenario}.json").write_text(json.dumps(record, indent=1) + "\n")
        print(f"board {scenario}: Overall {record['data_overall']['Overall Acc']} over {len(categories)} categories "
              f"({time.time() - started:.1f}s) -> {out_dir / (scenario + '.json')}", flush=True)
    return 0


def run_inner_results(args: argparse.Namespace) -> int:
    """Official verdicts on the lines of real result files (one model folder), stored with the texts."""
    _setup_inner(args)
    import importlib.metadata

    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker import eval_runner
    from bfcl_eval.utils import load_dataset_entry, load_ground_truth_entry

    from funrl_lib.bfcl.data import AST_CATEGORIES, find_data_dir, load_category
    from funrl_lib.bfcl.evaluate import find_result_files, model_folder
    from funrl_lib.bfcl.score import is_fc_model_name

    official_version = importlib.metadata.version("bfcl-eval")
    data_dir = find_data_dir()
    files = {c: p for c, p in find_result_files(args.from_results).items() if c in CATEGORIES}
    if not files:
        raise SystemExit(f"{args.from_results}: no result files of the categories {', '.join(CATEGORIES)}")
    folders = {model_folder(p).name for p in files.values()}
    if len(folders) != 1:
        raise SystemExit(f"{args.from_results}: result files of several model folders ({', '.join(sorted(folders))})")
    folder = folders.pop()
    name = args.name or folder
    fc = is_fc_model_name(folder)
    model = FC_PROBE_MODEL if fc else PROBE_MODEL
    handler = eval_runner.get_handler(model)
    out_dir = Path(args.out) / name
    for category, path in sorted(files.items()):
        prompts = {e["id"]: e for e in load_dataset_entry(category, include_prereq=False,
                                                          include_language_specific_hint=False)}
        answers = ({e["id"]: e["ground_truth"] for e in load_ground_truth_entry(category)}
                   if category in AST_CATEGORIES else {})
        entries = load_category(category, data_dir)
        error_types: list[str] = []
        lines, results, seen, skipped = [], [], set(), 0
        for raw in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(raw)
                entry_id, text = row["id"], row["result"]
            except (ValueError, KeyError, TypeError):
                skipped += 1
                continue
            if entry_id not in entries or entry_id in seen or not isinstance(text, str):
                skipped += 1
                continue
            seen.add(entry_id)
            kept = official_fc_kept(handler, text) if fc else text
            valid, error_type = official_verdict(eval_runner, handler, category, prompts[entry_id],
                                                 answers.get(entry_id), kept, Language, ReturnFormat, model=model)
            code = 0
            if not valid:
                if error_type not in error_types:
                    error_types.append(error_type)
                code = error_types.index(error_type) + 1
            lines.append({"id": entry_id, "result": text, "v": code})
            results.append({"id": entry_id, "result": kept, "_valid": valid})
        cli = {}
        if not args.skip_cli_check and results:
            cli = cli_check(category, "real", results, Path(args.work), model=model,
                            partial=len(results) < len(entries))
        header = {"category": category, "bfcl_eval": official_version, "python": platform.python_version(),
                  "decoding": "fc" if fc else "prompt", "probe_model": model, "handler": type(handler).__name__,
                  "source": str(path), "model_folder": folder, "created": time.strftime("%Y-%m-%d"),
                  "rows": len(lines), "valid": sum(1 for line in lines if line["v"] == 0), "skipped_lines": skipped,
                  "cli": cli, "error_types": error_types}
        _write_fixture(out_dir / f"{category}.jsonl.gz", header, lines)
        print(f"{category:24s} {header['valid']:5d}/{header['rows']} valid ({header['decoding']}; {skipped} lines "
              f"skipped) -> {out_dir / (category + '.jsonl.gz')}", flush=True)
    return 0


# Extra fixture sets (one flag each): runner name, default output folder, categories.
EXTRA_KINDS = {
    "java_js": ("run_inner_java_js", JAVA_JS_FIXTURES, JAVA_JS),
    "agentic": ("run_inner_agentic", AGENTIC_FIXTURES, AGENTIC),
    "format_sensitivity": ("run_inner_format_sensitivity", FS_FIXTURES, ["format_sensitivity"]),
    "board": ("run_inner_board", BOARD_FIXTURES, ["all", "subset"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", default="/tmp/funrl-bfcl-official", help="throwaway venv for the official package")
    parser.add_argument("--out", help=f"fixture folder (default: {FIXTURES.relative_to(REPO)}, with --fc "
                                      f"{FC_FIXTURES.relative_to(REPO)}, with --from-results "
                                      f"{REAL_FIXTURES.relative_to(REPO)}, with --java-js "
                                      f"{JAVA_JS_FIXTURES.relative_to(REPO)})")
    parser.add_argument("--fc", action="store_true", help="FC mode: the raw <tool_call> outputs of "
                                                          "funrl_lib.bfcl.fc_mutations through QwenFCHandler")
    parser.add_argument("--java-js", action="store_true", help="simple_java / simple_javascript: the outputs of "
                                                               "funrl_lib.bfcl.java_js_mutations, prompt and FC mode")
    parser.add_argument("--agentic", action="store_true", help="web search and memory: the results of "
                                                                "funrl_lib.bfcl.agentic_mutations, prompt and FC mode")
    parser.add_argument("--format-sensitivity", action="store_true",
                        help="format sensitivity: the outputs of funrl_lib.bfcl.format_sensitivity_mutations for "
                             "its 5,200 ids, with bfcl evaluate's summary (max delta)")
    parser.add_argument("--board", action="store_true",
                        help="the board's summary numbers (data_overall.csv) of funrl_lib.bfcl.board_results' "
                             "result sets, scored by the official bfcl evaluate; --categories names scenarios")
    parser.add_argument("--from-results", metavar="DIR", help="record the official verdicts on the result files of "
                                                              "one model folder (-FC: FC decoding) as a fixture")
    parser.add_argument("--name", help="--from-results: fixture folder name (default: the model folder's name)")
    parser.add_argument("--work", default="/tmp/funrl-bfcl-parity-work", help="scratch folder (BFCL_PROJECT_ROOT)")
    every = CATEGORIES + [c for _, _, cats in EXTRA_KINDS.values() for c in cats]
    parser.add_argument("--categories", nargs="+", default=None, choices=every,
                        help="default: the categories of the fixture set chosen")
    parser.add_argument("--skip-cli-check", action="store_true", help="do not cross-check with `bfcl evaluate`")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = [k for k in EXTRA_KINDS if getattr(args, k)]
    if sum([bool(args.fc), bool(args.from_results), len(kinds)]) > 1:
        parser.error("--fc, --from-results, " + ", ".join("--" + k.replace("_", "-") for k in EXTRA_KINDS)
                     + " are separate runs")
    kind = kinds[0] if kinds else None
    if args.categories is None:
        args.categories = EXTRA_KINDS[kind][2] if kind else CATEGORIES
    if args.out is None:
        args.out = str(EXTRA_KINDS[kind][1] if kind else REAL_FIXTURES if args.from_results
                       else FC_FIXTURES if args.fc else FIXTURES)
    if args.inner:
        if kind:
            return globals()[EXTRA_KINDS[kind][0]](args)
        if args.from_results:
            return run_inner_results(args)
        return run_inner_fc(args) if args.fc else run_inner(args)
    python = ensure_venv(Path(args.venv))
    cmd = [str(python), __file__, "--inner", "--out", args.out, "--work", args.work, "--categories", *args.categories]
    if args.skip_cli_check:
        cmd.append("--skip-cli-check")
    if args.fc:
        cmd.append("--fc")
    if kind:
        cmd.append("--" + kind.replace("_", "-"))
    if args.from_results:
        cmd += ["--from-results", str(Path(args.from_results).resolve())] + (["--name", args.name] if args.name else [])
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    raise SystemExit(main())
