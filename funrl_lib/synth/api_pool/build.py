"""Building the pool (ToolACE §2.1, tool self-evolution synthesis end to end): :func:`build_pool` runs adaptation and
evolution for API after API, programmatically or with an LLM, dedups by signature and name, and writes a resumable
JSONL file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from ...io import InputError, JsonlAppender
from .adaptation import _Builder
from .base import PoolError
from .llm import _build_llm
from .records import ApiRecord
from .tree import ApiTree, load_tree


def build_pool(n: int, seed: int = 0, *, backend: Any = None, tree: ApiTree | str | Path | None = None,
               out: str | Path | None = None, progress: bool = True) -> list[ApiRecord]:
    """Synthesize ``n`` APIs from ``seed``.

    ``backend`` ``None`` (or a programmatic backend) builds APIs from the tree and slot vocabulary; an LLM backend
    gets :data:`PROMPTS` ``"evolution"`` per API (same adaptation and indicators) and its replies are validated;
    a reply that stays malformed after the retries is written to ``<out>.quarantine.jsonl`` with the reason, and
    that API index is left out (ids keep their index, so ids may have gaps). Signatures and normalised names are
    unique: a collision regenerates the API (next attempt). Speciation with an LLM comes first when wanted:
    :func:`~.speciation.grow_tree` grows ``tree`` (ToolACE §2.1: domains → subdomains → functionalities), and its
    tree is passed here (``funrl pool --speciate-domains`` does both).

    ``out``: JSONL written one API per line as it is made. Re-running the same call on a partial file (killed at
    any point) keeps its complete lines, rebuilds the state they imply and appends the rest: the final file is
    byte-identical to an uninterrupted run's. A programmatic resume also checks that the existing lines are what
    this seed and tree produce (:class:`PoolError` otherwise, rather than mixing two runs in one file).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if tree is None or isinstance(tree, (str, Path)):
        tree = load_tree(tree)
    llm = backend is not None and not getattr(backend, "is_programmatic", False)
    builder = _Builder(tree, seed)
    appender = quarantine = None
    existing: dict[int, ApiRecord] = {}
    skipped: set[int] = set()
    if out is not None:
        try:
            appender = JsonlAppender(out, keep_rows=True, own=_is_pool_record, what="an API pool (funrl pool)")
        except InputError as e:
            raise PoolError(str(e)) from None
        for k, row in enumerate(appender.rows):
            rec = ApiRecord.from_dict(row, where=f"{out}:{k + 1}")
            m = re.fullmatch(r"api-(\d+)", rec.id)
            if not m:
                raise PoolError(f"{out}:{k + 1}: field 'id': {rec.id!r} is not an api-NNNNNN id of this builder")
            existing[int(m.group(1))] = rec
        beyond = [i for i in existing if i >= n]
        if beyond:
            appender.close()
            raise PoolError(f"{out}: holds {len(existing)} APIs, up to api-{max(beyond):06d}, more than --n {n}: "
                            "re-run with the --n that wrote it, or write to a new --out")
        if llm or Path(str(out) + ".quarantine.jsonl").exists():
            quarantine = JsonlAppender(str(out) + ".quarantine.jsonl")
            for qid in quarantine.ids:
                m = re.fullmatch(r"api-(\d+)", str(qid))
                if m:
                    skipped.add(int(m.group(1)))
        appender.rows = []
    bar = _progress(n, progress)
    try:
        if llm:
            _build_llm(builder, n, backend, existing, skipped, appender, quarantine, bar)
        else:
            _build_programmatic(builder, n, existing, appender, bar, out)
    finally:
        bar.close()
        if appender is not None:
            appender.close()
        if quarantine is not None:
            quarantine.close()
    return [r for r in builder.records if builder.index_of[r.id] < n]


def _is_pool_record(row: Any) -> bool:
    """Whether a JSON value looks like a line of a pool file (so ``--out`` may resume it)."""
    return isinstance(row, dict) and "tool" in row and "signature" in row


def _progress(n: int, enabled: bool) -> Any:
    from tqdm import tqdm
    return tqdm(total=n, desc="pool", unit="api", disable=not enabled, file=sys.stderr)


def _build_programmatic(builder: _Builder, n: int, existing: dict[int, ApiRecord], appender: Any, bar: Any,
                        out: Any) -> None:
    for i in range(n):
        attempt = 0
        while True:
            rec = builder.programmatic(builder.plan(i, attempt))
            if builder.duplicate_of(rec) is None:
                break
            attempt += 1
        if i in existing:
            if existing[i].to_dict() != rec.to_dict():
                raise PoolError(f"{out}: line for {rec.id} differs from what seed {builder.seed} and this tree "
                                f"produce: the file was written by another run (different --seed, --tree or "
                                f"version); write to a new --out")
        elif appender is not None:
            appender.write(rec.to_dict())
        builder.accept(rec, i)
        bar.update(1)
