"""Values from regular expressions (ToolACE §2.1, evolution): the ``add_constraint`` diversity indicator exposes
``pattern`` constraints, and every id, code and time an API takes or returns is generated to match its pattern
(``^[A-Z]{3}$``, ``^#[0-9a-f]{6}$``, ``(www|api)\\.[a-z]{5}\\.com``).
"""

from __future__ import annotations

import functools
import random
import re
from typing import Callable


_LOWER, _UPPER, _DIGITS = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
_CLASS_ESC = {"d": _DIGITS, "w": _LOWER + _UPPER + _DIGITS + "_", "s": " "}
_PRINTABLE = _LOWER + _UPPER + _DIGITS + "-_. @/:#"


# The longest value generated from a pattern: a definition's ``{1000000000}`` is refused, not built.
MAX_PATTERN_LENGTH = 10_000


class _PatternUnsupported(Exception):
    pass


@functools.lru_cache(maxsize=4096)
def _parse_pattern(pattern: str) -> tuple:
    """A tiny regex parser: literals, escapes, classes (incl. negated), groups with alternation, quantifiers.
    Returns a tree of ("alt", [seq, ...]) / ("set", chars) / ("rep", node, lo, hi); anchors are dropped."""
    pos = 0

    def parse_alt() -> tuple:
        nonlocal pos
        seqs = [parse_seq()]
        while pos < len(pattern) and pattern[pos] == "|":
            pos += 1
            seqs.append(parse_seq())
        return ("alt", seqs)

    def parse_seq() -> list:
        seq: list = []
        while pos < len(pattern) and pattern[pos] not in "|)":
            atom = parse_atom()
            if atom is None:
                continue
            seq.append(parse_quant(atom))
        return seq

    def parse_quant(atom: tuple) -> tuple:
        nonlocal pos
        if pos >= len(pattern):
            return atom
        c = pattern[pos]
        if c in "?*+":
            pos += 1
            if pos < len(pattern) and pattern[pos] == "?":
                pos += 1  # lazy: same language
            return ("rep", atom, *{"?": (0, 1), "*": (0, 3), "+": (1, 3)}[c])
        if c == "{":
            m = re.match(r"\{(\d+)(,(\d*))?\}", pattern[pos:])
            if m:
                if max(len(m.group(1)), len(m.group(3) or "")) > 6:
                    raise _PatternUnsupported(f"repetition count over {MAX_PATTERN_LENGTH}")
                pos += m.end()
                lo = int(m.group(1))
                hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else lo + 3)
                return ("rep", atom, lo, hi)
        return atom

    def parse_class() -> tuple:
        nonlocal pos
        pos += 1
        negate = pos < len(pattern) and pattern[pos] == "^"
        if negate:
            pos += 1
        chars = []
        first = True
        while pos < len(pattern) and (pattern[pos] != "]" or first):
            first = False
            c = pattern[pos]
            if c == "\\" and pos + 1 < len(pattern):
                e = pattern[pos + 1]
                chars.extend(_CLASS_ESC.get(e, e))
                pos += 2
                continue
            if pos + 2 < len(pattern) and pattern[pos + 1] == "-" and pattern[pos + 2] != "]":
                lo, hi = ord(c), ord(pattern[pos + 2])
                chars.extend(chr(x) for x in range(lo, hi + 1))
                pos += 3
                continue
            chars.append(c)
            pos += 1
        if pos >= len(pattern):
            raise _PatternUnsupported("unterminated class")
        pos += 1
        if negate:
            banned = set(chars)
            chars = [c for c in _LOWER + _DIGITS if c not in banned]
        return ("set", "".join(dict.fromkeys(chars)))

    def parse_atom() -> tuple | None:
        nonlocal pos
        c = pattern[pos]
        if c in "^$":
            pos += 1
            return None
        if c == "(":
            pos += 1
            if pattern.startswith("?:", pos):
                pos += 2
            elif pattern.startswith("?", pos):
                raise _PatternUnsupported("lookaround / named group")
            node = parse_alt()
            if pos >= len(pattern) or pattern[pos] != ")":
                raise _PatternUnsupported("unbalanced group")
            pos += 1
            return node
        if c == "[":
            return parse_class()
        if c == "\\":
            if pos + 1 >= len(pattern):
                raise _PatternUnsupported("trailing backslash")
            e = pattern[pos + 1]
            pos += 2
            if e in "bB":
                return None
            return ("set", _CLASS_ESC.get(e, e))
        if c == ".":
            pos += 1
            return ("set", _LOWER)
        pos += 1
        return ("set", c)

    tree = parse_alt()
    if pos != len(pattern):
        raise _PatternUnsupported(f"unexpected {pattern[pos]!r}")
    if _longest(tree) > MAX_PATTERN_LENGTH:  # a{1000000000}: a pool record must not make a value that size
        raise _PatternUnsupported(f"it can make strings longer than {MAX_PATTERN_LENGTH} characters")
    return tree


def _longest(node: tuple | list) -> int:
    """The longest string a parsed pattern can generate (stops counting once past :data:`MAX_PATTERN_LENGTH`)."""
    if isinstance(node, list):
        total = 0
        for n in node:
            total += _longest(n)
            if total > MAX_PATTERN_LENGTH:
                break
        return total
    if node[0] == "alt":
        return max((_longest(seq) for seq in node[1]), default=0)
    if node[0] == "set":
        return 1 if node[1] else 0
    return _longest(node[1]) * node[3] if node[3] else 0


# Generation runs a flat program compiled once per pattern (ids, codes, times: the hot path of sampling arguments
# and executing calls). Each op draws exactly what the tree walk with ``rng.choice`` / ``rng.randint`` drew, in the
# same order (both are ``rng._randbelow`` underneath), so the strings are the same; only the per-character Python
# calls are gone. Ops: (_SET, chars, n, k) one character; (_ALT, branches, n) one branch; (_REP, body, lo, width, hi)
# ``lo + randbelow(width)`` times the body; (_REP_SET, chars, n, k, lo, width, hi) the same for a one-character
# body; (_LITERAL, text) a run of one-character classes (``HTL-`` of ``HTL-[0-9]{6}``), each still drawing its
# ``randbelow(1)`` as ``rng.choice`` did. ``k`` is ``n.bit_length()``, for the inlined draw (see _run_program).
_SET, _ALT, _REP, _REP_SET, _LITERAL = 0, 1, 2, 3, 4


def _compile_node(node: tuple | list) -> tuple:
    if isinstance(node, list):
        ops: list[tuple] = []
        for op in (op for n in node for op in _compile_node(n)):
            if op[0] == _SET and op[2] == 1:
                if ops and ops[-1][0] == _LITERAL:
                    ops[-1] = (_LITERAL, ops[-1][1] + op[1])
                else:
                    ops.append((_LITERAL, op[1]))
            else:
                ops.append(op)
        return tuple(ops)
    if node[0] == "alt":
        return ((_ALT, tuple(_compile_node(seq) for seq in node[1]), len(node[1])),)
    if node[0] == "set":
        chars = node[1]  # an empty class draws nothing
        return ((_SET, chars, len(chars), len(chars).bit_length()),) if chars else ()
    body = _compile_node(node[1])
    lo, hi = node[2], node[3]
    if len(body) == 1 and body[0][0] == _SET:
        return ((_REP_SET, *body[0][1:], lo, hi - lo + 1, hi),)
    return ((_REP, body, lo, hi - lo + 1, hi),)


@functools.lru_cache(maxsize=4096)
def _pattern_program(pattern: str) -> tuple:
    return _compile_node(_parse_pattern(pattern))


# CPython's rejection sampler behind rng.choice / rng.randint for random.Random (and subclasses keeping it):
# r = getrandbits(n.bit_length()) until r < n.
_RANDBELOW_BITS = getattr(random.Random, "_randbelow_with_getrandbits", None)


def _run_program(ops: tuple, rng: random.Random, below: Callable[[int], int], bits: Callable[[int], int] | None,
                 out: list) -> None:
    """Run a pattern program. ``bits`` is ``rng.getrandbits`` when ``rng._randbelow`` is that sampler: the
    character draws (most of them) then run it inline, drawing the same bits; else each character calls ``below``
    (``rng._randbelow``)."""
    for op in ops:
        tag = op[0]
        if tag == _LITERAL:
            for _ in op[1]:
                if bits is None:
                    below(1)
                else:
                    while bits(1):  # randbelow(1): draws until a 0 bit
                        pass
            out.append(op[1])
        elif tag == _SET or tag == _REP_SET:
            if tag == _SET:
                count = 1
            else:  # width < 1 ({5,3}): rng.randint raises the ValueError the tree walk raised
                count = op[4] + below(op[5]) if op[5] > 0 else rng.randint(op[4], op[6])
            chars, n, k = op[1], op[2], op[3]
            for _ in range(count):
                if bits is None:
                    r = below(n)
                else:
                    r = bits(k)
                    while r >= n:
                        r = bits(k)
                out.append(chars[r])
        elif tag == _ALT:
            _run_program(op[1][below(op[2])], rng, below, bits, out)
        else:
            count = op[2] + below(op[3]) if op[3] > 0 else rng.randint(op[2], op[4])
            for _ in range(count):
                _run_program(op[1], rng, below, bits, out)


def gen_from_pattern(pattern: str, rng: random.Random) -> str:
    """A string matching ``pattern`` (the subset :func:`_parse_pattern` understands), else :class:`ValueError`."""
    try:
        ops = _pattern_program(pattern)
    except _PatternUnsupported as e:
        raise ValueError(f"cannot generate from pattern {pattern!r}: {e}") from None
    out: list[str] = []
    below = getattr(rng, "_randbelow", None) or rng.randrange
    inline = _RANDBELOW_BITS is not None and getattr(type(rng), "_randbelow", None) is _RANDBELOW_BITS
    _run_program(ops, rng, below, rng.getrandbits if inline else None, out)
    return "".join(out)
