"""FC mode: funrl scores raw Hermes/Qwen `<tool_call>` outputs exactly as BFCL scores its `Qwen/...-FC` models.

The fixtures (tests/fixtures/bfcl_fc_parity/*.jsonl.gz) hold the official verdicts, recorded by
`scripts/bfcl_parity.py --fc` in a separate virtualenv with the full bfcl-eval: QwenFCHandler's response parsing and
decode_ast, then the official single-entry evaluators, on the raw outputs of funrl_lib.bfcl.fc_mutations (think text,
several blocks, broken JSON, bare JSON lists, prose, gold and wrong answers), plus the counts of the official
`bfcl evaluate --model Qwen/Qwen3-0.6B-FC` on a gold and a mixed ("probe") result file per category. Here the same
outputs are regenerated (the digest proves they are the same texts) and scored by funrl with FC decoding, row by row
through the scoring engine and as whole result files through `funrl bfcl evaluate` on a folder named `*-FC` (which
must be all it takes to get FC decoding).

tests/fixtures/bfcl_real/<model folder>/ (written by `scripts/bfcl_parity.py --from-results DIR`) hold official
verdicts on real model outputs; every such fixture is checked the same way.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from funrl_lib.bfcl.data import CATEGORY_GROUP, SUPPORTED_CATEGORIES, load_category
from funrl_lib.bfcl.evaluate import evaluate_results
from funrl_lib.bfcl.fc_mutations import FC_MUTATIONS_VERSION, fc_mutations, mutations_digest
from funrl_lib.bfcl.score import score_result_lines

FIXTURES = Path(__file__).parent / "fixtures" / "bfcl_fc_parity"
REAL = Path(__file__).parent / "fixtures" / "bfcl_real"
REGENERATE = "regenerate them with `python scripts/bfcl_parity.py --fc` (it builds the official checker's venv)"


def read_fixture(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        header = json.loads(f.readline())
        return header, [json.loads(line) for line in f]


def write_results(folder: Path, category: str, lines: list[dict]) -> Path:
    path = folder / CATEGORY_GROUP[category] / f"BFCL_v4_{category}_result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("category", SUPPORTED_CATEGORIES)
def test_fc_scoring_agrees_with_official_on_every_row(category):
    """Pass k scores, for every entry, its k-th raw FC output as a BFCL result line through the engine of
    `funrl bfcl score` / `evaluate` with FC decoding; each verdict and the category's count of correct rows equal the
    official ones."""
    header, rows = read_fixture(FIXTURES / f"{category}.jsonl.gz")
    assert header["fc_mutations_version"] == FC_MUTATIONS_VERSION, f"fixtures are for another output set; {REGENERATE}"
    assert header["handler"] == "QwenFCHandler"
    entries = load_category(category)
    assert len(rows) == len(entries) == header["entries"]
    table = [None] + header["error_types"]
    outputs = {}
    for row in rows:
        items = fc_mutations(entries[row["id"]])
        assert mutations_digest(items) == row["digest"], f"{row['id']}: FC outputs changed; {REGENERATE}"
        assert len(items) == len(row["v"])
        outputs[row["id"]] = items
    disagreements, total, correct = [], 0, 0
    for k in range(max(len(row["v"]) for row in rows)):
        batch = [row for row in rows if k < len(row["v"])]
        lines = [json.dumps({"id": row["id"], "result": outputs[row["id"]][k][1]}) for row in batch]
        report = score_result_lines(category, lines, entries=entries, fc=True)
        assert not report.problems and len(report.verdicts) == len(batch)
        for row, got in zip(batch, report.verdicts, strict=True):
            total += 1
            code = row["v"][k]
            correct += got["valid"]
            if got["id"] != row["id"] or (got["valid"], got["error_type"]) != (code == 0, table[code]):
                name, text = outputs[row["id"]][k]
                disagreements.append(f"{row['id']} {name}: official {(code == 0, table[code])}, funrl "
                                     f"{(got['valid'], got['error_type'])}; output {text[:200]!r}")
    assert total == header["rows"]
    assert not disagreements, f"{len(disagreements)} of {total} rows disagree:\n" + "\n".join(disagreements[:20])
    assert correct == header["valid"]


def test_fc_accuracy_equals_official_bfcl_evaluate(tmp_path):
    """The gold and probe result files that the official `bfcl evaluate --model Qwen/Qwen3-0.6B-FC` scored when the
    fixtures were made, rebuilt from the raw outputs and scored as one -FC model folder: the same accuracies."""
    for label in ("gold", "probe"):
        folder = tmp_path / label / "model-FC"
        official = {}
        for category in SUPPORTED_CATEGORIES:
            header, rows = read_fixture(FIXTURES / f"{category}.jsonl.gz")
            entries = load_category(category)
            lines = []
            for i, row in enumerate(rows):
                items = fc_mutations(entries[row["id"]])
                k = 0 if label == "gold" else i % len(items)
                lines.append({"id": row["id"], "result": items[k][1]})
            write_results(folder, category, lines)
            official[category] = (header["cli"][label]["correct"], header["cli"][label]["total"])
        summary, _ = evaluate_results(tmp_path / label)
        got = {c: (r["correct"], r["total"]) for c, r in summary["categories"].items()}
        assert got == official, label
        assert sorted(summary["decoding"]["fc"]) == sorted(SUPPORTED_CATEGORIES) and "prompt" not in summary["decoding"]
    # a sanity floor: the gold answers pass nearly everywhere in the AST categories, the probe mixes right and wrong
    assert 0 < summary["categories"]["live_multiple"]["accuracy"] < 1


def test_fixture_covers_each_decoding_outcome():
    """The official verdicts the fixtures hold include the cases the FC decoder must get right: think text before
    the blocks, several blocks, broken JSON, a bare JSON list, prose only (no call: a wrong count in the AST categories,
    correct in irrelevance), and a block that parses but is not a call (decoder failure)."""
    seen = {}
    for category in ("parallel", "irrelevance"):
        header, rows = read_fixture(FIXTURES / f"{category}.jsonl.gz")
        table = [None] + header["error_types"]
        entries = load_category(category)
        row = rows[0]
        names = [name for name, _ in fc_mutations(entries[row["id"]])]
        seen[category] = {name: table[code] for name, code in zip(names, row["v"])}
    parallel, irrelevance = seen["parallel"], seen["irrelevance"]
    for name in ("gold", "think_then_answer", "prose_then_answer", "think_unclosed_then_answer", "calls_reversed",
                 "one_good_block_one_broken", "empty_block_then_answer", "duplicate_arguments_key_last_wins"):
        assert parallel[name] is None, name
    for name in ("bare_json_list", "prose_only", "no_newlines_in_tags", "every_block_json_truncated",
                 "think_holding_answer_then_prose", "first_block_json_truncated", "python_call_syntax"):
        assert parallel[name] == "parallel_function_checker_no_order:wrong_count", name
    for name in ("json_list_in_one_block", "arguments_as_json_string", "parameters_key", "name_as_list"):
        assert parallel[name] == "ast_decoder:decoder_failed", name
    for name in ("refusal_text", "bare_json_list", "every_block_json_truncated", "arguments_as_json_string",
                 "think_holding_answer_then_prose", "empty_object_block", "no_newlines_in_tags"):
        assert irrelevance[name] is None, name
    for name in ("call_first_function", "think_then_answer", "one_good_block_one_broken", "name_as_number"):
        assert irrelevance[name] == "irrelevance_error:decoder_success", name


def _real_fixtures() -> list[Path]:
    return sorted(REAL.glob("*/*.jsonl.gz")) if REAL.is_dir() else []


@pytest.mark.parametrize("path", _real_fixtures(), ids=lambda p: f"{p.parent.name}/{p.name.split('.')[0]}")
def test_real_outputs_agree_with_official(path, tmp_path):
    """Official verdicts on a real model's result lines (scripts/bfcl_parity.py --from-results): funrl, given the
    same lines in a folder of the same name (so -FC picks FC decoding as it did there), agrees line by line."""
    header, rows = read_fixture(path)
    category = header["category"]
    table = [None] + header["error_types"]
    folder = tmp_path / header["model_folder"]
    write_results(folder, category, [{"id": r["id"], "result": r["result"]} for r in rows])
    summary, reports = evaluate_results(folder)
    assert summary["categories"][category]["decoding"] == header["decoding"]
    verdicts = reports[category].verdicts
    bad = [f"{r['id']}: official {(r['v'] == 0, table[r['v']])}, funrl {(v['valid'], v['error_type'])}; "
           f"output {r['result'][:200]!r}"
           for r, v in zip(rows, verdicts, strict=True) if (v["valid"], v["error_type"]) != (r["v"] == 0, table[r["v"]])]
    assert not bad, f"{len(bad)} of {len(rows)} lines disagree:\n" + "\n".join(bad[:20])
    assert summary["categories"][category]["correct"] == header["valid"]
    if header.get("cli"):
        assert (summary["categories"][category]["correct"], len(rows)) == (header["cli"]["correct"],
                                                                           header["cli"]["total"])
