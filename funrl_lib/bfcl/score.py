"""Score a BFCL result file (``{"id": ..., "result": "<raw model text>"}`` per line) for one category.

One verdict per input line, in input order. A line that cannot be scored (not JSON, no id, no result, an id that is
not in the category, an id seen before) gets a verdict with a ``funrl:`` error type and a message naming the file and
line; every other line is still scored. Accuracy is over the scored lines; the category size is reported beside it so
a partial file is visible as such.

Two ways of decoding, as BFCL has: prompt style (Python-list syntax, BFCL's prompting models; the default) and FC
style (``fc=True``: Hermes/Qwen ``<tool_call>`` blocks decoded as BFCL's ``QwenFCHandler`` does; see
:mod:`.checker`). BFCL's own convention tells them apart by the model's name: registry names ending in ``-FC`` are
function-calling models; :func:`is_fc_model_name` applies it to a result folder's name.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from ..io import read_records
from .checker import score_entry
from .data import BFCLEntry, load_category

__all__ = ["FC_SUFFIX", "LineProblem", "ScoreReport", "StreamSink", "current_sink", "is_fc_model_name",
           "quarantine_lines", "results_lines", "score_lines", "score_result_lines", "score_results_file",
           "streaming_into"]

FC_SUFFIX = "-FC"  # BFCL's registry names FC models "<model>-FC"; funrl names result folders the same way


def is_fc_model_name(name: str) -> bool:
    """BFCL's convention: a model (result folder) whose name ends in ``-FC`` is a function-calling model, whose
    output is decoded FC style (case-sensitive, as BFCL's names)."""
    return name.endswith(FC_SUFFIX)


@dataclass
class ScoreReport:
    category: str
    category_size: int
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "<file>:<line>: message", one per unscored line
    # (line, message, the line as read) per unscored line, for the quarantine file (see quarantine_lines)
    unscored: list[tuple[int, str, str]] = field(default_factory=list, repr=False)
    source: str = "<results>"
    lines_read: int = 0  # non-blank lines
    # Streamed (see StreamSink): verdicts and unscored lines go to the sink as they come, and only counts stay here
    sink: "StreamSink | None" = field(default=None, repr=False, compare=False)
    _counts: Counter = field(default_factory=Counter, repr=False, compare=False)  # scored, correct, problems
    _errors: Counter = field(default_factory=Counter, repr=False, compare=False)

    def add(self, verdict: dict[str, Any], problem: tuple[int, str, str] | None = None) -> None:
        """Record one line's verdict, and for a line that could not be scored ``(line, message, the line as
        read)``: kept in the lists, or (streamed) counted and handed to the sink."""
        if self.sink is None:
            self.verdicts.append(verdict)
            if problem is not None:
                self.problems.append(f"{self.source}:{problem[0]}: {problem[1]}")
                self.unscored.append(problem)
            return
        self._counts["scored"] += not str(verdict.get("error_type") or "").startswith("funrl:")
        self._counts["correct"] += bool(verdict["valid"])
        if not verdict["valid"]:
            self._errors[verdict["error_type"]] += 1
        self.sink.verdict(verdict)
        if problem is not None:
            self._counts["problems"] += 1
            text = f"{self.source}:{problem[0]}: {problem[1]}"
            if len(self.problems) < self.sink.keep_problems:
                self.problems.append(text)
            self.sink.problem(self, problem, text)

    @property
    def scored(self) -> int:
        if self.sink is not None:
            return self._counts["scored"]
        return sum(1 for v in self.verdicts if not str(v.get("error_type") or "").startswith("funrl:"))

    @property
    def correct(self) -> int:
        if self.sink is not None:
            return self._counts["correct"]
        return sum(1 for v in self.verdicts if v["valid"])

    @property
    def problem_count(self) -> int:
        """Lines that could not be scored (streamed: all of them, where ``problems`` keeps the first few)."""
        return self._counts["problems"] if self.sink is not None else len(self.problems)

    @property
    def accuracy(self) -> float:
        return self.correct / self.scored if self.scored else 0.0

    @property
    def error_counts(self) -> Counter:
        if self.sink is not None:
            return Counter(self._errors)
        return Counter(v["error_type"] for v in self.verdicts if not v["valid"])

    @property
    def missing(self) -> int:
        return self.category_size - self.scored

    def summary(self) -> str:
        lines = [f"{self.category}: {self.correct}/{self.scored} correct, accuracy {self.accuracy:.4f}"
                 f" ({self.scored} of {self.category_size} entries scored"
                 + (f"; {self.missing} entries have no result line" if self.missing else "") + ")"]
        if self.problem_count:
            lines.append(f"{self.problem_count} line(s) not scored (see messages above)")
        for error_type, n in self.error_counts.most_common():
            lines.append(f"  {n:6d}  {error_type}")
        return "\n".join(lines)


class LineProblem(Exception):
    """Raised by a ``check`` of :func:`score_lines`: the line cannot be scored (reported, not counted)."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type, self.message = error_type, message


def score_lines(category: str, lines: Iterable[str], entries: dict[str, Any],
                check: Callable[[Any, Any], dict[str, Any]], *, source: str = "<results>",
                sink: "StreamSink | None" = None) -> ScoreReport:
    """The engine every BFCL scorer shares: parse each result line, report the ones that cannot be scored as
    ``funrl:`` problems naming ``source:line`` (not JSON, no id or result, unknown or repeated id, or a
    :class:`LineProblem` from ``check``), and ask ``check(entry, result)`` for the verdict of the others. With a
    ``sink`` (default: :func:`current_sink`) nothing per line is kept: see :class:`StreamSink`."""
    report = ScoreReport(category, len(entries), source=source, sink=sink if sink is not None else current_sink())
    first_seen: dict[str, int] = {}
    # not io.read_records: lines come from any source (a file, a list), each bad one reported in the score's format
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        report.lines_read += 1

        def problem(error_type: str, message: str, entry_id: Any = None) -> None:
            report.add({"id": entry_id, "valid": False, "error_type": error_type, "line": lineno, "error": message},
                       (lineno, message, _as_read(line)))

        bad = _NOT_UTF8.search(line)  # bytes that are not UTF-8, kept as surrogate escapes by results_lines
        if bad:
            problem("funrl:malformed_line", f"not UTF-8 text (byte 0x{ord(bad.group()) - 0xDC00:02x} at column "
                                            f"{bad.start() + 1}); line not scored")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            problem("funrl:malformed_line", f"not valid JSON ({e.msg} at column {e.colno}); line not scored")
            continue
        except (ValueError, RecursionError) as e:  # an integer of more than 4,300 digits; nesting thousands deep
            why = "nested too deeply" if isinstance(e, RecursionError) else str(e)[:200]
            problem("funrl:malformed_line", f"not readable JSON ({why}); line not scored")
            continue
        if not isinstance(row, dict):
            problem("funrl:malformed_line", f"expected a JSON object, got {type(row).__name__}; line not scored")
            continue
        entry_id = row.get("id")
        if not isinstance(entry_id, str):
            problem("funrl:malformed_line", f"missing or non-string \"id\" (got {_short(entry_id)}); line not scored")
            continue
        if "result" not in row:
            problem("funrl:malformed_line", f"{_short(entry_id, repr_=False)}: missing \"result\"; line not scored",
                    entry_id)
            continue
        entry = entries.get(entry_id)
        if entry is None:
            problem("funrl:unknown_id", f"id {_short(entry_id)} is not in BFCL v4 {category}; line not scored",
                    entry_id)
            continue
        if entry_id in first_seen:
            problem("funrl:duplicate_id", f"id {_short(entry_id)} already scored at line {first_seen[entry_id]}; this "
                                          "line not scored", entry_id)
            continue
        try:
            verdict = check(entry, row["result"])
        except LineProblem as p:
            problem(p.error_type, f"{_short(entry_id, repr_=False)}: {p.message}; line not scored", entry_id)
            continue
        first_seen[entry_id] = lineno
        report.add({"id": entry_id, **verdict})
    return report


class StreamSink:
    """Where a streamed :class:`ScoreReport` puts each line instead of keeping it, so that scoring a file holds the
    same memory however long the file is (``funrl bfcl evaluate``): each verdict is written at once to
    ``verdicts_dir/<category>.jsonl`` (through a ``.tmp`` file, replaced when the category is done: :meth:`done`),
    each line that could not be scored goes to ``quarantine`` (a :class:`funrl_lib.io.Quarantine`) and its
    ``FILE:LINE`` message to ``on_problem``; the report keeps counts, and the first ``keep_problems`` messages.

    Every scorer (single-turn, Java/JS, multi-turn, agentic, format sensitivity) goes through :func:`score_lines`,
    which picks the sink up from :func:`streaming_into` (a context variable) when none is passed, so that none of
    them needs an argument for it. Verdicts of a category whose summary needs them all (format sensitivity) are
    read back from the file (:meth:`read_verdicts`), line by line."""

    def __init__(self, verdicts_dir: str | os.PathLike, quarantine: Any = None,
                 on_problem: Callable[[str], None] | None = None, keep_problems: int = 100):
        self.verdicts_dir = Path(verdicts_dir)
        self.quarantine, self.on_problem, self.keep_problems = quarantine, on_problem, keep_problems
        self.quarantined = 0
        self._file: IO[str] | None = None
        self._path: Path | None = None

    def start(self, category: str) -> None:
        """Begin the verdicts of ``category`` (the previous one must be :meth:`done`)."""
        self.verdicts_dir.mkdir(parents=True, exist_ok=True)
        self._path = self.verdicts_dir / f"{category}.jsonl"
        self._file = open(self._path.with_name(self._path.name + ".tmp"), "w", encoding="utf-8")

    def verdict(self, verdict: dict[str, Any]) -> None:
        if self._file is None:
            raise RuntimeError("StreamSink.verdict before start(category)")
        self._file.write(json.dumps(verdict, ensure_ascii=False) + "\n")

    def problem(self, report: ScoreReport, problem: tuple[int, str, str], text: str) -> None:
        if self.on_problem is not None:
            self.on_problem(text)
        if self.quarantine is not None:
            lineno, message, raw = problem
            self.quarantine.add(message, file=report.source, line=lineno, text=raw)
            self.quarantined += 1

    def done(self) -> Path | None:
        """Close the category's verdicts and put the file in place; returns its path."""
        if self._file is None:
            return None
        self._file.close()
        os.replace(self._file.name, self._path)
        self._file = None
        return self._path

    def discard(self) -> None:
        """Drop the unfinished verdicts of a category that was not scored after all."""
        if self._file is not None:
            self._file.close()
            os.unlink(self._file.name)
            self._file = None

    def read_verdicts(self, category: str) -> Iterable[dict[str, Any]]:
        """The verdicts written for ``category``, one at a time."""
        for rec in read_records(self.verdicts_dir / f"{category}.jsonl"):
            if rec.error is not None:
                raise rec.error
            yield rec.value


_SINK: contextvars.ContextVar["StreamSink | None"] = contextvars.ContextVar("funrl_bfcl_sink", default=None)


def current_sink() -> "StreamSink | None":
    """The sink :func:`streaming_into` set for this context, if any."""
    return _SINK.get()


@contextlib.contextmanager
def streaming_into(sink: StreamSink, category: str) -> Iterator[StreamSink]:
    """Score ``category`` into ``sink`` (every :func:`score_lines` call inside uses it): its verdict file is put
    in place when the block ends normally, dropped when it raises."""
    sink.start(category)
    token = _SINK.set(sink)
    try:
        yield sink
    except BaseException:
        sink.discard()
        raise
    finally:
        _SINK.reset(token)
    sink.done()


def _short(value: Any, n: int = 120, *, repr_: bool = True) -> str:
    """``repr(value)`` (or ``str``) cut to ``n`` characters: a message about a line never grows with the line."""
    text = repr(value) if repr_ else str(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def score_result_lines(category: str, lines: Iterable[str], *, source: str = "<results>",
                       entries: dict[str, BFCLEntry] | None = None, data_dir: str | os.PathLike | None = None,
                       strip_thinking: bool = False, underscore_to_dot: bool = False,
                       fc: bool = False) -> ScoreReport:
    """Score BFCL result lines of one category; ``fc`` decodes them FC style (see the module docstring)."""
    if entries is None:
        entries = load_category(category, data_dir)

    def check(entry: BFCLEntry, result: Any) -> dict[str, Any]:
        return score_entry(entry, result, strip_thinking=strip_thinking, underscore_to_dot=underscore_to_dot,
                           fc=fc).to_json()

    return score_lines(category, lines, entries, check, source=source)


def score_results_file(category: str, path: str | os.PathLike, **kwargs: Any) -> ScoreReport:
    path = Path(path)
    with results_lines(path) as f:
        return score_result_lines(category, f, source=str(path), **kwargs)


# Lone surrogates U+DC80..U+DCFF: how Python's "surrogateescape" handler keeps bytes that are not UTF-8. Valid UTF-8
# never decodes to a surrogate, so one in a line read by results_lines means the file had a bad byte there.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def results_lines(path: str | os.PathLike) -> IO[str]:
    """A result file opened for :func:`score_lines`: text lines as ``open`` splits them, a byte that is not UTF-8
    kept as a surrogate escape so that its line (alone) becomes a ``FILE:LINE`` problem instead of the whole file
    failing to read."""
    return open(path, encoding="utf-8", errors="surrogateescape")


def _as_read(line: str) -> str:
    """The line as it was in the file: surrogate escapes shown as ``\\xNN``, the line end dropped."""
    return line.rstrip("\r\n").encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def quarantine_lines(report: ScoreReport, out: str | os.PathLike) -> int:
    """Keep the lines ``report`` could not score in ``<out>.quarantine.jsonl`` (funrl's one quarantine convention,
    :class:`funrl_lib.io.Quarantine`); returns how many."""
    from ..io import Quarantine

    with Quarantine(out) as q:
        for lineno, message, raw in report.unscored:
            q.add(message, file=report.source, line=lineno, text=raw)
    return len(report.unscored)


def write_verdicts(report: ScoreReport, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for verdict in report.verdicts:
            f.write(json.dumps(verdict, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
