"""Tool definitions: one model for both dialects met in the wild.

* **BFCL / ToolACE**: ``{"name", "description", "parameters": {"type": "dict", "properties": {...}, "required": [...]}}``
  with Python-flavoured type names (``dict``, ``float``, ``integer`` or ``int``, ``tuple``, ``any``); the released
  ToolACE data adds a stray top-level ``"required": null`` to every tool.
* **JSON Schema / OpenAI tools**: ``{"type": "function", "function": {"name", "description", "parameters":
  {"type": "object", ...}}}`` with JSON Schema type names (``object``, ``number``, ``integer``, ``array``, ...).

:meth:`ToolDef.from_dict` reads either; :meth:`ToolDef.to_bfcl` and :meth:`ToolDef.to_openai` write either, and
:meth:`ToolDef.to_dict` gives the tool back exactly as read. Conversion is lossless both ways: every key is kept
verbatim and in order; within a tool's own dialect conversion is the identity; across dialects a type spelling that
the way back would not recover (``int``, ``tuple`` and ``any`` have no JSON Schema twin, ``float`` written inside a
JSON Schema tool has no BFCL twin) travels in an ``x-bfcl-type`` / ``x-json-type`` keyword that the way back
consumes. Keys of the OpenAI wrapper other than ``type`` and ``function`` travel in ``x-openai-wrapper``.

:meth:`ToolDef.read` also keeps the value it was given (:attr:`ToolDef.source`, for writing a definition back byte for
byte) and never refuses one: a definition too broken to read comes back as an :class:`UnreadableTool`, so a list of
definitions (a sample's) always loads and a checker can say what is wrong with each; :class:`ToolTable` reads each
distinct definition of an input once.

:func:`validate_tool` reports problems with a path and what was expected (missing name, unknown type, ``required``
naming an absent property, enum values or defaults of the wrong type, ...). Reading never rejects a tool unless asked
(``strict=True``): BFCL's own data has such defects (``parallel_29`` requires keys of a dict parameter that declares
no properties; several live entries list string enums for integer and boolean parameters), and scoring must still
run on it.
"""

from __future__ import annotations

import copy
import json
import marshal
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

__all__ = [
    "KINDS",
    "Schema",
    "SchemaIssue",
    "ToolDef",
    "ToolSchemaError",
    "ToolTable",
    "UnreadableTool",
    "kind_of_spelling",
    "load_tools",
    "validate_tool",
]

# Canonical kinds, and every spelling of a type name accepted in either dialect.
KINDS = ("string", "integer", "number", "boolean", "array", "tuple", "object", "any", "null")
_KIND_OF = {
    "string": "string", "str": "string",
    "integer": "integer", "int": "integer",
    "float": "number", "number": "number",
    "boolean": "boolean", "bool": "boolean",
    "array": "array", "list": "array",
    "tuple": "tuple",
    "dict": "object", "object": "object",
    "any": "any",
    "null": "null",
}
# How each dialect spells a kind. JSON Schema has no "any" keyword: the type keyword is simply absent.
_SPELLING = {
    "bfcl": {"string": "string", "integer": "integer", "number": "float", "boolean": "boolean", "array": "array",
             "tuple": "tuple", "object": "dict", "any": "any", "null": "null"},
    "json": {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean", "array": "array",
             "tuple": "array", "object": "object", "any": None, "null": "null"},
}
_MARK = {"bfcl": "x-bfcl-type", "json": "x-json-type"}
WRAPPER_MARK = "x-openai-wrapper"
KNOWN_SPELLINGS = "string, integer/int, float/number, boolean, array, tuple, dict/object, any, null"
_NO_TYPE = object()  # "the type keyword is absent"
_NO_SOURCE = object()  # a ToolDef not made by ToolDef.read: its source is its to_dict()


_ATOMIC = frozenset((str, int, float, bool, type(None)))


def _copied(value: Any) -> Any:
    """``copy.deepcopy(value)``, without its machinery for the strings and numbers that most values are (it returns
    those unchanged anyway); parsing and writing tools copies every value, for every tool of every sample."""
    return value if type(value) in _ATOMIC else copy.deepcopy(value)


def kind_of_spelling(spelling: Any) -> str | None:
    """Canonical kind of one type spelling (``"dict"`` -> ``"object"``); ``None`` if unknown."""
    return _KIND_OF.get(spelling) if isinstance(spelling, str) else None


def _spell(spelling: Any, dialect: str) -> Any:
    """``spelling`` rewritten for ``dialect``; lists element-wise; unknown spellings unchanged."""
    if spelling is _NO_TYPE:
        return _NO_TYPE
    if isinstance(spelling, list):
        return [_spell(s, dialect) for s in spelling]
    kind = kind_of_spelling(spelling)
    if kind is None:
        return spelling
    converted = _SPELLING[dialect][kind]
    return _NO_TYPE if converted is None else converted


class ToolSchemaError(ValueError):
    """A tool definition that failed validation; ``issues`` lists every problem found."""

    def __init__(self, issues: list["SchemaIssue"], where: str = ""):
        self.issues = issues
        self.where = where
        head = f"{where}: " if where else ""
        super().__init__(head + "; ".join(str(i) for i in issues))


@dataclass(frozen=True)
class SchemaIssue:
    path: str  # e.g. "parameters.properties.unit.enum[2]"
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<tool>'}: {self.message}"


class Schema:
    """One JSON-Schema-like node: a tool's parameters, one parameter, an array's items.

    ``node`` is the source dict with its ``items`` and ``properties`` children replaced by :class:`Schema` objects,
    so key order and every keyword (``format``, ``minimum``, ``optional``, ...) survive; the accessors read it.
    """

    __slots__ = ("node",)

    def __init__(self, node: dict[str, Any]):
        self.node = node

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> "Schema":
        node: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "items" and isinstance(value, dict):
                node[key] = cls.parse(value)
            elif key == "properties" and isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
                node[key] = {name: cls.parse(sub) for name, sub in value.items()}
            else:
                node[key] = _copied(value)
        return cls(node)

    @classmethod
    def build(cls, kind: str, description: str | None = None, *, items: "Schema | None" = None,
              properties: "dict[str, Schema] | None" = None, required: Iterable[str] | None = None,
              enum: list | None = None, dialect: str = "bfcl", **keywords: Any) -> "Schema":
        """A node of canonical ``kind`` (``"object"``, ``"number"``, ...) spelled in ``dialect`` ("bfcl"/"json").
        Extra keywords (``default=``, ``minimum=``, ``pattern=``, ...) are stored as given."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        node: dict[str, Any] = {}
        spelling = _SPELLING[dialect][kind]
        if spelling is not None:  # JSON Schema spells "any" by leaving the type keyword out
            node["type"] = spelling
        if description is not None:
            node["description"] = description
        if enum is not None:
            node["enum"] = list(enum)
        if items is not None:
            node["items"] = items
        if properties is not None:
            node["properties"] = dict(properties)
        if required is not None:
            node["required"] = list(required)
        node.update(keywords)
        return cls(node)

    @property
    def type(self) -> Any:
        """The type keyword exactly as written (``"dict"``, ``"float"``, ``["string", "null"]``), or ``None``."""
        return self.node.get("type")

    @property
    def kind(self) -> str:
        """Canonical kind. A conversion marker (the original spelling) wins over the type keyword; a union such as
        ``["string", "null"]`` is its first non-null member; no type or an unknown spelling is ``"any"``."""
        node = self.node
        spelling = node.get(_MARK["bfcl"], node.get(_MARK["json"], node.get("type")))
        if isinstance(spelling, list):
            kinds = [k for k in map(kind_of_spelling, spelling) if k and k != "null"]
            return kinds[0] if kinds else ("null" if spelling else "any")
        return kind_of_spelling(spelling) or "any"

    @property
    def description(self) -> str | None:
        return self.node.get("description")

    @property
    def items(self) -> "Schema | None":
        items = self.node.get("items")
        return items if isinstance(items, Schema) else None

    @property
    def properties(self) -> "dict[str, Schema]":
        props = self.node.get("properties")
        if not isinstance(props, dict):
            return {}
        for v in props.values():  # a loop, not all(<generator>): checkers read this for every value they check
            if not isinstance(v, Schema):
                return {}
        return props

    @property
    def required(self) -> list[str]:
        req = self.node.get("required")
        return [r for r in req if isinstance(r, str)] if isinstance(req, list) else []

    @property
    def enum(self) -> list | None:
        enum = self.node.get("enum")
        return enum if isinstance(enum, list) else None

    @property
    def has_default(self) -> bool:
        return "default" in self.node

    @property
    def default(self) -> Any:
        return self.node.get("default")

    def to_dict(self, dialect: str | None = None, source: str | None = None) -> dict[str, Any]:
        """The node as a plain dict. With ``dialect`` different from ``source`` (the dialect it was read in), type
        keywords are rewritten; otherwise the node comes back as read."""
        convert = dialect is not None and dialect != source
        out: dict[str, Any] = {}
        if convert:
            typed = _convert_type(self.node, dialect, source)
        for key, value in self.node.items():
            if isinstance(value, Schema):
                out[key] = value.to_dict(dialect, source)
            elif key == "properties" and isinstance(value, dict) and all(isinstance(v, Schema) for v in value.values()):
                out[key] = {name: sub.to_dict(dialect, source) for name, sub in value.items()}
            elif convert and key in ("type", _MARK["bfcl"], _MARK["json"]):
                if key == "type" or "type" not in self.node:
                    out.update(typed)  # in the position of the first of these keys
                    typed = {}
            else:
                out[key] = _copied(value)
        if convert and typed:
            out.update(typed)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Schema({self.to_dict()!r})"


def _convert_type(node: dict[str, Any], dialect: str, source: str) -> dict[str, Any]:
    """The type keyword (and marker) of ``node`` rewritten from ``source`` to ``dialect``."""
    mine, theirs = _MARK[dialect], _MARK[source]
    if mine in node:  # the node was converted from ``dialect`` before: restore its spelling
        original = node[mine]
        return {} if original is None else {"type": original}
    spelling = node.get("type", _NO_TYPE)
    converted = _spell(spelling, dialect)
    out: dict[str, Any] = {} if converted is _NO_TYPE else {"type": converted}
    back = _spell(converted, source)
    if back != spelling:
        out[theirs] = None if spelling is _NO_TYPE else spelling
    return out


class ToolDef:
    """A tool (function) definition: ``name``, ``description``, ``parameters`` (an object :class:`Schema`) and
    ``extra`` (every other key, kept verbatim: ToolACE's ``"required": null``, a return schema, ...).

    ``dialect`` is the dialect it was read in: ``"bfcl"`` (BFCL/ToolACE type names) or ``"json"`` (JSON Schema /
    OpenAI).
    """

    __slots__ = ("_fn", "_wrapper", "dialect", "_view", "_source", "_derived")

    def __init__(self, name: str, description: str | None = None, parameters: Schema | None = None, *,
                 extra: dict[str, Any] | None = None, dialect: str = "bfcl"):
        if dialect not in _SPELLING:
            raise ValueError(f"unknown dialect {dialect!r}; expected 'bfcl' or 'json'")
        fn: dict[str, Any] = {"name": name}
        if description is not None:
            fn["description"] = description
        fn["parameters"] = parameters if parameters is not None else Schema.build(
            "object", properties={}, required=[], dialect=dialect)
        fn.update(copy.deepcopy(extra or {}))
        self._fn = fn
        self._wrapper: dict[str, Any] | None = {"type": "function", "function": None} if dialect == "json" else None
        self.dialect = dialect
        self._view: tuple | None = None
        self._source: Any = _NO_SOURCE
        self._derived: dict[str, Any] | None = None

    # -- reading --------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: Any, *, strict: bool = False, where: str = "") -> "ToolDef":
        """Read a tool in either dialect (also a JSON string of one).

        ``strict=True`` raises :class:`ToolSchemaError` listing every validation issue; otherwise only a tool too
        broken to represent (not an object, no name) raises.
        """
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as e:
                raise ToolSchemaError([SchemaIssue("", f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})")],
                                      where) from None
        if strict:
            issues = validate_tool(raw)
            if issues:
                raise ToolSchemaError(issues, where)
        if not isinstance(raw, dict):
            raise ToolSchemaError([SchemaIssue("", f"expected an object, got {type(raw).__name__}")], where)
        wrapped = raw.get("type") == "function" and isinstance(raw.get("function"), dict)
        fn_raw = raw["function"] if wrapped else raw
        name = fn_raw.get("name")
        if not isinstance(name, str) or not name:
            prefix = "function." if wrapped else ""
            raise ToolSchemaError([SchemaIssue(prefix + "name", "missing or not a non-empty string")], where)
        fn = {k: Schema.parse(v) if k == "parameters" and isinstance(v, dict) else _copied(v)
              for k, v in fn_raw.items()}
        params = fn_raw.get("parameters")
        root = params.get("type") if isinstance(params, dict) else None
        tool = cls.__new__(cls)
        tool._fn = fn
        tool._view = None
        tool._source = _NO_SOURCE
        tool._derived = None
        if wrapped:
            tool._wrapper = {k: (None if k == "function" else copy.deepcopy(v)) for k, v in raw.items()}
            tool.dialect = "bfcl" if root == "dict" else "json"
        else:
            tool._wrapper = None
            tool.dialect = "json" if root == "object" else "bfcl"
        return tool

    @classmethod
    def read(cls, raw: Any) -> "ToolDef":
        """Read a definition once, keeping ``raw`` itself as :attr:`source` (not copied: the caller hands it over and
        changes it no more). Never raises: a definition :meth:`from_dict` refuses comes back as an
        :class:`UnreadableTool` holding ``raw`` and the error."""
        try:
            tool = cls.from_dict(raw)
        except ToolSchemaError as e:
            return UnreadableTool(raw, e)
        tool._source = raw
        return tool

    # -- accessors ------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._fn["name"]

    @property
    def source(self) -> Any:
        """The definition as given to :meth:`read` (the very value: a dict, or whatever was there), for writing it
        back byte for byte; for a tool made otherwise, :meth:`to_dict`. Read-only, as the tool is."""
        return self.to_dict() if self._source is _NO_SOURCE else self._source

    def derived(self, key: str, compute: Callable[["ToolDef"], Any]) -> Any:
        """``compute(self)``, worked out on the first call for ``key`` and kept with the tool: what a consumer derives
        from a definition (its validation issues, a lexical scan) is computed once however many samples share the
        tool. Tools are not mutated after reading, so what is kept stays true."""
        derived = self._derived
        if derived is None:
            derived = self._derived = {}
        try:
            return derived[key]
        except KeyError:
            value = derived[key] = compute(self)
            return value

    @property
    def description(self) -> str | None:
        return self._fn.get("description")

    @property
    def parameters(self) -> Schema:
        params = self._fn.get("parameters")
        return params if isinstance(params, Schema) else Schema({"type": "dict", "properties": {}, "required": []})

    @property
    def extra(self) -> dict[str, Any]:
        return {k: v for k, v in self._fn.items() if k not in ("name", "description", "parameters")}

    @property
    def required(self) -> list[str]:
        return self.parameters.required

    def param(self, name: str) -> Schema | None:
        return self.parameters.properties.get(name)

    def checker_view(self) -> tuple[list[str], dict[str, tuple[str, Any, str | None]]]:
        """(required names, {parameter: (kind, type spelling, item kind or None)}) of the top-level parameters,
        computed once: the checker's hot path reads only this. Tools are not mutated after reading."""
        if self._view is None:
            params = self.parameters
            view = {}
            for pname, schema in params.properties.items():
                items = schema.items
                view[pname] = (schema.kind, schema.type, items.kind if items is not None else None)
            self._view = (params.required, view)
        return self._view

    # -- writing --------------------------------------------------------------------------------------------
    def _function(self, dialect: str | None) -> dict[str, Any]:
        return {k: v.to_dict(dialect, self.dialect) if isinstance(v, Schema) else _copied(v)
                for k, v in self._fn.items()}

    def to_dict(self) -> dict[str, Any]:
        """The tool exactly as read (wrapped if it was wrapped)."""
        fn = self._function(None)
        if self._wrapper is None:
            return fn
        return {k: fn if k == "function" else copy.deepcopy(v) for k, v in self._wrapper.items()}

    def to_bfcl(self) -> dict[str, Any]:
        """BFCL / ToolACE dialect: a bare function dict with BFCL type names."""
        fn = self._function("bfcl")
        if self._wrapper is not None:
            extras = {k: copy.deepcopy(v) for k, v in self._wrapper.items() if k not in ("type", "function")}
            if extras or list(self._wrapper)[:2] != ["type", "function"]:
                fn[WRAPPER_MARK] = {k: (None if k == "function" else copy.deepcopy(v))
                                    for k, v in self._wrapper.items()}
        return fn

    def to_openai(self) -> dict[str, Any]:
        """OpenAI tools dialect: ``{"type": "function", "function": {...}}`` with JSON Schema type names."""
        fn = self._function("json")
        wrapper = fn.pop(WRAPPER_MARK, None) if self._wrapper is None else None
        if not isinstance(wrapper, dict):
            wrapper = self._wrapper or {"type": "function", "function": None}
        return {k: fn if k == "function" else copy.deepcopy(v) for k, v in wrapper.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ToolDef) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"ToolDef({self.name!r}, parameters={list(self.parameters.properties)})"


class UnreadableTool(ToolDef):
    """A definition :meth:`ToolDef.from_dict` refuses (not an object, no name, a JSON string that does not parse),
    kept by :meth:`ToolDef.read` so that what holds it (a sample) still loads and writes back unchanged, and a checker
    can report it: ``source`` is the value as given, ``error`` the :class:`ToolSchemaError`, ``name`` is ``None``;
    everything that needs the parsed tool (``parameters``, ``to_bfcl``, ...) raises ``error``."""

    __slots__ = ("error",)

    def __init__(self, raw: Any, error: ToolSchemaError):
        self._source, self.error = raw, error
        self._wrapper, self.dialect, self._view, self._derived = None, "bfcl", None, None

    @property
    def _fn(self) -> dict[str, Any]:  # type: ignore[override]
        raise self.error

    @property
    def name(self) -> None:  # type: ignore[override]
        return None

    @property
    def description(self) -> Any:
        """The ``description`` of the (function) object, whatever it holds; None when there is none."""
        raw = self._source
        fn = raw.get("function") if isinstance(raw, dict) and isinstance(raw.get("function"), dict) else raw
        return fn.get("description") if isinstance(fn, dict) else None

    def to_dict(self) -> Any:
        return copy.deepcopy(self._source)

    def __reduce__(self) -> tuple:  # copy, deepcopy and pickle: read the source again (the property hides no slot)
        return ToolDef.read, (self._source,)

    def __repr__(self) -> str:
        return f"UnreadableTool({self.error})"


class ToolTable:
    """The tools of one input, each distinct definition read once (:meth:`ToolDef.read`): a file's samples share a few
    thousand definitions (a pool's APIs), and a reader given a table hands every sample the same :class:`ToolDef` for
    the same definition, so what is derived from it (:meth:`ToolDef.derived`) is worked out once. A definition is
    found again by its marshal bytes (format 2, which has no back-references, so equal bytes are equal content of
    equal types, key order included); one that is not plain data is read on its own. Holds at most ``limit``
    definitions (then starts afresh)."""

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self._tools: dict[bytes, ToolDef] = {}

    def read(self, raw: Any) -> ToolDef:
        try:
            key = marshal.dumps(raw, 2)
        except ValueError:  # not plain data (or nested too deeply)
            return ToolDef.read(raw)
        tool = self._tools.get(key)
        if tool is None:
            if len(self._tools) >= self.limit:
                self._tools.clear()
            tool = self._tools[key] = ToolDef.read(raw)
        return tool

    def read_all(self, raws: list[Any]) -> list[ToolDef]:
        return [self.read(t) for t in raws]


def _json_or_value(raw: Any, where: str) -> Any:
    """``raw`` parsed if it is a JSON string, else unchanged."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ToolSchemaError([SchemaIssue("", f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})")],
                              where) from None


def load_tools(raw: Any, *, strict: bool = False, where: str = "") -> list[ToolDef]:
    """A list of tools from a list of dicts, a single dict, a JSON string of either, or ToolDefs."""
    raw = _json_or_value(raw, where)
    if isinstance(raw, (dict, ToolDef)):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise ToolSchemaError([SchemaIssue("", f"expected a list of tools, got {type(raw).__name__}")], where)
    return [t if isinstance(t, ToolDef) else
            ToolDef.from_dict(t, strict=strict, where=f"{where}[{i}]" if where else f"tools[{i}]")
            for i, t in enumerate(raw)]


# ---------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------

_PY_OF_KIND = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
               "array": (list,), "tuple": (list,), "object": (dict,), "null": (type(None),)}


def _type_name(value: Any) -> str:
    return {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object",
            type(None): "null"}.get(type(value), type(value).__name__)


def _matches_kind(value: Any, kind: str) -> bool:
    if kind == "any":
        return True
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _PY_OF_KIND[kind])


def validate_tool(raw: Any) -> list[SchemaIssue]:
    """Every problem of a tool definition in either dialect, each with the path where it was found."""
    issues: list[SchemaIssue] = []
    if not isinstance(raw, dict):
        return [SchemaIssue("", f"expected an object, got {_type_name(raw)}")]
    prefix = ""
    fn = raw
    if "function" in raw or raw.get("type") == "function":
        if raw.get("type") != "function":
            issues.append(SchemaIssue("type", f"expected 'function' in an OpenAI tool, got {raw.get('type')!r}"))
        fn = raw.get("function")
        prefix = "function."
        if not isinstance(fn, dict):
            return issues + [SchemaIssue("function", f"expected an object, got {_type_name(fn)}")]
    name = fn.get("name")
    if "name" not in fn:
        issues.append(SchemaIssue(prefix + "name", "missing (every tool needs a name)"))
    elif not isinstance(name, str) or not name.strip():
        issues.append(SchemaIssue(prefix + "name", f"expected a non-empty string, got {name!r}"))
    if "description" in fn and not isinstance(fn["description"], str):
        issues.append(SchemaIssue(prefix + "description", f"expected a string, got {_type_name(fn['description'])}"))
    if "parameters" in fn:
        params = fn["parameters"]
        path = prefix + "parameters"
        if not isinstance(params, dict):
            issues.append(SchemaIssue(path, f"expected an object schema, got {_type_name(params)}"))
        else:
            root = params.get("type", _NO_TYPE)
            if root is _NO_TYPE:
                issues.append(SchemaIssue(path + ".type", "missing; expected 'dict' (BFCL) or 'object' (JSON Schema)"))
            elif kind_of_spelling(root) != "object":
                issues.append(SchemaIssue(path + ".type", f"expected 'dict' (BFCL) or 'object' (JSON Schema), "
                                                          f"got {root!r}"))
            _validate_schema(params, path, issues)
    return issues


def _validate_schema(node: dict[str, Any], path: str, issues: list[SchemaIssue]) -> None:
    for key in ("type", _MARK["bfcl"], _MARK["json"]):
        value = node.get(key, _NO_TYPE)
        if value is _NO_TYPE or (key != "type" and value is None):
            continue  # a marker of null records that the source had no type keyword
        if isinstance(value, list) and not value:
            issues.append(SchemaIssue(f"{path}.{key}", "empty list of types"))
        for i, member in enumerate(value if isinstance(value, list) else [value]):
            if kind_of_spelling(member) is None:
                at = f"{path}.{key}[{i}]" if isinstance(value, list) else f"{path}.{key}"
                issues.append(SchemaIssue(at, f"unknown type {member!r}; expected one of: {KNOWN_SPELLINGS}"))
    # The spelling that decides the kind: a conversion marker wins over the type keyword (see Schema.kind).
    effective = node.get(_MARK["bfcl"], node.get(_MARK["json"], node.get("type")))
    kinds = [k for k in map(kind_of_spelling, effective if isinstance(effective, list) else [effective]) if k]
    if "description" in node and not isinstance(node["description"], str):
        issues.append(SchemaIssue(f"{path}.description", f"expected a string, got {_type_name(node['description'])}"))

    props = node.get("properties", _NO_TYPE)
    names: set[str] = set()
    if props is not _NO_TYPE:
        if not isinstance(props, dict):
            issues.append(SchemaIssue(f"{path}.properties", f"expected an object, got {_type_name(props)}"))
        else:
            names = set(props)
            for pname, sub in props.items():
                if not pname:
                    issues.append(SchemaIssue(f"{path}.properties", "empty property name"))
                if not isinstance(sub, dict):
                    issues.append(SchemaIssue(f"{path}.properties.{pname}",
                                              f"expected a schema object, got {_type_name(sub)}"))
                else:
                    _validate_schema(sub, f"{path}.properties.{pname}", issues)

    req = node.get("required", _NO_TYPE)
    if req is not _NO_TYPE and req is not None:
        if not isinstance(req, list):
            issues.append(SchemaIssue(f"{path}.required", f"expected a list of property names, got {_type_name(req)}"))
        else:
            seen: set[str] = set()
            for i, r in enumerate(req):
                if not isinstance(r, str):
                    issues.append(SchemaIssue(f"{path}.required[{i}]", f"expected a property name, got {r!r}"))
                elif r not in names:
                    listed = ", ".join(sorted(names)) or "none"
                    issues.append(SchemaIssue(f"{path}.required[{i}]",
                                              f"{r!r} is not a property (properties: {listed})"))
                elif r in seen:
                    issues.append(SchemaIssue(f"{path}.required[{i}]", f"{r!r} listed twice"))
                else:
                    seen.add(r)

    items = node.get("items", _NO_TYPE)
    if items is not _NO_TYPE:
        if not isinstance(items, dict):
            issues.append(SchemaIssue(f"{path}.items", f"expected a schema object, got {_type_name(items)}"))
        else:
            _validate_schema(items, f"{path}.items", issues)

    # Value kinds an enum or default may take: the node's own kinds; for arrays, BFCL lists allowed *element*
    # values in the array's enum, so the item kind is accepted too.
    value_kinds = list(kinds)
    if any(k in ("array", "tuple") for k in kinds) and isinstance(items, dict):
        value_kinds.append(Schema(items).kind)  # the kind reads the node's own type keywords only
    expected = " or ".join(dict.fromkeys(value_kinds)) or "any"

    enum = node.get("enum", _NO_TYPE)
    if enum is not _NO_TYPE:
        if not isinstance(enum, list) or not enum:
            issues.append(SchemaIssue(f"{path}.enum", f"expected a non-empty list, got {enum!r}"))
        elif value_kinds:
            for i, value in enumerate(enum):
                if not any(_matches_kind(value, k) for k in value_kinds):
                    issues.append(SchemaIssue(f"{path}.enum[{i}]", f"expected {expected}, got {_type_name(value)} "
                                                                    f"{value!r}"))
    if "default" in node and node["default"] is not None and value_kinds:
        value = node["default"]
        if not any(_matches_kind(value, k) for k in value_kinds):
            issues.append(SchemaIssue(f"{path}.default", f"expected {expected}, got {_type_name(value)} {value!r}"))

    for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
                  "minItems", "maxItems"):
        if bound in node and (isinstance(node[bound], bool) or not isinstance(node[bound], (int, float))):
            issues.append(SchemaIssue(f"{path}.{bound}", f"expected a number, got {node[bound]!r}"))
    lo, hi = node.get("minimum"), node.get("maximum")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo > hi:
        issues.append(SchemaIssue(f"{path}.minimum", f"minimum {lo!r} is greater than maximum {hi!r}"))
    if "pattern" in node:
        pattern = node["pattern"]
        if not isinstance(pattern, str):
            issues.append(SchemaIssue(f"{path}.pattern", f"expected a regular expression string, got {pattern!r}"))
        else:
            try:
                re.compile(pattern)
            except re.error as e:
                issues.append(SchemaIssue(f"{path}.pattern", f"invalid regular expression: {e}"))
