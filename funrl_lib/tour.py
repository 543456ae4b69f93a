"""``funrl tour``: a tour of the function-call core, offline, in seconds (``funrl demo`` runs the whole pipeline).

1. Tool definitions: a ToolACE tool (BFCL dialect, a name with spaces, ``"required": null``) to OpenAI and back.
2. Decoding: one model output per format.
3. Rewards: ``funrl_binary`` and ``toolrl_graded`` on a handful of completions.
4. BFCL v4: three synthetic "models" answer every entry of the 11 Python single-turn categories: ``reference`` (an
   answer built from the possible answer), ``fenced`` (the same in a Markdown code fence) and ``thinking`` (the same
   after a ``<think>`` block, scored raw and with ``--strip-think``). Result files are written in BFCL's own layout
   and scored with funrl's checker; ``report.md`` and ``summary.json`` hold the table.

"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from . import __version__
from .bfcl.checker import ground_truth_defects, score_entry
from .bfcl.data import CATEGORY_GROUP, SUPPORTED_CATEGORIES, bfcl_data_version, find_data_dir, load_category
from .bfcl.mutations import mutations
from .bfcl.score import score_results_file, write_verdicts
from .calls import decode_calls
from .rewards import funrl_binary, toolrl_graded
from .tools import ToolDef, validate_tool

TOOLACE_TOOL = {
    "name": "Market Trends API",
    "description": "Get the latest market trends and relevant news for a specified country and language.",
    "parameters": {"type": "dict", "properties": {
        "trend_type": {"description": "Trend type.", "type": "string",
                       "enum": ["MARKET_INDEXES", "MOST_ACTIVE", "GAINERS", "LOSERS"]},
        "country": {"description": "The country for which to get trends.", "type": "string", "default": "us"},
        "limit": {"description": "How many items.", "type": "int", "default": 10}},
        "required": ["trend_type"]},
    "required": None,
}
REFERENCE_PICKS = ("gold", "gold_last_alternative", "gold_optional_omitted")
MODELS = ("reference", "fenced", "thinking")


def versions(dists: tuple[str, ...] = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")) -> str:
    """``Python 3.11.7, torch 2.13.0+cpu, ...``: the versions a report should state."""
    import importlib.metadata as md

    parts = [f"Python {platform.python_version()}"]
    for dist in dists:
        try:
            parts.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            parts.append(f"{dist} (not installed)")
    return ", ".join(parts)


def _reference_answer(entry) -> str:
    items = dict(mutations(entry))
    if entry.possible_answer is None:
        return items["refusal_text"] if "irrelevance" in entry.category else items["call_first_function"]
    for name in REFERENCE_PICKS:
        if name in items and score_entry(entry, items[name]).valid:
            return items[name]
    return items["gold"]


def run_tour(out: str | Path = "outputs/tour", data_dir: str | None = None) -> int:
    started = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"funrl {__version__} tour -> {out}\n{versions()}")

    print("\n1. Tool definitions (BFCL/ToolACE dialect <-> OpenAI tools)")
    tool = ToolDef.from_dict(TOOLACE_TOOL)
    openai = tool.to_openai()
    back = ToolDef.from_dict(openai).to_bfcl()
    print(f"   {tool.name!r}: params {list(tool.parameters.properties)}, 'limit' kind {tool.param('limit').kind}")
    print(f"   as OpenAI: limit -> {openai['function']['parameters']['properties']['limit']}")
    print(f"   round trip lossless: {back == TOOLACE_TOOL}")
    bad = {"name": "get_weather", "parameters": {"type": "dict", "properties": {"unit": {"type": "strng"}},
                                                 "required": ["city"]}}
    for issue in validate_tool(bad):
        print(f"   validation: {issue}")

    print("\n2. Decoding model output")
    samples = [("python", "[Market Trends API(trend_type='GAINERS', country='de')]", [tool.name]),
               ("python", "[math.factorial(n=5), math.gcd(a=-12, b=18)]", []),
               ("json", '[{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}]', []),
               ("hermes", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', [])]
    for fmt, text, names in samples:
        calls = decode_calls(text, fmt, known_names=names)
        print(f"   {fmt:7s} {text[:60]!r:64s} -> {[(c.name, c.arguments) for c in calls]}")

    print("\n3. Rewards (FunRL binary, ToolRL graded)")
    tools_json = json.dumps([TOOLACE_TOOL])
    truth = "[Market Trends API(trend_type='GAINERS')]"
    completions = {
        "think + right call": "<think>Gainers in the US.</think>\n[Market Trends API(trend_type='GAINERS')]",
        "think + default passed": "<think>x</think>\n[Market Trends API(trend_type='GAINERS', country='us')]",
        "think + wrong value": "<think>x</think>\n[Market Trends API(trend_type='LOSERS')]",
        "right call, no think": "[Market Trends API(trend_type='GAINERS')]",
        "think + prose": "<think>x</think>\nI think you want the gainers.",
    }
    kwargs = {"tools": [tools_json] * len(completions), "ground_truth": [truth] * len(completions)}
    binary = funrl_binary(prompts=None, completions=list(completions.values()), **kwargs)
    graded = toolrl_graded(prompts=None, completions=list(completions.values()), **kwargs)
    for (label, _), b, g in zip(completions.items(), binary, graded):
        print(f"   {label:24s} funrl_binary={b:.0f}  toolrl_graded={g:+.2f}")

    print("\n4. BFCL v4 (funrl's checker, parity-tested against the official one)")
    data = find_data_dir(data_dir)
    print(f"   data: {bfcl_data_version(data)} ({data})")
    table: dict[str, dict[str, dict]] = {}
    defects: dict[str, list[str]] = {}
    for category in SUPPORTED_CATEGORIES:
        entries = load_category(category, data)
        answers = {"reference": {}, "fenced": {}, "thinking": {}}
        for entry_id, entry in entries.items():
            ref = _reference_answer(entry)
            answers["reference"][entry_id] = ref
            answers["fenced"][entry_id] = f"```python\n{ref}\n```"
            answers["thinking"][entry_id] = f"<think>Let me pick the function and its arguments.</think>\n{ref}"
            if entry.possible_answer and ground_truth_defects(entry.functions, entry.possible_answer):
                defects.setdefault(category, []).append(entry_id)
        for model, by_id in answers.items():
            path = out / "results" / f"funrl-demo-{model}" / CATEGORY_GROUP[category] / f"BFCL_v4_{category}_result.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps({"id": i, "result": r}) + "\n" for i, r in by_id.items()))
            variants = [(model, False)] + ([("thinking, --strip-think", True)] if model == "thinking" else [])
            for label, strip in variants:
                report = score_results_file(category, path, data_dir=data, strip_thinking=strip)
                write_verdicts(report, out / "verdicts" / label.replace(", --", "-strip-").replace(" ", "")
                               / f"{category}.jsonl")
                table.setdefault(category, {})[label] = {"accuracy": report.accuracy, "correct": report.correct,
                                                         "total": report.scored}
    labels = ["reference", "fenced", "thinking", "thinking, --strip-think"]
    header = "| category | entries | " + " | ".join(labels) + " |"
    lines = [header, "|" + "---|" * (len(labels) + 2)]
    for category, row in table.items():
        n = row["reference"]["total"]
        lines.append(f"| {category} | {n} | " + " | ".join(f"{row[l]['accuracy']:.3f}" for l in labels) + " |")
    print("\n".join("   " + line for line in lines))
    for category, ids in defects.items():
        print(f"   ground truth no output can pass (BFCL data defect): {category}: {', '.join(ids)}")

    summary = {"funrl": __version__, "environment": versions(), "bfcl_data": bfcl_data_version(data),
               "categories": table, "ground_truth_defects": defects, "seconds": round(time.time() - started, 2)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    report_md = [
        f"# funrl tour of the function-call core\n\nfunrl {__version__}; {versions()}; BFCL data {bfcl_data_version(data)}.\n",
        "Accuracy of three synthetic answer sets on BFCL v4's Python single-turn categories, scored by funrl's "
        "checker (row-for-row parity with the official checker is tested in tests/test_bfcl_parity.py). "
        "`reference` answers are built from each entry's possible answer (a refusal for irrelevance, a call of the "
        "first function for relevance); `fenced` wraps them in a Markdown code fence and `thinking` puts a think "
        "block first. BFCL's prompt-mode decoder accepts neither, which is why a thinking model must have its think "
        "block stripped before scoring, and why a fenced answer counts as a refusal in the irrelevance "
        "categories.\n",
        "\n".join(lines) + "\n",
    ]
    if defects:
        report_md.append("\nEntries whose ground truth no output can pass (BFCL data defects found by "
                         "`ground_truth_defects`): " + "; ".join(f"{c}: {', '.join(ids)}" for c, ids in defects.items())
                         + "\n")
    report_md.append(f"\nResult files (BFCL layout): `{out / 'results'}`; verdicts: `{out / 'verdicts'}`.\n")
    (out / "report.md").write_text("\n".join(report_md))
    print(f"\nwrote {out / 'report.md'}, {out / 'summary.json'}, result files and verdicts "
          f"({time.time() - started:.1f}s)")
    return 0
