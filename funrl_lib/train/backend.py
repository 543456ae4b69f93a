"""Import Unsloth first: ``model.backend: unsloth`` only gets Unsloth's patched TRL / transformers / PEFT if
``unsloth`` is imported before any of them. Every entry point that can train (``funrl sft``, ``funrl train``,
``funrl demo``, ``funrl study``, :func:`funrl_lib.train.run.run_sft` / ``run_train``) calls :func:`prepare_backend`
before it imports ``trl``, ``transformers`` or ``peft``.

This module imports nothing heavy itself.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

__all__ = ["PATCHED_BY_UNSLOTH", "BackendError", "imported_too_early", "prepare_backend"]

PATCHED_BY_UNSLOTH = ("trl", "transformers", "peft")
"""The packages Unsloth patches on import: each must still be unimported when ``unsloth`` is imported."""

INSTALL_HINT = ("model.backend 'unsloth' needs Unsloth on a GPU: pip install -r requirements-gpu.txt "
                "(unsloth==2026.10.9 unsloth_zoo==2026.10.9), or use backend 'peft'")


class BackendError(RuntimeError):
    """The config's backend cannot be prepared (Unsloth missing or failing to import)."""


def imported_too_early() -> list[str]:
    """Which of :data:`PATCHED_BY_UNSLOTH` (or a submodule of one) are already in ``sys.modules``."""
    return sorted({name.partition(".")[0] for name in list(sys.modules)
                   if name.partition(".")[0] in PATCHED_BY_UNSLOTH})


def prepare_backend(cfg: Any) -> None:
    """For ``cfg.model.backend == "unsloth"``: import ``unsloth`` now (a no-op if it already is), before anything
    imports trl/transformers/peft; other backends need nothing. Raises :class:`BackendError` if Unsloth is missing
    or fails to import; warns if one of the patched packages was imported first (Unsloth then cannot patch it)."""
    if getattr(getattr(cfg, "model", None), "backend", None) != "unsloth" or "unsloth" in sys.modules:
        return
    os.environ.setdefault("UNSLOTH_VLLM_STANDBY", "1")  # read at import; Unsloth's GRPO notebooks: more vLLM context
    early = imported_too_early()
    try:
        import unsloth  # noqa: F401  (patches trl, transformers and peft on import)
    except ImportError as e:
        raise BackendError(f"{INSTALL_HINT} ({e})") from e
    except Exception as e:  # Unsloth raises on a machine without a usable GPU, among others
        raise BackendError(f"importing unsloth failed: {type(e).__name__}: {e}") from e
    if early:
        warnings.warn(f"unsloth was imported after {', '.join(early)}; import funrl_lib's entry points (or unsloth) "
                      "before them to get Unsloth's patches", stacklevel=2)
