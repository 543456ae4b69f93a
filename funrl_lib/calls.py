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
    tuples, dicts and sets, within :data:`MAX_BUILT_SIZE` and :data:`MAX_INT_DIGITS`) and anything that would need a name lookup or a call (``a=len(x)+1``)
    is a :class:`DecodeError` where BFCL would have evaluated it.
``"json"``
    ``[{"name": ..., "arguments": {...}}]`` or one such object; ``parameters`` is accepted for ``arguments`` and
    arguments may be a JSON string (as OpenAI sends them); BFCL's own ``[{name: arguments}]`` form too.
``"openai"``
    OpenAI ``tool_calls``: ``[{"id", "type": "function", "function": {"name", "arguments": "<json>"}}]``, an
    assistant message holding them, or the JSON text of either.
``"hermes"``
    Hermes / Qwen ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks; text around them is allowed;
    a tag inside a JSON string of a block is part of the string.
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

Every decoder raises only :class:`DecodeError` and never executes anything: ``ast`` and ``json`` only. Decoding
has explicit limits (:data:`MAX_INPUT_CHARS`, :data:`MAX_PYTHON_CHARS`, :data:`MAX_NESTING`, :data:`MAX_INT_DIGITS`,
:data:`MAX_BUILT_SIZE`); past one the DecodeError names it (``DecodeError.limit``), so any text decodes in time and
memory linear in its length. Below them the results are exactly the ones described above. Tag and fence scanning is
linear (no backtracking regular expressions). :func:`short_repr` writes a value for a message in bounded space.
"""

from __future__ import annotations

import ast
import bisect
import functools
import json
import keyword
import math
import operator
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

__all__ = [
    "Call",
    "Completion",
    "DecodeError",
    "FORMATS",
    "LIMITS",
    "MAX_BUILT_SIZE",
    "MAX_INPUT_CHARS",
    "MAX_INT_DIGITS",
    "MAX_NESTING",
    "MAX_PYTHON_CHARS",
    "RenderError",
    "ThinkSplit",
    "decode_calls",
    "decode_qwen_fc",
    "parse_completion",
    "qwen_fc_response",
    "render_calls",
    "render_completion",
    "short_repr",
    "short_str",
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
    ``line``/``column`` (1-based, when known) where in the text. ``limit`` names the limit the text went past
    (``"MAX_INPUT_CHARS"``, ... see :data:`LIMITS`), ``None`` for any other failure. ``unexpected`` is the name of an
    exception the decoder did not expect (a bug, turned into a :class:`DecodeError` so a caller never sees it; the
    fuzz harness counts these as crashes), ``None`` normally."""

    def __init__(self, reason: str, *, fmt: str, text: str = "", line: int | None = None, column: int | None = None,
                 limit: str | None = None, unexpected: str | None = None):
        self.reason = reason
        self.fmt = fmt
        self.text = text
        self.line = line
        self.column = column
        self.limit = limit
        self.unexpected = unexpected
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{fmt}: {reason}{where}")


class RenderError(ValueError):
    """Calls that cannot be written in the requested format (e.g. ``inf`` or a set in Python syntax)."""


# ---------------------------------------------------------------------------------------------------------------
# Limits: every decoder refuses input past these with a DecodeError naming the limit
# ---------------------------------------------------------------------------------------------------------------

MAX_INPUT_CHARS = 1_000_000
"""Longest text, in characters, that any decoder accepts. Longer text is refused before it is parsed. A million
characters is about 250k tokens, far more than any completion or BFCL result; the JSON and tag decoders need a few
bytes per character, so one decode stays within a few tens of MB."""

MAX_PYTHON_CHARS = 100_000
"""Longest text, in characters, that the python decoder parses: after BFCL's stripping and bracket adding, both
before and after the ``known_names`` substitution. Python's parser needs up to ~500 bytes per character on dense
input (``[f(a=[0,0,0,...])]``), so one parse stays under ~50 MB; 100,000 characters is some 25,000 tokens of
calls."""

MAX_NESTING = 100
"""Deepest nesting of values. Python syntax: every bracket, call and operator is one level (``[f(a=[1+2])]`` is 4
deep: list, call, list, ``+``; names and literals are not levels). JSON: every array and object is one level. Checked
before any recursive walk, so decoding, checking and writing a decoded value never recurse deeper."""

MAX_INT_DIGITS = 4_300
"""Most decimal digits of an integer, literal or computed by folding arithmetic (``10**5000``, ``1<<20000``). The
same as Python's default ``sys.int_max_str_digits``, so every decoded integer can be printed and written as JSON
whatever the process sets, and the JSON decoders enforce it themselves."""

MAX_BUILT_SIZE = 1_000_000
"""Most that arithmetic on literals may build in one python decode, summed over every operation, each checked
*before* it runs. A result's size is its length for a string or bytes, and for a list, tuple, set or dict its
number of elements plus the sizes of its elements (so ``[[0]*1000]*1000`` is about a million, although Python shares
the inner list). A ``%`` formatting is charged its largest possible output: widths and precisions (a ``*`` one taken
from the arguments included) plus the length of each converted argument. ``'a'*1_000_000`` fits; ``'a'*1_000_001``,
a chain of ``+`` adding up to more, ``'%*d' % (10**9, 1)`` or ``[[0]*10**6]*50`` do not."""

LIMITS = ("MAX_INPUT_CHARS", "MAX_PYTHON_CHARS", "MAX_NESTING", "MAX_INT_DIGITS", "MAX_BUILT_SIZE")
"""The names a :attr:`DecodeError.limit` can take."""

_INT_BOUND = 10 ** MAX_INT_DIGITS  # an integer is within MAX_INT_DIGITS when abs(value) < this
_INT_BITS = _INT_BOUND.bit_length()  # a result with more bits is certainly over MAX_INT_DIGITS


class _LimitExceeded(Exception):
    """Internal: input past one of the limits above (``limit`` its name); decoders turn it into a DecodeError."""

    def __init__(self, limit: str, reason: str):
        super().__init__(reason)
        self.limit = limit
        self.reason = reason


def _check_input(text: str, fmt: str) -> None:
    if len(text) > MAX_INPUT_CHARS:
        raise DecodeError(f"input of {len(text):,} characters is over the limit of {MAX_INPUT_CHARS:,} "
                          f"(MAX_INPUT_CHARS)", fmt=fmt, limit="MAX_INPUT_CHARS")


def _int_too_large(value: Any) -> bool:
    return isinstance(value, int) and (value >= _INT_BOUND or value <= -_INT_BOUND)


# ---------------------------------------------------------------------------------------------------------------
# Bounded repr: error messages show decoded values shortened, never in full
# ---------------------------------------------------------------------------------------------------------------

SHORT_REPR_LIMIT = 1_000
"""Default most characters :func:`short_repr` writes (a longer repr is cut and ends with ``…``). Longer than any value
in BFCL's data or in the outputs of the parity fixtures, so no verdict on them changes; a message quoting a decoded
value (a checker verdict, a decode error) holds at most a few of these."""

ELLIPSIS = "…"


class _Full(Exception):
    """Internal: a bounded writer went past its limit."""


class _Writer:
    """Collects text pieces; raises :class:`_Full` once more than ``limit`` characters were written."""

    def __init__(self, limit: int):
        self.limit = limit
        self.size = 0
        self.parts: list[str] = []

    def add(self, piece: str) -> None:
        self.parts.append(piece)
        self.size += len(piece)
        if self.size > self.limit:
            raise _Full


def _write_repr(value: Any, out: _Writer, active: set[int], depth: int) -> None:
    """``repr(value)`` written piece by piece into ``out``, exactly as Python writes it for the built-in types (a long
    string or a huge integer only as far as ``out`` can take); other types through their own ``repr``."""
    t = type(value)
    if value is None or t is bool or t is float or t is complex:
        out.add(repr(value))
    elif t is int:
        try:
            text = repr(value) if value.bit_length() <= _INT_BITS else None
        except ValueError:  # over this process's sys.int_max_str_digits
            text = None
        if text is None:
            out.add(f"<int of {value.bit_length():,} bits>")
            raise _Full
        out.add(text)
    elif t is str or t is bytes:
        if len(value) > out.limit:  # the repr is longer still: write the start only
            out.add(repr(value[:out.limit + 1]))
            raise _Full
        out.add(repr(value))
    elif t in (list, tuple, dict, set, frozenset):
        if depth >= MAX_NESTING:
            out.add("...")
            raise _Full
        if id(value) in active:  # a container inside itself: Python writes [...] / {...}
            out.add("[...]" if t is list else "{...}" if t is dict else "(...)")
            return
        if not value:
            out.add({list: "[]", tuple: "()", dict: "{}", set: "set()", frozenset: "frozenset()"}[t])
            return
        active.add(id(value))
        try:
            opening, closing = {list: ("[", "]"), tuple: ("(", ")"), dict: ("{", "}"), set: ("{", "}"),
                                frozenset: ("frozenset({", "})")}[t]
            out.add(opening)
            for i, item in enumerate(value.items() if t is dict else value):
                if i:
                    out.add(", ")
                if t is dict:
                    _write_repr(item[0], out, active, depth + 1)
                    out.add(": ")
                    _write_repr(item[1], out, active, depth + 1)
                else:
                    _write_repr(item, out, active, depth + 1)
            if t is tuple and len(value) == 1:
                out.add(",")
            out.add(closing)
        finally:
            active.discard(id(value))
    else:
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001 - a broken __repr__ of a caller's object
            text = f"<{t.__name__} object>"
        out.add(text[:out.limit + 1])


def short_repr(value: Any, limit: int = SHORT_REPR_LIMIT) -> str:
    """``repr(value)`` when it has at most ``limit`` characters, else its first ``limit - 1`` characters and ``…``.
    Costs O(limit) time and memory whatever the value (a ``[[0]*10**6]*50`` list or a 5,000-digit integer), so a
    message quoting a decoded value stays small."""
    out = _Writer(limit)
    try:
        _write_repr(value, out, set(), 0)
    except _Full:
        return "".join(out.parts)[:max(limit - 1, 0)] + ELLIPSIS
    except RecursionError:
        return "".join(out.parts)[:max(limit - 1, 0)] + ELLIPSIS
    return "".join(out.parts)


def short_str(value: Any, limit: int = SHORT_REPR_LIMIT) -> str:
    """``str(value)`` for a string (shortened like :func:`short_repr`), :func:`short_repr` for anything else (for
    the built-in containers and numbers ``str`` and ``repr`` agree)."""
    if type(value) is str:
        return value if len(value) <= limit else value[:max(limit - 1, 0)] + ELLIPSIS
    return short_repr(value, limit)


def _repr_length(value: Any, cap: int) -> int:
    """``len(repr(value))``, or ``cap + 1`` when it is longer than ``cap`` (found in O(cap))."""
    out = _Writer(cap)
    try:
        _write_repr(value, out, set(), 0)
    except (_Full, RecursionError):
        return cap + 1
    return out.size


# ---------------------------------------------------------------------------------------------------------------
# Python syntax (BFCL prompting format)
# ---------------------------------------------------------------------------------------------------------------

# Model output is parsed under this file name, and warnings from parsing it (invalid escape sequences, "invalid
# decimal literal", ...) are ignored by one filter that matches nothing else.
_SOURCE_NAME = "<funrl-model-output>"
warnings.filterwarnings("ignore", module=re.escape(_SOURCE_NAME) + r"\Z")


class _Unsupported(Exception):
    pass


def _decoder(fmt: str) -> Callable[[Callable[..., list[Call]]], Callable[..., list[Call]]]:
    """Make a decoder raise :class:`DecodeError` and nothing else: a limit it hits is named, a too deep recursion is
    ``MAX_NESTING``, and any other exception (a bug) becomes a DecodeError with ``unexpected`` set."""

    def wrap(decode: Callable[..., list[Call]]) -> Callable[..., list[Call]]:
        @functools.wraps(decode)
        def decoder(text: Any, *args: Any, **kwargs: Any) -> list[Call]:
            try:
                return decode(text, *args, **kwargs)
            except DecodeError:
                raise
            except _LimitExceeded as e:
                raise DecodeError(e.reason, fmt=fmt, limit=e.limit) from None
            except RecursionError:
                raise DecodeError(f"nested too deeply (MAX_NESTING is {MAX_NESTING})", fmt=fmt,
                                  limit="MAX_NESTING") from None
            except Exception as e:  # noqa: BLE001 - the contract: decoders raise DecodeError only
                raise DecodeError(f"unexpected {type(e).__name__}: {short_str(str(e))}", fmt=fmt,
                                  unexpected=type(e).__name__) from e

        return decoder

    return wrap


@_decoder("python")
def decode_python(text: Any, *, known_names: Iterable[str] = ()) -> list[Call]:
    """BFCL's ``default_decode_ast_prompting`` (see the module docstring), raising :class:`DecodeError`."""
    if not isinstance(text, str):
        raise DecodeError(f"expected a string, got {type(text).__name__}", fmt="python")
    _check_input(text, "python")
    s = text.strip("`\n ")
    if not s.startswith("["):
        s = "[" + s
    if not s.endswith("]"):
        s = s + "]"
    s = s.strip().strip("'")  # bfcl ast_parse: "remove wrapping quotes that could have been added by the model"
    aliases: dict[str, str] = {}
    if known_names and len(s) <= MAX_PYTHON_CHARS:
        s, aliases = _alias_names(s, known_names)
    if len(s) > MAX_PYTHON_CHARS:
        raise DecodeError(f"{len(s):,} characters of Python is over the limit of {MAX_PYTHON_CHARS:,} "
                          "(MAX_PYTHON_CHARS)", fmt="python", text=text, limit="MAX_PYTHON_CHARS")
    try:
        tree = ast.parse(s, filename=_SOURCE_NAME, mode="eval")
    except (SyntaxError, ValueError) as e:
        if "integer string conversion" in str(e):  # Python's own int_max_str_digits (a ValueError or SyntaxError)
            raise DecodeError(f"not Python syntax: an integer literal has more than {MAX_INT_DIGITS:,} digits "
                              "(MAX_INT_DIGITS)", fmt="python", text=text, limit="MAX_INT_DIGITS") from None
        if isinstance(e, SyntaxError):
            raise DecodeError(f"not Python syntax: {e.msg}", fmt="python", text=text, line=e.lineno,
                              column=e.offset) from None
        raise DecodeError(f"not Python syntax: {e}", fmt="python", text=text) from None
    except (RecursionError, MemoryError) as e:  # the parser's own stack limits
        raise DecodeError(f"not Python syntax: nested too deeply ({short_str(str(e)) or type(e).__name__})",
                          fmt="python", text=text, limit="MAX_NESTING") from None
    except OverflowError as e:
        raise DecodeError(f"not Python syntax: {e}", fmt="python", text=text) from None
    body = tree.body
    try:
        _check_python_nesting(body, len(s))
    except _LimitExceeded as e:
        raise DecodeError(e.reason, fmt="python", text=text, limit=e.limit) from None
    if isinstance(body, ast.Call):
        elements: Sequence[ast.expr] = [body]
    elif isinstance(body, (ast.List, ast.Tuple, ast.Set)):
        elements = body.elts
    else:
        raise DecodeError(f"expected a list of calls, got {type(body).__name__}", fmt="python", text=text)
    calls = []
    budget = _Budget()
    for i, elem in enumerate(elements):
        if not isinstance(elem, ast.Call):
            raise DecodeError(f"element {i} is a {type(elem).__name__}, not a call", fmt="python", text=text,
                              line=elem.lineno, column=elem.col_offset + 1)
        try:
            name, args = _resolve_call(elem, aliases, budget)
        except _LimitExceeded as e:
            raise DecodeError(f"call {i}: {e.reason}", fmt="python", text=text, line=elem.lineno,
                              column=elem.col_offset + 1, limit=e.limit) from None
        except LookupError as e:  # a missing key or argument of a %-formatting
            raise DecodeError(f"call {i}: {type(e).__name__} {short_str(str(e))}", fmt="python", text=text,
                              line=elem.lineno, column=elem.col_offset + 1) from None
        except (_Unsupported, TypeError, ValueError, ArithmeticError, RecursionError, MemoryError) as e:
            raise DecodeError(f"call {i}: {short_str(str(e))}", fmt="python", text=text, line=elem.lineno,
                              column=elem.col_offset + 1) from None
        calls.append(Call(name, args))
    return calls


def _levels(node: ast.AST) -> int:
    """How many nesting levels ``node`` adds (see MAX_NESTING): one for an expression other than a name or literal."""
    return 1 if isinstance(node, ast.expr) and not isinstance(node, (ast.Constant, ast.Name)) else 0


def _check_python_nesting(body: ast.expr, length: int) -> None:
    """Raise _LimitExceeded when the parsed expression nests deeper than MAX_NESTING (an iterative walk)."""
    if length <= MAX_NESTING:  # every level takes at least one character
        return
    stack = [(body, _levels(body))]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise _LimitExceeded("MAX_NESTING", f"nested more than {MAX_NESTING} levels deep (MAX_NESTING)")
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + _levels(child)))


class _Budget:
    """What arithmetic has built so far in one decode (see MAX_BUILT_SIZE)."""

    def __init__(self) -> None:
        self.spent = 0

    @property
    def left(self) -> int:
        return MAX_BUILT_SIZE - self.spent

    def charge(self, size: int) -> None:
        self.spent += size
        if self.spent > MAX_BUILT_SIZE:
            raise _LimitExceeded("MAX_BUILT_SIZE", f"arithmetic would build values of size {self.spent:,} in all, "
                                                   f"over the limit of {MAX_BUILT_SIZE:,} (MAX_BUILT_SIZE)")


def _too_large_int() -> _LimitExceeded:
    return _LimitExceeded("MAX_INT_DIGITS", f"an integer with more than {MAX_INT_DIGITS:,} digits (MAX_INT_DIGITS)")


def _check_int(value: Any) -> None:
    if _int_too_large(value):
        raise _too_large_int()


def _resolve_call(node: ast.Call, aliases: dict[str, str], budget: _Budget) -> tuple[str, dict[str, Any]]:
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
        args[SPLAT_KEY if kw.arg is None else kw.arg] = _resolve_value(kw.value, aliases, budget)
    return name, args


def _resolve_value(node: ast.expr, aliases: dict[str, str], budget: _Budget) -> Any:
    """BFCL's ``resolve_ast_by_type``, branch for branch, without ``eval``."""
    if isinstance(node, ast.Constant):
        _check_int(node.value)
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp):
        # BFCL: ``-value.operand.value`` whatever the operator. Only a numeric constant survives that expression.
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float, complex, bool):
            _check_int(operand.value)
            return -operand.value
        raise _Unsupported(f"unsupported operand of a unary operator: {type(operand).__name__}")
    if isinstance(node, ast.List):
        return [_resolve_value(v, aliases, budget) for v in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                raise _Unsupported("'**' inside a dict value")
            key = _resolve_value(k, aliases, budget)
            out[key] = _resolve_value(v, aliases, budget)  # TypeError for an unhashable key, as in BFCL
        return out
    if isinstance(node, ast.BinOp):
        return _fold(node, budget)[0]  # where BFCL runs Python eval on ast.unparse(node)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        if not node.keywords:
            return _unalias(ast.unparse(node), aliases)
        name, args = _resolve_call(node, aliases, budget)
        return {name: args}
    if isinstance(node, ast.Tuple):
        return tuple(_resolve_value(v, aliases, budget) for v in node.elts)
    if isinstance(node, ast.Lambda):
        raise _Unsupported("lambda as a value")  # BFCL's branch raises too: ``value.body[0]`` on an expression
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    raise _Unsupported(f"unsupported value type: {type(node).__name__}")


_ALIAS_TAIL = "funrl_name_"


def _unalias(text: str, aliases: dict[str, str]) -> str:
    """Put the original names back for the aliases :func:`_alias_names` made (one linear pass)."""
    if not aliases:
        return text
    first = next(iter(aliases))
    prefix = first[:first.index(_ALIAS_TAIL)]
    pattern = re.compile(re.escape(prefix + _ALIAS_TAIL) + r"[0-9]+__")
    return pattern.sub(lambda m: aliases.get(m.group(0), m.group(0)), text)


_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.LShift: operator.lshift,
    ast.RShift: operator.rshift, ast.BitOr: operator.or_, ast.BitXor: operator.xor, ast.BitAnd: operator.and_,
    ast.MatMult: operator.matmul,
}
_UNARYOPS = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}
_SEQUENCES = (str, bytes, list, tuple)
_CONTAINERS = (str, bytes, list, tuple, set, frozenset, dict)


def _size(value: Any) -> int:
    """Size (see MAX_BUILT_SIZE) of a literal: its length for a string or bytes, 0 for a number."""
    return len(value) if isinstance(value, (str, bytes)) else 0


def _fold(node: ast.expr, budget: _Budget) -> tuple[Any, int]:
    """(value, size) of a literal expression with Python's own semantics (what ``eval`` gives), or
    :class:`_Unsupported`.

    Allowed: constants, unary and binary operators, and list/tuple/set/dict displays of such. Names, calls,
    attributes, subscripts and comprehensions would need ``eval``: refused. Each operation's result size is bounded
    before it runs and charged to ``budget`` (MAX_BUILT_SIZE), integers stay within MAX_INT_DIGITS: ``9**9**9``,
    ``'a'*10**9``, ``'%*d' % (10**9, 1)`` and ``1<<10**6<<10**6`` are refused, not computed.
    """
    if isinstance(node, ast.Constant):
        _check_int(node.value)
        return node.value, _size(node.value)
    if isinstance(node, ast.UnaryOp):
        value, size = _fold(node.operand, budget)
        result = _UNARYOPS[type(node.op)](value)
        return result, (size if isinstance(result, _CONTAINERS) else 0)
    if isinstance(node, ast.BinOp):
        op = type(node.op)
        (left, left_size), (right, right_size) = _fold(node.left, budget), _fold(node.right, budget)
        size = _result_size(op, left, left_size, right, right_size, budget.left)
        budget.charge(size)
        result = _BINOPS[op](left, right)
        _check_int(result)
        return result, size
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        folded = [_fold(e, budget) for e in node.elts]
        values = [v for v, _ in folded]
        size = len(folded) + sum(s for _, s in folded)
        if isinstance(node, ast.List):
            return values, size
        return (tuple(values), size) if isinstance(node, ast.Tuple) else (set(values), size)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _Unsupported("'**' inside a dict display")
        out, size = {}, 0
        for k, v in zip(node.keys, node.values):
            key, key_size = _fold(k, budget)
            value, value_size = _fold(v, budget)
            out[key] = value
            size += 1 + key_size + value_size
        return out, size
    raise _Unsupported(f"arithmetic on a {type(node).__name__} would need evaluation")


def _result_size(op: type, left: Any, left_size: int, right: Any, right_size: int, room: int) -> int:
    """Upper bound on the size of ``left <op> right``, found without computing it; raises _LimitExceeded for an
    integer result that would be over MAX_INT_DIGITS (its bit length is known in advance)."""
    ints = isinstance(left, int) and isinstance(right, int)
    if op is ast.Mult:
        if isinstance(left, _SEQUENCES) and isinstance(right, int):
            return max(right, 0) * left_size
        if isinstance(right, _SEQUENCES) and isinstance(left, int):
            return max(left, 0) * right_size
        if ints and left and right and left.bit_length() + right.bit_length() > _INT_BITS + 1:
            raise _too_large_int()
        return 0
    if op is ast.Pow:
        if ints and right > 0 and abs(left) > 1 and (abs(left).bit_length() - 1) * right > _INT_BITS:
            raise _too_large_int()
        return 0
    if op is ast.LShift:
        if ints and left and right > 0 and left.bit_length() + right > _INT_BITS + 1:
            raise _too_large_int()
        return 0
    if op is ast.Mod and isinstance(left, (str, bytes)):
        return _format_size(left, right, room)
    if isinstance(left, _CONTAINERS) or isinstance(right, _CONTAINERS):
        return left_size + right_size
    return 0


# The longest a numeric %-conversion (d i o u x X e E f F g G c) of a value within the limits can be, besides its
# width and precision: a MAX_INT_DIGITS integer has at most 4,763 octal digits; a float's %f at most 309 digits.
_NUMERIC_CONVERSION = 5_000
_NUMERIC_CONVERSIONS = frozenset("diouxXeEfFgGc")
_MAX_WIDTH_DIGITS = len(str(MAX_BUILT_SIZE))
_NO_ARG = object()


def _format_size(fmt: str | bytes, args: Any, room: int) -> int:
    """Upper bound on ``len(fmt % args)`` (printf-style formatting), or any number above ``room`` once it is known to
    exceed it. Scans the conversion specifiers as Python does (``%(key)``, flags, width and precision: digits or
    ``*`` taken from the arguments, length modifier, conversion) and stops where Python's formatting would raise
    (a missing argument or key, a bad ``*`` argument, an incomplete specifier), since nothing is built past it."""
    text = fmt if isinstance(fmt, str) else fmt.decode("latin-1")
    positional = list(args) if isinstance(args, tuple) else [args]
    mapping = args if isinstance(args, dict) else None
    total, i, n, next_arg = 0, 0, len(text), 0

    def number(i: int) -> tuple[int, int | None]:
        """(index after, value) of a width or precision at ``i``: digits or ``*``; None: the formatting raises."""
        nonlocal next_arg
        if i < n and text[i] == "*":
            if next_arg >= len(positional) or not isinstance(positional[next_arg], int):
                return i, None
            next_arg += 1
            return i + 1, abs(positional[next_arg - 1])
        k = i
        while k < n and "0" <= text[k] <= "9":
            k += 1
        if k - i > _MAX_WIDTH_DIGITS:
            return k, room + 1
        return k, int(text[i:k]) if k > i else 0

    while total <= room:
        j = text.find("%", i)
        if j < 0:
            return total + n - i
        total += j - i
        i = j + 1
        if i >= n:
            break
        arg = _NO_ARG
        if text[i] == "(":
            depth, k = 1, i + 1
            while k < n and depth:
                depth += {"(": 1, ")": -1}.get(text[k], 0)
                k += 1
            if depth or mapping is None:
                break
            key: Any = text[i + 1:k - 1] if isinstance(fmt, str) else text[i + 1:k - 1].encode("latin-1")
            try:
                arg = mapping[key]
            except (KeyError, TypeError):
                break
            i = k
        while i < n and text[i] in "-+ #0":
            i += 1
        i, width = number(i)
        precision: int | None = 0
        if width is not None and i < n and text[i] == ".":
            i, precision = number(i + 1)
        if width is None or precision is None:
            break
        while i < n and text[i] in "hlL":
            i += 1
        if i >= n:
            break
        conversion = text[i]
        i += 1
        total += width + precision
        if conversion == "%":
            total += 1
            continue
        if arg is _NO_ARG:
            if next_arg >= len(positional):
                break
            arg = positional[next_arg]
            next_arg += 1
        if conversion in _NUMERIC_CONVERSIONS:
            total += _NUMERIC_CONVERSION
        elif conversion in "sb" and isinstance(arg, (str, bytes)):
            total += len(arg)
        elif conversion in "sbra":
            total += _repr_length(arg, max(room - total, 0)) * (10 if conversion == "a" else 1)
        else:
            break  # an unsupported conversion: the formatting raises here
    return total


def _is_python_name(name: str) -> bool:
    return bool(name) and all(p.isidentifier() and not keyword.iskeyword(p) for p in name.split("."))


_QUOTE = re.compile(r"['\"]")
_STRING_STOP = {"'": re.compile(r"[\\'\n]"), '"': re.compile(r'[\\"\n]'), "'''": re.compile(r"[\\']"),
                '"""': re.compile(r'[\\"]')}


def _string_spans(s: str) -> list[tuple[int, int]]:
    """(start, end) offsets of Python string literals in ``s``, in order; a backslash always skips the next character
    (true for raw strings too as far as finding the closing quote goes). One pass, jumping between quotes."""
    spans = []
    i, n = 0, len(s)
    while True:
        m = _QUOTE.search(s, i)
        if m is None:
            return spans
        i = m.start()
        quote = s[i:i + 3] if s[i:i + 3] in ('"""', "'''") else s[i]
        stop = _STRING_STOP[quote]
        j = i + len(quote)
        while j < n:
            m = stop.search(s, j)
            if m is None:
                j = n
                break
            j = m.start()
            if s[j] == "\\":
                j += 2
                continue
            if s.startswith(quote, j):
                j += len(quote)
                break
            if len(quote) == 1:  # a newline ends a one-quote string
                break
            j += 1
        spans.append((i, min(j, n)))
        i = j


_WORD_OR_DOT = re.compile(r"[\w.]")
_SPACE = re.compile(r"\s")
_CALL_PAREN = re.compile(r"(?<!\s)\s*\(")  # a "(" with all the white space before it (linear: starts only where
#                                              white space starts)


def _alias_names(s: str, names: Iterable[str]) -> tuple[str, dict[str, str]]:
    """Replace call names that ``ast`` cannot parse (spaces, hyphens, keywords) by identifiers.

    A name is replaced where it starts a call (white space, then ``(``), is not preceded by a word character or a
    dot, and does not start inside a string literal; scanning left to right, a replaced name is skipped over and
    where several names start at one place the longest wins (what one regular expression
    ``(?<![\\w.])(longest|...|shortest)(?=\\s*\\()`` would find). Found from each ``(`` backwards, so the cost is
    linear in ``s`` times the number of distinct name lengths, not in the number of names.
    """
    odd = {n for n in names if isinstance(n, str) and n and not _is_python_name(n)}
    if not odd:
        return s, {}
    lengths = sorted({len(n) for n in odd}, reverse=True)
    trailing = 0  # most white space a name ends with (the \s* before "(" may be part of the name)
    for name in odd:
        k = len(name)
        while k and _SPACE.match(name, k - 1):
            k -= 1
        trailing = max(trailing, len(name) - k)
    longest: dict[int, int] = {}  # start -> length of the longest name starting there and followed by \s*(
    for m in _CALL_PAREN.finditer(s):
        k, q = m.start(), m.end() - 1  # q: a "(", k: where the white space before it starts
        for end in range(k, min(q, k + trailing) + 1):
            for length in lengths:
                start = end - length
                if start >= 0 and length > longest.get(start, 0) and s[start:end] in odd and (
                        start == 0 or not _WORD_OR_DOT.match(s, start - 1)):
                    longest[start] = length
    if not longest:
        return s, {}
    matches, position = [], 0
    for start in sorted(longest):
        if start >= position:
            matches.append(start)
            position = start + longest[start]
    spans = _string_spans(s)
    span_starts = [a for a, _ in spans]
    prefix = "__"
    if _ALIAS_TAIL in s:  # make the aliases longer than anything like them in s
        run, k = 0, s.find(_ALIAS_TAIL)
        while k >= 0:
            u = k
            while u and s[u - 1] == "_":
                u -= 1
            run = max(run, k - u)
            k = s.find(_ALIAS_TAIL, k + 1)
        prefix = "_" * (run + 1)
    aliases: dict[str, str] = {}
    by_name: dict[str, str] = {}
    out, last = [], 0
    for start in matches:
        inside = bisect.bisect_right(span_starts, start) - 1
        if inside >= 0 and start < spans[inside][1]:
            continue
        end = start + longest[start]
        name = s[start:end]
        if name not in by_name:
            alias = f"{prefix}{_ALIAS_TAIL}{len(by_name)}__"
            by_name[name] = alias
            aliases[alias] = name
        out.append(s[last:start])
        out.append(by_name[name])
        last = end
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

_SPACES = re.compile(r"\s*")
_FENCE_TAG = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _fence_body(s: str) -> str | None:
    """The body of a code fence that is all of ``s``: exactly the group that ``re.match(r"\\A```[A-Za-z0-9_-]*\\s*\\n
    (.*?)\\n?```\\Z", s, re.DOTALL)`` captures (None where it does not match), found in one pass; the regular
    expression itself backtracks quadratically on a long run of newlines."""
    if not s.startswith("```") or not s.endswith("```"):
        return None
    n, i = len(s), 3
    while i < n and s[i] in _FENCE_TAG:
        i += 1
    j = _SPACES.match(s, i).end()
    newline = s.rfind("\n", i, j)  # the last newline of the white space after the tag ends the opening line
    if newline < 0:
        return None
    start, end = newline + 1, n - 3
    if end < start:
        return None
    if end - 1 >= start and s[end - 1] == "\n":
        end -= 1
    return s[start:end]


def _json_int(digits: str) -> int:
    """``parse_int`` for ``json.loads``: refuses an integer over MAX_INT_DIGITS before converting it (whatever
    this process's ``sys.int_max_str_digits``)."""
    if len(digits) - digits.startswith("-") > MAX_INT_DIGITS:
        raise _too_large_int()
    return int(digits)


def _check_json_nesting(obj: Any, source: str, start: int = 0, end: int | None = None) -> None:
    """Raise _LimitExceeded when a parsed JSON value nests deeper than MAX_NESTING arrays/objects (an iterative walk,
    skipped when ``source[start:end]``, its text, has too few brackets to nest that deep)."""
    end = len(source) if end is None else end
    if source.count("[", start, end) + source.count("{", start, end) <= MAX_NESTING:
        return
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            if depth > MAX_NESTING:
                raise _LimitExceeded("MAX_NESTING", f"nested more than {MAX_NESTING} levels deep (MAX_NESTING)")
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))


def _parse_json(s: str) -> Any:
    """``json.loads`` within the limits: raises json.JSONDecodeError, _LimitExceeded or RecursionError."""
    try:
        obj = json.loads(s, parse_int=_json_int)
    except RecursionError:
        raise _LimitExceeded("MAX_NESTING", f"nested more than {MAX_NESTING} levels deep (MAX_NESTING)") from None
    except json.JSONDecodeError:
        raise
    except ValueError as e:  # an integer over this process's sys.int_max_str_digits, if set below ours
        raise _LimitExceeded("MAX_INT_DIGITS", f"an integer too long to convert ({short_str(str(e))})") from None
    _check_json_nesting(obj, s)
    return obj


def _load_json(text: str, fmt: str) -> Any:
    _check_input(text, fmt)
    s = text.strip()
    fenced = _fence_body(s)
    if fenced is not None:
        s = fenced.strip()
    try:
        return _parse_json(s)
    except json.JSONDecodeError as e:
        raise DecodeError(f"not JSON: {e.msg}", fmt=fmt, text=text, line=e.lineno, column=e.colno) from None
    except _LimitExceeded as e:
        raise DecodeError(f"not JSON: {e.reason}", fmt=fmt, text=text, limit=e.limit) from None


def _arguments(raw: Any, where: str, fmt: str, text: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = _parse_json(raw) if raw.strip() else {}
        except json.JSONDecodeError as e:
            raise DecodeError(f"{where}: arguments are not JSON: {e.msg}", fmt=fmt, text=text) from None
        except _LimitExceeded as e:
            raise DecodeError(f"{where}: arguments: {e.reason}", fmt=fmt, text=text, limit=e.limit) from None
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


@_decoder("json")
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


@_decoder("openai")
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


def _blocks(text: str, opening: str, closing: str) -> list[str]:
    """What ``re.findall(re.escape(opening) + "(.*?)" + re.escape(closing), text, re.DOTALL)`` returns, found in one
    pass (the regular expression rescans the rest of the text from every unclosed ``opening``: quadratic)."""
    blocks, position = [], 0
    while True:
        start = text.find(opening, position)
        if start < 0:
            return blocks
        end = text.find(closing, start + len(opening))
        if end < 0:  # no closing tag after this opening, so none after a later one either
            return blocks
        blocks.append(text[start + len(opening):end])
        position = end + len(closing)


_JSON_VALUE = json.JSONDecoder(parse_int=_json_int)


def _json_block_at(text: str, start: int) -> tuple[Any, int] | None:
    """(value, end) when ``text`` holds, from ``start``, one JSON value, white space and ``</tool_call>`` (``end``
    just after the tag); None otherwise. A tag inside a JSON string is part of the string here."""
    i = _SPACES.match(text, start).end()
    try:
        value, end = _JSON_VALUE.raw_decode(text, i)
    except Exception:  # noqa: BLE001 - not one JSON value (or past a limit): the caller reads the block plainly
        return None
    j = _SPACES.match(text, end).end()
    if not text.startswith(TOOL_CALL_CLOSE, j):
        return None
    try:
        _check_json_nesting(value, text, i, end)
    except _LimitExceeded:
        return None
    return value, j + len(TOOL_CALL_CLOSE)


def _hermes_blocks(text: str) -> tuple[list[tuple[bool, Any]], bool]:
    """The ``<tool_call>`` blocks of ``text`` in one pass, and whether a tag is left unpaired.

    A block is ``(True, value)`` when it holds one JSON value then its closing tag (tags inside the value's strings
    included), else ``(False, text up to the first closing tag)``, to be parsed (and refused) plainly. Unpaired: a
    tag outside every block, or an opening tag inside a plain block. Where no tag sits inside a JSON string this is
    exactly ``re.findall("<tool_call>(.*?)</tool_call>", text, re.DOTALL)`` with the tag counts checked."""
    blocks: list[tuple[bool, Any]] = []
    unpaired, position = False, 0
    while True:
        start = text.find(TOOL_CALL_OPEN, position)
        if start < 0:
            return blocks, unpaired or text.find(TOOL_CALL_CLOSE, position) >= 0
        unpaired = unpaired or text.find(TOOL_CALL_CLOSE, position, start) >= 0
        inner = start + len(TOOL_CALL_OPEN)
        found = _json_block_at(text, inner)
        if found is not None:
            blocks.append((True, found[0]))
            position = found[1]
            continue
        close = text.find(TOOL_CALL_CLOSE, inner)
        if close < 0:
            return blocks, True
        unpaired = unpaired or text.find(TOOL_CALL_OPEN, inner, close) >= 0
        blocks.append((False, text[inner:close]))
        position = close + len(TOOL_CALL_CLOSE)


@_decoder("hermes")
def decode_hermes(text: Any) -> list[Call]:
    if not isinstance(text, str):
        raise DecodeError(f"expected a string, got {type(text).__name__}", fmt="hermes")
    _check_input(text, "hermes")
    if TOOL_CALL_OPEN not in text:
        raise DecodeError(f"no {TOOL_CALL_OPEN} block", fmt="hermes", text=text)
    blocks, unpaired = _hermes_blocks(text)
    if unpaired:
        raise DecodeError(f"unbalanced {TOOL_CALL_OPEN} / {TOOL_CALL_CLOSE} tags", fmt="hermes", text=text)
    calls = []
    for i, (parsed, block) in enumerate(blocks):
        if parsed:
            obj = block
        else:
            try:
                obj = _parse_json(block.strip())
            except json.JSONDecodeError as e:
                raise DecodeError(f"block {i}: not JSON: {e.msg}", fmt="hermes", text=text) from None
            except _LimitExceeded as e:
                raise DecodeError(f"block {i}: {e.reason}", fmt="hermes", text=text, limit=e.limit) from None
        calls.append(_call_from_object(obj, f"block {i}", "hermes", text))
    return calls


# QwenFCHandler._extract_tool_calls's pattern is r"<tool_call>\n(.*?)\n</tool_call>" (DOTALL); _blocks finds the same.
_QWEN_FC_OPEN, _QWEN_FC_CLOSE = TOOL_CALL_OPEN + "\n", "\n" + TOOL_CALL_CLOSE


def qwen_fc_response(text: Any) -> Any:
    """What BFCL's ``QwenFCHandler._parse_query_response_prompting`` keeps of a raw reply as the result it stores:
    the text after the last ``</think>`` with leading newlines removed, or the whole text when there is no
    ``</think>``. Idempotent (the kept text has no ``</think>``), so applying it to a result file that BFCL's own
    generation wrote changes nothing. Non-strings are returned unchanged."""
    if not isinstance(text, str) or THINK_CLOSE not in text:
        return text
    return text.rpartition(THINK_CLOSE)[2].lstrip("\n")


@_decoder("qwen_fc")
def decode_qwen_fc(text: Any) -> list[Call]:
    """BFCL's ``QwenFCHandler.decode_ast`` (see the module docstring), raising :class:`DecodeError` where it raises.

    ``[]`` (no block that parses) is a successful decode, as in BFCL: an AST category then reports a wrong count, the
    irrelevance categories count it as "no call". A call's name is kept as JSON gave it (a non-string name is a
    wrong function name for the checker, as in BFCL). Past BFCL: text over MAX_INPUT_CHARS and a block nested
    deeper than MAX_NESTING are a :class:`DecodeError` (a block that ``json`` cannot parse, an over-long integer
    included, is skipped as BFCL skips it)."""
    if not isinstance(text, str):
        raise DecodeError(f"expected a string, got {type(text).__name__}", fmt="qwen_fc")
    _check_input(text, "qwen_fc")
    parsed = []
    for block in _blocks(text, _QWEN_FC_OPEN, _QWEN_FC_CLOSE):
        try:
            obj = json.loads(block)
        except Exception:  # noqa: BLE001 - BFCL skips a block that does not parse, whatever the error
            continue
        try:
            _check_json_nesting(obj, block)
        except _LimitExceeded as e:
            raise DecodeError(f"block {len(parsed)}: {e.reason}", fmt="qwen_fc", text=text, limit=e.limit) from None
        parsed.append(obj)
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
