"""`funrl bfcl evaluate`: accuracies equal the official checker's on the same result files, the v4 summaries on
hand-computed numbers, partial and missing categories reported as such."""

import json
from pathlib import Path

import pytest

from funrl_lib.bfcl.checker import gold_calls
from funrl_lib.bfcl.data import CATEGORY_GROUP, SUPPORTED_CATEGORIES, load_category
from funrl_lib.bfcl.evaluate import EvaluateError, evaluate_results, find_result_files, summarise
from funrl_lib.bfcl.mutations import mutations
from funrl_lib.calls import render_calls
from funrl_lib.cli import main

from bfcl_two_mode_fixtures import read_fixture

PARITY_FIXTURES = Path(__file__).parent / "fixtures" / "bfcl_parity"


def _write(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_accuracies_equal_the_official_checkers_on_the_same_files(tmp_path):
    """Result files in BFCL's layout made of the parity fixtures' mutated outputs (a different mutation per entry);
    the official checker's verdicts on exactly these outputs are in the fixtures."""
    expected = {}
    for category in SUPPORTED_CATEGORIES:
        header, rows = read_fixture(PARITY_FIXTURES, category)
        entries = load_category(category)
        lines, correct = [], 0
        for i, row in enumerate(rows):
            k = (7 * i + 3) % len(row["v"])
            lines.append({"id": row["id"], "result": mutations(entries[row["id"]])[k][1]})
            correct += row["v"][k] == 0
        _write(tmp_path / "results" / "my-model" / CATEGORY_GROUP[category] / f"BFCL_v4_{category}_result.json",
               lines)
        expected[category] = (correct, len(rows))
    summary, _ = evaluate_results(tmp_path / "results")
    got = {c: (r["correct"], r["total"]) for c, r in summary["categories"].items()}
    assert got == expected
    for c, (correct, total) in expected.items():
        assert summary["categories"][c]["accuracy"] == pytest.approx(correct / total)
        assert summary["categories"][c]["complete"]
    assert 0 < min(c / t for c, t in expected.values()) and max(c / t for c, t in expected.values()) < 1
    live = [expected[c] for c in ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")]
    assert summary["summaries"]["live"]["score"] == pytest.approx(sum(c for c, _ in live) / sum(t for _, t in live))
    assert summary["overall"]["missing"] == ["multi_turn", "agentic"] and summary["overall"]["weight"] == 0.3
    # the headline is the board's: Java/JavaScript, multi-turn and agentic not run count as 0
    assert summary["overall"]["score"] == summary["overall"]["board"] < summary["overall"]["over_present"]
    assert list(summary)[:4] == ["bfcl_version", "results", "overall", "board"]


def test_summaries_by_hand():
    cats = {"simple_python": {"accuracy": 0.8, "correct": 320, "total": 400},
            "multiple": {"accuracy": 0.9, "correct": 180, "total": 200},
            "parallel": {"accuracy": 0.5, "correct": 100, "total": 200},
            "live_simple": {"accuracy": 200 / 258, "correct": 200, "total": 258},
            "live_multiple": {"accuracy": 500 / 1053, "correct": 500, "total": 1053},
            "irrelevance": {"accuracy": 1.0, "correct": 240, "total": 240},
            "live_irrelevance": {"accuracy": 0.5, "correct": 441, "total": 882}}
    out = summarise(cats)
    s = out["summaries"]
    # Non-Live = mean(simple = simple_python alone here, multiple, parallel) = (0.8 + 0.9 + 0.5) / 3
    assert s["non_live"]["score"] == pytest.approx(2.2 / 3)
    assert s["non_live"]["used"] == ["simple", "multiple", "parallel"]
    assert s["non_live"]["missing"] == ["parallel_multiple", "simple: simple_java", "simple: simple_javascript"]
    # Live is weighted by entry count: 700 / 1311, not the mean of 0.775 and 0.475
    assert s["live"]["score"] == pytest.approx(700 / 1311)
    assert s["live"]["missing"] == ["live_parallel", "live_parallel_multiple"]
    assert s["irrelevance"]["score"] == pytest.approx(0.75) and s["relevance"]["score"] is None
    assert s["multi_turn"]["score"] is None and s["agentic"]["score"] is None
    # Over the parts present: 0.1 each for the three present, renormalised over their weight 0.3
    assert out["overall"]["over_present"] == pytest.approx((2.2 / 3 + 700 / 1311 + 0.75) / 3)
    assert out["overall"]["weight"] == pytest.approx(0.3)
    # The board's: everything not run is 0. Non-Live = (0.8 / 3 + 0.9 + 0.5 + 0) / 4; Live = 700 / (258 + 1053 + 16
    # + 24); Irrelevance 0.75; Multi-turn and Agentic 0
    board = 0.1 * (0.8 / 3 + 1.4) / 4 + 0.1 * 700 / 1351 + 0.1 * 0.75
    assert out["overall"]["score"] == out["overall"]["board"] == pytest.approx(board)
    assert s["non_live"]["board"] == pytest.approx((0.8 / 3 + 1.4) / 4) and s["live"]["board"] == pytest.approx(700 / 1351)
    full = summarise({})["overall"]
    assert full["over_present"] is None and full["board"] == 0
    assert full["missing"] == ["non_live", "live", "irrelevance", "multi_turn", "agentic"]
    # the published check of the formula is in test_bfcl_board.py


def errors_of(out: Path, category: str) -> dict:
    return json.loads((out / "errors.json").read_text())[category]


def test_partial_and_missing_categories_are_reported(tmp_path, capsys):
    entries = load_category("simple_python")
    first = list(entries.values())[:10]
    lines = [json.dumps({"id": e.id, "result": render_calls(gold_calls(e.possible_answer))}) for e in first[:8]]
    lines += [json.dumps({"id": e.id, "result": "I cannot help."}) for e in first[8:]]
    lines.append("{broken")
    res = tmp_path / "res" / "m" / "non_live"
    res.mkdir(parents=True)
    (res / "BFCL_v4_simple_python_result.json").write_text("\n".join(lines) + "\n")
    _write(tmp_path / "res" / "m" / "multi_turn" / "BFCL_v4_multi_turn_base_result.json",
           [{"id": "multi_turn_base_0", "result": [[["ls()"]]]}])
    _write(tmp_path / "res" / "m" / "agentic" / "BFCL_v4_web_search_base_result.json",
           [{"id": "web_search_base_0", "result": [["{'answer': 'x'}"]]}])
    (tmp_path / "res" / "notes_result.json").write_text("not a BFCL file name")

    assert main(["bfcl", "evaluate", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    row = summary["categories"]["simple_python"]
    assert (row["correct"], row["total"], row["accuracy"]) == (8, 10, 0.8)
    assert not row["complete"] and row["missing"] == len(entries) - 10 and row["unscored_lines"] == 1
    assert "PARTIAL" in captured.out and "BFCL_v4_simple_python_result.json:11: not valid JSON" in captured.err
    assert "multiple" in summary["not_evaluated"] and "live_simple" in summary["not_evaluated"]
    # multi-turn files are scored by BFCL's official multi-turn checker: one line of 200, and that line fails (a
    # single turn where the entry has several: BFCL's force-termination check)
    mt = summary["categories"]["multi_turn_base"]
    assert (mt["correct"], mt["total"], mt["category_size"], mt["complete"]) == (0, 1, 200, False)
    assert "multi_turn_base" not in summary["found_but_not_scored"]
    assert summary["summaries"]["multi_turn"]["used"] == ["multi_turn_base"]
    assert errors_of(tmp_path / "out", "multi_turn_base") == {"multi_turn:force_terminated": 1}
    assert "multi_turn_base: not scored" not in captured.err and "PARTIAL: 199 of 200" in captured.out
    # agentic files are scored by string matching (BFCL's agentic checker): one line, a wrong answer
    ws = summary["categories"]["web_search_base"]
    assert (ws["correct"], ws["total"], ws["category_size"]) == (0, 1, 100) and "web_search_base" not in \
        summary["found_but_not_scored"]
    assert errors_of(tmp_path / "out", "web_search_base") == {"agentic:answer_not_found": 1}
    errors = json.loads((tmp_path / "out" / "errors.json").read_text())
    assert sum(errors["simple_python"].values()) == 3  # two wrong answers and the broken line
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "| simple_python | 80.00 | 8 | 10 |" in md and "ToolACE-2-8B (FC) | v4 | 2025-12-16" in md
    assert len((tmp_path / "out" / "verdicts" / "simple_python.jsonl").read_text().splitlines()) == 11
    assert (tmp_path / "out" / "comparison.png").stat().st_size > 5000


def test_result_files_are_found_by_name_and_not_doubled(tmp_path):
    _write(tmp_path / "a" / "live" / "BFCL_v4_live_simple_result.json", [])
    _write(tmp_path / "b" / "BFCL_v4_irrelevance_result.json", [])
    assert sorted(find_result_files(tmp_path)) == ["irrelevance", "live_simple"]
    assert sorted(find_result_files([tmp_path / "a", tmp_path / "b"])) == ["irrelevance", "live_simple"]
    assert sorted(find_result_files([tmp_path / "b"])) == ["irrelevance"]
    _write(tmp_path / "c" / "BFCL_v4_irrelevance_result.json", [])
    with pytest.raises(EvaluateError, match="two result files for irrelevance"):
        find_result_files(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluateError, match="no BFCL result files"):
        find_result_files(tmp_path / "empty")
    with pytest.raises(EvaluateError, match="not a folder"):
        find_result_files(tmp_path / "absent")
