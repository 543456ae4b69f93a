"""funrl's checker agrees with the official BFCL checker on every committed fixture row.

The fixtures (tests/fixtures/bfcl_parity/*.jsonl.gz) hold the official verdicts, recorded by scripts/bfcl_parity.py
in a separate virtualenv with the full bfcl-eval installed, on the mutated outputs of funrl_lib.bfcl.mutations.
Here the same outputs are regenerated (the digest proves they are the same texts) and scored by funrl.
"""

import gzip
import json
from pathlib import Path

import pytest

from funrl_lib.bfcl.checker import score_entry
from funrl_lib.bfcl.data import SUPPORTED_CATEGORIES, load_category
from funrl_lib.bfcl.mutations import MUTATIONS_VERSION, mutations, mutations_digest

FIXTURES = Path(__file__).parent / "fixtures" / "bfcl_parity"
REGENERATE = "regenerate them with `python scripts/bfcl_parity.py` (it builds the official checker's venv)"


def read_fixture(category):
    with gzip.open(FIXTURES / f"{category}.jsonl.gz", "rt", encoding="utf-8") as f:
        header = json.loads(f.readline())
        return header, [json.loads(line) for line in f]


@pytest.mark.parametrize("category", SUPPORTED_CATEGORIES)
def test_funrl_checker_agrees_with_official_on_every_row(category):
    header, rows = read_fixture(category)
    assert header["mutations_version"] == MUTATIONS_VERSION, f"fixtures are for another mutation set; {REGENERATE}"
    entries = load_category(category)
    assert len(rows) == len(entries) == header["entries"]
    table = [None] + header["error_types"]
    disagreements, total = [], 0
    for row in rows:
        entry = entries[row["id"]]
        items = mutations(entry)
        assert mutations_digest(items) == row["digest"], f"{row['id']}: mutated texts changed; {REGENERATE}"
        for (name, text), code in zip(items, row["v"], strict=True):
            total += 1
            official = (code == 0, table[code])
            verdict = score_entry(entry, text)
            if (verdict.valid, verdict.error_type) != official:
                disagreements.append(f"{row['id']} {name}: official {official}, funrl "
                                     f"{(verdict.valid, verdict.error_type)}; output {text[:200]!r}")
    assert total == header["rows"]
    assert not disagreements, f"{len(disagreements)} of {total} rows disagree:\n" + "\n".join(disagreements[:20])
