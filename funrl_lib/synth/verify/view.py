"""The per-sample view every rule of both layers shares (ToolACE §2.3, dual-layer verification): what the rules need
of each tool definition (validation issues, canonical JSON, lexical findings) worked out once per definition and kept
with the :class:`~funrl_lib.tools.ToolDef` (the samples of one file share their tools:
:class:`~funrl_lib.tools.ToolTable`), and a sample's argument issues, strings and tool-output texts computed on first
use."""

from __future__ import annotations

import json
from typing import Any

from ...prompts import TOOLACE_TOOLS_MARKER
from ...tools import ToolDef, UnreadableTool, validate_tool
from ..sample import Sample
from .common import _collect_strings, _tool_key, _tool_output_text, _walk_strings
from .lexical import _ToolLex, _tool_lex
from .values import _check_object


def _tool_facts(tool: ToolDef) -> tuple[ToolDef | None, list[str], str]:
    """(the tool, or None when too broken to read; its schema issues as text; its canonical JSON), once per tool."""
    return tool.derived("verify.facts", _facts)


def _facts(tool: ToolDef) -> tuple[ToolDef | None, list[str], str]:
    raw = tool.source
    issues = [str(i) for i in validate_tool(raw)]
    fn = raw.get("function") if isinstance(raw, dict) and isinstance(raw.get("function"), dict) else raw
    if isinstance(fn, dict):
        prefix = "function." if fn is not raw else ""
        if "description" not in fn:
            issues.append(f"{prefix}description: missing (Table 4: a definition must contain all necessary fields)")
        elif isinstance(fn["description"], str) and not fn["description"].strip():
            issues.append(f"{prefix}description: empty")
        if "parameters" not in fn:
            issues.append(f"{prefix}parameters: missing (an object schema, possibly with no properties)")
    return (None if isinstance(tool, UnreadableTool) else tool), issues, _tool_key(raw)


class _View:
    """Derived data of one sample, each piece computed on first use."""

    def __init__(self, sample: Sample):
        self.sample = sample
        self.parsed = [_tool_facts(t) for t in sample.tools]
        self.defs: dict[str, ToolDef] = {}
        self.keys: dict[str, str] = {}
        for tool, _, key in self.parsed:
            if tool is not None and tool.name not in self.defs:
                self.defs[tool.name] = tool
                self.keys[tool.name] = key
        self._arg_issues: list[tuple[str, str]] | None = None
        self._lex: list[tuple[str, "_ToolLex"]] | None = None
        self._strings: list[tuple[str, Any, str]] | None = None
        self._system_ctx: str | None = None
        self._last_call: int | None = None
        self._blob: str | None = None
        self._outputs: dict[int, str] = {}
        self._lex_by_name: dict[str, _ToolLex] | None = None

    # -- argument issues, shared by required_params / unknown_params / param_values ---------------------------------
    def arg_issues(self) -> list[tuple[str, str]]:
        if self._arg_issues is None:
            out: list[tuple[str, str]] = []
            for i, m in enumerate(self.sample.messages):
                for k, call in enumerate(m.calls or ()):
                    tool = self.defs.get(call.name)
                    if tool is not None:
                        _check_object(call.arguments, tool.parameters, f"turn {i} call {k} '{call.name}'", "", out,
                                      top=True)
            self._arg_issues = out
        return self._arg_issues

    # -- every string of the sample with where it is, for the lexical rules ----------------------------------------
    def strings(self) -> list[tuple[str, Any, str]]:
        """``(where, key, text)`` for every string of the system prompt and the dialog (tool definitions are scanned
        once per distinct definition: :func:`_tool_lex`): ``key`` is the dict key the string is a value of
        (``None`` for free text and list items); a key itself comes as ``(where, "<key>", key)``."""
        if self._strings is None:
            out: list[tuple[str, Any, str]] = []
            s = self.sample
            ctx = self.system_context()
            if ctx:
                out.append(("system prompt", None, ctx))
            for i, m in enumerate(s.messages):
                where = f"turn {i} ({m.role})"
                for text in (m.content, m.think, m.raw):
                    if text:
                        out.append((where, None, text))
                for k, call in enumerate(m.calls or ()):
                    cw = f"turn {i} call {k} '{call.name}'"
                    out.append((cw, "<name>", call.name))
                    _walk_strings(call.arguments, cw, None, out)
                if m.results is not None:
                    _walk_strings(m.results, where, None, out)
            self._strings = out
        return self._strings

    def blob(self) -> str | None:
        """The texts of :meth:`strings` joined by newlines, collected without their places: what the lexical rules
        screen first (most samples have nothing for them to look at closer). ``None`` when a call name is not a
        string (the rules then take the long way, and report what it does)."""
        if self._blob is None:
            parts: list[str] = []
            ctx = self.system_context()
            if ctx:
                parts.append(ctx)
            for m in self.sample.messages:
                for text in (m.content, m.think, m.raw):
                    if text:
                        parts.append(text)
                for call in m.calls or ():
                    if not isinstance(call.name, str):
                        return None
                    parts.append(call.name)
                    _collect_strings(call.arguments, parts)
                if m.results is not None:
                    _collect_strings(m.results, parts)
            self._blob = "\n".join(parts)
        return self._blob

    def tool_lex(self) -> list[tuple[str, "_ToolLex"]]:
        """``(label, lexical findings)`` per tool, e.g. ``("tools[0] 'Market Trends API'", ...)``."""
        if self._lex is None:
            self._lex = []
            for i, (t, (tool, _, key)) in enumerate(zip(self.sample.tools, self.parsed)):
                name = tool.name if tool is not None else None
                self._lex.append((f"tools[{i}]" + (f" '{name}'" if name else ""), _tool_lex(t, tool, key)))
        return self._lex

    def lex_of(self, name: str) -> "_ToolLex":
        """The lexical findings of the (first) tool named ``name``."""
        for (tool, _, _), (_, lex) in zip(self.parsed, self.tool_lex()):
            if tool is not None and tool.name == name:
                return lex
        raise KeyError(name)

    def last_call_turn(self) -> int:
        """Index of the last turn with calls (-1 if none): what comes after it is context no call draws on."""
        if self._last_call is None:
            self._last_call = max((i for i, m in enumerate(self.sample.messages) if m.calls), default=-1)
        return self._last_call

    def output_text(self, i: int) -> str:
        """:func:`_tool_output_text` of turn ``i`` (the model-layer rules both read it)."""
        text = self._outputs.get(i)
        if text is None:
            text = self._outputs[i] = _tool_output_text(self.sample.messages[i])
        return text

    def lex_by_name(self) -> dict[str, "_ToolLex"]:
        """:meth:`lex_of` for every tool name (the first tool of a name)."""
        if self._lex_by_name is None:
            self._lex_by_name = {}
            for (tool, _, _), (_, lex) in zip(self.parsed, self.tool_lex()):
                if tool is not None:
                    self._lex_by_name.setdefault(tool.name, lex)
        return self._lex_by_name

    def system_context(self) -> str:
        """The system prompt without its embedded tool list (the tools are checked as structures, and a value that
        appears only in a tool description is not something the user said)."""
        if self._system_ctx is None:
            self._system_ctx = _strip_tool_json(self.sample.system or "")
        return self._system_ctx


def _strip_tool_json(system: str) -> str:
    if not system:
        return ""
    start = system.find(TOOLACE_TOOLS_MARKER)
    pos = system.find("[", start) if start >= 0 else -1
    if pos < 0:
        header = system.find("# Tool")  # FunRL's template
        pos = system.find("[", header) if header >= 0 else -1
    if pos < 0:
        return system
    try:
        _, end = json.JSONDecoder().raw_decode(system, pos)
    except json.JSONDecodeError:
        return system
    return system[:pos] + system[end:]
