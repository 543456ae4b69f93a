"""Streaming, resumable dialog output for ToolACE's Self-Guided Dialog Generation (arXiv 2409.00920v2 §2.2, run at
scale): ``out=`` gets one JSON line per sample via :class:`~funrl_lib.io.JsonlAppender`, so a killed run re-run with
the same arguments finishes the file with no sample lost or duplicated, byte-identical to an uninterrupted run. An
existing file of another seed is refused rather than extended; a programmatic run also regenerates the file's last
sample to refuse another pool, ``n`` or mix. The samples an earlier run wrote are read back one at a time, as
their turn comes, so memory does not grow with ``n``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

from ...io import InputError, JsonlAppender, read_records
from .builder import _Builder


def _is_dialog_record(row: Any) -> bool:
    """Whether a JSON value looks like a line of a dialogs file (so ``--out`` may resume it)."""
    return isinstance(row, dict) and "id" in row and "messages" in row


_DIALOGS = "dialogs (funrl dialogs)"


class _Existing:
    """What an earlier run left in ``--out`` (read line by line, not kept): the ids written, the row of the highest
    id (checked against what this run makes), and the rows themselves, read again one at a time when needed."""

    def __init__(self, path: Path, ids: set, last: dict | None, size: int):
        self.path, self.ids, self.last, self.size = path, ids, last, size
        self._rows: Iterator[dict] | None = None
        self._ahead: dict[str, dict] = {}

    def __bool__(self) -> bool:
        return bool(self.ids)

    def __contains__(self, sid: str) -> bool:
        return sid in self.ids

    def row(self, sid: str) -> dict:
        """The row of ``sid``. Rows come in id order in a file this generator wrote, so this reads on from where
        it stopped; a row met before its turn is held until asked for."""
        if sid in self._ahead:
            return self._ahead.pop(sid)
        if self._rows is None:
            self._rows = self._read()
        for row in self._rows:
            if row["id"] == sid:
                return row
            self._ahead[row["id"]] = row
        raise KeyError(sid)

    def _read(self) -> Iterator[dict]:
        # not io.read_records: only the lines that were there when the run began (the run appends to the file)
        with open(self.path, "rb") as f:
            pos = 0
            for line in f:
                pos += len(line)
                if pos > self.size:
                    return
                yield json.loads(line)


def _open_out(out: str | Path, seed: int) -> tuple[JsonlAppender, _Existing]:
    app = JsonlAppender(out, own=_is_dialog_record, what=_DIALOGS, reuse="tools")
    size = Path(out).stat().st_size
    ids: set[str] = set()
    last: dict | None = None
    for rec in read_records(out):  # every line reads: the appender dropped a torn or unreadable tail
        row = rec.value
        if rec.error is not None or not isinstance(row, dict) or not isinstance(row.get("id"), str):
            app.close()
            raise InputError("not a dialog sample of this generator (no string id)", path=out, line=rec.line)
        got = (row.get("meta") or {}).get("seed")
        if got != seed:
            app.close()
            raise InputError(f"written with seed {got!r}, this run uses seed {seed}: use another --out (a file "
                             f"mixing two runs would not be one run's output)", path=out, line=rec.line)
        ids.add(row["id"])
        if last is None or row["id"] >= last["id"]:  # the highest id (of equal ones, the last line)
            last = row
    return app, _Existing(Path(out), ids, last, size)


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc="dialogs", unit="dlg", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True)


def _check_resume(builder: _Builder, last_row: dict, types: list[str], bands: list[str], out: Any,
                  app: JsonlAppender) -> None:
    """Before appending to an existing file, regenerate its last sample (the highest id): a file written with another
    pool, ``n``, mix or complexity mix would not match, and appending to it would not give any one run's output."""
    last = last_row["id"]
    index = int(last.rsplit("-", 1)[-1]) if re.fullmatch(r"dlg-\d+", last) else -1
    ok = 0 <= index < len(types) and builder.make(index, types[index], bands[index]).to_dict() == last_row
    if not ok:
        app.close()
        raise InputError(f"{last} is not what this run generates: the file was written with another pool, --n, "
                         f"--mix or --complexity-mix; use another --out (or the same arguments as before)", path=out)
