"""Systematic outputs for ``simple_java`` / ``simple_javascript`` entries: the inputs of the Java/JavaScript parity
test against the official checker (scripts/bfcl_parity.py ``--java-js``).

For each entry the correct answer is rendered in the language's syntax from its possible answer (``name=value``
arguments, values typed by the declared parameter type: ``"text"``, ``50``, ``50L``, ``1.5f``, ``true``,
``new int[]{1, 2}``, ``new ArrayList<>(Arrays.asList(...))``, ``new HashMap<String, String>() {{ put(...); }}``;
JavaScript ``[...]``, ``{...}``, ``12n``), then perturbed the ways a model gets it wrong or differently right: first
and last alternatives, optional parameters left out, wrong names and values, strings left bare or numbers quoted,
Python literals, positional and repeated arguments, two calls, code fences, prose, think blocks, semicolons, JSON,
Hermes ``<tool_call>`` blocks (with string values, as BFCL's FC prompt asks, and with typed JSON values), unicode,
random character edits. Deterministic (seeded by the entry id), so the committed official verdicts match the
regenerated texts by digest. Bump :data:`JAVA_JS_MUTATIONS_VERSION` when the output changes.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from .data import BFCLEntry
from .java_js import is_java
from .mutations import mutations_digest, random_char_edits

__all__ = ["JAVA_JS_MUTATIONS_VERSION", "java_js_mutations", "mutations_digest", "render_value"]

JAVA_JS_MUTATIONS_VERSION = 1
_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_PER_PARAM_LIMIT = 4
_RANDOM_EDITS = 4


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _scalar(value: Any, java: bool, kind: str | None = None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if java and kind == "long":
            return f"{value}L"
        if not java and kind == "Bigint":
            return f"{value}n"
        return str(value)
    if isinstance(value, float):
        return f"{value!r}f" if java and kind == "float" else repr(value)
    if isinstance(value, str):
        if kind in ("any", None) and _IDENT.match(value):
            return value  # a variable name, as BFCL's answers mean them
        if java and kind == "char" and len(value) == 1:
            return f"'{value}'"
        return _quote(value)
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v, java) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_quote(str(k))}: {_scalar(v, java)}" for k, v in value.items()) + "}"
    return str(value)


def _java_type_name(kind: str | None) -> str:
    return {"integer": "int", "long": "long", "double": "double", "float": "float", "boolean": "boolean",
            "char": "char", "String": "String", "any": "Object", None: "Object"}.get(kind, "Object")


def render_value(value: Any, schema: dict, java: bool) -> str:
    """``value`` (a possible-answer value) as source text for a parameter of BFCL type ``schema["type"]``."""
    kind = schema.get("type")
    item = (schema.get("items") or {}).get("type")
    if isinstance(value, str) and kind not in ("String", "any", "char"):
        return value if _IDENT.match(value) else _quote(value)  # the answer names a variable
    if java:
        if kind == "Array" and isinstance(value, list):
            return f"new {_java_type_name(item)}[]{{{', '.join(_scalar(v, True, item) for v in value)}}}"
        if kind == "ArrayList" and isinstance(value, list):
            if not value:
                return "new ArrayList<>()"
            return f"new ArrayList<>(Arrays.asList({', '.join(_scalar(v, True, item) for v in value)}))"
        if kind == "HashMap" and isinstance(value, dict):
            puts = " ".join(f"put({_quote(str(k))}, {_scalar(_first(v), True)});" for k, v in value.items())
            return f"new HashMap<String, String>() {{{{ {puts} }}}}"
        return _scalar(value, True, kind)
    if kind == "array" and isinstance(value, list):
        return "[" + ", ".join(_scalar(v, False, item) for v in value) + "]"
    if kind == "dict" and isinstance(value, dict):
        return "{" + ", ".join(f"{_quote(str(k))}: {_scalar(_first(v), False)}" for k, v in value.items()) + "}"
    return _scalar(value, False, kind)


def _first(allowed: Any) -> Any:
    """A dict answer holds allowed lists per key: the first allowed value."""
    if isinstance(allowed, list):
        values = [a for a in allowed if a != ""]
        return values[0] if values else ""
    return allowed


def _pick(allowed: list, last: bool) -> Any:
    values = [a for a in allowed if a != ""]
    if not values:
        return _NOTHING
    return values[-1] if last else values[0]


_NOTHING = object()


def _call(name: str, args: list[tuple[str | None, str]]) -> str:
    return f"{name}({', '.join(v if k is None else f'{k}={v}' for k, v in args)})"


def _wrong(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    if isinstance(value, float):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "_x"
    if isinstance(value, list):
        return value[::-1] + ["extra"] if value else ["extra"]
    if isinstance(value, dict):
        return {**value, "zz": [1]}
    return "wrong"


def java_js_mutations(entry: BFCLEntry) -> list[tuple[str, str]]:
    """All outputs for a Java/JavaScript ``entry``, ``(name, text)`` in a fixed order, names unique."""
    java = is_java(entry.category)
    doc = entry.raw_functions[0]
    props: dict = doc["parameters"]["properties"]
    required = list(doc["parameters"].get("required", []))
    (gold_name, answer), = entry.possible_answer[0].items()

    def args_of(last: bool = False, only_required: bool = False) -> list[tuple[str | None, str]]:
        out = []
        for p, allowed in answer.items():
            if only_required and "" in allowed and p not in required:
                continue
            v = _pick(allowed, last)
            if v is _NOTHING:
                continue
            out.append((p, render_value(v, props.get(p, {}), java)))
        return out

    gold_args = args_of()
    gold = _call(gold_name, gold_args)
    out: list[tuple[str, str]] = [
        ("gold", gold),
        ("gold_last_alternative", _call(gold_name, args_of(last=True))),
        ("gold_required_only", _call(gold_name, args_of(only_required=True))),
        ("gold_bracketed", f"[{gold}]"),
        ("gold_semicolon", gold + ";"),
        ("gold_fenced_lang", f"```{'java' if java else 'javascript'}\n{gold}\n```"),
        ("gold_fenced_bare", f"```\n{gold}\n```"),
        ("gold_prose", f"Here is the call: {gold}"),
        ("gold_think", f"<think>The user wants {gold_name}.</think>\n{gold}"),
        ("gold_spaced", _call(gold_name, [(k, v) for k, v in gold_args]).replace("=", " = ")),
        ("gold_twice", f"[{gold}, {gold}]"),
        ("gold_two_statements", f"{gold}; {gold}"),
        ("wrong_function_name", _call(gold_name + "X", gold_args)),
        ("short_function_name", _call(gold_name.split(".")[-1], gold_args)),
        ("no_arguments", _call(gold_name, [])),
        ("positional_arguments", _call(gold_name, [(None, v) for _, v in gold_args])),
        ("extra_parameter", _call(gold_name, gold_args + [("zzExtra", "1" if not java else "\"x\"")])),
        ("empty_output", ""),
        ("empty_list", "[]"),
        ("refusal", "I cannot help with that."),
        ("json_list", json.dumps([{"function": gold_name, "parameters": {k: v for k, v in gold_args}}])),
        ("python_style", "[" + _call(gold_name, [(p, repr(_pick(a, False))) for p, a in answer.items()
                                                  if _pick(a, False) is not _NOTHING]) + "]"),
    ]
    if gold_args:
        k0, v0 = gold_args[0]
        out.append(("repeated_parameter", _call(gold_name, gold_args + [(k0, v0)])))
        out.append(("first_parameter_positional", _call(gold_name, [(None, v0)] + gold_args[1:])))
    for p in required[:3]:
        out.append((f"missing_required_{p}", _call(gold_name, [(k, v) for k, v in gold_args if k != p])))
    if java:
        out += [("java_new_object_call", f"new {gold_name.split('.')[0]}().{_call(gold_name.split('.')[-1], gold_args)}"),
                ("java_nested_call_value", _call(gold_name, [(k, f"get{k.title()}()") for k, _ in gold_args])),
                ("java_unbalanced", gold[:-1])]
    else:
        out += [("js_member_call", _call("obj." + gold_name, gold_args)),
                ("js_await", "await " + gold),
                ("js_arrow_value", _call(gold_name, [(k, "() => 1") for k, _ in gold_args])),
                ("js_unbalanced", gold[:-1])]

    for p, allowed in list(answer.items())[:_PER_PARAM_LIMIT]:
        v = _pick(allowed, False)
        if v is _NOTHING:
            continue
        schema = props.get(p, {})

        def swap(name: str, text: str) -> None:
            out.append((name, _call(gold_name, [(k, text if k == p else val) for k, val in gold_args])))

        swap(f"wrong_value_{p}", render_value(_wrong(v), schema, java))
        rendered = render_value(v, schema, java)
        swap(f"quoted_{p}", _quote(rendered) if not rendered.startswith('"') else rendered[1:-1] or '""')
        swap(f"single_quoted_{p}", "'" + rendered.strip('"') + "'")
        swap(f"python_literal_{p}", repr(v))
        if isinstance(v, str):
            swap(f"upper_{p}", render_value(v.upper(), schema, java))
            swap(f"punctuation_{p}", render_value(v.replace(" ", ", ") + ".", schema, java))
        if isinstance(v, bool):
            swap(f"capital_bool_{p}", "True" if v else "False")
        elif isinstance(v, (int, float)):
            swap(f"number_as_float_{p}", repr(float(v)))
            if java:
                swap(f"long_suffix_{p}", f"{int(v)}L")
                swap(f"float_suffix_{p}", f"{float(v)}f")
            else:
                swap(f"bigint_suffix_{p}", f"{int(v)}n")
        elif isinstance(v, list):
            swap(f"list_reversed_{p}", render_value(v[::-1], schema, java))
            swap(f"list_bare_{p}", "[" + ", ".join(_scalar(x, java) for x in v) + "]")
            if java:
                swap(f"list_as_add_{p}", "new ArrayList<>() {{ " + " ".join(f"add({_scalar(x, True)});" for x in v)
                     + " }}")
            else:
                swap(f"list_new_array_{p}", "new Array(" + ", ".join(_scalar(x, False) for x in v) + ")")
        elif isinstance(v, dict):
            swap(f"dict_json_{p}", json.dumps({k: _first(a) for k, a in v.items()}))
            swap(f"dict_single_quotes_{p}", "{" + ", ".join(f"'{k}': {_scalar(_first(a), java)}"
                                                            for k, a in v.items()) + "}")
        swap(f"unicode_{p}", _quote("café ünïcode"))

    # FC style (Hermes/Qwen <tool_call> blocks, as BFCL's FC handlers decode them): values as strings (what the
    # language-specific doc asks for) and as typed JSON values (fail the Java/JS type check).
    as_strings = {k: (json.loads(v) if v.startswith('"') else v) for k, v in gold_args}
    typed = {p: _pick(a, False) for p, a in answer.items() if _pick(a, False) is not _NOTHING}
    out += [("fc_string_values", f"<tool_call>\n{json.dumps({'name': gold_name, 'arguments': as_strings})}\n</tool_call>"),
            ("fc_typed_values", f"<tool_call>\n{json.dumps({'name': gold_name, 'arguments': typed})}\n</tool_call>"),
            ("fc_source_values", f"<tool_call>\n{json.dumps({'name': gold_name, 'arguments': dict(gold_args)})}"
                                 "\n</tool_call>")]

    rng = random.Random(f"funrl-java-js-mutations-v{JAVA_JS_MUTATIONS_VERSION}:{entry.id}")
    out.extend(random_char_edits(rng, gold, _RANDOM_EDITS, "()[]{},=.'\"-+ _:;<>"))
    seen: set[str] = set()
    unique = []
    for name, text in out:
        if name not in seen:
            seen.add(name)
            unique.append((name, text))
    return unique
