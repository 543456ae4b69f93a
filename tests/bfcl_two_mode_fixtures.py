"""Shared by the parity tests whose fixtures hold official verdicts in two modes (``"v"``: prompt decoding, ``"fc"``:
FC decoding) per regenerated output: tests/test_bfcl_java_js_parity.py and tests/test_bfcl_agentic_parity.py."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Callable


def read_fixture(folder: Path, category: str) -> tuple[dict, list[dict]]:
    with gzip.open(folder / f"{category}.jsonl.gz", "rt", encoding="utf-8") as f:
        header = json.loads(f.readline())
        return header, [json.loads(line) for line in f]


def assert_rows_agree(header: dict, rows: list[dict], outputs: dict[str, list[tuple[str, Any]]], mode: str,
                      score: Callable[[list[str]], Any]) -> None:
    """Pass k scores every entry's k-th output as result lines through ``score(lines) -> ScoreReport``; every verdict
    must be the official one, and the counts the header's."""
    table = [None] + header["error_types"]
    disagreements, total, valid = [], 0, 0
    for k in range(max(len(row[mode]) for row in rows)):
        batch = [row for row in rows if k < len(row[mode])]
        report = score([json.dumps({"id": row["id"], "result": outputs[row["id"]][k][1]}) for row in batch])
        assert not report.problems and len(report.verdicts) == len(batch)
        for row, got in zip(batch, report.verdicts, strict=True):
            total += 1
            code = row[mode][k]
            valid += code == 0
            if (got["id"], got["valid"], got["error_type"]) != (row["id"], code == 0, table[code]):
                name, out = outputs[row["id"]][k]
                disagreements.append(f"{row['id']} {name}: official {(code == 0, table[code])}, funrl "
                                     f"{(got['valid'], got['error_type'])}; output {str(out)[:200]!r}")
    assert total == header["rows"] and valid == header["valid" if mode == "v" else "valid_fc"]
    assert not disagreements, f"{len(disagreements)} of {total} rows disagree:\n" + "\n".join(disagreements[:20])
