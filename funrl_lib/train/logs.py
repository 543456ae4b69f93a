"""Reading a training run's ``log.jsonl`` (written by :func:`funrl_lib.train.run.jsonl_logger`), without torch.

Kept apart so that :mod:`funrl_lib.train.plots` and :mod:`funrl_lib.train.run` both use it without importing each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["read_log"]


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a ``log.jsonl`` (a torn last line, from a kill mid-write, is skipped)."""
    out = []
    p = Path(path)
    if not p.exists():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
