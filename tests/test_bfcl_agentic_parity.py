"""Agentic categories (web search, memory): funrl agrees with the official BFCL evaluator on every committed fixture
row, in prompt mode and FC mode, and `funrl bfcl evaluate` gives the official `bfcl evaluate` counts recorded in the
fixture headers, reading result files in BFCL's layout (agentic/, agentic/memory/<backend>/).

The fixtures (tests/fixtures/bfcl_agentic_parity/*.jsonl.gz) were written by `python scripts/bfcl_parity.py
--agentic` in a separate virtualenv with the full bfcl-eval 2026.3.23: the results of
funrl_lib.bfcl.agentic_mutations scored by `eval_runner._evaluate_single_agentic_entry` with the prompt-mode probe's
handler and with QwenFCHandler (each step as its generation keeps it).
"""

import json
from pathlib import Path

import pytest
from bfcl_two_mode_fixtures import assert_rows_agree
from bfcl_two_mode_fixtures import read_fixture as _read_fixture

from funrl_lib.bfcl.agentic import AGENTIC_CATEGORIES, load_agentic, result_group, score_agentic
from funrl_lib.bfcl.agentic_mutations import AGENTIC_MUTATIONS_VERSION, agentic_digest, agentic_mutations
from funrl_lib.bfcl.evaluate import evaluate_results

FIXTURES = Path(__file__).parent / "fixtures" / "bfcl_agentic_parity"
REGENERATE = "regenerate them with `python scripts/bfcl_parity.py --agentic`"


def read_fixture(category):
    return _read_fixture(FIXTURES, category)


def _outputs(rows, entries):
    outputs = {}
    for row in rows:
        items = agentic_mutations(entries[row["id"]])
        assert agentic_digest(items) == row["digest"], f"{row['id']}: results changed; {REGENERATE}"
        assert len(items) == len(row["v"]) == len(row["fc"])
        outputs[row["id"]] = items
    return outputs


@pytest.mark.parametrize("mode", ["v", "fc"])
@pytest.mark.parametrize("category", AGENTIC_CATEGORIES)
def test_funrl_agrees_with_official_on_every_row(category, mode):
    header, rows = read_fixture(category)
    assert header["agentic_mutations_version"] == AGENTIC_MUTATIONS_VERSION, REGENERATE
    entries = load_agentic(category)
    assert [row["id"] for row in rows] == list(entries) and len(rows) == header["entries"]
    outputs = _outputs(rows, entries)
    assert_rows_agree(header, rows, outputs, mode,
                      lambda lines: score_agentic(category, lines, entries=entries, fc=(mode == "fc")))


def test_funrl_bfcl_evaluate_gives_the_official_counts_in_bfcls_layout(tmp_path):
    """All five categories' gold and probe files, in BFCL's folders, prompt mode and FC mode (an -FC folder)."""
    expected = {}
    for mode, folder in (("prompt", "probe-model"), ("fc", "probe-model-FC")):
        for label in ("gold", "probe"):
            root = tmp_path / f"{mode}-{label}" / folder
            for category in AGENTIC_CATEGORIES:
                header, rows = read_fixture(category)
                outputs = _outputs(rows, load_agentic(category))
                lines = []
                for n, row in enumerate(rows):
                    k = 0 if label == "gold" else n % len(outputs[row["id"]])
                    lines.append({"id": row["id"], "result": outputs[row["id"]][k][1]})
                path = root / result_group(category) / f"BFCL_v4_{category}_result.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(json.dumps(r) + "\n" for r in lines))
                expected[(mode, label, category)] = header["cli"][f"{mode}_{label}"]
            summary, _ = evaluate_results(tmp_path / f"{mode}-{label}")
            for category in AGENTIC_CATEGORIES:
                got = summary["categories"][category]
                official = expected[(mode, label, category)]
                assert (got["correct"], got["total"]) == (official["correct"], official["total"]), (mode, label)
                assert got["decoding"] == mode and got["complete"]
            assert summary["found_but_not_scored"] == {}
            assert summary["summaries"]["agentic"]["used"] == list(AGENTIC_CATEGORIES)
    assert (tmp_path / "prompt-gold" / "probe-model" / "agentic" / "memory" / "rec_sum").is_dir()
