"""Dual-Layer Verification (ToolACE §2.3, App. B Table 4), APIGen-style execution, lexical sanity, FunRL's filter.

Every check is a named function ``rule_<name>(sample, ctx) -> list[str]`` (empty: pass; each string a reason that
names the turn, the call and the parameter), registered in :data:`RULES` with its layer:

* **rule layer** (ToolACE Table 4, plus what the released data shows it missed): ``tool_schema``, ``dialog_fields``,
  ``call_parses``, ``call_name_exists``, ``required_params``, ``unknown_params``, ``param_values``,
  ``response_length``, ``invalid_chars``, ``date_string_artifacts``, ``call_response_names``, ``role_order``,
  ``tool_response_follows``, ``system_format``, ``execution``.
* **model layer** (ToolACE's three "expert agents"): ``hallucinated_values``, ``task_consistency``,
  ``tool_response_consistency``. With an LLM backend each is one judge prompt (:data:`JUDGE_PROMPTS`, the judge
  answers ``{"pass": bool, "reason": str}``); offline (no backend, or the programmatic one) each is a deterministic
  implementation of the same question, documented on its function.

As in ToolACE, the model layer only looks at samples that passed the rule layer (so its pass rate is "over
rule-passers", comparable with the paper's 67.9% / 91.1% / 61.8%). :func:`funrl_filter` adds FunRL's two-stage
filter (arXiv 2508.05118v4 §5.1): an LLM evaluates each reference answer and regenerates wrong ones (at most
``max_regenerations`` times), then an AST stage drops references whose call/no-call shape contradicts the task.

Turn numbers in reasons are 0-based indices into ``sample.messages``; ``call k`` is the k-th call of that turn.

Why execution and lexical rules on top of ToolACE's list: ToolACE never executes a call and its rules did not catch
the ``date``→``string`` corruption of its own released data (rules: ToolACE, arXiv 2409.00920v2 §2.3 and App. B
Table 4; the corruption is visible in the HF dataset ``Team-ACE/ToolACE``). Where a programmatic implementation
exists (an API pool record), every call is run and every recorded tool output is compared with what the
implementation returns, as APIGen's execution stage does.

Speed: each distinct tool definition is parsed, validated and scanned once (cached by its canonical JSON, found
again by its marshal bytes), every rule of a sample shares one view of it, the lexical scans screen whole texts with
one C-level search before looking closer, and a call that this process already executed (dialog generation just
did) is not generated again, so offline verification keeps up with the programmatic generators (each report records
the run's samples/s).

Nothing here evaluates model output: calls are decoded with ``ast``/``json`` only (:mod:`funrl_lib.calls`).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as _dt
import gc
import itertools
import json
import marshal
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..calls import TOOL_CALL_OPEN, DecodeError, decode_calls
from ..patterns import PatternError, pattern_search
from ..prompts import TOOLACE_TOOLS_MARKER
from ..tools import Schema, ToolDef, ToolSchemaError, kind_of_spelling, validate_tool
from ..backends import run_sync
from ..io import (InputError, JsonlAppender, Quarantine, _starts_with_bracket, check_own_json, leaf_values,
                  read_records, report_quarantine)
from .sample import SAMPLE_FORMATS, Message, Sample, detect_format, render_toolace_calls, sample_from

__all__ = [
    "FUNRL_PROMPTS", "FilterOutcome", "JUDGE_PROMPTS", "LAYERS", "RULES", "Report", "Rule", "TOOLACE_REFERENCE",
    "SampleVerdict", "VerifyContext", "add_verify_parser", "afunrl_filter", "averify", "funrl_filter", "run_verify",
    "verify_file", "verify_sample",
]

LAYERS = ("rule", "model", "funrl")
# ToolACE v1 Table 5 (with formalised thinking): rule-layer pass rate, model-layer pass rate over rule-passers,
# final. Secondhand (two third-party notes on arXiv 2409.00920v1 agree; not checked against the v1 text).
TOOLACE_REFERENCE = {"rule": 0.679, "model": 0.911, "final": 0.618,
                     "source": "ToolACE v1 Table 5 (with formalized thinking), secondhand via third-party notes"}
# sample types whose first answer is a call (FunRL's AST stage expects one when no judge says otherwise)
CALL_TYPES = ("single", "parallel", "multiple", "parallel_multiple", "dependent")


# =====================================================================================================================
# Context and registry
# =====================================================================================================================

@dataclass
class VerifyContext:
    """What the rules may use besides the sample.

    ``pool``: programmatic APIs for the ``execution`` rule: a mapping ``tool name -> ApiRecord`` (or a list of
    records; see :mod:`funrl_lib.synth.api_pool`). A record is used only for a tool whose definition in the sample
    equals the record's ``tool``, so a pool never judges a different API that happens to share a name.
    ``execute``: ``(api, arguments) -> dict`` raising ``ExecutionError``; default ``api_pool.execute_again`` (what
    ``api_pool.execute`` returns, looked up when this process already executed that exact call).
    ``backend``: ``None`` or a programmatic backend -> deterministic model layer; an LLM backend -> judges.
    ``rules``: names to run (default all, in :data:`RULES` order).
    ``max_response_chars``: a text answer longer than this is "too long" (Table 4: "assistant response not too
    long"); 2,000 characters is about 400 words, far beyond a tool-result summary.
    ``long_text_chars``: a text answer at least this long must end like a finished sentence (see
    :func:`rule_response_length`).
    """

    pool: Any = None
    backend: Any = None
    rules: Sequence[str] | None = None
    max_response_chars: int = 2000
    long_text_chars: int = 200
    execute: Callable[[Any, dict], Any] | None = None
    judge_retries: int = 2
    _pool_index: dict[str, list[Any]] | None = field(default=None, init=False, repr=False)
    _view: "_View | None" = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rules is not None:
            self.rules = list(self.rules)
            unknown = [r for r in self.rules if r not in RULES]
            if unknown:
                raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
        self._pool_index = _index_pool(self.pool)

    @property
    def llm(self) -> bool:
        """True when the model layer asks an LLM (a backend that is not programmatic)."""
        return self.backend is not None and not getattr(self.backend, "is_programmatic", False)

    def selected(self, layer: str | None = None) -> list["Rule"]:
        names = self.rules if self.rules is not None else list(RULES)
        return [RULES[n] for n in names if layer is None or RULES[n].layer == layer]

    def view(self, sample: Sample) -> "_View":
        """Per-sample derived data (parsed tools, flattened strings, argument issues). While :func:`verify_sample`
        checks a sample, every rule shares one view of it; a rule called on its own gets a fresh one (so a sample
        changed between two calls is never judged from stale data)."""
        v = self._view
        return v if v is not None and v.sample is sample else _View(sample)


@dataclass(frozen=True)
class Rule:
    name: str
    layer: str  # "rule" or "model"
    fn: Callable[[Sample, VerifyContext], list[str]]

    def __call__(self, sample: Sample, ctx: VerifyContext) -> list[str]:
        return self.fn(sample, ctx)


RULES: dict[str, Rule] = {}


def _rule(layer: str) -> Callable:
    def register(fn: Callable[[Sample, VerifyContext], list[str]]) -> Callable:
        name = fn.__name__.removeprefix("rule_")
        RULES[name] = Rule(name, layer, fn)
        return fn
    return register


def _index_pool(pool: Any) -> dict[str, list[Any]]:
    """``{tool name: [records]}`` from a mapping name -> record (or -> list of records) or an iterable of records."""
    if pool is None:
        return {}
    out: dict[str, list[Any]] = {}
    items = pool.values() if isinstance(pool, Mapping) else pool
    for item in items:
        for rec in (item if isinstance(item, (list, tuple)) else [item]):
            tool = getattr(rec, "tool", None)
            if tool is not None:
                out.setdefault(tool.name, []).append(rec)
    return out


# =====================================================================================================================
# Per-sample view and shared helpers
# =====================================================================================================================

# Tool dicts repeat across samples (a pool has thousands of APIs, a dialog set reuses them): parse and validate each
# distinct definition once. Keyed by its canonical JSON.
_TOOL_CACHE: dict[str, tuple[ToolDef | None, list[str], str]] = {}
_TOOL_CACHE_MAX = 100_000
# json.dumps(x, sort_keys=True, ensure_ascii=False) / json.dumps(x, ensure_ascii=False) without an encoder per call
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False).encode


def _tool_key(raw: Any) -> str:
    try:
        return _CANONICAL_JSON(raw)
    except (TypeError, ValueError):
        return repr(raw)


# A faster way to find a definition seen before: its marshal bytes (format 2, which has no back-references, so the
# bytes depend only on the content), a few times cheaper than canonical JSON and run for every tool of every
# sample. Equal bytes mean equal content with equal types, key order included, so a hit is the same definition;
# the same definition with its keys in another order is a miss here and found by its canonical JSON.
_TOOL_BY_BYTES: dict[bytes, tuple[ToolDef | None, list[str], str]] = {}


def _parse_tool(raw: Any) -> tuple[ToolDef | None, list[str], str]:
    """(ToolDef or None when too broken to read, schema issues as text, cache key)."""
    if isinstance(raw, ToolDef):
        raw = raw.to_dict()
    try:
        fast: bytes | None = marshal.dumps(raw, 2)
    except ValueError:  # not plain data (or too deep): canonical JSON only
        fast = None
    if fast is not None:
        hit = _TOOL_BY_BYTES.get(fast)
        if hit is not None:
            return hit
    key = _tool_key(raw)
    hit = _TOOL_CACHE.get(key)
    if hit is not None:
        if fast is not None:
            _remember_bytes(fast, hit)
        return hit
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
    try:
        tool: ToolDef | None = ToolDef.from_dict(raw)
    except ToolSchemaError:
        tool = None
    if len(_TOOL_CACHE) >= _TOOL_CACHE_MAX:
        _TOOL_CACHE.clear()
    entry = _TOOL_CACHE[key] = (tool, issues, key)
    if fast is not None:
        _remember_bytes(fast, entry)
    return entry


def _remember_bytes(fast: bytes, entry: tuple[ToolDef | None, list[str], str]) -> None:
    if len(_TOOL_BY_BYTES) >= _TOOL_CACHE_MAX:
        _TOOL_BY_BYTES.clear()
    _TOOL_BY_BYTES[fast] = entry


class _View:
    """Derived data of one sample, each piece computed on first use."""

    def __init__(self, sample: Sample):
        self.sample = sample
        self.parsed = [_parse_tool(t) for t in sample.tools]
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
            for i, (raw, (tool, _, key)) in enumerate(zip(self.sample.tools, self.parsed)):
                name = tool.name if tool is not None else None
                self._lex.append((f"tools[{i}]" + (f" '{name}'" if name else ""), _tool_lex(key, raw, tool)))
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


def _walk_strings(value: Any, where: str, key: Any, out: list) -> None:
    if isinstance(value, str):
        out.append((where, key, value))
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                out.append((where, "<key>", k))
            if isinstance(v, str):  # the common leaf, without a call
                out.append((where, k, v))
            elif isinstance(v, (dict, list, tuple)):
                _walk_strings(v, where, k, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, str):
                out.append((where, None, v))
            elif isinstance(v, (dict, list, tuple)):
                _walk_strings(v, where, None, out)


def _collect_strings(value: Any, out: list[str]) -> None:
    """The strings :func:`_walk_strings` finds (dict keys included), without where they are."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                out.append(k)
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, (dict, list, tuple)):
                _collect_strings(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, (dict, list, tuple)):
                _collect_strings(v, out)


def _short(value: Any, n: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def _type_name(value: Any) -> str:
    return {str: "string", int: "integer", float: "float", bool: "boolean", list: "array", tuple: "array",
            dict: "dict", type(None): "null"}.get(type(value), type(value).__name__)


def _dedupe(reasons: list[str]) -> list[str]:
    return list(dict.fromkeys(reasons))


# =====================================================================================================================
# Parameter values against a schema (BFCL dialect)
# =====================================================================================================================

def _kinds(schema: Schema) -> list[str]:
    """Allowed canonical kinds: a union type (``["string", "null"]``) gives each member; else :attr:`Schema.kind`."""
    spelling = schema.node.get("type")
    if isinstance(spelling, list) and "x-bfcl-type" not in schema.node and "x-json-type" not in schema.node:
        kinds = [k for k in map(kind_of_spelling, spelling) if k]
        return kinds or ["any"]
    return [schema.kind]


def _matches(value: Any, kind: str) -> bool:
    """BFCL's type rules: ``bool`` is not an integer, an integer is accepted for a float, tuples for arrays."""
    if kind == "any":
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in ("array", "tuple"):
        return isinstance(value, (list, tuple))
    if kind == "object":
        return isinstance(value, dict)
    if kind == "null":
        return value is None
    return True


@lru_cache(maxsize=4096)
def _python_regex_ok(pattern: str) -> bool:
    """Whether Python's ``re`` compiles ``pattern`` (compiling takes time linear in the pattern; only matching can
    blow up, and matching is RE2's job: :func:`_pattern_problem`)."""
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return False
    return True


def _pattern_problem(pattern: str, value: str) -> str | None:
    """Why ``value`` fails ``pattern`` (JSON Schema semantics: a search, anchored only by the pattern itself), or
    None. Matching runs on RE2 (:mod:`funrl_lib.patterns`), in time linear in the value whatever the pattern; a
    pattern RE2 cannot run (a backreference, a lookaround) is a problem of its own, since the value cannot be
    checked. A pattern Python cannot compile either is left to ``tool_schema`` (an invalid definition)."""
    if not _python_regex_ok(pattern):
        return None
    shown = repr(pattern) if len(pattern) <= 200 else repr(pattern[:200]) + "..."
    try:
        if pattern_search(pattern, value):
            return None
    except PatternError as e:
        return f"cannot be checked against the pattern {shown}: {e}"
    return f"does not match the pattern {shown}"


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _format_problem(fmt: str, value: str) -> str | None:
    """Why ``value`` does not have JSON Schema format ``fmt`` (date, date-time, time, email); other formats are
    not checked (``None``)."""
    if fmt == "date":
        if not _ISO_DATE.fullmatch(value):
            return "is not a date in YYYY-MM-DD format"
        try:
            _dt.date.fromisoformat(value)
        except ValueError:
            return "is not a calendar date"
    elif fmt == "date-time":
        try:
            _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return "is not an ISO 8601 date-time"
        if not _ISO_DATE.match(value):
            return "is not an ISO 8601 date-time"
    elif fmt == "time":
        if not _ISO_TIME.fullmatch(value):
            return "is not a time in HH:MM[:SS] format"
    elif fmt == "email":
        if not _EMAIL.fullmatch(value):
            return "is not an email address"
    return None


def _spelling(schema: Schema) -> str:
    t = schema.type
    return t if isinstance(t, str) else (_short(t) if t is not None else schema.kind)


def _check_object(args: Any, schema: Schema, prefix: str, path: str, out: list, *, top: bool = False) -> None:
    """Required and unknown keys of a call's arguments (``top``) or of a dict value with declared properties, then
    each value. Issues go to ``out`` as ``(category, reason)``: ``required`` / ``unknown`` / ``value``."""
    props = schema.properties
    for req in schema.required:
        if req not in args:
            out.append(("required", f"{prefix}: required parameter '{path}{req}' is missing"))
    for name, value in args.items():
        sub = props.get(name)
        if sub is None:
            if props or top:  # a dict parameter that declares no properties is free-form
                out.append(("unknown", f"{prefix}: parameter '{path}{name}' is not in the definition"
                                       + _twin_hint(name, props)))
            continue
        _check_value(value, sub, prefix, f"{path}{name}", out)


def _twin_hint(name: Any, props: Mapping[str, Any]) -> str:
    if isinstance(name, str):
        for suffix, twin in (("_string", "_date"), ("String", "Date")):
            if name.endswith(suffix) and name[: -len(suffix)] + twin in props:
                return (f" (the definition has '{name[: -len(suffix)] + twin}': the date->string corruption of the "
                        "released ToolACE data)")
    return ""


def _check_value(value: Any, schema: Schema, prefix: str, path: str, out: list) -> None:
    """Type, enum, pattern, format and range of one value (recursing into arrays and dicts)."""
    kinds = _kinds(schema)
    where = f"{prefix}: parameter '{path}'"
    if value is None:
        if "null" in kinds or "any" in kinds or (schema.has_default and schema.default is None):
            return
        out.append(("value", f"{where}: expected {_spelling(schema)}, got null"))
        return
    kind = next((k for k in kinds if _matches(value, k)), None)
    if kind is None:
        out.append(("value", f"{where}: expected {_spelling(schema)}, got {_type_name(value)} {_short(value)}"))
        return
    node = schema.node
    enum = schema.enum
    if enum is not None:
        if kind in ("array", "tuple") and not any(isinstance(e, list) for e in enum):
            # BFCL lists the allowed *element* values in an array parameter's enum
            bad = [v for v in value if v not in enum]
            if bad:
                out.append(("value", f"{where}: {_short(bad)} not among the enum values {_short(enum, 120)}"))
        elif value not in enum:
            out.append(("value", f"{where}: {_short(value)} is not one of the enum values {_short(enum, 120)}"))
    if kind == "string":
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            # JSON Schema semantics: a pattern matches anywhere unless it anchors itself (a search, not fullmatch)
            problem = _pattern_problem(pattern, value)
            if problem is not None:
                out.append(("value", f"{where}: {_short(value)} {problem}"))
        fmt = node.get("format")
        if isinstance(fmt, str):
            problem = _format_problem(fmt, value)
            if problem:
                out.append(("value", f"{where}: {_short(value)} {problem} (format {fmt!r})"))
        _bounds(len(value), node, "minLength", "maxLength", where, "length", out)
    elif kind in ("integer", "number"):
        lo, hi = node.get("minimum"), node.get("maximum")
        if _is_num(lo) and value < lo:
            out.append(("value", f"{where}: {value!r} is below the minimum {lo!r}"))
        if _is_num(hi) and value > hi:
            out.append(("value", f"{where}: {value!r} is above the maximum {hi!r}"))
        xlo, xhi = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
        if _is_num(xlo) and value <= xlo:
            out.append(("value", f"{where}: {value!r} is not above the exclusive minimum {xlo!r}"))
        if _is_num(xhi) and value >= xhi:
            out.append(("value", f"{where}: {value!r} is not below the exclusive maximum {xhi!r}"))
    elif kind in ("array", "tuple"):
        _bounds(len(value), node, "minItems", "maxItems", where, "item count", out)
        items = schema.items
        if items is not None:
            for j, element in enumerate(value):
                _check_value(element, items, prefix, f"{path}[{j}]", out)
    elif kind == "object" and schema.properties:
        _check_object(value, schema, prefix, f"{path}.", out)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _bounds(n: int, node: dict, lo_key: str, hi_key: str, where: str, what: str, out: list) -> None:
    lo, hi = node.get(lo_key), node.get(hi_key)
    if _is_num(lo) and n < lo:
        out.append(("value", f"{where}: {what} {n} is below {lo_key} {lo!r}"))
    if _is_num(hi) and n > hi:
        out.append(("value", f"{where}: {what} {n} is above {hi_key} {hi!r}"))


# =====================================================================================================================
# Rule layer
# =====================================================================================================================

@_rule("rule")
def rule_tool_schema(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "API definition clarity": every definition is a valid schema (:func:`funrl_lib.tools.validate_tool`:
    known types, ``required`` naming real properties, enum/default values of the declared type, valid regexes) and
    has all necessary fields (name, description, parameters). Two tools with one name make every call to it
    ambiguous, so that is reported too."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, (tool, issues, _) in enumerate(ctx.view(sample).parsed):
        name = tool.name if tool is not None else None
        label = f"tools[{i}]" + (f" '{name}'" if name else "")
        out.extend(f"{label}: {issue}" for issue in issues)
        if name is not None:
            if name in seen:
                out.append(f"{label}: duplicate name (also tools[{seen[name]}])")
            seen.setdefault(name, i)
    return out


@_rule("rule")
def rule_dialog_fields(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "all necessary fields": a non-empty tool list (unless the dialog is pure chat: no call and no tool
    turn), a non-empty dialog, and in every turn its role's fields: a user turn's text, a call's name and argument
    object, a tool turn's ``{"name", "results"}`` items. An assistant turn with nothing in it is an empty response
    (``response_length``)."""
    out: list[str] = []
    s = sample
    if not isinstance(s.tools, list):
        out.append(f"tools: expected a list, got {_type_name(s.tools)}")
    elif not s.tools and any(m.is_call or m.role == "tool" for m in s.messages):
        out.append("tools: empty, but the dialog calls tools")
    if not s.messages:
        out.append("messages: empty dialog")
    for i, m in enumerate(s.messages):
        if m.role == "user" and not (m.content or "").strip():
            out.append(f"turn {i} (user): empty text")
        elif m.role == "assistant" and m.calls is not None:
            if not m.calls:
                out.append(f"turn {i} (assistant): empty call list")
            for k, c in enumerate(m.calls):
                if not isinstance(c.name, str) or not c.name.strip():
                    out.append(f"turn {i} call {k}: missing function name")
                if not isinstance(c.arguments, dict):
                    out.append(f"turn {i} call {k}: arguments are not an object")
        elif m.role == "tool" and m.raw is None:
            if not m.results:
                out.append(f"turn {i} (tool): no results")
            for k, r in enumerate(m.results or ()):
                if not isinstance(r, dict):
                    out.append(f"turn {i} (tool) result {k}: expected {{\"name\", \"results\"}}, got "
                               f"{_type_name(r)}")
                else:
                    missing = [f for f in ("name", "results") if f not in r]
                    if missing:
                        out.append(f"turn {i} (tool) result {k}: missing {', '.join(repr(f) for f in missing)}")
    return out


@_rule("rule")
def rule_call_parses(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Assistant call turns and tool outputs decoded: a turn read from another format that looked like a call list
    (or a tool output) but did not decode keeps its text in ``raw`` and the reason in ``problem``."""
    out = []
    for i, m in enumerate(sample.messages):
        if m.raw is not None and ((m.role == "assistant" and m.calls is None) or (m.role == "tool" and m.results
                                                                                   is None)):
            what = "call list" if m.role == "assistant" else "tool output"
            out.append(f"turn {i} ({m.role}): {what} does not decode: {m.problem or 'unknown reason'}: "
                       f"{_short(m.raw, 80)}")
    return out


@_rule("rule")
def rule_call_name_exists(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "API name is in the tool list": a call to a name no tool has cannot be executed, and training on it
    teaches the model to invent functions (matched exactly, as BFCL's checker does)."""
    names = list(ctx.view(sample).defs)
    out = []
    for i, m in enumerate(sample.messages):
        for k, c in enumerate(m.calls or ()):
            if c.name not in names:
                out.append(f"turn {i} call {k}: '{c.name}' is not among the tools ({', '.join(names) or 'none'})")
    return out


@_rule("rule")
def rule_required_params(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "all required parameters provided", also inside dict parameters that declare their properties."""
    return _dedupe([r for cat, r in ctx.view(sample).arg_issues() if cat == "required"])


@_rule("rule")
def rule_unknown_params(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Every argument name is a parameter of the definition (and every key of a dict parameter with declared
    properties is one of them). Not in Table 4, and that is how the released ToolACE data kept calls with
    ``start_string`` / ``end_string`` where the definition says ``start_date`` / ``end_date``."""
    return _dedupe([r for cat, r in ctx.view(sample).arg_issues() if cat == "unknown"])


@_rule("rule")
def rule_param_values(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "parameter formats/patterns match the definition". Types in BFCL's dialect (an integer is accepted
    for a float as BFCL converts it; ``bool`` is never a number; a union type accepts any member; ``null`` only
    where the type or a ``null`` default allows it), enum (for an array: each element, BFCL's convention), ``pattern``
    with JSON Schema semantics (``re.search``: a pattern constrains the whole value only when it anchors itself
    with ``^...$``, as ToolACE's synthesized patterns do), ``format`` date (YYYY-MM-DD and a real calendar day),
    date-time, time and email, and the numeric, length and item-count bounds; recursively into array items and dict
    properties."""
    return _dedupe([r for cat, r in ctx.view(sample).arg_issues() if cat == "value"])


# -- response_length ---------------------------------------------------------------------------------------------

_OPENERS = {"(": ")", "[": "]", "{": "}", "（": "）", "【": "】", "「": "」", "『": "』", "“": "”"}
_TERMINAL = set(".!?。！？…\"'”’)]}»」』）】*`~")
_ELLIPSIS_CUT = re.compile(r"\w(?:\.\.\.|…)\s*\Z")
_LIST_LINE = re.compile(r"\s*(?:[-*+•]|\d+[.)]|\|)\s*")


def _truncation(text: str, long_text: int) -> str | None:
    """Why ``text`` looks cut off, or ``None``."""
    stripped = text.rstrip()
    for opener, closer in _OPENERS.items():
        if opener == closer:
            continue
        if stripped.count(opener) > stripped.count(closer):
            return f"unbalanced {opener!r} (opened {stripped.count(opener)}, closed {stripped.count(closer)})"
    if stripped.count('"') % 2:
        return "unbalanced '\"'"
    if _ELLIPSIS_CUT.search(stripped):
        return "ends with '...' right after a word"
    if len(stripped) >= long_text:
        last = stripped[-1]
        last_line = stripped.rsplit("\n", 1)[-1]
        if last not in _TERMINAL and not _LIST_LINE.match(last_line) and (last.isalnum() or last in ",;:-("):
            return f"a long answer ({len(stripped)} chars) that ends without terminal punctuation: ...{stripped[-30:]!r}"
    return None


@_rule("rule")
def rule_response_length(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "assistant response not too long" and "response complete". A text answer must be non-empty, at most
    ``ctx.max_response_chars`` long, and not truncated. Truncation signs: more opening than closing brackets or an
    odd number of ``"`` (a cut inside a parenthesis or quotation), an ellipsis glued to a word (``...temperatu...``:
    generators mark a cut that way; a finished answer does not trail off), and a long answer (``ctx.long_text_chars``)
    whose last character is a letter, digit, comma, colon or dash, unless its last line is a list item or table row.
    A call list kept as raw text (it did not decode) is checked for the same cut."""
    out = []
    for i, m in enumerate(sample.messages):
        if m.role != "assistant":
            continue
        if m.calls is None and m.raw is not None:
            why = _truncation(m.raw, 10**9)
            if why:
                out.append(f"turn {i} (assistant): call list cut off: {why}")
            continue
        if m.calls is not None:
            continue
        text = m.content or ""
        if not text.strip():
            out.append(f"turn {i} (assistant): empty response")
            continue
        if len(text) > ctx.max_response_chars:
            out.append(f"turn {i} (assistant): response too long ({len(text)} chars > {ctx.max_response_chars})")
        why = _truncation(text, ctx.long_text_chars)
        if why:
            out.append(f"turn {i} (assistant): response looks truncated: {why}")
    return out


# -- invalid_chars ------------------------------------------------------------------------------------------------

_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\u200b\u2060\ufeff\u180e\ud800-\udfff]")
_JOINERS = re.compile("[\u200c\u200d]")
_CHAR_NAMES = {"\ufffd": "U+FFFD replacement character", "\u200b": "U+200B zero-width space",
               "\u2060": "U+2060 word joiner", "\ufeff": "U+FEFF zero-width no-break space (BOM)",
               "\u180e": "U+180E Mongolian vowel separator", "\u200c": "U+200C zero-width non-joiner",
               "\u200d": "U+200D zero-width joiner"}
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]{3,}")


def _char_name(c: str) -> str:
    if c in _CHAR_NAMES:
        return _CHAR_NAMES[c]
    if 0xD800 <= ord(c) <= 0xDFFF:
        return f"lone surrogate U+{ord(c):04X}"
    return f"control character U+{ord(c):04X}"


def _bad_joiner(text: str, pos: int) -> bool:
    """ZWJ / ZWNJ are legitimate inside emoji sequences and in scripts that need them (Persian, Indic); next to an
    ASCII character, or at either end of the text, they are invisible garbage."""
    before = text[pos - 1] if pos > 0 else ""
    after = text[pos + 1] if pos + 1 < len(text) else ""
    return not before or not after or before.isascii() or after.isascii()


def _mixed_language(text: str, user_text: str, grounding: str | Callable[[], str]) -> str | None:
    """ToolACE Table 4 "no mixed-language responses", for the Latin/CJK pairs of its en+zh data. The user's script
    decides the expected one: all Latin (no CJK character in the user turns) or mostly CJK (CJK characters at least
    30% of the letters). A user who mixes scripts themselves is not held to one. A response to a Latin-script user
    is mixed when it has 2+ CJK characters that occur nowhere in the user turns, tool definitions, calls or tool
    outputs (a Chinese place name copied from a tool output is fine); a response to a CJK user is mixed when it has
    3+ Latin words of 3+ letters (not all-caps acronyms) that occur nowhere there (API names, brands and units
    copied from those sources are fine). ``grounding`` (that text) may be a function giving it, called only when
    something has to be looked up in it (most answers have nothing to look up)."""
    # (str.isascii is a flag lookup: an ASCII text has no CJK character to look for)
    cjk_user = 0 if user_text.isascii() else len(_CJK.findall(user_text))
    if cjk_user == 0:
        found = [] if text.isascii() else _CJK.findall(text)
        if len(found) < 2:
            return None
        if callable(grounding):
            grounding = grounding()
        stray = [c for c in found if c not in grounding]
        if len(stray) >= 2:
            return f"CJK characters {''.join(stray[:10])!r} in an answer to a Latin-script user"
        return None
    latin_user = sum(len(w) for w in _LATIN_WORD.findall(user_text))
    if cjk_user >= 0.3 * (cjk_user + latin_user):
        if callable(grounding):
            grounding = grounding()
        low = grounding.lower()
        stray = [w for w in _LATIN_WORD.findall(text) if not w.isupper() and w.lower() not in low]
        if len(stray) >= 3:
            return f"Latin-script words {', '.join(stray[:6])} in an answer to a CJK-script user"
    return None


def _scan_bad_chars(strings: list[tuple[str, Any, str]]) -> list[str]:
    joined = "\n".join(t for _, _, t in strings)
    if not _BAD_CHARS.search(joined) and "\u200c" not in joined and "\u200d" not in joined:
        return []  # the common case, decided by one scan
    out = []
    for where, _, text in strings:
        for mt in _BAD_CHARS.finditer(text):
            out.append(f"{where}: {_char_name(mt.group())} at offset {mt.start()}")
        if "\u200c" in text or "\u200d" in text:
            for mt in _JOINERS.finditer(text):
                if _bad_joiner(text, mt.start()):
                    out.append(f"{where}: {_char_name(mt.group())} at offset {mt.start()}")
    return out


class _ToolLex:
    """What the lexical rules find in one tool definition, computed once per distinct definition: invalid
    characters and date->string artifacts (reasons without the tool's label, which the rule prefixes), its text (the
    canonical JSON: what an answer may quote), and the content words of its name, description and parameters (for
    ``task_consistency``). Most definitions are clean, so each check first screens the canonical JSON with one
    C-level scan and walks the definition only on a hit."""

    __slots__ = ("raw", "tool", "text", "bad_chars", "date", "_words", "_stems")

    def __init__(self, raw: Any, tool: ToolDef | None, key: str):
        self.raw, self.tool, self.text, self._words, self._stems = raw, tool, key, None, None
        strings: list[tuple[str, Any, str]] | None = None

        def walk() -> list[tuple[str, Any, str]]:
            nonlocal strings
            if strings is None:
                strings = []
                _walk_strings(raw.to_dict() if isinstance(raw, ToolDef) else raw, "", None, strings)
            return strings

        # json.dumps escapes C0 controls (\u00XX, \b, \f) and keeps everything else as is
        odd = _BAD_CHARS.search(key) or "\\u00" in key or "\\b" in key or "\\f" in key or "\u200c" in key \
            or "\u200d" in key
        self.bad_chars = _scan_bad_chars(walk()) if odd else []
        self.date: list[str] = []
        # a "string" that is a whole JSON string (the type name) cannot be an artifact; any other one is looked at
        if key.count("tring") != key.count('"string"') and _DATE_TEXT.search(key):
            self.date += _scan_date_text(walk())
        if 'tring": ' in key:  # a key ending in "string" / "String"
            self.date += _scan_date_keys(walk())
        if tool is not None and "tring" in key:
            for name, sub in tool.parameters.properties.items():  # "string", "strings", "<x>_strings"
                if name != "string" and not _PLURAL_STRING.search(name):
                    continue
                described = " ".join(str(v) for v in (sub.description, sub.default, sub.items and
                                                      sub.items.description) if v)
                if described and (_DATE_VALUE.search(described) or "YYYY" in described or "MM/DD" in described):
                    self.date.append(f": parameter {name!r} is described as a date (date->string corruption)")

    @property
    def stems(self) -> frozenset[str]:
        """The :func:`_stem` of each of :attr:`words`."""
        if self._stems is None:
            self._stems = frozenset(_stem(w) for w in self.words)
        return self._stems

    @property
    def words(self) -> frozenset[str]:
        if self._words is None:
            tool = self.tool
            self._words = _content_words(" ".join([tool.name, tool.description or ""] + [
                f"{p} {sub.description or ''}" for p, sub in tool.parameters.properties.items()])) if tool else \
                frozenset()
        return self._words


_TOOL_LEX: dict[str, _ToolLex] = {}


def _tool_lex(key: str, raw: Any, tool: ToolDef | None) -> _ToolLex:
    lex = _TOOL_LEX.get(key)
    if lex is None:
        if len(_TOOL_LEX) >= _TOOL_CACHE_MAX:
            _TOOL_LEX.clear()
        lex = _TOOL_LEX[key] = _ToolLex(raw, tool, key)
    return lex


@_rule("rule")
def rule_invalid_chars(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "no invalid characters" and "no mixed-language responses". Invalid anywhere in the sample
    (definitions, texts, calls, tool outputs): C0/C1 control characters other than tab, newline and carriage
    return (an ANSI escape is one), U+FFFD (a decoding accident), zero-width spaces / word joiners / BOMs, stray
    ZWJ/ZWNJ (see :func:`_bad_joiner`) and lone surrogates. Mixed language: see :func:`_mixed_language`."""
    view = ctx.view(sample)
    out = [label + r for label, lex in view.tool_lex() for r in lex.bad_chars]
    blob = view.blob()
    if blob is None or _BAD_CHARS.search(blob) or "\u200c" in blob or "\u200d" in blob:
        out += _scan_bad_chars(view.strings())
    user_text = " ".join(m.content for m in sample.messages if m.role == "user" and m.content)
    answers = [(i, m.content) for i, m in enumerate(sample.messages)
               if m.role == "assistant" and m.calls is None and m.content]
    if answers:
        # what an answer may quote in another script: the user's words, definitions, calls and tool outputs
        # (built once, and only when an answer has a character or word to look up)
        @lru_cache(maxsize=1)
        def grounding() -> str:
            return "\n".join([user_text] + [lex.text for _, lex in view.tool_lex()]
                             + [t for w, _, t in view.strings() if " call " in w or "(tool)" in w])
        for i, text in answers:
            why = _mixed_language(text, user_text, grounding)
            if why:
                out.append(f"turn {i} (assistant): mixed-language response: {why}")
    return _dedupe(out)


# -- date_string_artifacts ----------------------------------------------------------------------------------------

# The released ToolACE data (HF Team-ACE/ToolACE) had every lowercase "date" replaced by "string". Lexical signatures,
# each chosen so that real words do not match: "update" -> "upstring" (only where "up" starts a word or a camelCase
# part, so "setupString" passes), "up-to-date" -> "up-to-string", "dated" -> "stringd" (no English word contains
# "stringd"), "validate"/"candidate"/... -> "valistring"/"candistring"/..., "datetime" -> "stringtime", "date of
# birth" -> "string of birth", "<due|birth|release|...> date" -> "<...> string".
_DATE_TEXT = re.compile(
    r"(?i:\bup[- ]to[- ]string\b)"
    r"|(?:(?<![A-Za-z])[Uu]p|(?<=[a-z])Up)[Ss]tring"
    r"|[Ss]tringd(?![a-z])"
    r"|(?:(?<![A-Za-z])|(?<=[a-z])(?=[A-Z]))(?:[Ii]nvali|[Vv]ali|[Cc]andi|[Cc]onsoli|[Aa]ccommo|[Ll]iqui|[Ii]ntimi"
    r"|[Ee]luci|[Mm]an)[Ss]tring"
    r"|(?:(?<![A-Za-z])[Ss]|(?<=[a-z])S)tring[-_ ]?[Tt]ime(?![a-z])"
    r"|(?i:\bstring[ _]of[ _]birth\b)"
    r"|(?i:\b(?:birth|due|expiry|expiration|release|departure|arrival|delivery|publication|maturity|settlement"
    r"|check-in|check-out)[ -]string\b)")
# Words that precede "_date" in parameter and field names; "<word>_string" (or camelCase "<word>String") is then the
# corrupted name. Deliberately absent: query, search, format, connection, input, user_agent, to, from, ... whose
# "_string" is the real word (query_string, format_string, to_string).
_DATE_PREFIXES = frozenset("""
start end begin finish birth due expiry expiration expire release departure arrival return check_in checkin
check_out checkout issue publish publication published delivery effective payment booking reservation event
travel transaction order ship shipping creation created modified updated last first launch settlement maturity trade
report pickup dropoff move_in move_out hire join joining registration renewal termination cutoff deadline
""".split())
_REAL_STRING_BASES = frozenset("""
query search format connection input output user_agent text raw json xml sub match replacement pattern filter url
command template version id encoded decoded base64 hex password secret token test sample source target result
date time datetime timestamp iso
""".split())
_DATE_VALUE = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}"
    r"|(?i:\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4})")
_NAME_SUFFIX = re.compile(r"\A(.+?)(?:_string|String)\Z")


def _corrupt_name(key: str, value: Any) -> bool:
    """``start_string`` / ``startString`` / ``birth_string``: a date-twin prefix, or any non-generic prefix holding
    a date value."""
    m = _NAME_SUFFIX.match(key)
    if not m:
        return False
    base = m.group(1)
    snake = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", base).lower()
    if snake in _DATE_PREFIXES or snake.rsplit("_", 1)[-1] in _DATE_PREFIXES:
        return True
    return (isinstance(value, str) and snake not in _REAL_STRING_BASES and bool(_DATE_VALUE.search(value)))


@_rule("rule")
def rule_date_string_artifacts(sample: Sample, ctx: VerifyContext) -> list[str]:
    """The lexical signature of the released ToolACE data's ``date``->``string`` corruption, in definitions, calls,
    tool outputs and texts: the text patterns of ``_DATE_TEXT`` (``up-to-string``, ``upstring(s|d)``,
    ``upstringdDate``, ``candistring``, ``stringtime``, ...), names ``<x>_string`` / ``<x>String`` whose ``<x>`` is a
    word that precedes "date" (start, end, birth, due, check_in, ...) or that hold a date value (unless ``<x>`` is a
    word whose string is real: query_string, connection_string, format_string and ``substring`` pass), a key named
    ``"string"`` holding a date, and a definition parameter named ``string`` described with a date format."""
    view = ctx.view(sample)
    out = [label + r for label, lex in view.tool_lex() for r in lex.date]
    blob = view.blob()
    if blob is None or "tring" in blob:  # both scans look only at strings containing "tring" ("String" does)
        strings = view.strings()
        out += _scan_date_text(strings) + _scan_date_keys(strings) + _scan_plural_dates(sample)
    return _dedupe(out)


_PLURAL_STRING = re.compile(r"(?:\A|_)strings\Z|[a-z]Strings\Z")


def _scan_plural_dates(sample: Sample) -> list[str]:
    """Call arguments named ``strings`` / ``<x>_strings`` whose values are dates: a ``dates`` parameter renamed by
    the corruption (the definition was renamed with it, so ``unknown_params`` cannot see it)."""
    out = []
    for i, m in enumerate(sample.messages):
        for k, call in enumerate(m.calls or ()):
            for name, value in call.arguments.items():
                if isinstance(name, str) and _PLURAL_STRING.search(name) and any(
                        isinstance(v, str) and _DATE_VALUE.search(v) for v in leaf_values(value)):
                    out.append(f"turn {i} call {k} {call.name!r}: parameter {name!r} holds dates {_short(value)} "
                               "(a dates field renamed by the date->string corruption)")
    return out


def _scan_date_text(strings: list[tuple[str, Any, str]]) -> list[str]:
    # every pattern of _DATE_TEXT contains "tring": a substring test skips the regex for almost every string
    if "tring" not in "\n".join(t for _, _, t in strings):
        return []
    out = []
    for where, _, text in strings:
        m = _DATE_TEXT.search(text) if "tring" in text else None
        if m:
            out.append(f"{where}: {_word_around(text, m.start(), m.end())!r} in {_short(text, 80)} (date->string "
                       "corruption)")
    return out


def _scan_date_keys(strings: list[tuple[str, Any, str]]) -> list[str]:
    """Keys named ``string`` holding a date, and corrupted ``<x>_string`` names (the walker emits each key as
    ``(where, "<key>", key)`` right before its value)."""
    out = []
    for n, (where, key, text) in enumerate(strings):
        if key != "<key>" or not text.endswith(("tring", "String")):
            continue
        value = _value_after(strings, n)
        if text == "string" or text == "String":
            if isinstance(value, str) and _DATE_VALUE.search(value):
                out.append(f"{where}: key 'string' holds the date {_short(value)} (date->string corruption)")
        elif _corrupt_name(text, value):
            out.append(f"{where}: name '{text}' (a date field renamed by the date->string corruption)")
    return out


def _word_around(text: str, start: int, end: int) -> str:
    """The whole word a match lies in ("upstrings" for a match of "upstring")."""
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return text[start:end]


def _value_after(strings: list, n: int) -> Any:
    """The string value that directly follows key entry ``n`` of the flattened list, if it is that key's value."""
    if n + 1 < len(strings):
        where, key, text = strings[n + 1]
        if key == strings[n][2] and where == strings[n][0]:
            return text
    return None


# -- dialog structure ---------------------------------------------------------------------------------------------

@_rule("rule")
def rule_call_response_names(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "API names in the call and the tool response match": result k of a tool turn names call k of the
    call turn it answers (ToolACE's tool turns list results in call order)."""
    out = []
    msgs = sample.messages
    for i in range(1, len(msgs)):
        m, prev = msgs[i], msgs[i - 1]
        if m.role != "tool" or m.results is None or not prev.calls:
            continue
        for k, (call, result) in enumerate(zip(prev.calls, m.results)):
            name = result.get("name") if isinstance(result, dict) else None
            if name != call.name:
                out.append(f"turn {i} (tool) result {k}: named {name!r} but answers call {k} '{call.name}' of "
                           f"turn {i - 1}")
    return out


@_rule("rule")
def rule_role_order(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "correct role order". The dialog starts with a user turn and ends with an assistant turn; a tool
    turn comes only right after an assistant call turn; after a tool turn the assistant speaks. Two user turns in a
    row are rejected: a user turn is always answered before the next (two in a row mean a lost assistant turn, and
    the merged request would be a different task); so are two assistant turns in a row, except a call turn's tool
    turn between them. (A call turn without its tool turn is ``tool_response_follows``.)"""
    out = []
    msgs = sample.messages
    if not msgs:
        return out
    if msgs[0].role != "user":
        out.append(f"turn 0: starts with {msgs[0].role}, not user")
    for i in range(1, len(msgs)):
        prev, m = msgs[i - 1], msgs[i]
        if m.role == "tool" and not prev.is_call:
            out.append(f"turn {i} (tool): follows a {prev.role} turn, not an assistant call turn")
        elif m.role == "user" and prev.role == "user":
            out.append(f"turn {i} (user): two user turns in a row")
        elif m.role == "user" and prev.role == "tool":
            out.append(f"turn {i} (user): follows a tool turn; the assistant must answer the tool output first")
        elif m.role == "assistant" and prev.role == "assistant":
            out.append(f"turn {i} (assistant): two assistant turns in a row")
    if msgs[-1].role != "assistant":
        out.append(f"turn {len(msgs) - 1}: the dialog ends with a {msgs[-1].role} turn, not an assistant turn")
    return out


@_rule("rule")
def rule_tool_response_follows(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "a tool response follows each function call": every call turn except the last turn of the sample
    (a training target) is followed by a tool turn with exactly one result per call."""
    out = []
    msgs = sample.messages
    for i, m in enumerate(msgs):
        if not m.is_call or i == len(msgs) - 1:
            continue
        nxt = msgs[i + 1]
        n_calls = len(m.calls) if m.calls is not None else None
        if nxt.role != "tool":
            out.append(f"turn {i}: call turn ({n_calls if n_calls is not None else '?'} call(s)) is followed by a "
                       f"{nxt.role} turn, not a tool response")
        elif n_calls is not None and nxt.results is not None and len(nxt.results) != n_calls:
            out.append(f"turn {i + 1} (tool): {len(nxt.results)} result(s) for {n_calls} call(s) of turn {i}")
    return out


_PY_FORMAT_REQUIRED = re.compile(r"\[func(?:_name)?1\(")
_JSONISH_CALL = re.compile(r"\A\s*(?:```(?:json)?\s*)?[\[{]\s*(?:\{\s*)?\"(?:name|function|tool_name)\"")


@_rule("rule")
def rule_system_format(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "no format conflict with system-prompt requirements". When the system prompt asks for calls as
    ``[func1(params_name=params_value, ...)]`` (ToolACE's, BFCL's and FunRL's prompts do), an assistant turn may not
    write its calls as JSON or Hermes ``<tool_call>`` blocks, and may not wrap a call list in prose ("NO other text
    MUST be included" / "only return the function call"): a text answer that contains ``[<tool name>(`` is a call
    mixed with prose, and a call turn that also carries text breaks the same requirement. A system prompt without
    such a requirement (or none) imposes nothing."""
    system = sample.system or ""
    if not _PY_FORMAT_REQUIRED.search(system):
        return []
    out = []
    names = list(ctx.view(sample).defs)
    no_other_text = "NO other text" in system or "only return the function call" in system
    for i, m in enumerate(sample.messages):
        if m.role != "assistant":
            continue
        text = m.content or ""
        if m.calls is not None:
            if text.strip() and no_other_text:
                out.append(f"turn {i} (assistant): text {_short(text)} next to the calls; the system prompt allows "
                           "no other text")
            continue
        source = m.raw if m.raw is not None else text
        if TOOL_CALL_OPEN in source:
            out.append(f"turn {i} (assistant): calls written as <tool_call> blocks; the system prompt requires "
                       "[func(...)]")
        elif _JSONISH_CALL.match(source):
            out.append(f"turn {i} (assistant): calls written as JSON; the system prompt requires [func(...)]")
        elif m.raw is None and no_other_text and names and "[" in text and "(" in text and re.search(
                r"\[\s*(?:" + "|".join(map(re.escape, names)) + r")\s*\(", text):
            out.append(f"turn {i} (assistant): a call list inside prose; the system prompt allows no other text")
    return out


# -- execution ----------------------------------------------------------------------------------------------------

def _pool_api(ctx: VerifyContext, view: _View, name: str) -> Any:
    """The pool record implementing tool ``name`` of this sample, if its definition is the sample's."""
    records = (ctx._pool_index or {}).get(name)
    if not records:
        return None
    key = view.keys.get(name)
    if key is None:
        return None
    for rec in records:
        rec_key = _POOL_KEYS.get(id(rec))
        if rec_key is None or rec_key[0] is not rec:
            if len(_POOL_KEYS) >= _TOOL_CACHE_MAX:
                _POOL_KEYS.clear()
            view_of = getattr(rec, "tool_dict", None)  # an ApiRecord's cached tool.to_dict()
            rec_key = _POOL_KEYS[id(rec)] = (rec, _tool_key(view_of() if callable(view_of) else rec.tool.to_dict()))
        if rec_key[1] == key:
            return rec
    return None


# canonical JSON of each pool record's definition, by record identity (a record's tool is not mutated once built)
_POOL_KEYS: dict[int, tuple[Any, str]] = {}


def _executor(ctx: VerifyContext) -> tuple[Callable, type]:
    """``(run, ExecutionError)``: ``run(api, arguments)`` executes a call for comparison. The pool's own executor
    only reads the arguments (``api_pool.execute_again``: a call this process already executed is not generated
    again); a custom one gets a deep copy of them, since it may change them."""
    from . import api_pool

    if ctx.execute is None:
        return api_pool.execute_again, api_pool.ExecutionError
    custom = ctx.execute
    return (lambda api, arguments: custom(api, copy.deepcopy(arguments))), api_pool.ExecutionError


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _first_diff(expected: Any, got: Any, path: str = "") -> str:
    """Where two JSON values first differ, as ``path: expected X, got Y``."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for k in expected:
            if k not in got:
                return f"{path}.{k}: missing (expected {_short(expected[k])})"
            if expected[k] != got[k]:
                return _first_diff(expected[k], got[k], f"{path}.{k}")
        for k in got:
            if k not in expected:
                return f"{path}.{k}: not returned by the implementation (got {_short(got[k])})"
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        for j, (a, b) in enumerate(zip(expected, got)):
            if a != b:
                return _first_diff(a, b, f"{path}[{j}]")
    return f"{path or 'results'}: expected {_short(expected)}, got {_short(got)}"


@_rule("rule")
def rule_execution(sample: Sample, ctx: VerifyContext) -> list[str]:
    """APIGen's execution stage (ToolACE has none): each call to a tool with a programmatic implementation in
    ``ctx.pool`` (same definition) is run; an ``ExecutionError`` fails the sample with its reason, and a recorded
    tool output that differs from what the implementation returns (a tampered or wrongly simulated result) fails
    it too. Tools without an implementation are not checked here."""
    if not ctx._pool_index:
        return []
    execute, ExecutionError = _executor(ctx)
    view = ctx.view(sample)
    out = []
    msgs = sample.messages
    for i, m in enumerate(msgs):
        for k, call in enumerate(m.calls or ()):
            api = _pool_api(ctx, view, call.name)
            if api is None:
                continue
            try:
                expected = execute(api, call.arguments)
            except ExecutionError as e:
                out.append(f"turn {i} call {k} '{call.name}': execution failed: {e}")
                continue
            nxt = msgs[i + 1] if i + 1 < len(msgs) else None
            if nxt is None or nxt.role != "tool" or not nxt.results or k >= len(nxt.results):
                continue
            item = nxt.results[k]
            if not isinstance(item, dict) or item.get("name") != call.name:
                continue
            if expected == item.get("results"):
                continue
            exp, got = _jsonable(expected), _jsonable(item.get("results"))  # tuples vs lists and the like
            if exp != got:
                out.append(f"turn {i + 1} (tool) result {k} '{call.name}': recorded output differs from the "
                           f"implementation's: {_first_diff(exp, got)}")
    return out


# =====================================================================================================================
# Model layer, deterministic implementations
# =====================================================================================================================

_WORD_NUMBERS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_WORD_NUMBERS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90, "hundred": 100, "thousand": 1000, "dozen": 12, "once": 1, "twice": 2,
                      "single": 1, "couple": 2, "pair": 2, "first": 1, "second": 2, "third": 3})
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_SCALED = re.compile(r"(?<![A-Za-z0-9_.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(%|k\b|thousand|million|billion)", re.I)
_SCALE = {"k": 1e3, "thousand": 1e3, "million": 1e6, "billion": 1e9}
_NORM = re.compile(r"[\W_]+")
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_STOP = frozenset("""
the and for with from this that these those what which when where who whom how into onto about over under than then
get set list find search retrieve fetch use using used api apis tool tools function functions data info information
given specified specific based return returns returned provide provides provided can could would should will you your
are was were has have had not but all any each per via its it's our out let please want need like also just give
show tell some more most such other one two new make made see look looking help able know
""".split())


def _norm(text: str) -> str:
    return _NORM.sub(" ", text.lower()).strip()


def _tokens(text: str) -> list[str]:
    return _norm(text).split()


def _forms(tok: str) -> tuple[str, ...]:
    """A token and its naive singular/plural forms (enough for "hotels"/"hotel", "matches"/"match")."""
    forms = [tok]
    if tok.endswith("es") and len(tok) > 4:
        forms.append(tok[:-2])
    if tok.endswith("s") and len(tok) > 3:
        forms.append(tok[:-1])
    else:
        forms.append(tok + "s")
    return tuple(forms)


def _numbers(text: str) -> set[float]:
    """Every number written in ``text`` ("1,000" is 1000); "5%" also gives 0.05, "10k" 10000, "2 million" 2e6."""
    out = {float(x.replace(",", "")) for x in _NUMBER.findall(text)}
    if "%" in text or "k" in text or "K" in text or "illion" in text or "housand" in text:
        for number, unit in _SCALED.findall(text):
            base = float(number.replace(",", ""))
            out.add(round(base / 100, 12) if unit == "%" else base * _SCALE[unit.lower()])
    return out


class _Grounding:
    """What a call may draw its values from: the text (lowercased, and normalised), its tokens and its numbers.
    Grows turn by turn (:meth:`add`) and derives each view only when a value needs it, so a dialog is read once
    however many call turns it has."""

    def __init__(self, parts: Iterable[str] = ()):
        self._parts: list[str] = []
        self._normed: list[str] = []  # _norm of each part, as far as a view has needed them
        self._views: dict[str, Any] = {}
        for p in parts:
            self.add(p)

    def add(self, raw: str) -> None:
        if raw:
            self._parts.append(raw)
            self._views.clear()

    def _view(self, name: str) -> Any:
        v = self._views.get(name)
        if v is None:
            if name == "raw_lower":
                v = "\n".join(self._parts).lower()
            elif name == "text":
                normed = self._normed
                normed.extend(_norm(p) for p in self._parts[len(normed):])
                v = " " + " \n ".join(normed) + " "
            elif name == "tokens":
                v = set(self.text.split())
            else:
                v = _numbers("\n".join(self._parts)) | {float(_WORD_NUMBERS[t]) for t in self.tokens
                                                         if t in _WORD_NUMBERS}
            self._views[name] = v
        return v

    raw_lower = property(lambda self: self._view("raw_lower"))
    text = property(lambda self: self._view("text"))
    tokens = property(lambda self: self._view("tokens"))
    numbers = property(lambda self: self._view("numbers"))

    def has_token(self, tok: str) -> bool:
        tokens = self.tokens
        return any(f in tokens for f in _forms(tok))

    def has_number(self, x: float) -> bool:
        return _has_number(self.numbers, x)


def _has_number(numbers: set[float], x: float) -> bool:
    """``x`` is among ``numbers`` by value, sign ignored (see :func:`rule_hallucinated_values`)."""
    x = abs(x)
    return x in numbers or any(abs(x - n) < 1e-9 * max(1.0, n) for n in numbers)


_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _date_grounded(value: str, g: _Grounding) -> bool | None:
    """A ``YYYY-MM-DD[...]`` value is grounded when the day is written in the context in any common form (ISO,
    "March 3rd", "3 March", "Mar. 3", "3/3/2024", "03.03.2024"); the year need not be written (a dialog says "March
    3rd" and the call fills the year in), nor the time of a date-time. ``None`` when ``value`` is not a date."""
    m = _ISO_DAY.match(value)
    if not m:
        return None
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not 1 <= mo <= 12:
        return False
    text = g.raw_lower
    if value[:10] in text:
        return True
    return _day_forms(y, mo, d).search(text) is not None


@lru_cache(maxsize=4096)
def _day_forms(y: int, mo: int, d: int) -> re.Pattern:
    """One regex for the ways a day is written (any of them matching is what :func:`_date_grounded` asks),
    compiled once per day rather than five times per value."""
    month = _MONTHS[mo - 1]
    names = f"(?:{month}|{month[:3]}\\.?)"
    day = rf"0?{d}(?:st|nd|rd|th)?"
    forms = [rf"\b{names}\s+{day}\b", rf"\b{day}\s+(?:of\s+)?{names}\b",
             rf"(?<!\d)0?{mo}[/.-]0?{d}(?:[/.-](?:{y}|{y % 100:02d}))?(?!\d)",
             rf"(?<!\d)0?{d}[/.-]0?{mo}[/.-](?:{y}|{y % 100:02d})(?!\d)",
             rf"(?<!\d){y}[/.]0?{mo}[/.]0?{d}(?!\d)"]
    return re.compile("|".join(f"(?:{f})" for f in forms))


def _ungrounded(value: Any, schema: Schema | None, g: _Grounding, path: str, out: list[str]) -> None:
    """Append ``path = value`` for each leaf of ``value`` that the context does not contain (see
    :func:`rule_hallucinated_values` for the rules)."""
    if schema is not None and schema.has_default and value == schema.default:
        return
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, dict):
        props = schema.properties if schema is not None else {}
        for k, v in value.items():
            _ungrounded(v, props.get(k), g, f"{path}.{k}", out)
        return
    if isinstance(value, (list, tuple)):
        items = schema.items if schema is not None else None
        enum = schema.enum if schema is not None else None
        for j, v in enumerate(value):
            sub = items
            if sub is None and enum is not None:
                sub = Schema({"enum": enum})
            _ungrounded(v, sub, g, f"{path}[{j}]", out)
        return
    if isinstance(value, (int, float)):
        if not g.has_number(float(value)):
            out.append(f"{path}={_short(value)}")
        return
    if not isinstance(value, str):
        return
    enum = schema.enum if schema is not None else None
    if _string_grounded(value, g, enum is not None and value in enum):
        return
    out.append(f"{path}={_short(value)}")


def _string_grounded(value: str, g: _Grounding, is_enum: bool) -> bool:
    nv = _norm(value)
    if not nv:
        return True
    if f" {nv} " in g.text or (_CJK.search(nv) and nv in g.text):  # CJK text has no spaces between words
        return True
    dated = _date_grounded(value, g)
    if dated is not None:
        return dated
    try:
        if not is_enum and re.fullmatch(r"-?\d+(?:\.\d+)?", value.strip().replace(",", "")):
            return g.has_number(float(value.strip().replace(",", "")))
    except ValueError:
        pass
    toks = nv.split()
    hits = sum(1 for t in toks if g.has_token(t))
    if is_enum:
        # an enum value is a choice among the definition's words, not something the user spells out: grounded
        # when one of its words (3+ letters) is in the context ("MOST_ACTIVE" for "the most active stocks")
        return any(len(t) >= 3 and g.has_token(t) for t in toks) or len(toks) == hits
    if hits == len(toks):
        return True
    # composed text (a message body, a note) is written by the assistant from the request: half its words suffice
    return len(toks) >= 6 and hits * 2 >= len(toks)


def _tool_output_text(m: Message) -> str:
    if m.results is not None:
        return _COMPACT_JSON(m.results)
    return m.raw or ""


@_rule("model")
def rule_hallucinated_values(sample: Sample, ctx: VerifyContext) -> list[str]:
    """ToolACE's hallucination expert, deterministically: every argument value must come from the context the call
    was made in: the user turns so far, the system prompt (without its tool list), earlier assistant texts and
    earlier tool outputs.

    * strings: normalised containment (case, whitespace, punctuation, ``_``/``-`` ignored), else every word present
      (singular/plural forms); composed free text of 6+ words needs half its words; a ``YYYY-MM-DD`` date is
      grounded by the day written in any usual form (:func:`_date_grounded`).
    * numbers by value: ``3 == 3.0 == "3"``; "1,000" is 1000; "5%" also grounds 0.05, "10k" 10000; written-out
      numbers up to twenty, the tens, hundred, thousand, dozen (and "twice", "a couple", ...) count; the sign is
      ignored ("5 degrees below zero" grounds -5).
    * booleans and ``null`` are exempt (a flag is a decision, rarely a word the user says); a value equal to the
      parameter's default is allowed; an enum value is grounded by word overlap (one word of 3+ letters).
    * arrays and dicts element by element.
    """
    view = ctx.view(sample)
    out = []
    g = _Grounding([view.system_context()])
    last_call = view.last_call_turn()
    for i, m in enumerate(sample.messages[:last_call + 1]):  # turns after the last call ground nothing
        if m.calls:
            for k, call in enumerate(m.calls):
                tool = view.defs.get(call.name)
                props = tool.parameters.properties if tool is not None else {}
                bad: list[str] = []
                for name, value in call.arguments.items():
                    _ungrounded(value, props.get(name), g, name, bad)
                if bad:
                    out.append(f"turn {i} call {k} '{call.name}': value(s) not found in the user turns, system prompt "
                               f"or earlier tool outputs: {', '.join(bad)}")
        if m.role == "user" or (m.role == "assistant" and m.calls is None):
            g.add(m.content)
        elif m.role == "tool":
            g.add(view.output_text(i))
    return out


@lru_cache(maxsize=4096)
def _content_words(text: str) -> frozenset[str]:
    """Words that carry meaning (3+ letters, not a stop word or a number), camelCase split; cached since the same
    request is compared with every call that answers it (within a sample: a cache of the last few thousand texts,
    not of a whole file's, so memory stays flat however many samples are verified)."""
    # _WORD_RUN.findall(s.lower()) is _tokens(s): the runs between the [\W_]+ that _norm turns into spaces
    return frozenset(t for t in set(_WORD_RUN.findall(_split_camel(text).lower()))
                     if len(t) >= 3 and t not in _STOP and not t.isdigit())


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_WORD_RUN = re.compile(r"[^\W_]+")


def _split_camel(text: str) -> str:
    return _CAMEL.sub(" ", text)


def _stem(tok: str) -> str:
    return tok[:4] if len(tok) >= 4 else tok


def _overlap(a: set[str], b: set[str]) -> set[str]:
    sb = {_stem(t) for t in b}
    return {t for t in a if _stem(t) in sb}


@_rule("model")
def rule_task_consistency(sample: Sample, ctx: VerifyContext) -> list[str]:
    """ToolACE's consistency expert, deterministically: does each answer fit the task?

    * A call's tool must relate to the request: some content word of its name, description or parameters
      (camelCase split, stop words dropped, compared on 4-letter stems) occurs in the user turns so far or an
      earlier tool output.
      Skipped when the request is CJK and the definition is not (no lexical overlap across languages).
    * An ``irrelevance`` sample calls nothing. A ``clarify`` sample answers its first request with a question that
      names a missing parameter: one whose value the user gives only after the question (when a later call shows
      it), else any required parameter; named by a word of its name or description.
    * A text answer right after a tool turn (a summary) mentions something of that output: one of its words
      (3+ letters) or numbers.
    """
    out = []
    msgs = sample.messages
    view = ctx.view(sample)
    if sample.type == "irrelevance":
        for i, m in enumerate(msgs):
            if m.is_call:
                names = ", ".join(c.name for c in m.calls or ()) or "?"
                out.append(f"turn {i}: an irrelevance sample (no tool fits the request) calls {names}")
    context: list[str] = []
    stems: set[str] = set()  # 4-letter stems of the content words of the context so far
    folded = 0  # context[:folded] is in stems (folded only when a call needs it)
    cjk_request = False  # a CJK character in context[:folded]
    last_call = view.last_call_turn()
    lex_of = view.lex_by_name()
    for i, m in enumerate(msgs):
        if m.calls:
            for text in context[folded:]:
                stems.update(w[:4] for w in _content_words(text))  # w[:4] is _stem(w)
                cjk_request = cjk_request or (not text.isascii() and bool(_CJK.search(text)))
            folded = len(context)
            request = " ".join(context) if cjk_request else ""
            for k, call in enumerate(m.calls):
                if call.name not in view.defs:
                    continue
                lex = lex_of[call.name]
                if cjk_request and not _CJK.search(lex.text):
                    continue
                if stems.isdisjoint(lex.stems) and not (cjk_request and any(
                        c in request for c in _CJK.findall(lex.text))):
                    out.append(f"turn {i} call {k} '{call.name}': nothing in the tool's name or description relates "
                               "to the request")
        if m.role == "assistant" and m.calls is None and m.raw is None and i > 0 and msgs[i - 1].role == "tool":
            prev = msgs[i - 1]
            if prev.results and not _mentions_output(m.content or "", _result_values(prev.results)):
                    out.append(f"turn {i} (assistant): the summary mentions nothing from the tool output of turn "
                               f"{i - 1}")
        if i < last_call:  # the context of a later call
            context.extend([m.content] if m.role == "user" else [view.output_text(i)] if m.role == "tool" else
                           [c.name for c in m.calls or ()])
    if sample.type == "clarify":
        out.extend(_clarify_problems(sample, view))
    return out


def _mentions_output(text: str, values: Iterable[Any]) -> bool:
    """Does a summary mention something of a tool output: one of its string values, one of its numbers, or a
    content word of its strings? (Cheapest test first, reading ``values`` only as far as it needs: a summary
    usually quotes the first ones; an output with nothing to mention passes.)"""
    low = text.lower()
    read = []
    for v in values:
        if isinstance(v, str) and len(v) >= 2 and v.lower() in low:
            return True
        read.append(v)
    values = read
    nums = {float(v) for v in values if _is_num(v)}
    if nums:
        said = _numbers(text)
        if any(_has_number(said, x) for x in nums):
            return True
    words = _content_words(" ".join(v for v in values if isinstance(v, str)))
    if words and _overlap(words, _content_words(text)):
        return True
    return not words and not nums


def _result_values(value: Any) -> Iterator[Any]:
    """Leaf values of tool results (the ``results`` of each item, not the item's ``name``), booleans left out, in
    order, as they are read."""
    return (v for item in value for v in leaf_values(item.get("results") if isinstance(item, dict) else item)
            if not isinstance(v, bool))


def _clarify_problems(sample: Sample, view: _View) -> list[str]:
    msgs = sample.messages
    decisions = sample.decision_turns()
    if not decisions:
        return ["a clarify sample without an assistant answer"]
    q = decisions[0]
    m = msgs[q]
    if m.is_call:
        return [f"turn {q}: a clarify sample must first ask for the missing parameter, but it calls "
                f"{', '.join(c.name for c in m.calls or ()) or 'a tool'}"]
    question = _content_words(m.content or "")
    before = _Grounding([view.system_context()] + [x.content for x in msgs[:q] if x.role == "user"])
    candidates: list[tuple[str, Schema | None]] = []
    for later in msgs[q + 1:]:
        for call in later.calls or ():
            tool = view.defs.get(call.name)
            props = tool.parameters.properties if tool is not None else {}
            for name, value in call.arguments.items():
                bad: list[str] = []
                _ungrounded(value, props.get(name), before, name, bad)
                if bad:
                    candidates.append((name, props.get(name)))
        if later.calls:
            break
    if not candidates:
        for tool in view.defs.values():
            candidates += [(p, tool.param(p)) for p in tool.required]
    if not candidates:
        return []
    for name, schema in candidates:
        words = _content_words(name) | _content_words((schema.description or "") if schema is not None else "")
        if _overlap(words, question) or re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", m.content or ""):
            return []  # the question shares words with the parameter, or names it literally ("show_id")
    names = ", ".join(dict.fromkeys(n for n, _ in candidates))
    return [f"turn {q}: the clarifying question names none of the missing parameters ({names})"]


_ERROR_KEYS = ("error", "errors", "error_message", "errorMessage", "error_msg", "exception", "err")
# keys an error envelope carries besides its error; a result with any other key is data (a validation API's
# "errors" list, a payment's "status": "failed"), not a failed call
_ENVELOPE_KEYS = frozenset(_ERROR_KEYS + ("message", "msg", "code", "error_code", "errorCode", "status",
                                           "status_code", "statusCode", "success", "details", "detail", "type",
                                           "reason", "request_id"))


def _error_shape(results: Any) -> str | None:
    """Why ``results`` is an error envelope rather than a result: an "Error: ..." text, or a dict made only of
    envelope keys with an error set, a failed ``status`` or ``success: false``."""
    if isinstance(results, str):
        head = results.strip()[:40].lower()
        if head.startswith(("error", "exception", "traceback", "failed")):
            return f"an error text {_short(results)}"
        return None
    if isinstance(results, dict) and results and set(results) <= _ENVELOPE_KEYS:
        for key in _ERROR_KEYS:
            if results.get(key):
                return f"an error result ({key}: {_short(results[key])})"
        status = results.get("status")
        if isinstance(status, str) and status.lower() in ("error", "failed", "failure", "fail"):
            return f"an error result (status: {status!r})"
        if results.get("success") is False:
            return "an error result (success: false)"
    return None


@_rule("model")
def rule_tool_response_consistency(sample: Sample, ctx: VerifyContext) -> list[str]:
    """ToolACE's tool-response expert, deterministically: each simulated result answers the call it follows (the
    tool turn holds results for the called names) and is not empty. Where the pool knows the API (same definition),
    the result must conform to its return schema (``api_pool.result_issues``: types, enums, missing or unknown
    fields). Otherwise it must not be an error envelope (:func:`_error_shape`): a tool agent that answers a valid
    call with an error simulated the API wrongly."""
    out = []
    view = ctx.view(sample)
    msgs = sample.messages
    for i in range(1, len(msgs)):
        m, prev = msgs[i], msgs[i - 1]
        if m.role != "tool" or m.results is None:
            continue
        called = [c.name for c in prev.calls or ()]
        for k, item in enumerate(m.results):
            if not isinstance(item, dict):
                continue
            name = item.get("name")
            if called and name not in called:
                out.append(f"turn {i} (tool) result {k}: a result for {name!r}, which turn {i - 1} does not call")
            res = item.get("results")
            if res is None or res == {} or res == [] or res == "":
                out.append(f"turn {i} (tool) result {k} {name!r}: empty result")
                continue
            api = _pool_api(ctx, view, name) if isinstance(name, str) else None
            if api is not None and isinstance(getattr(api, "returns", None), dict) and api.returns:
                # the API's return schema is known: it decides (an "errors" field it declares is data)
                from .api_pool import result_issues

                out.extend(f"turn {i} (tool) result {k} {name!r}: {r} (return schema)"
                           for r in result_issues(api, res))
                continue
            err = _error_shape(res)
            if err:
                out.append(f"turn {i} (tool) result {k} {name!r}: {err}")
    return _dedupe(out)


# =====================================================================================================================
# Model layer with an LLM: one judge per check
# =====================================================================================================================

_JUDGE_REPLY = ('Reply with one JSON object and nothing else: {"pass": true or false, "reason": "<one sentence; '
                'name the turn, call and value at fault when it fails>"}')

JUDGE_PROMPTS: dict[str, str] = {
    "hallucinated_values": (
        "You check synthesized function-calling dialogs for hallucinated argument values (ToolACE's hallucination "
        "detection). Check ONE thing: is every argument value of every function call grounded, i.e. stated or "
        "directly implied by the user's messages, the system prompt, or an earlier tool output (a parameter's "
        "default also counts)? Reformatting a stated value is grounded (\"March 3rd\" as 2024-03-03, \"two\" as "
        "2, a city's country code). A value the assistant made up (an ID, a name, a date, a number nobody "
        "mentioned) is not. Ignore everything else about the dialog.\n" + _JUDGE_REPLY),
    "task_consistency": (
        "You check synthesized function-calling dialogs for consistency with the user's task (ToolACE's "
        "consistency validation). Check ONE thing: does each assistant turn do what the user asked and follow the "
        "constraints of the request and the system prompt? A call must use a tool that serves the request; when no "
        "tool fits, the assistant must say so instead of calling; when a required parameter is missing, it must ask "
        "for it; a final answer must report what the tool outputs said. Ignore argument formatting.\n"
        + _JUDGE_REPLY),
    "tool_response_consistency": (
        "You check synthesized function-calling dialogs for simulated tool outputs that contradict the API "
        "definitions (ToolACE's tool-response check). Check ONE thing: is each tool output a plausible result of "
        "the call it answers, given the function's name, description and parameters: a result for that function, "
        "consistent with the arguments (the city asked for, the number of items requested), not an error for a "
        "valid call, not empty? Ignore the assistant's wording.\n" + _JUDGE_REPLY),
}
# What each judge needs to see: a sample without calls has no argument to hallucinate, one without tool turns no
# simulated output to check; those judges are not asked (a pass).
_JUDGE_APPLIES: dict[str, Callable[[Sample], bool]] = {
    "hallucinated_values": lambda s: any(m.calls for m in s.messages),
    "task_consistency": lambda s: True,
    "tool_response_consistency": lambda s: any(m.role == "tool" for m in s.messages),
}


def _render_turn(m: Message) -> str:
    if m.role == "assistant" and m.calls is not None:
        try:
            return "assistant (function calls): " + render_toolace_calls(m.calls)
        except Exception:  # a value without a literal form; the JSON view is as good for a judge
            return "assistant (function calls): " + _short([{"name": c.name, "arguments": c.arguments}
                                                            for c in m.calls], 10**6)
    if m.role == "assistant":
        return "assistant: " + (m.raw if m.calls is None and m.raw is not None else m.content)
    if m.role == "tool":
        return "tool output: " + _tool_output_text(m)
    return "user: " + m.content


def render_for_judge(sample: Sample, upto: int | None = None) -> str:
    """The tools, the system prompt without them, and the numbered dialog (turns ``< upto``), as a judge sees
    them."""
    view = _View(sample)
    tools = [t.to_dict() if isinstance(t, ToolDef) else t for t in sample.tools]
    lines = ["Functions available (JSON):", json.dumps(tools, ensure_ascii=False)]
    system = view.system_context().strip()
    if system:
        lines += ["", "System prompt (without the function list):", system]
    lines += ["", "Dialog:"]
    for i, m in enumerate(sample.messages[:upto]):
        lines.append(f"[turn {i}] {_render_turn(m)}")
    return "\n".join(lines)


def _parse_judge(text: str) -> dict[str, Any]:
    """``{"pass": bool, "reason": str}`` (FunRL's judge adds ``needs_call``); a ``ValueError`` makes
    :func:`chat_json` ask again and finally quarantine the sample."""
    from ..backends import extract_json

    obj = extract_json(text)
    if not isinstance(obj, dict) or not isinstance(obj.get("pass"), bool):
        raise ValueError(f"expected {{\"pass\": true|false, \"reason\": ...}}, got {_short(obj, 120)}")
    reason = obj.get("reason")
    obj["reason"] = reason if isinstance(reason, str) else ("" if reason is None else json.dumps(reason))
    return obj


async def _ask_judge(backend: Any, system: str, user: str, retries: int) -> Any:
    from ..backends import ChatRequest, chat_json

    request = ChatRequest(messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                          stage="verify", temperature=0, json_mode=True, max_tokens=512)
    return await chat_json(backend, request, _parse_judge, retries=retries)


# =====================================================================================================================
# Verdicts
# =====================================================================================================================

@dataclass
class SampleVerdict:
    """The outcome for one sample: ``failed`` maps each failed rule to its reasons; ``layer_failed`` says which
    layers failed (a layer not reached counts as not failed); ``quarantined`` is set when a judge's reply stayed
    unusable (the sample is neither passed nor failed: it is set aside with the reason). ``sample`` is the sample as
    kept (FunRL's filter may have corrected an answer)."""

    id: Any
    kept: bool
    failed: dict[str, list[str]] = field(default_factory=dict)
    layer_failed: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(LAYERS, False))
    quarantined: str | None = None
    sample: Sample | None = field(default=None, repr=False, compare=False)

    @property
    def layer(self) -> str | None:
        """The first layer that failed, or the one whose judge was unusable (``None`` when kept)."""
        failed = next((layer for layer in LAYERS if self.layer_failed.get(layer)), None)
        if failed is None and self.quarantined:
            return "funrl" if self.quarantined.startswith("funrl:") else "model"
        return failed


def _run_rules(sample: Sample, ctx: VerifyContext, layer: str) -> dict[str, list[str]]:
    failed: dict[str, list[str]] = {}
    for rule in ctx.selected(layer):
        try:
            reasons = rule.fn(sample, ctx)
        except Exception as e:  # a rule must not stop a long run; the crash is the reason, visible in the output
            reasons = [f"rule crashed: {type(e).__name__}: {e}"]
        if reasons:
            failed[rule.name] = reasons
    return failed


def _rule_layer(sample: Sample, ctx: VerifyContext) -> SampleVerdict:
    ctx._view = _View(sample)  # shared by this sample's rules (both layers); released by the caller
    failed = _run_rules(sample, ctx, "rule")
    v = SampleVerdict(sample.id, not failed, failed, sample=sample)
    v.layer_failed["rule"] = bool(failed)
    return v


def _model_layer_programmatic(sample: Sample, ctx: VerifyContext, v: SampleVerdict) -> None:
    failed = _run_rules(sample, ctx, "model")
    v.failed.update(failed)
    v.layer_failed["model"] = bool(failed)
    v.kept = not failed


def verify_sample(sample: Sample, ctx: VerifyContext | None = None) -> SampleVerdict:
    """Rule layer, then (for rule-passers) model layer. With an LLM backend the judges run on an event loop
    (:func:`averify`); from inside a running loop (Jupyter) on a fresh one in a worker thread."""
    ctx = ctx or VerifyContext()
    if ctx.llm:
        return run_sync(averify([sample], ctx))[0]
    try:
        v = _rule_layer(sample, ctx)
        if v.kept:
            _model_layer_programmatic(sample, ctx, v)
    finally:
        ctx._view = None
    return v


async def averify(samples: Sequence[Sample], ctx: VerifyContext | None = None) -> list[SampleVerdict]:
    """:func:`verify_sample` for a batch; with an LLM backend every judge request of the batch is in flight at once
    (the backend bounds the concurrency)."""
    ctx = ctx or VerifyContext()
    if not ctx.llm:
        return [verify_sample(s, ctx) for s in samples]
    verdicts = [_rule_layer(s, ctx) for s in samples]
    ctx._view = None
    jobs = []
    for s, v in zip(samples, verdicts):
        if not v.kept:
            continue
        for rule in ctx.selected("model"):
            if rule.name in JUDGE_PROMPTS and _JUDGE_APPLIES[rule.name](s):
                jobs.append((v, rule.name, _ask_judge(ctx.backend, JUDGE_PROMPTS[rule.name], render_for_judge(s),
                                                      ctx.judge_retries)))
    replies = await asyncio.gather(*(job for _, _, job in jobs))
    for (v, name, _), reply in zip(jobs, replies):
        if isinstance(reply, dict):
            if not reply["pass"]:
                v.failed[name] = [f"judge: {reply['reason'] or 'no reason given'}"]
                v.layer_failed["model"] = True
        else:  # Quarantined
            v.quarantined = "; ".join(filter(None, [v.quarantined, f"{name}: {reply.reason}"]))
    for v in verdicts:
        v.kept = not any(v.layer_failed.values()) and v.quarantined is None
    return verdicts


# =====================================================================================================================
# FunRL's two-stage filter
# =====================================================================================================================

FUNRL_PROMPTS: dict[str, str] = {
    "judge": (
        "You evaluate the reference answers of a function-calling dataset (FunRL's data filter). Given the "
        "functions, the dialog so far and the reference answer for the next assistant turn, decide whether the "
        "reference is correct: the right function(s) with the right arguments when a function fits, or a plain-text "
        "reply when no function fits (say so) or a required parameter is missing (ask for it). Also say whether the "
        "turn needs a function call at all.\n"
        'Reply with one JSON object and nothing else: {"pass": true or false, "needs_call": true or false, '
        '"reason": "<one sentence>"}'),
    "regenerate": (
        "You are an expert in composing functions. Write the correct next assistant turn for the dialog below. If a "
        "function fits, reply with only the call list in the format [func_name1(params_name1=params_value1, "
        "params_name2=params_value2...), func_name2(params)]; if none fits, or a required parameter is missing, "
        "reply in plain text saying so or asking for it. No other text."),
}


@dataclass
class FilterOutcome:
    """One sample through FunRL's filter: ``kept``, the ``stage`` that dropped it ("llm" / "ast" / "verify", or
    ``None``), the ``reasons``, ``quarantined`` when a judge or regeneration failed for good, and the ``sample``
    (with any corrected answer; ``sample.meta["corrected"]`` lists the corrections)."""

    id: Any
    kept: bool
    stage: str | None = None
    reasons: list[str] = field(default_factory=list)
    quarantined: str | None = None
    sample: Sample | None = field(default=None, repr=False)


def _reference_text(m: Message, names: Sequence[str]) -> str:
    if m.calls is not None:
        try:
            return render_toolace_calls(m.calls)
        except Exception:
            return json.dumps([{"name": c.name, "arguments": c.arguments} for c in m.calls], ensure_ascii=False)
    return m.raw if m.raw is not None else m.content


def _odd_names(sample: Sample) -> list[str]:
    return [n for n in sample.tool_names() if isinstance(n, str) and n]


def _decodes(text: str, names: Sequence[str]) -> bool:
    """Does the reference text decode as a non-empty call list (BFCL's Python syntax, tool names with spaces
    allowed)? FunRL's stage 2 is this AST test."""
    try:
        return bool(decode_calls(text.strip(), "python", known_names=names))
    except DecodeError:
        return False


def _answer_from_text(text: str, names: Sequence[str]) -> Message:
    """A regenerated answer as a turn: calls when it decodes as a Python-syntax or JSON call list, else text."""
    stripped = (text or "").strip()
    for fmt in ("python", "json"):
        if fmt == "python" and not stripped.startswith("["):
            continue
        try:
            calls = decode_calls(stripped, fmt, known_names=names)
        except DecodeError:
            continue
        if calls:
            return Message("assistant", calls=calls)
    return Message("assistant", stripped)


def _expects_call(sample: Sample, turn: int, first: bool, needs_call: bool | None) -> bool | None:
    """Whether decision turn ``turn`` should be a call: the judge's word when there is one; else the sample type
    (irrelevance: never; clarify: not the first answer, then yes; a call type: the first answer); else unknown."""
    if needs_call is not None:
        return needs_call
    if sample.type == "irrelevance":
        return False
    if sample.type == "clarify":
        return not first
    if sample.type in CALL_TYPES and first:
        return True
    return None


def _ast_stage(sample: Sample, needs: Mapping[int, bool | None]) -> list[str]:
    """FunRL stage 2: (i) no call expected, yet the reference decodes as one; (ii) a call expected, yet the
    reference is text that does not decode."""
    names = _odd_names(sample)
    out = []
    for n, turn in enumerate(sample.decision_turns()):
        m = sample.messages[turn]
        expect = _expects_call(sample, turn, n == 0, needs.get(turn))
        if expect is None and m.is_call:
            expect = True  # it was written as a call (a raw one that did not decode included)
        text = _reference_text(m, names)
        decodes = bool(m.calls) if m.calls is not None else _decodes(text, names)
        if expect is False and decodes:
            out.append(f"turn {turn}: no call is expected, yet the reference decodes as a call: {_short(text, 80)}")
        elif expect is True and not decodes:
            out.append(f"turn {turn}: a call is expected, yet the reference does not decode as one: "
                       f"{_short(text, 80)}")
    return out


async def _funrl_one(sample: Sample, backend: Any, max_regenerations: int, ctx: VerifyContext) -> FilterOutcome:
    names = _odd_names(sample)
    s = copy.deepcopy(sample)
    needs: dict[int, bool | None] = {}
    corrections = []
    for turn in list(s.decision_turns()):
        if turn >= len(s.messages):
            break
        attempts = 0
        while True:
            ref = _reference_text(s.messages[turn], names)
            user = render_for_judge(s, turn) + f"\n\nReference answer for turn {turn}:\n{ref}"
            reply = await _ask_judge(backend, FUNRL_PROMPTS["judge"], user, ctx.judge_retries)
            if not isinstance(reply, dict):
                return FilterOutcome(sample.id, False, "llm", [], f"judge: {reply.reason}", s)
            needs[turn] = reply.get("needs_call") if isinstance(reply.get("needs_call"), bool) else None
            if reply["pass"]:
                break
            if attempts >= max_regenerations:
                return FilterOutcome(sample.id, False, "llm", [
                    f"turn {turn}: judged wrong after {attempts} regeneration(s): {reply['reason'] or 'no reason'}"],
                    None, s)
            attempts += 1
            new = await _regenerate(backend, s, turn, reply["reason"], attempts)
            if isinstance(new, _Failure):
                return FilterOutcome(sample.id, False, "llm", [], f"regeneration: {new}", s)
            before = ref
            s.messages[turn] = _answer_from_text(new, names)
            s.messages[turn].think = None
            if turn + 1 < len(s.messages):
                # later turns answered the old reference; the corrected answer becomes the sample's last turn
                del s.messages[turn + 1:]
            corrections.append({"turn": turn, "attempt": attempts, "before": before,
                                "after": _reference_text(s.messages[turn], names), "reason": reply["reason"]})
    if corrections:
        last = {}
        for c in corrections:
            last[c["turn"]] = c
        s.meta = {**s.meta, "corrected": list(last.values())}
        # a regenerated answer is new data: it must pass the rule layer like any other
        rules_only = replace(ctx, backend=None, rules=[r.name for r in ctx.selected("rule")])
        v = verify_sample(s, rules_only)
        if not v.kept:
            return FilterOutcome(sample.id, False, "llm", [f"corrected answer fails {rule}: {r}"
                                                           for rule, rs in v.failed.items() for r in rs], None, s)
    problems = _ast_stage(s, needs)
    if problems:
        return FilterOutcome(sample.id, False, "ast", problems, None, s)
    return FilterOutcome(sample.id, True, None, [], None, s)


async def _regenerate(backend: Any, sample: Sample, turn: int, reason: str, attempt: int) -> str:
    """The regenerated answer's text, or a :class:`_Failure` (the backend's error) when there is none. Sampled at
    temperature 0.7 with ``attempt`` in the request, so each regeneration is a new answer (and a new cache key)."""
    from ..backends import ChatRequest

    user = (render_for_judge(sample, turn) + f"\n\nA previous answer for turn {turn} was judged wrong: {reason}\n"
            f"Write the correct assistant turn {turn}.")
    request = ChatRequest(messages=[{"role": "system", "content": FUNRL_PROMPTS["regenerate"]},
                                    {"role": "user", "content": user}],
                          stage="verify", temperature=0.7, attempt=attempt - 1)
    [result] = await backend.achat([request])
    if result.error is not None or result.text is None:
        return _Failure(f"backend error: {result.error}")
    return result.text


class _Failure(str):
    """A regeneration that failed at the backend (distinguishes an error from a reply)."""


async def afunrl_filter(samples: Sequence[Sample], backend: Any = None, *, max_regenerations: int = 3,
                        ctx: VerifyContext | None = None) -> list[FilterOutcome]:
    """FunRL's filter (arXiv 2508.05118v4 §5.1) over a batch, all samples concurrently.

    Stage 1, LLM evaluate-and-correct: for each decision turn a judge sees (functions, dialog so far, reference
    answer); a reference judged wrong is regenerated by the LLM (decoded with :func:`decode_calls`, Python syntax
    then JSON, else kept as text) and judged again; after ``max_regenerations`` regenerations still judged wrong the
    sample is dropped. A corrected turn that was not the last one ends the sample (later turns answered the old
    reference); ``meta["corrected"]`` records each correction, and a corrected sample must pass the rule layer
    again. Stage 2, AST: drop when no call is expected
    (irrelevance/clarify, or the judge says no function applies) yet the reference decodes as a call, or a call is
    expected yet the reference is text that does not decode.

    With no backend or the programmatic one, stage 1 is the rule and model layers (:func:`verify_sample`; nothing
    to correct) and stage 2 runs as is, expecting calls from the sample type.
    """
    ctx = ctx or VerifyContext(backend=backend)
    if backend is None or getattr(backend, "is_programmatic", False):
        out = []
        for s in samples:
            v = verify_sample(s, replace(ctx, backend=None) if ctx.llm else ctx)
            if not v.kept:
                reasons = [f"{rule}: {r}" for rule, rs in v.failed.items() for r in rs]
                out.append(FilterOutcome(s.id, False, "verify", reasons, v.quarantined, s))
                continue
            problems = _ast_stage(s, {})
            out.append(FilterOutcome(s.id, not problems, "ast" if problems else None, problems, None, s))
        return out
    return list(await asyncio.gather(*(_funrl_one(s, backend, max_regenerations, ctx) for s in samples)))


def funrl_filter(samples: Sequence[Sample], backend: Any = None, max_regenerations: int = 3, *,
                 ctx: VerifyContext | None = None) -> list[FilterOutcome]:
    """Blocking :func:`afunrl_filter` (works inside Jupyter's running loop too)."""
    return run_sync(afunrl_filter(samples, backend, max_regenerations=max_regenerations, ctx=ctx))


# =====================================================================================================================
# Files: verify_file, report, CLI
# =====================================================================================================================

@dataclass
class Report:
    """Counts over a whole input file (recomputed from the output files, so a resumed run reports the same as an
    uninterrupted one): ``totals``; per rule ``{"layer", "checked", "passed", "failed"}``; per layer ``{"checked",
    "passed", "pass_rate"}`` with the model layer over rule-passers and ``final`` over readable samples; ToolACE's
    reported rates next to them."""

    input: str
    format: str
    totals: dict[str, int]
    rules: dict[str, dict[str, Any]]
    layers: dict[str, dict[str, Any]]
    reference: dict[str, Any] = field(default_factory=lambda: dict(TOOLACE_REFERENCE))
    elapsed_s: float = 0.0
    verified_this_run: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "format": self.format, "totals": self.totals, "layers": self.layers,
                "rules": self.rules, "toolace_reference": self.reference,
                "run": {"verified_this_run": self.verified_this_run, "elapsed_s": round(self.elapsed_s, 3),
                        "samples_per_s": round(self.verified_this_run / self.elapsed_s, 1) if self.elapsed_s else None}}

    def summary(self) -> str:
        t = self.totals
        lines = [f"{t['records']} records: {t['kept']} kept, {t['rejected']} rejected"
                 + (f" ({t['quarantined']} quarantined)" if t["quarantined"] else "")
                 + (f", {t['unreadable']} unreadable" if t["unreadable"] else ""),
                 "| layer | checked | passed | pass rate | ToolACE |", "|---|---|---|---|---|"]
        for layer, row in self.layers.items():
            ref = self.reference.get(layer)
            rate = "-" if row["pass_rate"] is None else f"{row['pass_rate']:.1%}"
            lines.append(f"| {layer} | {row['checked']} | {row['passed']} | {rate} | "
                         f"{'-' if ref is None else f'{ref:.1%}'} |")
        failing = [(n, r) for n, r in self.rules.items() if r["failed"]]
        if failing:
            lines.append("failed rules: " + ", ".join(f"{n} {r['failed']}" for n, r in failing))
        return "\n".join(lines)


def _kept_record(record: Any, sample: Sample, sid: Any, fmt: str, corrected: bool) -> dict[str, Any]:
    """The kept line: the input record as read with its id added (a ToolACE file stays ToolACE), or, when FunRL's
    filter corrected an answer, the corrected sample written in the same format (``meta`` holds the correction)."""
    if corrected:
        record = {"toolace": sample.to_toolace, "openai": sample.to_openai}.get(fmt, sample.to_dict)()
        record["meta"] = sample.meta
    if not isinstance(record, dict):
        return {"id": sid, "record": record}
    return {"id": sid, **{k: v for k, v in record.items() if k != "id"}}


def _rejected_line(sid: Any, record: Any, v: SampleVerdict | None, *, failed: dict | None = None,
                   layer: str | None = None) -> dict[str, Any]:
    line = {"id": sid, "sample": record, "failed": failed if failed is not None else v.failed,
            "layer": layer or (v.layer if v is not None else None)}
    if v is not None and v.quarantined:
        line["quarantined"] = v.quarantined
    return line


def verify_file(in_path: str | Path, fmt: str = "auto", kept_path: str | Path = "kept.jsonl",
                rejected_path: str | Path = "rejected.jsonl", report_path: str | Path | None = None, *,
                backend: Any = None, pool: Any = None, rules: Sequence[str] | None = None,
                funrl_filter: bool = False, progress: bool = True, batch_size: int = 64,
                ctx: VerifyContext | None = None) -> Report:
    """Verify every record of ``in_path`` (JSONL or a JSON array; funrl, ToolACE or OpenAI format, ``fmt="auto"``
    detects per record). Kept samples go to ``kept_path`` in the format they were read in, with their ``id`` (a
    record without one gets its 0-based index); rejected ones to ``rejected_path`` as ``{"id", "sample": <the record
    as read>, "failed": {rule: [reasons]}, "layer", ["quarantined"]}``; an unreadable record is rejected with rule
    ``input`` and its FILE:LINE message. Resumable: each sample's line is appended and flushed as soon as it is
    decided, and a re-run skips the records already in either file (a torn last line is dropped first), so a killed
    and re-run job leaves the same files as an uninterrupted one. The report (also written to ``report_path``) is
    recomputed from both files."""
    started = time.perf_counter()
    ctx = ctx or VerifyContext(pool=pool, backend=backend, rules=rules)
    if report_path:
        check_own_json(report_path, lambda d: isinstance(d, dict) and "totals" in d, "a verification report")
    # One pass over the input, one record in memory at a time (a batch of them for LLM judges). Records that are
    # not samples before the first one that is are held back: if no record is a sample (a pool, a result file...),
    # nothing is written and the error says so.
    parsed = ((rec, *_read_one(rec, fmt, in_path)) for rec in read_records(in_path))
    leading: list[tuple[Any, Any, Sample | None, str | None, InputError | None]] = []
    for item in parsed:
        leading.append(item)
        if item[4] is None:
            break
    if not leading:
        raise InputError("no records: the input is empty", path=in_path)
    if leading[-1][4] is not None:  # a pool, a result file, ...: not samples at all
        first = leading[0][4]
        raise InputError(f"none of its {len(leading)} records is a sample ({fmt} format): is it the right file? "
                         f"First problem: {first.message}", path=in_path,
                         line=first.line)
    kept_out = JsonlAppender(kept_path, count_ids=True, own=_is_kept_row, what="kept samples (funrl verify --out)",
                             reuse="tools")
    try:
        rejected_out = JsonlAppender(rejected_path, count_ids=True, own=_is_rejected_row,
                                     what="rejected samples (funrl verify --rejected)")
    except InputError:
        kept_out.close()
        raise
    # ids already written by an earlier run, each as often as it was written (an input may repeat an id)
    done = kept_out.id_counts + rejected_out.id_counts
    kept_out.id_counts = rejected_out.id_counts = Counter()
    seen: Counter = Counter()

    def todo() -> Iterator[tuple[Any, Any, Sample | None, str | None, InputError | None]]:
        """The records this run decides (those an earlier run wrote are skipped), quarantining unreadable ones."""
        with Quarantine(kept_path) as quarantine:
            for rec, sid, sample, rfmt, error in itertools.chain(leading, parsed):
                if done:
                    key = _id_key(sid)
                    seen[key] += 1
                    if seen[key] <= done[key]:
                        bar.update(1)
                        continue  # written by an earlier run
                if error is not None:
                    quarantine.add_record(rec, in_path, error)
                yield sid, rec.value, sample, rfmt, error

    # programmatic verification decides one sample at a time (each line is on disk before the next is checked);
    # LLM judges and FunRL's filter decide a batch at a time, its requests in flight together
    step = batch_size if ctx.llm else 1
    verified = 0
    from tqdm import tqdm

    bar = tqdm(total=_count_records(in_path) if progress else None, disable=not progress, desc="verify",
               unit="sample")
    try:
        pending = todo()
        while True:
            chunk = list(itertools.islice(pending, step))
            if not chunk:
                break
            verdicts = iter(_decide([s for _, _, s, _, _ in chunk if s is not None], ctx, funrl_filter))
            for sid, rec, sample, rfmt, error in chunk:
                if error is not None:
                    rejected_out.write(_rejected_line(sid, rec, None, failed={"input": [str(error)]}, layer="input"))
                    bar.update(1)
                    continue
                v = next(verdicts)
                if v.kept:
                    kept = v.sample or sample
                    kept_out.write(_kept_record(rec, kept, sid, rfmt, kept is not sample))
                else:
                    rejected_out.write(_rejected_line(sid, rec, v))
                verified += 1
                bar.update(1)
    finally:
        bar.close()
        kept_out.close()
        rejected_out.close()
    report = _report(in_path, fmt, kept_path, rejected_path, ctx, funrl_filter)
    report.elapsed_s = time.perf_counter() - started
    report.verified_this_run = verified
    if report_path:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    return report


def _count_records(path: Any) -> int | None:
    """Non-blank lines of a JSONL file (the progress bar's total), counted without parsing; None for a JSON array."""
    try:
        with open(path, "rb") as f:
            if _starts_with_bracket(f):
                return None
            return sum(1 for line in f if line.strip())
    except OSError:
        return None


def _is_kept_row(row: Any) -> bool:
    return isinstance(row, dict) and "id" in row


def _is_rejected_row(row: Any) -> bool:
    return isinstance(row, dict) and "id" in row and "failed" in row


def _id_key(sid: Any) -> Any:
    return json.dumps(sid, sort_keys=True) if isinstance(sid, (list, dict)) else sid


def _read_one(rec: Any, fmt: str, path: Any) -> tuple[Any, Sample | None, str | None, InputError | None]:
    """``(id, sample, format, error)`` of one input record; the id is the record's own or its index."""
    own = rec.value.get("id") if isinstance(rec.value, dict) else None
    sid = own if own is not None else rec.index
    if rec.error is not None:
        return sid, None, None, rec.error
    try:
        rfmt = detect_format(rec.value) if fmt == "auto" else fmt
        sample = sample_from(rec.value, rfmt, index=rec.index)
    except (ValueError, ToolSchemaError) as e:
        where = f"record {rec.index}: " if rec.line is None else ""
        return sid, None, None, InputError(f"{where}{e}", path=path, line=rec.line)
    if sample.id is None:
        sample.id = sid
    return sid, sample, rfmt, None


def _decide(samples: list[Sample], ctx: VerifyContext, use_funrl: bool) -> list[SampleVerdict]:
    """Verdicts for a batch: rule and model layers, then (``use_funrl``) FunRL's filter on the samples that passed.
    Offline, FunRL's stage 1 *is* the rule and model layers, so only its AST stage remains."""
    if not samples:
        return []
    if not ctx.llm:
        verdicts = [verify_sample(s, ctx) for s in samples]
        if use_funrl:
            for v, s in zip(verdicts, samples):
                if v.kept:
                    _apply_funrl(v, FilterOutcome(s.id, True, sample=s), _ast_stage(s, {}))
        return verdicts

    async def run() -> list[SampleVerdict]:
        verdicts = await averify(samples, ctx)
        if use_funrl:
            passing = [(v, s) for v, s in zip(verdicts, samples) if v.kept]
            outcomes = await afunrl_filter([s for _, s in passing], ctx.backend, ctx=ctx)
            for (v, _), o in zip(passing, outcomes):
                _apply_funrl(v, o, [])
        return verdicts

    return run_sync(run())


def _apply_funrl(v: SampleVerdict, o: FilterOutcome, ast_problems: list[str]) -> None:
    v.sample = o.sample or v.sample
    if o.quarantined:
        v.quarantined, v.kept = f"funrl: {o.quarantined}", False
        return
    if ast_problems:
        o = replace(o, kept=False, stage="ast", reasons=ast_problems)
    if not o.kept:
        v.failed["funrl_llm" if o.stage == "llm" else "funrl_ast"] = o.reasons
        v.layer_failed["funrl"], v.kept = True, False


def _report(in_path: Any, fmt: str, kept_path: Any, rejected_path: Any, ctx: VerifyContext,
            use_funrl: bool) -> Report:
    """The report from the output files, read line by line: a kept line only counts (it passed every layer), so it
    is not parsed; a rejected line says where it failed."""
    n_kept = _count_lines(kept_path)
    rule_names = [r.name for r in ctx.selected()]
    counts = {n: {"layer": RULES[n].layer, "checked": 0, "passed": 0, "failed": 0} for n in rule_names}
    if use_funrl:
        for n in ("funrl_llm", "funrl_ast"):
            counts[n] = {"layer": "funrl", "checked": 0, "passed": 0, "failed": 0}
    layer_rows = {layer: {"checked": 0, "passed": 0, "quarantined": 0} for layer in ("rule", "model")}
    if use_funrl:
        layer_rows["funrl"] = {"checked": 0, "passed": 0, "quarantined": 0}
    order = list(layer_rows)
    unreadable = quarantined = 0

    def count(reached: str | None, failed: Mapping[str, Any], q: bool, unjudged: set = frozenset()) -> None:
        # every layer before ``reached`` passed; ``reached`` failed (or was quarantined); later ones not checked
        for layer in order:
            if reached is not None and order.index(layer) > order.index(reached):
                break
            row = layer_rows[layer]
            row["checked"] += 1
            passed = layer != reached
            row["passed"] += passed
            row["quarantined"] += (layer == reached and q)
            for name, c in counts.items():
                if c["layer"] == layer and name not in unjudged:
                    c["checked"] += 1
                    bad = name in failed
                    c["failed"] += bad
                    c["passed"] += not bad

    for _ in range(n_kept):
        count(None, {}, False)  # a kept sample passed every layer
    n_rejected = 0
    for row in _rows(rejected_path):
        n_rejected += 1
        layer = row.get("layer")
        if layer == "input":
            unreadable += 1
            continue
        q = row.get("quarantined")
        quarantined += bool(q)
        if layer not in layer_rows:
            layer = "model" if q else order[-1]
        # a rule whose judge never answered usably is neither passed nor failed
        unjudged = {part.split(":", 1)[0] for part in q.split("; ")} if isinstance(q, str) else set()
        count(layer, row.get("failed") or {}, bool(q), unjudged)
    layers = {layer: {**row, "pass_rate": (row["passed"] / row["checked"]) if row["checked"] else None}
              for layer, row in layer_rows.items()}
    readable = n_kept + n_rejected - unreadable
    layers["final"] = {"checked": readable, "passed": n_kept, "pass_rate": n_kept / readable if readable else None}
    totals = {"records": n_kept + n_rejected, "kept": n_kept, "rejected": n_rejected, "quarantined": quarantined,
              "unreadable": unreadable}
    return Report(str(in_path), fmt, totals, counts, layers)


def _rows(path: Any) -> Iterator[dict]:
    """The rows of an output file, one at a time."""
    p = Path(path)
    if not p.exists():
        return
    with open(p, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _count_lines(path: Any) -> int:
    """Non-blank lines of an output file (each one row: the file is ours, written whole lines at a time)."""
    p = Path(path)
    if not p.exists():
        return 0
    with open(p, "rb") as f:
        return sum(1 for line in f if line.strip())


def add_verify_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "verify", help="ToolACE's dual-layer verification (+ execution, lexical checks, FunRL's filter)",
        description="Verify function-calling samples (funrl, ToolACE or OpenAI format; JSONL or a JSON array): "
                    "kept samples keep their format; rejected ones carry the failed rules and reasons. Re-running "
                    "the same command resumes.")
    p.add_argument("--in", dest="input", required=True, help="samples to verify (e.g. Team-ACE/ToolACE's data.json)")
    p.add_argument("--format", default="auto", choices=["auto", *SAMPLE_FORMATS],
                   help="input format (default: detected)")
    p.add_argument("--out", required=True, help="kept samples (JSONL, input format, with ids)")
    p.add_argument("--rejected", required=True, help="rejected samples with reasons (JSONL)")
    p.add_argument("--report", required=True, help="counts per rule and layer (JSON)")
    p.add_argument("--backend", default="programmatic", help="programmatic (deterministic model layer) or an LLM "
                                                             "backend kind (openai, hf) for the judges")
    p.add_argument("--pool", help="API pool JSONL: calls to its APIs are executed and tool outputs compared")
    p.add_argument("--rules", help=f"comma-separated subset of: {', '.join(RULES)}")
    p.add_argument("--funrl-filter", action="store_true", help="also apply FunRL's two-stage data filter")
    p.add_argument("--max-response-chars", type=int, default=2000, help="longest text answer allowed (default 2000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_verify)
    return p


def run_verify(args: argparse.Namespace) -> int:
    rules = [r.strip() for r in args.rules.split(",") if r.strip()] if getattr(args, "rules", None) else None
    try:
        ctx_backend = None
        if args.backend and args.backend != "programmatic":
            from ..backends import make_backend

            ctx_backend = make_backend(args.backend)
        pool = None
        if args.pool:
            from .api_pool import load_pool

            pool = load_pool(args.pool)
        ctx = VerifyContext(pool=pool, backend=ctx_backend, rules=rules,
                            max_response_chars=getattr(args, "max_response_chars", 2000))
        gc.freeze()  # the pool lives to the end: later collections need not walk it again
        report = verify_file(args.input, args.format, args.out, args.rejected, args.report, ctx=ctx,
                             funrl_filter=args.funrl_filter, progress=not getattr(args, "no_progress", False))
    except (InputError, ValueError) as e:
        print(f"funrl: error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"kept: {args.out}\nrejected: {args.rejected}\nreport: {args.report}")
    report_quarantine(args.out)
    return 0
