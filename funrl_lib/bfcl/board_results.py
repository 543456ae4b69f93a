"""Deterministic result sets in BFCL's layout for checking the board's summary numbers end to end
(scripts/bfcl_parity.py ``--board`` scores them with the official ``bfcl evaluate`` and keeps its
``data_overall.csv`` row; tests/test_bfcl_board_parity.py rebuilds them and compares ``funrl bfcl evaluate``).

Every line is one of the outputs whose official verdicts the other fixtures hold (Python: :mod:`.mutations`;
Java/JavaScript: :mod:`.java_js_mutations`; agentic: :mod:`.agentic_mutations`; format sensitivity:
:mod:`.format_sensitivity_mutations`), picked per entry by a fixed rule so accuracies fall strictly between 0 and 1;
multi-turn lines replay the ground-truth calls turn by turn, with every third entry cut short (force-terminated) and
every third given a wrong call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .agentic import AGENTIC_CATEGORIES, load_agentic, result_group
from .agentic_mutations import agentic_mutations
from .data import AST_CATEGORIES, JAVA_JS_CATEGORIES, RELEVANCE_CATEGORIES, VERSION_PREFIX, load_category
from .format_sensitivity import CATEGORY as FS_CATEGORY
from .format_sensitivity import load_format_sensitivity
from .format_sensitivity_mutations import format_sensitivity_mutations
from .java_js_mutations import java_js_mutations
from .multi_turn import MULTI_TURN_CATEGORIES, load_multi_turn
from .mutations import mutations

__all__ = ["SCENARIOS", "board_result_lines", "write_board_results"]

ALL = (AST_CATEGORIES[:1] + JAVA_JS_CATEGORIES + AST_CATEGORIES[1:] + RELEVANCE_CATEGORIES + MULTI_TURN_CATEGORIES
       + AGENTIC_CATEGORIES + (FS_CATEGORY,))
# name -> categories present (the others are not run: the board counts them as 0)
SCENARIOS: dict[str, tuple[str, ...]] = {
    "all": ALL,
    "subset": ("simple_python", "simple_javascript", "multiple", "live_simple", "live_multiple", "irrelevance",
               "multi_turn_base", "web_search_no_snippet", "memory_kv"),
}


def _pick(n: int, size: int) -> int:
    return (7 * n + 3) % size


def _multi_turn_result(n: int, ground_truth: list[list[str]]) -> list[list[str]]:
    turns = [[("[" + ", ".join(calls) + "]") if calls else "I cannot do that with the functions I have."]
             for calls in ground_truth]
    if n % 3 == 1:
        return turns[:-1]
    if n % 3 == 2:
        turns[0] = ["[ls(a=1)]"]
    return turns


def board_result_lines(category: str) -> list[dict[str, Any]]:
    """The ``{"id", "result"}`` lines of ``category`` in the board result set."""
    out = []
    if category in MULTI_TURN_CATEGORIES:
        for n, entry in enumerate(load_multi_turn(category).values()):
            out.append({"id": entry.id, "result": _multi_turn_result(n, entry.ground_truth)})
        return out
    if category in AGENTIC_CATEGORIES:
        entries: Any = load_agentic(category)
        make = agentic_mutations
    elif category == FS_CATEGORY:
        entries, make = load_format_sensitivity(), format_sensitivity_mutations
    elif category in JAVA_JS_CATEGORIES:
        entries, make = load_category(category), java_js_mutations
    else:
        entries, make = load_category(category), mutations
    for n, entry in enumerate(entries.values()):
        items = make(entry)
        out.append({"id": entry.id, "result": items[_pick(n, len(items))][1]})
    return out


def _group(category: str) -> str:
    if category in MULTI_TURN_CATEGORIES:
        return "multi_turn"
    if category in AGENTIC_CATEGORIES:
        return result_group(category)
    if category == FS_CATEGORY:
        return FS_CATEGORY
    return "live" if category.startswith("live_") else "non_live"


def write_board_results(model_dir: Path, scenario: str) -> list[Path]:
    """Write the scenario's result files under ``model_dir`` (BFCL's layout); returns their paths."""
    paths = []
    for category in SCENARIOS[scenario]:
        path = Path(model_dir) / _group(category) / f"{VERSION_PREFIX}_{category}_result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in board_result_lines(category)),
                        encoding="utf-8")
        paths.append(path)
    return paths
