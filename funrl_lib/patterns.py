"""Regular expressions from tool definitions (a parameter's ``pattern``), run with RE2: linear time, any pattern.

A tool definition is input, and Python's backtracking ``re`` takes exponential time on patterns such as
``^(a+)+$`` (41 s on 29 characters, doubling with each one) or even ``^([A-Za-z]+\\s?)+$``. Every place that checks
a value against a definition's pattern goes through :func:`pattern_search`, which runs Google's RE2
(``google-re2``): time linear in the value, memory bounded by RE2's ``max_mem``, whatever the pattern.

RE2 does not run backreferences (``\\1``), lookarounds (``(?=``, ``(?<=``) or a few Python-only escapes (``\\Z``);
such a pattern raises :class:`PatternError` with RE2's reason, which the verifier reports as a failed check
rather than guessing. Its semantics are ECMA-262's where the two differ from Python's (``\\d`` and ``\\w`` are
ASCII, ``$`` matches at the very end only), which is what JSON Schema's ``pattern`` means.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

__all__ = ["PatternError", "compile_pattern", "pattern_search"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr; the caller reports it instead


class PatternError(ValueError):
    """A pattern RE2 cannot run: invalid, or using a construct it refuses (backreferences, lookarounds)."""


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> tuple[Any, str | None]:
    try:
        return re2.compile(pattern, _OPTIONS), None
    except re2.error as e:
        reason = e.args[0] if e.args else str(e)
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return None, str(reason)
    except (TypeError, ValueError) as e:  # e.g. a lone surrogate, which has no UTF-8 form
        return None, str(e)


def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 program of ``pattern`` (cached), or :class:`PatternError` saying why RE2 refuses it."""
    if not isinstance(pattern, str):
        raise PatternError(f"expected a regular expression string, got {type(pattern).__name__}")
    rx, reason = _compile(pattern)
    if rx is None:
        hint = ("; funrl runs tool patterns with RE2 (linear time), which has no backreferences or lookarounds"
                if "perl operator" in reason or "escape" in reason else "")
        raise PatternError(f"RE2 cannot run this pattern ({reason}){hint}")
    return rx


def pattern_search(pattern: str, value: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``value`` (JSON Schema semantics: ``^``/``$`` anchor it), in time
    linear in ``len(value)``; :class:`PatternError` when RE2 cannot run the pattern."""
    rx = compile_pattern(pattern)
    try:
        return rx.search(value) is not None
    except (TypeError, ValueError) as e:  # a value with a lone surrogate cannot be encoded for RE2
        raise PatternError(f"cannot check the value against the pattern: {e}") from None
