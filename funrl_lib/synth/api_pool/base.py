"""Shared ground of the API pool, :mod:`funrl_lib.synth.api_pool` (ToolACE §2.1, Tool Self-Evolution Synthesis): where
the API context tree lives, the pool's two error types, the seeded generator every step draws from, and the bounds a
pool record may ask of the executor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...io import seeded_rng


def _tree_dir() -> Path:
    """``data/api_tree`` of the checkout (editable installs, notebooks); for a wheel install, the copy pip puts in
    ``<prefix>/share/funrl/api_tree`` (pyproject's data-files); ``FUNRL_API_TREE`` overrides both."""
    import os
    import sysconfig

    if os.environ.get("FUNRL_API_TREE"):
        return Path(os.environ["FUNRL_API_TREE"])
    checkout = Path(__file__).resolve().parents[3] / "data" / "api_tree"
    if checkout.is_dir():
        return checkout
    return Path(sysconfig.get_path("data")) / "share" / "funrl" / "api_tree"


TREE_DIR = _tree_dir()
SLOTS_FILE = "slots.yaml"


class PoolError(ValueError):
    """A broken tree/slot file or pool record; the message names the file (and line / field)."""


class ExecutionError(ValueError):
    """A call the API definition rejects; the message says precisely why (``missing required parameter 'city'``,
    ``unknown parameter 'foo'``, ``parameter 'guests': expected integer, got string '2'``, ...)."""


_rng = seeded_rng


# Bounds on what a pool record may ask of the executor (checked at load by ApiRecord.from_dict): a record is input,
# and ``impl.list_size: [50000000, 50000000]`` would otherwise make each call build fifty million results.
MAX_LIST_SIZE = 100  # elements of a returned list (the programmatic builder uses [1, 3])
MAX_SCHEMA_DEPTH = 32  # JSON nesting of a record's tool definition and return schema (the builder's reach 8 or so)


def _size_pair(v: Any) -> bool:
    """``[lo, hi]`` integers with ``0 <= lo <= hi <= MAX_LIST_SIZE``."""
    return (isinstance(v, (list, tuple)) and len(v) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v) and 0 <= v[0] <= v[1] <= MAX_LIST_SIZE)


def _shown(v: Any, n: int = 60) -> str:
    text = json.dumps(v, ensure_ascii=False, default=repr)
    return text if len(text) <= n else text[: n - 3] + "..."
