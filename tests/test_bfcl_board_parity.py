"""The board's numbers end to end: on result sets covering every BFCL v4 category (and a subset, where the board
counts the categories not run as 0), `funrl bfcl evaluate` gives the official `bfcl evaluate`'s per-category counts
and every score column of its data_overall.csv, as printed (Overall, Non-Live, Live, Multi-turn, Web search,
Memory, (ir)relevance, format-sensitivity max delta and std).

Fixtures: tests/fixtures/bfcl_board_parity/<scenario>.json, written by `python scripts/bfcl_parity.py --board` (the
official bfcl-eval 2026.3.23 in its own venv) from funrl_lib.bfcl.board_results' deterministic result sets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funrl_lib.bfcl.board_results import SCENARIOS, write_board_results
from funrl_lib.bfcl.evaluate import board_columns, evaluate_results

FIXTURES = Path(__file__).parent / "fixtures" / "bfcl_board_parity"


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_evaluate_gives_the_official_board_numbers(tmp_path, scenario):
    official = json.loads((FIXTURES / f"{scenario}.json").read_text())
    assert official["categories_present"] == list(SCENARIOS[scenario])
    write_board_results(tmp_path / "probe-model", scenario)
    summary, _ = evaluate_results(tmp_path / "probe-model")
    got = {c: {"correct": r["correct"], "total": r["total"]} for c, r in summary["categories"].items()}
    assert got == official["categories"]
    ours = board_columns(summary)
    theirs = {k: v for k, v in official["data_overall"].items() if k in ours}
    assert len(theirs) == len(ours) == 27
    assert ours == theirs
    assert ours["Overall Acc"] == f"{100 * summary['overall']['board']:.2f}%"
