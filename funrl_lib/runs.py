"""Training the arms of a comparison, as ``funrl sft`` / ``funrl train`` would: the one loop that ``funrl demo``
(:mod:`funrl_lib.pipeline`), ``funrl study`` (:mod:`funrl_lib.study`) and notebooks 04/05 run.

The arms (:data:`ALL_ARMS`):

* ``base``: the untrained model RL starts from (:func:`base_model`), nothing trained;
* ``sft``: the SFT warm start (``<run_dir>/sft``);
* ``grpo``, ``egpo``: RL with the same config, data and seed, only ``egpo.advantage_mode`` differs
  (:func:`rl_config`): GRPO's group-normalised advantage, or FunRL's entropy-guided one (Eq. 5:
  ``A + min(λE, |A|/α)``), each in ``<run_dir>/<mode>``.

SFT runs when it is an arm, or when ``grpo.init`` is ``sft`` and an RL arm needs its warm start
(:func:`needs_sft`). Every stage resumes from its last checkpoint, and a finished one is not redone, so calling
:func:`train_arms` again only returns the model directories.

Imports nothing heavy until something is trained (``funrl study --help`` parses ``--arms`` with it).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = ["ALL_ARMS", "ARMS", "BASE_ARMS", "RL_ARMS", "base_model", "default_arms", "needs_sft", "ordered_arms",
           "parse_arms", "rl_config", "rows_tokenizer", "train_arms"]

ALL_ARMS = ("base", "sft", "grpo", "egpo")
"""Every arm, in the order tables, charts and reports show them."""
ARMS = ("sft", "grpo", "egpo")
"""The arms of a recipe whose RL starts from SFT (``grpo.init: sft``)."""
BASE_ARMS = ("base", "grpo", "egpo")
"""The arms of a recipe whose RL starts from the base model (``grpo.init: base``), as in the paper."""
RL_ARMS = ("grpo", "egpo")
"""The arms trained with RL; the name is the ``egpo.advantage_mode``."""


def ordered_arms(arms: Iterable[str]) -> list[str]:
    """The known arms among ``arms``, in :data:`ALL_ARMS` order."""
    arms = set(arms)
    return [a for a in ALL_ARMS if a in arms]


def parse_arms(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"base,grpo,egpo"`` (or a list) -> the arms in :data:`ALL_ARMS` order; unknown or no arms are an error."""
    names = [a.strip().lower() for a in (text.split(",") if isinstance(text, str) else text) if a.strip()]
    unknown = sorted(set(names) - set(ALL_ARMS))
    if unknown or not names:
        raise ValueError(f"arms must be a comma list of {', '.join(ALL_ARMS)}, not {text!r}")
    return tuple(ordered_arms(names))


def default_arms(cfg: Any) -> tuple[str, ...]:
    """``base, grpo, egpo`` when RL starts from the base model (``grpo.init`` ``base`` or unset), else
    ``sft, grpo, egpo``."""
    return BASE_ARMS if cfg.grpo.init in (None, "base") else ARMS


def needs_sft(cfg: Any, arms: Iterable[str]) -> bool:
    """Whether SFT runs for ``arms``: it is one of them, or an RL arm starts from it (``grpo.init: sft``)."""
    arms = set(arms)
    return "sft" in arms or (cfg.grpo.init == "sft" and bool(arms & set(RL_ARMS)))


def base_model(cfg: Any) -> str:
    """What the BASE arm evaluates: the untrained model RL starts from (the built tiny model for backend tiny)."""
    from .train.models import base_model_path, tiny_model_dir
    if cfg.model.backend == "tiny":
        from .train.tiny import build_tiny
        return str(build_tiny(tiny_model_dir(cfg), cfg.model.tiny))
    return base_model_path(cfg)


def rl_config(cfg: Any, mode: str) -> Any:
    """The recipe with ``egpo.advantage_mode`` set to ``mode`` (``grpo`` or ``egpo``); nothing else changes."""
    return dataclasses.replace(cfg, egpo=dataclasses.replace(cfg.egpo, advantage_mode=mode))


def train_arms(cfg: Any, arms: str | Sequence[str]) -> dict[str, Path | str]:
    """Train (or resume, or find finished) every arm of ``arms`` under ``cfg.run_dir``; returns ``{arm: model
    dir}`` in :data:`ALL_ARMS` order. SFT runs first when :func:`needs_sft`, then GRPO, then EGPO."""
    chosen = parse_arms(arms)
    from .train.run import run_sft, run_train

    finals: dict[str, Path | str] = {}
    if "base" in chosen:
        finals["base"] = base_model(cfg)
    if needs_sft(cfg, chosen):
        sft = run_sft(cfg)
        if "sft" in chosen:
            finals["sft"] = sft
    for mode in RL_ARMS:
        if mode in chosen:
            finals[mode] = run_train(rl_config(cfg, mode))
    return finals


def rows_tokenizer(cfg: Any, finals: dict[str, Path | str]) -> Path | str:
    """The tokenizer the data split is read with for the arms of ``finals`` (:func:`train_arms`'): SFT's when SFT
    ran for them, else the base model's."""
    if "sft" in finals:
        return finals["sft"]
    if needs_sft(cfg, finals):
        return cfg.run_dir / "sft" / "final"
    return finals.get("base") or base_model(cfg)
