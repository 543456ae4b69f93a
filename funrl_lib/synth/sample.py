"""A synthesized sample (a dialog with its candidate tools) and the formats it is read from and written to.

One object flows through the data half of the project: the dialog generator makes :class:`Sample` objects, the
verifier checks them, the exporters turn them into ToolACE, OpenAI, BFCL and TRL rows. Its native line (``funrl``
format)::

    {"id": "dlg-000007", "type": "dependent", "tools": [<tool dicts, BFCL dialect>], "system": null,
     "messages": [
        {"role": "user", "content": "Find hotels in Paris ... and book the cheapest"},
        {"role": "assistant", "think": "The user needs ...", "calls": [{"name": "search_hotels", "arguments": {...}}]},
        {"role": "tool", "results": [{"name": "search_hotels", "results": {...}}]},
        {"role": "assistant", "think": "...", "calls": [...]},
        {"role": "tool", "results": [...]},
        {"role": "assistant", "content": "Booked: ..."}],
     "meta": {"complexity": 0.41, "api_ids": [...], "source": "programmatic"}}

``tools`` are :class:`~funrl_lib.tools.ToolDef` objects, each read once when the sample is loaded or built
(:meth:`ToolDef.read <funrl_lib.tools.ToolDef.read>`): a tool keeps the value it was read from and is written back as
that value, so a sample is written byte for byte as it was read, and a broken definition still loads (as an
:class:`~funrl_lib.tools.UnreadableTool`), so that verification can say what is wrong with it. A file's reader hands
every sample the same object for the same definition (:class:`~funrl_lib.tools.ToolTable`), so what verification
derives from a definition is worked out once per file.

Reading another format never raises for a problem inside one turn: an assistant turn that looks like a call list but
does not decode keeps its text in ``raw`` and the reason in ``problem``, for the verification rules to report.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..calls import Call, DecodeError, RenderError, decode_calls, render_python
from ..prompts import TOOLACE_TOOLS_MARKER, toolace_system_prompt
from ..tools import ToolDef, ToolSchemaError, ToolTable, UnreadableTool
from ..io import InputError, Quarantine, dumps_line, read_records

__all__ = ["DIALOG_TYPES", "SAMPLE_FORMATS", "Message", "Sample", "detect_format", "read_samples", "sample_from"]

DIALOG_TYPES = ("single", "parallel", "multiple", "parallel_multiple", "dependent", "irrelevance", "clarify",
                "multi_turn")
SAMPLE_FORMATS = ("funrl", "toolace", "openai")
ROLES = ("user", "assistant", "tool")

# ShareGPT-style role names seen in function-calling datasets -> ours.
_ROLE_ALIASES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                 "function_call": "assistant", "tool": "tool", "observation": "tool", "function": "tool",
                 "ipython": "tool"}
_CALL_LIST = re.compile(r"\A\s*\[\s*[^\[\]\(\)\"']+\(")  # "[Name With Spaces(" : a call list, even a broken one


@dataclass
class Message:
    """One turn. ``role`` is user / assistant / tool.

    - user: ``content``.
    - assistant: ``calls`` (a call turn) or ``content`` (a text answer: a summary, a clarifying question, a
      refusal); ``think`` is the formalised reasoning behind it, when known.
    - tool: ``results``, one ``{"name", "results"}`` per call of the preceding call turn, in order.

    ``raw`` / ``problem``: the original text and why it could not be decoded (read from another format).
    """

    role: str
    content: str = ""
    calls: list[Call] | None = None
    think: str | None = None
    results: list[dict[str, Any]] | None = None
    raw: str | None = None
    problem: str | None = None

    @property
    def is_call(self) -> bool:
        return self.role == "assistant" and (self.calls is not None or self.raw is not None)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role}
        if self.think is not None:
            d["think"] = self.think
        if self.calls is not None:
            d["calls"] = [{"name": c.name, "arguments": c.arguments} for c in self.calls]
        if self.results is not None:
            d["results"] = self.results
        if self.content or (self.calls is None and self.results is None and self.raw is None):
            d["content"] = self.content
        if self.raw is not None:
            d["raw"] = self.raw
        if self.problem is not None:
            d["problem"] = self.problem
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str = "message") -> "Message":
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected an object, got {type(d).__name__}")
        role = d.get("role")
        if role not in ROLES:
            raise ValueError(f"{where}.role: expected one of {', '.join(ROLES)}, got {role!r}")
        calls = None
        if d.get("calls") is not None:
            if not isinstance(d["calls"], list):
                raise ValueError(f"{where}.calls: expected a list")
            calls = []
            for i, c in enumerate(d["calls"]):
                if not isinstance(c, dict) or not isinstance(c.get("name"), str) \
                        or not isinstance(c.get("arguments", {}), dict):
                    raise ValueError(f"{where}.calls[{i}]: expected {{\"name\": str, \"arguments\": object}}")
                calls.append(Call(c["name"], dict(c.get("arguments") or {})))
        results = d.get("results")
        if results is not None and not isinstance(results, list):
            raise ValueError(f"{where}.results: expected a list of {{\"name\", \"results\"}}")
        content = d.get("content", "")
        return cls(role, "" if content is None else str(content), calls, d.get("think"), results, d.get("raw"),
                   d.get("problem"))


def _source_line(tool: ToolDef) -> str:
    return dumps_line(tool.source)


def _read_tools(raws: list[Any], table: ToolTable | None) -> list[ToolDef]:
    return table.read_all(raws) if table is not None else [ToolDef.read(t) for t in raws]


@dataclass
class Sample:
    """A dialog with its candidate tools; see the module docstring for the line format. ``tools`` given as anything
    but :class:`~funrl_lib.tools.ToolDef` (a definition's dict) are read on construction (:meth:`ToolDef.read
    <funrl_lib.tools.ToolDef.read>`); replace a tool by another ToolDef rather than changing one."""

    id: Any
    tools: list[ToolDef]
    messages: list[Message]
    type: str | None = None
    system: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.tools, (list, tuple)) and not all(isinstance(t, ToolDef) for t in self.tools):
            self.tools = [t if isinstance(t, ToolDef) else ToolDef.read(t) for t in self.tools]

    # -- views -----------------------------------------------------------------------------------------------
    def tool_defs(self) -> list[ToolDef]:
        """The tools, all readable (raises :class:`ToolSchemaError` naming the first broken one)."""
        for i, t in enumerate(self.tools):
            if isinstance(t, UnreadableTool):
                raise ToolSchemaError(t.error.issues, f"tools[{i}]")
        return list(self.tools)

    def tool_names(self) -> list[str | None]:
        """Each tool's name; ``None`` for an unreadable definition."""
        return [t.name for t in self.tools]

    def tool_sources(self) -> list[Any]:
        """Each tool as it was read (:attr:`ToolDef.source <funrl_lib.tools.ToolDef.source>`): what the sample is
        written with."""
        return [t.source for t in self.tools]

    def tool_lines(self) -> list[str]:
        """:func:`~funrl_lib.io.dumps_line` of each tool's source, kept with the tool (the writers' ``texts``)."""
        return [t.derived("io.line", _source_line) for t in self.tools]

    def call_turns(self) -> list[tuple[int, Message]]:
        return [(i, m) for i, m in enumerate(self.messages) if m.is_call]

    def calls(self) -> list[Call]:
        return [c for _, m in self.call_turns() for c in (m.calls or [])]

    def decision_turns(self) -> list[int]:
        """Indices of the assistant turns a model is trained and scored on: every call turn, and the first assistant
        turn after each user turn (a text answer there is a refusal or a clarifying question). Summaries of tool
        output are not decision turns."""
        out, after_user = [], False
        for i, m in enumerate(self.messages):
            if m.role == "user":
                after_user = True
            elif m.role == "assistant":
                if m.is_call or after_user:
                    out.append(i)
                after_user = False
        return out

    # -- funrl format --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type,
                "tools": self.tool_sources(),
                "system": self.system, "messages": [m.to_dict() for m in self.messages], "meta": self.meta}

    @classmethod
    def from_dict(cls, d: Any, *, index: int | None = None, where: str = "sample",
                  table: ToolTable | None = None) -> "Sample":
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected an object, got {type(d).__name__}")
        for key in ("tools", "messages"):
            if not isinstance(d.get(key), list):
                raise ValueError(f"{where}: field {key!r} is missing or not a list")
        sid = d.get("id", index)
        messages = [Message.from_dict(m, f"messages[{i}]") for i, m in enumerate(d["messages"])]
        return cls(sid, _read_tools(d["tools"], table), messages, d.get("type"), d.get("system"),
                   dict(d.get("meta") or {}))

    # -- ToolACE format --------------------------------------------------------------------------------------
    @classmethod
    def from_toolace(cls, d: Any, *, index: int | None = None, table: ToolTable | None = None) -> "Sample":
        """Read a released ToolACE record: ``{"system": "...<tool JSON list>...", "conversations": [{"from",
        "value"}]}``. Calls are Python syntax whose names may contain spaces (``[Market Trends API(...)]``); they
        are decoded with the tool names as known names."""
        if not isinstance(d, dict):
            raise ValueError(f"expected an object with 'system' and 'conversations', got {type(d).__name__}")
        system, conversations = d.get("system"), d.get("conversations")
        if not isinstance(system, str):
            raise ValueError("field 'system' is missing or not a string")
        if not isinstance(conversations, list):
            raise ValueError("field 'conversations' is missing or not a list")
        tools = tools_from_system(system)
        names = [t.get("name") for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
        messages = []
        for i, turn in enumerate(conversations):
            if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
                raise ValueError(f"conversations[{i}]: expected {{\"from\": ..., \"value\": ...}}")
            role = _ROLE_ALIASES.get(str(turn["from"]).lower())
            if role is None:
                raise ValueError(f"conversations[{i}].from: unknown role {turn['from']!r}")
            value = turn["value"] if isinstance(turn["value"], str) else json.dumps(turn["value"], ensure_ascii=False)
            if role == "assistant":
                messages.append(_assistant_from_text(value, names))
            elif role == "tool":
                messages.append(_tool_from_text(value))
            else:
                messages.append(Message("user", value))
        sid = d.get("id", index)
        return cls(sid, _read_tools(tools, table), messages, d.get("type"), system, {"source_format": "toolace"})

    def to_toolace(self) -> dict[str, Any]:
        """The released ToolACE layout. Assistant thinking is dropped (ToolACE's released turns carry none)."""
        system = self.system if self.meta.get("source_format") == "toolace" and self.system else \
            toolace_system_prompt(self.tool_sources())
        conversations = []
        for m in self.messages:
            if m.role == "user":
                conversations.append({"from": "user", "value": m.content})
            elif m.role == "assistant":
                value = m.raw if m.calls is None and m.raw is not None else \
                    (render_toolace_calls(m.calls) if m.calls is not None else m.content)
                conversations.append({"from": "assistant", "value": value})
            else:
                value = m.raw if m.results is None and m.raw is not None else \
                    json.dumps(m.results or [], ensure_ascii=False)
                conversations.append({"from": "tool", "value": value})
        out = {"id": self.id} if self.id is not None else {}
        out.update({"system": system, "conversations": conversations})
        return out

    # -- OpenAI messages -------------------------------------------------------------------------------------
    @classmethod
    def from_openai(cls, d: Any, *, index: int | None = None, table: ToolTable | None = None) -> "Sample":
        """Read ``{"messages": [...], "tools": [{"type": "function", "function": {...}}]}`` (OpenAI chat format
        with ``tool_calls`` and ``tool`` messages; consecutive tool messages form one tool turn)."""
        if not isinstance(d, dict) or not isinstance(d.get("messages"), list):
            raise ValueError("field 'messages' is missing or not a list")
        tools = [t.get("function", t) if isinstance(t, dict) else t for t in d.get("tools") or []]
        system, messages = None, []
        names_by_id: dict[str, str] = {}
        for i, m in enumerate(d["messages"]):
            if not isinstance(m, dict):
                raise ValueError(f"messages[{i}]: expected an object")
            role = m.get("role")
            if role == "system":
                system = m.get("content") or ""
            elif role == "user":
                messages.append(Message("user", m.get("content") or ""))
            elif role == "assistant" and m.get("tool_calls"):
                try:
                    calls = decode_calls(m["tool_calls"], "openai")
                except DecodeError as e:
                    messages.append(Message("assistant", raw=json.dumps(m["tool_calls"], ensure_ascii=False),
                                            problem=str(e)))
                    continue
                for tc, c in zip(m["tool_calls"], calls):
                    if isinstance(tc, dict) and tc.get("id"):
                        names_by_id[tc["id"]] = c.name
                messages.append(Message("assistant", m.get("content") or "", calls=calls, think=m.get("reasoning")))
            elif role == "assistant":
                messages.append(Message("assistant", m.get("content") or "", think=m.get("reasoning")))
            elif role == "tool":
                content = m.get("content") or ""
                try:
                    results: Any = json.loads(content)
                except (TypeError, json.JSONDecodeError):
                    results = content
                name = m.get("name") or names_by_id.get(m.get("tool_call_id"), "")
                item = {"name": name, "results": results}
                if messages and messages[-1].role == "tool" and messages[-1].results is not None:
                    messages[-1].results.append(item)
                else:
                    messages.append(Message("tool", results=[item]))
            else:
                raise ValueError(f"messages[{i}].role: unknown role {role!r}")
        return cls(d.get("id", index), _read_tools(tools, table), messages, d.get("type"), system,
                   dict(d.get("meta") or {}))

    def to_openai(self) -> dict[str, Any]:
        """OpenAI chat messages with ``tool_calls`` (ids ``call_<turn>_<k>``) and one ``tool`` message per result;
        the tools in OpenAI's ``{"type": "function", "function": ...}`` wrapping."""
        for t in self.tools:
            if isinstance(t, UnreadableTool):
                raise t.error
        tools = self.tools
        messages: list[dict[str, Any]] = []
        if self.system and self.meta.get("source_format") != "toolace":
            messages.append({"role": "system", "content": self.system})
        pending: list[str] = []
        for turn, m in enumerate(self.messages):
            if m.role == "user":
                messages.append({"role": "user", "content": m.content})
            elif m.role == "assistant":
                out: dict[str, Any] = {"role": "assistant", "content": m.content or None}
                if m.think:
                    out["reasoning"] = m.think
                if m.calls:
                    pending = [f"call_{turn}_{k}" for k in range(len(m.calls))]
                    out["tool_calls"] = [{"id": cid, "type": "function",
                                          "function": {"name": c.name,
                                                       "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
                                         for cid, c in zip(pending, m.calls)]
                messages.append(out)
            else:
                for k, r in enumerate(m.results or []):
                    res = r.get("results") if isinstance(r, dict) else r
                    messages.append({"role": "tool", "tool_call_id": pending[k] if k < len(pending) else f"call_{k}",
                                     "name": r.get("name") if isinstance(r, dict) else None,
                                     "content": res if isinstance(res, str) else json.dumps(res, ensure_ascii=False)})
        return {"id": self.id, "messages": messages, "tools": [t.to_openai() for t in tools]}


# ---------------------------------------------------------------------------------------------------------------
# ToolACE text helpers
# ---------------------------------------------------------------------------------------------------------------

def tools_from_system(system: str) -> list[Any]:
    """The JSON tool list embedded in a ToolACE system prompt (after "...functions in JSON format that you can
    invoke:"; failing that, the first JSON array of objects with a "name")."""
    decoder = json.JSONDecoder()
    start = system.find(TOOLACE_TOOLS_MARKER)
    positions = [system.find("[", start)] if start >= 0 else []
    positions += [m.start() for m in re.finditer(r"\[", system)]
    for pos in positions:
        if pos < 0:
            continue
        try:
            value, _ = decoder.raw_decode(system, pos)
        except json.JSONDecodeError:
            continue
        if isinstance(value, list) and value and all(isinstance(t, dict) and "name" in t for t in value):
            return value
    raise ValueError("field 'system': no JSON list of tool definitions found")


def render_toolace_calls(calls: list[Call]) -> str:
    """ToolACE's call list: Python syntax with double-quoted strings as in the released data, tool names written as
    they are (spaces included): ``[Market Trends API(trend_type="GAINERS", country="us")]``."""
    return "[" + ", ".join(f"{c.name}(" + ", ".join(f"{k}={_toolace_literal(v)}" for k, v in c.arguments.items())
                           + ")" for c in calls) + "]"


def _toolace_literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is also a Python string literal
    if isinstance(value, list):
        return "[" + ", ".join(_toolace_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toolace_literal(str(k))}: {_toolace_literal(v)}" for k, v in value.items()) + "}"
    return render_python([Call("f", {"v": value})])[5:-2]  # numbers, booleans, None, tuples: Python's own spelling


def _assistant_from_text(value: str, names: list[str]) -> Message:
    if not _CALL_LIST.match(value):
        return Message("assistant", value)
    try:
        calls = decode_calls(value.strip(), "python", known_names=[n for n in names if not n.isidentifier()])
    except DecodeError as e:
        return Message("assistant", raw=value, problem=str(e))
    return Message("assistant", calls=calls)


def _tool_from_text(value: str) -> Message:
    try:
        results = json.loads(value)
    except json.JSONDecodeError as e:
        return Message("tool", raw=value, problem=f"tool output is not JSON ({e.msg})")
    if isinstance(results, dict):
        results = [results]
    if not isinstance(results, list):
        return Message("tool", raw=value, problem="tool output is not a list of {\"name\", \"results\"}")
    return Message("tool", results=results)


# ---------------------------------------------------------------------------------------------------------------
# Reading files in any of the formats
# ---------------------------------------------------------------------------------------------------------------

def detect_format(value: Any) -> str:
    """``funrl`` / ``toolace`` / ``openai`` from one record's keys."""
    if isinstance(value, dict):
        if "conversations" in value or ("system" in value and "messages" not in value):
            return "toolace"  # a record with one of ToolACE's fields; from_toolace names what is missing
        if "messages" in value and "tools" in value and isinstance(value.get("messages"), list) and any(
                isinstance(m, dict) and ("tool_calls" in m or m.get("role") == "system") for m in value["messages"]):
            return "openai"
        if "messages" in value and "tools" in value:
            return "funrl"
        if "messages" in value:
            return "openai"
    raise ValueError("not a recognised sample: expected funrl {tools, messages}, ToolACE {system, conversations} or "
                     "OpenAI {messages, tools}")


def sample_from(value: Any, fmt: str = "auto", *, index: int | None = None,
                table: ToolTable | None = None) -> Sample:
    """One record in ``fmt`` (or detected) -> :class:`Sample`; raises ValueError naming the field. ``table``: the
    :class:`~funrl_lib.tools.ToolTable` of the input the record comes from (its samples then share their tools)."""
    fmt = detect_format(value) if fmt == "auto" else fmt
    if fmt == "funrl":
        return Sample.from_dict(value, index=index, table=table)
    if fmt == "toolace":
        return Sample.from_toolace(value, index=index, table=table)
    if fmt == "openai":
        return Sample.from_openai(value, index=index, table=table)
    raise ValueError(f"unknown sample format {fmt!r}; expected auto or one of {', '.join(SAMPLE_FORMATS)}")


def read_samples(path: str, fmt: str = "auto", *,
                 quarantine: Quarantine | None = None) -> Iterator[tuple[int, Sample | None, InputError | None]]:
    """``(index, sample, None)`` or ``(index, None, error)`` per record of a JSONL file or JSON array file; the error
    names the file and line (JSONL) or record index (JSON array), and the record also goes to ``quarantine`` when
    given. A sample without an ``id`` gets its 0-based index in the input as id. Raises :class:`InputError` only
    when the file cannot be read at all. The samples of one file share their tools
    (:class:`~funrl_lib.tools.ToolTable`)."""
    table = ToolTable()
    for rec in read_records(path):
        if rec.error is not None:
            if quarantine is not None:
                quarantine.add_record(rec, path)
            yield rec.index, None, rec.error
            continue
        try:
            sample = sample_from(rec.value, fmt, index=rec.index, table=table)
        except (ValueError, ToolSchemaError, RenderError) as e:
            where = f"record {rec.index}: " if rec.line is None else ""
            error = InputError(f"{where}{e}", path=path, line=rec.line)
            if quarantine is not None:
                quarantine.add_record(rec, path, error)
            yield rec.index, None, error
            continue
        if sample.id is None:
            sample.id = rec.index
        yield rec.index, sample, None

