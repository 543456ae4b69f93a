"""Sampling arguments for a pool API (ToolACE §2.1 pool, used by §2.2's dialog generation): values from each parameter's
slot, adapted to its evolved type and within its enum / range / pattern / format, from a per-record plan of its
schema.
"""

from __future__ import annotations

import datetime as _dt
import functools
import random
import re
from typing import Any, Callable

from .base import PoolError
from .checks import _check, _is_date, _kind, _search
from .pattern_values import gen_from_pattern
from .records import ApiRecord
from .slot_file import load_slots
from .slots import _DATE_RANGE, SlotSpec, SlotVocabulary


_GENERIC_WORDS = ("alpha", "harbor", "summit", "maple", "nova", "cedar", "lumen", "orbit", "willow", "ember")


_DEFAULT_VOCAB: list[SlotVocabulary] = []


def _vocab() -> SlotVocabulary:
    """The shipped slot vocabulary, loaded once: the hot path (sample / phrase / execute) must not touch disk."""
    if not _DEFAULT_VOCAB:
        _DEFAULT_VOCAB.append(load_slots())
    return _DEFAULT_VOCAB[0]


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
