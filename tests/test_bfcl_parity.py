"""funrl's checker agrees with the official BFCL checker on every committed fixture row.

The fixtures (tests/fixtures/bfcl_parity/*.jsonl.gz) hold the official verdicts, recorded by scripts/bfcl_parity.py
in a separate virtualenv with the full bfcl-eval installed, on the mutated outputs of funrl_lib.bfcl.mutations.
Here the same outputs are regenerated (the digest proves they are the same texts) and scored by funrl through the
engine of `funrl bfcl score`.
"""

import gzip
import json
from pathlib import Path

import pytest

from funrl_lib.bfcl.score import score_result_lines
from funrl_lib.bfcl.data import SUPPORTED_CATEGORIES, load_category
from funrl_lib.bfcl.mutations import MUTATIONS_VERSION, mutations, mutations_digest

FIXTURES = Path(__file__).parent / "fixtures" / "bfcl_parity"
REGENERATE = "regenerate them with `python scripts/bfcl_parity.py` (it builds the official checker's venv)"


def read_fixture(category):
    with gzip.open(FIXTURES / f"{category}.jsonl.gz", "rt", encoding="utf-8") as f:
        header = json.loads(f.readline())
        return header, [json.loads(line) for line in f]


@pytest.mark.parametrize("category", SUPPORTED_CATEGORIES)
def test_funrl_bfcl_score_agrees_with_official_on_every_row(category):
    """Every fixture row goes through the engine of `funrl bfcl score` (score_result_lines) as a BFCL result line:
    pass k scores, for every entry, its k-th mutated output."""
    header, rows = read_fixture(category)
    assert header["mutations_version"] == MUTATIONS_VERSION, f"fixtures are for another mutation set; {REGENERATE}"
    entries = load_category(category)
    assert len(rows) == len(entries) == header["entries"]
    table = [None] + header["error_types"]
    outputs = {}
    for row in rows:
        items = mutations(entries[row["id"]])
        assert mutations_digest(items) == row["digest"], f"{row['id']}: mutated texts changed; {REGENERATE}"
        assert len(items) == len(row["v"])
        outputs[row["id"]] = items
    disagreements, total = [], 0
    for k in range(max(len(row["v"]) for row in rows)):
        batch = [row for row in rows if k < len(row["v"])]
        lines = [json.dumps({"id": row["id"], "result": outputs[row["id"]][k][1]}) for row in batch]
        report = score_result_lines(category, lines, entries=entries)
        assert not report.problems and len(report.verdicts) == len(batch)
        for row, got in zip(batch, report.verdicts, strict=True):
            total += 1
            code = row["v"][k]
            if got["id"] != row["id"] or (got["valid"], got["error_type"]) != (code == 0, table[code]):
                name, text = outputs[row["id"]][k]
                disagreements.append(f"{row['id']} {name}: official {(code == 0, table[code])}, funrl "
                                     f"{(got['valid'], got['error_type'])}; output {text[:200]!r}")
    assert total == header["rows"]
    assert not disagreements, f"{len(disagreements)} of {total} rows disagree:\n" + "\n".join(disagreements[:20])
