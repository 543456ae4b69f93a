"""JSONL in and out for every stage (synth, bfcl, train): crash-safe appends, resumable runs, errors naming file:line.

Every stage (pool, dialogs, verify) writes one JSON object per line with a stable ``id`` and flushes after each
line, so a run killed at any moment loses at most the line being written. Re-running the same command opens the
output with :class:`JsonlAppender`, which drops a torn last line, reports the ids already written, and appends the
rest: no sample is lost or duplicated, and because each sample is generated from ``(seed, index)`` alone the resumed
file is byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import io
import json
import marshal
import os
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

__all__ = ["InputError", "JsonlAppender", "QUARANTINE_SUFFIX", "Quarantine", "Record", "bounded_text", "check_own_json",
           "check_own_output", "dumps_line", "dumps_record", "leaf_values", "quarantine_path", "read_records",
           "redact_secrets", "report_quarantine", "seeded_rng", "stable_digest", "write_json", "write_jsonl"]


class InputError(ValueError):
    """A problem with one input record (or the whole file), located as ``FILE:LINE: message``."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, line: int | None = None):
        self.message, self.path, self.line = message, None if path is None else str(path), line
        where = self.path or "<input>"
        super().__init__(f"{where}:{line}: {message}" if line is not None else f"{where}: {message}")


def dumps_line(obj: Any) -> str:
    """The one serialisation every stage uses (same object, same bytes): compact, UTF-8, key order kept."""
    return _LINE_ENCODER(obj)


# json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")) without building an encoder per call (json.dumps does
# for any non-default option)
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


def dumps_record(row: Any, reuse: str = "tools", texts: list[str] | None = None) -> str:
    """:func:`dumps_line` of ``row``, byte for byte, with each element of the list ``row[reuse]`` (a sample's tool
    definitions, the same few thousand across a whole file) encoded once per distinct content.

    JSON text composes: an object's text is ``{`` + ``"key": value`` texts joined by ``, `` + ``}`` and a list's
    likewise, each value's text the same wherever it stands; so the parts, encoded alone and joined, are the
    whole's text. An element is found again by its marshal bytes (format 2: no back-references, so they depend on
    the content only): equal bytes are equal content of equal types, key order included, hence equal JSON text. A
    row or element that is not plain data is encoded whole. ``texts``: the elements' texts when the caller has them
    (each the :func:`dumps_line` of its element, as a sample's tools keep theirs: ``Sample.tool_lines``)."""
    items = row.get(reuse) if type(row) is dict else None
    if type(items) is not list or not all(type(k) is str for k in row):
        return _LINE_ENCODER(row)
    parts = []
    for k, v in row.items():
        if k == reuse:
            given = texts is not None and len(texts) == len(v)
            text = "[" + ", ".join(texts if given else map(_encoded_part, v)) + "]"
        else:
            text = _LINE_ENCODER(v)
        parts.append(f"{_LINE_ENCODER(k)}: {text}")
    return "{" + ", ".join(parts) + "}"


_PARTS: dict[bytes, str] = {}
_PARTS_MAX = 20_000  # distinct elements remembered (a pool's tools; cleared when full)


def _encoded_part(value: Any) -> str:
    try:
        key = marshal.dumps(value, 2)
    except ValueError:  # not plain data
        return _LINE_ENCODER(value)
    text = _PARTS.get(key)
    if text is None:
        if len(_PARTS) >= _PARTS_MAX:
            _PARTS.clear()
        text = _PARTS[key] = _LINE_ENCODER(value)
    return text


@dataclass
class Record:
    """One input record: its 0-based ``index`` among records, the 1-based ``line`` (JSONL) or ``None`` (JSON array),
    and either ``value`` or ``error`` (an :class:`InputError` naming file and line). A record with an error keeps
    the line as read in ``raw`` (bytes that are not UTF-8 as ``\\xNN`` escapes), for the quarantine file."""

    index: int
    line: int | None
    value: Any = None
    error: InputError | None = None
    raw: str | None = None


def _json_problem(e: Exception) -> str:
    """What was wrong with a JSON text, for every way ``json.loads`` fails: bad syntax, an integer of more than
    4,300 digits (a plain ``ValueError``), nesting deep enough to exhaust the stack (``RecursionError``)."""
    if isinstance(e, json.JSONDecodeError):
        return f"not valid JSON ({e.msg}, column {e.colno})"
    if isinstance(e, RecursionError):
        return "not readable JSON (nested too deeply)"
    return f"not readable JSON ({bounded_text(str(e), 200)})"


def read_records(path: str | os.PathLike) -> Iterator[Record]:
    """Records of a JSONL file or of a JSON array file (ToolACE ships one), one at a time.

    A JSONL file is read line by line, so memory does not grow with the file. A blank line is skipped. A JSONL line
    that is not JSON, or not UTF-8, or holds JSON that Python will not read (an integer of more than 4,300 digits,
    nesting thousands deep) yields a :class:`Record` with ``error`` (naming ``FILE:LINE``) and ``raw`` set, and
    reading goes on. A file that cannot be read at all (missing, a directory, a JSON array document that does not
    parse as a whole) raises :class:`InputError`. A JSON array is one document: it is read whole.
    """
    p = Path(path)
    try:
        f = open(p, "rb")
    except FileNotFoundError:
        raise InputError("file not found", path=p) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a .jsonl or .json file", path=p) from None
    except OSError as e:
        raise InputError(f"cannot read the file: {e.strerror or e}", path=p) from None
    with f:
        try:
            if not f.seekable():  # a pipe (<(...), /dev/stdin): read it whole, as there is no going back
                f = io.BytesIO(f.read())
            is_array = _starts_with_bracket(f)
            if is_array:
                data = f.read()
        except OSError as e:
            raise InputError(f"cannot read the file: {e.strerror or e}", path=p) from None
        if not is_array:
            yield from _jsonl_records(p, f)
            return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:  # one JSON document: no line stands alone
        line = data[: e.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text ({e.reason} at byte {e.start})", path=p, line=line) from None
    stripped = text.lstrip("\ufeff \t\r\n")
    try:
        values = json.loads(stripped)
    except json.JSONDecodeError as e:
        offset = len(text) - len(stripped)
        line = text[: offset + e.pos].count("\n") + 1
        raise InputError(f"not valid JSON: {e.msg}", path=p, line=line) from None
    except (ValueError, RecursionError) as e:
        raise InputError(_json_problem(e), path=p) from None
    del data, text, stripped
    for i, value in enumerate(values):
        yield Record(i, None, value)


_LEADING = b"\xef\xbb\xbf \t\r\n"  # what may come before a JSON array's '[' (a BOM, whitespace)


def _starts_with_bracket(f: Any) -> bool:
    """Whether a binary file's first character past a BOM and whitespace is ``[`` (a JSON array document); the file
    is left at its start."""
    try:
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                return False
            rest = chunk.lstrip(_LEADING)
            if rest:
                return rest.startswith(b"[")
    finally:
        f.seek(0)


def _jsonl_records(p: Path, lines: Iterable[bytes]) -> Iterator[Record]:
    """The records of JSONL lines (``bytes``, as a binary file yields them: each line is decoded alone, so one that
    is not UTF-8 is an error of its own line)."""
    index = 0
    for lineno, raw_bytes in enumerate(lines, 1):
        if raw_bytes.endswith(b"\n"):
            raw_bytes = raw_bytes[:-1]
        try:
            raw = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as e:
            yield Record(index, lineno, raw=raw_bytes.decode("utf-8", "backslashreplace"),
                         error=InputError(f"not UTF-8 text ({e.reason} at column {e.start + 1})", path=p, line=lineno))
            index += 1
            continue
        if not raw or raw.isspace():  # a blank line (not raw.strip(), which copies the line)
            continue
        try:
            yield Record(index, lineno, json.loads(raw))
        except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
            yield Record(index, lineno, raw=raw, error=InputError(_json_problem(e), path=p, line=lineno))
        index += 1


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any], *, own: Callable[[Any], bool] | None = None,
                what: str = "output") -> int:
    """Write rows to ``path`` atomically (a temp file, then rename); returns the row count. With ``own``, an existing
    ``path`` is first checked to be this kind of output (:func:`check_own_output`), else :class:`InputError`."""
    p = Path(path)
    if own is not None:
        check_own_output(p, own, what)
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
    JSON; with ``own`` (a test of a record: is it one of this output's?), a file whose first record is not this
    output's raises :class:`InputError` first, untouched (see :func:`check_own_output`). ``ids`` holds the ``id``
    of every complete line, ``id_counts`` how many lines carry each (``count_ids=True``) and ``rows`` their values
    (``keep_rows=True``); the file is read line by line. ``reuse``: a field whose list elements repeat from line to
    line (``"tools"``), written by :func:`dumps_record` (the same bytes, less work). Each ``write`` flushes
    (``fsync=True`` also syncs to disk) so the file on disk is always a prefix of the final file.
    """

    def __init__(self, path: str | os.PathLike, *, keep_rows: bool = False, fsync: bool = False, key: str = "id",
                 own: Callable[[Any], bool] | None = None, what: str = "output", count_ids: bool = False,
                 reuse: str | None = None):
        self.path = Path(path)
        if own is not None:  # before anything is truncated: never write over a file that is not this output
            check_own_output(self.path, own, what)
        self.key, self.fsync = key, fsync
        self.reuse = reuse  # a field whose list elements repeat across lines: see dumps_record
        self.ids: set[Any] = set()
        self.id_counts: Counter = Counter()  # with count_ids: how many complete lines carry each id
        self.rows: list[Any] = []
        self.recovered_torn_line = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        good = 0
        if self.path.exists():
            with open(self.path, "rb") as f:  # line by line: memory does not grow with the file
                size = os.fstat(f.fileno()).st_size
                for line in f:
                    if not line.endswith(b"\n"):  # torn last line
                        self.recovered_torn_line = True
                        break
                    try:
                        obj = json.loads(line[:-1].decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError):
                        self.recovered_torn_line = True
                        break
                    sid = _hashable(obj.get(key)) if isinstance(obj, dict) else None
                    self.ids.add(sid)
                    if count_ids:
                        self.id_counts[sid] += 1
                    if keep_rows:
                        self.rows.append(obj)
                    good += len(line)
            if good != size:
                with open(self.path, "r+b") as f:
                    f.truncate(good)
        self.resumed = good > 0
        self._f = open(self.path, "a", encoding="utf-8")

    def __contains__(self, sample_id: Any) -> bool:
        return _hashable(sample_id) in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def write(self, obj: dict[str, Any], texts: list[str] | None = None) -> None:
        """Append ``obj`` as one line; ``texts``: see :func:`dumps_record` (with ``reuse``)."""
        self._f.write((dumps_record(obj, self.reuse, texts) if self.reuse else dumps_line(obj)) + "\n")
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


# =====================================================================================================================
# Never writing over what is not ours
# =====================================================================================================================

_PROBE_BYTES = 64 << 20  # the most of a first line (or a JSON document) read to tell whether a file is ours


def _first_line(path: Path) -> tuple[bytes, bool] | None:
    """The first non-blank line of a file and whether it ended with a newline; None for an empty (or blank) file."""
    with open(path, "rb") as f:
        while True:
            line = f.readline(_PROBE_BYTES)
            if not line:
                return None
            if line.strip():
                return line.rstrip(b"\r\n"), line.endswith(b"\n")


def check_own_output(path: str | os.PathLike, own: Callable[[Any], bool], what: str) -> None:
    """Refuse (:class:`InputError`) to write JSONL over a file that is not this command's output.

    A file is this command's own output, safe to resume or replace, when it does not exist, is empty, or its first
    line is a JSON record that ``own`` accepts (``what`` names that kind of record in the error, e.g. "an API pool
    (funrl pool)"); a first line cut off without its newline that starts like a record (``{``) is a run killed
    while writing its first line, and counts as ours. Anything else (notes, another command's file, a directory)
    is left untouched and the error says so.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"is a directory, not a file to write {what} to", path=p)
    if not p.exists():
        return
    first = _first_line(p)
    if first is None:
        return
    line, complete = first
    if not complete and line.lstrip(b"\xef\xbb\xbf \t").startswith(b"{"):
        return
    try:
        record = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        record = _NOT_JSON
    if record is not _NOT_JSON and own(record):
        return
    seen = "not JSON" if record is _NOT_JSON else f"a JSON {type(record).__name__} that is not {what}"
    raise InputError(f"exists and is not {what} (its first line is {seen}); refusing to overwrite it: choose "
                     "another output path or remove the file", path=p, line=1)


def check_own_json(path: str | os.PathLike, own: Callable[[Any], bool], what: str) -> None:
    """:func:`check_own_output` for a JSON document (a report, statistics): an existing non-empty file must parse as
    JSON that ``own`` accepts, else :class:`InputError` and the file is left untouched."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"is a directory, not a file to write {what} to", path=p)
    if not p.exists() or p.stat().st_size == 0:
        return
    ok = False
    if p.stat().st_size <= _PROBE_BYTES:
        try:
            ok = bool(own(json.loads(p.read_bytes().decode("utf-8"))))
        except (ValueError, RecursionError):
            ok = False
    if not ok:
        raise InputError(f"exists and is not {what}; refusing to overwrite it: choose another path or remove the "
                         "file", path=p)


_NOT_JSON = object()


# =====================================================================================================================
# Quarantine: input lines a command could not use, kept beside its output
# =====================================================================================================================

QUARANTINE_SUFFIX = ".quarantine.jsonl"
QUARANTINE_TEXT_CHARS = 2000  # how much of a quarantined line is kept (after redaction)
QUARANTINE_ERROR_CHARS = 1000  # how much of an error message is kept (after redaction)
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL", re.I)
_MIN_SECRET_CHARS = 8  # shorter values ("1", "true") would redact ordinary text


def quarantine_path(out: str | os.PathLike) -> Path:
    """Where a command keeps what it could not use: ``<out>.quarantine.jsonl``, beside its output ``out`` (the path
    given to ``--out``, a file or a folder)."""
    return Path(str(out) + QUARANTINE_SUFFIX)


def redact_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret replaced by ``***``: the given ``secrets`` and the value of every environment
    variable whose name says it holds one (``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSW*``, ...; values of 8+
    characters). Redact *before* cutting a text short, or a cut key survives in part."""
    values = {v for v in secrets if v}
    values.update(v for k, v in os.environ.items() if len(v) >= _MIN_SECRET_CHARS and _SECRET_NAME.search(k))
    for v in sorted(values, key=len, reverse=True):  # a longer secret first: one may contain another
        if v in text:
            text = text.replace(v, "***")
    return text


def bounded_text(text: str, limit: int, secrets: Iterable[str | None] = ()) -> str:
    """``text`` redacted (:func:`redact_secrets`), then cut to ``limit`` characters with a note of how many more
    there were: redaction always comes first, so no part of a secret survives the cut."""
    text = redact_secrets(text, secrets)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


class Quarantine:
    """``<out>.quarantine.jsonl`` (:func:`quarantine_path`): one record per input line a command could not use.

    The one convention of every ``funrl`` command that reads JSONL: such a line is reported on stderr as
    ``FILE:LINE: error`` and quarantined as ``{"id": "input:FILE:LINE", "stage": "input", "file", "line", "error",
    "text"}`` (``text``: the line as read, secrets redacted, at most :data:`QUARANTINE_TEXT_CHARS` characters;
    bytes that are not UTF-8 as ``\\xNN``). A record of a JSON array file has ``"line": null`` and ``"record"``,
    its 0-based index. The file is created only when there is something to keep, and a re-run does not add a line
    twice (the file is append-only and keyed by ``id``, as every output). LLM stages keep the replies they gave up
    on in the same file (their ids are sample ids).
    """

    def __init__(self, out: str | os.PathLike):
        self.path = quarantine_path(out)
        self._app: JsonlAppender | None = None

    def add(self, error: InputError | str, *, file: str | os.PathLike, line: int | None, text: str | None,
            index: int | None = None) -> None:
        """Quarantine one input line (or record ``index`` of a JSON array when ``line`` is None)."""
        where = f"{file}:{line}" if line is not None else f"{file}[{index}]"
        rid = f"input:{where}"
        if self._app is None:
            self._app = JsonlAppender(self.path)
        if rid in self._app:
            return
        message = error.message if isinstance(error, InputError) else str(error)
        row: dict[str, Any] = {"id": rid, "stage": "input", "file": str(file), "line": line}
        if line is None:
            row["record"] = index
        row["error"] = bounded_text(message, QUARANTINE_ERROR_CHARS)
        row["text"] = None if text is None else bounded_text(text, QUARANTINE_TEXT_CHARS)
        self._app.write(row)

    def add_record(self, rec: Record, file: str | os.PathLike, error: InputError | str | None = None) -> None:
        """Quarantine a :class:`Record` of :func:`read_records`: its own error (or ``error``), its raw line (or
        its value as JSON when it parsed but was not usable)."""
        text = rec.raw if rec.raw is not None else _as_text(rec.value)
        self.add(error if error is not None else rec.error, file=file, line=rec.line, text=text, index=rec.index)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()

    def __enter__(self) -> "Quarantine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return dumps_line(value)
    except (TypeError, ValueError):
        return repr(value)


def report_quarantine(out: str | os.PathLike) -> int:
    """Print how many records a stage quarantined next to ``out`` (``<out>.quarantine.jsonl``); returns the count."""
    path = quarantine_path(out)
    if not path.exists():
        return 0
    n = sum(1 for line in path.read_bytes().split(b"\n") if line.strip())
    print(f"quarantined: {n} (see {path})")
    return n


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value
