"""``funrl bfcl evaluate``: score every BFCL result file under a folder and summarise like the leaderboard.

Result files are found anywhere under ``--results`` by their BFCL names (``BFCL_v4_<category>_result.json``, one
``{"id", "result"}`` per line; the layout ``<model>/<group>/...`` of ``bfcl generate`` and ``funrl bfcl generate``
works, so does a flat folder). Each single-turn category present is scored with funrl's checker (:mod:`.score`, the
engine of ``funrl bfcl score``, parity-tested against the official checker); each multi-turn category with BFCL's
own executable backends and official multi-turn checker (:mod:`.multi_turn`). Written to ``--out``:

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

Summaries follow BFCL v4's formulas (``eval_runner_helper.generate_leaderboard_csv``; ../shared/reference/bfcl.md
§4) over the components present: Non-Live AST = unweighted mean(Simple, multiple, parallel, parallel_multiple) with
Simple = mean(simple_python, simple_java, simple_javascript); Live = mean of live_simple, live_multiple,
live_parallel, live_parallel_multiple weighted by entry count; Irrelevance = mean(irrelevance, live_irrelevance);
Relevance = live_relevance (not in Overall); Overall = 0.1·Non-Live + 0.1·Live + 0.1·Irrelevance + 0.3·Multi-turn +
0.4·Agentic. BFCL counts a category that was not run as 0; here every summary lists the components it is missing
and is computed from the ones present (``overall.score`` renormalises the weights present, ``overall.weight`` says
how much of the formula that is), so a subset run is never mistaken for a full one.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

from .data import OTHER_CATEGORIES, SUPPORTED_CATEGORIES, VERSION_PREFIX, find_data_dir, load_category
from .multi_turn import MULTI_TURN_CATEGORIES, score_multi_turn_file
from .published import PUBLISHED
from .score import FC_SUFFIX, ScoreReport, is_fc_model_name, score_results_file, write_verdicts

__all__ = ["FC_NOTE", "EvaluateError", "evaluate_results", "find_result_files", "model_folder", "summarise",
           "write_outputs"]

RESULT_NAME = re.compile(rf"^{VERSION_PREFIX}_(?P<category>[a-z_]+)_result\.json$")

SIMPLE = ("simple_python", "simple_java", "simple_javascript")
NON_LIVE = ("simple", "multiple", "parallel", "parallel_multiple")
LIVE = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
IRRELEVANCE = ("irrelevance", "live_irrelevance")
AGENTIC = ("web_search_base", "web_search_no_snippet", "memory_kv", "memory_vector", "memory_rec_sum")
OVERALL_WEIGHTS = {"non_live": 0.10, "live": 0.10, "irrelevance": 0.10, "multi_turn": 0.30, "agentic": 0.40}
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


def _category_row(report: ScoreReport, path: Path, decoding: str) -> dict[str, Any]:
    return {"accuracy": report.accuracy, "correct": report.correct, "total": report.scored,
            "category_size": report.category_size, "missing": report.missing, "complete": report.missing == 0,
            "unscored_lines": len(report.problems), "decoding": decoding, "model_folder": model_folder(path).name,
            "file": str(path)}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def summarise(categories: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The v4 summaries (and Overall) of per-category results, each with the components it used and lacks."""
    acc = {c: r["accuracy"] for c, r in categories.items()}

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
    for name, names in (("multi_turn", MULTI_TURN_CATEGORIES), ("agentic", AGENTIC)):
        used, missing = part(names, acc)
        out[name] = {"score": _mean([acc[c] for c in used]) if used else None, "used": used, "missing": missing,
                     "formula": "mean of its categories" + (" (web search and memory)" if name == "agentic" else "")}
    present = {k: w for k, w in OVERALL_WEIGHTS.items() if out[k]["score"] is not None}
    weight = sum(present.values())
    overall = {"score": sum(out[k]["score"] * w for k, w in present.items()) / weight if weight else None,
               "weight": round(weight, 4), "used": sorted(present, key=list(OVERALL_WEIGHTS).index),
               "missing": [k for k in OVERALL_WEIGHTS if k not in present],
               "formula": "0.1 non_live + 0.1 live + 0.1 irrelevance + 0.3 multi_turn + 0.4 agentic; score "
                          "renormalised over the weight present"}
    return {"summaries": out, "overall": overall}


def evaluate_results(results_dir: str | os.PathLike | Sequence[str | os.PathLike], *, data_dir: str | os.PathLike | None = None,
                     strip_thinking: bool = False, underscore_to_dot: bool = False, fc: bool | None = None,
                     ) -> tuple[dict[str, Any], dict[str, ScoreReport]]:
    """(summary dict, reports per category) for the result files under ``results_dir`` (a folder or several).

    ``fc``: None (the default, and what the CLI does) decodes each file by BFCL's naming convention (model folder
    name ending in ``-FC`` -> FC style); True / False force one decoding for every file."""
    files = find_result_files(results_dir)
    data = find_data_dir(data_dir)
    categories, reports, problems, not_scored = {}, {}, [], {}
    notes: list[str] = []
    for category, path in files.items():
        folder = model_folder(path)
        file_fc = is_fc_model_name(folder.name) if fc is None else fc
        note = _config_note(folder, file_fc) if fc is None else None
        if note and note not in notes:
            notes.append(note)
        if category in MULTI_TURN_CATEGORIES and file_fc:
            not_scored[category] = (f"{path}: multi-turn results of an FC model ({folder.name!r} ends in "
                                    f"{FC_SUFFIX!r}): funrl scores multi-turn in BFCL's prompting mode only")
            continue
        if category in MULTI_TURN_CATEGORIES:
            # BFCL's own backends and official checker; decoding as BFCL's (underscore_to_dot is for FC models)
            report = score_multi_turn_file(category, path, data_dir=data, strip_thinking=strip_thinking)
        elif category in SUPPORTED_CATEGORIES:
            report = score_results_file(category, path, entries=load_category(category, data),
                                        strip_thinking=strip_thinking, underscore_to_dot=underscore_to_dot,
                                        fc=file_fc)
        else:
            why = ("agentic categories (web search, memory) need BFCL's agentic environments, which funrl does not "
                   "run yet" if category in AGENTIC
                   else "Java/JavaScript answers need BFCL's tree-sitter checkers" if category.startswith("simple_")
                   else "BFCL's non-scoring format-sensitivity category is not scored by funrl"
                   if category in OTHER_CATEGORIES else "not a BFCL v4 category")
            not_scored[category] = f"{path}: {why}"
            continue
        reports[category] = report
        categories[category] = _category_row(report, path, "fc" if file_fc else "prompt")
        problems += report.problems
    every = SUPPORTED_CATEGORIES + OTHER_CATEGORIES
    decoding = {mode: [c for c, r in categories.items() if r["decoding"] == mode] for mode in ("fc", "prompt")}
    decoding = {mode: cats for mode, cats in decoding.items() if cats}
    decoding_notes = [FC_NOTE] * ("fc" in decoding) + [PROMPT_NOTE] * ("prompt" in decoding)
    summary = {"bfcl_version": VERSION_PREFIX, "results": ", ".join(map(str, _folders(results_dir))), "strip_think": strip_thinking,
               "decoding": {**decoding, "notes": decoding_notes}, "notes": notes,
               "categories": categories, **summarise(categories),
               "not_evaluated": [c for c in every if c not in categories],
               "found_but_not_scored": not_scored, "problems": problems}
    return summary, reports


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}"


def markdown(summary: dict[str, Any], label: str = "this model") -> str:
    lines = [f"# BFCL v4 evaluation: {label}", "", f"Results: `{summary['results']}`"
             + (" (leading think blocks stripped)" if summary["strip_think"] else ""), ""]
    decoding = summary.get("decoding", {})
    for mode, what in (("fc", "FC style"), ("prompt", "prompt style")):
        if decoding.get(mode):
            lines.append(f"Decoded {what}: {', '.join(decoding[mode])}.")
    for note in decoding.get("notes", []):
        lines += ["", note]
    for note in summary.get("notes", []):
        lines += ["", f"Note: {note}"]
    lines += ["", "| category | accuracy (%) | correct | scored | entries | complete | decoding |",
              "|---|---|---|---|---|---|---|"]
    for c, r in summary["categories"].items():
        lines.append(f"| {c} | {_pct(r['accuracy'])} | {r['correct']} | {r['total']} | {r['category_size']} | "
                     f"{'yes' if r['complete'] else 'no, ' + str(r['missing']) + ' missing'} | "
                     f"{r.get('decoding', 'prompt')} |")
    lines += ["", "| summary | score (%) | from | missing |", "|---|---|---|---|"]
    for name, s in [*summary["summaries"].items(), ("overall", summary["overall"])]:
        extra = f" (weight {s['weight']} of 1)" if name == "overall" else ""
        lines.append(f"| {name} | {_pct(s['score'])}{extra} | {', '.join(s['used']) or '—'} | "
                     f"{', '.join(s['missing']) or '—'} |")
    lines += ["", "Published scores (each on the BFCL version named; v3 Live includes (ir)relevance, v2/v3/v4 "
              "summaries are not comparable one to one):", "",
              "| model | BFCL | board | Non-Live (%) | Live (%) | Irrelevance (%) | Overall (%) |", "|---|---|---|---|---|---|---|"]
    for p in PUBLISHED:
        lines.append(f"| {p['model']} | {p['bfcl']} | {p['board']} | {p.get('non_live', '—')} | {p.get('live', '—')} "
                     f"| {p.get('irrelevance', '—')} | {p.get('overall', '—')} |")
    if summary["not_evaluated"]:
        lines += ["", "Not evaluated (no result file): " + ", ".join(summary["not_evaluated"])]
    for c, why in summary["found_but_not_scored"].items():
        lines.append(f"- {c}: not scored — {why}")
    return "\n".join(lines) + "\n"


def plot_comparison(summary: dict[str, Any], out: str | os.PathLike, label: str = "this model") -> None:
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ours = [summary["summaries"][k]["score"] for k in ("non_live", "live")]
    rows = [(label, "v4 (funrl)", *(None if x is None else 100 * x for x in ours))]
    rows += [(p["model"], p["bfcl"], p.get("non_live"), p.get("live")) for p in PUBLISHED]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5))
    ys = range(len(rows))
    for offset, idx, name, color in ((-0.2, 2, "Non-Live AST", "tab:blue"), (0.2, 3, "Live", "tab:orange")):
        vals = [r[idx] or 0 for r in rows]
        ax.barh([y + offset for y in ys], vals, height=0.38, label=name, color=color)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([f"{r[0]}  [{r[1]}]" for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%)")
    ax.set_xlim(0, 100)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("BFCL: this run vs published scores (versions differ: see labels)", fontsize=10)
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
        write_verdicts(r, out / "verdicts" / f"{c}.jsonl")
    if plot:
        try:
            plot_comparison(summary, out / "comparison.png", label)
        except ImportError:
            pass
    return out
