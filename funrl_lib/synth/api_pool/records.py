"""Pool records and pool files (ToolACE §2.1: the API pool that tool self-evolution synthesis fills):
:class:`ApiRecord`, its checked reading back, the dedup signature, :func:`load_pool` and
:func:`load_pool_lenient`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...io import InputError, Quarantine, read_records
from ...tools import ToolDef, validate_tool
from .base import MAX_LIST_SIZE, MAX_SCHEMA_DEPTH, PoolError, _shown, _size_pair


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


def _check_impl(impl: dict, head: str) -> None:
    """The executor spec of a record: sizes bounded, slot maps of strings; :class:`PoolError` names the field."""
    if "list_size" in impl and impl["list_size"] is not None and not _size_pair(impl["list_size"]):
        raise PoolError(f"{head}field 'impl.list_size': expected [lo, hi] integers with 0 <= lo <= hi <= "
                        f"{MAX_LIST_SIZE}, got {_shown(impl['list_size'])}")
    rs = impl.get("return_slots")
    if rs is not None and not (isinstance(rs, dict) and all(isinstance(v, str) for v in rs.values())):
        raise PoolError(f"{head}field 'impl.return_slots': expected an object of field -> slot name (strings)")


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists/dicts more than ``limit`` levels deep (the recursion stops at the limit, so it
    never goes deeper than that; only containers are visited: a scalar adds no depth)."""
    if not isinstance(value, (dict, list)):
        return False
    if limit <= 0:
        return True
    for x in value.values() if isinstance(value, dict) else value:
        if isinstance(x, (dict, list)) and _depth_over(x, limit - 1):
            return True
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


def _where(path: str | Path, rec: Any) -> str:
    """``FILE:LINE`` of a record read from a JSONL file, ``FILE[INDEX]`` of one from a JSON array."""
    return f"{path}:{rec.line}" if rec.line is not None else f"{path}[{rec.index}]"


def load_pool(path: str | Path) -> list[ApiRecord]:
    """APIs of a pool file (JSONL or a JSON array); :class:`PoolError` names ``file:line`` and the field."""
    out = []
    try:
        for rec in read_records(path):
            where = _where(path, rec)
            if rec.error is not None:
                raise PoolError(str(rec.error))
            out.append(ApiRecord.from_dict(rec.value, where=where))
    except InputError as e:
        raise PoolError(str(e)) from None
    return out


def load_pool_lenient(path: str | Path, quarantine: Quarantine | None = None) -> tuple[list[ApiRecord], list[str]]:
    """Pool records of a file, skipping bad ones: ``(records, errors)`` with each error as ``FILE:LINE: reason``
    (a line that is not JSON or not UTF-8, a record failing :meth:`ApiRecord.from_dict`, sizes beyond its bounds
    included, a repeated id). Skipping is safe where each use needs only the records it takes (a dialog). Each
    skipped line also goes to ``quarantine`` when given. A file that cannot be read at all raises
    :class:`~funrl_lib.io.InputError`."""
    records: list[ApiRecord] = []
    errors: list[str] = []
    first_line: dict[str, Any] = {}

    def skip(rec: Any, where: str, message: str) -> None:
        errors.append(message)
        if quarantine is not None:
            own = message[len(where) + 2:] if message.startswith(f"{where}: ") else message
            quarantine.add_record(rec, path, error=own)

    for rec in read_records(path):
        where = _where(path, rec)
        if rec.error is not None:
            skip(rec, where, str(rec.error))
            continue
        try:
            api = ApiRecord.from_dict(rec.value, where=where)
        except (PoolError, ValueError) as e:
            skip(rec, where, str(e))
            continue
        if api.id in first_line:
            skip(rec, where, f"{where}: duplicate id {api.id!r} (first at line {first_line[api.id]}); skipped")
            continue
        first_line[api.id] = rec.line if rec.line is not None else rec.index
        records.append(api)
    return records, errors
