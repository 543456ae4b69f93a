"""Reading the slot vocabulary file ``data/api_tree/slots.yaml`` (ToolACE §2.1, speciation: the slots the API context
tree's leaves are written in); every problem is a :class:`~.base.PoolError` naming ``file:line``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import random
import re
from pathlib import Path
from typing import Any

import yaml

from .base import MAX_LIST_SIZE, SLOTS_FILE, TREE_DIR, PoolError, _shown, _size_pair
from .pattern_values import gen_from_pattern
from .slots import SlotSpec, SlotVocabulary, _label


_TYPES = ("string", "integer", "float", "boolean", "array", "dict")
_SLOT_KEYS = {"type", "description", "values", "enum", "range", "dates", "pattern", "generate", "format", "items",
              "count", "fields", "phrase", "default", "constrain", "group", "related", "inherit", "label"}


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
