"""funrl: FunRL/EGPO entropy-guided GRPO and ToolACE data synthesis for LLM function calling, scored like BFCL v4.

The function-call core imports nothing heavy::

    from funrl_lib import ToolDef, Call, decode_calls, render_calls, check_calls, funrl_binary
"""

from .calls import (Call, Completion, DecodeError, RenderError, decode_calls, parse_completion, render_calls,
                    render_completion, split_think, strip_think)
from .tools import Schema, SchemaIssue, ToolDef, ToolSchemaError, load_tools, validate_tool

__version__ = "0.1.0"

__all__ = [
    "Call", "Completion", "DecodeError", "RenderError", "Schema", "SchemaIssue", "ToolDef", "ToolSchemaError",
    "check_calls", "decode_calls", "funrl_binary", "load_tools", "parse_completion", "render_calls",
    "render_completion", "split_think", "strip_think", "toolrl_graded", "validate_tool", "__version__",
]


def __getattr__(name):  # lazy: the checker and rewards are imported on first use
    if name == "check_calls":
        from .bfcl.checker import check_calls
        return check_calls
    if name in ("funrl_binary", "toolrl_graded"):
        from . import rewards
        return getattr(rewards, name)
    raise AttributeError(f"module 'funrl_lib' has no attribute {name!r}")
