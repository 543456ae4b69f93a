"""Format sensitivity (non-scoring): funrl's decoding and checking agree with the official evaluator on every fixture
row (41,600 outputs over the 5,200 ids), `funrl bfcl evaluate` reproduces the official score-file summary (accuracy
per configuration, max delta, variance, std), the prompts are BFCL's own for all 26 configurations, and generation
writes them in BFCL's layout."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from bfcl_two_mode_fixtures import assert_rows_agree, read_fixture

from funrl_lib.bfcl.evaluate import evaluate_results
from funrl_lib.bfcl.format_sensitivity import (CONFIGS, load_format_sensitivity, format_messages,
                                               score_format_sensitivity)
from funrl_lib.bfcl.format_sensitivity_mutations import FS_MUTATIONS_VERSION, format_sensitivity_mutations
from funrl_lib.bfcl.generate import Generator, Reply, generate
from funrl_lib.bfcl.mutations import mutations_digest

FIXTURES = Path(__file__).parent / "fixtures" / "bfcl_format_sensitivity_parity"
REGENERATE = "regenerate them with `python scripts/bfcl_parity.py --format-sensitivity`"


@pytest.fixture(scope="module")
def fixture():
    header, rows = read_fixture(FIXTURES, "format_sensitivity")
    assert header["fs_mutations_version"] == FS_MUTATIONS_VERSION, REGENERATE
    entries = load_format_sensitivity()
    assert [r["id"] for r in rows] == list(entries) and len(entries) == 5200 == header["entries"]
    outputs = {}
    for row in rows:
        items = format_sensitivity_mutations(entries[row["id"]])
        assert mutations_digest(items) == row["digest"], f"{row['id']}: outputs changed; {REGENERATE}"
        outputs[row["id"]] = items
    return header, rows, entries, outputs


def test_funrl_agrees_with_official_on_every_row(fixture):
    header, rows, entries, outputs = fixture
    assert_rows_agree(header, rows, outputs, "v", lambda lines: score_format_sensitivity(lines, entries=entries))


@pytest.mark.parametrize("label", ["gold", "probe"])
def test_evaluate_reproduces_the_official_summary(tmp_path, fixture, label):
    header, rows, entries, outputs = fixture
    folder = tmp_path / "probe-model" / "format_sensitivity"
    folder.mkdir(parents=True)
    lines = []
    for n, row in enumerate(rows):
        k = 0 if label == "gold" else n % len(outputs[row["id"]])
        lines.append(json.dumps({"id": row["id"], "result": outputs[row["id"]][k][1]}))
    (folder / "BFCL_v4_format_sensitivity_result.json").write_text("\n".join(lines) + "\n")
    summary, _ = evaluate_results(tmp_path / "probe-model")
    official = header["cli"][label]
    row = summary["categories"]["format_sensitivity"]
    assert (row["correct"], row["total"]) == (official["correct_count"], official["total_count"])
    fs = summary["format_sensitivity"]
    for key in ("accuracy_max_delta", "accuracy_variance", "accuracy_std"):
        assert fs[key] == official[key], key
    for config in CONFIGS:
        assert fs[config]["correct_count"] == official[config]["correct_count"]
        assert fs[config]["accuracy"] == pytest.approx(official[config]["accuracy"])
    assert summary["overall"]["board"] == 0  # non-scoring: never in the Overall
    md = (tmp_path / "out" / "summary.md")
    from funrl_lib.bfcl.evaluate import write_outputs
    write_outputs(summary, {}, tmp_path / "out", plot=False)
    assert f"max delta {official['accuracy_max_delta']}" in md.read_text()


def test_prompts_are_bfcls_for_every_configuration(bfcl_utils):
    handler_utils, bfcl_utils_mod = bfcl_utils
    theirs_entries = bfcl_utils_mod.load_dataset_entry("format_sensitivity")
    ours = list(load_format_sensitivity().values())
    assert [e["id"] for e in theirs_entries] == [e.id for e in ours]
    for i in list(range(0, 26)) + list(range(26 * 60, 26 * 61)) + list(range(5200 - 26, 5200)):
        theirs = handler_utils.system_prompt_pre_processing_chat_model(
            copy.deepcopy(theirs_entries[i]["question"][0]), theirs_entries[i]["function"], theirs_entries[i]["id"])
        assert format_messages(ours[i]) == theirs, ours[i].id


class Echo(Generator):
    name = "canned"
    renders = False

    def generate(self, prompts):
        return [Reply("[f(a=1)]", 10, 3) for _ in prompts]


def test_generation_writes_bfcls_layout(tmp_path):
    report = generate(Echo(), categories="format_sensitivity", out=tmp_path, limit=30, model_name="m",
                      progress=False, log=lambda m: None)
    path = tmp_path / "m" / "format_sensitivity" / "BFCL_v4_format_sensitivity_result.json"
    assert report["categories"]["format_sensitivity"]["generated"] == 30 and path.exists()
    summary, _ = evaluate_results(tmp_path / "m")
    assert summary["format_sensitivity"]["configs_present"] == 26
    with pytest.raises(Exception, match="--prompt bfcl"):
        generate(Echo(), categories="format_sensitivity", out=tmp_path, limit=1, model_name="n", prompt="funrl",
                 progress=False, log=lambda m: None)
