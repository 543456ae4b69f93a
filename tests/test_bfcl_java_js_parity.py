"""simple_java / simple_javascript: funrl agrees with the official BFCL checker on every committed fixture row, in
prompt mode (tree-sitter decoding) and FC mode (QwenFCHandler), and `funrl bfcl evaluate` gives the official
`bfcl evaluate` counts recorded in the fixture headers.

The fixtures (tests/fixtures/bfcl_java_js_parity/*.jsonl.gz) were written by `python scripts/bfcl_parity.py
--java-js` in a separate virtualenv with the full bfcl-eval 2026.3.23: the outputs of
funrl_lib.bfcl.java_js_mutations, scored by `eval_runner._evaluate_single_ast_entry` with the prompt-mode probe's
handler (Java/JavaScript return format and language, as `ast_file_runner` picks) and with QwenFCHandler.
"""

import json
from pathlib import Path

import pytest
from bfcl_two_mode_fixtures import assert_rows_agree
from bfcl_two_mode_fixtures import read_fixture as _read_fixture

from funrl_lib.bfcl.data import JAVA_JS_CATEGORIES, load_category
from funrl_lib.bfcl.evaluate import evaluate_results
from funrl_lib.bfcl.java_js_mutations import JAVA_JS_MUTATIONS_VERSION, java_js_mutations, mutations_digest
from funrl_lib.bfcl.score import score_result_lines
from funrl_lib.calls import qwen_fc_response

FIXTURES = Path(__file__).parent / "fixtures" / "bfcl_java_js_parity"
REGENERATE = "regenerate them with `python scripts/bfcl_parity.py --java-js`"


def read_fixture(category):
    return _read_fixture(FIXTURES, category)


def _outputs(category, rows, entries):
    outputs = {}
    for row in rows:
        items = java_js_mutations(entries[row["id"]])
        assert mutations_digest(items) == row["digest"], f"{row['id']}: outputs changed; {REGENERATE}"
        assert len(items) == len(row["v"]) == len(row["fc"])
        outputs[row["id"]] = items
    return outputs


@pytest.mark.parametrize("mode", ["v", "fc"])
@pytest.mark.parametrize("category", JAVA_JS_CATEGORIES)
def test_funrl_agrees_with_official_on_every_row(category, mode):
    header, rows = read_fixture(category)
    assert header["java_js_mutations_version"] == JAVA_JS_MUTATIONS_VERSION, REGENERATE
    entries = load_category(category)
    assert len(rows) == len(entries) == header["entries"]
    outputs = _outputs(category, rows, entries)
    assert_rows_agree(header, rows, outputs, mode,
                      lambda lines: score_result_lines(category, lines, entries=entries, fc=(mode == "fc")))


@pytest.mark.parametrize("category", JAVA_JS_CATEGORIES)
def test_funrl_bfcl_evaluate_gives_the_official_counts(tmp_path, category):
    """The gold and probe result files the recorder scored with the official `bfcl evaluate` (prompt mode and FC
    mode), rebuilt and scored by `funrl bfcl evaluate` (an `-FC` folder is decoded FC style)."""
    header, rows = read_fixture(category)
    entries = load_category(category)
    outputs = _outputs(category, rows, entries)
    for mode, folder in (("prompt", "probe-model"), ("fc", "probe-model-FC")):
        for label in ("gold", "probe"):
            lines = []
            for n, row in enumerate(rows):
                k = 0 if label == "gold" else n % len(outputs[row["id"]])
                text = outputs[row["id"]][k][1]
                lines.append({"id": row["id"], "result": qwen_fc_response(text) if mode == "fc" else text})
            root = tmp_path / f"{mode}-{label}" / folder / "non_live"
            root.mkdir(parents=True)
            (root / f"BFCL_v4_{category}_result.json").write_text("".join(json.dumps(r) + "\n" for r in lines))
            summary, _ = evaluate_results(tmp_path / f"{mode}-{label}")
            got = summary["categories"][category]
            official = header["cli"][f"{mode}_{label}"]
            assert (got["correct"], got["total"]) == (official["correct"], official["total"]), (mode, label)
            assert got["decoding"] == mode
