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

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .checker import score_entry
from .data import BFCLEntry, load_category

__all__ = ["FC_SUFFIX", "LineProblem", "ScoreReport", "is_fc_model_name", "score_lines", "score_result_lines",
           "score_results_file"]

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

    @property
    def scored(self) -> int:
        return sum(1 for v in self.verdicts if not str(v.get("error_type") or "").startswith("funrl:"))

    @property
    def correct(self) -> int:
        return sum(1 for v in self.verdicts if v["valid"])

    @property
    def accuracy(self) -> float:
        return self.correct / self.scored if self.scored else 0.0

    @property
    def error_counts(self) -> Counter:
        return Counter(v["error_type"] for v in self.verdicts if not v["valid"])

    @property
    def missing(self) -> int:
        return self.category_size - self.scored

    def summary(self) -> str:
        lines = [f"{self.category}: {self.correct}/{self.scored} correct, accuracy {self.accuracy:.4f}"
                 f" ({self.scored} of {self.category_size} entries scored"
                 + (f"; {self.missing} entries have no result line" if self.missing else "") + ")"]
        if self.problems:
            lines.append(f"{len(self.problems)} line(s) not scored (see messages above)")
        for error_type, n in self.error_counts.most_common():
            lines.append(f"  {n:6d}  {error_type}")
        return "\n".join(lines)


class LineProblem(Exception):
    """Raised by a ``check`` of :func:`score_lines`: the line cannot be scored (reported, not counted)."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type, self.message = error_type, message


def score_lines(category: str, lines: Iterable[str], entries: dict[str, Any],
                check: Callable[[Any, Any], dict[str, Any]], *, source: str = "<results>") -> ScoreReport:
    """The engine every BFCL scorer shares: parse each result line, report the ones that cannot be scored as
    ``funrl:`` problems naming ``source:line`` (not JSON, no id or result, unknown or repeated id, or a
    :class:`LineProblem` from ``check``), and ask ``check(entry, result)`` for the verdict of the others."""
    report = ScoreReport(category, len(entries))
    first_seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue

        def problem(error_type: str, message: str, entry_id: Any = None) -> None:
            text = f"{source}:{lineno}: {message}"
            report.problems.append(text)
            report.verdicts.append({"id": entry_id, "valid": False, "error_type": error_type, "line": lineno,
                                    "error": message})

        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            problem("funrl:malformed_line", f"not valid JSON ({e.msg} at column {e.colno}); line not scored")
            continue
        if not isinstance(row, dict):
            problem("funrl:malformed_line", f"expected a JSON object, got {type(row).__name__}; line not scored")
            continue
        entry_id = row.get("id")
        if not isinstance(entry_id, str):
            problem("funrl:malformed_line", f"missing or non-string \"id\" (got {entry_id!r}); line not scored")
            continue
        if "result" not in row:
            problem("funrl:malformed_line", f"{entry_id}: missing \"result\"; line not scored", entry_id)
            continue
        entry = entries.get(entry_id)
        if entry is None:
            problem("funrl:unknown_id", f"id {entry_id!r} is not in BFCL v4 {category}; line not scored", entry_id)
            continue
        if entry_id in first_seen:
            problem("funrl:duplicate_id", f"id {entry_id!r} already scored at line {first_seen[entry_id]}; this "
                                          "line not scored", entry_id)
            continue
        try:
            verdict = check(entry, row["result"])
        except LineProblem as p:
            problem(p.error_type, f"{entry_id}: {p.message}; line not scored", entry_id)
            continue
        first_seen[entry_id] = lineno
        report.verdicts.append({"id": entry_id, **verdict})
    return report


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
    with open(path, encoding="utf-8") as f:
        return score_result_lines(category, f, source=str(path), **kwargs)


def write_verdicts(report: ScoreReport, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for verdict in report.verdicts:
            f.write(json.dumps(verdict, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
