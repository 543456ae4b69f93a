"""Running ToolACE's Self-Guided Dialog Generation (arXiv 2409.00920v2 §2.2) over a pool: ``n`` dialogs in index
order, programmatic (one sample at a time, streamed to ``out``) or with the LLM agents (samples run concurrently,
``asyncio.gather``, ``concurrency`` at a time, and are written in index order). Both resume a killed run (see
:mod:`.resume`); LLM quarantines go to ``<out>.quarantine.jsonl`` and are not retried on resume, and an LLM run
resumes byte-identically when its backend answers the same (the response cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ...io import InputError, JsonlAppender
from ..api_pool import ApiRecord
from ..sample import DIALOG_TYPES, Sample
from .builder import _Builder
from .llm_agents import _LLMDialogs, _Quarantine
from .mix import _plan_labels, _sample_id
from .model_guided import CHUNK, ModelGuide
from .resume import _check_resume, _Existing, _open_out, _progress_bar


def generate_dialogs(pool: Sequence[ApiRecord], n: int, seed: int = 0, *, mix: Any = None,
                     complexity_mix: Any = None, backend: Any = None, out: str | Path | None = None,
                     progress: bool = True, concurrency: int = 32, votes: int = 3,
                     quarantined: list | None = None, guide: ModelGuide | None = None) -> list[Sample]:
    """``n`` dialogs (``dlg-000000``...) from ``pool``; see the module docstring.

    ``mix`` / ``complexity_mix``: a dict or ``"single=.3,parallel=.15"`` text (default :data:`DEFAULT_MIX`,
    :data:`DEFAULT_COMPLEXITY_MIX`). ``backend``: ``None`` or a programmatic backend for the deterministic agents,
    an LLM backend for the prompted ones (``concurrency`` samples at a time, ``votes`` assistant generations per
    turn). ``out``: resumable JSONL (an existing file of another seed is refused); LLM quarantines go to
    ``<out>.quarantine.jsonl`` and, when ``quarantined`` is a list, are appended to it as ``{"id", "reason",
    "text"}``. ``guide``: steer the bands by a model's loss (:mod:`.model_guided`; programmatic agents only).
    Returns the samples in index order (quarantined indices are absent)."""
    if backend is not None and not getattr(backend, "is_programmatic", False):
        if guide is not None:
            raise ValueError("a complexity model steers the programmatic agents only; leave out the LLM backend")
        from ...backends import run_sync  # (only for an LLM: the programmatic path needs no event loop)

        return run_sync(agenerate_dialogs(pool, n, seed, mix=mix, complexity_mix=complexity_mix, backend=backend,
                                            out=out, progress=progress, concurrency=concurrency, votes=votes,
                                            quarantined=quarantined))
    return list(iter_dialogs(pool, n, seed, mix=mix, complexity_mix=complexity_mix, out=out, progress=progress,
                             guide=guide))


def iter_dialogs(pool: Sequence[ApiRecord], n: int, seed: int = 0, *, mix: Any = None, complexity_mix: Any = None,
                 out: str | Path | None = None, progress: bool = True, guide: ModelGuide | None = None
                 ) -> Iterator[Sample]:
    """The programmatic :func:`generate_dialogs` one sample at a time, in index order: each new sample is on disk
    (``out``) before it is yielded, and the ones an earlier run wrote are read back from ``out`` as their turn
    comes, so memory does not grow with ``n``. The checks (``n``, mix, feasibility, resume) run before the first
    sample. ``guide``: steer the bands by a model's loss (ToolACE Eq. 1, :mod:`.model_guided`); it is calibrated on
    the mix's types first."""
    if n < 0:
        raise ValueError("n must be >= 0")
    types, bands = _plan_labels(n, seed, mix, complexity_mix)
    builder = _Builder(pool, seed)
    builder.check_feasible(set(types))
    if guide is not None and n:
        guide.calibrate(builder, sorted(set(types), key=DIALOG_TYPES.index))
    app, existing = _open_out(out, seed) if out is not None else (None, None)
    if existing and guide is None:
        _check_resume(builder, existing.last, types, bands, out, app)
    elif existing:
        problem = guide.check_resume(existing.last, types, bands)
        if problem:
            app.close()
            raise InputError(f"{problem}; use another --out (or the same arguments as before)", path=out)
    if guide is not None:
        return _iter_dialogs(n, lambda ix: guide.steer(builder, ix, types, bands), CHUNK, app, existing, progress)
    return _iter_dialogs(n, lambda ix: [builder.make(i, types[i], bands[i]) for i in ix], 1, app, existing, progress)


def _iter_dialogs(n: int, make: Callable[[range], list[Sample]], chunk: int, app: JsonlAppender | None,
                  existing: _Existing | None, progress: bool) -> Iterator[Sample]:
    """Samples ``0..n-1`` in order, ``make`` building ``chunk`` indices at a time (1 for the programmatic agents;
    :data:`~.model_guided.CHUNK` when a model steers them together). A chunk with a sample missing from ``out`` is
    made whole (a steered chunk then scores the same batches as an uninterrupted run); its samples already in
    ``out`` are read back, not replaced."""
    bar = _progress_bar(n, sum(1 for i in range(n) if _sample_id(i) in existing) if existing else 0, progress)
    try:
        for start in range(0, n, chunk):
            indices = range(start, min(start + chunk, n))
            have = [existing is not None and _sample_id(i) in existing for i in indices]
            made = [] if all(have) else make(indices)
            for k, i in enumerate(indices):
                if have[k]:
                    yield Sample.from_dict(existing.row(_sample_id(i)))  # type: ignore[union-attr]
                    continue
                s = made[k]
                if app is not None:
                    app.write(s.to_dict(), texts=s.tool_lines())
                yield s
                bar.update(1)
    finally:
        bar.close()
        if app is not None:
            app.close()


async def agenerate_dialogs(pool: Sequence[ApiRecord], n: int, seed: int = 0, *, mix: Any = None,
                            complexity_mix: Any = None, backend: Any = None, out: str | Path | None = None,
                            progress: bool = True, concurrency: int = 32, votes: int = 3,
                            quarantined: list | None = None) -> list[Sample]:
    """:func:`generate_dialogs` as a coroutine (for a running event loop); LLM samples run ``concurrency`` at a
    time and are written in index order."""
    import asyncio

    if backend is None or getattr(backend, "is_programmatic", False):
        return generate_dialogs(pool, n, seed, mix=mix, complexity_mix=complexity_mix, backend=None, out=out,
                                progress=progress)
    if n < 0:
        raise ValueError("n must be >= 0")
    if votes < 1 or concurrency < 1:
        raise ValueError("votes and concurrency must be >= 1")
    types, bands = _plan_labels(n, seed, mix, complexity_mix)
    builder = _Builder(pool, seed)
    builder.check_feasible(set(types))
    llm = _LLMDialogs(builder, backend, seed, votes)
    app, existing = _open_out(out, seed) if out is not None else (None, None)
    qapp = JsonlAppender(str(out) + ".quarantine.jsonl") if out is not None else None
    done_q = set(qapp.ids) if qapp is not None else set()
    samples: dict[int, Sample] = {}
    todo = []
    for i in range(n):
        sid = _sample_id(i)
        if existing and sid in existing:
            samples[i] = Sample.from_dict(existing.row(sid))
        elif sid not in done_q:
            todo.append(i)
    bar = _progress_bar(n, n - len(todo), progress)

    async def one(i: int) -> Sample | dict:
        try:
            return await llm.sample(i, types[i], bands[i])
        except _Quarantine as q:
            return {"id": _sample_id(i), "type": types[i], "reason": q.reason, "text": q.text, "seed": seed}

    try:
        for start in range(0, len(todo), concurrency):
            batch = todo[start:start + concurrency]
            for i, res in zip(batch, await asyncio.gather(*[one(i) for i in batch])):
                if isinstance(res, Sample):
                    samples[i] = res
                    if app is not None:
                        app.write(res.to_dict())
                else:
                    if qapp is not None:
                        qapp.write(res)
                    if quarantined is not None:
                        quarantined.append(res)
                bar.update(1)
    finally:
        bar.close()
        for a in (app, qapp):
            if a is not None:
                a.close()
        await backend.aclose()
    return [samples[i] for i in sorted(samples)]
