"""The evaluation ``funrl demo``, ``funrl study`` and the CLI run by default, and the tiny one of smoke runs.

Kept apart so that :mod:`funrl_lib.pipeline` and :mod:`funrl_lib.study` both read it without importing each other.
"""

from __future__ import annotations

__all__ = ["DEFAULT_EVAL", "SMOKE_EVAL"]

# the evaluation the demo and the study run by default (the CLI's defaults too)
DEFAULT_EVAL = {"heldout_limit": 100, "bfcl_per_category": 5, "bfcl_categories": "single_turn", "max_new_tokens": 192}
SMOKE_EVAL = {"heldout_limit": 3, "bfcl_per_category": 1, "bfcl_categories": "simple_python,irrelevance",
              "max_new_tokens": 16}
