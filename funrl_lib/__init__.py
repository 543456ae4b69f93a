"""funrl: FunRL/EGPO entropy-guided GRPO and ToolACE data synthesis for LLM function calling, scored like BFCL v4.

The function-call core imports nothing heavy::

    from funrl_lib import ToolDef, Call, decode_calls, render_calls, check_calls, funrl_binary

Every name is imported on first use, so ``funrl --help`` (and any ``import funrl_lib.x``) pays only for what it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Call", "Completion", "DecodeError", "RenderError", "Schema", "SchemaIssue", "ToolDef", "ToolSchemaError",
    "check_calls", "decode_calls", "funrl_binary", "load_tools", "parse_completion", "render_calls",
    "render_completion", "split_think", "strip_think", "toolrl_graded", "validate_tool", "__version__",
]

# name -> the module that defines it (imported on first use)
_LAZY = {
    **dict.fromkeys(("Call", "Completion", "DecodeError", "RenderError", "decode_calls", "parse_completion",
                     "render_calls", "render_completion", "split_think", "strip_think"), "calls"),
    **dict.fromkeys(("Schema", "SchemaIssue", "ToolDef", "ToolSchemaError", "load_tools", "validate_tool"), "tools"),
    "check_calls": "bfcl.checker", "funrl_binary": "rewards", "toolrl_graded": "rewards",
}

if TYPE_CHECKING:
    from .bfcl.checker import check_calls
    from .calls import (Call, Completion, DecodeError, RenderError, decode_calls, parse_completion, render_calls,
                        render_completion, split_think, strip_think)
    from .rewards import funrl_binary, toolrl_graded
    from .tools import Schema, SchemaIssue, ToolDef, ToolSchemaError, load_tools, validate_tool


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'funrl_lib' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
