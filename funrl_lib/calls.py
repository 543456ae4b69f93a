"""Function calls: decoding model output into :class:`Call` objects and rendering them back.

Formats (``fmt=``):

``"python"``
    BFCL's prompting syntax ``[f(a=1), g(b='x')]``, decoded with exactly the rules of BFCL's
    ``default_decode_ast_prompting`` (bfcl-eval 2026.3.23, ``model_handler/utils.py``): strip backticks, newlines
    and spaces from both ends; add a missing leading ``[`` / trailing ``]``; ``ast.parse(mode="eval")``; every list
    element must be a call; dotted names are joined; **positional arguments are ignored**; a bare name becomes its
    identifier string; a nested call without keywords becomes its source text, with keywords a ``{name: {kw: v}}``
    dict; ``x[0]`` becomes the string ``"x[0]"``; ``...`` becomes ``"..."``. Quirks kept on purpose so verdicts match
    the official checker: a unary operator on a number always *negates* it (``+5`` and ``~5`` decode as ``-5``);
    sets, f-strings, comparisons and attributes as values fail; prose around the list, or a code fence with a
    language tag (```` ```python ````), fails (a bare ```` ``` ```` fence is stripped with the backticks).
    The one deliberate difference: BFCL runs ``eval`` on arithmetic (``a=2*3``) and lambdas; funrl never executes
    model output, so arithmetic on literals is folded by :func:`_fold` (same result for numbers, strings, lists,
    tuples, dicts and sets, with size guards) and anything that would need a name lookup or a call (``a=len(x)+1``)
    is a :class:`DecodeError` where BFCL would have evaluated it.
``"json"``
    ``[{"name": ..., "arguments": {...}}]`` or one such object; ``parameters`` is accepted for ``arguments`` and
    arguments may be a JSON string (as OpenAI sends them); BFCL's own ``[{name: arguments}]`` form too.
``"openai"``
    OpenAI ``tool_calls``: ``[{"id", "type": "function", "function": {"name", "arguments": "<json>"}}]``, an
    assistant message holding them, or the JSON text of either.
``"hermes"``
    Hermes / Qwen ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks; text around them is allowed.
``"qwen_fc"``
    BFCL's FC-mode decoder for Hermes/Qwen models, exactly ``QwenFCHandler.decode_ast`` (bfcl-eval 2026.3.23,
    ``model_handler/local_inference/qwen_fc.py``), which BFCL uses for its ``Qwen/...-FC`` entries: every match of
    ``<tool_call>\n(.*?)\n</tool_call>`` (DOTALL; the newlines right inside the tags are required) is ``json.loads``-ed
    and a block that does not parse is **silently skipped**; text outside the blocks is ignored (prose, a ``<think>``
    block, a bare JSON list: no block, so no call). Then every parsed block must be a JSON object with ``"name"`` and
    an object ``"arguments"`` (a JSON string of arguments, ``"parameters"``, a list in a block: the whole decode
    fails). No block at all decodes to ``[]``, not an error. :func:`qwen_fc_response` is the other half of the
    official pipeline (what BFCL's FC generation keeps of a reply: the text after the last ``</think>``).
``"auto"``
    hermes if a ``<tool_call>`` tag is present, else json if the text parses as JSON, else python.

FunRL's ``<think>…</think>`` prefix is separated by :func:`split_think`; :func:`parse_completion` does both steps.

Names that are not Python identifiers (ToolACE's ``Market Trends API(...)``, ``get-weather(...)``) cannot be parsed by
``ast``; pass them as ``known_names`` and the python decoder substitutes them (outside string literals, only where a
call starts) before parsing. BFCL scoring never passes ``known_names``, so it stays exact.

Every decoder raises only :class:`DecodeError` and never executes anything: ``ast`` and ``json`` only.
"""

from __future__ import annotations

import ast
import json
import keyword
import math
import operator
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

__all__ = [
    "Call",
    "Completion",
    "DecodeError",
    "FORMATS",
    "RenderError",
    "ThinkSplit",
    "decode_calls",
    "decode_qwen_fc",
    "parse_completion",
    "qwen_fc_response",
    "render_calls",
    "render_completion",
    "split_think",
    "strip_think",
]

FORMATS = ("python", "json", "openai", "hermes", "qwen_fc", "auto")
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
# Key that a ``**kwargs`` splat decodes to (BFCL stores it under the key None; a string key keeps Call typed and
# gives the same verdicts: it is never a declared parameter, so the checker reports an unexpected parameter).
SPLAT_KEY = "**"


@dataclass
class Call:
    """One function call: a name and keyword arguments (insertion order kept)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_bfcl(self) -> dict[str, dict[str, Any]]:
        """BFCL's decoded form ``{name: {param: value}}``."""
        return {self.name: dict(self.arguments)}

    @classmethod
    def from_bfcl(cls, item: dict[str, Any]) -> "Call":
        (name, args), = item.items()
        return cls(name, dict(args))


class DecodeError(ValueError):
    """Model output that does not decode into calls. ``fmt`` is the decoder, ``reason`` what went wrong,
    ``line``/``column`` (1-based, when known) where in the text."""

    def __init__(self, reason: str, *, fmt: str, text: str = "", line: int | None = None, column: int | None = None):
        self.reason = reason
        self.fmt = fmt
        self.text = text
        self.line = line
        self.column = column
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{fmt}: {reason}{where}")


class RenderError(ValueError):
    """Calls that cannot be written in the requested format (e.g. ``inf`` or a set in Python syntax)."""


# ---------------------------------------------------------------------------------------------------------------
# Python syntax (BFCL prompting format)
# ---------------------------------------------------------------------------------------------------------------

_MAX_SEQUENCE = 1_000_000
_MAX_INT_BITS = 1_000_000
_WIDE_FORMAT = re.compile(r"%[^a-zA-Z%]*\d{7}")  # a %-format width or precision of 7+ digits: '%999999999d' % 1


# Model output is parsed under this file name, and warnings from parsing it (invalid escape sequences, "invalid
# decimal literal", ...) are ignored by one filter that matches nothing else.
_SOURCE_NAME = "<funrl-model-output>"
warnings.filterwarnings("ignore", module=re.escape(_SOURCE_NAME) + r"\Z")


class _Unsupported(Exception):
    pass


def decode_python(text: Any, *, known_names: Iterable[str] = ()) -> list[Call]:
    """BFCL's ``default_decode_ast_prompting`` (see the module docstring), raising :class:`DecodeError`."""
    if not isinstance(text, str):
        raise DecodeError(f"expected a string, got {type(text).__name__}", fmt="python")
    s = text.strip("`\n ")
    if not s.startswith("["):
        s = "[" + s
    if not s.endswith("]"):
        s = s + "]"
    s = s.strip().strip("'")  # bfcl ast_parse: "remove wrapping quotes that could have been added by the model"
    aliases: dict[str, str] = {}
    if known_names:
        s, aliases = _alias_names(s, known_names)
    try:
        tree = ast.parse(s, filename=_SOURCE_NAME, mode="eval")
    except SyntaxError as e:
        raise DecodeError(f"not Python syntax: {e.msg}", fmt="python", text=text, line=e.lineno,
                          column=e.offset) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        raise DecodeError(f"not Python syntax: {e}", fmt="python", text=text) from None
    body = tree.body
    if isinstance(body, ast.Call):
        elements: Sequence[ast.expr] = [body]
    elif isinstance(body, (ast.List, ast.Tuple, ast.Set)):
        elements = body.elts
    else:
        raise DecodeError(f"expected a list of calls, got {type(body).__name__}", fmt="python", text=text)
    calls = []
    for i, elem in enumerate(elements):
        if not isinstance(elem, ast.Call):
            raise DecodeError(f"element {i} is a {type(elem).__name__}, not a call", fmt="python", text=text,
                              line=elem.lineno, column=elem.col_offset + 1)
        try:
            name, args = _resolve_call(elem, aliases)
        except (_Unsupported, TypeError, ValueError, ArithmeticError, RecursionError, MemoryError) as e:
            raise DecodeError(f"call {i}: {e}", fmt="python", text=text, line=elem.lineno,
                              column=elem.col_offset + 1) from None
        calls.append(Call(name, args))
    return calls


def _resolve_call(node: ast.Call, aliases: dict[str, str]) -> tuple[str, dict[str, Any]]:
    parts = []
    func = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(aliases.get(func.id, func.id))
    name = ".".join(reversed(parts))
    args: dict[str, Any] = {}
    for kw in node.keywords:
        args[SPLAT_KEY if kw.arg is None else kw.arg] = _resolve_value(kw.value, aliases)
    return name, args


def _resolve_value(node: ast.expr, aliases: dict[str, str]) -> Any:
    """BFCL's ``resolve_ast_by_type``, branch for branch, without ``eval``."""
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp):
        # BFCL: ``-value.operand.value`` whatever the operator. Only a numeric constant survives that expression.
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float, complex, bool):
            return -operand.value
        raise _Unsupported(f"unsupported operand of a unary operator: {type(operand).__name__}")
    if isinstance(node, ast.List):
        return [_resolve_value(v, aliases) for v in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                raise _Unsupported("'**' inside a dict value")
            key = _resolve_value(k, aliases)
            out[key] = _resolve_value(v, aliases)  # TypeError for an unhashable key, as in BFCL
        return out
    if isinstance(node, ast.BinOp):
        return _fold(node)  # where BFCL runs Python eval on ast.unparse(node)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        if not node.keywords:
            return _unalias(ast.unparse(node), aliases)
        name, args = _resolve_call(node, aliases)
        return {name: args}
    if isinstance(node, ast.Tuple):
        return tuple(_resolve_value(v, aliases) for v in node.elts)
    if isinstance(node, ast.Lambda):
        raise _Unsupported("lambda as a value")  # BFCL's branch raises too: ``value.body[0]`` on an expression
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    raise _Unsupported(f"unsupported value type: {type(node).__name__}")


def _unalias(text: str, aliases: dict[str, str]) -> str:
    for alias, name in aliases.items():
        text = text.replace(alias, name)
    return text


_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.LShift: operator.lshift,
    ast.RShift: operator.rshift, ast.BitOr: operator.or_, ast.BitXor: operator.xor, ast.BitAnd: operator.and_,
    ast.MatMult: operator.matmul,
}
_UNARYOPS = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}


def _fold(node: ast.expr) -> Any:
    """Value of a literal expression with Python's own semantics (what ``eval`` gives), or :class:`_Unsupported`.

    Allowed: constants, unary and binary operators, and list/tuple/set/dict displays of such. Names, calls,
    attributes, subscripts and comprehensions would need ``eval``: refused. Results that would take unbounded time or
    memory (``9**9**9``, ``'a'*10**9``) are refused too.
    """
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):
        return _UNARYOPS[type(node.op)](_fold(node.operand))
    if isinstance(node, ast.BinOp):
        op = type(node.op)
        left, right = _fold(node.left), _fold(node.right)
        _guard(op, left, right)
        return _BINOPS[op](left, right)
    if isinstance(node, ast.List):
        return [_fold(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_fold(e) for e in node.elts)
    if isinstance(node, ast.Set):
        return {_fold(e) for e in node.elts}
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _Unsupported("'**' inside a dict display")
        return {_fold(k): _fold(v) for k, v in zip(node.keys, node.values)}
    raise _Unsupported(f"arithmetic on a {type(node).__name__} would need evaluation")


def _guard(op: type, left: Any, right: Any) -> None:
    """Refuse arithmetic whose result would take unbounded time or memory (BFCL's eval would just hang)."""
    ints = isinstance(left, int) and isinstance(right, int)
    if op is ast.Pow and ints and right > 0 and abs(left) > 1 and right * abs(left).bit_length() > _MAX_INT_BITS:
        raise _Unsupported("power too large")
    if op is ast.LShift and ints and right > _MAX_INT_BITS:
        raise _Unsupported("shift too large")
    if op is ast.Mod and isinstance(left, (str, bytes)) and _WIDE_FORMAT.search(
            left if isinstance(left, str) else left.decode("latin-1")):
        raise _Unsupported("format width too large")
    if op is ast.Mult:
        if ints and abs(left).bit_length() + abs(right).bit_length() > _MAX_INT_BITS:
            raise _Unsupported("product too large")
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int) and len(seq) * times > _MAX_SEQUENCE:
                raise _Unsupported("repeated sequence too large")


def _is_python_name(name: str) -> bool:
    return bool(name) and all(p.isidentifier() and not keyword.iskeyword(p) for p in name.split("."))


def _string_spans(s: str) -> list[tuple[int, int]]:
    """(start, end) offsets of Python string literals in ``s``; a backslash always skips the next character (true
    for raw strings too as far as finding the closing quote goes)."""
    spans = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in "'\"":
            quote = s[i:i + 3] if s[i:i + 3] in ('"""', "'''") else c
            j = i + len(quote)
            while j < n:
                if s[j] == "\\":
                    j += 2
                    continue
                if s.startswith(quote, j):
                    j += len(quote)
                    break
                if len(quote) == 1 and s[j] == "\n":
                    break
                j += 1
            spans.append((i, min(j, n)))
            i = j
        else:
            i += 1
    return spans


def _alias_names(s: str, names: Iterable[str]) -> tuple[str, dict[str, str]]:
    """Replace call names that ``ast`` cannot parse (spaces, hyphens, keywords) by identifiers."""
    odd = sorted({n for n in names if isinstance(n, str) and n and not _is_python_name(n)}, key=len, reverse=True)
    if not odd:
        return s, {}
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, odd)) + r")(?=\s*\()")
    spans = _string_spans(s)
    aliases: dict[str, str] = {}
    by_name: dict[str, str] = {}
    out, last = [], 0
    for m in pattern.finditer(s):
        if any(a <= m.start() < b for a, b in spans):
            continue
        name = m.group(1)
        if name not in by_name:
            alias = f"__funrl_name_{len(by_name)}__"
            while alias in s:
                alias = "_" + alias
            by_name[name] = alias
            aliases[alias] = name
        out.append(s[last:m.start()])
        out.append(by_name[name])
        last = m.end()
    out.append(s[last:])
    return "".join(out), aliases


def _py_literal(value: Any, path: str) -> str:
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RenderError(f"{path}: {value!r} has no Python literal")
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_py_literal(v, f"{path}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_py_literal(v, f"{path}[{i}]") for i, v in enumerate(value))
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py_literal(k, path)}: {_py_literal(v, f'{path}.{k}')}" for k, v in value.items()) + "}"
    raise RenderError(f"{path}: cannot write a {type(value).__name__} in Python syntax")


def render_python(calls: Sequence[Call]) -> str:
    parts = []
    for call in calls:
        args = []
        for key, value in call.arguments.items():
            if not (isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)):
                raise RenderError(f"{call.name}: argument name {key!r} is not a Python identifier")
            args.append(f"{key}={_py_literal(value, f'{call.name}.{key}')}")
        parts.append(f"{call.name}({', '.join(args)})")
    return "[" + ", ".join(parts) + "]"


# ---------------------------------------------------------------------------------------------------------------
# JSON, OpenAI tool_calls, Hermes
# ---------------------------------------------------------------------------------------------------------------

_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\Z", re.DOTALL)


def _load_json(text: str, fmt: str) -> Any:
    s = text.strip()
    fenced = _FENCE.match(s)
    if fenced:
        s = fenced.group(1).strip()
    try:
        return json.loads(s)
    except json.JSONDecodeError as e:
        raise DecodeError(f"not JSON: {e.msg}", fmt=fmt, text=text, line=e.lineno, column=e.colno) from None
    except RecursionError:
        raise DecodeError("not JSON: nested too deeply", fmt=fmt, text=text) from None


def _arguments(raw: Any, where: str, fmt: str, text: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as e:
            raise DecodeError(f"{where}: arguments are not JSON: {e.msg}", fmt=fmt, text=text) from None
        except RecursionError:
            raise DecodeError(f"{where}: arguments nested too deeply", fmt=fmt, text=text) from None
    if not isinstance(raw, dict):
        raise DecodeError(f"{where}: arguments must be an object, got {type(raw).__name__}", fmt=fmt, text=text)
    return raw


_CALL_KEYS = ("name", "function", "arguments", "parameters", "type", "id")


def _call_from_object(obj: Any, where: str, fmt: str, text: str) -> Call:
    if not isinstance(obj, dict):
        raise DecodeError(f"{where}: expected an object, got {type(obj).__name__}", fmt=fmt, text=text)
    if isinstance(obj.get("function"), dict):  # OpenAI tool call {"type": "function", "function": {...}}
        fn = obj["function"]
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise DecodeError(f"{where}.function: missing name", fmt=fmt, text=text)
        return Call(name, _arguments(fn.get("arguments"), where, fmt, text))
    name = obj.get("name", obj.get("function"))
    if isinstance(name, str) and name:
        args = obj.get("arguments", obj.get("parameters"))
        return Call(name, _arguments(args, where, fmt, text))
    if len(obj) == 1:  # BFCL's decoded form {name: arguments}
        (name, args), = obj.items()
        if isinstance(args, (dict, str)) and name not in _CALL_KEYS:
            return Call(name, _arguments(args, where, fmt, text))
    raise DecodeError(f"{where}: expected a call object with a 'name'", fmt=fmt, text=text)


def decode_json(text: Any) -> list[Call]:
    obj = _load_json(text, "json") if isinstance(text, str) else text
    if isinstance(obj, dict) and isinstance(obj.get("tool_calls"), list):
        obj = obj["tool_calls"]
    if isinstance(obj, dict):
        return [_call_from_object(obj, "$", "json", str(text))]
    if isinstance(obj, list):
        return [_call_from_object(item, f"$[{i}]", "json", str(text)) for i, item in enumerate(obj)]
    raise DecodeError(f"expected a call object or a list of them, got {type(obj).__name__}", fmt="json",
                      text=str(text))


def decode_openai(value: Any) -> list[Call]:
    obj = _load_json(value, "openai") if isinstance(value, str) else value
    if isinstance(obj, dict):
        obj = obj.get("tool_calls")
        if obj is None:
            return []  # an assistant message without tool calls
    if not isinstance(obj, list):
        raise DecodeError(f"expected a list of tool calls, got {type(obj).__name__}", fmt="openai", text=str(value))
    calls = []
    for i, item in enumerate(obj):
        if not isinstance(item, dict) or not isinstance(item.get("function"), dict):
            raise DecodeError(f"$[{i}]: expected {{'type': 'function', 'function': {{...}}}}", fmt="openai",
                              text=str(value))
        calls.append(_call_from_object(item, f"$[{i}]", "openai", str(value)))
    return calls


_TOOL_CALL_BLOCK = re.compile(re.escape(TOOL_CALL_OPEN) + r"(.*?)" + re.escape(TOOL_CALL_CLOSE), re.DOTALL)


def decode_hermes(text: Any) -> list[Call]:
    if not isinstance(text, str):
        raise DecodeError(f"expected a string, got {type(text).__name__}", fmt="hermes")
    blocks = _TOOL_CALL_BLOCK.findall(text)
    opened = text.count(TOOL_CALL_OPEN)
    if opened == 0:
        raise DecodeError(f"no {TOOL_CALL_OPEN} block", fmt="hermes", text=text)
    if opened != len(blocks) or text.count(TOOL_CALL_CLOSE) != len(blocks):
        raise DecodeError(f"unbalanced {TOOL_CALL_OPEN} / {TOOL_CALL_CLOSE} tags", fmt="hermes", text=text)
    calls = []
    for i, block in enumerate(blocks):
        try:
            obj = json.loads(block.strip())
        except json.JSONDecodeError as e:
            raise DecodeError(f"block {i}: not JSON: {e.msg}", fmt="hermes", text=text) from None
        except RecursionError:
            raise DecodeError(f"block {i}: nested too deeply", fmt="hermes", text=text) from None
        calls.append(_call_from_object(obj, f"block {i}", "hermes", text))
    return calls


# QwenFCHandler._extract_tool_calls's pattern, verbatim.
_QWEN_FC_BLOCK = re.compile(r"<tool_call>\n(.*?)\n</tool_call>", re.DOTALL)


def qwen_fc_response(text: Any) -> Any:
    """What BFCL's ``QwenFCHandler._parse_query_response_prompting`` keeps of a raw reply as the result it stores:
    the text after the last ``</think>`` with leading newlines removed, or the whole text when there is no
    ``</think>``. Idempotent (the kept text has no ``</think>``), so applying it to a result file that BFCL's own
    generation wrote changes nothing. Non-strings are returned unchanged."""
    if not isinstance(text, str) or THINK_CLOSE not in text:
        return text
    return text.split(THINK_CLOSE)[-1].lstrip("\n")


def decode_qwen_fc(text: Any) -> list[Call]:
    """BFCL's ``QwenFCHandler.decode_ast`` (see the module docstring), raising :class:`DecodeError` where it raises.

    ``[]`` (no block that parses) is a successful decode, as in BFCL: an AST category then reports a wrong count, the
    irrelevance categories count it as "no call". A call's name is kept as JSON gave it (a non-string name is a
    wrong function name for the checker, as in BFCL)."""
    if not isinstance(text, str):
        raise DecodeError(f"expected a string, got {type(text).__name__}", fmt="qwen_fc")
    parsed = []
    for block in _QWEN_FC_BLOCK.findall(text):
        try:
            parsed.append(json.loads(block))
        except Exception:  # noqa: BLE001 - BFCL skips a block that does not parse, whatever the error
            continue
    for i, obj in enumerate(parsed):
        if type(obj) is not dict:
            raise DecodeError(f"block {i} is a JSON {type(obj).__name__}, not an object (BFCL: \"Model did not return "
                              "a list of function calls\")", fmt="qwen_fc", text=text)
    calls = []
    for i, obj in enumerate(parsed):
        if "name" not in obj or "arguments" not in obj:
            missing = "name" if "name" not in obj else "arguments"
            raise DecodeError(f"block {i} has no {missing!r} key", fmt="qwen_fc", text=text)
        name, arguments = obj["name"], obj["arguments"]
        if type(arguments) is not dict:  # BFCL calls arguments.items()
            raise DecodeError(f"block {i}: arguments must be a JSON object, got {type(arguments).__name__}",
                              fmt="qwen_fc", text=text)
        if isinstance(name, (list, dict)):  # BFCL builds {name: arguments}: an unhashable name raises
            raise DecodeError(f"block {i}: the name is a JSON {type(name).__name__}", fmt="qwen_fc", text=text)
        calls.append(Call(name, dict(arguments)))
    return calls


def _call_json(call: Call) -> dict[str, Any]:
    return {"name": call.name, "arguments": call.arguments}


def _dumps(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise RenderError(f"cannot write as JSON: {e}") from None


# ---------------------------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------------------------

def decode_calls(text: Any, fmt: str = "python", *, known_names: Iterable[str] = ()) -> list[Call]:
    """Decode model output (``text``) in ``fmt`` into calls; raises :class:`DecodeError` and nothing else."""
    try:
        if fmt == "python":
            return decode_python(text, known_names=known_names)
        if fmt == "json":
            return decode_json(text)
        if fmt == "openai":
            return decode_openai(text)
        if fmt == "hermes":
            return decode_hermes(text)
        if fmt == "qwen_fc":
            return decode_qwen_fc(text)
        if fmt == "auto":
            if isinstance(text, str) and TOOL_CALL_OPEN in text:
                return decode_hermes(text)
            if not isinstance(text, str):
                return decode_openai(text) if isinstance(text, (list, dict)) else decode_python(text)
            try:
                return decode_json(text)
            except DecodeError:
                return decode_python(text, known_names=known_names)
    except DecodeError:
        raise
    except RecursionError:
        raise DecodeError("nested too deeply", fmt=fmt) from None
    raise ValueError(f"unknown call format {fmt!r}; expected one of {', '.join(FORMATS)}")


def render_calls(calls: Sequence[Call], fmt: str = "python") -> Any:
    """Write calls in ``fmt``: a string for python/json/hermes/qwen_fc (the last two alike: one
    ``<tool_call>\\n{...}\\n</tool_call>`` block per call), the ``tool_calls`` list for openai."""
    if fmt == "python":
        return render_python(calls)
    if fmt == "json":
        return _dumps([_call_json(c) for c in calls])
    if fmt in ("hermes", "qwen_fc"):
        return "\n".join(f"{TOOL_CALL_OPEN}\n{_dumps(_call_json(c))}\n{TOOL_CALL_CLOSE}" for c in calls)
    if fmt == "openai":
        return [{"id": f"call_{i}", "type": "function",
                 "function": {"name": c.name, "arguments": _dumps(c.arguments)}} for i, c in enumerate(calls)]
    raise ValueError(f"unknown call format {fmt!r}; expected one of python, json, openai, hermes, qwen_fc")


# ---------------------------------------------------------------------------------------------------------------
# <think>…</think>
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class ThinkSplit:
    """A completion split at its think block. ``ok`` is True when the FunRL template is followed: the completion
    starts with ``<think>`` (after white space, or the prompt pre-filled it), has exactly one ``<think>`` and one
    ``</think>``, a non-empty thought and a non-empty answer after ``</think>``. ``problem`` says why not."""

    thought: str | None
    answer: str
    ok: bool
    problem: str | None = None


def split_think(text: str, *, prefilled: bool = False) -> ThinkSplit:
    """Split ``<think>thought</think>answer``. ``prefilled=True``: the chat template already opened the think block
    (e.g. DeepSeek-R1-style templates end the prompt with ``<think>``), so the completion starts inside it."""
    body = text.lstrip()
    if prefilled:
        body = THINK_OPEN + body if not body.startswith(THINK_OPEN) else body
    if not body.startswith(THINK_OPEN):
        return ThinkSplit(None, text, False, "no <think> block at the start")
    close = body.find(THINK_CLOSE)
    if close < 0:
        return ThinkSplit(body[len(THINK_OPEN):], "", False, "<think> is never closed")
    thought = body[len(THINK_OPEN):close]
    answer = body[close + len(THINK_CLOSE):]
    if THINK_OPEN in thought:
        return ThinkSplit(thought, answer, False, "nested <think>")
    if THINK_OPEN in answer or THINK_CLOSE in answer:
        return ThinkSplit(thought, answer, False, "more than one think block")
    if not thought.strip():
        return ThinkSplit(thought, answer, False, "empty thought")
    if not answer.strip():
        return ThinkSplit(thought, answer, False, "nothing after </think>")
    return ThinkSplit(thought, answer, True)


def strip_think(text: Any) -> Any:
    """Remove a leading ``<think>…</think>`` block (for scoring models that think); an unclosed block leaves no
    answer. Non-strings and text without a leading think block are returned unchanged."""
    if not isinstance(text, str) or not text.lstrip().startswith(THINK_OPEN):
        return text
    body = text.lstrip()
    close = body.find(THINK_CLOSE)
    return "" if close < 0 else body[close + len(THINK_CLOSE):].lstrip()


@dataclass
class Completion:
    """A completion taken apart: think split, decoded calls (``None`` if decoding failed) and the error."""

    thought: str | None
    answer: str
    template_ok: bool
    calls: list[Call] | None
    error: DecodeError | None
    problem: str | None = None

    @property
    def has_calls(self) -> bool:
        """True when the answer decodes into at least one call (BFCL's "non-empty decode")."""
        return bool(self.calls)


def parse_completion(text: str, fmt: str = "python", *, known_names: Iterable[str] = (),
                     prefilled_think: bool = False) -> Completion:
    """Split the think block, then decode what follows it (the whole text if there is no think block)."""
    split = split_think(text, prefilled=prefilled_think)
    answer = split.answer if split.thought is not None or prefilled_think else text
    try:
        calls: list[Call] | None = decode_calls(answer.strip(), fmt, known_names=known_names)
        error = None
    except DecodeError as e:
        calls, error = None, e
    return Completion(split.thought, answer, split.ok, calls, error, split.problem)


def render_completion(thought: str, calls: Sequence[Call] | None, fmt: str = "python", *, text: str = "") -> str:
    """``<think>thought</think>`` followed by the rendered calls (or ``text`` when there are none)."""
    answer = render_calls(calls, fmt) if calls else text
    if not isinstance(answer, str):
        answer = _dumps(answer)
    return f"{THINK_OPEN}{thought}{THINK_CLOSE}\n{answer}"
