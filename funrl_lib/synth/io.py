"""JSONL in and out for the synthesis stages: crash-safe appends, resumable runs, errors that name file and line.

Every stage (pool, dialogs, verify) writes one JSON object per line with a stable ``id`` and flushes after each
line, so a run killed at any moment loses at most the line being written. Re-running the same command opens the
output with :class:`JsonlAppender`, which drops a torn last line, reports the ids already written, and appends the
rest: no sample is lost or duplicated, and because each sample is generated from ``(seed, index)`` alone the resumed
file is byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

__all__ = ["InputError", "JsonlAppender", "Record", "dumps_line", "leaf_values", "seeded_rng", "stable_digest", "read_records", "report_quarantine",
           "write_json", "write_jsonl"]


class InputError(ValueError):
    """A problem with one input record (or the whole file), located as ``FILE:LINE: message``."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, line: int | None = None):
        self.message, self.path, self.line = message, None if path is None else str(path), line
        where = self.path or "<input>"
        super().__init__(f"{where}:{line}: {message}" if line is not None else f"{where}: {message}")


def dumps_line(obj: Any) -> str:
    """The one serialisation every stage uses (same object, same bytes): compact, UTF-8, key order kept."""
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


@dataclass
class Record:
    """One input record: its 0-based ``index`` among records, the 1-based ``line`` (JSONL) or ``None`` (JSON array),
    and either ``value`` or ``error`` (an :class:`InputError` naming file and line)."""

    index: int
    line: int | None
    value: Any = None
    error: InputError | None = None


def read_records(path: str | os.PathLike) -> Iterator[Record]:
    """Records of a JSONL file or of a JSON array file (ToolACE ships one), one at a time.

    A blank line is skipped. A line that is not JSON yields a :class:`Record` with ``error`` set and reading goes
    on. A file that cannot be read at all (missing, not UTF-8, a JSON document that is neither an array nor
    JSONL) raises :class:`InputError`.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path=p) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a .jsonl or .json file", path=p) from None
    except UnicodeDecodeError as e:
        line = p.read_bytes()[: e.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text ({e.reason} at byte {e.start})", path=p, line=line) from None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as e:
            offset = len(text) - len(stripped)
            line = text[: offset + e.pos].count("\n") + 1
            raise InputError(f"not valid JSON: {e.msg}", path=p, line=line) from None
        for i, value in enumerate(data):
            yield Record(i, None, value)
        return
    index = 0
    for lineno, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            yield Record(index, lineno, json.loads(raw))
        except json.JSONDecodeError as e:
            yield Record(index, lineno, error=InputError(f"not valid JSON ({e.msg}, column {e.colno})", path=p,
                                                          line=lineno))
        index += 1


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    """Write rows to ``path`` atomically (a temp file, then rename); returns the row count."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(dumps_line(row) + "\n")
            n += 1
    os.replace(tmp, p)
    return n


class JsonlAppender:
    """Append-only JSONL output that survives being killed.

    >>> with JsonlAppender("out.jsonl") as out:          # doctest: +SKIP
    ...     for i in range(n):
    ...         if sample_id(i) in out.ids: continue     # written by an earlier, interrupted run
    ...         out.write(make_sample(i))

    On open, a last line without its newline (the write that was cut) is removed, and so is any line that is not
    JSON; ``ids`` holds the ``id`` of every complete line and ``rows`` their values (``keep_rows=True``). Each
    ``write`` flushes (``fsync=True`` also syncs to disk) so the file on disk is always a prefix of the final file.
    """

    def __init__(self, path: str | os.PathLike, *, keep_rows: bool = False, fsync: bool = False, key: str = "id"):
        self.path = Path(path)
        self.key, self.fsync = key, fsync
        self.ids: set[Any] = set()
        self.rows: list[Any] = []
        self.recovered_torn_line = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        good = 0
        if self.path.exists():
            data = self.path.read_bytes()
            pos = 0
            while pos < len(data):
                end = data.find(b"\n", pos)
                if end < 0:  # torn last line
                    self.recovered_torn_line = True
                    break
                try:
                    obj = json.loads(data[pos:end].decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    self.recovered_torn_line = True
                    break
                self.ids.add(_hashable(obj.get(key)) if isinstance(obj, dict) else None)
                if keep_rows:
                    self.rows.append(obj)
                pos = good = end + 1
            if good != len(data):
                with open(self.path, "r+b") as f:
                    f.truncate(good)
        self.resumed = good > 0
        self._f = open(self.path, "a", encoding="utf-8")

    def __contains__(self, sample_id: Any) -> bool:
        return _hashable(sample_id) in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def write(self, obj: dict[str, Any]) -> None:
        self._f.write(dumps_line(obj) + "\n")
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())
        self.ids.add(_hashable(obj.get(self.key)))

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def stable_digest(*parts: Any) -> bytes:
    """SHA-256 of the parts (``str`` of each, joined by U+001F): the same in every process, unlike ``hash()``, which
    is salted per process. Every per-sample seed of the synthesis stages comes from it."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()


def seeded_rng(*parts: Any) -> random.Random:
    """A ``random.Random`` seeded from :func:`stable_digest` of the parts: same parts, same stream."""
    return random.Random(int.from_bytes(stable_digest(*parts)[:16], "big"))


def leaf_values(value: Any) -> Iterator[Any]:
    """Every scalar inside nested dicts / lists / tuples (dict values, not keys), ``None`` left out."""
    if isinstance(value, dict):
        for v in value.values():
            yield from leaf_values(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from leaf_values(v)
    elif value is not None:
        yield value


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """A JSON document (stats, a report), indented, parent folders made."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def report_quarantine(out: str | os.PathLike) -> int:
    """Print how many records a stage quarantined next to ``out`` (``<out>.quarantine.jsonl``); returns the count."""
    path = Path(str(out) + ".quarantine.jsonl")
    if not path.exists():
        return 0
    n = sum(1 for line in path.read_bytes().split(b"\n") if line.strip())
    print(f"quarantined: {n} (see {path})")
    return n


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value
