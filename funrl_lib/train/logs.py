"""Reading a training run's ``log.jsonl`` (written by :func:`funrl_lib.train.run.jsonl_logger`), without torch.

Kept apart so that :mod:`funrl_lib.train.plots` and :mod:`funrl_lib.train.run` both use it without importing each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import read_records

__all__ = ["read_log"]


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a ``log.jsonl`` (a line that does not read, such as a torn last line from a kill mid-write, is
    skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    return [rec.value for rec in read_records(p) if rec.error is None]
