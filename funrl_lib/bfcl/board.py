"""The BFCL v4 leaderboard's own summary numbers, computed exactly as the official evaluator computes them.

A port of ``eval_runner_helper.generate_leaderboard_csv`` and its helpers (``get_category_score``,
``calculate_weighted_accuracy``, ``calculate_unweighted_accuracy``, ``calculate_percentage_weighted_accuracy``) of
bfcl-eval 2026.3.23 (Apache-2.0), the code that writes the leaderboard's ``data_overall.csv``:

* A category that was not run counts as **accuracy 0** with its full dataset size as count (``get_category_score``);
  the board then *displays* "N/A" in some columns but still averages the 0 in.
* **Non-Live Simple** = unweighted mean(simple_python, simple_java, simple_javascript);
  **Non-Live** = unweighted mean(Simple, multiple, parallel, parallel_multiple) (irrelevance is not part of it).
* **Live** = mean of live_simple, live_multiple, live_parallel, live_parallel_multiple weighted by entry count (the
  number of result lines scored; the dataset size for a category not run).
* **Irrelevance** = unweighted mean(irrelevance, live_irrelevance); **Relevance** = live_relevance (not in Overall).
* **Multi-turn** = unweighted mean of its 4 categories; **Web search** = mean(base, no_snippet); **Memory** =
  mean(kv, vector, rec_sum); **Agentic** = mean(Web search, Memory).
* **Overall** = (10·Non-Live + 10·Live + 10·Irrelevance + 30·Multi-turn + 40·Agentic) / 100.

Display ("N/A") follows the board: the per-group summaries that the official code builds with
``display_na_if_category_missing=False`` (Non-Live, Live, Multi-turn, Agentic, Overall in ``data_overall.csv``'s
overall columns) always show a number; the others (Non-Live Simple and the Non-Live AST column, Web search, Memory,
Irrelevance, Relevance and each category) show "N/A" when a category they use was not run.

Percentages on the board are ``"{:.2f}%".format(accuracy * 100)``; :func:`board_percent` does the same.
Parity: tests/test_bfcl_board.py checks the formula on hand-computed numbers and on the published composition of
leaderboard models; tests/test_bfcl_board_parity.py compares every score column of ``data_overall.csv`` written by
the official ``bfcl evaluate`` on result sets covering all categories and a subset (fixtures of
scripts/bfcl_parity.py ``--board``).
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["BOARD_COLUMNS", "BOARD_LABEL", "CATEGORY_SIZES", "OVERALL_WEIGHTS", "board_percent", "board_scores",
           "overall_from_components"]

BOARD_LABEL = "BFCL v4 Overall (the leaderboard's formula; categories not run count as 0)"

# Entries per category in BFCL v4 (bfcl-eval 2026.3.23; ``load_dataset_entry(c, include_prereq=False)``), the count a
# category that was not run gets in ``get_category_score``. tests/test_bfcl_board.py checks them against the data.
CATEGORY_SIZES: dict[str, int] = {
    "simple_python": 400, "simple_java": 100, "simple_javascript": 50, "multiple": 200, "parallel": 200,
    "parallel_multiple": 200, "irrelevance": 240, "live_simple": 258, "live_multiple": 1053, "live_parallel": 16,
    "live_parallel_multiple": 24, "live_irrelevance": 884, "live_relevance": 16, "multi_turn_base": 200,
    "multi_turn_miss_func": 200, "multi_turn_miss_param": 200, "multi_turn_long_context": 200,
    "web_search_base": 100, "web_search_no_snippet": 100, "memory_kv": 155, "memory_vector": 155,
    "memory_rec_sum": 155,
}

OVERALL_WEIGHTS = {"non_live": 10, "live": 10, "irrelevance": 10, "multi_turn": 30, "agentic": 40}

# The summary columns of the board (data_overall.csv), in its order, as (key, column name).
BOARD_COLUMNS = (
    ("overall", "Overall Acc"), ("non_live", "Non-Live AST Acc"), ("non_live_simple", "Non-Live Simple AST"),
    ("multiple", "Non-Live Multiple AST"), ("parallel", "Non-Live Parallel AST"),
    ("parallel_multiple", "Non-Live Parallel Multiple AST"), ("live", "Live Acc"),
    ("live_simple", "Live Simple AST"), ("live_multiple", "Live Multiple AST"), ("live_parallel", "Live Parallel AST"),
    ("live_parallel_multiple", "Live Parallel Multiple AST"), ("multi_turn", "Multi Turn Acc"),
    ("multi_turn_base", "Multi Turn Base"), ("multi_turn_miss_func", "Multi Turn Miss Func"),
    ("multi_turn_miss_param", "Multi Turn Miss Param"), ("multi_turn_long_context", "Multi Turn Long Context"),
    ("web_search", "Web Search Acc"), ("web_search_base", "Web Search Base"),
    ("web_search_no_snippet", "Web Search No Snippet"), ("memory", "Memory Acc"), ("memory_kv", "Memory KV"),
    ("memory_vector", "Memory Vector"), ("memory_rec_sum", "Memory Recursive Summarization"),
    ("relevance", "Relevance Detection"), ("irrelevance_total", "Irrelevance Detection"),
)

NA = "N/A"


def _category(categories: Mapping[str, Mapping[str, Any]], name: str, sizes: Mapping[str, int]) -> dict[str, Any]:
    """get_category_score: the category's accuracy and count, or 0 with the dataset size (shown "N/A")."""
    row = categories.get(name)
    if row is not None:
        return {"accuracy": row["accuracy"], "total_count": row["total"], "display": row["accuracy"]}
    return {"accuracy": 0, "total_count": sizes[name], "display": NA}


def _weighted(parts: list[dict], na: bool = True) -> dict[str, Any]:
    total = sum(p["total_count"] for p in parts)
    # result files present but with no scored line (empty, or every line unscorable) weigh nothing: 0, not a crash
    accuracy = sum(p["accuracy"] * p["total_count"] for p in parts) / total if total else 0.0
    return {"accuracy": accuracy, "total_count": total,
            "display": NA if na and any(p["display"] == NA for p in parts) else accuracy}


def _unweighted(parts: list[dict], na: bool = True) -> dict[str, Any]:
    accuracy = sum(p["accuracy"] for p in parts) / len(parts)
    return {"accuracy": accuracy, "total_count": sum(p["total_count"] for p in parts),
            "display": NA if na and any(p["display"] == NA for p in parts) else accuracy}


def _percentage_weighted(parts: list[dict], weights: list[float]) -> dict[str, Any]:
    weight_sum = sum(weights)
    accuracy = 0.0
    for part, weight in zip(parts, weights):
        accuracy += part["accuracy"] * (weight / weight_sum)
    return {"accuracy": accuracy, "total_count": sum(p["total_count"] for p in parts), "display": accuracy}


def board_scores(categories: Mapping[str, Mapping[str, Any]],
                 sizes: Mapping[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """The board's summaries from per-category results ``{category: {"accuracy", "total"}}`` (``total`` = result
    lines scored, the official ``total_count``). Returns ``{key: {"accuracy", "total_count", "display"}}`` for every
    key of :data:`BOARD_COLUMNS` plus ``non_live_summary`` (the Non-Live summary the Overall uses, always a number),
    ``irrelevance``, ``live_irrelevance``, ``simple_python``, ``simple_java``, ``simple_javascript`` and ``agentic``;
    ``display`` is the accuracy or "N/A" as the board shows it."""
    sizes = {**CATEGORY_SIZES, **(sizes or {})}

    def cat(name: str) -> dict[str, Any]:
        return _category(categories, name, sizes)

    out: dict[str, dict[str, Any]] = {}
    for name in CATEGORY_SIZES:
        out[name] = cat(name)
    simple = _unweighted([out["simple_python"], out["simple_java"], out["simple_javascript"]])
    non_live_parts = [simple, out["multiple"], out["parallel"], out["parallel_multiple"]]
    out["non_live_simple"] = simple
    out["non_live_ast"] = _unweighted(non_live_parts)  # "Non-Live AST Acc" column: N/A when a part is missing
    out["non_live_summary"] = _unweighted(non_live_parts, na=False)  # what the Overall uses
    live_parts = [out["live_simple"], out["live_multiple"], out["live_parallel"], out["live_parallel_multiple"]]
    out["live"] = _weighted(live_parts, na=False)
    out["multi_turn"] = _unweighted([out[c] for c in ("multi_turn_base", "multi_turn_miss_func",
                                                       "multi_turn_miss_param", "multi_turn_long_context")], na=False)
    out["web_search"] = _unweighted([out["web_search_base"], out["web_search_no_snippet"]])
    out["memory"] = _unweighted([out["memory_kv"], out["memory_vector"], out["memory_rec_sum"]])
    out["agentic"] = _unweighted([out["web_search"], out["memory"]], na=False)
    out["irrelevance_total"] = _unweighted([out["irrelevance"], out["live_irrelevance"]])
    out["relevance"] = out["live_relevance"]
    out["overall"] = _percentage_weighted(
        [out["non_live_summary"], out["live"], out["irrelevance_total"], out["multi_turn"], out["agentic"]],
        list(OVERALL_WEIGHTS.values()))
    # data_overall.csv's "Non-Live AST Acc" column is summary_ast_non_live (N/A when a part is missing)
    out["non_live"] = out["non_live_ast"]
    return out


def overall_from_components(non_live: float, live: float, irrelevance: float, multi_turn: float,
                            web_search: float, memory: float) -> float:
    """The board's Overall from its published summary columns (any unit: fractions or percentages)."""
    agentic = (web_search + memory) / 2
    parts = {"non_live": non_live, "live": live, "irrelevance": irrelevance, "multi_turn": multi_turn,
             "agentic": agentic}
    return sum(parts[k] * w for k, w in OVERALL_WEIGHTS.items()) / sum(OVERALL_WEIGHTS.values())


def board_percent(value: Any) -> str:
    """A value as the board prints it: ``"{:.2f}%"`` of a fraction, "N/A" as is."""
    return value if value == NA else "{:.2f}%".format(value * 100)
