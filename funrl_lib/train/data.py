"""Training rows for SFT and GRPO: TRL rows (``funrl export --to trl``) read from a file, or synthesized and verified
on the fly (``data.train`` null: only dialogs the verifier keeps become rows).

A row is ``{"id", "prompt": [messages], "completion": [assistant message], "tools": "<JSON>", "ground_truth":
"<JSON>", "category", "type"}`` (:func:`funrl_lib.synth.export.to_trl`). ``prepare_rows`` applies the config's
filters (dialog types, prompt length in tokens), holds out a share of dialogs (all decision turns of one dialog stay
on the same side), and writes both parts under ``<run_dir>/data/`` so SFT, GRPO and evaluation read the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ..io import InputError, read_records, stable_digest, write_jsonl
from .config import Config

__all__ = ["dialog_id", "held_out_apis", "load_rows", "prepare_rows", "rows_dataset"]

ROW_KEYS = ("prompt", "completion", "tools", "ground_truth")


def dialog_id(row_id: str) -> str:
    """``dlg-000012-t2`` → ``dlg-000012``: the dialog a decision turn belongs to."""
    head, sep, tail = str(row_id).rpartition("-t")
    return head if sep and tail.isdigit() else str(row_id)


def _synthesize(cfg: Config, counts: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """Rows of dialogs synthesized for this run **and verified** (ToolACE §2.3: both layers, with the pool's APIs
    executed), as ``funrl pool`` → ``dialogs`` → ``verify`` → ``export --to trl`` would make them: training never sees a
    dialog the verifier rejected. ``counts`` gets ``synthesized`` and ``rejected_by_verification``."""
    from ..synth.api_pool import build_pool
    from ..synth.dialogs import generate_dialogs
    from ..synth.export import export_rows
    from ..synth.verify import VerifyContext, verify_sample

    d = cfg.data
    pool = build_pool(d.synth_apis, seed=d.seed, progress=False)
    samples = generate_dialogs(pool, d.synth_dialogs, seed=d.seed, progress=False, complexity_mix=d.synth_complexity)
    ctx = VerifyContext(pool=pool)
    kept = [s for s in samples if verify_sample(s, ctx).kept]
    if counts is not None:
        counts.update(synthesized=len(samples), rejected_by_verification=len(samples) - len(kept))
    if not kept:
        raise ValueError(f"verification rejected all {len(samples)} synthesized dialogs; nothing to train on")
    return export_rows(kept, "trl")


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """TRL rows of a file; a file of dialogs (funrl / ToolACE / OpenAI format) is exported to TRL rows first."""
    records = list(read_records(path))
    for rec in records:
        if rec.error is not None:
            raise rec.error
    values = [rec.value for rec in records]
    if values and all(isinstance(v, dict) and all(k in v for k in ROW_KEYS) for v in values):
        for rec in records:
            for k in ("tools", "ground_truth"):
                if not isinstance(rec.value[k], str):
                    rec.value[k] = json.dumps(rec.value[k], ensure_ascii=False)
        return values
    from ..synth.export import export_rows
    from ..synth.sample import read_samples
    samples = []
    for _, sample, error in read_samples(str(path)):
        if sample is None:
            raise error or InputError(f"neither TRL rows (with {', '.join(ROW_KEYS)}) nor dialogs", path=path)
        samples.append(sample)
    return export_rows(samples, "trl")


def _fraction(*parts: Any) -> float:
    """A number in [0, 1) fixed by ``parts`` (the same in every process and run)."""
    return int.from_bytes(stable_digest(*parts)[:4], "big") / 2 ** 32


def held_out_apis(rows: Sequence[dict[str, Any]], fraction: float, seed: int = 0) -> set[str]:
    """The API names :func:`prepare_rows` holds out with ``holdout_by: api`` among the tools of ``rows``."""
    names = set().union(*(_tool_names(r) for r in rows))
    return {n for n in names if _fraction("holdout", "api", seed, n) < fraction}


def _tool_names(row: dict[str, Any]) -> set[str]:
    return {t.get("name", "") for t in json.loads(row["tools"])}


def _prompt_tokens(tokenizer: Any, prompt: Sequence[dict[str, Any]]) -> int:
    ids = tokenizer.apply_chat_template(list(prompt), tokenize=True, add_generation_prompt=True)
    if isinstance(ids, dict) or hasattr(ids, "input_ids"):
        ids = ids["input_ids"]
    return len(ids)


def prepare_rows(cfg: Config, tokenizer: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """(train rows, held-out rows, counts) for ``cfg.data``; cached in ``<run_dir>/data`` keyed by the settings."""
    d = cfg.data
    cache = cfg.run_dir / "data"
    key = stable_digest(json.dumps(vars(d), sort_keys=True), len(tokenizer)).hex()
    stamp = cache / "rows.json"
    if stamp.exists():
        info = json.loads(stamp.read_text())
        if info.get("key") == key:
            train = [r.value for r in read_records(cache / "train.jsonl")]
            held = [r.value for r in read_records(cache / "heldout.jsonl")]
            return train, held, info["counts"]
    counts: dict[str, int] = {}
    rows = load_rows(d.train) if d.train else _synthesize(cfg, counts)
    counts["rows"] = len(rows)
    if d.types:
        unknown = set(d.types) - {r.get("type") for r in rows}
        rows = [r for r in rows if r.get("type") in set(d.types)]
        counts["after_types"] = len(rows)
        if not rows:
            raise ValueError(f"data.types {d.types} left no rows (types absent from the data: {sorted(unknown)})")
    if d.max_prompt_tokens:
        rows = [r for r in rows if _prompt_tokens(tokenizer, r["prompt"]) <= d.max_prompt_tokens]
        counts["after_max_prompt_tokens"] = len(rows)
        if not rows:
            raise ValueError(f"data.max_prompt_tokens={d.max_prompt_tokens} left no rows")
    # digests decide the side, so the split depends neither on row order nor on the other rows
    unseen = held_out_apis(rows, d.holdout_fraction, d.seed) if d.holdout_by == "api" else set()
    held, train = [], []
    for r in rows:
        if d.holdout_by == "api":
            out = bool(_tool_names(r) & unseen)
        else:
            out = _fraction("holdout", "dialog", d.seed, dialog_id(r.get("id", ""))) < d.holdout_fraction
        (held if out else train).append(r)
    if d.max_rows is not None:
        train = train[: d.max_rows]
    counts.update(train=len(train), heldout=len(held))
    cache.mkdir(parents=True, exist_ok=True)
    write_jsonl(cache / "train.jsonl", train)
    write_jsonl(cache / "heldout.jsonl", held)
    stamp.write_text(json.dumps({"key": key, "counts": counts}, indent=1) + "\n")
    return train, held, counts


def rows_dataset(rows: Sequence[dict[str, Any]], *, with_completion: bool) -> Any:
    """A ``datasets.Dataset`` of the columns a trainer needs (``completion`` only for SFT)."""
    from datasets import Dataset
    keys = ["prompt", "completion"] if with_completion else ["prompt", "tools", "ground_truth", "category"]
    return Dataset.from_list([{k: r[k] for k in keys} for r in rows])
