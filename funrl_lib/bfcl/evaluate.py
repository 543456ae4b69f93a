"""``funrl bfcl evaluate``: score every BFCL result file under a folder and summarise like the leaderboard.

Result files are found anywhere under ``--results`` by their BFCL names (``BFCL_v4_<category>_result.json``, one
``{"id", "result"}`` per line; the layout ``<model>/<group>/...`` of ``bfcl generate`` and ``funrl bfcl generate``
works, so does a flat folder). Each single-turn category present is scored with funrl's checker (:mod:`.score`, the
engine of ``funrl bfcl score``, parity-tested against the official checker; Java/JavaScript: :mod:`.java_js`);
each multi-turn category with BFCL's own executable backends and official multi-turn checker (:mod:`.multi_turn`);
the agentic ones (web search, memory) by BFCL's answer matching (:mod:`.agentic`); format sensitivity with its
official summary, reported beside the board and never in the Overall (:mod:`.format_sensitivity`). Every one of
these, and the board's numbers, is held to the official evaluator by parity fixtures (scripts/bfcl_parity.py).
Written to ``--out``:

``summary.json``
    ``{"categories": {CAT: {"accuracy", "correct", "total", "category_size", "missing", "complete", "decoding",
    "model_folder", "file"}}, "decoding": {...}, "notes": [...], "summaries": {...}, "overall": {...},
    "not_evaluated": [...], "problems": [...]}``. ``accuracy`` is ``correct / total`` over the scored lines; a partial
    file says so (``complete`` false, ``missing`` > 0).
``errors.json``
    Error-type counts per category.
``summary.md``
    The tables, with published scores beside ours.
``verdicts/<category>.jsonl``
    One verdict per result line.
``comparison.png``
    Bars: our summaries next to the published models' (when matplotlib is installed).

**Prompt or FC decoding, by BFCL's naming convention; no flag.** A result file whose model folder (the folder above
``non_live``/``live``/..., or the file's own folder in a flat layout) has a name ending in ``-FC`` is decoded FC
style, as BFCL decodes its ``Qwen/...-FC`` entries with ``QwenFCHandler`` (``<tool_call>\\n{"name", "arguments"}
\\n</tool_call>`` blocks after the last ``</think>``; details in :mod:`.checker`); every other file prompt style
(Python-list syntax, BFCL's prompting models). ``funrl bfcl generate --prompt fc`` names its folder ``<model>-FC``.
In FC style, ``irrelevance`` / ``live_irrelevance`` count an output as correct when no call is decoded (no block, or
only blocks that are not JSON, or a block that is not a ``{"name", "arguments": {...}}`` object), and an AST entry
with no decoded call is a wrong count. The report says which decoding each category got (``decoding``), and notes a
folder whose ``generation_config.json`` disagrees with its name (e.g. an ``--prompt fc`` run from before this
convention: rename the folder to end in ``-FC``). Multi-turn results in an ``-FC`` folder are not scored (funrl
runs multi-turn in prompting mode only).

**Two overall figures, the board's first.** ``overall.board`` (and ``board``) are the numbers the official
evaluator writes to ``data_overall.csv`` (``eval_runner_helper.generate_leaderboard_csv`` of bfcl-eval; BFCL's
leaderboard page and CONTRIBUTING describe the same weights): a category that was not run counts as **0**, Non-Live
Simple = mean(simple_python, simple_java, simple_javascript), Non-Live = mean(Simple, multiple, parallel,
parallel_multiple), Live = entry-count-weighted mean of the four live AST categories, Irrelevance =
mean(irrelevance, live_irrelevance), Multi-turn = mean of 4, Agentic = mean(mean(web search 2), mean(memory 3)),
Overall = 0.1·Non-Live + 0.1·Live + 0.1·Irrelevance + 0.3·Multi-turn + 0.4·Agentic (:mod:`.board`). Only this
figure is comparable with leaderboard scores. ``overall.over_present`` is the same formula renormalised over the
components present (``overall.weight`` of 1), labelled as such and never shown beside board numbers; each group in
``summaries`` likewise has ``score`` over its categories present (naming the ones ``missing``) and ``board`` with the
missing ones as 0, so a subset run is never mistaken for a full one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from .data import (JAVA_JS_CATEGORIES, OTHER_CATEGORIES, SUPPORTED_CATEGORIES, VERSION_PREFIX, find_data_dir,
                   load_category)
from .multi_turn import MULTI_TURN_CATEGORIES, score_multi_turn_file
from .agentic import score_agentic_file
from .format_sensitivity import CATEGORY as FS_CATEGORY
from .format_sensitivity import format_sensitivity_summary, score_format_sensitivity_file
from .board import BOARD_COLUMNS, BOARD_LABEL, CATEGORY_SIZES, OVERALL_WEIGHTS, board_percent, board_scores
from .published import PUBLISHED
from .score import (FC_SUFFIX, ScoreReport, StreamSink, is_fc_model_name, score_results_file, streaming_into,
                    write_verdicts)

__all__ = ["FC_NOTE", "EvaluateError", "board_columns", "board_table", "evaluate_results", "find_result_files", "model_folder",
           "overall_lines", "summarise", "write_outputs"]

RESULT_NAME = re.compile(rf"^{VERSION_PREFIX}_(?P<category>[a-z_]+)_result\.json$")

SIMPLE = ("simple_python", "simple_java", "simple_javascript")
NON_LIVE = ("simple", "multiple", "parallel", "parallel_multiple")
LIVE = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
IRRELEVANCE = ("irrelevance", "live_irrelevance")
WEB_SEARCH = ("web_search_base", "web_search_no_snippet")
MEMORY = ("memory_kv", "memory_vector", "memory_rec_sum")
AGENTIC = WEB_SEARCH + MEMORY
FS_BOARD_COLUMNS = (("format_sensitivity_max_delta", "accuracy_max_delta"), ("format_sensitivity_std", "accuracy_std"))
FS_COLUMN_NAMES = {"format_sensitivity_max_delta": "Format Sensitivity Max Delta",
                   "format_sensitivity_std": "Format Sensitivity Standard Deviation"}
KEEP_PROBLEMS = 100  # streamed: FILE:LINE messages kept per category for summary.json (all go to stderr)
PRESENT_LABEL = ("over the parts present (the Overall formula renormalised over the components run; NOT comparable "
                 "with leaderboard scores)")
# Folders of BFCL's result layout between a model's folder and its result files (get_directory_structure_by_category).
GROUP_FOLDERS = frozenset({"non_live", "live", "multi_turn", "agentic", "memory", "kv", "vector", "rec_sum",
                           "format_sensitivity"})
FC_NOTE = ("FC decoding (BFCL's QwenFCHandler, as for its Qwen/...-FC models): the text after the last </think>, "
           "then every <tool_call>\\n...\\n</tool_call> block parsed as JSON, blocks that do not parse skipped. "
           "irrelevance and live_irrelevance count an output as correct when no call is decoded (no block, only "
           "unparsable blocks, or a block that is not a {\"name\", \"arguments\": {...}} object); live_relevance "
           "needs at least one decoded call; in the AST categories no decoded call is a wrong count.")
PROMPT_NOTE = ("Prompt decoding (BFCL's prompting models): the output must be a Python list of calls, [f(a=1)]; "
               "irrelevance and live_irrelevance count an output as correct when it does not decode to a call.")


class EvaluateError(ValueError):
    """Result files that cannot be evaluated as a set (none found, one category in two files)."""


def _folders(results_dir: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    if isinstance(results_dir, (str, os.PathLike)):
        return [Path(results_dir)]
    return [Path(p) for p in results_dir]


def find_result_files(results_dir: str | os.PathLike | Sequence[str | os.PathLike]) -> dict[str, Path]:
    """``{category: path}`` of the BFCL result files anywhere under ``results_dir`` (one folder or several, e.g. a
    model's single-turn and multi-turn runs, which ``funrl bfcl generate`` keeps apart when their prompts differ)."""
    roots = _folders(results_dir)
    for root in roots:
        if not root.is_dir():
            raise EvaluateError(f"--results {root}: not a folder")
    found: dict[str, Path] = {}
    for path in sorted(p for root in roots for p in root.rglob(f"{VERSION_PREFIX}_*_result.json")):
        m = RESULT_NAME.match(path.name)
        if not m:
            continue
        category = m.group("category")
        if category in found:
            raise EvaluateError(f"two result files for {category}: {found[category]} and {path}; evaluate one model "
                                f"folder at a time")
        found[category] = path
    if not found:
        raise EvaluateError(f"no BFCL result files ({VERSION_PREFIX}_<category>_result.json) under "
                            f"{', '.join(map(str, roots))}")
    return found


def model_folder(path: str | os.PathLike) -> Path:
    """The model's folder of a result file: the first folder above it that is not one of BFCL's group folders
    (``<model>/non_live/BFCL_v4_simple_python_result.json`` -> ``<model>``; a flat folder -> that folder)."""
    folder = Path(path).absolute().parent
    while folder.name in GROUP_FOLDERS and folder.parent != folder:
        folder = folder.parent
    return folder


def _config_note(folder: Path, fc: bool) -> str | None:
    """A note when the folder's generation_config.json (``funrl bfcl generate``) disagrees with its name."""
    try:
        prompt = json.loads((folder / "generation_config.json").read_text(encoding="utf-8")).get("prompt")
    except (OSError, ValueError, AttributeError):
        return None
    if prompt == "fc" and not fc:
        return (f"{folder}: generation_config.json says --prompt fc, but the folder name does not end in "
                f"{FC_SUFFIX!r}, so it was scored prompt style (Python-list syntax); rename the folder to "
                f"{folder.name + FC_SUFFIX!r} to score it FC style")
    if fc and prompt is not None and prompt != "fc":
        return (f"{folder}: the folder name ends in {FC_SUFFIX!r}, so it was scored FC style, but "
                f"generation_config.json says --prompt {prompt}")
    return None


def _not_generated_notes(folder: Path) -> list[str]:
    """What the folder's generation_config.json says ``funrl bfcl generate`` could not run here, and why."""
    try:
        skipped = json.loads((folder / "generation_config.json").read_text(encoding="utf-8")).get("not_generated")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(skipped, dict):
        return []
    return [f"{folder.name}: {reason} (no result file; the board's Overall counts it as 0)"
            for reason in skipped.values()]


def _category_row(report: ScoreReport, path: Path, decoding: str) -> dict[str, Any]:
    return {"accuracy": report.accuracy, "correct": report.correct, "total": report.scored,
            "category_size": report.category_size, "missing": report.missing, "complete": report.missing == 0,
            "unscored_lines": report.problem_count, "decoding": decoding, "model_folder": model_folder(path).name,
            "file": str(path)}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def summarise(categories: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The v4 summaries and Overall of per-category results: the board's figures (categories not run count as 0;
    :mod:`.board`) and, labelled apart, the same formulas over the components present."""
    acc = {c: r["accuracy"] for c, r in categories.items()}
    board = board_scores(categories)

    def part(names: tuple[str, ...], values: dict[str, float]) -> tuple[list[str], list[str]]:
        return [n for n in names if n in values], [n for n in names if n not in values]

    out: dict[str, Any] = {}
    simple_used, simple_missing = part(SIMPLE, acc)
    level = dict(acc)
    if simple_used:
        level["simple"] = _mean([acc[c] for c in simple_used])
    used, missing = part(NON_LIVE, level)
    missing = [m if m != "simple" else "simple (simple_python, simple_java, simple_javascript)" for m in missing]
    if simple_used:
        missing += [f"simple: {c}" for c in simple_missing]
    out["non_live"] = {"score": _mean([level[c] for c in used]) if used else None, "used": used,
                       "missing": missing, "formula": "mean(simple, multiple, parallel, parallel_multiple); "
                                                     "simple = mean(python, java, javascript)"}
    used, missing = part(LIVE, acc)
    total = sum(categories[c]["total"] for c in used)
    out["live"] = {"score": sum(categories[c]["correct"] for c in used) / total if total else None, "used": used,
                   "missing": missing, "formula": "entry-count-weighted mean of the four live AST categories"}
    used, missing = part(IRRELEVANCE, acc)
    out["irrelevance"] = {"score": _mean([acc[c] for c in used]) if used else None, "used": used, "missing": missing,
                          "formula": "mean(irrelevance, live_irrelevance)"}
    out["relevance"] = {"score": acc.get("live_relevance"), "used": [c for c in ("live_relevance",) if c in acc],
                        "missing": [c for c in ("live_relevance",) if c not in acc], "formula": "live_relevance "
                                                                                            "(not in Overall)"}
    used, missing = part(MULTI_TURN_CATEGORIES, acc)
    out["multi_turn"] = {"score": _mean([acc[c] for c in used]) if used else None, "used": used, "missing": missing,
                         "formula": "mean of its 4 categories"}
    groups = {name: part(names, acc)[0] for name, names in (("web_search", WEB_SEARCH), ("memory", MEMORY))}
    present = [_mean([acc[c] for c in used]) for used in groups.values() if used]
    used, missing = part(AGENTIC, acc)
    out["agentic"] = {"score": _mean(present) if present else None, "used": used, "missing": missing,
                      "formula": "mean(web search = mean(base, no_snippet), memory = mean(kv, vector, rec_sum))"}
    board_key = {"non_live": "non_live_summary", "live": "live", "irrelevance": "irrelevance_total",
                 "relevance": "relevance", "multi_turn": "multi_turn", "agentic": "agentic"}
    for name, key in board_key.items():
        out[name]["board"] = board[key]["accuracy"]
    weights = {k: w / 100 for k, w in OVERALL_WEIGHTS.items()}
    present_w = {k: w for k, w in weights.items() if out[k]["score"] is not None}
    weight = sum(present_w.values())
    over_present = sum(out[k]["score"] * w for k, w in present_w.items()) / weight if weight else None
    overall = {"board": board["overall"]["accuracy"], "label": BOARD_LABEL,
               "over_present": over_present, "over_present_label": PRESENT_LABEL,
               "weight": round(weight, 4), "used": sorted(present_w, key=list(weights).index),
               "missing": [k for k in weights if k not in present_w],
               "formula": "(10 non_live + 10 live + 10 irrelevance + 30 multi_turn + 40 agentic) / 100"}
    overall["not_run"] = [c for c in CATEGORY_SIZES if c not in categories]  # scoring categories counted as 0
    overall["score"] = overall["board"]  # the headline figure is the board's
    board_out = {"label": BOARD_LABEL, **{key: {"accuracy": board[key]["accuracy"], "display": board[key]["display"]}
                                           for key, _ in BOARD_COLUMNS}}
    return {"board": board_out, "summaries": out, "overall": overall}


def evaluate_results(results_dir: str | os.PathLike | Sequence[str | os.PathLike], *, data_dir: str | os.PathLike | None = None,
                     strip_thinking: bool = False, underscore_to_dot: bool = False, fc: bool | None = None,
                     out: str | os.PathLike | None = None, on_problem: Callable[[str], None] | None = None,
                     ) -> tuple[dict[str, Any], dict[str, ScoreReport]]:
    """(summary dict, reports per category) for the result files under ``results_dir`` (a folder or several).

    ``fc``: None (the default, and what the CLI does) decodes each file by BFCL's naming convention (model folder
    name ending in ``-FC`` -> FC style); True / False force one decoding for every file.

    ``out`` (what ``funrl bfcl evaluate`` does): stream. Each verdict is written to ``out/verdicts/<category>.jsonl``
    as it is made and each line that could not be scored to ``<out>.quarantine.jsonl`` (its ``FILE:LINE`` message
    to ``on_problem`` as well), and the reports keep counts only (:class:`.score.StreamSink`), so that memory does
    not grow with the result files: what is held is the BFCL data of the category being scored, which ids were
    scored, and the first :data:`KEEP_PROBLEMS` messages per category (``summary["problems"]``; the count of all of
    them is ``problems_total``). Without ``out`` the reports hold every verdict (the library's use, tests)."""
    from ..io import Quarantine

    files = find_result_files(results_dir)
    data = find_data_dir(data_dir)
    if out is None:
        return _evaluate(files, results_dir, data, strip_thinking, underscore_to_dot, fc, None)
    with Quarantine(out) as quarantine:
        sink = StreamSink(Path(out) / "verdicts", quarantine, on_problem, keep_problems=KEEP_PROBLEMS)
        return _evaluate(files, results_dir, data, strip_thinking, underscore_to_dot, fc, sink)


def _evaluate(files: dict[str, Path], results_dir: Any, data: Path, strip_thinking: bool, underscore_to_dot: bool,
              fc: bool | None, sink: StreamSink | None) -> tuple[dict[str, Any], dict[str, ScoreReport]]:
    streaming = (lambda category: streaming_into(sink, category)) if sink is not None else (
        lambda category: contextlib.nullcontext())
    categories, reports, problems, not_scored = {}, {}, [], {}
    problems_total = 0
    format_sensitivity: dict[str, Any] | None = None
    notes: list[str] = []
    for category, path in files.items():
        folder = model_folder(path)
        file_fc = is_fc_model_name(folder.name) if fc is None else fc
        note = _config_note(folder, file_fc) if fc is None else None
        for n in [note] + _not_generated_notes(folder):
            if n and n not in notes:
                notes.append(n)
        if category in MULTI_TURN_CATEGORIES and file_fc:
            not_scored[category] = (f"{path}: multi-turn results of an FC model ({folder.name!r} ends in "
                                    f"{FC_SUFFIX!r}): funrl scores multi-turn in BFCL's prompting mode only")
            continue
        if category in MULTI_TURN_CATEGORIES:
            # BFCL's own backends and official checker; decoding as BFCL's (underscore_to_dot is for FC models)
            with streaming(category):
                report = score_multi_turn_file(category, path, data_dir=data, strip_thinking=strip_thinking)
        elif category in SUPPORTED_CATEGORIES or category in JAVA_JS_CATEGORIES:  # Java/JS: .java_js
            with streaming(category):
                report = score_results_file(category, path, entries=load_category(category, data),
                                            strip_thinking=strip_thinking, underscore_to_dot=underscore_to_dot,
                                            fc=file_fc)
        elif category in AGENTIC:  # string matching only (.agentic): no network, no model
            with streaming(category):
                report = score_agentic_file(category, path, data_dir=data, strip_thinking=strip_thinking,
                                            fc=file_fc)
        elif category == FS_CATEGORY and file_fc:
            not_scored[category] = (f"{path}: format sensitivity of an FC model ({folder.name!r} ends in "
                                    f"{FC_SUFFIX!r}): BFCL measures it for prompt models only")
            continue
        elif category == FS_CATEGORY:  # non-scoring: reported beside the board, never in the Overall
            with streaming(category):
                report = score_format_sensitivity_file(path, data_dir=data)
            format_sensitivity = format_sensitivity_summary(
                report, sink.read_verdicts(category) if sink is not None else None)
        else:
            why = ("memory warm-up dialogue results (the prerequisite conversations): not scored, as in BFCL"
                   if category.endswith("_prereq") and category[:-len("_prereq")] in AGENTIC
                   else "BFCL's non-scoring format-sensitivity category is not scored by funrl"
                   if category in OTHER_CATEGORIES else "not a BFCL v4 category")
            not_scored[category] = f"{path}: {why}"
            continue
        reports[category] = report
        categories[category] = _category_row(report, path, "fc" if file_fc else "prompt")
        problems += report.problems
        problems_total += report.problem_count
    every = SUPPORTED_CATEGORIES + OTHER_CATEGORIES
    decoding = {mode: [c for c, r in categories.items() if r["decoding"] == mode] for mode in ("fc", "prompt")}
    decoding = {mode: cats for mode, cats in decoding.items() if cats}
    decoding_notes = [FC_NOTE] * ("fc" in decoding) + [PROMPT_NOTE] * ("prompt" in decoding)
    summaries = summarise(categories)
    for key, field in FS_BOARD_COLUMNS:  # data_overall.csv prints these as numbers, not percentages; N/A when absent
        value = format_sensitivity[field] if format_sensitivity else "N/A"
        summaries["board"][key] = {"accuracy": None, "display": value}
    summary = {"bfcl_version": VERSION_PREFIX, "results": ", ".join(map(str, _folders(results_dir))),
               "overall": summaries["overall"], "board": summaries["board"], "strip_think": strip_thinking,
               "decoding": {**decoding, "notes": decoding_notes}, "notes": notes,
               "categories": categories, "summaries": summaries["summaries"],
               "format_sensitivity": format_sensitivity,
               "not_evaluated": [c for c in every if c not in categories],
               "found_but_not_scored": not_scored, "problems": problems, "problems_total": problems_total}
    return summary, reports


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}"


def overall_lines(summary: dict[str, Any]) -> list[str]:
    """The two overall figures as printed by ``funrl bfcl evaluate``: the board's first, then the renormalised one,
    each with its label."""
    o = summary["overall"]
    lines = [f"{'OVERALL (BFCL v4 board)':<24} {_pct(o['board']):>6}%  {o['label']}"]
    if o["not_run"]:
        lines.append(f"{'':<24} {'':>6}   not run, counted as 0 as on the board: {', '.join(o['not_run'])}")
    if o["over_present"] is not None and o["not_run"]:
        lines.append(f"{'over the parts present':<24} {_pct(o['over_present']):>6}%  second figure, NOT comparable with "
                     f"leaderboard scores: the Overall formula renormalised over the components run (weight "
                     f"{o['weight']} of 1)")
    return lines


def board_columns(summary: dict[str, Any]) -> dict[str, str]:
    """``{data_overall.csv column: value as the board prints it}`` for the score columns."""
    board = summary["board"]
    out = {column: board_percent(board[key]["display"]) for key, column in BOARD_COLUMNS}
    for key, _field in FS_BOARD_COLUMNS:
        out[FS_COLUMN_NAMES[key]] = str(board.get(key, {}).get("display", "N/A"))
    return out


def board_table(summary: dict[str, Any]) -> list[str]:
    """Markdown rows of the board's summary columns (data_overall.csv), as the board prints them."""
    lines = ["| column (data_overall.csv) | ours, as the board shows it |", "|---|---|"]
    lines += [f"| {column} | {value} |" for column, value in board_columns(summary).items()]
    return lines


def markdown(summary: dict[str, Any], label: str = "this model") -> str:
    o = summary["overall"]
    lines = [f"# BFCL v4 evaluation: {label}", "",
             f"**{o['label']}: {_pct(o['board'])}%**"
             + (f" (not run, counted as 0: {', '.join(o['not_run'])})" if o["not_run"] else ""), ""]
    if o["not_run"] and o["over_present"] is not None:
        lines += [f"Second figure, {o['over_present_label']}: {_pct(o['over_present'])}% (weight {o['weight']} of 1).",
                  ""]
    lines += [f"Results: `{summary['results']}`" + (" (leading think blocks stripped)" if summary["strip_think"] else ""),
              ""]
    decoding = summary.get("decoding", {})
    for mode, what in (("fc", "FC style"), ("prompt", "prompt style")):
        if decoding.get(mode):
            lines.append(f"Decoded {what}: {', '.join(decoding[mode])}.")
    for note in decoding.get("notes", []):
        lines += ["", note]
    for note in summary.get("notes", []):
        lines += ["", f"Note: {note}"]
    lines += ["", "## The board's columns", "", "Computed as the official evaluator writes data_overall.csv: "
              "categories not run count as 0 in the averages; N/A where the board shows N/A.", ""]
    lines += board_table(summary)
    fs = summary.get("format_sensitivity")
    if fs:
        lines += ["", f"Format sensitivity (non-scoring; BFCL's max delta between its {fs['configs_total']} prompt "
                      f"configurations): max delta {fs['accuracy_max_delta']}, std {fs['accuracy_std']} "
                      f"({fs['configs_present']} configurations present)."]
    lines += ["", "## Categories", "", "| category | accuracy (%) | correct | scored | entries | complete | decoding |",
              "|---|---|---|---|---|---|---|"]
    for c, r in summary["categories"].items():
        lines.append(f"| {c} | {_pct(r['accuracy'])} | {r['correct']} | {r['total']} | {r['category_size']} | "
                     f"{'yes' if r['complete'] else 'no, ' + str(r['missing']) + ' missing'} | "
                     f"{r.get('decoding', 'prompt')} |")
    lines += ["", "## Summaries", "", "`board`: as on the leaderboard (missing categories = 0). `over present`: the "
              "same formula over the categories present only (not comparable with the board).", "",
              "| summary | board (%) | over present (%) | from | missing |", "|---|---|---|---|---|"]
    for name, s in summary["summaries"].items():
        lines.append(f"| {name} | {_pct(s['board'])} | {_pct(s['score'])} | {', '.join(s['used']) or '—'} | "
                     f"{', '.join(s['missing']) or '—'} |")
    lines.append(f"| overall | {_pct(o['board'])} | {_pct(o['over_present'])} (weight {o['weight']} of 1) | "
                 f"{', '.join(o['used']) or '—'} | {', '.join(o['missing']) or '—'} |")
    lines += ["", "Published scores (each on the BFCL version named; v3 Live includes (ir)relevance, v2/v3/v4 "
              "summaries are not comparable one to one; compare ours with the v4 rows, board figures only):", "",
              "| model | BFCL | board | Non-Live (%) | Live (%) | Irrelevance (%) | Multi-turn (%) | Web search (%) "
              "| Memory (%) | Overall (%) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for p in PUBLISHED:
        lines.append(f"| {p['model']} | {p['bfcl']} | {p['board']} | {p.get('non_live', '—')} | {p.get('live', '—')} "
                     f"| {p.get('irrelevance', '—')} | {p.get('multi_turn', '—')} | {p.get('web_search', '—')} "
                     f"| {p.get('memory', '—')} | {p.get('overall', '—')} |")
    if summary["not_evaluated"]:
        lines += ["", "Not evaluated (no result file): " + ", ".join(summary["not_evaluated"])]
    for c, why in summary["found_but_not_scored"].items():
        lines.append(f"- {c}: not scored — {why}")
    return "\n".join(lines) + "\n"


def plot_comparison(summary: dict[str, Any], out: str | os.PathLike, label: str = "this model") -> None:
    """Bars of the board's figures (categories not run count as 0, as on the leaderboard) next to published
    leaderboard scores; the renormalised "over the parts present" figure is never drawn here. Overall bars only for
    BFCL v4 rows (other versions use other formulas)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    s = summary["summaries"]
    ours = [100 * s["non_live"]["board"], 100 * s["live"]["board"], 100 * summary["overall"]["board"]]
    rows = [(label + " (board formula)", "v4 (funrl)", *ours)]
    rows += [(p["model"], p["bfcl"], p.get("non_live"), p.get("live"),
              p.get("overall") if p["bfcl"] == "v4" else None) for p in PUBLISHED]
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(rows) + 1.8))
    ys = range(len(rows))
    for offset, idx, name, color in ((-0.27, 2, "Non-Live AST", "tab:blue"), (0.0, 3, "Live", "tab:orange"),
                                     (0.27, 4, "Overall (v4 board formula)", "tab:green")):
        vals = [r[idx] or 0 for r in rows]
        ax.barh([y + offset for y in ys], vals, height=0.26, label=name, color=color)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([f"{r[0]}  [{r[1]}]" for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%)")
    ax.set_xlim(0, 100)
    ax.legend(loc="lower right", fontsize=8)
    missing = summary["overall"]["missing"]
    ax.set_title("BFCL: this run (board formula" + (f"; groups not run = 0: {', '.join(missing)}" if missing else "")
                 + ")\nvs published leaderboard scores (versions differ: see labels; Overall only for v4 rows)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def write_outputs(summary: dict[str, Any], reports: dict[str, ScoreReport], out: str | os.PathLike, *,
                  label: str = "this model", plot: bool = True) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    errors = {c: dict(r.error_counts.most_common()) for c, r in reports.items()}
    (out / "errors.json").write_text(json.dumps(errors, indent=1) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(markdown(summary, label), encoding="utf-8")
    for c, r in reports.items():
        if r.sink is None:  # a streamed report's verdicts are in place already
            write_verdicts(r, out / "verdicts" / f"{c}.jsonl")
    if plot:
        try:
            plot_comparison(summary, out / "comparison.png", label)
        except ImportError:
            pass
    return out
