"""The board's own summary numbers (funrl_lib.bfcl.board): hand-computed cases, the published composition of
leaderboard models, and the category sizes a category not run is counted with."""

import pytest

from funrl_lib.bfcl.board import CATEGORY_SIZES, board_percent, board_scores, overall_from_components
from funrl_lib.bfcl.evaluate import markdown, overall_lines, summarise
from funrl_lib.bfcl.published import PUBLISHED


def _cats(**acc_total):
    return {c: {"accuracy": a, "correct": round(a * t), "total": t} for c, (a, t) in acc_total.items()}


def test_published_v4_overall_is_the_weighted_sum_of_its_published_columns():
    """0.1 Non-Live + 0.1 Live + 0.1 Irrelevance + 0.3 Multi-turn + 0.4 mean(Web search, Memory), on the board's
    published columns, gives its published Overall (to the board's 2 decimals). By hand for ToolACE-2-8B (2025-12-16):
    8.710 + 7.742 + 9.079 + 11.514 + 0.4 * 13.495 = 42.443 -> 42.44."""
    assert 0.1 * 87.10 + 0.1 * 77.42 + 0.1 * 90.79 + 0.3 * 38.38 + 0.4 * (8.50 + 18.49) / 2 == pytest.approx(42.443)
    v4 = [p for p in PUBLISHED if p["bfcl"] == "v4"]
    assert len(v4) == 4
    for p in v4:
        got = overall_from_components(p["non_live"], p["live"], p["irrelevance"], p["multi_turn"], p["web_search"],
                                      p["memory"])
        assert round(got, 2) == p["overall"], p["model"]
    # the same through board_scores, from group values placed as single categories
    toolace = next(p for p in v4 if p["model"].startswith("ToolACE-2-8B"))
    cats = {}
    for c in ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple"):
        cats[c] = {"accuracy": toolace["non_live"] / 100, "total": CATEGORY_SIZES[c]}
    for c in ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"):
        cats[c] = {"accuracy": toolace["live"] / 100, "total": CATEGORY_SIZES[c]}
    for c in ("irrelevance", "live_irrelevance"):
        cats[c] = {"accuracy": toolace["irrelevance"] / 100, "total": CATEGORY_SIZES[c]}
    for c in ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context"):
        cats[c] = {"accuracy": toolace["multi_turn"] / 100, "total": 200}
    for c in ("web_search_base", "web_search_no_snippet"):
        cats[c] = {"accuracy": toolace["web_search"] / 100, "total": 100}
    for c in ("memory_kv", "memory_vector", "memory_rec_sum"):
        cats[c] = {"accuracy": toolace["memory"] / 100, "total": 155}
    board = board_scores(cats)
    assert board_percent(board["overall"]["accuracy"]) == "42.44%"
    assert board["relevance"]["display"] == "N/A"  # live_relevance not given: shown N/A, and not in Overall


def test_board_by_hand_with_missing_categories_as_zero():
    cats = _cats(simple_python=(0.8, 400), simple_java=(0.5, 100), multiple=(0.9, 200), parallel=(0.5, 200),
                 live_simple=(200 / 258, 258), live_multiple=(500 / 1053, 1053), irrelevance=(1.0, 240),
                 live_irrelevance=(0.5, 884), multi_turn_base=(0.4, 200), memory_kv=(0.3, 155),
                 web_search_base=(0.2, 100))
    b = board_scores(cats)
    simple = (0.8 + 0.5 + 0) / 3  # javascript not run: 0
    assert b["non_live_simple"]["accuracy"] == pytest.approx(simple) and b["non_live_simple"]["display"] == "N/A"
    non_live = (simple + 0.9 + 0.5 + 0) / 4  # parallel_multiple not run: 0
    assert b["non_live"]["accuracy"] == pytest.approx(non_live) and b["non_live"]["display"] == "N/A"
    # Live: weighted by counts; the two live categories not run count 0 with their dataset sizes 16 and 24
    live = 700 / (258 + 1053 + 16 + 24)
    assert b["live"]["accuracy"] == pytest.approx(live) and b["live"]["display"] == pytest.approx(live)
    assert b["irrelevance_total"]["accuracy"] == pytest.approx(0.75)
    multi_turn = 0.4 / 4
    web, memory = 0.2 / 2, 0.3 / 3
    agentic = (web + memory) / 2
    assert b["multi_turn"]["accuracy"] == pytest.approx(multi_turn)
    assert b["web_search"]["display"] == "N/A" and b["agentic"]["accuracy"] == pytest.approx(agentic)
    overall = 0.1 * non_live + 0.1 * live + 0.1 * 0.75 + 0.3 * multi_turn + 0.4 * agentic
    assert b["overall"]["accuracy"] == pytest.approx(overall)
    # by hand: simple 1.3/3 = 0.4333, non-live 1.8333/4 = 0.4583, live 700/1351 = 0.5181, irrelevance 0.75,
    # multi-turn 0.1, agentic 0.1: 0.04583 + 0.05181 + 0.075 + 0.03 + 0.04 = 0.24265
    assert board_percent(b["overall"]["accuracy"]) == "24.26%"

    out = summarise(cats)
    o = out["overall"]
    assert o["board"] == o["score"] == pytest.approx(overall)
    # the renormalised figure is the same formula over the groups present (all five have a category here)
    present = (0.1 * (1.3 / 2 + 0.9 + 0.5) / 3 + 0.1 * 700 / 1311 + 0.1 * 0.75 + 0.3 * 0.4 + 0.4 * (0.2 + 0.3) / 2)
    assert o["over_present"] == pytest.approx(present) and o["weight"] == 1.0
    assert out["summaries"]["live"]["board"] == pytest.approx(live)
    assert out["summaries"]["live"]["score"] == pytest.approx(700 / 1311)
    lines = overall_lines({"overall": o})
    assert lines[0].startswith("OVERALL (BFCL v4 board)") and "24.26%" in lines[0] and "count as 0" in lines[0]
    assert "NOT comparable" in lines[-1]


def test_nothing_run_is_zero_on_the_board_and_none_over_present():
    out = summarise({})
    assert out["overall"]["board"] == 0 and out["overall"]["over_present"] is None
    assert out["overall"]["missing"] == ["non_live", "live", "irrelevance", "multi_turn", "agentic"]
    assert out["board"]["live"]["display"] == 0  # Live Acc is shown as a number even when nothing was run


def test_markdown_puts_the_board_overall_first():
    cats = _cats(simple_python=(1.0, 400), irrelevance=(1.0, 240))
    summary = {**summarise(cats), "results": "r", "strip_think": False, "decoding": {}, "notes": [],
               "categories": {c: {**r, "category_size": r["total"], "complete": True, "missing": 0}
                              for c, r in cats.items()},
               "not_evaluated": [], "found_but_not_scored": {}}
    md = markdown(summary)
    first = md.splitlines()[2]
    # Non-Live = (1/3 + 0 + 0 + 0) / 4, Irrelevance = 0.5: overall = 0.1 * 1/12 + 0.1 * 0.5
    assert first.startswith("**BFCL v4 Overall (the leaderboard's formula") and "5.83%" in first
    assert md.index("over the parts present") > md.index(first)


def test_category_sizes_are_the_datas():
    from funrl_lib.bfcl.data import find_data_dir

    data = find_data_dir()

    def lines(name):
        with open(data / name, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())

    for c, n in CATEGORY_SIZES.items():
        if c.startswith("web_search"):
            assert lines("BFCL_v4_web_search.json") == n
        elif c.startswith("memory"):
            assert lines("BFCL_v4_memory.json") == n
        else:
            assert lines(f"BFCL_v4_{c}.json") == n, c
