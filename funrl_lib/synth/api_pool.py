"""The API pool: ToolACE's Tool Self-Evolution Synthesis (TSS), programmatic by default, LLM-driven on request.

ToolACE (P2 §2.1) grows an *API context tree* of functionalities (speciation), gives every new API a domain, a
diversity level and a sampled subtree of that tree (adaptation), and has an LLM write the API from the subtree plus
one example API from a buffer while applying *diversity indicators*: new parameters, constraints, mutated types,
updated results (evolution). This module does the same thing in two ways:

* **programmatic** (default, no model): the tree is shipped as reviewable data (``data/api_tree/<domain>.yaml``,
  leaves written as ``verb phrase (slot, ?optional_slot) -> returned, fields``), parameters come from a shared
  slot vocabulary (``data/api_tree/slots.yaml`` plus suffix rules such as ``*_id``, ``*_date``), and evolution steps
  are tree-and-slot-aware edits of the definition. Every API also gets a deterministic executor spec (``impl``):
  :func:`execute` validates a call and returns results derived from a stable hash, so dialogs get real tool outputs
  and dependent calls work (an id one API returns is accepted by the API that takes that slot).
* **LLM** (``backend=`` an LLM backend of :mod:`funrl_lib.backends`): the same adaptation and the same
  indicators go into :data:`PROMPTS`; replies are parsed and validated, malformed ones retried, then quarantined.

Determinism: API ``i`` is a function of ``(seed, i)`` and of the APIs before it (the example buffer and dedup), all
randomness comes from :class:`random.Random` seeded with SHA-256 of those, so the same seed gives the same bytes and
an interrupted ``out=`` file resumes to exactly the file an uninterrupted run writes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import functools
import json
import math
import operator
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import yaml

from ..patterns import PatternError, pattern_search
from ..tools import ToolDef, kind_of_spelling, validate_tool
from ..backends import run_sync
from ..io import (InputError, JsonlAppender, check_own_json, dumps_line, leaf_values, quarantine_path,
                  read_records, report_quarantine, seeded_rng, write_json)

__all__ = [
    "ApiRecord", "ApiTree", "Domain", "ExecutionError", "Leaf", "PROMPTS", "PoolError", "SlotSpec",
    "SlotVocabulary", "TREE_DIR", "add_pool_parser", "build_pool", "execute", "execute_again", "load_pool",
    "load_slots", "load_tree", "mentioned_values", "parse_leaf", "phrase_request", "pool_stats", "result_issues",
    "run_pool", "sample_arguments", "signature", "speciate", "validate_arguments",
]

def _tree_dir() -> Path:
    """``data/api_tree`` of the checkout (editable installs, notebooks); for a wheel install, the copy pip puts in
    ``<prefix>/share/funrl/api_tree`` (pyproject's data-files); ``FUNRL_API_TREE`` overrides both."""
    import os
    import sysconfig

    if os.environ.get("FUNRL_API_TREE"):
        return Path(os.environ["FUNRL_API_TREE"])
    checkout = Path(__file__).resolve().parents[2] / "data" / "api_tree"
    if checkout.is_dir():
        return checkout
    return Path(sysconfig.get_path("data")) / "share" / "funrl" / "api_tree"


TREE_DIR = _tree_dir()
SLOTS_FILE = "slots.yaml"
EVOLUTION_KINDS = ("add_parameter", "change_type", "add_constraint", "nest", "update_returns")
_BATCH = 16  # APIs whose example buffer is the same snapshot (lets an LLM backend run a batch concurrently)
_BUFFER = 64  # the example buffer: the most recent APIs before the batch


class PoolError(ValueError):
    """A broken tree/slot file or pool record; the message names the file (and line / field)."""


class ExecutionError(ValueError):
    """A call the API definition rejects; the message says precisely why (``missing required parameter 'city'``,
    ``unknown parameter 'foo'``, ``parameter 'guests': expected integer, got string '2'``, ...)."""


_rng = seeded_rng


# ===============================================================================================================
# Regex-driven value generation (patterns like ^[A-Z]{3}$, ^#[0-9a-f]{6}$, (www|api)\.[a-z]{5}\.com)
# ===============================================================================================================

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


# ===============================================================================================================
# Slot vocabulary
# ===============================================================================================================

_TYPES = ("string", "integer", "float", "boolean", "array", "dict")
_SLOT_KEYS = {"type", "description", "values", "enum", "range", "dates", "pattern", "generate", "format", "items",
              "count", "fields", "phrase", "default", "constrain", "group", "related", "inherit", "label"}


@dataclass(frozen=True)
class SlotSpec:
    """One slot: what a parameter (or returned field) of that name means and how to make its values.

    Generators, first that applies: ``enum`` (a closed set, always exposed in the schema), ``values`` (an open
    pool; evolution may expose a subset as an enum), ``dates`` (a ``[start, end]`` date range), ``range`` (numeric
    ``[lo, hi]``), ``generate`` / ``pattern`` (regex), booleans, ``items`` (arrays), ``fields`` (dicts).
    ``pattern`` / ``format`` / ``range`` are exposed in the schema when ``constrain`` is true, or by the
    ``add_constraint`` evolution step. ``phrase`` mentions a value in a user request (``"in {value}"``).
    """

    name: str
    type: str
    description: str
    values: tuple = ()
    enum: tuple = ()
    range: tuple | None = None
    dates: tuple | None = None
    pattern: str | None = None
    generate: str | None = None
    format: str | None = None
    items: "SlotSpec | None" = None
    items_ref: str | None = None  # items named by a slot that only a suffix rule defines (resolved on use)
    count: tuple = (1, 3)
    fields: tuple = ()  # ((field name, required), ...): each field name is itself a slot
    phrase: str = "with {label} {value}"
    default: Any = None
    constrain: bool = False
    group: str | None = None
    related: tuple = ()
    inherit: bool = True
    label: str = ""
    source: str = "explicit"

    def schema(self, vocab: "SlotVocabulary", *, description: str | None = None) -> dict:
        """The BFCL schema node for a parameter of this slot (closed enums and ``constrain`` constraints
        exposed)."""
        node: dict[str, Any] = {"type": self.type, "description": description or self.description}
        if self.enum:
            node["enum"] = list(self.enum)
        item = self.item_spec(vocab)
        if self.type == "array" and item is not None:
            node["items"] = item.schema(vocab)
        if self.type == "dict":
            node["properties"] = {f: vocab[f].schema(vocab) for f, _ in self.fields}
            node["required"] = [f for f, req in self.fields if req]
        if self.constrain:
            _expose_constraints(self, node)
        return node

    def make(self, rng: random.Random, vocab: "SlotVocabulary") -> Any:
        """One value of this slot."""
        t = self.type
        if self.enum:
            return rng.choice(self.enum)
        if self.values:
            return rng.choice(self.values)
        if self.dates is not None:
            lo, hi = self.dates
            day = _dt.date.fromordinal(rng.randint(lo, hi)).isoformat()
            if self.format == "date-time":
                return f"{day}T{rng.randint(6, 22):02d}:{rng.choice((0, 15, 30, 45)):02d}:00"
            return day
        if self.range is not None:
            lo, hi = self.range
            if t == "integer":
                return rng.randint(int(lo), int(hi))
            return round(rng.uniform(lo, hi), 2)
        if self.generate or self.pattern:
            return gen_from_pattern(self.generate or self.pattern, rng)
        if t == "boolean":
            return rng.random() < 0.5
        item = self.item_spec(vocab)
        if t == "array" and item is not None:
            k = rng.randint(*self.count)
            out: list = []
            for _ in range(k * 3):
                v = item.make(rng, vocab)
                if v not in out:
                    out.append(v)
                if len(out) == k:
                    break
            return out
        if t == "dict":
            return {f: vocab[f].make(rng, vocab) for f, _ in self.fields}
        raise PoolError(f"slot {self.name!r} has no value generator")  # prevented by the loader

    def item_spec(self, vocab: "SlotVocabulary") -> "SlotSpec | None":
        """The element slot of an array slot (``items`` given inline or by name, or named by a rule-only slot)."""
        if self.items is not None or self.items_ref is None:
            return self.items
        return vocab.resolve(self.items_ref)


def _expose_constraints(spec: SlotSpec, node: dict) -> list[str]:
    """Add the slot's range / pattern / format to ``node``; returns which were added."""
    added = []
    if spec.range is not None and spec.type in ("integer", "float") and "minimum" not in node:
        lo, hi = spec.range
        node["minimum"], node["maximum"] = (int(lo), int(hi)) if spec.type == "integer" else (lo, hi)
        added.append("range")
    if spec.pattern and spec.type == "string" and "pattern" not in node:
        node["pattern"] = spec.pattern
        added.append("pattern")
    if spec.format and spec.type == "string" and "format" not in node:
        node["format"] = spec.format
        added.append("format")
    return added


_LABEL_WORDS = {"id": "ID", "ids": "IDs", "min": "minimum", "max": "maximum", "num": "number of", "url": "URL",
                "qty": "quantity", "pct": "percent"}


@functools.lru_cache(maxsize=16384)
def _label(name: str) -> str:
    return " ".join(_LABEL_WORDS.get(w, w) for w in name.split("_") if w)


def _id_prefix(entity: str) -> str:
    """Three letters naming an entity in its ids: hotel -> HTL, user -> USR, flight_booking -> FBK."""
    words = [w for w in re.split(r"[_\W]+", entity) if w]
    if not words:
        return "IDX"
    if len(words) >= 2:
        s = "".join(w[0] for w in words[:3])
        tail = words[-1]
        s += "".join(c for c in tail[1:] if c not in "aeiou")
    else:
        w = words[0]
        s = w[0] + "".join(c for c in w[1:] if c not in "aeiou") + w[1:]
    return re.sub(r"[^A-Za-z]", "", s).upper().ljust(3, "X")[:3]


_BOOL_PREFIX = ("is_", "include_", "has_", "allow_", "only_", "use_", "show_", "enable_", "exclude_", "notify_",
                "send_", "auto_", "require_", "skip_", "force_", "dry_")
_PREFIX_MODS = ("min_", "max_")


class SlotVocabulary:
    """Explicit slots (``slots.yaml``) plus suffix rules for names the file does not list.

    :meth:`resolve` returns ``None`` for a name neither covers: the tree loader reports such names, so every slot a
    leaf mentions is known (no catch-all rule hides a typo).
    """

    def __init__(self, explicit: dict[str, SlotSpec], source: str = "<slots>"):
        self.explicit = explicit
        self.source = source
        self._cache: dict[str, SlotSpec | None] = {}

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def __getitem__(self, name: str) -> SlotSpec:
        spec = self.resolve(name)
        if spec is None:
            raise PoolError(f"{self.source}: unknown slot {name!r} (not in the file and no suffix rule applies)")
        return spec

    def __len__(self) -> int:
        return len(self.explicit)

    def resolve(self, name: str) -> SlotSpec | None:
        """The slot called ``name``: explicit, else by rule (``*_id``, ``*_date``, ``max_*``, ``*_ids``, ...)."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        spec = self.explicit.get(name)
        if spec is None and re.fullmatch(r"[a-z][a-z0-9_]*", name or ""):
            spec = self._rule(name)
        self._cache[name] = spec
        return spec

    def _rule(self, name: str) -> SlotSpec | None:
        label = _label(name)
        mk = functools.partial(SlotSpec, name, label=label, source="rule")
        m = re.fullmatch(r"(.+)_ids", name)
        if m:
            one = self.resolve(m.group(1) + "_id")
            return mk("array", f"List of {_label(m.group(1))} IDs.", items=one, count=(1, 3),
                      phrase=f"for {_label(m.group(1))}s {{value}}", group="ids") if one else None
        m = re.fullmatch(r"(?:(.+)_)?id", name)
        if m:
            entity = m.group(1) or "item"
            prefix = _id_prefix(entity)
            return mk("string", f"Unique identifier of the {_label(entity)} (e.g. {prefix}-104233).",
                      generate=f"{prefix}-[1-9][0-9]{{5}}", pattern=f"^{prefix}-[0-9]{{6}}$",
                      phrase=f"for {_label(entity)} {{value}}", group="ids")
        if re.fullmatch(r"(.+_)?date", name):
            return mk("string", f"The {label} (YYYY-MM-DD).", dates=_DATE_RANGE, format="date",
                      pattern=r"^\d{4}-\d{2}-\d{2}$",
                      phrase="on {value}" if name == "date" else f"with {label} {{value}}", group="dates")
        if re.fullmatch(r"(.+_)?(datetime|timestamp)|.+_at", name):
            return mk("string", f"The {label} (ISO 8601 date-time).", dates=_DATE_RANGE, format="date-time",
                      phrase=f"with {label} {{value}}", group="dates")
        if re.fullmatch(r"(.+_)?time", name):
            return mk("string", f"The {label} (HH:MM, 24-hour).", generate="(0[6-9]|1[0-9]|2[0-2]):(00|15|30|45)",
                      pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", phrase="at {value}" if name == "time" else
                      f"with {label} {{value}}", group="schedule")
        if re.fullmatch(r"(.+_)?year", name):
            return mk("integer", f"The {label}.", range=(1990, 2026), phrase=f"for {label} {{value}}")
        if re.fullmatch(r".+_count|num_.+|number_of_.+|.+_quantity|.+_limit", name):
            return mk("integer", f"The {label}.", range=(1, 50), phrase=f"with {label} {{value}}")
        if name.startswith(_BOOL_PREFIX) or re.fullmatch(r".+_(enabled|only|required|flag)", name):
            if name.startswith(("is_", "has_")):
                desc = f"Whether it {'is' if name.startswith('is_') else 'has'} {_label(name.split('_', 1)[1])}."
            elif re.fullmatch(r".+_(enabled|required)", name):
                head, _, tail = name.rpartition("_")
                desc = f"Whether {_label(head)} is {tail}."
            else:
                desc = f"Whether to {label}."
            return mk("boolean", desc, phrase=f"with {label} set to {{value}}", group="options")
        for mod in _PREFIX_MODS:
            if name.startswith(mod):
                base = self.resolve(name[len(mod):])
                if base is not None and base.type in ("integer", "float", "string") and \
                        (base.range or base.dates or base.type == "string" and base.format):
                    word = "minimum" if mod == "min_" else "maximum"
                    return SlotSpec(name, base.type, f"{word.capitalize()} {base.label or _label(base.name)}.",
                                    range=base.range, dates=base.dates, format=base.format, pattern=base.pattern,
                                    generate=base.generate, phrase=f"with {label} {{value}}",
                                    group=base.group or "filters", label=label, source="rule")
                return None
        if re.fullmatch(r"(.+_)?(price|amount|cost|fee|budget|balance|salary|revenue|payment|deposit|income|expenses|"
                        r"premium|payout|equity|savings)", name):
            return mk("float", f"The {label} in the account currency.", range=(1.0, 2500.0),
                      phrase=f"with {label} {{value}}", group="price")
        if re.fullmatch(r"(.+_)?(percent|percentage|pct|ratio|share)", name):
            return mk("float", f"The {label} (0-100).", range=(0.0, 100.0), phrase=f"with {label} {{value}}")
        if re.fullmatch(r"(.+_)?(rating|stars)", name):
            return mk("float", f"The {label} (1-5).", range=(1.0, 5.0), phrase=f"with {label} {{value}}")
        if re.fullmatch(r"(.+_)?score", name):
            return mk("float", f"The {label} (0-100).", range=(0.0, 100.0), phrase=f"with {label} {{value}}")
        if re.fullmatch(r"(.+_)?(minutes|hours|days|seconds|weeks|months|nights|years)|duration(_.+)?", name):
            return mk("integer", f"The {label}.", range=(1, 90), phrase=f"for {{value}} {label.split()[-1]}")
        if re.fullmatch(r"(.+_)?(miles|meters|distance|radius|elevation|altitude)", name):
            return mk("float", f"The {label}.", range=(0.5, 50.0), phrase=f"with {label} {{value}}")
        if re.fullmatch(r"(.+_)?(weight|lbs|volume)", name):
            return mk("float", f"The {label}.", range=(0.1, 80.0), phrase=f"with {label} {{value}}")
        if re.fullmatch(r"(.+_)?email", name):
            base = self.explicit.get("email")
            return mk("string", f"The {label}.", values=base.values if base else (),
                      generate="[a-z]{4,7}\\.[a-z]{4,8}@(example|mailbox|inbox)\\.(com|org)",
                      pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", format="email", phrase=f"with {label} {{value}}",
                      group="contact")
        if re.fullmatch(r"(.+_)?(url|link|webhook|endpoint|callback)", name):
            return mk("string", f"The {label}.",
                      generate="https://(www|api|files|cdn)\\.(acme|example|blueharbor|contoso|northwind)"
                               "\\.(com|io|org)/(docs|files|images|reports|v1|media)/[a-z0-9]{6}",
                      pattern=r"^https?://\S+$", format="uri", phrase=f"with {label} {{value}}")
        if re.fullmatch(r"(.+_)?(phone|phone_number|mobile)", name):
            base = self.explicit.get("phone")
            return mk("string", f"The {label} in international format.", values=base.values if base else (),
                      generate="\\+1-[2-9][0-9]{2}-555-[0-9]{4}", pattern=r"^\+?[0-9][0-9 -]{6,18}$",
                      phrase=f"with {label} {{value}}", group="contact")
        if re.fullmatch(r".+_number", name):  # reference numbers are strings (case, invoice, permit, ...)
            prefix = _id_prefix(name[:-7])
            return mk("string", f"The {label}.", generate=f"{prefix}-[0-9]{{4}}-[0-9]{{4}}",
                      pattern=r"^[A-Z0-9][A-Z0-9-]{4,19}$", phrase=f"with {label} {{value}}")
        if re.fullmatch(r".+_code", name):
            return mk("string", f"The {label}.", generate="[A-Z]{2}[0-9]{3}", pattern=r"^[A-Z0-9]{3,10}$",
                      phrase=f"with {label} {{value}}")
        m = re.fullmatch(r"(.+)_(" + "|".join(_UNITS) + ")", name)
        if m:
            t, lo, hi, unit = _UNITS[m.group(2)]
            return mk(t, f"{_label(m.group(1)).capitalize()} in {unit}.", range=(lo, hi),
                      phrase=f"with {_label(m.group(1))} {{value}} {m.group(2)}", label=_label(m.group(1)))
        m = re.fullmatch(r"(?:.+_)?([a-z]+)_name", name)
        if m and m.group(1) in _PERSON_WORDS and "person_name" in self.explicit:
            base = self.explicit["person_name"]
            return SlotSpec(name, "string", f"Full name of the {_label(name[:-5])}.", values=base.values,
                            phrase=f"for {_label(name[:-5])} {{value}}", group="contact", label=label,
                            source="rule")
        if re.fullmatch(r".+_(name|title)", name):
            base = self.explicit.get(name.rsplit("_", 1)[1])
            if base is not None:
                return SlotSpec(name, base.type, f"The {label}.", values=base.values,
                                phrase="called {value}", label=label, source="rule")
        if re.fullmatch(r".+_(list|set)", name):
            one = self.resolve(name.rsplit("_", 1)[0])
            return mk("array", f"List of {_label(one.name)} values.", items=one, count=(1, 3),
                      phrase=one.phrase) if one and one.type != "array" else None
        # suffix inheritance: origin_city -> city, shipping_address -> address (explicit slots only)
        parts = name.split("_")
        for k in range(1, len(parts)):
            base = self.explicit.get("_".join(parts[k:]))
            if base is not None and base.inherit:
                phrase = base.phrase if "{label}" in base.phrase else f"with {label} {{value}}"
                return SlotSpec(name, base.type, f"{label[0].upper()}{label[1:]}: {base.description[0].lower()}"
                                                 f"{base.description[1:]}", values=base.values, enum=base.enum,
                                range=base.range, dates=base.dates, pattern=base.pattern, generate=base.generate,
                                format=base.format, items=base.items, items_ref=base.items_ref,
                                count=base.count, fields=base.fields,
                                phrase=phrase, default=base.default, constrain=base.constrain, group=base.group,
                                related=base.related, label=label, source="rule")
        # plural: tags -> array of tag, categories -> array of category
        for singular in _singulars(name):
            one = self.resolve(singular)
            if one is not None and one.type not in ("array", "dict", "boolean"):
                return mk("array", f"List of {_label(singular)} values.", items=one, count=(1, 3),
                          phrase=one.phrase if "{label}" not in one.phrase else f"with {label} {{value}}")
        return None


_DATE_RANGE = (_dt.date(2025, 1, 1).toordinal(), _dt.date(2026, 12, 31).toordinal())
# Measures named by their unit suffix: (type, low, high, unit words).
_UNITS = {"mm": ("float", 0.0, 250.0, "millimetres"), "cm": ("float", 1.0, 250.0, "centimetres"),
          "m2": ("float", 10.0, 2000.0, "square metres"), "km2": ("float", 0.5, 5000.0, "square kilometres"),
          "m3": ("float", 1.0, 500.0, "cubic metres"), "m": ("float", 0.5, 3000.0, "metres"),
          "gb": ("integer", 1, 512, "gigabytes"), "mb": ("float", 0.5, 4000.0, "megabytes"),
          "bytes": ("integer", 1024, 1_000_000_000, "bytes"), "ms": ("integer", 1, 3000, "milliseconds"),
          "kwh": ("float", 0.5, 1500.0, "kilowatt-hours"), "kw": ("float", 0.5, 60.0, "kilowatts"),
          "hpa": ("float", 960.0, 1050.0, "hectopascals"), "ppm": ("float", 350.0, 2000.0, "parts per million"),
          "mpg": ("float", 12.0, 60.0, "miles per gallon"), "hz": ("float", 1.0, 1.0e9, "hertz"),
          "joules": ("float", 1.0, 1.0e6, "joules"), "celsius": ("float", -2.0, 3.0, "degrees Celsius"),
          "ly": ("float", 4.0, 5000.0, "light years"), "mbps": ("float", 1.0, 1000.0, "megabits per second"),
          "bpm": ("integer", 50, 200, "beats per minute"), "hectares": ("float", 0.5, 500.0, "hectares"),
          "kg": ("float", 0.1, 120.0, "kilograms"), "grams": ("float", 1.0, 900.0, "grams"),
          "liters": ("float", 0.5, 5000.0, "litres"), "km": ("float", 0.5, 50.0, "kilometres"),
          "usd": ("float", 1.0, 5000.0, "US dollars")}
_PERSON_WORDS = {"full", "person", "passenger", "guest", "customer", "user", "author", "contact", "recipient",
                 "sender", "owner", "patient", "driver", "employee", "candidate", "student", "teacher", "buyer",
                 "seller", "tenant", "landlord", "member", "attendee", "host", "player", "coach", "doctor",
                 "applicant", "manager", "instructor", "tutor", "trainer", "therapist", "lawyer", "agent", "critic",
                 "athlete", "actor", "director", "client", "inspector", "courier", "cardholder", "policyholder",
                 "dependent", "parent", "assignee", "sitter", "shipper", "comedian", "celebrity", "streamer",
                 "performer", "registrant", "signer", "submitter", "approver", "interviewer", "responder", "party",
                 "counterparty", "spouse"}


def _singulars(name: str) -> list[str]:
    out = []
    if name.endswith("ies"):
        out.append(name[:-3] + "y")
    if name.endswith("es"):
        out.append(name[:-2])
    if name.endswith("s") and not name.endswith("ss"):
        out.append(name[:-1])
    return out


def _plural(name: str) -> str:
    if name.endswith("y") and not name.endswith(("ay", "ey", "oy", "uy")):
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    return name + "s"


def _parse_slot(name: str, raw: Any, where: str, raw_all: dict, building: dict) -> SlotSpec:
    if not isinstance(raw, dict):
        raise PoolError(f"{where}: slot {name!r}: expected a mapping, got {type(raw).__name__}")
    unknown = set(raw) - _SLOT_KEYS
    if unknown:
        raise PoolError(f"{where}: slot {name!r}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_SLOT_KEYS)}")
    t = raw.get("type", "string")
    if t not in _TYPES:
        raise PoolError(f"{where}: slot {name!r}: type {t!r} is not one of {', '.join(_TYPES)}")
    kw: dict[str, Any] = {"label": raw.get("label") or _label(name)}
    desc = raw.get("description")
    if not isinstance(desc, str) or not desc:
        raise PoolError(f"{where}: slot {name!r}: needs a description")
    for key in ("values", "enum"):
        if key in raw:
            vals = raw[key]
            if not isinstance(vals, list) or not vals:
                raise PoolError(f"{where}: slot {name!r}: {key} must be a non-empty list")
            py = {"string": str, "integer": int, "float": (int, float), "boolean": bool}.get(t)
            if t == "array":
                py = None
            if py is not None:
                bad = [v for v in vals if not isinstance(v, py) or (t != "boolean" and isinstance(v, bool))]
                if bad:
                    raise PoolError(f"{where}: slot {name!r}: {key} value {bad[0]!r} is not a {t}")
            kw[key] = tuple(float(v) if t == "float" else v for v in vals)
    if "range" in raw:
        r = raw["range"]
        if not (isinstance(r, list) and len(r) == 2 and all(isinstance(x, (int, float)) for x in r) and r[0] <= r[1]):
            raise PoolError(f"{where}: slot {name!r}: range must be [lo, hi] numbers with lo <= hi, got {r!r}")
        kw["range"] = (int(r[0]), int(r[1])) if t == "integer" else (float(r[0]), float(r[1]))
    if "dates" in raw:
        d = raw["dates"]
        try:
            lo, hi = (_dt.date.fromisoformat(str(x)).toordinal() for x in d)
        except (TypeError, ValueError):
            raise PoolError(f"{where}: slot {name!r}: dates must be [YYYY-MM-DD, YYYY-MM-DD], got {d!r}") from None
        kw["dates"] = (lo, hi)
    for key in ("pattern", "generate"):
        if key in raw:
            try:
                re.compile(raw[key])
                gen_from_pattern(raw[key], random.Random(0))
            except (re.error, ValueError, TypeError) as e:
                raise PoolError(f"{where}: slot {name!r}: {key} {raw[key]!r}: {e}") from None
            kw[key] = raw[key]
    for key in ("format", "group", "phrase", "label"):
        if key in raw:
            kw[key] = str(raw[key])
    if "{value}" not in kw.get("phrase", "{value}"):
        raise PoolError(f"{where}: slot {name!r}: phrase must contain {{value}}")
    for key in ("constrain", "inherit"):
        if key in raw:
            kw[key] = bool(raw[key])
    if "related" in raw:
        kw["related"] = tuple(raw["related"])
    if "count" in raw:
        c = raw["count"]
        if not _size_pair(c):
            raise PoolError(f"{where}: slot {name!r}: count must be [lo, hi] integers with 0 <= lo <= hi <= "
                            f"{MAX_LIST_SIZE}, got {_shown(c)}")
        kw["count"] = tuple(c)
    if "default" in raw:
        kw["default"] = raw["default"]
    if t == "array":
        items = raw.get("items")
        if isinstance(items, str):
            if items in raw_all:
                kw["items"] = _slot_from_raw(items, raw_all, where, building)
            else:  # a name only a suffix rule defines (url, file_name, dataset_id): checked after loading
                kw["items_ref"] = items
        elif isinstance(items, dict):
            kw["items"] = _parse_slot(name + "[]", items, where, raw_all, building)
        else:
            raise PoolError(f"{where}: slot {name!r}: an array slot needs items (a slot name or a spec)")
    if t == "dict":
        fields = raw.get("fields")
        if not isinstance(fields, list) or not fields:
            raise PoolError(f"{where}: slot {name!r}: a dict slot needs fields (slot names, ?optional)")
        if not all(isinstance(f, str) for f in fields):
            raise PoolError(f"{where}: slot {name!r}: fields must be slot names (quote optional ones: \"?name\")")
        kw["fields"] = tuple((f.lstrip("?"), not f.startswith("?")) for f in fields)
    spec = SlotSpec(name, t, desc, **kw)
    gens = spec.enum or spec.values or spec.dates or spec.range or spec.pattern or spec.generate or \
        t in ("boolean", "array", "dict")
    if not gens:
        raise PoolError(f"{where}: slot {name!r}: no value generator (give values, enum, range, dates or pattern)")
    if spec.default is not None:
        py = {"string": str, "integer": int, "float": (int, float), "boolean": bool}.get(t, object)
        if not isinstance(spec.default, py):
            raise PoolError(f"{where}: slot {name!r}: default {spec.default!r} is not a {t}")
    return spec


def _slot_from_raw(name: str, raw_all: dict, where: str, building: dict) -> SlotSpec:
    if name in building:
        if building[name] is None:
            raise PoolError(f"{where}: slot {name!r} refers to itself")
        return building[name]
    building[name] = None
    spec = _parse_slot(name, raw_all[name], where, raw_all, building)
    building[name] = spec
    return spec


@functools.lru_cache(maxsize=8)
def _load_slots_cached(path: str) -> SlotVocabulary:
    p = Path(path)
    try:
        raw = yaml.load(p.read_text(encoding="utf-8"), Loader=_LOADER)
    except FileNotFoundError:
        raise PoolError(f"{p}: slot vocabulary not found") from None
    except yaml.YAMLError as e:
        raise PoolError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("slots"), dict):
        raise PoolError(f"{p}: expected a mapping with a 'slots' key")
    raw_all = dict(raw["slots"])
    text = p.read_text(encoding="utf-8")
    for fam, body in (raw.get("families") or {}).items():
        # A family: one spec shared by many slot names (counts, flags, measures...), description "{label}"-templated.
        where = f"{p}:{_line_of(text, str(fam) + ':')}"
        if not isinstance(body, dict) or not isinstance(body.get("names"), list) or \
                not isinstance(body.get("spec"), dict):
            raise PoolError(f"{where}: family {fam!r}: expected 'spec: {{...}}' and 'names: [...]'")
        for name in body["names"]:
            if name in raw_all:
                raise PoolError(f"{where}: family {fam!r}: slot {name!r} is also defined elsewhere in the file")
            spec = dict(body["spec"])
            spec["description"] = str(body.get("description", "The {label}.")).replace("{label}", _label(name))
            if "phrase" in body:
                spec["phrase"] = str(body["phrase"])
            raw_all[name] = spec
    building: dict[str, SlotSpec | None] = {}
    for name in raw_all:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(name)):
            raise PoolError(f"{p}:{_line_of(text, str(name) + ':')}: slot name {name!r} is not snake_case")
        try:
            _slot_from_raw(name, raw_all, str(p), building)
        except PoolError as e:
            raise PoolError(str(e).replace(f"{p}:", f"{p}:{_line_of(text, name + ':')}:", 1)) from None
    vocab = SlotVocabulary({k: v for k, v in building.items() if v is not None}, str(p))
    for spec in vocab.explicit.values():  # fields and rule-defined items must resolve too
        if spec.items_ref is not None and vocab.resolve(spec.items_ref) is None:
            raise PoolError(f"{p}:{_line_of(text, spec.name + ':')}: slot {spec.name!r}: items names unknown slot "
                            f"{spec.items_ref!r}")
        for f, _ in spec.fields:
            if f not in vocab:
                raise PoolError(f"{p}: slot {spec.name!r}: field {f!r} is not a known slot")
    return vocab


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_slots(path: str | Path | None = None) -> SlotVocabulary:
    """The slot vocabulary (default ``data/api_tree/slots.yaml``); parsed once per path and cached."""
    return _load_slots_cached(str(Path(path or TREE_DIR / SLOTS_FILE).resolve()))


def _line_of(text: str, needle: str) -> int:
    i = text.find(needle)
    return text.count("\n", 0, i) + 1 if i >= 0 else 1


# ===============================================================================================================
# API context tree
# ===============================================================================================================

@dataclass(frozen=True)
class ReturnField:
    """A returned field: a slot name, or a container ``name[f, ...]`` (array of dicts) / ``name{f, ...}`` (dict)."""

    name: str
    container: str | None = None  # None | "array" | "dict"
    fields: tuple = ()


@dataclass(frozen=True)
class Leaf:
    """One functionality of the tree: ``search hotels (city, ?guests) -> hotels[hotel_id, name], total_count``."""

    domain: str
    subdomain: str
    phrase: str
    params: tuple  # ((slot, required), ...)
    returns: tuple  # (ReturnField, ...)
    text: str

    @property
    def path(self) -> list[str]:
        return [self.domain, self.subdomain, self.phrase]

    @property
    def slots(self) -> list[str]:
        return [s for s, _ in self.params]

    def return_slots(self) -> list[str]:
        out = []
        for r in self.returns:
            out.extend(r.fields if r.container else [r.name])
        return out


_LEAF_RE = re.compile(r"^\s*(?P<phrase>[a-z][a-z0-9 '/&-]*?)\s*\((?P<params>[^()]*)\)\s*->\s*(?P<returns>.+?)\s*$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _split_top(text: str) -> list[str]:
    out, depth, cur = [], 0, []
    for c in text:
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def parse_leaf(text: str, domain: str = "", subdomain: str = "") -> Leaf:
    """Parse one leaf line; :class:`ValueError` says what is wrong with it."""
    m = _LEAF_RE.match(text)
    if not m:
        raise ValueError("expected 'verb phrase (slot, ?optional_slot, ...) -> field, container[field, ...]'")
    params = []
    for p in _split_top(m.group("params")):
        name = p.lstrip("?").strip()
        if not _NAME_RE.match(name):
            raise ValueError(f"parameter slot {name!r} is not snake_case")
        if any(name == q for q, _ in params):
            raise ValueError(f"parameter slot {name!r} listed twice")
        params.append((name, not p.startswith("?")))
    returns = []
    for r in _split_top(m.group("returns")):
        cm = re.fullmatch(r"([a-z][a-z0-9_]*)\s*([\[{])(.*)([\]}])", r)
        if cm:
            if {"[": "]", "{": "}"}[cm.group(2)] != cm.group(4):
                raise ValueError(f"returned container {r!r}: mismatched brackets")
            fields = tuple(_split_top(cm.group(3)))
            for f in fields:
                if not _NAME_RE.match(f):
                    raise ValueError(f"returned field {f!r} in {cm.group(1)!r} is not snake_case")
            if not fields:
                raise ValueError(f"returned container {cm.group(1)!r} has no fields")
            returns.append(ReturnField(cm.group(1), "array" if cm.group(2) == "[" else "dict", fields))
        elif _NAME_RE.match(r):
            returns.append(ReturnField(r))
        else:
            raise ValueError(f"returned field {r!r} is not snake_case (or name[fields] / name{{fields}})")
    names = [r.name for r in returns]
    if len(set(names)) != len(names):
        raise ValueError("a returned field is listed twice")
    return Leaf(domain, subdomain, m.group("phrase").strip(), tuple(params), tuple(returns), text.strip())


@dataclass
class Domain:
    name: str
    description: str
    subdomains: dict[str, list[Leaf]]
    file: str


class ApiTree:
    """The API context tree: domains > subdomains > leaves (functionalities), plus its slot vocabulary."""

    def __init__(self, domains: list[Domain], slots: SlotVocabulary, source: str = ""):
        self.domains = domains
        self.slots = slots
        self.source = source
        self.leaves: list[Leaf] = [leaf for d in domains for ls in d.subdomains.values() for leaf in ls]
        self._by_domain = {d.name: d for d in domains}
        self._related: dict[tuple[str, str], list[str]] = {}

    def __iter__(self) -> Iterator[Leaf]:
        return iter(self.leaves)

    def __len__(self) -> int:
        return len(self.leaves)

    def domain(self, name: str) -> Domain:
        return self._by_domain[name]

    @property
    def subdomains(self) -> list[tuple[str, str]]:
        return [(d.name, s) for d in self.domains for s in d.subdomains]

    @property
    def counts(self) -> dict[str, int]:
        return {"domains": len(self.domains), "subdomains": len(self.subdomains), "leaves": len(self.leaves)}

    def slot_names(self) -> list[str]:
        names: dict[str, None] = {}
        for leaf in self.leaves:
            for s in leaf.slots + leaf.return_slots():
                names[s] = None
        return list(names)

    def related_slots(self, domain: str, subdomain: str) -> list[str]:
        """Parameter slots used anywhere in the subdomain (then the domain): candidates for ``add_parameter``."""
        key = (domain, subdomain)
        if key not in self._related:
            d = self._by_domain[domain]
            near = [s for leaf in d.subdomains[subdomain] for s in leaf.slots]
            far = [s for ls in d.subdomains.values() for leaf in ls for s in leaf.slots]
            self._related[key] = list(dict.fromkeys(near + far))
        return self._related[key]

    def sample_subtree(self, rng: random.Random, diversity: int, primary: Leaf | None = None) -> list[Leaf]:
        """Adaptation: ``diversity`` leaves rooted at ``primary`` (random if not given): siblings from the same
        subdomain first (preferring ones that share a slot), then cousins from other subdomains of the domain."""
        if primary is None:
            primary = rng.choice(self.leaves)
        d = self._by_domain[primary.domain]
        picked = [primary]
        siblings = [leaf for leaf in d.subdomains[primary.subdomain] if leaf is not primary]
        cousins = [leaf for s, ls in d.subdomains.items() if s != primary.subdomain for leaf in ls]
        want = set(primary.slots)
        while len(picked) < diversity and (siblings or cousins):
            pool = siblings if siblings and (rng.random() < 0.75 or not cousins) else cousins
            sharing = [leaf for leaf in pool if not want.isdisjoint(s for s, _ in leaf.params)]  # shares a slot
            choice = rng.choice(sharing if sharing and rng.random() < 0.6 else pool)
            pool.remove(choice)
            picked.append(choice)
        return picked


@functools.lru_cache(maxsize=8)
def _load_tree_cached(path: str, slots_path: str) -> ApiTree:
    root = Path(path)
    if not root.is_dir():
        raise PoolError(f"{root}: API tree folder not found")
    vocab = load_slots(slots_path)
    domains: list[Domain] = []
    problems: list[str] = []
    files = sorted(f for f in root.glob("*.yaml") if f.name != SLOTS_FILE)
    if not files:
        raise PoolError(f"{root}: no domain files (*.yaml)")
    seen_domains: set[str] = set()
    for f in files:
        text = f.read_text(encoding="utf-8")
        try:
            raw = yaml.load(text, Loader=_LOADER)
        except yaml.YAMLError as e:
            raise PoolError(f"{f}: not valid YAML: {e}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("domain"), str) or \
                not isinstance(raw.get("subdomains"), dict) or not raw["subdomains"]:
            raise PoolError(f"{f}: expected 'domain: NAME', 'description: TEXT', 'subdomains: {{NAME: [leaves]}}'")
        name = raw["domain"]
        if name in seen_domains:
            raise PoolError(f"{f}: domain {name!r} is defined twice")
        seen_domains.add(name)
        subs: dict[str, list[Leaf]] = {}
        for sub, leaves in raw["subdomains"].items():
            if not isinstance(leaves, list) or not leaves:
                raise PoolError(f"{f}:{_line_of(text, str(sub) + ':')}: subdomain {sub!r}: expected a list of leaves")
            parsed = []
            for item in leaves:
                if not isinstance(item, str):
                    problems.append(f"{f}:{_line_of(text, str(sub))}: leaf {item!r} is not a string")
                    continue
                try:
                    leaf = parse_leaf(item, name, str(sub))
                except ValueError as e:
                    problems.append(f"{f}:{_line_of(text, item)}: {e}: {item!r}")
                    continue
                for s in leaf.slots + leaf.return_slots():
                    if vocab.resolve(s) is None:
                        problems.append(f"{f}:{_line_of(text, item)}: slot {s!r} is unknown (add it to "
                                        f"{SLOTS_FILE} or use a suffix rule): {item!r}")
                parsed.append(leaf)
            subs[str(sub)] = parsed
        domains.append(Domain(name, str(raw.get("description", "")), subs, str(f)))
    if problems:
        head = f"{len(problems)} problem(s) in the API tree:\n  "
        raise PoolError(head + "\n  ".join(problems[:50]) + ("\n  ..." if len(problems) > 50 else ""))
    return ApiTree(domains, vocab, str(root))


def load_tree(path: str | Path | None = None) -> ApiTree:
    """The API context tree in folder ``path`` (default ``data/api_tree``): one YAML file per domain, and the
    folder's ``slots.yaml`` (else the shipped one). Every leaf must parse and every slot it mentions must resolve;
    otherwise :class:`PoolError` lists each problem as ``file:line``. Cached per folder."""
    root = Path(path or TREE_DIR).resolve()
    slots = root / SLOTS_FILE if (root / SLOTS_FILE).exists() else TREE_DIR / SLOTS_FILE
    return _load_tree_cached(str(root), str(slots.resolve()))


# ===============================================================================================================
# ApiRecord
# ===============================================================================================================

_RECORD_FIELDS = ("id", "tool", "returns", "domain", "path", "leaves", "diversity", "evolution", "slots", "impl",
                  "signature")


@dataclass
class ApiRecord:
    """One API of the pool.

    ``tool`` is the definition a dialog shows (BFCL dialect). ``returns`` is the return schema in the same dialect
    (``{"type": "dict", "properties": {...}}``). ``path`` is domain > subdomain > primary leaf; ``leaves`` the
    sampled subtree (one path per leaf). ``evolution`` lists the steps applied, e.g. ``add_parameter:max_price``,
    ``add_constraint:enum:room_type``, ``change_type:guests:integer->string``, ``nest:stay``,
    ``update_returns:add:rating``. ``slots`` maps each parameter *path* to its slot: ``"city"``; a field of a nested
    dict parameter is ``"stay.check_in_date"``; a field of the dicts in an array-of-dicts parameter is
    ``"items[].quantity"`` (container parameters themselves are not listed). ``impl`` is the executor spec of a
    programmatic API (``None`` for LLM-made ones; :func:`execute` works for both). ``parent`` is the id of the
    example API from the buffer this one evolved from.
    """

    id: str
    tool: ToolDef
    returns: dict
    domain: str
    path: list[str]
    leaves: list[list[str]]
    diversity: int
    evolution: list[str]
    slots: dict[str, str]
    impl: dict | None
    signature: str
    parent: str | None = None
    _tool_dict: dict | None = field(default=None, init=False, repr=False, compare=False)
    # planned once per record by sample_arguments / execute (see _plan_arguments)
    _args_plan: tuple | None = field(default=None, init=False, repr=False, compare=False)
    _returns_plan: tuple | None = field(default=None, init=False, repr=False, compare=False)
    _results: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)  # see _execute

    @property
    def name(self) -> str:
        return self.tool.name

    def tool_dict(self) -> dict:
        """``tool.to_dict()``, computed once (tools are not mutated after building); do not modify it."""
        if self._tool_dict is None:
            self._tool_dict = self.tool.to_dict()
        return self._tool_dict

    def to_dict(self) -> dict:
        return {"id": self.id, "tool": self.tool.to_dict(), "returns": self.returns, "domain": self.domain,
                "path": self.path, "leaves": self.leaves, "diversity": self.diversity, "evolution": self.evolution,
                "slots": self.slots, "impl": self.impl, "signature": self.signature, "parent": self.parent}

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "") -> "ApiRecord":
        """Read a record back; :class:`PoolError` names ``where`` and the field at fault."""
        head = f"{where}: " if where else ""
        if not isinstance(d, dict):
            raise PoolError(f"{head}expected an API record (object), got {type(d).__name__}")
        for key in _RECORD_FIELDS:
            if key not in d:
                raise PoolError(f"{head}field {key!r}: missing")

        def need(key: str, typ: Any, what: str) -> Any:
            v = d[key]
            if not isinstance(v, typ) or isinstance(v, bool) and typ is int:
                raise PoolError(f"{head}field {key!r}: expected {what}, got {type(v).__name__} {v!r:.60}")
            return v

        rid = need("id", str, "a string id")
        issues = validate_tool(d["tool"])
        if issues:
            raise PoolError(f"{head}field 'tool': {issues[0]}" + (f" (+{len(issues) - 1} more)" if len(issues) > 1
                                                                  else ""))
        tool = ToolDef.from_dict(d["tool"])
        returns = need("returns", dict, "a return schema object")
        if returns.get("type") not in ("dict", "object") or not isinstance(returns.get("properties"), dict):
            raise PoolError(f"{head}field 'returns': expected {{'type': 'dict', 'properties': {{...}}}}")
        path = need("path", list, "a list [domain, subdomain, leaf]")
        leaves = need("leaves", list, "a list of paths")
        if not all(isinstance(x, list) for x in leaves):
            raise PoolError(f"{head}field 'leaves': expected a list of paths (lists of strings)")
        slots = need("slots", dict, "a mapping of parameter path -> slot")
        impl = d["impl"]
        if impl is not None and not isinstance(impl, dict):
            raise PoolError(f"{head}field 'impl': expected an object or null, got {type(impl).__name__}")
        if impl is not None:
            _check_impl(impl, head)
        for key in ("tool", "returns"):
            if _depth_over(d[key], MAX_SCHEMA_DEPTH):
                raise PoolError(f"{head}field {key!r}: nested deeper than {MAX_SCHEMA_DEPTH} levels")
        evo = need("evolution", list, "a list of steps")
        parent = d.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise PoolError(f"{head}field 'parent': expected a string id or null")
        return cls(rid, tool, returns, need("domain", str, "a string"), path, leaves,
                   need("diversity", int, "an integer"), evo, slots, impl, need("signature", str, "a string"),
                   parent)


# Bounds on what a pool record may ask of the executor (checked at load by ApiRecord.from_dict): a record is input,
# and ``impl.list_size: [50000000, 50000000]`` would otherwise make each call build fifty million results.
MAX_LIST_SIZE = 100  # elements of a returned list (the programmatic builder uses [1, 3])
MAX_SCHEMA_DEPTH = 32  # JSON nesting of a record's tool definition and return schema (the builder's reach 8 or so)


def _size_pair(v: Any) -> bool:
    """``[lo, hi]`` integers with ``0 <= lo <= hi <= MAX_LIST_SIZE``."""
    return (isinstance(v, (list, tuple)) and len(v) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v) and 0 <= v[0] <= v[1] <= MAX_LIST_SIZE)


def _shown(v: Any, n: int = 60) -> str:
    text = json.dumps(v, ensure_ascii=False, default=repr)
    return text if len(text) <= n else text[: n - 3] + "..."


def _check_impl(impl: dict, head: str) -> None:
    """The executor spec of a record: sizes bounded, slot maps of strings; :class:`PoolError` names the field."""
    if "list_size" in impl and impl["list_size"] is not None and not _size_pair(impl["list_size"]):
        raise PoolError(f"{head}field 'impl.list_size': expected [lo, hi] integers with 0 <= lo <= hi <= "
                        f"{MAX_LIST_SIZE}, got {_shown(impl['list_size'])}")
    rs = impl.get("return_slots")
    if rs is not None and not (isinstance(rs, dict) and all(isinstance(v, str) for v in rs.values())):
        raise PoolError(f"{head}field 'impl.return_slots': expected an object of field -> slot name (strings)")


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists/dicts more than ``limit`` levels deep (iterative: no recursion to overflow)."""
    if not isinstance(value, (dict, list)):
        return False
    stack = [(value, 0)]
    while stack:  # only containers are pushed: a scalar adds no depth
        v, d = stack.pop()
        if d >= limit:
            return True
        stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v) if isinstance(x, (dict, list)))
    return False


def signature(tool: ToolDef | dict) -> str:
    """Normalised signature for dedup: the lowercased name without separators, then the sorted
    ``(parameter, kind)`` pairs of the top-level parameters: ``searchhotels(city:string,guests:integer)``.
    ``search_hotels``, ``searchHotels`` and ``search-hotels`` with the same parameters collide."""
    t = tool if isinstance(tool, ToolDef) else ToolDef.from_dict(tool)
    name = re.sub(r"[\s_.\-:/]+", "", t.name).lower()
    pairs = sorted(f"{p}:{s.kind}" for p, s in t.parameters.properties.items())
    return f"{name}({','.join(pairs)})"


def _norm_name(name: str) -> str:
    return re.sub(r"[\s_.\-:/]+", "", name).lower()


# ===============================================================================================================
# Programmatic synthesis: adaptation + evolution
# ===============================================================================================================

_STOP = {"a", "an", "the", "of", "for", "to", "in", "on", "by", "and", "or", "with", "from", "at", "into", "my", "your",
         "its", "their", "all", "per", "via", "&", "/"}
_RENAMES = {"name": "title", "title": "name", "price": "cost", "rating": "score", "status": "state",
            "description": "summary", "summary": "description", "total_price": "amount_due", "url": "link",
            "created_at": "creation_time", "updated_at": "last_modified", "address": "location_address",
            "total_count": "total_results", "message": "detail", "count": "quantity"}


def _words(phrase: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", phrase.lower()) if w]


def _name_variants(leaf: Leaf, rng: random.Random, diversity: int) -> list[tuple[str, str]]:
    """Candidate tool names for a leaf, preferred style first: (style, name)."""
    words = _words(leaf.phrase)
    core = [w for w in words if w not in _STOP] or words
    snake = "_".join(core)
    camel = core[0] + "".join(w.capitalize() for w in core[1:])
    noun = "_".join(core[1:]) if len(core) > 1 else _words(leaf.subdomain)[0]
    dotted = f"{noun}.{core[0]}"
    sub = "_".join(_words(leaf.subdomain))
    dom = "_".join(_words(leaf.domain))
    sub_camel = (_words(leaf.subdomain) or ["api"])[0]
    dotted2 = f"{sub_camel}.{camel}"
    styles = [("snake", snake), ("dotted", dotted), ("camel", camel), ("dotted", dotted2)]
    r = rng.random()
    first = 0 if r < 0.55 else 1 if r < 0.75 else 2 if r < 0.88 else 3
    order = [styles[first]] + [s for i, s in enumerate(styles) if i != first]
    extra = [("snake", f"{sub}_{snake}" if not snake.startswith(sub) else f"{dom}_{snake}"),
             ("dotted", f"{dom}.{sub}.{camel}"), ("snake", f"{snake}_{'advanced' if diversity > 1 else 'v2'}"),
             ("snake", f"{dom}_{snake}")]
    if leaf.params:
        extra.append(("snake", f"{snake}_by_{leaf.params[0][0]}"))
    return order + extra


@dataclass
class _Draft:
    """An API being built: ordered parameter nodes (BFCL dicts), the required list, slot paths, returns."""

    leaf: Leaf
    leaves: list[Leaf]
    diversity: int
    props: dict[str, dict]
    required: list[str]
    slots: dict[str, str]
    returns: dict[str, dict]
    return_slots: dict[str, str]
    steps: list[str] = field(default_factory=list)


def _param_node(spec: SlotSpec, vocab: SlotVocabulary) -> dict:
    return spec.schema(vocab)


def _return_node(spec: SlotSpec, vocab: SlotVocabulary) -> dict:
    node = {"type": spec.type, "description": spec.description}
    item = spec.item_spec(vocab) if spec.type == "array" else None
    if item is not None:
        node["items"] = _return_node(item, vocab)
    if spec.type == "dict":
        node["properties"] = {f: _return_node(vocab[f], vocab) for f, _ in spec.fields}
    return node


def _add_returns(draft: _Draft, leaf: Leaf, vocab: SlotVocabulary) -> None:
    for r in leaf.returns:
        if r.name in draft.returns:
            continue
        if r.container is None:
            draft.returns[r.name] = _return_node(vocab[r.name], vocab)
            draft.return_slots[r.name] = r.name
        else:
            inner = {f: _return_node(vocab[f], vocab) for f in r.fields}
            desc = f"{_label(r.name).capitalize()}: " + ", ".join(_label(f) for f in r.fields) + "."
            if r.container == "array":
                draft.returns[r.name] = {"type": "array", "description": desc,
                                         "items": {"type": "dict", "properties": inner}}
                sep = "[]."
            else:
                draft.returns[r.name] = {"type": "dict", "description": desc, "properties": inner}
                sep = "."
            for f in r.fields:
                draft.return_slots[f"{r.name}{sep}{f}"] = f


def _add_param(draft: _Draft, name: str, spec: SlotSpec, vocab: SlotVocabulary, required: bool,
               rng: random.Random | None) -> None:
    node = _param_node(spec, vocab)
    draft.props[name] = node
    if required:
        draft.required.append(name)
    elif rng is not None:
        default = spec.default
        if default is None and rng.random() < 0.3 and spec.type in ("boolean", "integer", "string") and \
                (spec.type != "string" or spec.enum):
            default = spec.make(rng, vocab)
        if default is not None:
            node["default"] = default
            node["description"] = node["description"].rstrip(".") + f". Default: {json.dumps(default)}."
    if spec.type == "dict":
        for f, _ in spec.fields:
            draft.slots[f"{name}.{f}"] = f
    else:
        draft.slots[name] = spec.name


def _base_draft(leaves: list[Leaf], diversity: int, vocab: SlotVocabulary, rng: random.Random) -> _Draft:
    primary = leaves[0]
    d = _Draft(primary, leaves, diversity, {}, [], {}, {}, {})
    for s, req in primary.params:
        _add_param(d, s, vocab[s], vocab, req, rng)
    _add_returns(d, primary, vocab)
    for leaf in leaves[1:]:  # merged functionalities: their extra inputs are optional, their outputs added
        for s, _ in leaf.params:
            if s not in d.props and not any(v == s for v in d.slots.values()):
                _add_param(d, s, vocab[s], vocab, False, rng)
        _add_returns(d, leaf, vocab)
    return d


def _scalar_params(d: _Draft) -> list[str]:
    return [p for p, n in d.props.items() if n["type"] in ("string", "integer", "float", "boolean")]


def _evolve_add_parameter(d: _Draft, rng: random.Random, tree: ApiTree) -> str | None:
    vocab = tree.slots
    present = set(d.props) | set(d.slots.values())
    own = vocab[d.leaf.slots[0]].related if d.leaf.slots else ()
    cands = [s for s in list(own) + tree.related_slots(d.leaf.domain, d.leaf.subdomain)
             if s not in present and vocab.resolve(s) is not None]
    cands = list(dict.fromkeys(cands))
    if not cands:
        return None
    s = rng.choice(cands[:12])
    _add_param(d, s, vocab[s], vocab, False, rng)
    return f"add_parameter:{s}"


def _evolve_add_constraint(d: _Draft, rng: random.Random, tree: ApiTree) -> str | None:
    vocab = tree.slots
    options: list[tuple[str, str]] = []
    for p, node in d.props.items():
        spec = vocab.resolve(d.slots.get(p, ""))
        if spec is None or node["type"] != spec.type:
            continue
        if node["type"] == "string" and spec.values and "enum" not in node and len(spec.values) >= 3:
            options.append((p, "enum"))
        if node["type"] in ("integer", "float") and spec.range and "minimum" not in node:
            options.append((p, "range"))
        if node["type"] == "string" and spec.pattern and "pattern" not in node:
            options.append((p, "pattern"))
        if node["type"] == "string" and spec.format and "format" not in node:
            options.append((p, "format"))
    if not options:
        return None
    p, kind = rng.choice(options)
    node, spec = d.props[p], vocab[d.slots[p]]
    if kind == "enum":
        k = min(len(spec.values), rng.randint(3, 6))
        picked = set(rng.sample(range(len(spec.values)), k))
        if "default" in node and node["default"] in spec.values:
            picked.add(spec.values.index(node["default"]))
        node["enum"] = [v for i, v in enumerate(spec.values) if i in picked]
        _reorder(node)
    elif kind == "range":
        lo, hi = spec.range
        node["minimum"], node["maximum"] = (int(lo), int(hi)) if node["type"] == "integer" else (lo, hi)
    elif kind == "pattern":
        node["pattern"] = spec.pattern
    else:
        node["format"] = spec.format
    return f"add_constraint:{kind}:{p}"


_NODE_ORDER = ("type", "description", "enum", "items", "properties", "required", "minimum", "maximum", "pattern",
               "format", "default")


def _reorder(node: dict) -> None:
    items = sorted(node.items(), key=lambda kv: _NODE_ORDER.index(kv[0]) if kv[0] in _NODE_ORDER else 99)
    node.clear()
    node.update(items)


def _evolve_change_type(d: _Draft, rng: random.Random, tree: ApiTree) -> str | None:
    options = []
    for p, node in d.props.items():
        if p not in d.slots:
            continue
        t = node["type"]
        if t == "integer" and "enum" not in node:
            options.append((p, "integer", "string"))
        elif t == "string" and "enum" not in node and not p.endswith("_id") and "format" not in node:
            if _plural(p) not in d.props:
                options.append((p, "string", "array"))
        elif t == "float" and "enum" not in node:
            options.append((p, "float", "integer"))
    if not options:
        return None
    p, old, new = rng.choice(options)
    node = d.props[p]
    if new == "string":  # an integer carried as a digit string (ids, codes, legacy APIs)
        for k in ("minimum", "maximum", "default"):
            node.pop(k, None)
        node["type"] = "string"
        node["description"] = node["description"].rstrip(".") + " (digits, as a string)."
        node["pattern"] = "^[0-9]+$"
        _reorder(node)
        return f"change_type:{p}:integer->string"
    if new == "integer":
        node["type"] = "integer"
        for k in ("minimum", "maximum"):
            if k in node:
                node[k] = int(node[k])
        if "default" in node:
            node["default"] = int(node["default"])
        node["description"] = node["description"].rstrip(".") + " (whole number)."
        return f"change_type:{p}:float->integer"
    # string -> array of strings, renamed to the plural
    new_name = _plural(p)
    item = {"type": "string", "description": node["description"]}
    for k in ("pattern",):
        if k in node:
            item[k] = node.pop(k)
    arr = {"type": "array", "description": f"One or more values: {node['description'][0].lower()}"
                                           f"{node['description'][1:]}", "items": item}
    if "default" in node:
        arr["default"] = [node["default"]]
    d.props = {(new_name if k == p else k): (arr if k == p else v) for k, v in d.props.items()}
    d.required = [new_name if r == p else r for r in d.required]
    d.slots = {(new_name if k == p else k): v for k, v in d.slots.items()}
    return f"change_type:{p}:string->array"


_GROUP_NAMES = {"location": "location", "dates": "dates", "schedule": "schedule", "contact": "contact",
                "price": "price_range", "filters": "filters", "options": "options", "ids": "references"}


def _evolve_nest(d: _Draft, rng: random.Random, tree: ApiTree) -> str | None:
    vocab = tree.slots
    scal = [p for p in _scalar_params(d) if p in d.slots]
    # array of dicts: an entity id together with a quantity-like integer -> a list of line items
    ids = [p for p in scal if p.endswith("_id")]
    qty = [p for p in scal if d.props[p]["type"] == "integer" and p not in ids]
    if ids and qty and rng.random() < 0.4:
        pid, q = rng.choice(ids), rng.choice(qty)
        name = _plural(pid[:-3])
        if name not in d.props:
            inner = {pid: d.props[pid], q: d.props[q]}
            req = [x for x in (pid, q) if x in d.required] or [pid]
            node = {"type": "array", "description": f"List of {_label(name)}, each with its {_label(pid)} and "
                                                    f"{_label(q)}.",
                    "items": {"type": "dict", "properties": inner, "required": req}}
            _regroup(d, [pid, q], name, node, any(x in d.required for x in (pid, q)), "[].")
            return f"nest:array:{name}"
    groups: dict[str, list[str]] = {}
    for p in scal:
        spec = vocab.resolve(d.slots[p])
        g = (spec.group if spec is not None else None) or ("options" if p not in d.required else None)
        if g:
            groups.setdefault(g, []).append(p)
    cands = [(g, ps) for g, ps in groups.items() if len(ps) >= 2]
    if not cands:
        return None
    g, ps = rng.choice(cands)
    name = _GROUP_NAMES.get(g, g)
    if name in d.props:
        name = f"{name}_info"
    if name in d.props:
        return None
    inner = {p: d.props[p] for p in ps}
    req = [p for p in ps if p in d.required]
    node = {"type": "dict", "description": f"{_label(name).capitalize()}: " + ", ".join(_label(p) for p in ps) + ".",
            "properties": inner, "required": req}
    _regroup(d, ps, name, node, bool(req), ".")
    return f"nest:{name}"


def _regroup(d: _Draft, members: list[str], name: str, node: dict, required: bool, sep: str) -> None:
    first = min(list(d.props).index(m) for m in members)
    items = [(k, v) for k, v in d.props.items() if k not in members]
    items.insert(first, (name, node))
    d.props = dict(items)
    d.required = [r for r in d.required if r not in members]
    if required:
        d.required.append(name)
    d.slots = {(f"{name}{sep}{k}" if k in members else k): v for k, v in d.slots.items()}


def _evolve_update_returns(d: _Draft, rng: random.Random, tree: ApiTree) -> str | None:
    vocab = tree.slots
    choice = rng.random()
    top = list(d.returns)
    scal = [k for k in top if d.returns[k]["type"] not in ("array", "dict")]
    if choice < 0.4:  # add a field from the related functionalities
        dom = tree.domain(d.leaf.domain)
        cands = [f for leaf in dom.subdomains[d.leaf.subdomain] for f in leaf.return_slots()
                 if f not in d.returns and f not in d.return_slots.values()]
        cands = list(dict.fromkeys(cands))
        if cands:
            f = rng.choice(cands)
            d.returns[f] = _return_node(vocab[f], vocab)
            d.return_slots[f] = f
            return f"update_returns:add:{f}"
    if choice < 0.7:  # rename a field (never an id: dependent calls match ids by name)
        cands = [k for k in scal if k in _RENAMES and _RENAMES[k] not in d.returns]
        if cands:
            old = rng.choice(cands)
            new = _RENAMES[old]
            d.returns = {(new if k == old else k): v for k, v in d.returns.items()}
            d.return_slots = {(new if k == old else k): v for k, v in d.return_slots.items()}
            return f"update_returns:rename:{old}->{new}"
    if len(scal) >= 2 and "results" not in d.returns and "data" not in d.returns:
        moved = scal
        if rng.random() < 0.5:  # nested results: a list of records plus a count
            inner = {k: d.returns[k] for k in moved}
            rest = {k: v for k, v in d.returns.items() if k not in moved}
            d.returns = {"results": {"type": "array", "description": "Matching records.",
                                     "items": {"type": "dict", "properties": inner}},
                         "total_results": {"type": "integer", "description": "Number of records returned."}, **rest}
            d.return_slots = {(f"results[].{k}" if k in moved else k): v for k, v in d.return_slots.items()}
            d.return_slots["total_results"] = "total_results"
            return "update_returns:nest:results"
        inner = {k: d.returns[k] for k in moved}
        rest = {k: v for k, v in d.returns.items() if k not in moved}
        d.returns = {"data": {"type": "dict", "description": "The response payload.", "properties": inner},
                     "request_id": {"type": "string", "description": "Identifier of this request."}, **rest}
        d.return_slots = {(f"data.{k}" if k in moved else k): v for k, v in d.return_slots.items()}
        d.return_slots["request_id"] = "request_id"
        return "update_returns:nest:data"
    return None


_EVOLVERS: dict[str, Callable[[_Draft, random.Random, ApiTree], str | None]] = {
    "add_parameter": _evolve_add_parameter, "change_type": _evolve_change_type,
    "add_constraint": _evolve_add_constraint, "nest": _evolve_nest, "update_returns": _evolve_update_returns,
}


def _step_kind(step: str) -> str:
    return step.split(":", 1)[0]


def _choose_indicators(rng: random.Random, diversity: int, example: "ApiRecord | None") -> list[str]:
    """Which diversity indicators to apply: some inherited from the buffer example (evolution compounds over
    generations), plus fresh ones; more for more diverse APIs. Returned in the order they are applied."""
    kinds: set[str] = set()
    if example is not None:
        for s in example.evolution:
            if rng.random() < 0.5:
                kinds.add(_step_kind(s))
    fresh = rng.choices((0, 1, 2, 3), weights=(3, 4, 2, 1))[0] + (1 if diversity >= 3 else 0)
    for k in rng.sample(EVOLUTION_KINDS, min(fresh, len(EVOLUTION_KINDS))):
        kinds.add(k)
    return [k for k in EVOLUTION_KINDS if k in kinds]


def _describe(d: _Draft) -> str:
    leaf = d.leaf
    phrase = leaf.phrase[0].upper() + leaf.phrase[1:]
    req = []
    for p in d.required:  # a required group is described by its required fields ("given station ID")
        node = d.props[p]
        inner = node.get("items", node) if node["type"] == "array" else node
        fields = inner.get("required") if inner.get("type") == "dict" else None
        req.extend(fields if fields else [p])
    text = phrase
    if req:
        text += " given " + _join([_label(p) for p in req])
    text += "."
    if len(d.leaves) > 1:
        text += " Also covers: " + "; ".join(x.phrase for x in d.leaves[1:]) + "."
    fields = list(d.returns)[:5]
    if fields:
        text += " Returns " + _join([_label(f) for f in fields]) + ("" if len(d.returns) <= 5 else ", ...") + "."
    return text


def _join(parts: list[str], last: str = "and") -> str:
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + f" {last} " + parts[-1]


_DIVERSITY_WEIGHTS = ((1, 45), (2, 30), (3, 17), (4, 8))


@dataclass
class _Plan:
    """Adaptation for one API: the subtree, the diversity level, the example and the indicators to apply."""

    index: int
    attempt: int
    rng: random.Random
    leaves: list[Leaf]
    diversity: int
    example: "ApiRecord | None"
    indicators: list[str]


class _Builder:
    """Sequential state of one pool build: the leaf order, used names and signatures, the example buffer."""

    def __init__(self, tree: ApiTree, seed: int):
        self.tree, self.seed = tree, seed
        # Primary leaves in a seeded order that keeps each subdomain's leaves together and takes subdomains round-robin
        # over the (shuffled) domains: a small pool then has whole subdomains (related APIs that dialogs can use as
        # same-subdomain distractors and dependent pairs) spread over all domains; n >= the leaf count covers every
        # leaf once.
        rng = _rng(seed, "leaf-order")
        position = {id(leaf): k for k, leaf in enumerate(tree.leaves)}
        per_domain = []
        for dom in tree.domains:
            subs = [[position[id(leaf)] for leaf in leaves] for leaves in dom.subdomains.values()]
            rng.shuffle(subs)
            for members in subs:
                rng.shuffle(members)
            per_domain.append(subs)
        rng.shuffle(per_domain)
        order: list[int] = []
        for r in range(max(len(subs) for subs in per_domain)):
            for subs in per_domain:
                if r < len(subs):
                    order.extend(subs[r])
        self.order = order
        self.records: list[ApiRecord] = []
        self.index_of: dict[str, int] = {}
        self.names: set[str] = set()
        self.sigs: dict[str, str] = {}

    def accept(self, rec: ApiRecord, index: int) -> None:
        self.records.append(rec)
        self.index_of[rec.id] = index
        self.names.add(_norm_name(rec.tool.name))
        self.sigs[rec.signature] = rec.id

    def buffer(self, index: int) -> list[ApiRecord]:
        """The example buffer of API ``index``: the last APIs accepted before its batch began."""
        start = index - index % _BATCH
        upto = [r for r in self.records[-(_BUFFER + _BATCH):] if self.index_of[r.id] < start]
        return upto[-_BUFFER:]

    def plan(self, index: int, attempt: int) -> _Plan:
        rng = _rng(self.seed, "api", index, attempt)
        tree = self.tree
        if attempt < 4:
            primary = tree.leaves[self.order[index % len(self.order)]]
        else:
            primary = rng.choice(tree.leaves)
        diversity = rng.choices([d for d, _ in _DIVERSITY_WEIGHTS], weights=[w for _, w in _DIVERSITY_WEIGHTS])[0]
        leaves = tree.sample_subtree(rng, diversity, primary)
        buf = self.buffer(index)
        same = [r for r in buf if r.domain == primary.domain]
        example = rng.choice(same if same and rng.random() < 0.5 else buf) if buf else None
        return _Plan(index, attempt, rng, leaves, len(leaves), example, _choose_indicators(rng, len(leaves), example))

    def programmatic(self, plan: _Plan) -> ApiRecord:
        tree, vocab, rng = self.tree, self.tree.slots, plan.rng
        d = _base_draft(plan.leaves, plan.diversity, vocab, rng)
        for kind in plan.indicators:
            step = _EVOLVERS[kind](d, rng, tree)
            if step:
                d.steps.append(step)
        name = None
        for style, cand in _name_variants(d.leaf, rng, plan.diversity):
            if _norm_name(cand) not in self.names:
                name = cand
                break
        if name is None:
            k = 2
            base = _name_variants(d.leaf, rng, plan.diversity)[0][1]
            while _norm_name(f"{base}_{k}") in self.names:
                k += 1
            name = f"{base}_{k}"
        tool_dict = {"name": name, "description": _describe(d),
                     "parameters": {"type": "dict", "properties": d.props, "required": d.required}}
        tool = ToolDef.from_dict(tool_dict)
        impl = {"executor": "slots-v1", "return_slots": d.return_slots, "list_size": [1, 3]}
        return ApiRecord(id=_api_id(plan.index), tool=tool, returns={"type": "dict", "properties": d.returns},
                         domain=d.leaf.domain, path=d.leaf.path, leaves=[x.path for x in plan.leaves],
                         diversity=plan.diversity, evolution=d.steps, slots=d.slots, impl=impl,
                         signature=signature(tool), parent=plan.example.id if plan.example else None)

    def duplicate_of(self, rec: ApiRecord) -> str | None:
        if rec.signature in self.sigs:
            return self.sigs[rec.signature]
        if _norm_name(rec.tool.name) in self.names:
            return "name"
        return None


def _api_id(index: int) -> str:
    return f"api-{index:06d}"


# ===============================================================================================================
# LLM path
# ===============================================================================================================

PROMPTS: dict[str, str] = {
    "speciation": (
        "You are growing an API context tree for synthesizing function-calling data.\n"
        "Domain: {domain}\nSubdomain: {subdomain}\nExisting functionalities (do not repeat them):\n{existing}\n\n"
        "Write {n} NEW, realistic, distinct API functionalities for this subdomain. Write each one as\n"
        "  verb phrase (slot, ?optional_slot, ...) -> returned_field, container[field, ...]\n"
        "with snake_case slot names; prefer these known slots where they fit: {slots}.\n"
        "Use *_id slots so that one API can consume an id another API returns.\n"
        'Answer with JSON only: {{"functionalities": ["...", "..."]}}'
    ),
    "evolution": (
        "You are an expert API designer synthesizing a diverse pool of APIs (ToolACE tool self-evolution).\n"
        "Domain: {domain}\nDiversity level: {diversity} (1 = one focused functionality; higher = one richer API "
        "covering all of the functionalities below)\nFunctionalities to cover (the sampled subtree):\n{subtree}\n\n"
        "Example API from the buffer (adapt its style, do not copy it):\n{example}\n\n"
        "Apply these diversity indicators while writing the new API:\n{indicators}\n\n"
        "Write ONE new API as a JSON object with keys:\n"
        '  "name": snake_case or dotted (e.g. "hotels.search"),\n'
        '  "description": a clear and thorough description,\n'
        '  "parameters": {{"type": "dict", "properties": {{...}}, "required": [...]}} using the types string, '
        "integer, float, boolean, array (with items), dict (with properties); optional parameters may have a "
        '"default"; constraints use "enum", "minimum"/"maximum", "pattern", "format",\n'
        '  "returns": {{"type": "dict", "properties": {{...}}}} describing the result.\n'
        "Answer with the JSON object only."
    ),
}

_INDICATOR_TEXT = {
    "add_parameter": "add new functionalities or parameters (optional ones that a real API of this kind has)",
    "add_constraint": "add constraints to parameters (enum values, minimum/maximum ranges, regex patterns)",
    "change_type": "mutate parameter types (e.g. a list instead of a single value, an id as a string)",
    "nest": "use nested structures (a dict grouping related parameters, or an array of dicts)",
    "update_returns": "update the returned results (extra fields, nested result lists)",
}


def _evolution_prompt(plan: _Plan) -> str:
    leaf = plan.leaves[0]
    subtree = "\n".join(f"- {' > '.join(x.path)}: {x.text}" for x in plan.leaves)
    if plan.example is not None:
        ex = {**plan.example.tool.to_dict(), "returns": plan.example.returns}
        example = json.dumps(ex, ensure_ascii=False)
    else:
        example = "(buffer empty: no example yet)"
    inds = plan.indicators or ["add_parameter"]
    return PROMPTS["evolution"].format(domain=leaf.domain, diversity=plan.diversity, subtree=subtree,
                                       example=example, indicators="\n".join(f"- {_INDICATOR_TEXT[k]}" for k in inds))


def _parse_llm_api(text: str, extract: Callable[[str], Any]) -> tuple[dict, dict]:
    """The (tool dict, returns) in an LLM reply, else :class:`ValueError` saying what is wrong."""
    obj = extract(text)
    if isinstance(obj, dict) and isinstance(obj.get("api"), dict):
        obj = obj["api"]
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    for key in ("name", "description", "parameters", "returns"):
        if key not in obj:
            raise ValueError(f"missing key {key!r}")
    name = obj["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name):
        raise ValueError(f"name {name!r} is not a snake_case or dotted identifier")
    tool = {"name": name, "description": obj["description"], "parameters": obj["parameters"]}
    issues = validate_tool(tool)
    if isinstance(obj["parameters"], dict) and obj["parameters"].get("type") not in ("dict", "object"):
        issues = issues or ["parameters.type must be 'dict'"]
    if issues:
        raise ValueError("invalid definition: " + "; ".join(map(str, issues[:3])))
    if not isinstance(tool["description"], str) or not tool["description"].strip():
        raise ValueError("empty description")
    returns = obj["returns"]
    r_issues = validate_tool({"name": "returns", "parameters": returns}) if isinstance(returns, dict) else ["x"]
    if r_issues or not isinstance(returns.get("properties"), dict):
        raise ValueError("returns must be {'type': 'dict', 'properties': {...}} with valid field schemas")
    return tool, returns


def _llm_record(plan: _Plan, tool_dict: dict, returns: dict, vocab: SlotVocabulary) -> ApiRecord:
    """An :class:`ApiRecord` for a validated LLM-written API, in the BFCL dialect like the programmatic ones
    (a JSON Schema reply's ``object`` / ``number`` become ``dict`` / ``float``)."""
    tool_dict = ToolDef.from_dict(tool_dict).to_bfcl()
    returns = ToolDef.from_dict({"name": "returns", "parameters": returns}).to_bfcl()["parameters"]
    tool = ToolDef.from_dict(tool_dict)
    slots: dict[str, str] = {}

    def walk(props: dict, prefix: str) -> None:
        for p, node in props.items():
            if not isinstance(node, dict):
                continue
            t = node.get("type")
            if t in ("dict", "object") and isinstance(node.get("properties"), dict):
                walk(node["properties"], f"{prefix}{p}.")
            elif t == "array" and isinstance(node.get("items"), dict) and \
                    isinstance(node["items"].get("properties"), dict):
                walk(node["items"]["properties"], f"{prefix}{p}[].")
            elif vocab.resolve(p) is not None:
                slots[prefix + p] = p

    walk(tool_dict["parameters"].get("properties") or {}, "")
    leaf = plan.leaves[0]
    return ApiRecord(id=_api_id(plan.index), tool=tool, returns=returns, domain=leaf.domain, path=leaf.path,
                     leaves=[x.path for x in plan.leaves], diversity=plan.diversity,
                     evolution=[f"{k}:requested" for k in plan.indicators], slots=slots, impl=None,
                     signature=signature(tool), parent=plan.example.id if plan.example else None)


def _backends():
    from .. import backends  # imported lazily so the programmatic path never needs it
    return backends


def speciate(backend: Any, tree: ApiTree, domain: str, subdomain: str, *, n: int = 5, seed: int = 0) -> list[Leaf]:
    """Speciation with an LLM: ``n`` new functionalities for one subdomain, as parsed :class:`Leaf` objects (lines
    that do not parse, or mention slots the vocabulary cannot resolve, are dropped)."""
    b = _backends()
    existing = tree.domain(domain).subdomains[subdomain]
    known = sorted({s for leaf in existing for s in leaf.slots})[:40]
    prompt = PROMPTS["speciation"].format(domain=domain, subdomain=subdomain, n=n,
                                          existing="\n".join(f"- {x.text}" for x in existing),
                                          slots=", ".join(known))

    def parse(text: str) -> list[Leaf]:
        obj = b.extract_json(text)
        items = obj.get("functionalities") if isinstance(obj, dict) else obj
        if not isinstance(items, list):
            raise ValueError("expected {'functionalities': [...]}")
        out = []
        for item in items:
            try:
                leaf = parse_leaf(str(item), domain, subdomain)
            except ValueError:
                continue
            if all(tree.slots.resolve(s) for s in leaf.slots + leaf.return_slots()):
                out.append(leaf)
        if not out:
            raise ValueError("no functionality parsed")
        return out

    req = b.ChatRequest(messages=[{"role": "user", "content": prompt}], stage="pool",
                        seed=int(_rng(seed, "speciate", domain, subdomain).random() * 2**31), attempt=0,
                        json_mode=True)

    async def ask() -> Any:
        try:
            return await b.chat_json(backend, req, parse, retries=2)
        finally:
            await backend.aclose()

    got = run_sync(ask())
    return [] if isinstance(got, b.Quarantined) else got


# ===============================================================================================================
# build_pool / load_pool
# ===============================================================================================================

def build_pool(n: int, seed: int = 0, *, backend: Any = None, tree: ApiTree | str | Path | None = None,
               out: str | Path | None = None, progress: bool = True) -> list[ApiRecord]:
    """Synthesize ``n`` APIs from ``seed``.

    ``backend`` ``None`` (or a programmatic backend) builds APIs from the tree and slot vocabulary; an LLM backend
    gets :data:`PROMPTS` ``"evolution"`` per API (same adaptation and indicators) and its replies are validated;
    a reply that stays malformed after the retries is written to ``<out>.quarantine.jsonl`` with the reason, and
    that API index is left out (ids keep their index, so ids may have gaps). Signatures and normalised names are
    unique: a collision regenerates the API (next attempt).

    ``out``: JSONL written one API per line as it is made. Re-running the same call on a partial file (killed at
    any point) keeps its complete lines, rebuilds the state they imply and appends the rest: the final file is
    byte-identical to an uninterrupted run's. A programmatic resume also checks that the existing lines are what
    this seed and tree produce (:class:`PoolError` otherwise, rather than mixing two runs in one file).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if tree is None or isinstance(tree, (str, Path)):
        tree = load_tree(tree)
    llm = backend is not None and not getattr(backend, "is_programmatic", False)
    builder = _Builder(tree, seed)
    appender = quarantine = None
    existing: dict[int, ApiRecord] = {}
    skipped: set[int] = set()
    if out is not None:
        try:
            appender = JsonlAppender(out, keep_rows=True, own=_is_pool_record, what="an API pool (funrl pool)")
        except InputError as e:
            raise PoolError(str(e)) from None
        for k, row in enumerate(appender.rows):
            rec = ApiRecord.from_dict(row, where=f"{out}:{k + 1}")
            m = re.fullmatch(r"api-(\d+)", rec.id)
            if not m:
                raise PoolError(f"{out}:{k + 1}: field 'id': {rec.id!r} is not an api-NNNNNN id of this builder")
            existing[int(m.group(1))] = rec
        beyond = [i for i in existing if i >= n]
        if beyond:
            appender.close()
            raise PoolError(f"{out}: holds {len(existing)} APIs, up to api-{max(beyond):06d}, more than --n {n}: "
                            "re-run with the --n that wrote it, or write to a new --out")
        if llm or Path(str(out) + ".quarantine.jsonl").exists():
            quarantine = JsonlAppender(str(out) + ".quarantine.jsonl")
            for qid in quarantine.ids:
                m = re.fullmatch(r"api-(\d+)", str(qid))
                if m:
                    skipped.add(int(m.group(1)))
        appender.rows = []
    bar = _progress(n, progress)
    try:
        if llm:
            _build_llm(builder, n, backend, existing, skipped, appender, quarantine, bar)
        else:
            _build_programmatic(builder, n, existing, appender, bar, out)
    finally:
        bar.close()
        if appender is not None:
            appender.close()
        if quarantine is not None:
            quarantine.close()
    return [r for r in builder.records if builder.index_of[r.id] < n]


def _is_pool_record(row: Any) -> bool:
    """Whether a JSON value looks like a line of a pool file (so ``--out`` may resume it)."""
    return isinstance(row, dict) and "tool" in row and "signature" in row


def _progress(n: int, enabled: bool) -> Any:
    from tqdm import tqdm
    return tqdm(total=n, desc="pool", unit="api", disable=not enabled, file=sys.stderr)


def _build_programmatic(builder: _Builder, n: int, existing: dict[int, ApiRecord], appender: Any, bar: Any,
                        out: Any) -> None:
    for i in range(n):
        attempt = 0
        while True:
            rec = builder.programmatic(builder.plan(i, attempt))
            if builder.duplicate_of(rec) is None:
                break
            attempt += 1
        if i in existing:
            if existing[i].to_dict() != rec.to_dict():
                raise PoolError(f"{out}: line for {rec.id} differs from what seed {builder.seed} and this tree "
                                f"produce: the file was written by another run (different --seed, --tree or "
                                f"version); write to a new --out")
        elif appender is not None:
            appender.write(rec.to_dict())
        builder.accept(rec, i)
        bar.update(1)


def _build_llm(builder: _Builder, n: int, backend: Any, existing: dict[int, ApiRecord], skipped: set[int],
               appender: Any, quarantine: Any, bar: Any) -> None:
    """The LLM path: each batch of :data:`_BATCH` APIs is planned from the same buffer snapshot and asked
    concurrently; replies are accepted in index order (dedup, then written), so the output does not depend on
    which reply came back first."""
    b = _backends()
    vocab = builder.tree.slots
    retries = 2

    def request(plan: _Plan) -> Any:
        return b.ChatRequest(messages=[{"role": "user", "content": _evolution_prompt(plan)}], stage="pool",
                             seed=builder.seed * 1_000_003 + plan.index, attempt=plan.attempt * (retries + 1),
                             json_mode=True)

    def parse(text: str) -> tuple[dict, dict]:
        return _parse_llm_api(text, b.extract_json)

    async def one(plan: _Plan) -> Any:
        return await b.chat_json(backend, request(plan), parse, retries=retries)

    async def run() -> None:
        try:
            for start in range(0, n, _BATCH):
                idx = list(range(start, min(n, start + _BATCH)))
                todo = [i for i in idx if i not in existing and i not in skipped]
                plans = {i: builder.plan(i, 0) for i in todo}
                replies = await asyncio.gather(*(one(plans[i]) for i in todo))
                results = dict(zip(todo, replies))
                for i in idx:
                    if i in existing:
                        builder.accept(existing[i], i)
                    elif i not in skipped:
                        await settle(i, plans[i], results[i])
                    bar.update(1)
        finally:
            await backend.aclose()

    async def settle(i: int, plan: _Plan, got: Any) -> None:
        while True:
            if isinstance(got, b.Quarantined):
                if quarantine is not None:
                    quarantine.write({"id": _api_id(i), "stage": "pool", "reason": got.reason,
                                      "text": got.last_text, "attempts": got.attempts})
                return
            rec = _llm_record(plan, got[0], got[1], vocab)
            dup = builder.duplicate_of(rec)
            if dup is None:
                if appender is not None:
                    appender.write(rec.to_dict())
                builder.accept(rec, i)
                return
            what = "an existing name" if dup == "name" else dup
            if plan.attempt >= retries:
                got = b.Quarantined(f"duplicate of {what} after {plan.attempt + 1} attempts",
                                    dumps_line(rec.tool.to_dict()), plan.attempt + 1)
                continue
            plan = builder.plan(i, plan.attempt + 1)
            got = await one(plan)

    run_sync(run())


def load_pool(path: str | Path) -> list[ApiRecord]:
    """APIs of a pool file (JSONL or a JSON array); :class:`PoolError` names ``file:line`` and the field."""
    out = []
    try:
        for rec in read_records(path):
            where = f"{path}:{rec.line}" if rec.line is not None else f"{path}[{rec.index}]"
            if rec.error is not None:
                raise PoolError(str(rec.error))
            out.append(ApiRecord.from_dict(rec.value, where=where))
    except InputError as e:
        raise PoolError(str(e)) from None
    return out


# ===============================================================================================================
# Arguments: sampling, phrasing, validation, execution
# ===============================================================================================================

_GENERIC_WORDS = ("alpha", "harbor", "summit", "maple", "nova", "cedar", "lumen", "orbit", "willow", "ember")


_DEFAULT_VOCAB: list[SlotVocabulary] = []


def _vocab() -> SlotVocabulary:
    """The shipped slot vocabulary, loaded once: the hot path (sample / phrase / execute) must not touch disk."""
    if not _DEFAULT_VOCAB:
        _DEFAULT_VOCAB.append(load_slots())
    return _DEFAULT_VOCAB[0]


def _slot_for(api: ApiRecord, path: str, name: str) -> SlotSpec | None:
    return _named_slot(api.slots.get(path), name)


_KIND_MEMO: dict[str, str] = {}  # known type spellings only (bounded): "dict" -> "object", ...


def _kind(node: dict) -> str:
    """Canonical kind of a schema node in either dialect ("dict" and "object" are both "object", "float" and
    "number" are "number"; a union is its first non-null member; no or unknown type is "any")."""
    # called for every node of every sampled call and result: the common case (a plain "type" string) is two
    # lookups
    if "x-bfcl-type" in node or "x-json-type" in node:
        spelling = node.get("x-bfcl-type", node.get("x-json-type"))
    else:
        spelling = node.get("type")
    if isinstance(spelling, str):
        kind = _KIND_MEMO.get(spelling)
        if kind is None:
            kind = kind_of_spelling(spelling)
            if kind is None:
                return "any"
            _KIND_MEMO[spelling] = kind
        return kind
    if isinstance(spelling, list):
        spelling = next((x for x in spelling if x != "null"), None)
    return kind_of_spelling(spelling) or "any"


def _coerce(value: Any, kind: str, rng: random.Random) -> Any:
    """A slot value adapted to the parameter's (possibly evolved) kind."""
    if kind == "string":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            value = rng.choice(_GENERIC_WORDS)
        value = str(value)
    elif kind == "integer":
        value = int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else rng.randint(1, 10)
    elif kind == "number":
        value = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else \
            round(rng.uniform(1, 100), 2)
    elif kind == "boolean":
        value = value if isinstance(value, bool) else rng.random() < 0.5
    return value


def _scalar_value(node: dict, spec: SlotSpec | None, rng: random.Random, name: str, kind: str | None = None) -> Any:
    """One value for a scalar schema node: from its enum, else its slot, adapted to the node's kind (``kind``:
    ``_kind(node)`` when the caller has it) and clamped to its range / regenerated from its pattern / format."""
    if kind is None:
        kind = _kind(node)
    enum = node.get("enum")
    if isinstance(enum, list) and enum:
        return rng.choice(enum)
    value = None
    if spec is not None:
        try:
            value = spec.make(rng, _vocab())
        except PoolError:
            value = None
        if spec.type == "array" and isinstance(value, list):
            value = value[0] if value else None
    elif kind == "string" and node.get("format") in ("date", "date-time"):
        value = _dt.date.fromordinal(rng.randint(*_DATE_RANGE)).isoformat()
    if value is None and kind in ("string", "any"):
        value = f"{rng.choice(_GENERIC_WORDS)}-{rng.randint(10, 99)}"
    value = _coerce(value, kind, rng)
    if kind in ("integer", "number"):
        lo, hi = node.get("minimum"), node.get("maximum")
        lo = lo if isinstance(lo, (int, float)) and not isinstance(lo, bool) else None
        hi = hi if isinstance(hi, (int, float)) and not isinstance(hi, bool) else None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            lo = lo if lo is not None else hi - 100
            hi = hi if hi is not None else lo + 100
            if kind == "integer":
                value = rng.randint(int(-(-lo // 1)), int(hi // 1))
            else:
                value = round(rng.uniform(lo, hi), 2)
                if not lo <= value <= hi:
                    value = float(lo)
    elif kind == "string":
        pattern = node.get("pattern")
        if isinstance(pattern, str) and not _search(pattern, value):
            try:
                value = gen_from_pattern(pattern, rng)
            except ValueError:
                pass
        if node.get("format") == "date" and not _is_date(value):
            value = _dt.date.fromordinal(rng.randint(*_DATE_RANGE)).isoformat()
    return value


def _search(pattern: str, value: str) -> bool:
    """Whether ``value`` matches a definition's ``pattern``, on RE2 (linear time whatever the pattern: see
    :mod:`funrl_lib.patterns`); a pattern RE2 cannot run counts as matched here (nothing to check against; the
    verifier reports such a pattern)."""
    try:
        return pattern_search(pattern, value)
    except PatternError:
        return True


# Sampling arguments and executing calls walk an API's schemas on every call. Each API's schemas are planned once
# (kinds, field lists, range pairs and the slot names paths map to, looked up in advance) into nested tuples that the
# walkers below run; tuples rather than closures, since a plan lives as long as its pool and each object in it is one
# more for the garbage collector to traverse. A plan draws from ``rng`` exactly what the plain schema walk drew, in
# the same order, and slots are still resolved (a cached lookup) when a value is made, so arguments and results are
# unchanged. Plans are kept on the record (see ApiRecord.tool_dict: records are not changed once built); an object
# that is not an ApiRecord is planned afresh on each call.
_OBJECT, _ARRAY, _SCALAR = 0, 1, 2


def _plan_slot(lookup: Callable[[], Any]) -> tuple[Any, Callable[[], Any] | None]:
    """``(what lookup gives, None)``; ``(None, lookup)`` when it fails (a malformed pool record): the walker then
    looks it up when it needs the value, failing where the plain walk failed."""
    try:
        return lookup(), None
    except Exception:
        return None, lookup


def _named_slot(slot: Any, name: str) -> SlotSpec | None:
    """The slot a parameter's path is mapped to (``slot``, ``None`` if unmapped), else the slot called ``name``."""
    vocab = _vocab()
    if slot is not None:
        spec = vocab.resolve(slot)
        if spec is not None:
            return spec
    return vocab.resolve(name)


def _element_slot(spec: SlotSpec | None) -> SlotSpec | None:
    """The slot of an array parameter's elements: its item slot when ``spec`` is an array slot, else ``spec``."""
    return spec.item_spec(_vocab()) if spec is not None and spec.type == "array" else spec


def _plan_arguments(api: ApiRecord, node: dict, path: str, name: str, required: bool = False) -> tuple:
    """The plan of parameter-schema ``node`` (at ``path``, parameter or field ``name``, ``required`` in its dict)
    for :func:`_sample_plan`: ``(_OBJECT, name, required, field plans, node)``, ``(_ARRAY, name, required, items,
    enum or None, item kind, item plan or None, slot name, retry)`` or ``(_SCALAR, name, required, node, kind, slot
    name, retry)`` (the slot name the record maps ``path`` to; see :func:`_plan_slot` for ``retry``)."""
    kind = _kind(node)
    if kind == "object":
        props = node.get("properties")
        if not isinstance(props, dict):
            return (_OBJECT, name, required, (), node)
        req = set(node.get("required") or [])
        return (_OBJECT, name, required, tuple(_plan_arguments(api, sub, f"{path}.{p}" if path else p, p, p in req)
                                               for p, sub in props.items() if isinstance(sub, dict)), node)
    if kind in ("array", "tuple"):
        items = node.get("items") if isinstance(node.get("items"), dict) else {"type": "string"}
        enum = node.get("enum") or items.get("enum")
        item_kind = _kind(items)
        if item_kind == "object":
            item_plan, (slot, retry) = _plan_arguments(api, items, path + "[]", name), (None, None)
        else:
            item_plan, (slot, retry) = None, _plan_slot(lambda: api.slots.get(path))
        return (_ARRAY, name, required, items, enum if isinstance(enum, list) and enum else None, item_kind,
                item_plan, slot, retry)
    return (_SCALAR, name, required, node, kind, *_plan_slot(lambda: api.slots.get(path)))


def _sample_plan(plan: tuple, rng: random.Random, optional: float) -> Any:
    """Values for a plan of :func:`_plan_arguments`: a dict takes each required field and each optional one with
    probability ``optional``, leaving out an optional group that came out empty; an array has 1-3 distinct elements
    (1-2 dicts), from its enum if it has one, else from its slot; a scalar comes from :func:`_scalar_value`."""
    tag = plan[0]
    if tag == _OBJECT:
        out = {}
        for sub in plan[3]:
            required = sub[2]
            if required or rng.random() < optional:
                value = _sample_plan(sub, rng, optional)
                if value == {} and not required:
                    continue  # an optional group with none of its optional fields chosen: leave it out
                out[sub[1]] = value
        _order_ranges(out, plan[4])
        return out
    if tag == _ARRAY:
        _, name, _, items, enum, item_kind, item_plan, slot, retry = plan
        k = rng.randint(1, 2 if item_kind == "object" else 3)
        if enum is not None:
            return rng.sample(enum, min(k, len(enum)))
        inner = None if item_plan is not None else \
            _element_slot(_named_slot(retry() if retry is not None else slot, name))
        values: list = []
        for _ in range(k * 3):
            v = _sample_plan(item_plan, rng, optional) if item_plan is not None else \
                _scalar_value(items, inner, rng, name, item_kind)
            if v not in values:
                values.append(v)
            if len(values) == k:
                break
        return values
    _, name, _, node, kind, slot, retry = plan
    return _scalar_value(node, _named_slot(retry() if retry is not None else slot, name), rng, name, kind)


_RANGE_PAIRS = [(re.compile(a), b) for a, b in (
    (r"^(.*)start(.*)$", r"\1end\2"), (r"^(.*)check_in(.*)$", r"\1check_out\2"),
    (r"^(.*)departure(.*)$", r"\1return\2"), (r"^(.*)pickup(.*)$", r"\1dropoff\2"),
    (r"^(.*)from(.*)$", r"\1to\2"), (r"^(.*)min_(.*)$", r"\1max_\2"), (r"^(.*)lower(.*)$", r"\1upper\2"))]


@functools.lru_cache(maxsize=8192)
def _range_pairs(keys: tuple) -> tuple[tuple[str, str], ...]:
    """``(key, other end)`` for each range start among ``keys`` whose other end is also there, in the order
    :func:`_order_ranges` visits them. Depends on the key names only, and a pool has few distinct key sets, so it is
    cached (seven regex matches per key of every sampled call and result otherwise)."""
    present = set(keys)
    return tuple((key, other) for key in keys for other in _range_ends(key) if other in present)


@functools.lru_cache(maxsize=16384)
def _range_ends(key: str) -> tuple[str, ...]:
    """The names the other end of a range starting at ``key`` would have, one per pattern that matches."""
    out = []
    for pattern, repl in _RANGE_PAIRS:
        if pattern.match(key):
            other = pattern.sub(repl, key)
            if other != key:
                out.append(other)
    return tuple(out)


def _order_ranges(values: dict, node: dict) -> None:
    """Put the two ends of a range in order (start_date before end_date, check in before check out, min_price
    below max_price), swapping them when both values are of one kind, comparable, and each is valid for the other's
    schema, so sampled calls read like real requests."""
    pairs = _range_pairs(tuple(values))
    if pairs:
        _swap_ranges(values, pairs, node)


def _swap_ranges(values: dict, pairs: tuple[tuple[str, str], ...], node: dict) -> None:
    """:func:`_order_ranges` for the ``pairs`` of ``values`` (from :func:`_range_pairs`)."""
    props = node.get("properties") or {}
    for key, other in pairs:
        a, b = values[key], values[other]
        same = type(a) is type(b) and isinstance(a, (str, int, float)) and not isinstance(a, bool)
        if same and a > b and isinstance(props.get(key), dict) and isinstance(props.get(other), dict):
            probe: list[str] = []
            _check(b, props[key], "x", probe)
            _check(a, props[other], "x", probe)
            if not probe:
                values[key], values[other] = b, a


def sample_arguments(api: ApiRecord, rng: random.Random, *, optional: float = 0.5) -> dict:
    """Valid arguments for ``api``: every required parameter, each optional one with probability ``optional``;
    values from the parameter's slot, adapted to its (evolved) type and within its enum / range / pattern /
    format. For programmatic APIs the result always passes :func:`execute`; for LLM-made APIs it is best effort
    (a pattern this module cannot generate from is left unsatisfied)."""
    plan = getattr(api, "_args_plan", None)
    if plan is None:
        plan = _plan_arguments(api, api.tool_dict()["parameters"], "", "")
        if isinstance(api, ApiRecord):
            api._args_plan = plan
    return _sample_plan(plan, rng, optional)


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return _join([_render(v) for v in value])
    if isinstance(value, dict):
        return ", ".join(f"{_label(k)} {_render(v)}" for k, v in value.items())
    return str(value)


def mentioned_values(arguments: Any) -> list[str]:
    """The strings :func:`phrase_request` puts verbatim in the request for these arguments: every scalar leaf value
    (strings as is, numbers via ``str``, booleans as ``true`` / ``false``). A hallucination check can look for each
    one in the user's words."""
    return [_render(v) for v in leaf_values(arguments)]


_REQUEST_TEMPLATES = ("{Verb} {mentions}.", "Could you {verb} {mentions}?", "I'd like to {verb} {mentions}.",
                      "Please {verb} {mentions}.", "Can you help me {verb} {mentions}?", "I need to {verb} {mentions}.",
                      "Hey, {verb} {mentions}, please.", "Would you {verb} {mentions}?")


def _mention(api: ApiRecord, path: str, name: str, value: Any) -> str:
    if isinstance(value, dict):
        parts = [_mention(api, f"{path}.{k}", k, v) for k, v in value.items()]
        return _join([p for p in parts if p]) if parts else ""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        parts = [_mention(api, f"{path}[]", name, v) for v in value]
        return f"{_label(name)}: " + "; ".join(parts)
    spec = _slot_for(api, path, name)
    template = spec.phrase if spec is not None else "with {label} {value}"
    label = spec.label if spec is not None and spec.label else _label(name)
    return template.replace("{label}", label).replace("{value}", _render(value))


def phrase_request(api: ApiRecord, arguments: dict, rng: random.Random) -> str:
    """A user request for this call that mentions every argument value verbatim (see :func:`mentioned_values`),
    each through its slot's phrase: ``"Could you search hotels in Paris, checking in on 2025-03-02 and for 2
    guests?"``."""
    verb = api.path[-1] if api.path else _label(api.tool.name)
    parts = [_mention(api, k, k, v) for k, v in arguments.items()]
    parts = [p for p in parts if p]
    if len(parts) > 2:
        rest = parts[1:]
        rng.shuffle(rest)
        parts = parts[:1] + rest
    mentions = _join(parts)
    template = rng.choice(_REQUEST_TEMPLATES)
    text = template.replace("{Verb}", verb[0].upper() + verb[1:]).replace("{verb}", verb)
    text = text.replace("{mentions}", mentions)
    return _SPACE_BEFORE_PUNCT.sub(_punct, text).strip()


_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,?])")
_punct: Callable[[re.Match], str] = operator.itemgetter(1)  # the replacement r"\1", without re's template machinery


def _type_word(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "dict",
            type(None): "null"}.get(type(value), type(value).__name__)


def _is_date(v: Any) -> bool:
    if not isinstance(v, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        return False
    try:
        _dt.date.fromisoformat(v)
        return True
    except ValueError:
        return False


_KIND_OK = {"string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool), "array": lambda v: isinstance(v, list),
            "tuple": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict),
            "null": lambda v: v is None}


def _check(value: Any, node: dict, where: str, problems: list[str]) -> None:
    """Append to ``problems`` each way ``value`` breaks schema ``node`` (type, enum, range, pattern, date format,
    required / unknown fields of dicts with declared properties, array elements)."""
    t = node.get("type")
    if isinstance(t, list) and value is None and "null" in t:
        return
    kind = _kind(node)
    if kind != "any" and not _KIND_OK[kind](value):
        spelled = t if isinstance(t, str) else kind
        problems.append(f"{where}: expected {spelled}, got {_type_word(value)} "
                        f"{json.dumps(value, ensure_ascii=False)[:60]}")
        return
    enum = node.get("enum")
    has_enum = isinstance(enum, list) and bool(enum)
    if has_enum and kind not in ("array", "tuple") and value not in enum:
        problems.append(f"{where}: {json.dumps(value, ensure_ascii=False)} is not one of "
                        f"{json.dumps(enum, ensure_ascii=False)}")
        return
    if kind in ("integer", "number"):
        lo, hi = node.get("minimum"), node.get("maximum")
        if isinstance(lo, (int, float)) and not isinstance(lo, bool) and value < lo:
            problems.append(f"{where}: {value} is below the minimum {lo}")
        if isinstance(hi, (int, float)) and not isinstance(hi, bool) and value > hi:
            problems.append(f"{where}: {value} is above the maximum {hi}")
    elif kind == "string":
        pattern = node.get("pattern")
        if isinstance(pattern, str) and not _search(pattern, value):
            problems.append(f"{where}: {json.dumps(value, ensure_ascii=False)} does not match pattern {pattern!r}")
        if node.get("format") == "date" and not _is_date(value):
            problems.append(f"{where}: {json.dumps(value, ensure_ascii=False)} is not a date (YYYY-MM-DD)")
    elif kind in ("array", "tuple"):
        items = node.get("items")
        for k, v in enumerate(value):
            if has_enum and v not in enum:
                problems.append(f"{where}[{k}]: {json.dumps(v, ensure_ascii=False)} is not one of "
                                f"{json.dumps(enum, ensure_ascii=False)}")
            elif isinstance(items, dict):
                _check(v, items, f"{where}[{k}]", problems)
    elif kind == "object":
        props = node.get("properties")
        if isinstance(props, dict) and props:
            for r in node.get("required") or []:
                if r not in value:
                    problems.append(f"{where}: missing required field {r!r}")
            for k, v in value.items():
                if k not in props:
                    problems.append(f"{where}: unknown field {k!r} (expected one of: {', '.join(props)})")
                elif isinstance(props[k], dict):
                    _check(v, props[k], f"{where}.{k}", problems)


def _argument_problems(api: ApiRecord, arguments: Any) -> list[str]:
    if not isinstance(arguments, dict):
        return [f"arguments must be an object, got {_type_word(arguments)}"]
    params = api.tool_dict().get("parameters") or {}
    props = params.get("properties") or {}
    problems = [f"missing required parameter {r!r}" for r in params.get("required") or [] if r not in arguments]
    for k, v in arguments.items():
        if k not in props:
            problems.append(f"unknown parameter {k!r} (expected one of: {', '.join(props) or 'none'})")
        else:
            _check(v, props[k], f"parameter {k!r}", problems)
    return problems


def validate_arguments(api: ApiRecord, arguments: Any) -> None:
    """Raise :class:`ExecutionError` naming every problem of a call's arguments against the definition: missing
    required, unknown parameter, wrong type, enum / range / pattern / date-format violation (nested fields are
    named ``parameter 'stay'.check_in_date``, array elements ``parameter 'items'[0]``)."""
    problems = _argument_problems(api, arguments)
    if problems:
        raise ExecutionError(f"{api.tool.name}: " + "; ".join(problems))


def _flatten(arguments: dict) -> dict[str, Any]:
    """Leaf-name -> scalar value of the arguments (first occurrence), for echoing inputs into results."""
    out: dict[str, Any] = {}

    def walk(v: Any, key: str) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, k)
        elif isinstance(v, list):
            if v and not isinstance(v[0], (dict, list)):
                out.setdefault(key, v)
            for x in v:
                if isinstance(x, (dict, list)):
                    walk(x, key)
        else:
            out.setdefault(key, v)

    walk(arguments, "")
    return out


def _plan_result(node: dict, path: str, name: str, rs: Any) -> tuple:
    """The plan of return-schema ``node`` (at ``path``, field ``name``; ``rs``: the API's return slots) for
    :func:`_gen_result` (see :func:`_plan_arguments`): ``(_OBJECT, name, field plans, range pairs, node)``,
    ``(_ARRAY, name, item plan)`` or ``(_SCALAR, name, node, kind, slot name, retry)``."""
    kind = _kind(node)
    if kind == "object":
        props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        fields = tuple(_plan_result(v, f"{path}.{k}" if path else k, k, rs) for k, v in props.items()
                       if isinstance(v, dict))
        return (_OBJECT, name, fields, _range_pairs(tuple(f[1] for f in fields)), node)
    if kind in ("array", "tuple"):
        items = node.get("items") if isinstance(node.get("items"), dict) else {"type": "string"}
        return (_ARRAY, name, _plan_result(items, path + "[]", name, rs))
    return (_SCALAR, name, node, kind, *_plan_slot(lambda: rs[path] if path in rs else name))


def _gen_result(plan: tuple, echo: dict[str, Any], rng: random.Random, size: tuple) -> Any:
    """A result for a plan of :func:`_plan_result`: every field; arrays of ``randint(*size)`` elements (scalars
    distinct); a scalar echoes the argument of its name when that value fits its node, else comes from its return
    slot."""
    tag = plan[0]
    if tag == _OBJECT:
        out = {sub[1]: _gen_result(sub, echo, rng, size) for sub in plan[2]}
        if plan[3]:
            _swap_ranges(out, plan[3], plan[4])
        return out
    if tag == _ARRAY:
        item = plan[2]
        k = rng.randint(*size)
        out_list: list = []
        for _ in range(3 * k):  # scalar elements are kept distinct (three stages, not "Main Stage" twice)
            v = _gen_result(item, echo, rng, size)
            if isinstance(v, dict) or v not in out_list:
                out_list.append(v)
            if len(out_list) == k:
                break
        return out_list
    _, name, node, kind, slot, retry = plan
    if name in echo and not isinstance(echo[name], (list, dict)):
        v = echo[name]
        probe: list[str] = []
        _check(v, node, "x", probe)
        if not probe:
            return v
    return _scalar_value(node, _vocab().resolve(retry() if retry is not None else slot), rng, name, kind)


def _result_plan(api: ApiRecord) -> tuple:
    """The plan of ``api.returns`` (see :func:`_plan_arguments`), made on first use."""
    plan = getattr(api, "_returns_plan", None)
    if plan is None:
        plan = _plan_result(api.returns, "", "", (api.impl or {}).get("return_slots") or {})
        if isinstance(api, ApiRecord):
            api._returns_plan = plan
    return plan


def execute(api: ApiRecord, arguments: dict) -> dict:
    """Run a call deterministically: :func:`validate_arguments` (raises :class:`ExecutionError`), then a result
    that conforms to ``api.returns``. Values come from a generator seeded by SHA-256 of ``(api.id, arguments)``,
    so the same call always gives the same result; returned fields named like an argument echo its value; returned
    ``*_id`` fields use the id format that the matching slot accepts, so another API can take them (dependent
    calls). The result is a new object, the caller's to keep or change."""
    return _execute(api, arguments, remember=True)


def execute_again(api: ApiRecord, arguments: dict) -> dict:
    """What :func:`execute` returns for this call, for a verifier that compares it with a recorded output: taken
    from the record's memory when this process already executed the call (dialog generation just did), else
    generated; not remembered itself (a verifier sees each call once)."""
    return _execute(api, arguments, remember=False)


# Each record remembers the results of its last calls, as JSON text keyed by the JSON text of the arguments as given
# (key order included: a result echoes the first argument of a field name): verification re-executes every call
# that dialog generation ran, so a pipeline in one process (the benchmark, a notebook) generates each result once.
# Only plain-JSON arguments and results are remembered (exact types: a tuple or a non-string key, which JSON would
# spell like a list or a string, never is), so equal keys mean equal arguments of equal types, and a remembered
# result reads back equal to, and of the same types as, what the generator returns. A call is remembered only once
# its arguments passed validation, which for the same record and the same arguments passes again, so a remembered
# call skips it. The memory lives and dies with the record (records are not changed once built: see
# ApiRecord.tool_dict); text is cheap for the garbage collector. A few calls per record are enough for that (and for
# a dialog that executes a call while planning and again while realising it); more would make memory grow with the
# number of dialogs up to calls x pool size (issue 18, 2,000 APIs: `funrl dialogs` peaked at 75 MiB for 1k dialogs,
# and for 50k at 118 MiB with 64 calls per record, 103 MiB with 16).
_REMEMBER = 16  # calls per record (oldest forgotten first)
# json.dumps(x, sort_keys=True, ensure_ascii=False) / json.dumps(x, ensure_ascii=False), without building an encoder
# per call (json.dumps does for any non-default option)
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False).encode


def _execute(api: ApiRecord, arguments: dict, *, remember: bool) -> Any:
    memory = getattr(api, "_results", None)
    as_given = _COMPACT_JSON(arguments) if (memory is not None or remember) and _plain_json(arguments) else None
    if memory is not None and as_given is not None:
        text = memory.get(as_given)
        if text is not None:
            return json.loads(text)
    validate_arguments(api, arguments)
    rng = seeded_rng(api.id, _CANONICAL_JSON(arguments))  # the same call, the same result
    size = tuple((api.impl or {}).get("list_size") or (1, 3))
    result = _gen_result(_result_plan(api), _flatten(arguments), rng, size)
    if remember and as_given is not None and isinstance(api, ApiRecord) and _plain_json(result):
        if memory is None:
            memory = api._results = {}
        elif len(memory) >= _REMEMBER:
            del memory[next(iter(memory))]
        memory[as_given] = _COMPACT_JSON(result)
    return result


def _plain_json(value: Any) -> bool:
    """Only str / int / finite float / bool / None, lists and string-keyed dicts (exact types)."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return True
    if t is float:
        return math.isfinite(value)  # NaN is not equal to itself, and JSON spells every NaN alike
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or not _plain_json(v):
                return False
        return True
    if t is list:
        for v in value:
            if not _plain_json(v):
                return False
        return True
    return False


def result_issues(api: ApiRecord, result: Any) -> list[str]:
    """Problems of a tool result against ``api.returns`` (for the tool-response check of verification): wrong
    types, values outside enums/ranges, missing or unknown fields are reported; an empty list means it conforms."""
    problems: list[str] = []
    props = api.returns.get("properties") or {}
    if not isinstance(result, dict):
        return [f"result: expected dict, got {_type_word(result)}"]
    for k in props:
        if k not in result:
            problems.append(f"result: missing field {k!r}")
    for k, v in result.items():
        if k not in props:
            problems.append(f"result: unknown field {k!r}")
        else:
            _check(v, props[k], f"result.{k}", problems)
    return problems


# ===============================================================================================================
# Statistics and CLI
# ===============================================================================================================

def _depth(node: dict) -> int:
    kind = _kind(node)
    if kind == "object" and isinstance(node.get("properties"), dict):
        return 1 + max((_depth(v) for v in node["properties"].values() if isinstance(v, dict)), default=0)
    if kind in ("array", "tuple") and isinstance(node.get("items"), dict):
        return 1 + _depth(node["items"])
    return 0


def pool_stats(records: Sequence[ApiRecord]) -> dict:
    """Counts that show the pool's diversity (ToolACE's indicators): domains, APIs per domain, parameter types
    (every schema node, nested ones too), nesting depth per API (0 = flat scalars, 1 = a dict or list parameter,
    2 = a list of dicts, ...), required/optional/default counts, constraints, evolution steps, diversity levels,
    name styles, and dependent pairs (API A returns an id that API B in the same domain takes)."""
    types: Counter = Counter()
    depth: Counter = Counter()
    cons: Counter = Counter()
    evo: Counter = Counter()
    div: Counter = Counter()
    styles: Counter = Counter()
    per_domain: Counter = Counter()
    req = opt = dflt = 0
    produces: dict[str, dict[str, int]] = {}
    consumes: dict[str, dict[str, int]] = {}

    def walk(node: dict) -> None:
        nonlocal dflt
        types[node.get("type") if isinstance(node.get("type"), str) else "any"] += 1
        for c in ("enum", "pattern", "format"):
            if c in node:
                cons[c] += 1
        if "minimum" in node or "maximum" in node:
            cons["range"] += 1
        if "default" in node:
            dflt += 1
        if isinstance(node.get("properties"), dict):
            for v in node["properties"].values():
                if isinstance(v, dict):
                    walk(v)
        if isinstance(node.get("items"), dict):
            walk(node["items"])

    for r in records:
        per_domain[r.domain] += 1
        params = r.tool.to_dict().get("parameters") or {}
        props = params.get("properties") or {}
        required = set(params.get("required") or [])
        req += len([p for p in props if p in required])
        opt += len([p for p in props if p not in required])
        for v in props.values():
            walk(v)
        depth[max((_depth(v) for v in props.values()), default=0)] += 1
        for s in r.evolution:
            evo[_step_kind(s)] += 1
        div[r.diversity] += 1
        name = r.tool.name
        styles["dotted" if "." in name else "snake" if "_" in name or name.islower() else "camel"] += 1
        for s in set(r.slots.values()):
            if s.endswith("_id"):
                consumes.setdefault(r.domain, Counter())[s] += 1
        for s in set(((r.impl or {}).get("return_slots") or {}).values()):
            if s.endswith("_id"):
                produces.setdefault(r.domain, Counter())[s] += 1
    pairs = sum(c * consumes.get(dom, {}).get(s, 0) for dom, ps in produces.items() for s, c in ps.items())
    return {"apis": len(records), "domains": len(per_domain),
            "apis_per_domain": dict(sorted(per_domain.items())),
            "parameter_types": dict(types.most_common()),
            "nesting_depth": dict(sorted(depth.items())),
            "parameters": {"required": req, "optional": opt, "with_default": dflt,
                           "per_api": round((req + opt) / max(1, len(records)), 2)},
            "constraints": dict(cons.most_common()),
            "evolution": dict(evo.most_common()),
            "diversity": dict(sorted(div.items())),
            "name_styles": dict(styles.most_common()),
            "dependent_pairs": pairs}


def add_pool_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``funrl pool`` to a subparsers object (``cli.py`` wires it; its handler is :func:`run_pool`)."""
    p = subparsers.add_parser("pool", help="synthesize the API pool (ToolACE tool self-evolution synthesis)",
                              description="Build N APIs from the API context tree (resumable JSONL output).")
    p.add_argument("--backend", default="programmatic", choices=["programmatic", "openai", "hf"],
                   help="programmatic (default, no model); openai / hf write each API with an LLM (settings from "
                        "FUNRL_OPENAI_BASE_URL, FUNRL_OPENAI_MODEL, OPENAI_API_KEY, FUNRL_HF_MODEL)")
    p.add_argument("--n", type=int, default=2000, help="number of APIs (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="pool JSONL; re-running the same command resumes it")
    p.add_argument("--tree", default=None, help="API tree folder (default data/api_tree)")
    p.add_argument("--stats", default=None, help="also write the pool statistics here (JSON)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_pool, handler=run_pool)
    return p


def _make_backend(name: str | None) -> Any:
    """``None`` for the programmatic path, else :func:`funrl_lib.backends.make_backend` (its settings come
    from the environment: ``FUNRL_OPENAI_BASE_URL``, ``FUNRL_OPENAI_MODEL``, ``OPENAI_API_KEY``, ``FUNRL_HF_MODEL``)."""
    if name in (None, "", "programmatic"):
        return None
    try:
        return _backends().make_backend(name)
    except (ValueError, TypeError) as e:
        raise PoolError(f"backend {name!r}: {e}") from None


def run_pool(args: argparse.Namespace) -> int:
    """``funrl pool``: build (or resume) the pool, then print its statistics. Returns the exit status."""
    t0 = time.perf_counter()
    try:
        if getattr(args, "stats", None):
            check_own_json(args.stats, lambda d: isinstance(d, dict) and "apis" in d, "pool statistics")
        backend = _make_backend(getattr(args, "backend", "programmatic"))
        tree = load_tree(getattr(args, "tree", None))
        before = 0
        out = Path(args.out)
        if out.exists():
            before = sum(1 for line in out.read_bytes().split(b"\n") if line.strip())
        records = build_pool(args.n, args.seed, backend=backend, tree=tree, out=out,
                             progress=not getattr(args, "no_progress", False))
    except (PoolError, InputError, OSError) as e:
        print(f"funrl pool: error: {e}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    stats = pool_stats(records)
    counts = tree.counts
    print(f"pool: {len(records)} APIs in {out} ({min(before, len(records))} already there) in {dt:.2f} s; tree "
          f"{counts['domains']} domains / {counts['subdomains']} subdomains / {counts['leaves']} leaves")
    print(f"domains: {stats['domains']}")
    print("parameter types: " + ", ".join(f"{k} {v}" for k, v in stats["parameter_types"].items()))
    print("nesting depth: " + ", ".join(f"{k}: {v}" for k, v in stats["nesting_depth"].items()))
    print("constraints: " + ", ".join(f"{k} {v}" for k, v in stats["constraints"].items()))
    print("evolution steps: " + ", ".join(f"{k} {v}" for k, v in stats["evolution"].items()))
    print(f"parameters: {stats['parameters']}; dependent pairs: {stats['dependent_pairs']}")
    quarantined = report_quarantine(out)
    if getattr(args, "stats", None):
        write_json(args.stats, stats)
    if args.n > 0 and not records:  # every request failed or was quarantined: nothing usable was made
        print(f"funrl pool: error: no API was made ({quarantined} quarantined"
              + (f": see {quarantine_path(out)}" if quarantined else "") + ")", file=sys.stderr)
        return 2
    return 0
